//! Getting one URL into a file with `ureq` (rustls for `https://`), reporting progress, and
//! telling an unreachable host apart from other failures (the caller then says how to fetch
//! the files by hand).

use std::io::{Read, Write};
use std::path::Path;
use std::time::Duration;

use crate::error::DataError;

/// Time allowed to resolve the host and open the connection.
const CONNECT_TIMEOUT: Duration = Duration::from_secs(30);
/// Time allowed between sending the request and the response head.
const RESPONSE_TIMEOUT: Duration = Duration::from_secs(60);

/// Why a download did not happen.
#[derive(Debug)]
pub(crate) enum DownloadFailure {
    /// The host could not be reached (name resolution, refused or timed-out connection).
    Unreachable {
        /// The host of the URL.
        host: String,
        /// What went wrong, in words.
        cause: String,
    },
    /// Anything else: an HTTP error status, TLS, an interrupted transfer, a local file error.
    Failed(DataError),
}

impl From<DataError> for DownloadFailure {
    fn from(error: DataError) -> Self {
        DownloadFailure::Failed(error)
    }
}

/// Downloads `url` into the file `dest` (created or truncated), following redirects; calls
/// `progress(received, total)` as bytes arrive (`total` from `Content-Length`, if sent).
pub(crate) fn download_to_file(
    url: &str,
    dest: &Path,
    progress: &mut dyn FnMut(u64, Option<u64>),
) -> std::result::Result<(), DownloadFailure> {
    let agent: ureq::Agent = ureq::Agent::config_builder()
        .timeout_connect(Some(CONNECT_TIMEOUT))
        .timeout_recv_response(Some(RESPONSE_TIMEOUT))
        .http_status_as_error(false)
        .user_agent(concat!("tessera-data/", env!("CARGO_PKG_VERSION")))
        .build()
        .into();
    let response = agent.get(url).call().map_err(|error| classify(url, error))?;
    let status = response.status();
    if !status.is_success() {
        return Err(download_error(url, format!("the server answered HTTP {status}")).into());
    }
    let total = response
        .headers()
        .get("content-length")
        .and_then(|value| value.to_str().ok())
        .and_then(|text| text.parse().ok());
    let mut body = response.into_body().into_with_config().limit(u64::MAX).reader();
    let mut file = std::fs::File::create(dest).map_err(|e| DataError::io(dest, e))?;
    let mut buffer = vec![0u8; 1 << 16];
    let mut received = 0u64;
    loop {
        let n = body.read(&mut buffer).map_err(|e| download_error(url, format!("the transfer broke off: {e}")))?;
        if n == 0 {
            break;
        }
        file.write_all(&buffer[..n]).map_err(|e| DataError::io(dest, e))?;
        received += n as u64;
        progress(received, total);
    }
    file.sync_all().map_err(|e| DataError::io(dest, e))?;
    Ok(())
}

/// Sorts a `ureq` error into "host unreachable" or another failure.
fn classify(url: &str, error: ureq::Error) -> DownloadFailure {
    use std::io::ErrorKind::*;
    let unreachable = |cause: String| DownloadFailure::Unreachable { host: host_of(url), cause };
    match error {
        ureq::Error::HostNotFound => unreachable("the host name does not resolve".into()),
        ureq::Error::ConnectionFailed => unreachable("the connection failed".into()),
        ureq::Error::Timeout(what) => unreachable(format!("timed out ({what})")),
        ureq::Error::Io(e)
            if matches!(
                e.kind(),
                ConnectionRefused
                    | ConnectionReset
                    | ConnectionAborted
                    | NotConnected
                    | AddrNotAvailable
                    | TimedOut
                    | HostUnreachable
                    | NetworkUnreachable
            ) =>
        {
            unreachable(e.to_string())
        }
        // Name resolution failures reach us as plain I/O errors: tell them apart by resolving.
        ureq::Error::Io(e) if !host_resolves(url) => unreachable(format!("the host name does not resolve: {e}")),
        ureq::Error::BadUri(problem) => download_error(url, format!("not a URL: {problem}")).into(),
        other => download_error(url, other.to_string()).into(),
    }
}

/// The host (and port, if given) of a URL, for messages.
fn host_of(url: &str) -> String {
    let rest = url.split_once("://").map_or(url, |(_, rest)| rest);
    rest.split(['/', '?', '#']).next().unwrap_or(rest).to_string()
}

/// Whether the URL's host resolves to an address.
fn host_resolves(url: &str) -> bool {
    let host = host_of(url);
    let default_port = if url.starts_with("https://") { 443 } else { 80 };
    let with_port = if host.rsplit_once(':').is_some_and(|(_, port)| port.parse::<u16>().is_ok()) {
        host
    } else {
        format!("{host}:{default_port}")
    };
    std::net::ToSocketAddrs::to_socket_addrs(&with_port).is_ok_and(|mut addresses| addresses.next().is_some())
}

fn download_error(url: &str, problem: impl Into<String>) -> DataError {
    DataError::Download { url: url.to_string(), problem: problem.into() }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hosts_are_cut_from_urls() {
        assert_eq!(host_of("https://ossci-datasets.s3.amazonaws.com/mnist/x.gz"), "ossci-datasets.s3.amazonaws.com");
        assert_eq!(host_of("http://127.0.0.1:8080"), "127.0.0.1:8080");
    }

    #[test]
    fn other_schemes_are_refused_naming_the_url() {
        let dir = tempfile::tempdir().unwrap();
        match download_to_file("ftp://example.invalid/y", &dir.path().join("y"), &mut |_, _| {}) {
            Err(DownloadFailure::Failed(error @ DataError::Download { .. })) => {
                assert!(error.to_string().contains("ftp://example.invalid/y"), "{error}")
            }
            other => panic!("{other:?}"),
        }
    }
}
