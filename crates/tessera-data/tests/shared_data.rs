//! Checks against the real datasets in the project's `shared/data` folder (see its README for
//! the verified counts), found through `TESSERA_DATA` or, when it is unset, a `shared/data`
//! folder in or above the workspace. Where the data is missing these tests skip with a notice, except in CI (`CI` set,
//! as CI services do): there a missing dataset fails the test instead of passing silently.

use std::path::{Path, PathBuf};
use std::sync::OnceLock;

use proptest::prelude::*;
use tessera_data::{
    load_cifar10, load_fashion_mnist, load_idx_pair, load_mnist, read_maybe_gzip, DataDir, DataError, DatasetKind,
    Split, DATA_DIR_ENV,
};

/// `TESSERA_DATA` when set (it names the data), else `shared/data` in the workspace and in
/// every folder above it.
fn shared_roots() -> DataDir {
    if let Some(dir) = std::env::var_os(DATA_DIR_ENV).filter(|v| !v.is_empty()) {
        return DataDir::from_roots(vec![PathBuf::from(dir)]);
    }
    let workspace = Path::new(env!("CARGO_MANIFEST_DIR")).join("../..");
    let workspace = std::fs::canonicalize(&workspace).unwrap_or(workspace);
    DataDir::from_roots(workspace.ancestors().map(|dir| dir.join("shared/data")).collect())
}

/// Whether the tests run in CI, where the shared data must be present.
fn in_ci() -> bool {
    std::env::var("CI").is_ok_and(|v| !v.is_empty() && v != "false" && v != "0")
}

/// The folder holding `kind`'s `split`; `None` (the test skips, saying so) when it is missing
/// outside CI; a failure when it is missing in CI.
fn shared_dataset(kind: DatasetKind, split: Split) -> Option<PathBuf> {
    match shared_roots().find(kind, split) {
        Ok(dir) => Some(dir),
        Err(error) if in_ci() => panic!("CI runs need the shared data (CI is set): {error}"),
        Err(error) => {
            eprintln!("skipped (CI is not set): {error}");
            None
        }
    }
}

#[test]
fn mnist_train_matches_the_official_counts() {
    let Some(dir) = shared_dataset(DatasetKind::Mnist, Split::Train) else { return };
    let train = load_mnist(&dir, Split::Train).unwrap();
    assert_eq!(train.len(), 60_000);
    assert_eq!(train.sample_shape(), &[1, 28, 28]);
    assert_eq!(train.labels()[..10], [5, 0, 4, 1, 9, 2, 1, 3, 1, 4]);
    assert_eq!(train.class_counts(), [5923, 6742, 5958, 6131, 5842, 5421, 5918, 6265, 5851, 5949]);
    assert!(train.images().iter().all(|x| (0.0..=1.0).contains(x)));
    assert!(train.images().contains(&1.0) && train.images().contains(&0.0));
}

#[test]
fn mnist_test_matches_the_official_counts() {
    let Some(dir) = shared_dataset(DatasetKind::Mnist, Split::Test) else { return };
    let test = load_mnist(&dir, Split::Test).unwrap();
    assert_eq!(test.len(), 10_000);
    assert_eq!(test.labels()[..10], [7, 2, 1, 0, 4, 1, 4, 9, 5, 9]);
    assert_eq!(test.class_counts(), [980, 1135, 1032, 1010, 982, 892, 958, 1028, 974, 1009]);
}

#[test]
fn cifar10_shared_copy_has_batches_one_and_two() {
    let Some(dir) = shared_dataset(DatasetKind::Cifar10, Split::Train) else { return };
    let train = load_cifar10(&dir, Split::Train).unwrap();
    let used: Vec<_> =
        train.source_files().iter().map(|p| p.file_name().unwrap().to_string_lossy().into_owned()).collect();
    assert_eq!(used, ["data_batch_1.bin.gz", "data_batch_2.bin.gz"]);
    assert_eq!(train.len(), 20_000);
    assert_eq!(train.sample_shape(), &[3, 32, 32]);
    assert_eq!(train.labels()[..10], [6, 9, 9, 4, 1, 1, 2, 7, 8, 3]);
    let batch_1 = train.first(10_000);
    assert_eq!(batch_1.class_counts(), [1005, 974, 1032, 1016, 999, 937, 1030, 1001, 1025, 981]);
}

#[test]
fn cifar10_test_set_is_balanced() {
    let Some(dir) = shared_dataset(DatasetKind::Cifar10, Split::Test) else { return };
    let test = load_cifar10(&dir, Split::Test).unwrap();
    assert_eq!(test.len(), 10_000);
    assert_eq!(test.class_counts(), [1000; 10]);
}

#[test]
fn subsets_of_real_data_are_reproducible() {
    let Some(dir) = shared_dataset(DatasetKind::Mnist, Split::Test) else { return };
    let test = load_mnist(&dir, Split::Test).unwrap();
    let a = test.subset_without_replacement(1000, 42).unwrap();
    assert_eq!(a, test.subset_without_replacement(1000, 42).unwrap());
    assert_ne!(a.labels(), test.subset_without_replacement(1000, 43).unwrap().labels());
    assert_eq!(a.len(), 1000);
}

#[test]
fn a_dataset_point_is_the_sample_of_the_split() {
    let Some(dir) = shared_dataset(DatasetKind::Mnist, Split::Test) else { return };
    let spec: tessera_data::DatasetSpec = "mnist:test".parse().unwrap();
    let point = spec.point(&DataDir::from_roots(vec![dir.clone()]), 3).unwrap();
    let test = load_mnist(&dir, Split::Test).unwrap();
    assert_eq!(point, test.sample(3).iter().map(|&v| f64::from(v)).collect::<Vec<_>>());
    let error = spec.point(&DataDir::from_roots(vec![dir]), 10_000).unwrap_err();
    assert!(matches!(error, DataError::PointOutOfRange { index: 10_000, len: 10_000, .. }), "{error}");
}

/// Fashion-MNIST is not in shared data: found through `TESSERA_DATA` or where Debian's
/// `dataset-fashion-mnist` package installs it; skipped where absent, in CI too.
#[test]
fn fashion_mnist_if_available() {
    let Ok(dir) = DataDir::resolve(None).find(DatasetKind::FashionMnist, Split::Train) else {
        eprintln!("skipped: Fashion-MNIST not found (set TESSERA_DATA or install dataset-fashion-mnist)");
        return;
    };
    let train = load_fashion_mnist(&dir, Split::Train).unwrap();
    assert_eq!(train.len(), 60_000);
    assert_eq!(train.labels()[..10], [9, 0, 0, 3, 0, 2, 7, 2, 5, 5]);
    assert_eq!(train.class_counts(), [6000; 10]);
}

/// The first five images and labels of the real MNIST test files, as IDX files of five samples
/// (the headers' counts patched to 5).
fn real_mnist_slice() -> Option<&'static (Vec<u8>, Vec<u8>)> {
    static SLICE: OnceLock<Option<(Vec<u8>, Vec<u8>)>> = OnceLock::new();
    SLICE
        .get_or_init(|| {
            let dir = shared_dataset(DatasetKind::Mnist, Split::Test)?;
            let read = |name: &str| read_maybe_gzip(&dir.join(format!("{name}.gz"))).unwrap();
            let (mut images, mut labels) = (read("t10k-images-idx3-ubyte"), read("t10k-labels-idx1-ubyte"));
            images.truncate(16 + 5 * 784);
            labels.truncate(8 + 5);
            images[4..8].copy_from_slice(&5u32.to_be_bytes());
            labels[4..8].copy_from_slice(&5u32.to_be_bytes());
            Some((images, labels))
        })
        .as_ref()
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(48))]

    /// A slice of the real MNIST files, cut or with bytes overwritten, raw or gzipped, loads
    /// (corrupted pixels are still pixels) or fails with an error about the file; never a panic.
    #[test]
    fn real_mnist_files_cut_or_corrupted_are_errors_not_panics(
        flips in proptest::collection::vec((any::<bool>(), 0.0f64..1.0, any::<u8>()), 0..4),
        cut in proptest::option::of((any::<bool>(), 0.0f64..1.0)),
        gzipped in any::<bool>(),
    ) {
        let Some((images, labels)) = real_mnist_slice() else { return Ok(()) };
        let mut files = [images.clone(), labels.clone()];
        for (in_labels, at, value) in &flips {
            let file = &mut files[usize::from(*in_labels)];
            let at = (file.len() as f64 * at) as usize;
            file[at] = *value;
        }
        if let Some((in_labels, at)) = cut {
            let file = &mut files[usize::from(in_labels)];
            file.truncate((file.len() as f64 * at) as usize);
        }
        let dir = tempfile::tempdir().unwrap();
        let encode = |bytes: &[u8]| if gzipped { gzip(bytes) } else { bytes.to_vec() };
        let (images_path, labels_path) = (dir.path().join("images"), dir.path().join("labels"));
        std::fs::write(&images_path, encode(&files[0])).unwrap();
        std::fs::write(&labels_path, encode(&files[1])).unwrap();
        match load_idx_pair("slice", &images_path, &labels_path, 10) {
            Ok(data) => {
                prop_assert_eq!(data.len(), 5);
                if flips.is_empty() && cut.is_none() {
                    prop_assert_eq!(data.labels(), &[7, 2, 1, 0, 4]);
                }
            }
            Err(error) => {
                prop_assert!(flips.len() + usize::from(cut.is_some()) > 0, "the intact slice fails: {}", error);
                prop_assert!(matches!(
                    error,
                    DataError::Truncated { .. } | DataError::TrailingData { .. } | DataError::WrongMagic { .. }
                        | DataError::BadHeader { .. } | DataError::BadLabel { .. } | DataError::CountMismatch { .. }
                ), "{}", error);
                let message = error.to_string();
                prop_assert!(message.contains("images") || message.contains("labels"), "{}", message);
            }
        }
    }
}

fn gzip(bytes: &[u8]) -> Vec<u8> {
    use std::io::Write;
    let mut encoder = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::fast());
    encoder.write_all(bytes).unwrap();
    encoder.finish().unwrap()
}
