//! The peer listener: accepts connections and serves the peer gRPC service on them.
//!
//! With peer TLS, each handshake runs in a task of its own under a deadline, so a stalled or
//! hostile client holds no one else up, and a refused one (no certificate, another CA, a
//! timeout) is logged at warn with its reason and the address it came from, at most once a
//! second (a port scan must not flood the log; the rest go to debug).

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use tokio::net::{TcpListener, TcpStream};
use tokio::sync::oneshot;
use tokio_stream::wrappers::{ReceiverStream, TcpListenerStream};

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
                let incoming =
                    tokio_stream::StreamExt::map(TcpListenerStream::new(listener), |stream| {
                        stream.inspect(nodelay)
                    });
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
