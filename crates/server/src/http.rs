//! The client listener: the API router over TLS (rustls, certificate and key from the
//! configuration) or, when explicitly configured, plain HTTP. Both set TCP_NODELAY (small
//! request/response exchanges must not wait for Nagle) and shut down gracefully.

use std::time::Duration;

use anyhow::Context;
use axum::Router;
use axum_server::accept::NoDelayAcceptor;
use axum_server::tls_rustls::{RustlsAcceptor, RustlsConfig};
use tokio::sync::watch;

use crate::config::TlsFiles;

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
    mut stop: watch::Receiver<bool>,
) -> std::io::Result<()> {
    let handle = axum_server::Handle::new();
    let stopper = handle.clone();
    tokio::spawn(async move {
        let _ = stop.wait_for(|s| *s).await;
        stopper.graceful_shutdown(Some(DRAIN));
    });
    let service = app.into_make_service();
    let server = axum_server::from_tcp(listener)?.handle(handle);
    match tls {
        Some(config) => {
            let acceptor = RustlsAcceptor::new(config).acceptor(NoDelayAcceptor::new());
            server.acceptor(acceptor).serve(service).await
        }
        None => server.acceptor(NoDelayAcceptor::new()).serve(service).await,
    }
}
