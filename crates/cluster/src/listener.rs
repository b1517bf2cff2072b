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

/// Accepts connections and hands over those whose handshake succeeded.
fn accept_tls(
    listener: TcpListener,
    acceptor: tokio_rustls::TlsAcceptor,
) -> tokio::sync::mpsc::Receiver<std::io::Result<TlsStream>> {
    let (tx, rx) = tokio::sync::mpsc::channel(64);
    let limiter = Arc::new(WarnLimiter::default());
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
            let (acceptor, tx, limiter) = (acceptor.clone(), tx.clone(), limiter.clone());
            tokio::spawn(async move {
                if mismatched(&tcp, true).await {
                    return;
                }
                let reason =
                    match tokio::time::timeout(HANDSHAKE_TIMEOUT, acceptor.accept(tcp)).await {
                        Ok(Ok(stream)) => {
                            let _ = tx.send(Ok(stream)).await;
                            return;
                        }
                        Ok(Err(e)) => e.to_string(),
                        Err(_) => format!("no handshake within {HANDSHAKE_TIMEOUT:?}"),
                    };
                match limiter.allow() {
                    true => tracing::warn!(peer = %from, reason, "peer TLS handshake refused"),
                    false => tracing::debug!(peer = %from, reason, "peer TLS handshake refused"),
                }
            });
        }
    });
    rx
}

/// Accepts plain connections, dropping (and logging) those that open with a TLS handshake.
fn accept_plain(listener: TcpListener) -> tokio::sync::mpsc::Receiver<std::io::Result<TcpStream>> {
    let (tx, rx) = tokio::sync::mpsc::channel(64);
    tokio::spawn(async move {
        loop {
            let tcp = match listener.accept().await {
                Ok((tcp, _)) => tcp,
                Err(e) => {
                    tracing::debug!(error = %e, "peer accept failed");
                    continue;
                }
            };
            if tx.is_closed() {
                return;
            }
            nodelay(&tcp);
            let tx = tx.clone();
            tokio::spawn(async move {
                if !mismatched(&tcp, false).await {
                    let _ = tx.send(Ok(tcp)).await;
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

/// At most one warning a second (refusals a stranger can cause must not flood the log).
#[derive(Default)]
pub(crate) struct WarnLimiter {
    last_second: AtomicU64,
}

impl WarnLimiter {
    pub(crate) fn allow(&self) -> bool {
        let now = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .map(|d| d.as_secs())
            .unwrap_or(0);
        self.last_second.swap(now, Ordering::Relaxed) != now
    }
}
