//! The CIFAR-10 and CIFAR-100 binary formats: fixed-size records of label byte(s) followed by
//! 3072 pixel bytes (1024 red, 1024 green, 1024 blue, each plane row-major 32x32). Files may be
//! gzipped.

use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

use crate::catalog::{DatasetKind, CIFAR100_TEST_FILE, CIFAR100_TRAIN_FILE, CIFAR10_TEST_FILE, CIFAR10_TRAIN_FILES};
use crate::dataset::{Dataset, Split};
use crate::error::{DataError, Result};
use crate::file_bytes::{find_plain_or_gz, read_maybe_gzip};
use crate::idx::PIXEL_TO_UNIT;

/// Pixel bytes per CIFAR image (3 channels of 32x32).
pub const CIFAR_PIXELS: usize = 3 * 32 * 32;

/// The shape of one CIFAR sample, channels first.
const CIFAR_SAMPLE_SHAPE: [usize; 3] = [3, 32, 32];

/// Which CIFAR-100 labels to use.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Cifar100Labels {
    /// The 20 superclasses (first label byte).
    Coarse,
    /// The 100 classes (second label byte).
    Fine,
}

/// How labels are stored in a CIFAR record.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct CifarRecordLayout {
    /// Label bytes before the pixels (1 for CIFAR-10, 2 for CIFAR-100).
    pub label_bytes: usize,
    /// Which of the label bytes is the label to keep.
    pub label_index: usize,
    /// The number of classes of that label.
    pub num_classes: usize,
}

impl CifarRecordLayout {
    /// CIFAR-10: one label byte, 10 classes.
    pub const CIFAR10: CifarRecordLayout = CifarRecordLayout { label_bytes: 1, label_index: 0, num_classes: 10 };

    /// CIFAR-100: coarse then fine label byte.
    pub fn cifar100(labels: Cifar100Labels) -> CifarRecordLayout {
        match labels {
            Cifar100Labels::Coarse => CifarRecordLayout { label_bytes: 2, label_index: 0, num_classes: 20 },
            Cifar100Labels::Fine => CifarRecordLayout { label_bytes: 2, label_index: 1, num_classes: 100 },
        }
    }

    /// Bytes per record.
    pub fn record_len(self) -> usize {
        self.label_bytes + CIFAR_PIXELS
    }
}

/// Labels and `[0, 1]` pixel values read from CIFAR files.
#[derive(Clone, Debug, Default, PartialEq)]
struct CifarRecords {
    labels: Vec<u8>,
    pixels: Vec<f32>,
}

/// Reads CIFAR-10 from `dir`. The training set is whichever of `data_batch_1.bin` ...
/// `data_batch_5.bin` (each possibly `.gz`) are present, in batch order; the files used are
/// listed by [`Dataset::source_files`]. The test set is `test_batch.bin[.gz]`.
pub fn load_cifar10(dir: &Path, split: Split) -> Result<Dataset> {
    let names: &[&str] = match split {
        Split::Train => &CIFAR10_TRAIN_FILES,
        Split::Test => &[CIFAR10_TEST_FILE],
    };
    let files: Vec<PathBuf> = names.iter().filter_map(|name| find_plain_or_gz(dir, name)).collect();
    if files.is_empty() {
        return Err(DatasetKind::Cifar10.missing_files(dir, split));
    }
    let name = format!("cifar10-{split}");
    load_cifar_files(&name, &files, CifarRecordLayout::CIFAR10)
}

/// Reads CIFAR-100 from `dir` (`train.bin[.gz]` or `test.bin[.gz]`) with the chosen labels.
pub fn load_cifar100(dir: &Path, split: Split, labels: Cifar100Labels) -> Result<Dataset> {
    let file_name = match split {
        Split::Train => CIFAR100_TRAIN_FILE,
        Split::Test => CIFAR100_TEST_FILE,
    };
    let file = find_plain_or_gz(dir, file_name).ok_or_else(|| DatasetKind::Cifar100.missing_files(dir, split))?;
    let suffix = match labels {
        Cifar100Labels::Coarse => "-coarse",
        Cifar100Labels::Fine => "",
    };
    let name = format!("cifar100{suffix}-{split}");
    load_cifar_files(&name, &[file], CifarRecordLayout::cifar100(labels))
}

/// Reads and concatenates CIFAR binary files of one layout, as `[3, 32, 32]` samples in `[0, 1]`.
pub fn load_cifar_files(name: &str, files: &[PathBuf], layout: CifarRecordLayout) -> Result<Dataset> {
    let mut records = CifarRecords::default();
    for file in files {
        read_cifar_file(file, layout, &mut records)?;
    }
    Ok(Dataset::new(name, records.pixels, records.labels, CIFAR_SAMPLE_SHAPE.to_vec(), layout.num_classes)?
        .with_source_files(files.to_vec()))
}

/// Appends one file's records, checking its length and labels.
fn read_cifar_file(path: &Path, layout: CifarRecordLayout, into: &mut CifarRecords) -> Result<()> {
    let bytes = read_maybe_gzip(path)?;
    let record_len = layout.record_len();
    if bytes.len() % record_len != 0 || bytes.is_empty() {
        let whole_records = bytes.len().div_ceil(record_len).max(1);
        return Err(DataError::Truncated {
            path: path.to_path_buf(),
            expected: (whole_records * record_len) as u64,
            actual: bytes.len() as u64,
        });
    }
    into.labels.reserve(bytes.len() / record_len);
    into.pixels.reserve(bytes.len() / record_len * CIFAR_PIXELS);
    for (index, record) in bytes.chunks_exact(record_len).enumerate() {
        let label = record[layout.label_index];
        if usize::from(label) >= layout.num_classes {
            return Err(DataError::BadLabel {
                path: path.to_path_buf(),
                index,
                label: u32::from(label),
                num_classes: layout.num_classes,
            });
        }
        into.labels.push(label);
        let pixels = &record[layout.label_bytes..];
        into.pixels.extend(pixels.iter().map(|&b| PIXEL_TO_UNIT[usize::from(b)]));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::idx::test_files::gzip;

    /// A CIFAR record: the label bytes, then pixels all equal to `fill`.
    fn record(labels: &[u8], fill: u8) -> Vec<u8> {
        let mut bytes = labels.to_vec();
        bytes.extend(std::iter::repeat_n(fill, CIFAR_PIXELS));
        bytes
    }

    fn records(labels: &[u8]) -> Vec<u8> {
        labels.iter().flat_map(|&l| record(&[l], l * 10)).collect()
    }

    #[test]
    fn cifar10_reads_the_batches_present_in_order() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(dir.path().join("data_batch_3.bin"), records(&[7])).unwrap();
        std::fs::write(dir.path().join("data_batch_1.bin.gz"), gzip(&records(&[1, 2]))).unwrap();
        let data = load_cifar10(dir.path(), Split::Train).unwrap();
        assert_eq!(data.labels(), &[1, 2, 7]);
        assert_eq!(data.sample_shape(), &[3, 32, 32]);
        assert_eq!(data.sample(2)[5], 70.0 / 255.0);
        let used: Vec<_> = data.source_files().iter().map(|p| p.file_name().unwrap()).collect();
        assert_eq!(used, ["data_batch_1.bin.gz", "data_batch_3.bin"]);
    }

    #[test]
    fn cifar10_keeps_the_channel_planes() {
        let dir = tempfile::tempdir().unwrap();
        let mut bytes = vec![4u8];
        for channel in [51u8, 102, 255] {
            bytes.extend(std::iter::repeat_n(channel, 1024));
        }
        std::fs::write(dir.path().join("test_batch.bin"), bytes).unwrap();
        let data = load_cifar10(dir.path(), Split::Test).unwrap();
        let sample = data.sample(0);
        assert_eq!((sample[0], sample[1024], sample[3071]), (0.2, 0.4, 1.0));
    }

    #[test]
    fn cifar100_picks_coarse_or_fine_labels() {
        let dir = tempfile::tempdir().unwrap();
        let bytes: Vec<u8> = [record(&[3, 42], 0), record(&[19, 99], 0)].concat();
        std::fs::write(dir.path().join("test.bin"), bytes).unwrap();
        let fine = load_cifar100(dir.path(), Split::Test, Cifar100Labels::Fine).unwrap();
        assert_eq!((fine.labels(), fine.num_classes()), (&[42u8, 99][..], 100));
        let coarse = load_cifar100(dir.path(), Split::Test, Cifar100Labels::Coarse).unwrap();
        assert_eq!((coarse.labels(), coarse.num_classes()), (&[3u8, 19][..], 20));
    }

    #[test]
    fn truncated_record_is_rejected_with_sizes() {
        let dir = tempfile::tempdir().unwrap();
        let mut bytes = records(&[1, 2]);
        bytes.truncate(3073 + 100);
        std::fs::write(dir.path().join("test_batch.bin.gz"), gzip(&bytes)).unwrap();
        let error = load_cifar10(dir.path(), Split::Test).unwrap_err();
        assert!(matches!(error, DataError::Truncated { expected: 6146, actual: 3173, .. }), "{error}");
        assert!(error.to_string().contains("test_batch.bin.gz"));
    }

    #[test]
    fn empty_file_is_rejected() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(dir.path().join("test_batch.bin"), b"").unwrap();
        assert!(matches!(
            load_cifar10(dir.path(), Split::Test),
            Err(DataError::Truncated { expected: 3073, actual: 0, .. })
        ));
    }

    #[test]
    fn bad_label_is_rejected() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(dir.path().join("test_batch.bin"), records(&[1, 10])).unwrap();
        let error = load_cifar10(dir.path(), Split::Test).unwrap_err();
        assert!(matches!(error, DataError::BadLabel { index: 1, label: 10, .. }), "{error}");
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(dir.path().join("train.bin"), record(&[20, 5], 0)).unwrap();
        let coarse = load_cifar100(dir.path(), Split::Train, Cifar100Labels::Coarse);
        assert!(matches!(coarse, Err(DataError::BadLabel { label: 20, num_classes: 20, .. })));
        assert!(load_cifar100(dir.path(), Split::Train, Cifar100Labels::Fine).is_ok());
    }

    proptest::proptest! {
        #![proptest_config(proptest::prelude::ProptestConfig::with_cases(64))]
        #[test]
        fn corrupted_or_cut_batches_load_or_fail_with_a_file_error_never_a_panic(
            flips in proptest::collection::vec((0.0f64..1.0, proptest::prelude::any::<u8>()), 0..5),
            cut in 0.0f64..=1.0,
            gzipped in proptest::prelude::any::<bool>(),
        ) {
            let mut bytes = records(&[3, 9, 0]);
            for (at, value) in flips {
                let at = (bytes.len() as f64 * at) as usize;
                bytes[at] = value;
            }
            let cut = (bytes.len() as f64 * cut) as usize;
            let stored = if gzipped { gzip(&bytes[..cut]) } else { bytes[..cut].to_vec() };
            let dir = tempfile::tempdir().unwrap();
            std::fs::write(dir.path().join("test_batch.bin"), stored).unwrap();
            match load_cifar10(dir.path(), Split::Test) {
                // A cut at a record boundary leaves whole records, which load.
                Ok(data) => proptest::prop_assert_eq!(data.len() * 3073, cut),
                Err(error) => proptest::prop_assert!(
                    matches!(error, DataError::Truncated { .. } | DataError::BadLabel { .. }),
                    "{}", error
                ),
            }
        }
    }

    #[test]
    fn missing_batches_say_how_to_get_them() {
        let dir = tempfile::tempdir().unwrap();
        let message = load_cifar10(dir.path(), Split::Train).unwrap_err().to_string();
        assert!(message.contains("data_batch_1.bin"), "{message}");
        assert!(message.contains("tessera data fetch cifar10"), "{message}");
    }
}
