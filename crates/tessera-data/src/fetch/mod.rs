//! Downloading the standard dataset files with SHA-256 verification.
//!
//! Every file goes to a temporary name first; only when its SHA-256 matches the table is it
//! renamed into place (or, for an archive, unpacked), so a failed or tampered download never
//! leaves a file that a reader would pick up. When the host cannot be reached, the error lists
//! the files still missing, their URLs and the folder they belong in, for fetching by hand.

mod download;
mod tar_gz;

use std::io::Read;
use std::path::Path;

use download::{download_to_file, DownloadFailure};

use sha2::{Digest, Sha256};

use crate::catalog::{DatasetKind, CIFAR100_TEST_FILE, CIFAR100_TRAIN_FILE, CIFAR10_TEST_FILE, CIFAR10_TRAIN_FILES};
use crate::error::{DataError, Result};

/// What to do with a downloaded file once verified.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Unpack {
    /// Keep it as it is (readers handle `.gz` themselves).
    Keep,
    /// It is a `.tar.gz`: extract these base names into the folder, then delete the archive.
    TarGz {
        /// The base names of the archive members to extract.
        members: Vec<String>,
    },
}

/// One file to download.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct RemoteFile {
    /// Where to get it.
    pub url: String,
    /// The SHA-256 of the downloaded bytes, lower-case hex.
    pub sha256: String,
    /// The name to save it under (also appended to a base URL override).
    pub file_name: String,
    /// What to do after verification.
    pub unpack: Unpack,
}

/// The files that make up a dataset's standard distribution.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct FetchSpec {
    /// The dataset's name, e.g. "mnist".
    pub name: String,
    /// The files to download.
    pub files: Vec<RemoteFile>,
}

/// What a fetch did.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct FetchReport {
    /// Files downloaded (and verified) by this call.
    pub downloaded: Vec<String>,
    /// Files skipped because they were already present and intact.
    pub already_present: Vec<String>,
}

/// How far the download of one file has got, for a progress display.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct DownloadProgress<'a> {
    /// The file being downloaded.
    pub file_name: &'a str,
    /// Bytes received so far.
    pub received: u64,
    /// The file's size, when the server says it.
    pub total: Option<u64>,
}

/// The PyTorch mirror of the MNIST files, byte-identical to the originals.
const MNIST_BASE: &str = "https://ossci-datasets.s3.amazonaws.com/mnist";
/// Zalando's own Fashion-MNIST bucket.
const FASHION_MNIST_BASE: &str = "http://fashion-mnist.s3-website.eu-central-1.amazonaws.com";
/// The CIFAR page of the University of Toronto.
const CIFAR_BASE: &str = "https://www.cs.toronto.edu/~kriz";

impl FetchSpec {
    /// The standard files of `kind`.
    ///
    /// SHA-256 sums: MNIST and Fashion-MNIST as published by several independent download
    /// scripts (the MNIST ones match the official MD5 sums' files); CIFAR-10's is the one
    /// recorded for the archive with the official MD5 `c32a1d4ab5d03f1284b67883e8d87530`;
    /// CIFAR-100's (MD5 `03b5dce01913d631647c71ecec9e9cb8`) could be checked against one
    /// source only. A mismatch is an error, never silently accepted.
    pub fn for_dataset(kind: DatasetKind) -> FetchSpec {
        match kind {
            DatasetKind::Mnist => idx_spec(kind, MNIST_BASE, MNIST_SHA256),
            DatasetKind::FashionMnist => idx_spec(kind, FASHION_MNIST_BASE, FASHION_MNIST_SHA256),
            DatasetKind::Cifar10 => archive_spec(
                kind,
                "cifar-10-binary.tar.gz",
                "c4a38c50a1bc5f3a1c5537f2155ab9d68f9f25eb1ed8d9ddda3db29a59bca1dd",
                CIFAR10_TRAIN_FILES.iter().copied().chain([CIFAR10_TEST_FILE, "batches.meta.txt"]),
            ),
            DatasetKind::Cifar100 => archive_spec(
                kind,
                "cifar-100-binary.tar.gz",
                "58a81ae192c23a4be8b1804d68e518ed807d710a4eb253b1f2a199162a40d8ec",
                [CIFAR100_TRAIN_FILE, CIFAR100_TEST_FILE, "coarse_label_names.txt", "fine_label_names.txt"],
            ),
        }
    }
}

/// MNIST's gzipped IDX files and their SHA-256.
const MNIST_SHA256: [(&str, &str); 4] = [
    ("train-images-idx3-ubyte.gz", "440fcabf73cc546fa21475e81ea370265605f56be210a4024d2ca8f203523609"),
    ("train-labels-idx1-ubyte.gz", "3552534a0a558bbed6aed32b30c495cca23d567ec52cac8be1a0730e8010255c"),
    ("t10k-images-idx3-ubyte.gz", "8d422c7b0a1c1c79245a5bcf07fe86e33eeafee792b84584aec276f5a2dbc4e6"),
    ("t10k-labels-idx1-ubyte.gz", "f7ae60f92e00ec6debd23a6088c31dbd2371eca3ffa0defaefb259924204aec6"),
];

/// Fashion-MNIST's gzipped IDX files and their SHA-256.
const FASHION_MNIST_SHA256: [(&str, &str); 4] = [
    ("train-images-idx3-ubyte.gz", "08dc20ab1689590a0bcd66e874647b6ee8464e2d501b5a3f1f78831db19a3fdc"),
    ("train-labels-idx1-ubyte.gz", "b0197879cbda89f3dc7b894f9fd52b858e68ea4182b6947c9d8c2b67e5f18dcc"),
    ("t10k-images-idx3-ubyte.gz", "78dcbbfb5a27efaf1b6c1d616caca68560be8766c5bffcb2791df9273a534229"),
    ("t10k-labels-idx1-ubyte.gz", "42bd18137a62d5998cdeae52bf3a0676ac6b706f5cf8439b47bb5b151ae3dccf"),
];

fn idx_spec(kind: DatasetKind, base: &str, files: [(&str, &str); 4]) -> FetchSpec {
    FetchSpec {
        name: kind.name().to_string(),
        files: files
            .iter()
            .map(|(file_name, sha256)| RemoteFile {
                url: format!("{base}/{file_name}"),
                sha256: sha256.to_string(),
                file_name: file_name.to_string(),
                unpack: Unpack::Keep,
            })
            .collect(),
    }
}

fn archive_spec<'a>(
    kind: DatasetKind,
    archive: &str,
    sha256: &str,
    members: impl IntoIterator<Item = &'a str>,
) -> FetchSpec {
    FetchSpec {
        name: kind.name().to_string(),
        files: vec![RemoteFile {
            url: format!("{CIFAR_BASE}/{archive}"),
            sha256: sha256.to_string(),
            file_name: archive.to_string(),
            unpack: Unpack::TarGz { members: members.into_iter().map(str::to_string).collect() },
        }],
    }
}

/// Downloads every file of `spec` into `dest_dir` (created if needed), verifying SHA-256 before
/// a file takes its final name. Files already present (and, for kept files, intact) are
/// skipped. `base_url_override` replaces each URL by `{base}/{file_name}` (a local mirror, or
/// a test server). `progress` is called as bytes arrive.
pub fn fetch(
    spec: &FetchSpec,
    dest_dir: &Path,
    base_url_override: Option<&str>,
    progress: &mut dyn FnMut(DownloadProgress<'_>),
) -> Result<FetchReport> {
    std::fs::create_dir_all(dest_dir).map_err(|e| DataError::io(dest_dir, e))?;
    let url_of = |file: &RemoteFile| match base_url_override {
        Some(base) => format!("{}/{}", base.trim_end_matches('/'), file.file_name),
        None => file.url.clone(),
    };
    let mut report = FetchReport::default();
    for (k, file) in spec.files.iter().enumerate() {
        if is_already_present(file, dest_dir)? {
            report.already_present.push(file.file_name.clone());
            continue;
        }
        let url = url_of(file);
        match fetch_file(file, &url, dest_dir, progress) {
            Ok(()) => report.downloaded.push(file.file_name.clone()),
            Err(DownloadFailure::Failed(error)) => return Err(error),
            Err(DownloadFailure::Unreachable { host, cause }) => {
                let by_hand = spec.files[k..].iter().map(|f| by_hand_instruction(f, &url_of(f))).collect();
                return Err(DataError::HostUnreachable { host, url, cause, dest: dest_dir.to_path_buf(), by_hand });
            }
        }
    }
    Ok(report)
}

/// What to do with one file fetched by hand.
fn by_hand_instruction(file: &RemoteFile, url: &str) -> String {
    match &file.unpack {
        Unpack::Keep => format!("{url}  (keep it as {})", file.file_name),
        Unpack::TarGz { members } => format!("{url}  (extract {} from it)", members.join(", ")),
    }
}

/// Downloads one file to a temporary name, verifies it, then renames or unpacks it.
fn fetch_file(
    file: &RemoteFile,
    url: &str,
    dest_dir: &Path,
    progress: &mut dyn FnMut(DownloadProgress<'_>),
) -> std::result::Result<(), DownloadFailure> {
    let temp_path = dest_dir.join(format!(".{}.part", file.file_name));
    let mut report = |received, total| progress(DownloadProgress { file_name: &file.file_name, received, total });
    let outcome = download_to_file(url, &temp_path, &mut report).and_then(|()| {
        verify(file, url, &temp_path)?;
        match &file.unpack {
            Unpack::Keep => {
                let final_path = dest_dir.join(&file.file_name);
                std::fs::rename(&temp_path, &final_path).map_err(|e| DataError::io(&final_path, e))?;
            }
            Unpack::TarGz { members } => {
                tar_gz::extract_members(&temp_path, members, dest_dir)?;
            }
        }
        Ok(())
    });
    let _ = std::fs::remove_file(&temp_path);
    outcome
}

/// Fails with [`DataError::ChecksumMismatch`] unless the downloaded file has the expected SHA-256.
fn verify(file: &RemoteFile, url: &str, downloaded: &Path) -> Result<()> {
    let actual = sha256_of_file(downloaded)?;
    if !actual.eq_ignore_ascii_case(&file.sha256) {
        return Err(DataError::ChecksumMismatch {
            url: url.to_string(),
            file_name: file.file_name.clone(),
            expected: file.sha256.to_ascii_lowercase(),
            actual,
        });
    }
    Ok(())
}

/// Whether the file (or, for an archive, all its members) is already in `dest_dir`.
fn is_already_present(file: &RemoteFile, dest_dir: &Path) -> Result<bool> {
    match &file.unpack {
        Unpack::Keep => {
            let path = dest_dir.join(&file.file_name);
            Ok(path.is_file() && sha256_of_file(&path)?.eq_ignore_ascii_case(&file.sha256))
        }
        Unpack::TarGz { members } => Ok(members.iter().all(|m| dest_dir.join(m).is_file())),
    }
}

/// The SHA-256 of a file's bytes, lower-case hex.
pub fn sha256_of_file(path: &Path) -> Result<String> {
    let mut file = std::fs::File::open(path).map_err(|e| DataError::io(path, e))?;
    let mut hasher = Sha256::new();
    let mut buffer = vec![0u8; 1 << 16];
    loop {
        let n = file.read(&mut buffer).map_err(|e| DataError::io(path, e))?;
        if n == 0 {
            break;
        }
        hasher.update(&buffer[..n]);
    }
    Ok(hex(&hasher.finalize()))
}

/// The SHA-256 of bytes in memory, lower-case hex.
pub fn sha256_hex(bytes: &[u8]) -> String {
    hex(&Sha256::digest(bytes))
}

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::io::{BufRead, BufReader, Write};
    use std::net::{TcpListener, TcpStream};
    use std::time::{Duration, Instant};

    /// Serves `files` (path -> body) over HTTP/1.1 on 127.0.0.1, answering 404 to other paths.
    /// The server answers at most `requests` requests and stops by itself after that, or after
    /// ten seconds, whichever comes first. Returns the base URL.
    fn serve(files: Vec<(&'static str, Vec<u8>)>, requests: usize) -> String {
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        listener.set_nonblocking(true).unwrap();
        let base = format!("http://{}", listener.local_addr().unwrap());
        std::thread::spawn(move || {
            let deadline = Instant::now() + Duration::from_secs(10);
            let mut served = 0;
            while served < requests && Instant::now() < deadline {
                match listener.accept() {
                    Ok((stream, _)) => {
                        answer(stream, &files);
                        served += 1;
                    }
                    Err(e) if e.kind() == std::io::ErrorKind::WouldBlock => {
                        std::thread::sleep(Duration::from_millis(5))
                    }
                    Err(_) => return,
                }
            }
        });
        base
    }

    /// Reads one request and answers it with the file at its path, or 404.
    fn answer(mut stream: TcpStream, files: &[(&'static str, Vec<u8>)]) {
        let _ = stream.set_nonblocking(false);
        let _ = stream.set_read_timeout(Some(Duration::from_secs(5)));
        let mut reader = BufReader::new(stream.try_clone().unwrap());
        let mut request_line = String::new();
        let _ = reader.read_line(&mut request_line);
        let mut line = String::new();
        while reader.read_line(&mut line).is_ok_and(|n| n > 2) {
            line.clear();
        }
        let path = request_line.split(' ').nth(1).unwrap_or_default();
        let (status, body) = match files.iter().find(|(p, _)| *p == path) {
            Some((_, body)) => ("200 OK", body.clone()),
            None => ("404 Not Found", b"nope".to_vec()),
        };
        let head = format!("HTTP/1.1 {status}\r\nContent-Length: {}\r\nConnection: close\r\n\r\n", body.len());
        let _ = stream.write_all(head.as_bytes());
        let _ = stream.write_all(&body);
    }

    fn remote(file_name: &str, sha256: String, unpack: Unpack) -> RemoteFile {
        RemoteFile { url: format!("https://unused.invalid/{file_name}"), sha256, file_name: file_name.into(), unpack }
    }

    fn spec(files: Vec<RemoteFile>) -> FetchSpec {
        FetchSpec { name: "test".into(), files }
    }

    fn leftover_files(dir: &Path) -> Vec<String> {
        std::fs::read_dir(dir).unwrap().map(|e| e.unwrap().file_name().to_string_lossy().into_owned()).collect()
    }

    fn no_progress(_: DownloadProgress<'_>) {}

    /// A gzipped tar archive of `(path, content)` regular files, written by the `tar` crate.
    pub(crate) fn tar_gz(files: &[(&str, &[u8])]) -> Vec<u8> {
        let mut builder = tar::Builder::new(Vec::new());
        for (path, content) in files {
            let mut header = tar::Header::new_gnu();
            header.set_size(content.len() as u64);
            header.set_mode(0o644);
            header.set_cksum();
            builder.append_data(&mut header, path, *content).unwrap();
        }
        crate::idx::test_files::gzip(&builder.into_inner().unwrap())
    }

    #[test]
    fn fetch_verifies_and_saves_reports_progress_then_skips_when_present() {
        let body: Vec<u8> = (0..200_000u32).map(|i| (i % 251) as u8).collect();
        let base = serve(vec![("/small.bin", body.clone())], 1);
        let dest = tempfile::tempdir().unwrap();
        let spec = spec(vec![remote("small.bin", sha256_hex(&body), Unpack::Keep)]);
        let mut seen = Vec::new();
        let report = fetch(&spec, dest.path(), Some(&base), &mut |p| seen.push((p.received, p.total))).unwrap();
        assert_eq!(report.downloaded, ["small.bin"]);
        assert_eq!(std::fs::read(dest.path().join("small.bin")).unwrap(), body);
        assert_eq!(leftover_files(dest.path()), ["small.bin"]);
        assert_eq!(seen.last(), Some(&(200_000, Some(200_000))));
        assert!(seen.windows(2).all(|w| w[0].0 < w[1].0), "progress only grows");

        let again = fetch(&spec, dest.path(), Some(&base), &mut no_progress).unwrap();
        assert_eq!(again.already_present, ["small.bin"]);
    }

    #[test]
    fn fetch_with_wrong_hash_fails_and_leaves_nothing() {
        let base = serve(vec![("/small.bin", b"some bytes".to_vec())], 1);
        let dest = tempfile::tempdir().unwrap();
        let wrong = sha256_hex(b"other bytes");
        let spec = spec(vec![remote("small.bin", wrong.clone(), Unpack::Keep)]);
        let error = fetch(&spec, dest.path(), Some(&base), &mut no_progress).unwrap_err();
        let message = error.to_string();
        assert!(matches!(error, DataError::ChecksumMismatch { .. }), "{message}");
        assert!(message.contains(&wrong) && message.contains(&sha256_hex(b"some bytes")), "{message}");
        assert!(message.contains("/small.bin"), "{message}");
        assert!(leftover_files(dest.path()).is_empty(), "{:?}", leftover_files(dest.path()));
    }

    #[test]
    fn fetch_reports_http_errors_with_the_status() {
        let base = serve(vec![], 1);
        let dest = tempfile::tempdir().unwrap();
        let spec = spec(vec![remote("absent.bin", sha256_hex(b""), Unpack::Keep)]);
        let error = fetch(&spec, dest.path(), Some(&base), &mut no_progress).unwrap_err();
        assert!(matches!(&error, DataError::Download { problem, .. } if problem.contains("404")), "{error}");
        assert!(leftover_files(dest.path()).is_empty());
    }

    #[test]
    fn fetch_unpacks_a_verified_archive() {
        let archive = tar_gz(&[("cifar-10-batches-bin/test_batch.bin", b"records")]);
        let base = serve(vec![("/set.tar.gz", archive.clone())], 1);
        let dest = tempfile::tempdir().unwrap();
        let unpack = Unpack::TarGz { members: vec!["test_batch.bin".into()] };
        let spec = spec(vec![remote("set.tar.gz", sha256_hex(&archive), unpack)]);
        fetch(&spec, dest.path(), Some(&base), &mut no_progress).unwrap();
        assert_eq!(std::fs::read(dest.path().join("test_batch.bin")).unwrap(), b"records");
        assert_eq!(leftover_files(dest.path()), ["test_batch.bin"]);
    }

    #[test]
    fn an_unreachable_host_says_where_to_put_each_file_by_hand() {
        let closed_port = TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port();
        let base = format!("http://127.0.0.1:{closed_port}");
        let dest = tempfile::tempdir().unwrap();
        let archive = Unpack::TarGz { members: vec!["a.bin".into(), "b.bin".into()] };
        let spec =
            spec(vec![remote("x.gz", sha256_hex(b"x"), Unpack::Keep), remote("y.tar.gz", sha256_hex(b"y"), archive)]);
        let error = fetch(&spec, dest.path(), Some(&base), &mut no_progress).unwrap_err();
        let DataError::HostUnreachable { host, by_hand, .. } = &error else { panic!("{error}") };
        assert_eq!(host, &format!("127.0.0.1:{closed_port}"));
        assert_eq!(by_hand.len(), 2);
        let message = error.to_string();
        assert!(message.starts_with(&format!("cannot reach 127.0.0.1:{closed_port}")), "{message}");
        assert!(message.contains(&dest.path().display().to_string()), "{message}");
        assert!(message.contains(&format!("{base}/x.gz  (keep it as x.gz)")), "{message}");
        assert!(message.contains(&format!("{base}/y.tar.gz  (extract a.bin, b.bin from it)")), "{message}");
        assert!(!message.contains("curl") && !message.contains("exit status"), "{message}");
        assert!(leftover_files(dest.path()).is_empty());
    }

    #[test]
    fn standard_specs_are_complete() {
        for kind in DatasetKind::ALL {
            let spec = FetchSpec::for_dataset(kind);
            assert_eq!(spec.name, kind.name());
            for file in &spec.files {
                assert_eq!(file.sha256.len(), 64, "{}", file.file_name);
                assert!(file.sha256.chars().all(|c| c.is_ascii_hexdigit()));
                assert!(file.url.ends_with(&file.file_name));
            }
        }
        let mnist = FetchSpec::for_dataset(DatasetKind::Mnist);
        assert_eq!(mnist.files.len(), 4);
    }

    #[test]
    fn sha256_of_known_input() {
        assert_eq!(sha256_hex(b"abc"), "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad");
    }
}
