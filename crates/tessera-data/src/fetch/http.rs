//! Getting one URL into a file: a minimal blocking HTTP/1.1 client for `http://` URLs (enough
//! for plain mirrors and for tests against a local server) and the `curl` program for
//! `https://` URLs, so that this crate carries no TLS stack.

use std::io::{BufRead, BufReader, Read, Write};
use std::net::{TcpStream, ToSocketAddrs};
use std::path::Path;
use std::process::Command;
use std::time::Duration;

use crate::error::{DataError, Result};

/// How many redirects are followed before giving up.
const MAX_REDIRECTS: usize = 5;
/// The longest header line accepted (bytes).
const MAX_HEADER_LINE: u64 = 16 * 1024;
/// Time allowed to connect and between reads.
const NETWORK_TIMEOUT: Duration = Duration::from_secs(60);

/// Downloads `url` into the file `dest` (created or truncated).
pub(crate) fn download_to_file(url: &str, dest: &Path) -> Result<()> {
    let mut url = url.to_string();
    for _ in 0..=MAX_REDIRECTS {
        if url.starts_with("https://") {
            return curl_to_file(&url, dest);
        }
        if !url.starts_with("http://") {
            return Err(download_error(&url, "only http:// and https:// URLs are supported"));
        }
        match http_get_to_file(&url, dest)? {
            HttpOutcome::Done => return Ok(()),
            HttpOutcome::Redirect(location) => url = location,
        }
    }
    Err(download_error(&url, format!("more than {MAX_REDIRECTS} redirects")))
}

/// What one HTTP request ended with.
enum HttpOutcome {
    /// The body was written.
    Done,
    /// The server points elsewhere (absolute URL).
    Redirect(String),
}

/// An `http://` URL split into its parts.
struct HttpUrl {
    host: String,
    port: u16,
    path: String,
}

fn parse_http_url(url: &str) -> Result<HttpUrl> {
    let rest = url.strip_prefix("http://").unwrap_or(url);
    let (authority, path) = match rest.find('/') {
        Some(slash) => (&rest[..slash], &rest[slash..]),
        None => (rest, "/"),
    };
    let (host, port) = match authority.rsplit_once(':') {
        Some((host, port)) => {
            let port = port.parse().map_err(|_| download_error(url, format!("bad port {port:?}")))?;
            (host, port)
        }
        None => (authority, 80),
    };
    if host.is_empty() {
        return Err(download_error(url, "no host in URL"));
    }
    Ok(HttpUrl { host: host.to_string(), port, path: path.to_string() })
}

/// One GET request; writes the body of a 200 answer to `dest`.
fn http_get_to_file(url: &str, dest: &Path) -> Result<HttpOutcome> {
    let target = parse_http_url(url)?;
    let stream = connect(&target, url)?;
    let network = |e: std::io::Error| download_error(url, e.to_string());
    let request = format!(
        "GET {} HTTP/1.1\r\nHost: {}\r\nUser-Agent: tessera-data\r\nAccept: */*\r\nConnection: close\r\n\r\n",
        target.path, target.host
    );
    (&stream).write_all(request.as_bytes()).map_err(network)?;
    let mut reader = BufReader::new(stream);
    let head = read_response_head(&mut reader, url)?;
    if (300..400).contains(&head.status) {
        let location = head
            .header("location")
            .ok_or_else(|| download_error(url, format!("HTTP {} without Location", head.status)))?;
        return Ok(HttpOutcome::Redirect(absolute_location(&target, location)));
    }
    if head.status != 200 {
        return Err(download_error(url, format!("HTTP status {} {}", head.status, head.reason)));
    }
    let mut file = std::fs::File::create(dest).map_err(|e| DataError::io(dest, e))?;
    write_body(&head, &mut reader, &mut file, url)?;
    file.sync_all().map_err(|e| DataError::io(dest, e))?;
    Ok(HttpOutcome::Done)
}

fn connect(target: &HttpUrl, url: &str) -> Result<TcpStream> {
    let addresses = (target.host.as_str(), target.port)
        .to_socket_addrs()
        .map_err(|e| download_error(url, format!("cannot resolve {}: {e}", target.host)))?;
    let mut last_error = None;
    for address in addresses {
        match TcpStream::connect_timeout(&address, NETWORK_TIMEOUT) {
            Ok(stream) => {
                stream.set_read_timeout(Some(NETWORK_TIMEOUT)).map_err(|e| download_error(url, e.to_string()))?;
                return Ok(stream);
            }
            Err(e) => last_error = Some(e),
        }
    }
    let reason = last_error.map_or("no address".to_string(), |e| e.to_string());
    Err(download_error(url, format!("cannot connect: {reason}")))
}

/// The status line and headers of a response.
struct ResponseHead {
    status: u16,
    reason: String,
    headers: Vec<(String, String)>,
}

impl ResponseHead {
    /// The value of a header, by case-insensitive name.
    fn header(&self, name: &str) -> Option<&str> {
        self.headers.iter().find(|(key, _)| key.eq_ignore_ascii_case(name)).map(|(_, value)| value.as_str())
    }
}

fn read_response_head(reader: &mut impl BufRead, url: &str) -> Result<ResponseHead> {
    let status_line = read_line(reader, url)?;
    let mut parts = status_line.splitn(3, ' ');
    let version = parts.next().unwrap_or_default();
    let status = parts.next().and_then(|code| code.parse().ok());
    let (true, Some(status)) = (version.starts_with("HTTP/1."), status) else {
        return Err(download_error(url, format!("not an HTTP/1 answer: {status_line:?}")));
    };
    let reason = parts.next().unwrap_or_default().to_string();
    let mut headers = Vec::new();
    loop {
        let line = read_line(reader, url)?;
        if line.is_empty() {
            break;
        }
        if let Some((key, value)) = line.split_once(':') {
            headers.push((key.trim().to_string(), value.trim().to_string()));
        }
    }
    Ok(ResponseHead { status, reason, headers })
}

/// One CRLF-terminated line, without the terminator; bounded in length.
fn read_line(reader: &mut impl BufRead, url: &str) -> Result<String> {
    let mut line = String::new();
    reader.take(MAX_HEADER_LINE).read_line(&mut line).map_err(|e| download_error(url, e.to_string()))?;
    if !line.ends_with('\n') {
        return Err(download_error(url, "connection closed inside the response head"));
    }
    Ok(line.trim_end_matches(['\r', '\n']).to_string())
}

/// Copies the body: chunked, of a given length, or up to the end of the connection.
fn write_body(head: &ResponseHead, reader: &mut impl BufRead, out: &mut impl Write, url: &str) -> Result<()> {
    let chunked = head.header("transfer-encoding").is_some_and(|v| v.to_ascii_lowercase().contains("chunked"));
    if chunked {
        return copy_chunked(reader, out, url);
    }
    let network = |e: std::io::Error| download_error(url, e.to_string());
    match head.header("content-length") {
        Some(length) => {
            let expected: u64 =
                length.parse().map_err(|_| download_error(url, format!("bad Content-Length {length:?}")))?;
            let copied = std::io::copy(&mut reader.take(expected), out).map_err(network)?;
            if copied != expected {
                return Err(download_error(url, format!("connection closed after {copied} of {expected} bytes")));
            }
            Ok(())
        }
        None => std::io::copy(reader, out).map(|_| ()).map_err(network),
    }
}

/// Decodes `Transfer-Encoding: chunked`.
fn copy_chunked(reader: &mut impl BufRead, out: &mut impl Write, url: &str) -> Result<()> {
    let network = |e: std::io::Error| download_error(url, e.to_string());
    loop {
        let size_line = read_line(reader, url)?;
        let size_hex = size_line.split(';').next().unwrap_or_default().trim();
        let size = u64::from_str_radix(size_hex, 16)
            .map_err(|_| download_error(url, format!("bad chunk size {size_line:?}")))?;
        if size == 0 {
            return Ok(());
        }
        let copied = std::io::copy(&mut reader.take(size), out).map_err(network)?;
        if copied != size {
            return Err(download_error(url, "connection closed inside a chunk"));
        }
        read_line(reader, url)?;
    }
}

/// Resolves a `Location` header against the URL that answered.
fn absolute_location(from: &HttpUrl, location: &str) -> String {
    if location.contains("://") {
        location.to_string()
    } else if location.starts_with('/') {
        format!("http://{}:{}{location}", from.host, from.port)
    } else {
        let base = from.path.rsplit_once('/').map_or("", |(dir, _)| dir);
        format!("http://{}:{}{base}/{location}", from.host, from.port)
    }
}

/// Downloads an `https://` URL with the `curl` program.
fn curl_to_file(url: &str, dest: &Path) -> Result<()> {
    let status = Command::new("curl")
        .args(["--fail", "--location", "--progress-bar", "--retry", "2", "--output"])
        .arg(dest)
        .arg(url)
        .status();
    match status {
        Ok(status) if status.success() => Ok(()),
        Ok(status) => Err(download_error(url, format!("curl failed ({status})"))),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Err(download_error(
            url,
            "https downloads use the `curl` program, which is not installed; install curl, \
             or download the file by hand into the data folder",
        )),
        Err(e) => Err(download_error(url, format!("cannot run curl: {e}"))),
    }
}

fn download_error(url: &str, problem: impl Into<String>) -> DataError {
    DataError::Download { url: url.to_string(), problem: problem.into() }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_host_port_and_path() {
        let url = parse_http_url("http://127.0.0.1:8080/a/b.gz").unwrap();
        assert_eq!((url.host.as_str(), url.port, url.path.as_str()), ("127.0.0.1", 8080, "/a/b.gz"));
        let url = parse_http_url("http://example.org").unwrap();
        assert_eq!((url.port, url.path.as_str()), (80, "/"));
        assert!(parse_http_url("http://host:notaport/").is_err());
    }

    #[test]
    fn decodes_chunked_bodies() {
        let mut body = std::io::Cursor::new(b"4\r\nWiki\r\n5;ext=1\r\npedia\r\n0\r\n\r\n".to_vec());
        let mut out = Vec::new();
        copy_chunked(&mut body, &mut out, "http://x/").unwrap();
        assert_eq!(out, b"Wikipedia");
    }

    #[test]
    fn resolves_relative_redirects() {
        let from = parse_http_url("http://h:81/dir/file").unwrap();
        assert_eq!(absolute_location(&from, "/other"), "http://h:81/other");
        assert_eq!(absolute_location(&from, "next"), "http://h:81/dir/next");
        assert_eq!(absolute_location(&from, "https://x/y"), "https://x/y");
    }

    #[test]
    fn rejects_other_schemes() {
        let dir = tempfile::tempdir().unwrap();
        let error = download_to_file("ftp://x/y", &dir.path().join("y")).unwrap_err();
        assert!(error.to_string().contains("ftp://x/y"), "{error}");
    }
}
