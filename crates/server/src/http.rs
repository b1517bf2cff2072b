//! The client listener: the API router over TLS (rustls, certificate and key from the
//! configuration) or, when explicitly configured, plain HTTP. Both set TCP_NODELAY (small
//! request/response exchanges must not wait for Nagle), hold every connection to the edge's
//! limits ([`crate::edge`], [`crate::conn`]) and shut down gracefully.

use std::time::Duration;

use anyhow::Context;
use axum::Router;
use axum_server::accept::NoDelayAcceptor;
use axum_server::tls_rustls::{RustlsAcceptor, RustlsConfig};
use tokio::sync::watch;

use crate::config::TlsFiles;
use crate::conn::EdgeAcceptor;
use crate::edge::{Edge, H2_CONNECTION_WINDOW, H2_STREAM_WINDOW, MAX_HEAD};

/// How long in-flight requests may finish after shutdown starts.
const DRAIN: Duration = Duration::from_secs(10);

/// Loads the certificate and key, so a bad file stops trentd before it starts anything.
pub async fn load_tls(files: &TlsFiles) -> anyhow::Result<RustlsConfig> {
    let _ = rustls::crypto::aws_lc_rs::default_provider().install_default();
    RustlsConfig::from_pem_file(&files.cert, &files.key)
        .await
        .with_context(|| {
            format!(
                "tls_cert_file {} / tls_key_file {}",
                files.cert.display(),
                files.key.display()
            )
        })
}

/// Serves `app` on `listener` until `stop` turns true.
pub async fn serve(
    listener: std::net::TcpListener,
    tls: Option<RustlsConfig>,
    app: Router,
    edge: Edge,
    mut stop: watch::Receiver<bool>,
) -> std::io::Result<()> {
    let handle = axum_server::Handle::new();
    let stopper = handle.clone();
    tokio::spawn(async move {
        let _ = stop.wait_for(|s| *s).await;
        stopper.graceful_shutdown(Some(DRAIN));
    });
    // The client address reaches the handlers (the access log).
    let service = app.into_make_service_with_connect_info::<std::net::SocketAddr>();
    let mut server = axum_server::from_tcp(listener)?.handle(handle);
    let builder = server.http_builder();
    // The header deadline is EdgeIo's (hyper's would also cut idle keep-alive connections).
    builder
        .http1()
        .max_buf_size(MAX_HEAD)
        .header_read_timeout(None);
    builder
        .http2()
        .max_concurrent_streams(edge.h2_max_streams)
        .initial_stream_window_size(H2_STREAM_WINDOW)
        .initial_connection_window_size(H2_CONNECTION_WINDOW)
        .max_header_list_size(MAX_HEAD as u32);
    match tls {
        Some(config) => {
            let tls = RustlsAcceptor::new(config)
                .handshake_timeout(edge.header_timeout)
                .acceptor(NoDelayAcceptor::new());
            let acceptor = EdgeAcceptor::new(tls, edge);
            server.acceptor(acceptor).serve(service).await
        }
        None => {
            let acceptor = EdgeAcceptor::new(NoDelayAcceptor::new(), edge);
            server.acceptor(acceptor).serve(service).await
        }
    }
}
