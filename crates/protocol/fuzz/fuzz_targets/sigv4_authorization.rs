//! The SigV4 `Authorization` header grammar on arbitrary text: never a panic; every refusal
//! is one of the two errors AWS gives for a bad header; and what it accepts is well formed
//! (a five-part credential scope, lowercase non-empty signed header names, a 64-digit
//! lowercase hex signature, exactly three elements).
#![no_main]

use libfuzzer_sys::fuzz_target;
use trent_model::ErrorKind;
use trent_protocol::sigv4::{Authorization, ALGORITHM};

fuzz_target!(|data: &[u8]| {
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    // Several headers: the input split at NUL, as a request may carry the header twice.
    let headers: Vec<&str> = text.split('\0').collect();
    match Authorization::parse_all(&headers) {
        Ok(auth) => {
            assert_eq!(headers.len(), 1, "several Authorization headers accepted");
            assert!(headers[0].starts_with(ALGORITHM));
            for part in [&auth.access_key_id, &auth.date, &auth.region, &auth.service] {
                assert!(!part.contains('/'), "a scope part holds '/': {part:?}");
            }
            assert!(!auth.signed_headers.is_empty());
            for h in &auth.signed_headers {
                assert!(!h.is_empty() && *h == h.to_lowercase(), "signed header {h:?}");
            }
            assert_eq!(auth.signature.len(), 64);
            assert!(auth
                .signature
                .bytes()
                .all(|b| b.is_ascii_digit() || (b'a'..=b'f').contains(&b)));
            // Exactly the three elements, each once (a repeated one is refused).
            assert_eq!(headers[0].split(',').count(), 3, "not three elements");
        }
        Err(e) => assert!(
            matches!(
                e.kind,
                ErrorKind::InvalidSignature | ErrorKind::MissingAuthenticationToken
            ),
            "unexpected error kind {:?}: {e}",
            e.kind
        ),
    }
    // The one-header form agrees with the list form.
    if headers.len() == 1 {
        let one = Authorization::parse(Some(headers[0]));
        assert_eq!(one.is_ok(), Authorization::parse_all(&headers).is_ok());
    }
});
