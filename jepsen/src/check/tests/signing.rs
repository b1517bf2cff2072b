use aws_lc_rs::encoding::AsDer;
use aws_lc_rs::rand::SystemRandom;
use aws_lc_rs::signature::{EcdsaKeyPair, KeyPair, ECDSA_P256_SHA256_ASN1_SIGNING};
use base64::engine::general_purpose::STANDARD as B64;
use base64::Engine;

use crate::check::testkit::*;
use crate::check::Validity;
use crate::workload::signing::tamper;

use super::{assert_anomaly, assert_validity, verdict};

const CHECKER: &str = "signatures";
const MESSAGE: &str = "aGVsbG8=";

/// A P-256 key as trent's GetPublicKey answers it (SubjectPublicKeyInfo, base64), and a real
/// signature of MESSAGE under it.
fn key_and_signature() -> (String, String) {
    let pair = EcdsaKeyPair::generate(&ECDSA_P256_SHA256_ASN1_SIGNING).unwrap();
    let spki = pair.public_key().as_der().unwrap();
    let message = B64.decode(MESSAGE).unwrap();
    let signature = pair.sign(&SystemRandom::new(), &message).unwrap();
    (B64.encode(spki.as_ref()), B64.encode(signature.as_ref()))
}

/// k1 signs MESSAGE at [0, 10], a kill runs [20, 30], the final GetPublicKey at [200, 210].
fn signed(public: &str, signature: &str) -> History {
    let mut h = History::new();
    h.ok(1, 0, 10, sign("k1", MESSAGE, Some(Ok(signature))));
    h.info(2, 5, None, sign("k1", "eA==", None));
    h.fault(20, Some(30), "kill", &[1], true);
    h.ok(9, 200, 210, get_public_key("k1", public));
    h
}

#[test]
fn signatures_that_verify_through_and_outside_trent_and_tampered_ones_refused_are_valid() {
    let (public, signature) = key_and_signature();
    let mut h = signed(&public, &signature);
    h.ok(
        1,
        40,
        50,
        verify("k1", MESSAGE, &signature, false, Some(Ok(true))),
    );
    let bad = tamper(&signature);
    h.ok(
        1,
        60,
        70,
        verify(
            "k1",
            MESSAGE,
            &bad,
            true,
            err("KMSInvalidSignatureException"),
        ),
    );
    h.info(
        3,
        80,
        Some(90),
        verify("k1", MESSAGE, &signature, false, None),
    );
    let v = verdict(&h, CHECKER);
    assert_validity(&v, Validity::Valid);
    assert_eq!(v.stats["valid_after_a_fault"], 1, "{}", v.stats);
    assert_eq!(v.stats["tampered_refused"], 1);
    assert_eq!(v.stats["verified_outside_trent"], 1);
}

#[test]
fn a_good_signature_refused_after_a_failover_is_flagged() {
    let (public, signature) = key_and_signature();
    let mut h = signed(&public, &signature);
    h.ok(
        1,
        40,
        50,
        verify("k1", MESSAGE, &signature, false, Some(Ok(true))),
    );
    h.ok_on(
        3,
        4,
        60,
        70,
        verify(
            "k1",
            MESSAGE,
            &signature,
            false,
            err("KMSInvalidSignatureException"),
        ),
    );
    assert_anomaly(
        &verdict(&h, CHECKER),
        &[
            "a good signature refused",
            "-> KMSInvalidSignatureException by process 4 on node 3",
            "acknowledged at 0.010s",
        ],
    );
}

#[test]
fn a_tampered_signature_accepted_is_flagged() {
    let (public, signature) = key_and_signature();
    let mut h = signed(&public, &signature);
    let bad = tamper(&signature);
    h.ok(1, 40, 50, verify("k1", MESSAGE, &bad, true, Some(Ok(true))));
    assert_anomaly(
        &verdict(&h, CHECKER),
        &["tampered signature not refused", "SignatureValid true"],
    );
}

#[test]
fn a_signature_the_public_key_does_not_verify_is_flagged() {
    let (public, _) = key_and_signature();
    let (_, other) = key_and_signature();
    let h = signed(&public, &other);
    assert_anomaly(
        &verdict(&h, CHECKER),
        &["does not verify outside trent", "Sign k1 ECDSA_SHA_256"],
    );
}

#[test]
fn two_public_keys_for_one_key_are_flagged() {
    let (public, signature) = key_and_signature();
    let (other, _) = key_and_signature();
    let mut h = signed(&public, &signature);
    h.ok(1, 40, 50, get_public_key("k1", &other));
    assert_anomaly(&verdict(&h, CHECKER), &["key k1: two public keys"]);
}

#[test]
fn without_a_public_key_the_signatures_are_unknown() {
    let (_, signature) = key_and_signature();
    let mut h = History::new();
    h.ok(1, 0, 10, sign("k1", MESSAGE, Some(Ok(&signature))));
    assert_validity(&verdict(&h, CHECKER), Validity::Unknown);
}
