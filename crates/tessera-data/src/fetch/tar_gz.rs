//! Extracting chosen regular files from a `.tar.gz` archive with the `tar` crate. Only the base
//! names asked for are written, into one folder, so an archive cannot place files elsewhere.

use std::collections::BTreeSet;
use std::io::{BufReader, Read};
use std::path::{Path, PathBuf};

use crate::error::{DataError, Result};

/// Writes every regular file of `archive` whose base name is in `wanted` into `dest_dir`
/// (through a temporary name, then renamed); fails if any wanted file is absent.
pub(crate) fn extract_members(archive: &Path, wanted: &[String], dest_dir: &Path) -> Result<Vec<PathBuf>> {
    let file = std::fs::File::open(archive).map_err(|e| DataError::io(archive, e))?;
    let mut tar = tar::Archive::new(flate2::read::MultiGzDecoder::new(BufReader::new(file)));
    let bad = |problem: String| DataError::BadArchive { path: archive.to_path_buf(), problem };
    let mut missing: BTreeSet<&str> = wanted.iter().map(String::as_str).collect();
    let mut written = Vec::new();
    for entry in tar.entries().map_err(|e| bad(e.to_string()))? {
        let mut entry = entry.map_err(|e| bad(e.to_string()))?;
        if !entry.header().entry_type().is_file() {
            continue;
        }
        let name = entry.path().map_err(|e| bad(e.to_string()))?;
        let base = name.file_name().and_then(|n| n.to_str()).unwrap_or_default().to_string();
        if missing.remove(base.as_str()) {
            let size = entry.size();
            written.push(write_member(&mut entry, size, dest_dir, &base, archive)?);
        }
    }
    // Read to the end of the gzip stream so its CRC is checked, whatever the tar entries said.
    std::io::copy(&mut tar.into_inner(), &mut std::io::sink()).map_err(|e| bad(e.to_string()))?;
    if !missing.is_empty() {
        return Err(bad(format!("no member named {}", missing.into_iter().collect::<Vec<_>>().join(", "))));
    }
    Ok(written)
}

/// Copies `size` bytes into `dest_dir/base` through a temporary file.
fn write_member(data: &mut impl Read, size: u64, dest_dir: &Path, base: &str, archive: &Path) -> Result<PathBuf> {
    let final_path = dest_dir.join(base);
    let temp_path = dest_dir.join(format!(".{base}.part"));
    let mut out = std::fs::File::create(&temp_path).map_err(|e| DataError::io(&temp_path, e))?;
    let copied = std::io::copy(&mut data.take(size), &mut out);
    drop(out);
    match copied {
        Ok(copied) if copied == size => {
            std::fs::rename(&temp_path, &final_path).map_err(|e| DataError::io(&final_path, e))?;
            Ok(final_path)
        }
        outcome => {
            let _ = std::fs::remove_file(&temp_path);
            let problem = match outcome {
                Ok(copied) => format!("member {base} ends after {copied} of {size} bytes"),
                Err(e) => format!("member {base}: {e}"),
            };
            Err(DataError::BadArchive { path: archive.to_path_buf(), problem })
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::fetch::tests::tar_gz;
    use proptest::prelude::*;

    fn write_archive(dir: &Path, bytes: &[u8]) -> PathBuf {
        let archive = dir.join("a.tar.gz");
        std::fs::write(&archive, bytes).unwrap();
        archive
    }

    fn names(dir: &Path) -> BTreeSet<String> {
        std::fs::read_dir(dir).unwrap().map(|e| e.unwrap().file_name().to_string_lossy().into_owned()).collect()
    }

    #[test]
    fn extracts_only_the_wanted_members_by_base_name() {
        let dir = tempfile::tempdir().unwrap();
        let big = vec![7u8; 1500];
        let long_folder = "a-folder-name-long-enough-for-a-gnu-long-name-entry/".repeat(3);
        let archive = write_archive(
            dir.path(),
            &tar_gz(&[("top/skip.txt", b"no"), (&format!("{long_folder}keep.bin"), &big), ("top/meta.txt", b"m")]),
        );
        let wanted = vec!["keep.bin".to_string(), "meta.txt".to_string()];
        let written = extract_members(&archive, &wanted, dir.path()).unwrap();
        assert_eq!(written, [dir.path().join("keep.bin"), dir.path().join("meta.txt")]);
        assert_eq!(std::fs::read(dir.path().join("keep.bin")).unwrap(), big);
        assert_eq!(std::fs::read(dir.path().join("meta.txt")).unwrap(), b"m");
        assert!(!dir.path().join("skip.txt").exists());
    }

    #[test]
    fn members_with_parent_folders_in_their_names_land_in_the_destination() {
        let dir = tempfile::tempdir().unwrap();
        let dest = dir.path().join("dest");
        std::fs::create_dir(&dest).unwrap();
        let mut builder = tar::Builder::new(Vec::new());
        let mut header = tar::Header::new_gnu();
        header.set_size(4);
        // `append_data` refuses `..`; write the raw name as a hostile archive would.
        header.as_old_mut().name[..15].copy_from_slice(b"../../evil.bin\0");
        header.set_cksum();
        builder.append(&header, &b"evil"[..]).unwrap();
        let archive = write_archive(dir.path(), &crate::idx::test_files::gzip(&builder.into_inner().unwrap()));
        extract_members(&archive, &["evil.bin".to_string()], &dest).unwrap();
        assert_eq!(std::fs::read(dest.join("evil.bin")).unwrap(), b"evil");
        assert_eq!(names(dir.path()), BTreeSet::from(["a.tar.gz".to_string(), "dest".to_string()]));
    }

    #[test]
    fn reports_missing_members() {
        let dir = tempfile::tempdir().unwrap();
        let archive = write_archive(dir.path(), &tar_gz(&[("x", b"1")]));
        let error = extract_members(&archive, &["y".to_string(), "z".to_string()], dir.path()).unwrap_err();
        assert!(
            matches!(&error, DataError::BadArchive { problem, .. } if problem == "no member named y, z"),
            "{error}"
        );
    }

    #[test]
    fn a_truncated_archive_is_a_bad_archive_and_leaves_no_partial_member() {
        let dir = tempfile::tempdir().unwrap();
        let tar = {
            let mut builder = tar::Builder::new(Vec::new());
            let mut header = tar::Header::new_gnu();
            header.set_size(2000);
            header.set_cksum();
            builder.append_data(&mut header, "keep", &[1u8; 2000][..]).unwrap();
            builder.into_inner().unwrap()
        };
        let archive = write_archive(dir.path(), &crate::idx::test_files::gzip(&tar[..1000]));
        let error = extract_members(&archive, &["keep".to_string()], dir.path()).unwrap_err();
        assert!(matches!(&error, DataError::BadArchive { path, .. } if path == &archive), "{error}");
        assert_eq!(names(dir.path()), BTreeSet::from(["a.tar.gz".to_string()]));
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(64))]
        #[test]
        fn corrupted_or_cut_archives_give_the_member_or_a_bad_archive_never_a_panic(
            cut in 0.0f64..=1.0,
            flips in proptest::collection::vec((0.0f64..1.0, any::<u8>()), 0..4),
        ) {
            let content: Vec<u8> = (0..3000u32).map(|i| (i % 97) as u8).collect();
            let mut bytes = tar_gz(&[("batches/data.bin", &content), ("batches/meta.txt", b"names")]);
            for (at, value) in flips {
                let at = (bytes.len() as f64 * at) as usize;
                bytes[at] = value;
            }
            bytes.truncate((bytes.len() as f64 * cut) as usize);
            let dir = tempfile::tempdir().unwrap();
            let archive = write_archive(dir.path(), &bytes);
            match extract_members(&archive, &["data.bin".to_string()], dir.path()) {
                // Corruption the gzip trailer's CRC does not see (e.g. in tar padding) is harmless.
                Ok(_) => prop_assert_eq!(std::fs::read(dir.path().join("data.bin")).unwrap(), content),
                Err(error) => prop_assert!(matches!(error, DataError::BadArchive { .. }), "{}", error),
            }
        }
    }
}
