//! The IDX format of MNIST and Fashion-MNIST: a big-endian header (magic number, then one
//! 32-bit size per dimension) followed by the raw bytes. Files may be gzipped.

use std::path::{Path, PathBuf};

use crate::catalog::{DatasetKind, IDX_TEST_FILES, IDX_TRAIN_FILES};
use crate::dataset::{shape_text, Dataset, Split};
use crate::error::{DataError, Result};
use crate::file_bytes::{check_length, find_plain_or_gz, read_maybe_gzip};

/// Magic number of an IDX file of unsigned bytes with 3 dimensions (images).
pub const IDX_IMAGES_MAGIC: u32 = 0x0000_0803;
/// Magic number of an IDX file of unsigned bytes with 1 dimension (labels).
pub const IDX_LABELS_MAGIC: u32 = 0x0000_0801;

/// The number of classes of MNIST and Fashion-MNIST.
const IDX_NUM_CLASSES: usize = 10;

/// Byte pixels scaled to `[0, 1]`: `PIXEL_TO_UNIT[b] == b / 255`.
pub(crate) static PIXEL_TO_UNIT: [f32; 256] = {
    let mut table = [0.0f32; 256];
    let mut b = 0;
    while b < 256 {
        table[b] = b as f32 / 255.0;
        b += 1;
    }
    table
};

/// Images read from an IDX file, still as bytes.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct IdxImages {
    /// The number of images.
    pub count: usize,
    /// Rows per image.
    pub rows: usize,
    /// Columns per image.
    pub cols: usize,
    /// `count * rows * cols` bytes, image by image, row-major.
    pub pixels: Vec<u8>,
}

/// Reads an IDX image file (magic 2051), raw or gzipped.
pub fn read_idx_images(path: &Path) -> Result<IdxImages> {
    let bytes = read_maybe_gzip(path)?;
    let (dims, body) = parse_idx(&bytes, path, IDX_IMAGES_MAGIC, "IDX images: bytes, 3 dimensions")?;
    if dims[1] == 0 || dims[2] == 0 {
        return Err(DataError::BadHeader {
            path: path.to_path_buf(),
            problem: format!("images of {}x{} pixels", dims[1], dims[2]),
        });
    }
    Ok(IdxImages { count: dims[0], rows: dims[1], cols: dims[2], pixels: body.to_vec() })
}

/// Reads an IDX label file (magic 2049), raw or gzipped; every label must be below
/// `num_classes`.
pub fn read_idx_labels(path: &Path, num_classes: usize) -> Result<Vec<u8>> {
    let bytes = read_maybe_gzip(path)?;
    let (_, body) = parse_idx(&bytes, path, IDX_LABELS_MAGIC, "IDX labels: bytes, 1 dimension")?;
    check_labels(body, path, num_classes)?;
    Ok(body.to_vec())
}

/// Reads a pair of IDX files (images, labels) as a dataset of `[1, rows, cols]` samples scaled
/// to `[0, 1]`, checking that the counts agree.
pub fn load_idx_pair(name: &str, images_path: &Path, labels_path: &Path, num_classes: usize) -> Result<Dataset> {
    let images = read_idx_images(images_path)?;
    let labels = read_idx_labels(labels_path, num_classes)?;
    if images.count != labels.len() {
        return Err(DataError::CountMismatch {
            images_path: images_path.to_path_buf(),
            images: images.count,
            labels_path: labels_path.to_path_buf(),
            labels: labels.len(),
        });
    }
    let values = images.pixels.iter().map(|&b| PIXEL_TO_UNIT[usize::from(b)]).collect();
    let shape = vec![1, images.rows, images.cols];
    Ok(Dataset::new(name, values, labels, shape, num_classes)?
        .with_source_files(vec![images_path.to_path_buf(), labels_path.to_path_buf()]))
}

/// Reads MNIST from `dir`, the folder holding `train-images-idx3-ubyte[.gz]` and the other
/// three files. Samples have shape `[1, 28, 28]`, values in `[0, 1]`, 10 classes.
pub fn load_mnist(dir: &Path, split: Split) -> Result<Dataset> {
    load_idx_dataset(DatasetKind::Mnist, dir, split)
}

/// Reads Fashion-MNIST from `dir` (same file names and layout as MNIST).
pub fn load_fashion_mnist(dir: &Path, split: Split) -> Result<Dataset> {
    load_idx_dataset(DatasetKind::FashionMnist, dir, split)
}

/// Reads an MNIST-layout dataset's split from `dir`.
fn load_idx_dataset(kind: DatasetKind, dir: &Path, split: Split) -> Result<Dataset> {
    let [images_name, labels_name] = match split {
        Split::Train => IDX_TRAIN_FILES,
        Split::Test => IDX_TEST_FILES,
    };
    let find = |name| find_plain_or_gz(dir, name).ok_or_else(|| kind.missing_files(dir, split));
    let (images_path, labels_path): (PathBuf, PathBuf) = (find(images_name)?, find(labels_name)?);
    let name = format!("{}-{split}", kind.name());
    load_idx_pair(&name, &images_path, &labels_path, IDX_NUM_CLASSES)
}

/// Checks the magic number and sizes of an IDX byte array; returns its dimensions and body.
fn parse_idx<'a>(
    bytes: &'a [u8],
    path: &Path,
    expected_magic: u32,
    meaning: &'static str,
) -> Result<(Vec<usize>, &'a [u8])> {
    let truncated = |expected: usize| DataError::Truncated {
        path: path.to_path_buf(),
        expected: expected as u64,
        actual: bytes.len() as u64,
    };
    let magic = read_u32_be(bytes, 0).ok_or_else(|| truncated(4))?;
    if magic != expected_magic {
        return Err(DataError::WrongMagic {
            path: path.to_path_buf(),
            expected: expected_magic,
            found: magic,
            meaning,
        });
    }
    let num_dims = (magic & 0xff) as usize;
    let header_len = 4 + 4 * num_dims;
    let dims: Vec<usize> = (0..num_dims)
        .map(|k| read_u32_be(bytes, 4 + 4 * k).map(|d| d as usize))
        .collect::<Option<_>>()
        .ok_or_else(|| truncated(header_len))?;
    let body_len =
        dims.iter().try_fold(1usize, |acc, &d| acc.checked_mul(d)).and_then(|n| n.checked_add(header_len)).ok_or_else(
            || DataError::BadHeader {
                path: path.to_path_buf(),
                problem: format!("dimensions {} overflow", shape_text(&dims)),
            },
        )?;
    check_length(path, bytes.len() as u64, body_len as u64)?;
    Ok((dims, &bytes[header_len..]))
}

/// Fails on the first label that is not below `num_classes`.
pub(crate) fn check_labels(labels: &[u8], path: &Path, num_classes: usize) -> Result<()> {
    match labels.iter().position(|&l| usize::from(l) >= num_classes) {
        Some(index) => {
            Err(DataError::BadLabel { path: path.to_path_buf(), index, label: u32::from(labels[index]), num_classes })
        }
        None => Ok(()),
    }
}

/// The big-endian `u32` at `offset`, if the bytes reach that far.
fn read_u32_be(bytes: &[u8], offset: usize) -> Option<u32> {
    let word = bytes.get(offset..offset.checked_add(4)?)?;
    Some(u32::from_be_bytes(word.try_into().ok()?))
}

/// Writers of small IDX files, for tests here and in other modules.
#[cfg(test)]
pub(crate) mod test_files {
    use std::io::Write;

    /// An IDX image file's bytes.
    pub fn idx_images(count: u32, rows: u32, cols: u32, pixels: &[u8]) -> Vec<u8> {
        let mut bytes = Vec::new();
        for word in [super::IDX_IMAGES_MAGIC, count, rows, cols] {
            bytes.extend_from_slice(&word.to_be_bytes());
        }
        bytes.extend_from_slice(pixels);
        bytes
    }

    /// An IDX label file's bytes.
    pub fn idx_labels(labels: &[u8]) -> Vec<u8> {
        let mut bytes = Vec::new();
        bytes.extend_from_slice(&super::IDX_LABELS_MAGIC.to_be_bytes());
        bytes.extend_from_slice(&(labels.len() as u32).to_be_bytes());
        bytes.extend_from_slice(labels);
        bytes
    }

    /// `bytes` gzipped.
    pub fn gzip(bytes: &[u8]) -> Vec<u8> {
        let mut encoder = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::fast());
        encoder.write_all(bytes).unwrap();
        encoder.finish().unwrap()
    }
}

#[cfg(test)]
mod tests {
    use super::test_files::*;
    use super::*;
    use proptest::prelude::*;

    /// Writes an MNIST-layout test split (3 images of 2x2) into `dir`, raw or gzipped.
    fn write_split(dir: &Path, gzipped: bool, pixels: &[u8], labels: &[u8]) {
        let encode = |bytes: Vec<u8>| if gzipped { gzip(&bytes) } else { bytes };
        let suffix = if gzipped { ".gz" } else { "" };
        let count = labels.len() as u32;
        std::fs::write(dir.join(format!("t10k-images-idx3-ubyte{suffix}")), encode(idx_images(count, 2, 2, pixels)))
            .unwrap();
        std::fs::write(dir.join(format!("t10k-labels-idx1-ubyte{suffix}")), encode(idx_labels(labels))).unwrap();
    }

    #[test]
    fn round_trip_raw_and_gzip() {
        let pixels: Vec<u8> = (0..12).map(|v| v * 20).collect();
        for gzipped in [false, true] {
            let dir = tempfile::tempdir().unwrap();
            write_split(dir.path(), gzipped, &pixels, &[3, 0, 9]);
            let data = load_mnist(dir.path(), Split::Test).unwrap();
            assert_eq!(data.len(), 3);
            assert_eq!(data.sample_shape(), &[1, 2, 2]);
            assert_eq!(data.labels(), &[3, 0, 9]);
            assert_eq!(data.sample(1)[0], 80.0 / 255.0);
            assert_eq!(data.name(), "mnist-test");
            assert_eq!(data.domain().as_cube(), Some((0.0, 1.0)));
        }
    }

    #[test]
    fn missing_split_names_the_files_and_the_fix() {
        let dir = tempfile::tempdir().unwrap();
        let message = load_fashion_mnist(dir.path(), Split::Train).unwrap_err().to_string();
        assert!(message.contains("train-images-idx3-ubyte"), "{message}");
        assert!(message.contains("tessera data fetch fashion-mnist"), "{message}");
    }

    #[test]
    fn truncated_image_file_is_rejected() {
        let dir = tempfile::tempdir().unwrap();
        write_split(dir.path(), true, &[0; 11], &[1, 2, 3]);
        let error = load_mnist(dir.path(), Split::Test).unwrap_err();
        assert!(matches!(error, DataError::Truncated { expected: 28, actual: 27, .. }), "{error}");
        assert!(error.to_string().contains("t10k-images-idx3-ubyte.gz"), "{error}");
    }

    #[test]
    fn truncated_header_is_rejected() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("short");
        std::fs::write(&path, &idx_images(1, 2, 2, &[])[..10]).unwrap();
        assert!(matches!(read_idx_images(&path), Err(DataError::Truncated { expected: 16, actual: 10, .. })));
        std::fs::write(&path, [0u8, 0]).unwrap();
        assert!(matches!(read_idx_images(&path), Err(DataError::Truncated { expected: 4, .. })));
    }

    #[test]
    fn trailing_bytes_are_rejected() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("long");
        let mut bytes = idx_labels(&[1, 2]);
        bytes.push(0);
        std::fs::write(&path, bytes).unwrap();
        assert!(matches!(read_idx_labels(&path, 10), Err(DataError::TrailingData { .. })));
    }

    #[test]
    fn wrong_magic_is_rejected() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("labels-as-images");
        std::fs::write(&path, idx_labels(&[1, 2])).unwrap();
        let error = read_idx_images(&path).unwrap_err();
        assert!(matches!(error, DataError::WrongMagic { expected: 2051, found: 2049, .. }), "{error}");
        assert!(error.to_string().contains("labels-as-images"));
    }

    #[test]
    fn count_mismatch_is_rejected() {
        let dir = tempfile::tempdir().unwrap();
        write_split(dir.path(), false, &[0; 12], &[1, 2, 3]);
        std::fs::write(dir.path().join("t10k-labels-idx1-ubyte"), idx_labels(&[1, 2])).unwrap();
        let error = load_mnist(dir.path(), Split::Test).unwrap_err();
        assert!(matches!(error, DataError::CountMismatch { images: 3, labels: 2, .. }), "{error}");
    }

    #[test]
    fn bad_label_is_rejected() {
        let dir = tempfile::tempdir().unwrap();
        write_split(dir.path(), false, &[0; 12], &[1, 10, 3]);
        let error = load_mnist(dir.path(), Split::Test).unwrap_err();
        assert!(matches!(error, DataError::BadLabel { index: 1, label: 10, num_classes: 10, .. }), "{error}");
    }

    #[test]
    fn huge_header_sizes_do_not_allocate_or_panic() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("huge");
        std::fs::write(&path, idx_images(u32::MAX, u32::MAX, u32::MAX, &[1, 2, 3])).unwrap();
        let error = read_idx_images(&path).unwrap_err();
        assert!(matches!(&error, DataError::BadHeader { problem, .. } if problem.contains("overflow")), "{error}");
        std::fs::write(&path, idx_images(5, 0, 28, &[])).unwrap();
        assert!(matches!(read_idx_images(&path), Err(DataError::BadHeader { .. })));
    }

    proptest! {
        #[test]
        fn any_small_image_file_round_trips(
            (count, rows, cols, pixels) in (0u32..5, 1u32..5, 1u32..5).prop_flat_map(|(n, r, c)| {
                (Just(n), Just(r), Just(c), proptest::collection::vec(any::<u8>(), (n * r * c) as usize))
            }),
            gzipped in any::<bool>(),
        ) {
            let dir = tempfile::tempdir().unwrap();
            let path = dir.path().join("images");
            let bytes = idx_images(count, rows, cols, &pixels);
            std::fs::write(&path, if gzipped { gzip(&bytes) } else { bytes }).unwrap();
            let images = read_idx_images(&path).unwrap();
            prop_assert_eq!(images.pixels, pixels);
            prop_assert_eq!((images.count, images.rows, images.cols), (count as usize, rows as usize, cols as usize));
        }

        #[test]
        fn any_cut_of_a_valid_file_is_rejected_as_truncated(cut in 0usize..28, gzipped in any::<bool>()) {
            let dir = tempfile::tempdir().unwrap();
            let path = dir.path().join("cut");
            let bytes = idx_images(3, 1, 4, &[9; 12]);
            std::fs::write(&path, if gzipped { gzip(&bytes[..cut]) } else { bytes[..cut].to_vec() }).unwrap();
            let result = read_idx_images(&path);
            prop_assert!(
                matches!(result, Err(DataError::Truncated { actual, .. }) if actual == cut as u64),
                "{:?}", result.map(|images| images.count)
            );
        }

        #[test]
        fn corrupted_or_cut_mnist_pairs_load_or_fail_with_a_file_error_never_a_panic(
            flips in proptest::collection::vec((any::<bool>(), 0.0f64..1.0, any::<u8>()), 1..5),
            cut in proptest::option::of(0.0f64..1.0),
            gzipped in any::<bool>(),
        ) {
            let dir = tempfile::tempdir().unwrap();
            let mut files = [idx_images(3, 2, 2, &[7; 12]), idx_labels(&[1, 2, 3])];
            for (in_labels, at, value) in flips {
                let file = &mut files[usize::from(in_labels)];
                let at = (file.len() as f64 * at) as usize;
                file[at] = value;
            }
            if let Some(cut) = cut {
                files[0].truncate((files[0].len() as f64 * cut) as usize);
            }
            let encode = |bytes: &[u8]| if gzipped { gzip(bytes) } else { bytes.to_vec() };
            std::fs::write(dir.path().join("t10k-images-idx3-ubyte"), encode(&files[0])).unwrap();
            std::fs::write(dir.path().join("t10k-labels-idx1-ubyte"), encode(&files[1])).unwrap();
            match load_mnist(dir.path(), Split::Test) {
                // Corrupted pixels, or a cut that a corrupted header happens to describe, still load.
                Ok(data) => prop_assert_eq!(data.len(), 3),
                Err(error) => prop_assert!(matches!(
                    error,
                    DataError::Truncated { .. } | DataError::TrailingData { .. } | DataError::WrongMagic { .. }
                        | DataError::BadHeader { .. } | DataError::BadLabel { .. } | DataError::CountMismatch { .. }
                        | DataError::InvalidDataset(_)
                ), "{}", error),
            }
        }
    }
}
