use crate::check::testkit::*;
use crate::check::Validity;
use crate::history::KeyState::PendingDeletion;

use super::{assert_anomaly, assert_validity, verdict};

const CHECKER: &str = "early-deletion";
const DAY: u64 = 24 * 3600 * 1000;
const T0: u64 = 1_800_000_000_000;

#[test]
fn a_key_pending_deletion_until_its_date_is_valid() {
    let mut h = History::new();
    h.ok(
        1,
        0,
        10,
        schedule_deletion("k1", 7, T0, Some(Ok(T0 + 7 * DAY))),
    );
    h.ok(
        2,
        20,
        30,
        deletion_read("k1", T0 + 20, Some(Ok(PendingDeletion))),
    );
    // Gone once its date has passed by the harness's clock.
    h.ok(
        2,
        40,
        50,
        deletion_read("k1", T0 + 7 * DAY, err("NotFoundException")),
    );
    assert_validity(&verdict(&h, CHECKER), Validity::Valid);
}

#[test]
fn a_key_gone_before_its_date_is_flagged() {
    let mut h = History::new();
    // The answered date came from a clock 40 days ahead: later, harmless in itself.
    h.ok(
        1,
        0,
        10,
        schedule_deletion("k1", 7, T0, Some(Ok(T0 + 47 * DAY))),
    );
    h.ok(
        2,
        20,
        30,
        deletion_read("k1", T0 + 20, err("NotFoundException")),
    );
    assert_anomaly(
        &verdict(&h, CHECKER),
        &[
            "key k1",
            "DescribeKey k1 -> NotFoundException",
            "7.0 days before",
        ],
    );
}

#[test]
fn a_deletion_date_from_a_clock_far_behind_is_flagged() {
    let mut h = History::new();
    h.ok(
        1,
        0,
        10,
        schedule_deletion("k1", 30, T0, Some(Ok(T0 - 10 * DAY))),
    );
    assert_anomaly(&verdict(&h, CHECKER), &["key k1", "40.0 days before"]);
}

#[test]
fn an_unscheduled_or_refused_key_must_not_vanish() {
    let mut h = History::new();
    h.ok(
        1,
        0,
        10,
        schedule_deletion("k1", 7, T0, err("KMSInvalidStateException")),
    );
    h.ok(
        2,
        20,
        30,
        deletion_read("k1", T0 + 8 * DAY, err("NotFoundException")),
    );
    assert_anomaly(
        &verdict(&h, CHECKER),
        &["key k1", "no deletion of it was scheduled"],
    );
}

#[test]
fn a_schedule_of_unknown_outcome_may_have_set_the_date() {
    let mut h = History::new();
    h.info(1, 0, Some(10), schedule_deletion("k1", 7, T0, None));
    h.ok(
        2,
        20,
        30,
        deletion_read("k1", T0 + 7 * DAY + 1, err("NotFoundException")),
    );
    assert_validity(&verdict(&h, CHECKER), Validity::Valid);
}
