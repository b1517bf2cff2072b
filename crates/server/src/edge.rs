//! The limits of the client listener (the HTTP edge): what one client may cost the node before
//! it has proven who it is. Flags, `TRENT_HTTP_*` variables and the `[http]` table of the
//! configuration file, over production defaults (docs/ARCHITECTURE.md, "Client API").

use std::time::Duration;

use clap::Args;
use serde::Deserialize;

/// Flags and environment variables of the edge (flags win).
#[derive(Args, Debug, Default)]
pub struct EdgeFlags {
    /// A request head (HTTP/1.1) must arrive within this many ms of its first byte, and a new
    /// connection must start its first request within it [default: 10000].
    #[arg(long, env = "TRENT_HTTP_HEADER_TIMEOUT_MS")]
    pub http_header_timeout_ms: Option<u64>,
    /// A request body must arrive within this many ms of its head, else 408 [default: 30000].
    #[arg(long, env = "TRENT_HTTP_BODY_TIMEOUT_MS")]
    pub http_body_timeout_ms: Option<u64>,
    /// A connection with no request open for this many ms is closed [default: 60000].
    #[arg(long, env = "TRENT_HTTP_IDLE_TIMEOUT_MS")]
    pub http_idle_timeout_ms: Option<u64>,
    /// Client connections open at once; more are closed as they arrive [default: 4096].
    #[arg(long, env = "TRENT_HTTP_MAX_CONNECTIONS")]
    pub http_max_connections: Option<usize>,
    /// Concurrent requests (streams) on one HTTP/2 connection [default: 32].
    #[arg(long, env = "TRENT_HTTP2_MAX_STREAMS")]
    pub http2_max_streams: Option<u32>,
    /// KiB of request bodies one connection may hold before they are authenticated, shared
    /// by its streams; at least 256 (the largest request) [default: 1024].
    #[arg(long, env = "TRENT_HTTP_CONNECTION_BUFFER_KIB")]
    pub http_connection_buffer_kib: Option<usize>,
    /// Writes one JSON line per API request to this file (created mode 0600; `-`: standard
    /// output): time, request id, client address, operation, access key id and its owner,
    /// key id, status, error code, duration. Never bodies or secrets [default: off].
    #[arg(long, env = "TRENT_HTTP_ACCESS_LOG")]
    pub http_access_log: Option<std::path::PathBuf>,
    /// On SIGTERM, keep serving this many ms after /readyz turns 503 (and leadership is
    /// handed over) before closing the listener, so a load balancer following /readyz stops
    /// sending first; then requests in flight drain for up to 10 s. Set it to the load
    /// balancer's probe interval x unhealthy threshold; 0 closes at once [default: 2000].
    #[arg(long, env = "TRENT_HTTP_SHUTDOWN_DELAY_MS")]
    pub http_shutdown_delay_ms: Option<u64>,
}

/// The `[http]` table of the configuration file.
#[derive(Deserialize, Debug, Default)]
#[serde(deny_unknown_fields)]
pub struct EdgeFile {
    header_timeout_ms: Option<u64>,
    body_timeout_ms: Option<u64>,
    idle_timeout_ms: Option<u64>,
    max_connections: Option<usize>,
    h2_max_streams: Option<u32>,
    connection_buffer_kib: Option<usize>,
    access_log: Option<std::path::PathBuf>,
    shutdown_delay_ms: Option<u64>,
}

/// The resolved limits.
#[derive(Debug, Clone, PartialEq)]
pub struct Edge {
    pub header_timeout: Duration,
    pub body_timeout: Duration,
    pub idle_timeout: Duration,
    pub max_connections: usize,
    pub h2_max_streams: u32,
    /// Bytes.
    pub connection_buffer: usize,
    /// Where the access log goes, if anywhere (access_log.rs).
    pub access_log: Option<std::path::PathBuf>,
    /// How long a stopping node goes on serving while unready (shutdown.rs).
    pub shutdown_delay: Duration,
}

impl Default for Edge {
    /// Generous for any SDK (SigV4 heads are a few KiB, bodies at most 256 KiB), tight enough
    /// that a thousand slow clients hold little: nginx's and AWS load balancers' orders of
    /// magnitude.
    fn default() -> Edge {
        Edge {
            header_timeout: Duration::from_secs(10),
            body_timeout: Duration::from_secs(30),
            idle_timeout: Duration::from_secs(60),
            max_connections: 4096,
            h2_max_streams: 32,
            connection_buffer: 1024 * 1024,
            access_log: None,
            shutdown_delay: Duration::from_secs(2),
        }
    }
}

/// HTTP/2 flow-control windows: what a client may send ahead of the handlers reading it, on
/// one stream and on the whole connection. Bodies are small, so throughput does not need more.
pub const H2_STREAM_WINDOW: u32 = 64 * 1024;
pub const H2_CONNECTION_WINDOW: u32 = 256 * 1024;
/// Largest request head: HTTP/1.1 read buffer and HTTP/2 header list.
pub const MAX_HEAD: usize = 64 * 1024;

impl Edge {
    pub fn resolve(flags: EdgeFlags, file: Option<EdgeFile>) -> Result<Edge, String> {
        let file = file.unwrap_or_default();
        let d = Edge::default();
        let ms = |flag: Option<u64>, file: Option<u64>, default: Duration, name: &str| match flag
            .or(file)
            .map(Duration::from_millis)
            .unwrap_or(default)
        {
            t if t.is_zero() => Err(format!("{name}: must be more than 0 ms")),
            t => Ok(t),
        };
        let edge = Edge {
            header_timeout: ms(
                flags.http_header_timeout_ms,
                file.header_timeout_ms,
                d.header_timeout,
                "http_header_timeout_ms",
            )?,
            body_timeout: ms(
                flags.http_body_timeout_ms,
                file.body_timeout_ms,
                d.body_timeout,
                "http_body_timeout_ms",
            )?,
            idle_timeout: ms(
                flags.http_idle_timeout_ms,
                file.idle_timeout_ms,
                d.idle_timeout,
                "http_idle_timeout_ms",
            )?,
            max_connections: flags
                .http_max_connections
                .or(file.max_connections)
                .unwrap_or(d.max_connections),
            h2_max_streams: flags
                .http2_max_streams
                .or(file.h2_max_streams)
                .unwrap_or(d.h2_max_streams),
            connection_buffer: flags
                .http_connection_buffer_kib
                .or(file.connection_buffer_kib)
                .map(|kib| kib.saturating_mul(1024))
                .unwrap_or(d.connection_buffer),
            access_log: flags
                .http_access_log
                .or(file.access_log)
                .filter(|p| !p.as_os_str().is_empty()),
            shutdown_delay: flags
                .http_shutdown_delay_ms
                .or(file.shutdown_delay_ms)
                .map(Duration::from_millis)
                .unwrap_or(d.shutdown_delay),
        };
        if edge.max_connections == 0 {
            return Err("http_max_connections: must be at least 1".into());
        }
        if edge.h2_max_streams == 0 {
            return Err("http2_max_streams: must be at least 1".into());
        }
        if edge.connection_buffer < trent_api::MAX_BODY {
            return Err(format!(
                "http_connection_buffer_kib: must be at least {} (the largest request body)",
                trent_api::MAX_BODY / 1024
            ));
        }
        Ok(edge)
    }
}

/// Connections the kernel may queue for accept (capped by `net.core.somaxconn`). Rust's
/// default, 128, fills within a moment when many clients connect at once, and a full queue
/// drops new connections' SYNs: each costs its client a retransmit, 1 s and then 3 s.
const LISTEN_BACKLOG: libc::c_int = 4096;

/// Deepens the accept queue of a listening socket (listen(2) again updates it).
pub fn deepen_backlog(listener: std::net::TcpListener) -> std::io::Result<std::net::TcpListener> {
    use std::os::fd::AsRawFd;
    // SAFETY: listen(2) on a descriptor this listener owns.
    match unsafe { libc::listen(listener.as_raw_fd(), LISTEN_BACKLOG) } {
        0 => Ok(listener),
        _ => Err(std::io::Error::last_os_error()),
    }
}

/// Raises this process's soft limit of open files to its hard limit (as Go's runtime does):
/// every client connection is a descriptor, and running out of them fails RocksDB and the
/// peer transport too. Warns when the limit is below what `max_connections` needs.
pub fn raise_fd_limit(max_connections: usize) {
    // Room for RocksDB's files, the peer transport and the process's own.
    const RESERVE: u64 = 1024;
    // SAFETY: getrlimit and setrlimit read and write only the struct passed.
    let soft = unsafe {
        let mut limit: libc::rlimit = std::mem::zeroed();
        if libc::getrlimit(libc::RLIMIT_NOFILE, &mut limit) != 0 {
            return;
        }
        if limit.rlim_cur < limit.rlim_max {
            let raised = libc::rlimit {
                rlim_cur: limit.rlim_max,
                rlim_max: limit.rlim_max,
            };
            if libc::setrlimit(libc::RLIMIT_NOFILE, &raised) == 0 {
                limit.rlim_cur = limit.rlim_max;
            }
        }
        limit.rlim_cur
    };
    if soft < max_connections as u64 + RESERVE {
        tracing::warn!(
            open_files = soft,
            http_max_connections = max_connections,
            "the open-file limit (ulimit -n) is below http_max_connections + {RESERVE}: raise it or lower http_max_connections"
        );
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn defaults_apply_and_flags_win_over_the_file() {
        assert_eq!(
            Edge::resolve(EdgeFlags::default(), None).unwrap(),
            Edge::default()
        );
        let file: EdgeFile =
            toml::from_str("header_timeout_ms = 500\nh2_max_streams = 4\nmax_connections = 9")
                .unwrap();
        let flags = EdgeFlags {
            http2_max_streams: Some(8),
            ..EdgeFlags::default()
        };
        let edge = Edge::resolve(flags, Some(file)).unwrap();
        assert_eq!(edge.header_timeout, Duration::from_millis(500));
        assert_eq!((edge.h2_max_streams, edge.max_connections), (8, 9));
        assert_eq!(edge.access_log, None, "the access log is off by default");
        let file: EdgeFile = toml::from_str("access_log = \"/var/log/trent/access.log\"").unwrap();
        let edge = Edge::resolve(EdgeFlags::default(), Some(file)).unwrap();
        let path = std::path::Path::new("/var/log/trent/access.log");
        assert_eq!(edge.access_log.as_deref(), Some(path));
    }

    #[test]
    fn errors_name_the_setting() {
        for (flags, says) in [
            (
                EdgeFlags {
                    http_body_timeout_ms: Some(0),
                    ..EdgeFlags::default()
                },
                "http_body_timeout_ms",
            ),
            (
                EdgeFlags {
                    http_connection_buffer_kib: Some(16),
                    ..EdgeFlags::default()
                },
                "http_connection_buffer_kib",
            ),
            (
                EdgeFlags {
                    http_max_connections: Some(0),
                    ..EdgeFlags::default()
                },
                "http_max_connections",
            ),
        ] {
            let err = Edge::resolve(flags, None).unwrap_err();
            assert!(err.contains(says), "{says}: {err}");
        }
        assert!(toml::from_str::<EdgeFile>("idle_timeout = 5").is_err());
    }
}
