//! Reading a data file whole, transparently decompressing gzip.
//!
//! Compression is detected from the content (the gzip magic bytes `1f 8b`), never from the file
//! name, so a renamed file still reads.

use std::io::Read;
use std::path::{Path, PathBuf};

use crate::error::{DataError, Result};

/// The first two bytes of every gzip stream.
const GZIP_MAGIC: [u8; 2] = [0x1f, 0x8b];

/// Returns true when `bytes` starts like a gzip stream.
pub fn is_gzip(bytes: &[u8]) -> bool {
    bytes.starts_with(&GZIP_MAGIC)
}

/// Reads a file whole; if it is gzip-compressed (all members), returns the decompressed content.
pub fn read_maybe_gzip(path: &Path) -> Result<Vec<u8>> {
    let raw = std::fs::read(path).map_err(|e| DataError::io(path, e))?;
    if !is_gzip(&raw) {
        return Ok(raw);
    }
    let mut decoded = Vec::with_capacity(raw.len().saturating_mul(4));
    flate2::read::MultiGzDecoder::new(raw.as_slice())
        .read_to_end(&mut decoded)
        .map_err(|source| DataError::BadGzip { path: path.to_path_buf(), source })?;
    Ok(decoded)
}

/// Compares a file's length (of its content, when gzipped) with what its header describes:
/// shorter is [`DataError::Truncated`], longer [`DataError::TrailingData`].
pub(crate) fn check_length(path: &Path, actual: u64, expected: u64) -> Result<()> {
    let path = path.to_path_buf();
    match actual.cmp(&expected) {
        std::cmp::Ordering::Less => Err(DataError::Truncated { path, expected, actual }),
        std::cmp::Ordering::Greater => Err(DataError::TrailingData { path, expected, actual }),
        std::cmp::Ordering::Equal => Ok(()),
    }
}

/// Finds `name` or `name.gz` in `dir`, preferring the uncompressed file.
pub fn find_plain_or_gz(dir: &Path, name: &str) -> Option<PathBuf> {
    [name.to_string(), format!("{name}.gz")]
        .into_iter()
        .map(|candidate| dir.join(candidate))
        .find(|path| path.is_file())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::idx::test_files::gzip;

    #[test]
    fn reads_plain_and_gzip_content_alike() {
        let dir = tempfile::tempdir().unwrap();
        let content = b"hello, tessera".to_vec();
        let plain = dir.path().join("plain.gz"); // misleading extension on purpose
        let packed = dir.path().join("packed.bin");
        std::fs::write(&plain, &content).unwrap();
        std::fs::write(&packed, gzip(&content)).unwrap();
        assert_eq!(read_maybe_gzip(&plain).unwrap(), content);
        assert_eq!(read_maybe_gzip(&packed).unwrap(), content);
    }

    #[test]
    fn broken_gzip_is_reported_with_the_path() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("broken");
        let mut bytes = gzip(&[7u8; 1000]);
        bytes.truncate(bytes.len() / 2);
        std::fs::write(&path, bytes).unwrap();
        let error = read_maybe_gzip(&path).unwrap_err();
        assert!(matches!(error, DataError::BadGzip { .. }), "{error}");
        let message = error.to_string();
        assert!(message.contains("broken") && message.contains("gzip"), "{message}");
    }

    #[test]
    fn missing_file_is_reported_with_the_path() {
        let message = read_maybe_gzip(Path::new("/nonexistent/tessera/file")).unwrap_err().to_string();
        assert!(message.contains("/nonexistent/tessera/file"), "{message}");
    }

    #[test]
    fn prefers_the_uncompressed_file() {
        let dir = tempfile::tempdir().unwrap();
        assert_eq!(find_plain_or_gz(dir.path(), "a"), None);
        std::fs::write(dir.path().join("a.gz"), b"x").unwrap();
        assert_eq!(find_plain_or_gz(dir.path(), "a"), Some(dir.path().join("a.gz")));
        std::fs::write(dir.path().join("a"), b"x").unwrap();
        assert_eq!(find_plain_or_gz(dir.path(), "a"), Some(dir.path().join("a")));
    }
}
