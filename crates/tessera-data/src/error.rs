//! The one error type of this crate. Every variant that concerns a file names it.

use std::path::PathBuf;

/// Everything that can go wrong while finding, reading, fetching or reshaping data.
///
/// Messages are meant to be shown to a user as they are: each names the file (or URL) and the
/// problem, and the "not found" cases say how to get the data.
#[derive(Debug, thiserror::Error)]
pub enum DataError {
    /// A file could not be opened or read.
    #[error("{}: cannot read: {source}", path.display())]
    Io {
        /// The file.
        path: PathBuf,
        /// The underlying error.
        source: std::io::Error,
    },

    /// A file starts with the gzip magic bytes but does not decompress.
    #[error("{}: looks like gzip but does not decompress: {source}", path.display())]
    BadGzip {
        /// The file.
        path: PathBuf,
        /// The decoder's error.
        source: std::io::Error,
    },

    /// None of the files a dataset needs are in the folder that was searched.
    #[error(
        "{dataset}: missing in {}: expected {}; get it with `tessera data fetch {fetch_name}`, \
         or pass a folder that holds it with --data-dir or TESSERA_DATA",
        dir.display(),
        expected.join(", ")
    )]
    MissingFiles {
        /// The dataset's name, e.g. "mnist".
        dataset: String,
        /// The folder that was looked in.
        dir: PathBuf,
        /// The file names that were expected there (each may also end in `.gz`).
        expected: Vec<String>,
        /// The name to give `tessera data fetch`.
        fetch_name: String,
    },

    /// No candidate data folder holds the dataset.
    #[error(
        "{dataset} ({split}) not found; searched:\n{}\nget it with `tessera data fetch {fetch_name}`, \
         pass the folder with --data-dir, or set TESSERA_DATA",
        searched.iter().map(|p| format!("  {}", p.display())).collect::<Vec<_>>().join("\n")
    )]
    DatasetNotFound {
        /// The dataset's name.
        dataset: String,
        /// "train" or "test".
        split: String,
        /// Every folder that was looked in, in order.
        searched: Vec<PathBuf>,
        /// The name to give `tessera data fetch`.
        fetch_name: String,
    },

    /// A file's magic number is not the one its format requires.
    #[error("{}: wrong magic number {found:#010x} ({found}); expected {expected:#010x} ({expected}, {meaning})", path.display())]
    WrongMagic {
        /// The file.
        path: PathBuf,
        /// The magic number the format requires.
        expected: u32,
        /// The magic number in the file.
        found: u32,
        /// What the expected number stands for, e.g. "IDX unsigned bytes, 3 dimensions".
        meaning: &'static str,
    },

    /// A file is shorter than its header (or record layout) says.
    #[error("{}: truncated: expected {expected} bytes, found {actual}", path.display())]
    Truncated {
        /// The file (its decompressed content when gzipped).
        path: PathBuf,
        /// The number of bytes the header or layout requires.
        expected: u64,
        /// The number of bytes present.
        actual: u64,
    },

    /// A file is longer than its header says.
    #[error("{}: {actual} bytes, but the header describes {expected}: trailing data", path.display())]
    TrailingData {
        /// The file.
        path: PathBuf,
        /// The number of bytes the header describes.
        expected: u64,
        /// The number of bytes present.
        actual: u64,
    },

    /// A header field makes no sense (zero-sized images, sizes that overflow).
    #[error("{}: bad header: {problem}", path.display())]
    BadHeader {
        /// The file.
        path: PathBuf,
        /// What is wrong.
        problem: String,
    },

    /// The image file and the label file disagree on the number of samples.
    #[error(
        "{} holds {images} images but {} holds {labels} labels",
        images_path.display(),
        labels_path.display()
    )]
    CountMismatch {
        /// The image file.
        images_path: PathBuf,
        /// Its number of images.
        images: usize,
        /// The label file.
        labels_path: PathBuf,
        /// Its number of labels.
        labels: usize,
    },

    /// A label is not below the number of classes.
    #[error("{}: record {index} has label {label}, but there are only {num_classes} classes", path.display())]
    BadLabel {
        /// The file.
        path: PathBuf,
        /// The record (sample) number, from 0.
        index: usize,
        /// The label found.
        label: u32,
        /// The number of classes of the dataset.
        num_classes: usize,
    },

    /// A `.npy` file's dtype is not `float32` or `float64`.
    #[error(
        "{}: dtype {dtype} ('{descr}') is not supported: expected float32 or float64 \
         (convert with np.save(f, a.astype(np.float32)))",
        path.display()
    )]
    NpyDtype {
        /// The file.
        path: PathBuf,
        /// NumPy's name of the dtype, e.g. "uint8".
        dtype: String,
        /// The dtype string as written in the file, e.g. "|u1".
        descr: String,
    },

    /// A `.npy` file's shape is not one this reader accepts.
    #[error("{}: shape {shape}: {problem}", path.display())]
    NpyShape {
        /// The file.
        path: PathBuf,
        /// The shape as Python prints it, e.g. "(784,)".
        shape: String,
        /// What was expected.
        problem: String,
    },

    /// The rows of a `.npy` file do not have the width the caller needs.
    #[error("{}: shape {shape} holds rows of {width} values, expected {expected}", path.display())]
    NpyWidth {
        /// The file.
        path: PathBuf,
        /// The shape as Python prints it.
        shape: String,
        /// Values per row in the file.
        width: usize,
        /// Values per row needed.
        expected: usize,
    },

    /// A row past the end of a `.npy` file was asked for.
    #[error("{}: row {row} asked, the file has {rows} rows (numbered from 0)", path.display())]
    NpyRowOutOfRange {
        /// The file.
        path: PathBuf,
        /// The row asked for.
        row: usize,
        /// The number of rows.
        rows: usize,
    },

    /// A `DATASET:SPLIT[:N[:seed=S]]` specification does not parse.
    #[error(
        "'{spec}': {problem}; expected DATASET:SPLIT[:N[:seed=S]], e.g. mnist:test or \
         mnist:train:1000:seed=3 (datasets: mnist, fashion-mnist, cifar10, cifar100; splits: train, test)"
    )]
    BadDatasetSpec {
        /// The text given.
        spec: String,
        /// What is wrong with it.
        problem: String,
    },

    /// A point index past the end of a dataset selection.
    #[error("point {index} is out of range: {dataset} has {len} points (numbered from 0)")]
    PointOutOfRange {
        /// The dataset specification, e.g. "mnist:test".
        dataset: String,
        /// The index asked for.
        index: usize,
        /// The number of points.
        len: usize,
    },

    /// A dataset was built from parts that do not fit together.
    #[error("invalid dataset: {0}")]
    InvalidDataset(String),

    /// An argument to a dataset operation is out of range (subset size, index, statistics).
    #[error("invalid argument: {0}")]
    InvalidArgument(String),

    /// A download failed (HTTP status, TLS, an interrupted transfer).
    #[error("downloading {url}: {problem}")]
    Download {
        /// The URL.
        url: String,
        /// What went wrong.
        problem: String,
    },

    /// The server of a download could not be reached (no network, DNS failure, refused
    /// connection, timeout); the message says where to put the files by hand.
    #[error(
        "cannot reach {host} to download {url} ({cause}).\nWithout network, download these files \
         on another machine and put them in {}:\n{}",
        dest.display(),
        by_hand.iter().map(|line| format!("  {line}")).collect::<Vec<_>>().join("\n")
    )]
    HostUnreachable {
        /// The host that did not answer.
        host: String,
        /// The URL being fetched.
        url: String,
        /// Why the connection failed.
        cause: String,
        /// The folder the files belong in.
        dest: PathBuf,
        /// One line per file still missing: its URL and what to do with it.
        by_hand: Vec<String>,
    },

    /// A downloaded file does not have the expected SHA-256; it was deleted.
    #[error(
        "downloaded {url}: SHA-256 is {actual}, expected {expected}; the file was not kept \
         (a changed mirror or a damaged transfer: retry, or download {file_name} by hand)"
    )]
    ChecksumMismatch {
        /// The URL.
        url: String,
        /// The file name it was to be saved as.
        file_name: String,
        /// The expected SHA-256 (lower-case hex).
        expected: String,
        /// The SHA-256 of what arrived.
        actual: String,
    },

    /// A downloaded archive could not be unpacked.
    #[error("{}: cannot unpack: {problem}", path.display())]
    BadArchive {
        /// The archive.
        path: PathBuf,
        /// What is wrong.
        problem: String,
    },
}

impl DataError {
    /// Wraps an I/O error with the path it concerns.
    pub(crate) fn io(path: impl Into<PathBuf>, source: std::io::Error) -> Self {
        DataError::Io { path: path.into(), source }
    }
}

/// Shorthand for results of this crate.
pub type Result<T, E = DataError> = std::result::Result<T, E>;
