use crate::check::testkit::*;
use crate::check::Validity;

use super::{assert_anomaly, assert_validity, verdict};

#[test]
fn an_acknowledged_key_missing_from_the_final_read_is_lost() {
    let mut h = History::new();
    h.ok(1, 0, 10, create_key(Some(Ok("k1"))));
    h.ok(1, 20, 30, create_key(Some(Ok("k2"))));
    h.info(2, 20, None, create_key(None));
    h.ok(3, 100, 110, list_keys(true, &["k1", "other"]));
    let v = verdict(&h, "creation-set");
    assert_anomaly(&v, &["lost: key k2", "ListKeys (final) -> 2 keys"]);
    assert_eq!(v.stats["missing_from_final_read"], 1);
    assert_eq!(v.stats["unknown_outcome_creates"], 1);
}

#[test]
fn a_read_missing_a_key_acknowledged_before_it_began_is_stale() {
    let mut h = History::new();
    h.ok(1, 0, 10, create_key(Some(Ok("k1"))));
    h.ok(2, 20, 30, list_keys(false, &[]));
    h.ok(3, 100, 110, list_keys(true, &["k1"]));
    let v = verdict(&h, "creation-set");
    assert_anomaly(
        &v,
        &["stale read: key k1", "ListKeys -> 0 keys", "process 2"],
    );
    assert_eq!(v.stats["missing_from_final_read"], 0);
}

#[test]
fn a_read_concurrent_with_a_create_need_not_see_it() {
    let mut h = History::new();
    h.ok(1, 0, 30, create_key(Some(Ok("k1"))));
    h.ok(2, 10, 40, list_keys(false, &[]));
    h.ok(3, 100, 110, list_keys(true, &["k1"]));
    assert_validity(&verdict(&h, "creation-set"), Validity::Valid);
}

#[test]
fn without_a_final_read_the_creation_set_is_unknown() {
    let mut h = History::new();
    h.ok(1, 0, 10, create_key(Some(Ok("k1"))));
    h.info(3, 100, Some(110), list_keys(true, &[]));
    assert_validity(&verdict(&h, "creation-set"), Validity::Unknown);
}

/// Encrypts `ct` (plaintext "cA==") and one data key (plaintext "ZGs=", ciphertext "dk").
fn sealed() -> History {
    let mut h = History::new();
    h.ok(1, 0, 10, encrypt("k1", "cA==", Some(Ok("ct"))));
    h.ok(2, 0, 10, data_key("k1", "ZGs=", "dk"));
    h.info(3, 0, Some(10), encrypt("k1", "eA==", None));
    h
}

#[test]
fn ciphertexts_decrypting_to_their_plaintext_are_durable() {
    let mut h = sealed();
    h.info(1, 100, Some(110), decrypt("ct", None));
    h.ok(1, 120, 130, decrypt("ct", Some(Ok("cA=="))));
    h.ok(2, 100, 110, decrypt("dk", Some(Ok("ZGs="))));
    let v = verdict(&h, "ciphertext-durability");
    assert_validity(&v, Validity::Valid);
    assert_eq!(v.stats["from_generate_data_key"], 1);
    assert_eq!(v.stats["fates"]["verified"], 2);
}

#[test]
fn a_ciphertext_decrypting_to_another_plaintext_is_corrupted() {
    let mut h = sealed();
    h.ok(1, 100, 110, decrypt("ct", Some(Ok("cQ=="))));
    h.ok(2, 100, 110, decrypt("dk", Some(Ok("ZGs="))));
    assert_anomaly(
        &verdict(&h, "ciphertext-durability"),
        &["corrupted: Encrypt k1", "Decrypt ct -> cQ=="],
    );
}

#[test]
fn a_ciphertext_the_service_cannot_decrypt_is_lost() {
    let mut h = sealed();
    h.ok(1, 100, 110, decrypt("ct", Some(Ok("cA=="))));
    h.ok(
        2,
        100,
        110,
        decrypt("dk", err("InvalidCiphertextException")),
    );
    assert_anomaly(
        &verdict(&h, "ciphertext-durability"),
        &["lost: GenerateDataKey k1", "InvalidCiphertextException"],
    );
}

#[test]
fn a_ciphertext_never_decrypted_is_an_anomaly() {
    let mut h = sealed();
    h.ok(1, 100, 110, decrypt("ct", Some(Ok("cA=="))));
    assert_anomaly(
        &verdict(&h, "ciphertext-durability"),
        &["never decrypted: GenerateDataKey k1"],
    );
}

#[test]
fn a_ciphertext_whose_decrypts_all_timed_out_is_unverified() {
    let mut h = sealed();
    h.ok(1, 100, 110, decrypt("ct", Some(Ok("cA=="))));
    h.info(2, 100, Some(110), decrypt("dk", None));
    let v = verdict(&h, "ciphertext-durability");
    assert_validity(&v, Validity::Unknown);
    assert_eq!(v.stats["fates"]["unverified"], 1);
}
