//! Telling a TLS/plain mismatch between peers apart from other connection failures.
//!
//! Every peer of a cluster must speak the same transport: mutual TLS, or plain gRPC
//! (`--peer-plain`). A node started with the other one fails every call with errors that
//! name neither (a closed connection, "corrupt message"). So the peer listener looks at
//! the first byte a connection sends: a TLS handshake record starts with 0x16, an HTTP/2
//! client's preface with `P` ("PRI * HTTP/2.0"). A plain listener that receives a TLS
//! handshake, or a TLS listener that receives an HTTP/2 preface, logs one clear line
//! (rate-limited) and closes the connection. Both ends of a mismatch are listeners too, so
//! both log it. (A TLS client whose peer answers something other than TLS, such as an
//! older build or another program on the port, gets a hint in its "peer unreachable" line,
//! peers.rs.)

/// Mismatch warnings: at most one every 10 s for the whole process.
pub(crate) static MISMATCH_WARNINGS: crate::listener::WarnLimiter =
    crate::listener::WarnLimiter::every_secs(10);

/// What the first byte of a connection says its client speaks.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Speaks {
    Tls,
    PlainHttp2,
    Unknown,
}

pub(crate) fn speaks(first: u8) -> Speaks {
    match first {
        0x16 => Speaks::Tls,
        b'P' => Speaks::PlainHttp2,
        _ => Speaks::Unknown,
    }
}

/// The log line of a connection to a listener that expects the other transport, if it is
/// one.
pub(crate) fn listener_mismatch(tls_listener: bool, first: u8) -> Option<&'static str> {
    match (tls_listener, speaks(first)) {
        (true, Speaks::PlainHttp2) => Some(
            "TLS/plain mismatch: a peer speaks plain gRPC to this node's TLS peer listener \
             (is it started with --peer-plain? every node of a cluster needs the same peer \
             transport; see docs/OPERATIONS.md, \"Moving peers from plain to TLS\")",
        ),
        (false, Speaks::Tls) => Some(
            "TLS/plain mismatch: a peer speaks TLS to this node's plain peer listener \
             (this node runs with --peer-plain, the peer with peer TLS; every node of a \
             cluster needs the same peer transport; see docs/OPERATIONS.md, \"Moving peers \
             from plain to TLS\")",
        ),
        _ => None,
    }
}

/// A hint for a failed call whose error looks like a TLS client talking to a plain peer.
pub(crate) fn client_hint(error: &str) -> Option<&'static str> {
    let lower = error.to_ascii_lowercase();
    ["invalidcontenttype", "corrupt message", "tls handshake eof"]
        .iter()
        .any(|s| lower.contains(s))
        .then_some(
            "the peer does not answer TLS: is it started with --peer-plain? (TLS/plain mismatch)",
        )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn first_bytes_tell_tls_from_plain_http2() {
        assert_eq!(speaks(0x16), Speaks::Tls);
        assert_eq!(speaks(b"PRI * HTTP/2.0"[0]), Speaks::PlainHttp2);
        assert!(listener_mismatch(true, b'P').is_some());
        assert!(listener_mismatch(false, 0x16).is_some());
        assert!(listener_mismatch(true, 0x16).is_none());
        assert!(listener_mismatch(false, b'P').is_none());
        assert!(client_hint("received corrupt message of type InvalidContentType").is_some());
        assert!(client_hint("connection refused").is_none());
    }
}
