//! Finding the folder that holds a dataset: a command-line flag, then `TESSERA_DATA`, then
//! `./data`, then the project's shared copy (`../shared/data`, `../../shared/data`).

use std::ffi::OsString;
use std::path::{Path, PathBuf};

use crate::catalog::DatasetKind;
use crate::dataset::{Dataset, Split};
use crate::error::{DataError, Result};

/// The environment variable naming a data directory.
pub const DATA_DIR_ENV: &str = "TESSERA_DATA";

/// Where Debian's `dataset-fashion-mnist` package installs the Fashion-MNIST files.
const DEBIAN_FASHION_MNIST: &str = "/usr/share/datasets/fashion-mnist";

/// The data directories to search, in order of preference.
///
/// Each root is searched for the dataset's subfolder (`mnist/`, `fashion-mnist/`, `cifar10/` or
/// `cifar10-jpg-derived/`, `cifar100/`), then the root itself (so a flag may name the dataset's
/// own folder).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct DataDir {
    roots: Vec<PathBuf>,
}

impl DataDir {
    /// The standard search order: `flag` (if given), then `$TESSERA_DATA` (if set and not
    /// empty), then `./data`, `../shared/data` and `../../shared/data` relative to the current
    /// directory.
    pub fn resolve(flag: Option<&Path>) -> DataDir {
        let env = std::env::var_os(DATA_DIR_ENV);
        let cwd = std::env::current_dir().unwrap_or_else(|_| PathBuf::from("."));
        Self::resolve_from(flag, env, &cwd)
    }

    /// [`DataDir::resolve`] with the environment value and current directory given.
    pub fn resolve_from(flag: Option<&Path>, env: Option<OsString>, cwd: &Path) -> DataDir {
        let mut roots: Vec<PathBuf> = flag.map(Path::to_path_buf).into_iter().collect();
        roots.extend(env.filter(|v| !v.is_empty()).map(PathBuf::from));
        roots.extend(["data", "../shared/data", "../../shared/data"].iter().map(|relative| cwd.join(relative)));
        DataDir { roots }
    }

    /// A search over exactly these roots.
    pub fn from_roots(roots: Vec<PathBuf>) -> DataDir {
        DataDir { roots }
    }

    /// The roots, in search order.
    pub fn roots(&self) -> &[PathBuf] {
        &self.roots
    }

    /// Every folder that is looked in for `kind`, in order.
    pub fn candidates(&self, kind: DatasetKind) -> Vec<PathBuf> {
        let mut folders: Vec<PathBuf> = Vec::new();
        for root in &self.roots {
            folders.extend(kind.subfolders().iter().map(|sub| root.join(sub)));
            folders.push(root.clone());
        }
        if kind == DatasetKind::FashionMnist {
            folders.push(PathBuf::from(DEBIAN_FASHION_MNIST));
        }
        folders
    }

    /// The first folder that holds the split of `kind`; the error lists every folder searched
    /// and says how to get the data.
    pub fn find(&self, kind: DatasetKind, split: Split) -> Result<PathBuf> {
        let candidates = self.candidates(kind);
        candidates.iter().find(|dir| kind.is_present_in(dir, split)).cloned().ok_or_else(|| {
            DataError::DatasetNotFound {
                dataset: kind.name().to_string(),
                split: split.to_string(),
                searched: candidates,
                fetch_name: kind.name().to_string(),
            }
        })
    }

    /// Finds and reads the split of `kind`.
    pub fn load(&self, kind: DatasetKind, split: Split) -> Result<Dataset> {
        kind.load(&self.find(kind, split)?, split)
    }

    /// A human-readable account of the search for `kind`: each folder and whether it holds the
    /// split, then where the data would be used from or how to get it.
    pub fn explain_search(&self, kind: DatasetKind, split: Split) -> String {
        let mut lines = vec![format!("looking for {kind} ({split}) in:")];
        for dir in self.candidates(kind) {
            let state = match (dir.is_dir(), kind.is_present_in(&dir, split)) {
                (_, true) => "found",
                (true, false) => "folder exists, files missing",
                (false, false) => "no such folder",
            };
            lines.push(format!("  {} ({state})", dir.display()));
        }
        lines.push(match self.find(kind, split) {
            Ok(dir) => format!("using {}", dir.display()),
            Err(_) => format!(
                "not found: expected {}; run `tessera data fetch {kind}` (downloads into {}), or \
                 pass a folder that holds it with --data-dir or {DATA_DIR_ENV}",
                kind.expected_files(split).join(", "),
                self.fetch_destination(kind).display()
            ),
        });
        lines.join("\n")
    }

    /// Where `tessera data fetch` puts `kind`: the first root's subfolder for it.
    pub fn fetch_destination(&self, kind: DatasetKind) -> PathBuf {
        let root = self.roots.first().cloned().unwrap_or_else(|| PathBuf::from("data"));
        root.join(kind.subfolders()[0])
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn search_order_is_flag_env_then_defaults() {
        let dirs =
            DataDir::resolve_from(Some(Path::new("/flag")), Some(OsString::from("/env")), Path::new("/work/main"));
        let roots: Vec<_> = dirs.roots().iter().map(|p| p.to_string_lossy().into_owned()).collect();
        assert_eq!(
            roots,
            ["/flag", "/env", "/work/main/data", "/work/main/../shared/data", "/work/main/../../shared/data"]
        );
        let no_env = DataDir::resolve_from(None, Some(OsString::new()), Path::new("/x"));
        assert_eq!(no_env.roots()[0], Path::new("/x/data"));
    }

    #[test]
    fn finds_the_dataset_subfolder_or_the_root_itself() {
        let first = tempfile::tempdir().unwrap();
        let second = tempfile::tempdir().unwrap();
        let cifar = second.path().join("cifar10-jpg-derived");
        std::fs::create_dir(&cifar).unwrap();
        std::fs::write(cifar.join("test_batch.bin.gz"), b"").unwrap();
        std::fs::write(first.path().join("t10k-images-idx3-ubyte"), b"").unwrap();
        std::fs::write(first.path().join("t10k-labels-idx1-ubyte.gz"), b"").unwrap();

        let dirs = DataDir::from_roots(vec![first.path().into(), second.path().into()]);
        assert_eq!(dirs.find(DatasetKind::Cifar10, Split::Test).unwrap(), cifar);
        assert_eq!(dirs.find(DatasetKind::Mnist, Split::Test).unwrap(), first.path());
        assert!(dirs.find(DatasetKind::Mnist, Split::Train).is_err());
        assert_eq!(dirs.fetch_destination(DatasetKind::Mnist), first.path().join("mnist"));
    }

    #[test]
    fn not_found_lists_what_was_searched_and_how_to_get_it() {
        let root = tempfile::tempdir().unwrap();
        let dirs = DataDir::from_roots(vec![root.path().into()]);
        let message = dirs.find(DatasetKind::Mnist, Split::Train).unwrap_err().to_string();
        assert!(message.contains(&root.path().join("mnist").display().to_string()), "{message}");
        assert!(message.contains("tessera data fetch mnist"), "{message}");
        assert!(message.contains("TESSERA_DATA"), "{message}");

        let explanation = dirs.explain_search(DatasetKind::Mnist, Split::Train);
        assert!(explanation.contains("no such folder"), "{explanation}");
        assert!(explanation.contains("folder exists, files missing"), "{explanation}");
        assert!(explanation.contains("train-images-idx3-ubyte"), "{explanation}");
        assert!(explanation.contains("--data-dir") && message.contains("--data-dir"), "{message}");
    }
}
