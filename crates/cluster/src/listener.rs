//! The peer listener: accepts connections and serves the peer gRPC service on them.
//!
//! With peer TLS, each handshake runs in a task of its own under a deadline, so a stalled or
//! hostile client holds no one else up, and a refused one (no certificate, another CA, a
//! timeout) is logged at warn with its reason and the address it came from, at most once a
//! second (a port scan must not flood the log; the rest go to debug). Both listeners look
//! at a connection's first byte and log a peer that speaks the other transport (TLS to a
//! plain listener, plain to a TLS one) as a TLS/plain mismatch (mismatch.rs).

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use tokio::net::{TcpListener, TcpStream};
use tokio::sync::oneshot;
use tokio_stream::wrappers::ReceiverStream;

use crate::peer_service::PeerService;
use crate::proto::peer_server::PeerServer;
use crate::tls::HANDSHAKE_TIMEOUT;
use crate::PeerTls;

/// Serves `service` on `listener` after `quarantine` (barrier.rs: a node that just started
/// must not grant votes before any lease that counted on it has run out), until `stopped`.
pub(crate) fn spawn(
    listener: TcpListener,
    service: PeerServer<PeerService>,
    tls: Option<&PeerTls>,
    quarantine: Duration,
    stopped: oneshot::Receiver<()>,
) -> Result<(), String> {
    let acceptor = tls.map(|t| t.acceptor()).transpose()?;
    let mut server = tonic::transport::Server::builder()
        .http2_keepalive_interval(Some(crate::network::KEEPALIVE_INTERVAL))
        .http2_keepalive_timeout(Some(crate::network::KEEPALIVE_TIMEOUT));
    tokio::spawn(async move {
        tokio::time::sleep(quarantine).await;
        let router = server.add_service(service);
        let shutdown = async {
            let _ = stopped.await;
        };
        let served = match acceptor {
            Some(acceptor) => {
                let incoming = ReceiverStream::new(accept_tls(listener, acceptor));
                router
                    .serve_with_incoming_shutdown(incoming, shutdown)
                    .await
            }
            None => {
                let incoming = ReceiverStream::new(accept_plain(listener));
                router
                    .serve_with_incoming_shutdown(incoming, shutdown)
                    .await
            }
        };
        if let Err(e) = served {
            tracing::error!(error = %e, "peer listener failed");
        }
    });
    Ok(())
}

/// Raft and forwarding are request/response on small messages: without TCP_NODELAY a reply
/// can sit behind the peer's delayed ACK (~40 ms) on every round trip.
fn nodelay(tcp: &TcpStream) {
    let _ = tcp.set_nodelay(true);
}

type TlsStream = tokio_rustls::server::TlsStream<TcpStream>;

type Incoming<S> = tokio::sync::mpsc::Receiver<std::io::Result<S>>;

/// Accepts connections and hands over those whose handshake succeeded.
fn accept_tls(listener: TcpListener, acceptor: tokio_rustls::TlsAcceptor) -> Incoming<TlsStream> {
    let limiter = Arc::new(WarnLimiter::default());
    accept_each(listener, true, move |tcp, from| {
        let (acceptor, limiter) = (acceptor.clone(), limiter.clone());
        async move {
            let reason = match tokio::time::timeout(HANDSHAKE_TIMEOUT, acceptor.accept(tcp)).await {
                Ok(Ok(stream)) => return Some(stream),
                Ok(Err(e)) => e.to_string(),
                Err(_) => format!("no handshake within {HANDSHAKE_TIMEOUT:?}"),
            };
            match limiter.allow() {
                true => tracing::warn!(peer = %from, reason, "peer TLS handshake refused"),
                false => tracing::debug!(peer = %from, reason, "peer TLS handshake refused"),
            }
            None
        }
    })
}

/// Accepts plain connections, dropping (and logging) those that open with a TLS handshake.
fn accept_plain(listener: TcpListener) -> Incoming<TcpStream> {
    accept_each(listener, false, |tcp, _| async move { Some(tcp) })
}

/// The accept loop of both listeners: each connection (TCP_NODELAY set) is checked for a
/// TLS/plain mismatch and then `open`ed in a task of its own, so a slow one holds no one up;
/// what `open` yields is handed to the gRPC server. Ends when the server is gone.
fn accept_each<S, F, Fut>(listener: TcpListener, tls_listener: bool, open: F) -> Incoming<S>
where
    S: Send + 'static,
    F: Fn(TcpStream, std::net::SocketAddr) -> Fut + Send + Sync + 'static,
    Fut: std::future::Future<Output = Option<S>> + Send + 'static,
{
    let (tx, rx) = tokio::sync::mpsc::channel(64);
    let open = Arc::new(open);
    tokio::spawn(async move {
        loop {
            let (tcp, from) = match listener.accept().await {
                Ok(accepted) => accepted,
                Err(e) => {
                    tracing::debug!(error = %e, "peer accept failed");
                    continue;
                }
            };
            if tx.is_closed() {
                return;
            }
            nodelay(&tcp);
            let (tx, open) = (tx.clone(), open.clone());
            tokio::spawn(async move {
                if mismatched(&tcp, tls_listener).await {
                    return;
                }
                if let Some(stream) = open(tcp, from).await {
                    let _ = tx.send(Ok(stream)).await;
                }
            });
        }
    });
    rx
}

/// Whether `tcp` opens with the other transport than this listener's (mismatch.rs); such a
/// connection is logged (at warn at most once every 10 s: a mismatched peer retries many
/// times a second) and dropped by the caller. A client that sends nothing within the
/// handshake timeout is left to the usual path.
async fn mismatched(tcp: &TcpStream, tls_listener: bool) -> bool {
    let mut first = [0u8; 1];
    let peeked = tokio::time::timeout(HANDSHAKE_TIMEOUT, tcp.peek(&mut first)).await;
    let Ok(Ok(1)) = peeked else {
        return false;
    };
    let Some(line) = crate::mismatch::listener_mismatch(tls_listener, first[0]) else {
        return false;
    };
    let peer = tcp.peer_addr().map(|a| a.to_string()).unwrap_or_default();
    match crate::mismatch::MISMATCH_WARNINGS.allow() {
        true => tracing::warn!(peer, "{line}"),
        false => tracing::debug!(peer, "{line}"),
    }
    true
}

/// A rate limit on warnings a stranger can cause (refusals, mismatches): [`WarnLimiter::allow`]
/// says yes at most once per period (a second by default), so they cannot flood the log.
pub(crate) struct WarnLimiter {
    period_secs: u64,
    last: AtomicU64,
}

impl Default for WarnLimiter {
    fn default() -> Self {
        WarnLimiter::every_secs(1)
    }
}

impl WarnLimiter {
    pub(crate) const fn every_secs(period_secs: u64) -> WarnLimiter {
        WarnLimiter {
            period_secs,
            last: AtomicU64::new(0),
        }
    }

    pub(crate) fn allow(&self) -> bool {
        let now = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .map_or(0, |d| d.as_secs());
        let last = self.last.load(Ordering::Relaxed);
        now >= last + self.period_secs
            && (self.last)
                .compare_exchange(last, now, Ordering::Relaxed, Ordering::Relaxed)
                .is_ok()
    }
}
