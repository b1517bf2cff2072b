use crate::check::testkit::*;
use crate::check::Validity;
use crate::history::KeyAction::*;

use super::{assert_anomaly, assert_validity, verdict};

const CHECKER: &str = "use-after-disable";

#[test]
fn a_use_after_an_acknowledged_disable_is_flagged_with_its_node() {
    let mut h = History::new();
    h.ok(1, 0, 10, key_write("k1", Disable, done()));
    h.ok_on(3, 2, 20, 30, key_use("k1", done()));
    assert_anomaly(
        &verdict(&h, CHECKER),
        &[
            "key k1",
            "node 3 served Encrypt k1 -> ok",
            "DisableKey k1 -> ok by process 1",
        ],
    );
}

#[test]
fn encrypt_and_generate_data_key_after_schedule_deletion_are_flagged() {
    let mut h = History::new();
    h.ok(1, 0, 10, key_write("k1", ScheduleDeletion, done()));
    h.ok(2, 20, 30, encrypt("k1", "cA==", Some(Ok("ct"))));
    h.ok(2, 40, 50, data_key("k1", "ZGs=", "dk"));
    let v = verdict(&h, CHECKER);
    assert_anomaly(&v, &["ScheduleKeyDeletion k1", "Encrypt k1 -> ct"]);
    assert_anomaly(&v, &["ScheduleKeyDeletion k1", "GenerateDataKey k1"]);
    assert_eq!(v.stats["anomalies"], 2);
}

#[test]
fn a_use_concurrent_with_the_disable_is_allowed() {
    let mut h = History::new();
    h.ok(1, 0, 20, key_write("k1", Disable, done()));
    h.ok(2, 10, 30, key_use("k1", done()));
    h.ok(2, 40, 50, key_use("k1", err("DisabledException")));
    assert_validity(&verdict(&h, CHECKER), Validity::Valid);
}

#[test]
fn an_enable_that_may_have_taken_effect_in_between_excuses_the_use() {
    let mut acked = History::new();
    acked.ok(1, 0, 10, key_write("k1", Disable, done()));
    acked.ok(1, 15, 25, key_write("k1", Enable, done()));
    acked.ok(2, 20, 30, key_use("k1", done()));
    assert_validity(&verdict(&acked, CHECKER), Validity::Valid);

    // Timed out long before the use: it may still take effect later.
    let mut unknown = History::new();
    unknown.ok(1, 0, 10, key_write("k1", Disable, done()));
    unknown.info(3, 5, Some(8), key_write("k1", Enable, None));
    unknown.ok(2, 100, 110, key_use("k1", done()));
    assert_validity(&verdict(&unknown, CHECKER), Validity::Valid);
}

#[test]
fn an_enable_before_the_disable_or_refused_excuses_nothing() {
    let mut before = History::new();
    before.ok(1, 0, 5, key_write("k1", Enable, done()));
    before.ok(1, 10, 20, key_write("k1", Disable, done()));
    before.ok(2, 30, 40, key_use("k1", done()));
    assert_anomaly(&verdict(&before, CHECKER), &["key k1"]);

    let mut refused = History::new();
    refused.ok(1, 0, 10, key_write("k1", ScheduleDeletion, done()));
    refused.ok(
        1,
        12,
        14,
        key_write("k1", Enable, err("KMSInvalidStateException")),
    );
    refused.fail(3, 12, 14, key_write("k1", Enable, None));
    refused.ok(2, 20, 30, key_use("k1", done()));
    assert_anomaly(&verdict(&refused, CHECKER), &["key k1"]);
}

#[test]
fn a_disable_on_another_key_does_not_matter() {
    let mut h = History::new();
    h.ok(1, 0, 10, key_write("k1", Disable, done()));
    h.ok(2, 20, 30, key_use("k2", done()));
    let v = verdict(&h, CHECKER);
    assert_validity(&v, Validity::Valid);
    assert_eq!(v.stats["successful_uses"], 1);
}
