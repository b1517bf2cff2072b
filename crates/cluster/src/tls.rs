//! Mutual TLS on the peer transport.
//!
//! With [`PeerTls`] configured, the peer listener accepts only connections that present a
//! client certificate chaining to the cluster CA (rustls' `WebPkiClientVerifier`), and every
//! outgoing peer connection presents this node's certificate and verifies the peer's server
//! certificate against the same CA, for the name of the node it means to reach
//! (identity.rs). There is no anonymous path: without a certificate from the cluster CA that
//! names a member, a process can neither send Raft messages or forwarded requests to a node,
//! nor pose as a node to its peers.
//!
//! The material is checked when it is loaded, so a bad file stops the node at start with an
//! error naming the setting, never at the first connection. The private key is held in
//! memory only, zeroized on drop, and never printed (`Debug` redacts it).

use std::fmt;
use std::path::Path;
use std::sync::Arc;
use std::time::Duration;

use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, PrivateKeyDer, UnixTime};
use rustls::server::WebPkiClientVerifier;
use rustls::RootCertStore;
use tonic::transport::{Certificate, ClientTlsConfig, Identity};
use zeroize::Zeroizing;

/// A handshake that has not finished in this time is dropped (a stalled or hostile client
/// must not hold a connection slot).
pub(crate) const HANDSHAKE_TIMEOUT: Duration = Duration::from_secs(5);

/// The cluster CA and this node's certificate chain and private key, PEM, checked.
#[derive(Clone)]
pub struct PeerTls {
    ca: Arc<Vec<u8>>,
    cert: Arc<Vec<u8>>,
    key: Arc<Zeroizing<Vec<u8>>>,
}

impl fmt::Debug for PeerTls {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("PeerTls { ca, cert, key: <redacted> }")
    }
}

impl PeerTls {
    /// Reads and checks the three files; each error names its setting (`peer_tls_ca_file`,
    /// `peer_tls_cert_file`, `peer_tls_key_file`) and the path.
    pub fn load(ca: &Path, cert: &Path, key: &Path) -> Result<PeerTls, String> {
        let read = |setting: &str, path: &Path| {
            std::fs::read(path).map_err(|e| format!("{setting} {}: {e}", path.display()))
        };
        PeerTls::from_pem(
            read("peer_tls_ca_file", ca)?,
            read("peer_tls_cert_file", cert)?,
            Zeroizing::new(read("peer_tls_key_file", key)?),
        )
    }

    /// Checks PEM material: the CA holds at least one certificate, the key parses, and this
    /// node's certificate chains to the CA and may be used for client authentication (every
    /// outgoing peer connection presents it).
    pub fn from_pem(
        ca: Vec<u8>,
        cert: Vec<u8>,
        key: Zeroizing<Vec<u8>>,
    ) -> Result<PeerTls, String> {
        install_crypto_provider();
        let roots = parse_roots(&ca)?;
        let chain = parse_certs(&cert).map_err(|e| format!("peer_tls_cert_file: {e}"))?;
        let key_der = PrivateKeyDer::from_pem_slice(&key)
            .map_err(|e| format!("peer_tls_key_file: no private key in PEM ({e})"))?;
        let verifier = WebPkiClientVerifier::builder(Arc::new(roots))
            .build()
            .map_err(|e| format!("peer_tls_ca_file: {e}"))?;
        verifier
            .verify_client_cert(&chain[0], &chain[1..], UnixTime::now())
            .map_err(|e| {
                format!("peer_tls_cert_file: does not chain to peer_tls_ca_file as a client certificate: {e}")
            })?;
        // Building a server configuration checks that the key belongs to the certificate.
        rustls::ServerConfig::builder()
            .with_client_cert_verifier(verifier)
            .with_single_cert(chain, key_der)
            .map_err(|e| format!("peer_tls_key_file: does not fit peer_tls_cert_file: {e}"))?;
        Ok(PeerTls {
            ca: Arc::new(ca),
            cert: Arc::new(cert),
            key: Arc::new(key),
        })
    }

    fn identity(&self) -> Identity {
        Identity::from_pem(self.cert.as_slice(), self.key.as_slice())
    }

    /// The listener's side: our certificate, and a client certificate from the CA required.
    /// The handshake runs in our own accept loop (listener.rs), so that a refused one is
    /// logged with its reason; gRPC needs ALPN `h2`.
    pub(crate) fn acceptor(&self) -> Result<tokio_rustls::TlsAcceptor, String> {
        let roots = parse_roots(&self.ca)?;
        let verifier = WebPkiClientVerifier::builder(Arc::new(roots))
            .build()
            .map_err(|e| format!("peer_tls_ca_file: {e}"))?;
        let chain = parse_certs(&self.cert).map_err(|e| format!("peer_tls_cert_file: {e}"))?;
        let key = PrivateKeyDer::from_pem_slice(&self.key)
            .map_err(|e| format!("peer_tls_key_file: no private key in PEM ({e})"))?;
        let mut config = rustls::ServerConfig::builder()
            .with_client_cert_verifier(verifier)
            .with_single_cert(chain, key)
            .map_err(|e| format!("peer_tls_key_file: {e}"))?;
        config.alpn_protocols = vec![b"h2".to_vec()];
        Ok(tokio_rustls::TlsAcceptor::from(Arc::new(config)))
    }

    /// The connecting side, to node `target` of `cluster`: the server certificate verified
    /// against the CA for the node's name ([`crate::identity::peer_name`]), not for the host
    /// dialled, and our certificate presented.
    pub(crate) fn client(&self, cluster: &str, target: crate::NodeId) -> ClientTlsConfig {
        ClientTlsConfig::new()
            .ca_certificate(Certificate::from_pem(self.ca.as_slice()))
            .identity(self.identity())
            .domain_name(crate::identity::peer_name(cluster, target))
            .timeout(HANDSHAKE_TIMEOUT)
    }
}

/// tonic builds its rustls configurations with the process-wide provider; trent uses
/// aws-lc-rs everywhere (one provider, one FIPS story). Installing twice is harmless.
fn install_crypto_provider() {
    let _ = rustls::crypto::aws_lc_rs::default_provider().install_default();
}

fn parse_certs(pem: &[u8]) -> Result<Vec<CertificateDer<'static>>, String> {
    let certs = CertificateDer::pem_slice_iter(pem)
        .collect::<Result<Vec<_>, _>>()
        .map_err(|e| format!("unreadable PEM: {e}"))?;
    match certs.is_empty() {
        true => Err("no certificate in PEM".into()),
        false => Ok(certs),
    }
}

fn parse_roots(pem: &[u8]) -> Result<RootCertStore, String> {
    let mut roots = RootCertStore::empty();
    for cert in parse_certs(pem).map_err(|e| format!("peer_tls_ca_file: {e}"))? {
        roots
            .add(cert)
            .map_err(|e| format!("peer_tls_ca_file: not a CA certificate: {e}"))?;
    }
    Ok(roots)
}
