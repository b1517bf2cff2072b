use crate::check::testkit::*;
use crate::check::{CheckConfig, Validity};
use crate::history::{AliasAction, KeyAction::*, KeyState::*};

use super::{assert_anomaly, assert_validity, verdict, verdict_with};

const K: &str = "k1";

#[test]
fn stale_read_after_an_acknowledged_disable_is_not_linearizable() {
    let mut h = History::new();
    h.ok(1, 0, 10, key_write(K, Disable, done()));
    h.ok(2, 20, 30, key_read(K, Some(Ok(Enabled))));
    let v = verdict(&h, "key-state");
    assert_anomaly(
        &v,
        &[
            "key k1",
            "DescribeKey k1 -> Enabled",
            "process 2",
            "[0.020s, 0.030s]",
        ],
    );
    assert_eq!(v.stats["not_linearizable"][0], "k1");
}

#[test]
fn a_read_concurrent_with_a_disable_may_see_either_state() {
    for seen in [Enabled, Disabled] {
        let mut h = History::new();
        h.ok(1, 0, 30, key_write(K, Disable, done()));
        h.ok(2, 10, 20, key_read(K, Some(Ok(seen))));
        h.ok(2, 40, 50, key_read(K, Some(Ok(Disabled))));
        assert_validity(&verdict(&h, "key-state"), Validity::Valid);
    }
}

#[test]
fn an_unknown_outcome_write_may_take_effect_late_but_only_once() {
    let mut h = History::new();
    h.info(1, 0, Some(10), key_write(K, Disable, None));
    h.ok(2, 20, 30, key_read(K, Some(Ok(Enabled))));
    h.ok(2, 40, 50, key_read(K, Some(Ok(Disabled))));
    assert_validity(&verdict(&h, "key-state"), Validity::Valid);
    // Once seen Disabled, nothing can re-enable the key.
    h.ok(2, 60, 70, key_read(K, Some(Ok(Enabled))));
    assert_anomaly(
        &verdict(&h, "key-state"),
        &["DescribeKey k1 -> Enabled", "[0.060s, 0.070s]"],
    );
}

#[test]
fn an_unknown_outcome_write_may_never_take_effect() {
    let mut h = History::new();
    h.info(1, 0, None, key_write(K, ScheduleDeletion, None));
    h.ok(2, 20, 30, key_read(K, Some(Ok(Enabled))));
    h.ok(2, 40, 50, key_use(K, done()));
    assert_validity(&verdict(&h, "key-state"), Validity::Valid);
}

#[test]
fn a_failed_write_took_no_effect() {
    let mut h = History::new();
    h.fail(1, 0, 10, key_write(K, Disable, None));
    h.ok(2, 20, 30, key_read(K, Some(Ok(Enabled))));
    assert_validity(&verdict(&h, "key-state"), Validity::Valid);
    h.ok(2, 40, 50, key_read(K, Some(Ok(Disabled))));
    assert_anomaly(&verdict(&h, "key-state"), &["DescribeKey k1 -> Disabled"]);
}

#[test]
fn an_ok_with_an_unexpected_error_counts_as_unknown_outcome() {
    let mut h = History::new();
    h.ok(1, 0, 10, key_write(K, Disable, err("ServiceUnavailable")));
    h.ok(2, 20, 30, key_read(K, Some(Ok(Enabled))));
    h.ok(2, 40, 50, key_read(K, Some(Ok(Disabled))));
    let v = verdict(&h, "key-state");
    assert_validity(&v, Validity::Valid);
    assert_eq!(v.stats["unknown_outcome_operations"], 1);
}

#[test]
fn encrypt_under_a_key_pending_deletion_must_answer_invalid_state() {
    let mut h = History::new();
    h.ok(1, 0, 10, key_write(K, ScheduleDeletion, done()));
    h.ok(1, 20, 30, key_use(K, err("KMSInvalidStateException")));
    h.ok(1, 40, 50, key_write(K, CancelDeletion, done()));
    h.ok(1, 60, 70, key_use(K, err("DisabledException")));
    h.ok(
        1,
        80,
        90,
        key_write(K, CancelDeletion, err("KMSInvalidStateException")),
    );
    assert_validity(&verdict(&h, "key-state"), Validity::Valid);
    h.ok(2, 100, 110, key_write(K, ScheduleDeletion, done()));
    h.ok(2, 120, 130, key_use(K, err("DisabledException")));
    assert_anomaly(
        &verdict(&h, "key-state"),
        &["Encrypt k1 -> DisabledException", "process 2"],
    );
}

#[test]
fn registers_are_checked_separately() {
    let mut h = History::new();
    h.ok(1, 0, 10, key_write("a", Disable, done()));
    h.ok(2, 20, 30, key_read("b", Some(Ok(Enabled))));
    h.ok(2, 40, 50, key_read("a", Some(Ok(Disabled))));
    let v = verdict(&h, "key-state");
    assert_validity(&v, Validity::Valid);
    assert_eq!(v.stats["registers"], 2);
}

#[test]
fn a_search_over_its_step_limit_is_unknown_never_a_guess() {
    let mut h = History::new();
    for p in 0..6 {
        h.ok(
            p,
            0,
            100,
            key_write(K, if p % 2 == 0 { Disable } else { Enable }, done()),
        );
    }
    h.ok(9, 200, 210, key_read(K, Some(Ok(Disabled))));
    let tiny = CheckConfig {
        step_limit: 5,
        ..CheckConfig::default()
    };
    let v = verdict_with(&h, "key-state", &tiny);
    assert_validity(&v, Validity::Unknown);
    assert_eq!(v.stats["undecided"][0], "k1");
    assert_validity(&verdict(&h, "key-state"), Validity::Valid);
}

const A: &str = "alias/a";

#[test]
fn alias_read_missing_after_an_acknowledged_create_is_not_linearizable() {
    let mut h = History::new();
    h.ok(
        1,
        0,
        10,
        alias_write(A, AliasAction::Create, Some("k1"), done()),
    );
    h.ok(2, 20, 30, alias_read(A, err("NotFoundException")));
    assert_anomaly(
        &verdict(&h, "alias"),
        &["alias alias/a", "Encrypt via alias/a -> NotFoundException"],
    );
}

#[test]
fn alias_reads_cannot_go_back_to_the_old_target() {
    let mut h = History::new();
    h.ok(
        1,
        0,
        10,
        alias_write(A, AliasAction::Create, Some("k1"), done()),
    );
    h.ok(
        1,
        15,
        100,
        alias_write(A, AliasAction::Update, Some("k2"), done()),
    );
    h.ok(2, 20, 30, alias_read(A, Some(Ok("k1"))));
    h.ok(2, 40, 50, alias_read(A, Some(Ok("k2"))));
    assert_validity(&verdict(&h, "alias"), Validity::Valid);
    h.ok(2, 60, 70, alias_read(A, Some(Ok("k1"))));
    assert_anomaly(
        &verdict(&h, "alias"),
        &["Encrypt via alias/a -> key k1", "[0.060s, 0.070s]"],
    );
}

#[test]
fn concurrent_alias_creates_one_wins() {
    let mut h = History::new();
    h.ok(
        1,
        0,
        20,
        alias_write(A, AliasAction::Create, Some("k1"), done()),
    );
    h.ok(
        2,
        5,
        25,
        alias_write(
            A,
            AliasAction::Create,
            Some("k2"),
            err("AlreadyExistsException"),
        ),
    );
    h.info(3, 5, None, alias_write(A, AliasAction::Delete, None, None));
    h.ok(4, 30, 40, alias_read(A, Some(Ok("k1"))));
    h.ok(4, 50, 60, alias_read(A, err("NotFoundException")));
    assert_validity(&verdict(&h, "alias"), Validity::Valid);
    // Both creates acknowledged: impossible.
    h.ok(
        5,
        5,
        25,
        alias_write(A, AliasAction::Create, Some("k3"), done()),
    );
    assert_validity(&verdict(&h, "alias"), Validity::Invalid);
}

#[test]
fn identical_unknown_outcome_writes_can_each_take_effect() {
    let mut h = History::new();
    h.info(1, 0, None, key_write(K, Disable, None));
    h.info(2, 0, None, key_write(K, Enable, None));
    h.ok(4, 10, 20, key_read(K, Some(Ok(Disabled))));
    h.ok(4, 30, 40, key_read(K, Some(Ok(Enabled))));
    h.ok(4, 50, 60, key_read(K, Some(Ok(Disabled))));
    // One Disable cannot explain Disabled, Enabled, Disabled ...
    assert_anomaly(&verdict(&h, "key-state"), &["[0.050s, 0.060s]"]);
    // ... two can, though the search tries only the first of two identical pending writes.
    h.info(3, 5, None, key_write(K, Disable, None));
    assert_validity(&verdict(&h, "key-state"), Validity::Valid);
}
