//! A minimal HTTP/1.1 client for trentd's own calls to a node's client API: the container
//! health check, and joining or leaving a cluster in StatefulSet mode. One blocking request
//! per connection (`connection: close`), plain or over TLS (rustls, trusting a given CA).
//! trentd's dependencies carry no HTTP client with TLS, and these calls are few and small;
//! the requests themselves (with their SigV4 headers) are built by `trent-client`.

use std::io::{ErrorKind, Read, Write};
use std::net::TcpStream;
use std::path::Path;
use std::sync::Arc;
use std::time::Duration;

use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, ServerName};
use rustls::{ClientConfig, ClientConnection, RootCertStore, StreamOwned};

/// Largest response accepted: these calls answer small JSON documents.
const MAX_RESPONSE: u64 = 1 << 20;

pub struct Response {
    pub status: u16,
    pub body: Vec<u8>,
}

impl Response {
    pub fn text(&self) -> String {
        String::from_utf8_lossy(&self.body).into_owned()
    }
}

/// A TLS client configuration trusting only the CA certificates in `ca_file` (PEM).
pub fn trusting(ca_file: &Path) -> Result<Arc<ClientConfig>, String> {
    let _ = rustls::crypto::aws_lc_rs::default_provider().install_default();
    let what = || format!("CA file {}", ca_file.display());
    let mut roots = RootCertStore::empty();
    let certs = CertificateDer::pem_file_iter(ca_file).map_err(|e| format!("{}: {e}", what()))?;
    for cert in certs {
        let cert = cert.map_err(|e| format!("{}: {e}", what()))?;
        roots.add(cert).map_err(|e| format!("{}: {e}", what()))?;
    }
    if roots.is_empty() {
        return Err(format!("{}: no certificate in it", what()));
    }
    let config = ClientConfig::builder()
        .with_root_certificates(roots)
        .with_no_client_auth();
    Ok(Arc::new(config))
}

/// Sends `request` and reads the whole response. `tls` is needed for an `https` URL.
pub fn send(
    request: &reqwest::Request,
    tls: Option<&Arc<ClientConfig>>,
    timeout: Duration,
) -> Result<Response, String> {
    let url = request.url();
    let tcp = connect(url, timeout)?;
    let head = head(request);
    let body = request
        .body()
        .and_then(|b| b.as_bytes())
        .unwrap_or_default();
    match url.scheme() {
        "http" => exchange(tcp, &head, body),
        "https" => {
            let config = tls.ok_or_else(|| format!("{url}: https needs a CA file to trust"))?;
            let host = url.host_str().unwrap_or_default();
            let name = ServerName::try_from(host.trim_matches(['[', ']']).to_owned())
                .map_err(|e| format!("{url}: {e}"))?;
            let connection =
                ClientConnection::new(config.clone(), name).map_err(|e| format!("{url}: {e}"))?;
            exchange(StreamOwned::new(connection, tcp), &head, body)
        }
        other => Err(format!("{url}: unsupported scheme '{other}'")),
    }
    .map_err(|e| format!("{url}: {e}"))
}

/// A GET of `url`.
pub fn get(
    url: &str,
    tls: Option<&Arc<ClientConfig>>,
    timeout: Duration,
) -> Result<Response, String> {
    let url = reqwest::Url::parse(url).map_err(|e| format!("URL {url}: {e}"))?;
    send(
        &reqwest::Request::new(reqwest::Method::GET, url),
        tls,
        timeout,
    )
}

fn connect(url: &reqwest::Url, timeout: Duration) -> Result<TcpStream, String> {
    let addrs = url
        .socket_addrs(|| None)
        .map_err(|e| format!("{url}: cannot resolve: {e}"))?;
    let mut last = format!("{url}: no address");
    for addr in addrs {
        match TcpStream::connect_timeout(&addr, timeout) {
            Ok(tcp) => {
                tcp.set_read_timeout(Some(timeout))
                    .and_then(|_| tcp.set_write_timeout(Some(timeout)))
                    .map_err(|e| e.to_string())?;
                let _ = tcp.set_nodelay(true);
                return Ok(tcp);
            }
            Err(e) => last = format!("{url}: cannot connect to {addr}: {e}"),
        }
    }
    Err(last)
}

/// The request line and headers; the body's length is always given.
fn head(request: &reqwest::Request) -> String {
    let url = request.url();
    let mut path = url.path().to_owned();
    if let Some(query) = url.query() {
        path = format!("{path}?{query}");
    }
    let mut head = format!("{} {path} HTTP/1.1\r\n", request.method());
    if !request.headers().contains_key("host") {
        let host = url.host_str().unwrap_or_default();
        match url.port() {
            Some(port) => head.push_str(&format!("host: {host}:{port}\r\n")),
            None => head.push_str(&format!("host: {host}\r\n")),
        }
    }
    for (name, value) in request.headers() {
        head.push_str(&format!(
            "{name}: {}\r\n",
            value.to_str().unwrap_or_default()
        ));
    }
    let length = request
        .body()
        .and_then(|b| b.as_bytes())
        .map_or(0, |b| b.len());
    head.push_str(&format!(
        "content-length: {length}\r\nconnection: close\r\n\r\n"
    ));
    head
}

fn exchange<S: Read + Write>(mut stream: S, head: &str, body: &[u8]) -> Result<Response, String> {
    let io = |e: std::io::Error| e.to_string();
    stream.write_all(head.as_bytes()).map_err(io)?;
    stream.write_all(body).map_err(io)?;
    stream.flush().map_err(io)?;
    let mut raw = Vec::new();
    match stream.take(MAX_RESPONSE).read_to_end(&mut raw) {
        Ok(_) => {}
        // A server may close without a TLS close_notify once it has sent everything.
        Err(e) if e.kind() == ErrorKind::UnexpectedEof && !raw.is_empty() => {}
        Err(e) => return Err(e.to_string()),
    }
    parse(&raw)
}

fn parse(raw: &[u8]) -> Result<Response, String> {
    let end = raw
        .windows(4)
        .position(|w| w == b"\r\n\r\n")
        .ok_or("incomplete HTTP response")?;
    let head = String::from_utf8_lossy(&raw[..end]);
    let mut lines = head.split("\r\n");
    let status = lines
        .next()
        .and_then(|line| line.split_whitespace().nth(1))
        .and_then(|code| code.parse().ok())
        .ok_or("malformed HTTP status line")?;
    let chunked = lines.any(|l| {
        let l = l.to_ascii_lowercase();
        l.starts_with("transfer-encoding:") && l.contains("chunked")
    });
    let body = &raw[end + 4..];
    let body = match chunked {
        true => dechunk(body)?,
        false => body.to_vec(),
    };
    Ok(Response { status, body })
}

fn dechunk(mut data: &[u8]) -> Result<Vec<u8>, String> {
    let mut out = Vec::new();
    loop {
        let line_end = data
            .windows(2)
            .position(|w| w == b"\r\n")
            .ok_or("truncated chunked body")?;
        let size = String::from_utf8_lossy(&data[..line_end]);
        let size = usize::from_str_radix(size.split(';').next().unwrap_or("").trim(), 16)
            .map_err(|_| "malformed chunk size")?;
        data = &data[line_end + 2..];
        if size == 0 {
            return Ok(out);
        }
        let chunk = data.get(..size).ok_or("truncated chunk")?;
        out.extend_from_slice(chunk);
        data = data.get(size + 2..).ok_or("truncated chunk")?;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn responses_parse_plain_and_chunked() {
        let r = parse(b"HTTP/1.1 503 Service Unavailable\r\ncontent-length: 2\r\n\r\n{}").unwrap();
        assert_eq!((r.status, r.text().as_str()), (503, "{}"));
        let raw = b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n3\r\nabc\r\n2;x=y\r\nde\r\n0\r\n\r\n";
        let r = parse(raw).unwrap();
        assert_eq!((r.status, r.text().as_str()), (200, "abcde"));
        assert!(parse(b"HTTP/1.1 200 OK\r\n").is_err());
        assert!(parse(b"garbage\r\n\r\n").is_err());
    }

    #[test]
    fn the_head_carries_host_length_and_close() {
        let url = reqwest::Url::parse("http://trent-0.peer:7700/readyz?x=1").unwrap();
        let head = head(&reqwest::Request::new(reqwest::Method::GET, url));
        assert!(head.starts_with("GET /readyz?x=1 HTTP/1.1\r\nhost: trent-0.peer:7700\r\n"));
        assert!(head.ends_with("content-length: 0\r\nconnection: close\r\n\r\n"));
    }
}
