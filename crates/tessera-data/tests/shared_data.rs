//! Checks against the real datasets in the project's `shared/data` folder (see its README for
//! the verified counts). Skipped, with a note, where that folder is absent.

use std::path::{Path, PathBuf};

use tessera_data::{load_cifar10, load_fashion_mnist, load_mnist, DataDir, DatasetKind, Split};

/// `shared/data` beside the workspace checkout, if present.
fn shared_data() -> Option<PathBuf> {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../../shared/data");
    if dir.is_dir() {
        Some(dir)
    } else {
        eprintln!("skipped: no shared data at {}", dir.display());
        None
    }
}

/// The dataset's folder under `shared/data`, if present.
fn shared_dataset(kind: DatasetKind, split: Split) -> Option<PathBuf> {
    let root = shared_data()?;
    let found = DataDir::from_roots(vec![root]).find(kind, split);
    if found.is_err() {
        eprintln!("skipped: {kind} ({split}) not in shared data");
    }
    found.ok()
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

/// Fashion-MNIST is not in shared data: found through `TESSERA_DATA` or where Debian's
/// `dataset-fashion-mnist` package installs it.
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
