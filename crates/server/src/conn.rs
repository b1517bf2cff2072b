//! One client connection's bounds, enforced below HTTP: the connection cap, the header and
//! idle deadlines, and the body budget handed to the API.
//!
//! [`EdgeAcceptor`] wraps the listener's acceptor (TCP_NODELAY, TLS). Past the cap a new
//! connection is closed at once, so accepted ones keep their descriptors and memory. Each
//! accepted connection gets a [`Conn`]: the requests it has open (counted by [`Tracked`], the
//! per-connection service) and the time it last had none. [`EdgeIo`] fails the connection's
//! reads and writes once a deadline passes while no request is open:
//! - HTTP/1.1: the header deadline, from the first byte of a request head (or from accept,
//!   for the first request); then the idle deadline, from the last answer.
//! - HTTP/2: the idle deadline only, from accept or the last answer (frames such as PING or
//!   WINDOW_UPDATE do not keep a connection alive; a header block is bounded in size).
//!
//! While a request is open, its body deadline and budget ([`trent_api::ConnectionBudget`])
//! bound it instead. Each request also carries its connection's TLS session
//! ([`trent_api::TlsSession`], none over plain HTTP), for the audit event's `tlsDetails`.

use std::future::Future;
use std::io;
use std::pin::Pin;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::task::{Context, Poll};

use axum::http::Request;
use axum_server::accept::Accept;
use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};
use tokio::sync::{OwnedSemaphorePermit, Semaphore};
use tokio::time::{Instant, Sleep};
use trent_api::{ConnectionBudget, TlsSession};

use crate::edge::Edge;

/// Wraps acceptor `A` with the edge's limits.
#[derive(Clone)]
pub struct EdgeAcceptor<A> {
    inner: A,
    edge: Arc<Edge>,
    open: Arc<Semaphore>,
}

impl<A> EdgeAcceptor<A> {
    pub fn new(inner: A, edge: Edge) -> EdgeAcceptor<A> {
        EdgeAcceptor {
            inner,
            open: Arc::new(Semaphore::new(edge.max_connections)),
            edge: Arc::new(edge),
        }
    }
}

type BoxFuture<T> = Pin<Box<dyn Future<Output = T> + Send>>;

/// What a connection's stream says about its TLS session.
pub trait Session {
    fn tls_session(&self) -> Option<TlsSession>;
}

impl Session for tokio::net::TcpStream {
    fn tls_session(&self) -> Option<TlsSession> {
        None
    }
}

impl<T> Session for tokio_rustls::server::TlsStream<T> {
    fn tls_session(&self) -> Option<TlsSession> {
        let (_, conn) = self.get_ref();
        let version = match conn.protocol_version()? {
            rustls::ProtocolVersion::TLSv1_3 => "TLSv1.3".to_owned(),
            rustls::ProtocolVersion::TLSv1_2 => "TLSv1.2".to_owned(),
            other => format!("{other:?}"),
        };
        // rustls names TLS 1.3 suites `TLS13_...`; IANA (and CloudTrail) `TLS_...`.
        let suite = format!("{:?}", conn.negotiated_cipher_suite()?.suite());
        let cipher_suite = match suite.strip_prefix("TLS13_") {
            Some(rest) => format!("TLS_{rest}"),
            None => suite,
        };
        Some(TlsSession {
            version,
            cipher_suite,
        })
    }
}

impl<A, I, S> Accept<I, S> for EdgeAcceptor<A>
where
    A: Accept<I, S> + Clone + Send + Sync + 'static,
    A::Stream: Session,
    A::Future: Send,
    I: Send + 'static,
    S: Send + 'static,
{
    type Stream = EdgeIo<A::Stream>;
    type Service = Tracked<A::Service>;
    type Future = BoxFuture<io::Result<(Self::Stream, Self::Service)>>;

    fn accept(&self, stream: I, service: S) -> Self::Future {
        let permit = self.open.clone().try_acquire_owned();
        let (inner, edge) = (self.inner.clone(), self.edge.clone());
        Box::pin(async move {
            // Dropping `stream` closes it.
            let permit = permit.map_err(|_| refused(edge.max_connections))?;
            let (stream, service) = inner.accept(stream, service).await?;
            let tls = stream.tls_session();
            let conn = Arc::new(Conn::new());
            let io = EdgeIo {
                inner: stream,
                conn: conn.clone(),
                edge: edge.clone(),
                timer: Box::pin(tokio::time::sleep_until(
                    Instant::now() + edge.header_timeout,
                )),
                _permit: permit,
            };
            let service = Tracked {
                inner: service,
                conn,
                budget: ConnectionBudget::new(edge.connection_buffer),
                tls,
            };
            Ok((io, service))
        })
    }
}

/// Counts refused connections; warns at the 1st, 2nd, 4th, 8th... so an attack cannot flood
/// the log.
fn refused(max_connections: usize) -> io::Error {
    static REFUSED: AtomicU64 = AtomicU64::new(0);
    let n = REFUSED.fetch_add(1, Ordering::Relaxed) + 1;
    if n.is_power_of_two() {
        tracing::warn!(
            refused_so_far = n,
            http_max_connections = max_connections,
            "client connection closed at once: http_max_connections reached"
        );
    }
    io::Error::other("http_max_connections reached")
}

/// What a connection is doing, shared by its IO and its service.
struct Conn {
    state: Mutex<State>,
}

struct State {
    open_requests: usize,
    /// When the connection last had no request open (accept, or the last answer).
    idle_since: Instant,
    /// When the first byte of the next HTTP/1.1 request head arrived (accept, for the first).
    head_since: Option<Instant>,
    /// Protocol not known yet (no byte read).
    fresh: bool,
    h2: bool,
}

impl Conn {
    fn new() -> Conn {
        let now = Instant::now();
        Conn {
            state: Mutex::new(State {
                open_requests: 0,
                idle_since: now,
                head_since: Some(now),
                fresh: true,
                h2: false,
            }),
        }
    }

    fn state(&self) -> std::sync::MutexGuard<'_, State> {
        self.state.lock().unwrap_or_else(|e| e.into_inner())
    }

    fn read(&self, bytes: &[u8]) {
        let mut s = self.state();
        if s.fresh {
            s.fresh = false;
            // The HTTP/2 connection preface (after ALPN, or prior knowledge over plain HTTP).
            s.h2 = bytes.starts_with(b"PRI * HTTP/2.0");
        }
        if s.open_requests == 0 && s.head_since.is_none() && !s.h2 {
            s.head_since = Some(Instant::now());
        }
    }

    /// When this connection must be closed, if no request is open.
    fn deadline(&self, edge: &Edge) -> Option<Instant> {
        let s = self.state();
        match (s.open_requests, s.head_since) {
            (0, Some(head)) if !s.h2 => Some(head + edge.header_timeout),
            (0, _) => Some(s.idle_since + edge.idle_timeout),
            _ => None,
        }
    }

    fn begin(&self) {
        let mut s = self.state();
        s.open_requests += 1;
        s.head_since = None;
    }

    fn end(&self) {
        let mut s = self.state();
        s.open_requests -= 1;
        if s.open_requests == 0 {
            s.idle_since = Instant::now();
        }
    }
}

/// A connection's stream: fails with `TimedOut` when a deadline of [`Conn`] passes.
pub struct EdgeIo<T> {
    inner: T,
    conn: Arc<Conn>,
    edge: Arc<Edge>,
    timer: Pin<Box<Sleep>>,
    _permit: OwnedSemaphorePermit,
}

impl<T> EdgeIo<T> {
    /// Called when the inner stream is not ready: arms the timer for the current deadline,
    /// so the task wakes when it passes.
    fn poll_deadline(&mut self, cx: &mut Context<'_>) -> Poll<io::Error> {
        let Some(deadline) = self.conn.deadline(&self.edge) else {
            return Poll::Pending;
        };
        if self.timer.deadline() != deadline {
            self.timer.as_mut().reset(deadline);
        }
        match self.timer.as_mut().poll(cx) {
            Poll::Ready(()) => Poll::Ready(io::Error::new(
                io::ErrorKind::TimedOut,
                "client connection idle or slow past its deadline",
            )),
            Poll::Pending => Poll::Pending,
        }
    }
}

impl<T: AsyncRead + Unpin> AsyncRead for EdgeIo<T> {
    fn poll_read(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        let before = buf.filled().len();
        match Pin::new(&mut self.inner).poll_read(cx, buf) {
            Poll::Ready(Ok(())) => {
                if buf.filled().len() > before {
                    self.conn.read(&buf.filled()[before..]);
                }
                Poll::Ready(Ok(()))
            }
            Poll::Ready(Err(e)) => Poll::Ready(Err(e)),
            Poll::Pending => self.poll_deadline(cx).map(Err),
        }
    }
}

impl<T: AsyncWrite + Unpin> AsyncWrite for EdgeIo<T> {
    fn poll_write(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        match Pin::new(&mut self.inner).poll_write(cx, buf) {
            Poll::Pending => self.poll_deadline(cx).map(Err),
            ready => ready,
        }
    }

    fn poll_flush(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        match Pin::new(&mut self.inner).poll_flush(cx) {
            Poll::Pending => self.poll_deadline(cx).map(Err),
            ready => ready,
        }
    }

    fn poll_shutdown(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.inner).poll_shutdown(cx)
    }

    fn poll_write_vectored(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        bufs: &[io::IoSlice<'_>],
    ) -> Poll<io::Result<usize>> {
        match Pin::new(&mut self.inner).poll_write_vectored(cx, bufs) {
            Poll::Pending => self.poll_deadline(cx).map(Err),
            ready => ready,
        }
    }

    fn is_write_vectored(&self) -> bool {
        self.inner.is_write_vectored()
    }
}

/// A connection's service: counts its open requests and gives each the connection's budget.
#[derive(Clone)]
pub struct Tracked<S> {
    inner: S,
    conn: Arc<Conn>,
    budget: ConnectionBudget,
    tls: Option<TlsSession>,
}

/// Ends a request in its [`Conn`] when dropped (answered, or abandoned by the client).
struct Open(Arc<Conn>);

impl Drop for Open {
    fn drop(&mut self) {
        self.0.end();
    }
}

impl<S, B> tower_service::Service<Request<B>> for Tracked<S>
where
    S: tower_service::Service<Request<B>>,
    S::Future: Send + 'static,
{
    type Response = S::Response;
    type Error = S::Error;
    type Future = BoxFuture<Result<S::Response, S::Error>>;

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), S::Error>> {
        self.inner.poll_ready(cx)
    }

    fn call(&mut self, mut request: Request<B>) -> Self::Future {
        request.extensions_mut().insert(self.budget.clone());
        if let Some(tls) = &self.tls {
            request.extensions_mut().insert(tls.clone());
        }
        self.conn.begin();
        let open = Open(self.conn.clone());
        let answer = self.inner.call(request);
        Box::pin(async move {
            let answer = answer.await;
            drop(open);
            answer
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn deadlines_follow_what_the_connection_is_doing() {
        let edge = Edge::default();
        let conn = Conn::new();
        let accepted = conn.deadline(&edge).unwrap();
        // HTTP/1.1: the header clock runs from accept until a request is dispatched.
        conn.read(b"POST / HTTP/1.1\r\n");
        assert_eq!(conn.deadline(&edge), Some(accepted));
        conn.begin();
        assert_eq!(
            conn.deadline(&edge),
            None,
            "an open request has its body deadline"
        );
        conn.end();
        let idle = conn.deadline(&edge).unwrap();
        assert!(idle >= accepted - edge.header_timeout + edge.idle_timeout);
        // The next head restarts the header clock.
        conn.read(b"P");
        assert!(conn.deadline(&edge).unwrap() < idle);
        // HTTP/2: the idle clock only.
        let h2 = Conn::new();
        h2.read(b"PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n");
        let d = h2.deadline(&edge).unwrap();
        h2.read(b"frames");
        assert_eq!(h2.deadline(&edge), Some(d));
        assert!(d >= accepted + edge.idle_timeout - edge.header_timeout);
    }
}
