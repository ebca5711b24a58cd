//! Output paths are checked before any work starts, so a typo in `--out` does not cost a whole
//! computation.

use std::path::Path;

/// A file to be written: its folder must exist and it must not be a directory.
pub fn check_output_file(path: &Path) -> anyhow::Result<()> {
    if path.is_dir() {
        anyhow::bail!("{}: is a directory; give a file name to write", path.display());
    }
    let folder = path.parent().filter(|p| !p.as_os_str().is_empty()).unwrap_or(Path::new("."));
    if !folder.is_dir() {
        anyhow::bail!("{}: the folder {} does not exist (create it first)", path.display(), folder.display());
    }
    Ok(())
}

/// A directory to be created (with its parents) or filled: it must not be a file.
pub fn check_output_dir(path: &Path) -> anyhow::Result<()> {
    if path.is_file() {
        anyhow::bail!("{}: is a file; give a directory to write into", path.display());
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_missing_folder_or_a_directory_as_file_is_refused_before_work() {
        let dir = tempfile::tempdir().unwrap();
        assert!(check_output_file(&dir.path().join("ok.png")).is_ok());
        assert!(check_output_file(Path::new("relative.png")).is_ok());
        let missing = check_output_file(&dir.path().join("no/such/out.png")).unwrap_err().to_string();
        assert!(missing.contains("does not exist") && missing.contains("no/such"), "{missing}");
        let is_dir = check_output_file(dir.path()).unwrap_err().to_string();
        assert!(is_dir.contains("is a directory"), "{is_dir}");
        let file = dir.path().join("f");
        std::fs::write(&file, b"").unwrap();
        assert!(check_output_dir(&file).unwrap_err().to_string().contains("is a file"));
        assert!(check_output_dir(&dir.path().join("new/deep")).is_ok());
    }
}
