//! tessera-data: the datasets room of tessera.
//!
//! What lives here:
//! - [`Dataset`], a labelled dataset in memory (`f32` inputs in `[0, 1]` as read, sample-major,
//!   with its sample shape, class count and [`Domain`] box), and what the experiments do to it:
//!   subsets drawn without replacement by seed, random labels, per-channel normalization,
//!   one-hot targets, `f64` copies;
//! - readers for the IDX files of MNIST and Fashion-MNIST and the CIFAR-10/100 binary files,
//!   raw or gzipped (detected from the bytes), that reject truncated or inconsistent files with
//!   an error naming the file and the problem;
//! - [`npy`]: `.npy` files of points and frames as NumPy writes them (float32/float64, either
//!   byte order, C or Fortran order), read row by row, and written;
//! - [`DatasetSpec`], the `DATASET:SPLIT[:N[:seed=S]]` that commands take, which loads its
//!   selection or one point;
//! - [`DataDir`], which finds a dataset's folder (flag, `TESSERA_DATA`, `./data`, the shared
//!   copy) and explains what it searched when the data is missing;
//! - [`fetch()`], which downloads the standard files (through `ureq`, with rustls for https)
//!   and verifies their SHA-256 before they take their final names, unpacking archives with
//!   the `tar` crate;
//! - seeded toy data in two dimensions ([`toy`]).
//!
//! What must not live here: network code beyond fetching dataset files; anything about neural
//! networks or their geometry (tessera-net, tessera-lc, tessera-regions); training
//! (tessera-train); printing (callers decide what to show; downloads report progress through a
//! callback). Nothing here panics on bad files or arguments: every failure is a [`DataError`]
//! that names the file or value and the problem.

mod catalog;
mod cifar;
mod data_dir;
mod dataset;
mod domain;
mod error;
mod fetch;
mod file_bytes;
mod idx;
pub mod npy;
mod spec;
pub mod toy;

pub use catalog::DatasetKind;
pub use cifar::{load_cifar10, load_cifar100, load_cifar_files, Cifar100Labels, CifarRecordLayout, CIFAR_PIXELS};
pub use data_dir::{DataDir, DATA_DIR_ENV};
pub use dataset::{indices_without_replacement, one_hot, Dataset, Split};
pub use domain::Domain;
pub use error::{DataError, Result};
pub use fetch::{fetch, sha256_hex, sha256_of_file, DownloadProgress, FetchReport, FetchSpec, RemoteFile, Unpack};
pub use file_bytes::{is_gzip, read_maybe_gzip};
pub use idx::{
    load_fashion_mnist, load_idx_pair, load_mnist, read_idx_images, read_idx_labels, IdxImages, IDX_IMAGES_MAGIC,
    IDX_LABELS_MAGIC,
};
pub use spec::{DatasetSpec, Selection};
pub use toy::{circles, gated_sin_cos, spiral, two_moons, uniform_box, RegressionSet};
