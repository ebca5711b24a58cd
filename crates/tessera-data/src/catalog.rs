//! The datasets this crate knows by name: their folders, files and how to load them.

use std::fmt;
use std::path::Path;
use std::str::FromStr;

use serde::{Deserialize, Serialize};

use crate::cifar::{load_cifar10, load_cifar100, Cifar100Labels};
use crate::dataset::{Dataset, Split};
use crate::error::{DataError, Result};
use crate::file_bytes::find_plain_or_gz;
use crate::idx::{load_fashion_mnist, load_mnist};

/// A dataset this crate can find, read and (for some) fetch.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum DatasetKind {
    /// MNIST handwritten digits, IDX files.
    Mnist,
    /// Fashion-MNIST (Zalando), IDX files.
    FashionMnist,
    /// CIFAR-10, binary version.
    Cifar10,
    /// CIFAR-100, binary version (fine labels).
    Cifar100,
}

/// MNIST-style IDX file names, per split: (images, labels).
pub(crate) const IDX_TRAIN_FILES: [&str; 2] = ["train-images-idx3-ubyte", "train-labels-idx1-ubyte"];
pub(crate) const IDX_TEST_FILES: [&str; 2] = ["t10k-images-idx3-ubyte", "t10k-labels-idx1-ubyte"];

/// CIFAR-10 binary training batches, in order.
pub(crate) const CIFAR10_TRAIN_FILES: [&str; 5] =
    ["data_batch_1.bin", "data_batch_2.bin", "data_batch_3.bin", "data_batch_4.bin", "data_batch_5.bin"];
pub(crate) const CIFAR10_TEST_FILE: &str = "test_batch.bin";
pub(crate) const CIFAR100_TRAIN_FILE: &str = "train.bin";
pub(crate) const CIFAR100_TEST_FILE: &str = "test.bin";

impl DatasetKind {
    /// Every known dataset.
    pub const ALL: [DatasetKind; 4] =
        [DatasetKind::Mnist, DatasetKind::FashionMnist, DatasetKind::Cifar10, DatasetKind::Cifar100];

    /// The dataset's name as the command line spells it: "mnist", "fashion-mnist", "cifar10",
    /// "cifar100".
    pub fn name(self) -> &'static str {
        match self {
            DatasetKind::Mnist => "mnist",
            DatasetKind::FashionMnist => "fashion-mnist",
            DatasetKind::Cifar10 => "cifar10",
            DatasetKind::Cifar100 => "cifar100",
        }
    }

    /// The folder names, under a data directory, where the dataset may be kept, in order of
    /// preference (the first is where `fetch` puts it).
    pub fn subfolders(self) -> &'static [&'static str] {
        match self {
            DatasetKind::Mnist => &["mnist"],
            DatasetKind::FashionMnist => &["fashion-mnist"],
            DatasetKind::Cifar10 => &["cifar10", "cifar10-jpg-derived", "cifar-10-batches-bin"],
            DatasetKind::Cifar100 => &["cifar100", "cifar-100-binary"],
        }
    }

    /// The file names a split needs (each may also be present with `.gz` appended). For the
    /// CIFAR-10 training set any non-empty subset of the five batches will do.
    pub fn expected_files(self, split: Split) -> Vec<&'static str> {
        match (self, split) {
            (DatasetKind::Mnist | DatasetKind::FashionMnist, Split::Train) => IDX_TRAIN_FILES.to_vec(),
            (DatasetKind::Mnist | DatasetKind::FashionMnist, Split::Test) => IDX_TEST_FILES.to_vec(),
            (DatasetKind::Cifar10, Split::Train) => CIFAR10_TRAIN_FILES.to_vec(),
            (DatasetKind::Cifar10, Split::Test) => vec![CIFAR10_TEST_FILE],
            (DatasetKind::Cifar100, Split::Train) => vec![CIFAR100_TRAIN_FILE],
            (DatasetKind::Cifar100, Split::Test) => vec![CIFAR100_TEST_FILE],
        }
    }

    /// Whether `dir` holds what the split needs.
    pub fn is_present_in(self, dir: &Path, split: Split) -> bool {
        let present = |name: &&str| find_plain_or_gz(dir, name).is_some();
        let files = self.expected_files(split);
        match (self, split) {
            (DatasetKind::Cifar10, Split::Train) => files.iter().any(present),
            _ => files.iter().all(present),
        }
    }

    /// Reads the split from `dir`, the folder that holds the dataset's files (CIFAR-100 with
    /// its fine labels).
    pub fn load(self, dir: &Path, split: Split) -> Result<Dataset> {
        match self {
            DatasetKind::Mnist => load_mnist(dir, split),
            DatasetKind::FashionMnist => load_fashion_mnist(dir, split),
            DatasetKind::Cifar10 => load_cifar10(dir, split),
            DatasetKind::Cifar100 => load_cifar100(dir, split, Cifar100Labels::Fine),
        }
    }

    /// The error for a folder that lacks the split's files.
    pub(crate) fn missing_files(self, dir: &Path, split: Split) -> DataError {
        DataError::MissingFiles {
            dataset: self.name().to_string(),
            dir: dir.to_path_buf(),
            expected: self.expected_files(split).iter().map(|name| format!("{name}[.gz]")).collect(),
            fetch_name: self.name().to_string(),
        }
    }
}

impl fmt::Display for DatasetKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

impl FromStr for DatasetKind {
    type Err = DataError;

    fn from_str(text: &str) -> Result<Self> {
        match text.to_ascii_lowercase().replace('_', "-").as_str() {
            "mnist" => Ok(DatasetKind::Mnist),
            "fashion-mnist" | "fashion" => Ok(DatasetKind::FashionMnist),
            "cifar10" | "cifar-10" => Ok(DatasetKind::Cifar10),
            "cifar100" | "cifar-100" => Ok(DatasetKind::Cifar100),
            _ => Err(DataError::InvalidArgument(format!(
                "unknown dataset '{text}' (known: mnist, fashion-mnist, cifar10, cifar100)"
            ))),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_round_trip() {
        for kind in DatasetKind::ALL {
            assert_eq!(kind.name().parse::<DatasetKind>().unwrap(), kind);
        }
        assert_eq!("CIFAR-10".parse::<DatasetKind>().unwrap(), DatasetKind::Cifar10);
        assert_eq!("fashion_mnist".parse::<DatasetKind>().unwrap(), DatasetKind::FashionMnist);
        let error = "imagenet".parse::<DatasetKind>().unwrap_err().to_string();
        assert!(error.contains("unknown dataset 'imagenet'") && error.contains("cifar100"), "{error}");
    }

    #[test]
    fn cifar10_train_needs_only_some_batches() {
        let dir = tempfile::tempdir().unwrap();
        assert!(!DatasetKind::Cifar10.is_present_in(dir.path(), Split::Train));
        std::fs::write(dir.path().join("data_batch_2.bin.gz"), b"").unwrap();
        assert!(DatasetKind::Cifar10.is_present_in(dir.path(), Split::Train));
        assert!(!DatasetKind::Cifar10.is_present_in(dir.path(), Split::Test));
    }

    #[test]
    fn missing_files_message_says_how_to_get_them() {
        let message = DatasetKind::Mnist.missing_files(Path::new("/somewhere"), Split::Test).to_string();
        assert!(message.contains("t10k-images-idx3-ubyte"), "{message}");
        assert!(message.contains("tessera data fetch mnist"), "{message}");
        assert!(message.contains("TESSERA_DATA"), "{message}");
    }
}
