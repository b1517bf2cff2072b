use crate::check::testkit::*;
use crate::check::Validity;
use crate::history::GranteePolicy::*;

use super::{assert_anomaly, assert_validity, verdict};

const CHECKER: &str = "authorization";
const DENIED: &str = "AccessDeniedException";

#[test]
fn grants_revocations_and_policies_honoured_with_concurrency_are_valid() {
    let mut h = History::new();
    // Refused before any grant; the grant, acknowledged, works on every node.
    h.ok_on(1, 1, 0, 5, grantee_encrypt("k1", err(DENIED)));
    h.ok(2, 10, 20, create_grant("k1", "g1", Some(Ok("id-of-g1"))));
    h.ok_on(2, 1, 21, 25, grantee_encrypt("k1", done()));
    h.ok_on(3, 1, 26, 30, grantee_encrypt("k1", done()));
    // Concurrent with the revocation: either answer.
    h.ok(2, 40, 50, revoke_grant("k1", "g1", done()));
    h.ok(1, 41, 45, grantee_encrypt("k1", done()));
    h.ok(3, 42, 49, grantee_encrypt("k1", err(DENIED)));
    // After it: refused.
    h.ok(1, 51, 55, grantee_encrypt("k1", err(DENIED)));
    // An allowing policy lets the grantee in without a grant; a denying one keeps it out
    // even with a grant.
    h.ok(2, 60, 70, put_policy("k1", Allows, done()));
    h.ok(1, 71, 75, grantee_encrypt("k1", done()));
    h.ok(2, 80, 90, create_grant("k1", "g2", Some(Ok("id-of-g2"))));
    h.ok(2, 91, 95, put_policy("k1", Denies, done()));
    h.ok(1, 96, 99, grantee_encrypt("k1", err(DENIED)));
    // A denying policy put with an unknown outcome may take effect any time later.
    h.ok(2, 100, 105, put_policy("k1", Silent, done()));
    h.info(4, 106, Some(110), put_policy("k1", Denies, None));
    h.ok(1, 200, 205, grantee_encrypt("k1", err(DENIED)));
    // A CreateGrant of unknown outcome may take effect any time later, even after its
    // name's grant was revoked (a late duplicate makes it again).
    h.info(5, 300, Some(301), create_grant("k2", "g3", None));
    h.ok(6, 302, 303, create_grant("k2", "g3", Some(Ok("id-of-g3"))));
    h.ok(6, 304, 305, revoke_grant("k2", "g3", done()));
    h.ok(1, 400, 405, grantee_encrypt("k2", done()));
    // A revocation answered NotFound (already gone) and a failed one.
    h.ok(
        6,
        410,
        411,
        revoke_grant("k2", "g3", err("NotFoundException")),
    );
    h.fail(6, 412, 413, put_policy("k2", Allows, None));
    h.ok(1, 420, 425, grantee_encrypt("k2", done()));
    let v = verdict(&h, CHECKER);
    assert_validity(&v, Validity::Valid);
    assert_eq!(v.stats["succeeded"], 6, "{}", v.stats);
    assert_eq!(v.stats["refused"], 5, "{}", v.stats);
    assert!(
        v.stats["required_refusal"].as_u64().unwrap() >= 3,
        "{}",
        v.stats
    );
    assert!(
        v.stats["required_success"].as_u64().unwrap() >= 3,
        "{}",
        v.stats
    );
}

#[test]
fn a_success_after_an_acknowledged_revocation_is_flagged_with_its_node() {
    let mut h = History::new();
    h.ok(2, 0, 10, create_grant("k1", "g1", Some(Ok("id-of-g1"))));
    h.ok(2, 20, 30, revoke_grant("k1", "g1", done()));
    h.ok_on(4, 1, 31, 35, grantee_encrypt("k1", done()));
    assert_anomaly(
        &verdict(&h, CHECKER),
        &[
            "key k1",
            "node 4 served grantee Encrypt k1 -> ok",
            "RevokeGrant g1",
            "no grant could be live",
        ],
    );
}

#[test]
fn a_success_under_an_acknowledged_denying_policy_is_flagged_despite_a_grant() {
    let mut h = History::new();
    h.ok(2, 0, 10, create_grant("k1", "g1", Some(Ok("id-of-g1"))));
    h.ok(2, 20, 30, put_policy("k1", Allows, done()));
    h.ok(2, 40, 50, put_policy("k1", Denies, done()));
    h.ok_on(3, 1, 55, 60, grantee_encrypt("k1", done()));
    assert_anomaly(
        &verdict(&h, CHECKER),
        &[
            "node 3 served grantee Encrypt k1 -> ok",
            "PutKeyPolicy k1 (denying the grantee) -> ok",
        ],
    );

    // A silent policy after an allowing one takes the access away too.
    let mut silent = History::new();
    silent.ok(2, 0, 10, put_policy("k1", Allows, done()));
    silent.ok(1, 11, 12, grantee_encrypt("k1", done()));
    silent.ok(2, 20, 30, put_policy("k1", Silent, done()));
    silent.ok(1, 31, 32, grantee_encrypt("k1", done()));
    let v = verdict(&silent, CHECKER);
    assert_anomaly(&v, &["PutKeyPolicy k1 (silent on the grantee) -> ok"]);
    assert_eq!(v.stats["anomalies"], 1);
}

#[test]
fn a_refusal_under_an_acknowledged_live_grant_is_flagged() {
    let mut h = History::new();
    h.ok(2, 0, 10, create_grant("k1", "g1", Some(Ok("id-of-g1"))));
    // Another grant's revocation and an allowing policy change nothing about g1.
    h.ok(3, 0, 10, create_grant("k1", "g2", Some(Ok("id-of-g2"))));
    h.ok(3, 12, 18, revoke_grant("k1", "g2", done()));
    h.ok(3, 19, 25, put_policy("k1", Allows, done()));
    h.ok_on(5, 1, 15, 20, grantee_encrypt("k1", err(DENIED)));
    assert_anomaly(
        &verdict(&h, CHECKER),
        &[
            "node 5 refused grantee Encrypt k1 -> AccessDeniedException",
            "CreateGrant g1 on k1",
            "live throughout",
        ],
    );
}

#[test]
fn a_refusal_is_excused_by_a_revocation_or_denying_policy_invoked_before_it_ended() {
    let mut revoked = History::new();
    revoked.ok(2, 0, 10, create_grant("k1", "g1", Some(Ok("id-of-g1"))));
    revoked.info(2, 18, None, revoke_grant("k1", "g1", None));
    revoked.ok(1, 15, 20, grantee_encrypt("k1", err(DENIED)));
    assert_validity(&verdict(&revoked, CHECKER), Validity::Valid);

    let mut denied = History::new();
    denied.ok(2, 0, 10, create_grant("k1", "g1", Some(Ok("id-of-g1"))));
    denied.ok(3, 18, 30, put_policy("k1", Denies, done()));
    denied.ok(1, 15, 20, grantee_encrypt("k1", err(DENIED)));
    assert_validity(&verdict(&denied, CHECKER), Validity::Valid);

    // A grant whose CreateGrant has not been acknowledged when the Encrypt starts.
    let mut early = History::new();
    early.ok(2, 0, 10, create_grant("k1", "g1", Some(Ok("id-of-g1"))));
    early.ok(1, 5, 20, grantee_encrypt("k1", err(DENIED)));
    assert_validity(&verdict(&early, CHECKER), Validity::Valid);
}
