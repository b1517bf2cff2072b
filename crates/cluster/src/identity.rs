//! Who is on the other end of a peer connection.
//!
//! A node's certificate names it: besides its host names, it carries the DNS name
//! [`peer_name`]`(cluster, id)` (`node-<id>.<cluster>.trent.invalid`; `.invalid` is reserved,
//! so no real host can hold it), issued by `trentd certs` or any PKI. Both ends check it:
//!
//! - connecting to node `n`, a node verifies the server certificate for `n`'s name, not for
//!   the host it dialled, so a process at `n`'s address with another node's certificate (or
//!   an impostor added under a wrong id) fails the handshake;
//! - serving, a node checks that the client certificate names the node that the message
//!   claims to come from ([`check_sender`]), and the peer service checks that this node is a
//!   member where the message needs one. A certificate from the cluster CA alone is not
//!   enough.
//!
//! With plain peers (`--peer-plain`, loopback unless overridden) there is no certificate and
//! nothing to check: the operator chose a network where every process is trusted.

use rustls::pki_types::{CertificateDer, ServerName};

use crate::NodeId;

/// The DNS name that binds node `id` of `cluster` in a peer certificate.
pub fn peer_name(cluster: &str, id: NodeId) -> String {
    format!("node-{id}.{cluster}.trent.invalid")
}

/// Whether `name` can be a cluster name: one DNS label (it is part of [`peer_name`]).
pub fn valid_cluster_name(name: &str) -> bool {
    (1..=63).contains(&name.len())
        && !name.starts_with('-')
        && !name.ends_with('-')
        && name.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'-')
}

/// Checks that the client certificate of a peer connection names node `claimed` of
/// `cluster`. `certs` is `None` on a plain connection, which passes (see the module doc).
pub(crate) fn check_sender(
    certs: Option<&[CertificateDer<'static>]>,
    tls: bool,
    cluster: &str,
    claimed: NodeId,
) -> Result<(), String> {
    if !tls {
        return Ok(());
    }
    let leaf = certs
        .and_then(|c| c.first())
        .ok_or("no client certificate on a TLS peer connection")?;
    let cert = webpki::EndEntityCert::try_from(leaf)
        .map_err(|e| format!("unreadable client certificate: {e}"))?;
    let name = peer_name(cluster, claimed);
    let server_name =
        ServerName::try_from(name.as_str()).map_err(|e| format!("peer name {name}: {e}"))?;
    cert.verify_is_valid_for_subject_name(&server_name)
        .map_err(|_| {
            format!("the client certificate does not name node {claimed} of cluster '{cluster}' ({name})")
        })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cluster_names_are_dns_labels() {
        for good in ["trent", "it", "prod-eu-1", "a"] {
            assert!(valid_cluster_name(good), "{good}");
        }
        for bad in ["", "-a", "a-", "a.b", "a_b", "A b", &"x".repeat(64)] {
            assert!(!valid_cluster_name(bad), "{bad}");
        }
    }

    #[test]
    fn a_peer_name_is_a_valid_server_name() {
        let name = peer_name("it", 12);
        assert_eq!(name, "node-12.it.trent.invalid");
        ServerName::try_from(name.as_str()).unwrap();
    }

    #[test]
    fn a_tls_connection_without_a_certificate_is_refused() {
        let err = check_sender(None, true, "it", 1).unwrap_err();
        assert!(err.contains("no client certificate"), "{err}");
        check_sender(None, false, "it", 1).unwrap();
    }
}
