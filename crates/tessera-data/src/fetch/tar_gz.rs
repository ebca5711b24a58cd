//! Extracting chosen regular files from a `.tar.gz` archive (ustar and GNU tar, as the CIFAR
//! archives are written). Only the base names asked for are written, into one folder, so an
//! archive cannot place files elsewhere.

use std::collections::BTreeSet;
use std::io::{BufReader, Read};
use std::path::{Path, PathBuf};

use crate::error::{DataError, Result};

/// Tar's block size.
const BLOCK: usize = 512;

/// Writes every regular file of `archive` whose base name is in `wanted` into `dest_dir`
/// (through a temporary name, then renamed); fails if any wanted file is absent.
pub(crate) fn extract_members(archive: &Path, wanted: &[String], dest_dir: &Path) -> Result<Vec<PathBuf>> {
    let file = std::fs::File::open(archive).map_err(|e| DataError::io(archive, e))?;
    let mut stream = BufReader::new(flate2::read::MultiGzDecoder::new(BufReader::new(file)));
    let bad = |problem: String| DataError::BadArchive { path: archive.to_path_buf(), problem };
    let mut missing: BTreeSet<&str> = wanted.iter().map(String::as_str).collect();
    let mut written = Vec::new();
    let mut long_name: Option<String> = None;
    while let Some(header) = read_header(&mut stream).map_err(|e| bad(e.to_string()))? {
        let entry = parse_header(&header).map_err(&bad)?;
        let name = long_name.take().unwrap_or(entry.name);
        let padded = entry.size.div_ceil(BLOCK as u64) * BLOCK as u64;
        let mut data = (&mut stream).take(padded);
        let base = name.rsplit('/').next().unwrap_or_default().to_string();
        match entry.kind {
            EntryKind::GnuLongName => {
                long_name = Some(read_long_name(&mut data, entry.size).map_err(|e| bad(e.to_string()))?)
            }
            EntryKind::Regular if missing.remove(base.as_str()) => {
                written.push(write_member(&mut data, entry.size, dest_dir, &base)?);
            }
            _ => {}
        }
        std::io::copy(&mut data, &mut std::io::sink()).map_err(|e| bad(e.to_string()))?;
    }
    if !missing.is_empty() {
        return Err(bad(format!("no member named {}", missing.into_iter().collect::<Vec<_>>().join(", "))));
    }
    Ok(written)
}

/// The kinds of entries this reader distinguishes.
#[derive(Debug, PartialEq, Eq)]
enum EntryKind {
    Regular,
    GnuLongName,
    Other,
}

/// What a header says about its entry.
#[derive(Debug)]
struct Entry {
    name: String,
    size: u64,
    kind: EntryKind,
}

/// The next header block, or `None` at the end-of-archive marker or the end of the stream.
fn read_header(stream: &mut impl Read) -> std::io::Result<Option<[u8; BLOCK]>> {
    let mut block = [0u8; BLOCK];
    let mut filled = 0;
    while filled < BLOCK {
        match stream.read(&mut block[filled..])? {
            0 if filled == 0 => return Ok(None),
            0 => return Err(std::io::Error::new(std::io::ErrorKind::UnexpectedEof, "archive ends inside a header")),
            n => filled += n,
        }
    }
    Ok((block.iter().any(|&b| b != 0)).then_some(block))
}

fn parse_header(header: &[u8; BLOCK]) -> std::result::Result<Entry, String> {
    let name = c_string(&header[0..100]);
    let prefix = c_string(&header[345..500]);
    let is_ustar = &header[257..262] == b"ustar";
    let name = if is_ustar && !prefix.is_empty() { format!("{prefix}/{name}") } else { name };
    let size = parse_size(&header[124..136]).ok_or_else(|| format!("bad size field in the header of {name:?}"))?;
    let kind = match header[156] {
        b'0' | 0 => EntryKind::Regular,
        b'L' => EntryKind::GnuLongName,
        _ => EntryKind::Other,
    };
    Ok(Entry { name, size, kind })
}

/// A NUL-terminated field as text.
fn c_string(field: &[u8]) -> String {
    let end = field.iter().position(|&b| b == 0).unwrap_or(field.len());
    String::from_utf8_lossy(&field[..end]).into_owned()
}

/// A size field: octal text, or big-endian binary when the first byte has its high bit set.
fn parse_size(field: &[u8]) -> Option<u64> {
    if field[0] & 0x80 != 0 {
        let tail = &field[field.len() - 8..];
        return Some(u64::from_be_bytes(tail.try_into().ok()?));
    }
    let text = c_string(field);
    let digits = text.trim_matches(|c: char| c == ' ' || c == '\0');
    if digits.is_empty() {
        return Some(0);
    }
    u64::from_str_radix(digits, 8).ok()
}

fn read_long_name(data: &mut impl Read, size: u64) -> std::io::Result<String> {
    let mut bytes = Vec::new();
    data.take(size.min(64 * 1024)).read_to_end(&mut bytes)?;
    Ok(c_string(&bytes))
}

/// Copies `size` bytes into `dest_dir/base` through a temporary file.
fn write_member(data: &mut impl Read, size: u64, dest_dir: &Path, base: &str) -> Result<PathBuf> {
    let final_path = dest_dir.join(base);
    let temp_path = dest_dir.join(format!(".{base}.part"));
    let mut out = std::fs::File::create(&temp_path).map_err(|e| DataError::io(&temp_path, e))?;
    let copied = std::io::copy(&mut data.take(size), &mut out).map_err(|e| DataError::io(&temp_path, e))?;
    drop(out);
    if copied != size {
        let _ = std::fs::remove_file(&temp_path);
        return Err(DataError::BadArchive {
            path: final_path,
            problem: format!("member ends after {copied} of {size} bytes"),
        });
    }
    std::fs::rename(&temp_path, &final_path).map_err(|e| DataError::io(&final_path, e))?;
    Ok(final_path)
}

/// A writer of small tar archives, for tests.
#[cfg(test)]
pub(crate) mod test_archive {
    /// A tar archive (uncompressed) of `(path, content)` regular files.
    pub fn tar(files: &[(&str, &[u8])]) -> Vec<u8> {
        let mut archive = Vec::new();
        for (path, content) in files {
            let mut header = [0u8; 512];
            header[..path.len()].copy_from_slice(path.as_bytes());
            header[100..108].copy_from_slice(b"0000644\0");
            header[124..136].copy_from_slice(format!("{:011o}\0", content.len()).as_bytes());
            header[156] = b'0';
            header[257..263].copy_from_slice(b"ustar\0");
            header[148..156].fill(b' ');
            let checksum: u32 = header.iter().map(|&b| u32::from(b)).sum();
            header[148..156].copy_from_slice(format!("{checksum:06o}\0 ").as_bytes());
            archive.extend_from_slice(&header);
            archive.extend_from_slice(content);
            archive.resize(archive.len().div_ceil(512) * 512, 0);
        }
        archive.extend_from_slice(&[0u8; 1024]);
        archive
    }
}

#[cfg(test)]
mod tests {
    use super::test_archive::tar;
    use super::*;
    use crate::idx::test_files::gzip;

    #[test]
    fn extracts_only_the_wanted_members_by_base_name() {
        let dir = tempfile::tempdir().unwrap();
        let archive = dir.path().join("a.tar.gz");
        let big = vec![7u8; 1500];
        let bytes = tar(&[("top/skip.txt", b"no"), ("top/keep.bin", &big), ("top/meta.txt", b"m")]);
        std::fs::write(&archive, gzip(&bytes)).unwrap();
        let wanted = vec!["keep.bin".to_string(), "meta.txt".to_string()];
        let written = extract_members(&archive, &wanted, dir.path()).unwrap();
        assert_eq!(written.len(), 2);
        assert_eq!(std::fs::read(dir.path().join("keep.bin")).unwrap(), big);
        assert_eq!(std::fs::read(dir.path().join("meta.txt")).unwrap(), b"m");
        assert!(!dir.path().join("skip.txt").exists());
    }

    #[test]
    fn reports_missing_members() {
        let dir = tempfile::tempdir().unwrap();
        let archive = dir.path().join("a.tar.gz");
        std::fs::write(&archive, gzip(&tar(&[("x", b"1")]))).unwrap();
        let error = extract_members(&archive, &["y".to_string()], dir.path()).unwrap_err();
        assert!(error.to_string().contains("no member named y"), "{error}");
    }

    #[test]
    fn truncated_archive_is_an_error_not_a_panic() {
        let dir = tempfile::tempdir().unwrap();
        let archive = dir.path().join("a.tar.gz");
        let mut bytes = tar(&[("keep", &[1u8; 2000])]);
        bytes.truncate(1000);
        std::fs::write(&archive, gzip(&bytes)).unwrap();
        assert!(extract_members(&archive, &["keep".to_string()], dir.path()).is_err());
    }
}
