//! The workloads: what each client invokes next, and how an operation of the history maps
//! to a KMS call and back. Every operation goes through [`Clients`], so through any node.
//!
//! - key-state register: Enable/Disable/ScheduleDeletion/CancelDeletion writes, DescribeKey
//!   and Encrypt reads, on a few keys;
//! - alias register: CreateAlias/UpdateAlias/DeleteAlias, read by Encrypt through the alias;
//! - ciphertext durability: Encrypt and GenerateDataKey results, all decrypted at the end,
//!   while the keys are rotated on demand now and then (so the ciphertexts span material
//!   versions);
//! - creation set: CreateKey and ListKeys;
//! - deletion schedule: ScheduleKeyDeletion (7-30 days) of fresh keys, read by DescribeKey,
//!   each stamped with the harness's wall clock (the clock nemesis moves the leader's by
//!   ±40 days, and a deletion is due only by the majority's clocks);
//! - authorization: admin clients (the account root) CreateGrant (Encrypt, for the grantee),
//!   RevokeGrant and PutKeyPolicy (allowing, silent on or denying the grantee's Encrypt) on a
//!   few keys, while user clients (the grantee, a user with no identity policy) Encrypt;
//! - signing: Sign with a few asymmetric keys, Verify of the signatures acknowledged earlier
//!   and of tampered ones, GetPublicKey (`signing`).

mod calls;
pub mod signing;

pub use calls::{execute, operation_name, Done};

use std::collections::BTreeMap;

use base64::engine::general_purpose::STANDARD as B64;
use base64::Engine;
use rand::seq::SliceRandom;
use rand::Rng;
use serde_json::json;

use crate::history::{AliasAction, GranteePolicy, KeyAction, Kind, Op};
use crate::nodes::ACCOUNT;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Workload {
    KeyState,
    Alias,
    Durability,
    CreationSet,
    Deletion,
    /// The authorization workload's admin clients (grants and key policies, as the root).
    AuthzAdmin,
    /// The authorization workload's user clients (Encrypt, as the grantee).
    AuthzUse,
    /// Sign, Verify (of earlier signatures, and tampered ones) and GetPublicKey.
    Signing,
}

pub const ALL: [Workload; 8] = [
    Workload::KeyState,
    Workload::Alias,
    Workload::Durability,
    Workload::CreationSet,
    Workload::Deletion,
    Workload::AuthzAdmin,
    Workload::AuthzUse,
    Workload::Signing,
];

/// The user the authorization workload grants to: it has no identity policy, so only a
/// grant or the key policy lets it use a key.
pub const GRANTEE: &str = "jepsen-grantee";

pub fn grantee_arn() -> String {
    format!("arn:aws:iam::{ACCOUNT}:user/{GRANTEE}")
}

/// The key policy text for `policy`: the account root's `kms:*` (so the root can put the
/// next one: the lockout check), and a statement allowing or denying the grantee's Encrypt,
/// or none.
pub fn key_policy(policy: GranteePolicy) -> String {
    let root = json!({
        "Sid": "root",
        "Effect": "Allow",
        "Principal": { "AWS": format!("arn:aws:iam::{ACCOUNT}:root") },
        "Action": "kms:*",
        "Resource": "*",
    });
    let grantee = |effect: &str| {
        json!({
            "Sid": "grantee",
            "Effect": effect,
            "Principal": { "AWS": grantee_arn() },
            "Action": "kms:Encrypt",
            "Resource": "*",
        })
    };
    let statements = match policy {
        GranteePolicy::Allows => vec![root, grantee("Allow")],
        GranteePolicy::Silent => vec![root],
        GranteePolicy::Denies => vec![root, grantee("Deny")],
    };
    json!({ "Version": "2012-10-17", "Statement": statements }).to_string()
}

/// What one client remembers between its operations (the authorization workload's admin
/// clients: the grants they made and have not revoked; the signing workload's: the
/// signatures trent acknowledged).
#[derive(Debug, Default)]
pub struct ClientState {
    /// (key, name, grant id) of each grant this client made and has not seen revoked.
    grants: Vec<(String, String, String)>,
    /// A CreateGrant of unknown outcome: asked again under its name, to learn its id.
    unsure: Option<(String, String)>,
    signatures: signing::Signatures,
}

impl ClientState {
    /// Learns from a completed operation of this client.
    pub fn observe(&mut self, kind: Kind, op: &Op) {
        if kind == Kind::Ok {
            self.signatures.observe(op);
        }
        match (kind, op) {
            (
                Kind::Ok,
                Op::CreateGrant {
                    key,
                    name,
                    grant_id: Some(Ok(id)),
                },
            ) => {
                self.grants.push((key.clone(), name.clone(), id.clone()));
                self.unsure = None;
            }
            (Kind::Info, Op::CreateGrant { key, name, .. }) => {
                self.unsure = Some((key.clone(), name.clone()))
            }
            (Kind::Ok, Op::CreateGrant { .. }) => self.unsure = None,
            (
                Kind::Ok,
                Op::RevokeGrant {
                    name,
                    result: Some(Ok(()) | Err(_)),
                    ..
                },
            ) => self.grants.retain(|(_, n, _)| n != name),
            _ => {}
        }
    }
}

/// The keys and aliases the workloads act on, made before the run starts.
#[derive(Debug, Clone, Default)]
pub struct Plan {
    pub register_keys: Vec<String>,
    pub aliases: Vec<String>,
    pub alias_targets: Vec<String>,
    pub durable_keys: Vec<String>,
    /// Fresh keys the deletion-schedule workload schedules for deletion.
    pub deletion_keys: Vec<String>,
    /// Keys of the authorization workload (each starts with the `Silent` policy).
    pub authz_keys: Vec<String>,
    /// Asymmetric SIGN_VERIFY keys of the signing workload, each with its algorithm.
    pub signing_keys: Vec<signing::SigningKey>,
    /// Put into every encryption context, so runs never mix.
    pub run_tag: String,
    /// The share of creation-set operations that are ListKeys (all pages, every key id in
    /// the history): smaller under heavy load, whose ten times the keys would otherwise
    /// make every read, and the history, a hundred times larger.
    pub list_share: f64,
}

impl Workload {
    pub fn name(self) -> &'static str {
        match self {
            Workload::KeyState => "key-state",
            Workload::Alias => "alias",
            Workload::Durability => "durability",
            Workload::CreationSet => "creation-set",
            Workload::Deletion => "deletion",
            Workload::AuthzAdmin => "authz-admin",
            Workload::AuthzUse => "authz-use",
            Workload::Signing => "signing",
        }
    }

    /// The next operation a client of this workload invokes.
    pub fn next_op(self, plan: &Plan, state: &mut ClientState, rng: &mut impl Rng, seq: u64) -> Op {
        match self {
            Workload::KeyState => key_state_op(plan, rng),
            Workload::Alias => alias_op(plan, rng),
            Workload::Durability => durability_op(plan, rng, seq),
            Workload::CreationSet => {
                if !rng.gen_bool(plan.list_share) {
                    Op::CreateKey { key: None }
                } else {
                    Op::ListKeys {
                        final_read: false,
                        keys: None,
                    }
                }
            }
            Workload::Deletion => deletion_op(plan, rng),
            Workload::AuthzAdmin => authz_admin_op(plan, state, rng),
            Workload::AuthzUse => Op::GranteeEncrypt {
                key: plan.authz_keys.choose(rng).expect("authz keys").clone(),
                result: None,
            },
            Workload::Signing => signing::next_op(&plan.signing_keys, &state.signatures, rng),
        }
    }
}

/// A third of the time a key policy (each of the three alike); otherwise, on a random key,
/// a grant: revoke one this client holds there (more likely the more it holds), or create
/// one. A CreateGrant of unknown outcome is asked again first.
fn authz_admin_op(plan: &Plan, state: &ClientState, rng: &mut impl Rng) -> Op {
    if let Some((key, name)) = &state.unsure {
        return Op::CreateGrant {
            key: key.clone(),
            name: name.clone(),
            grant_id: None,
        };
    }
    let key = plan.authz_keys.choose(rng).expect("authz keys").clone();
    if rng.gen_bool(1.0 / 3.0) {
        let policy = *[
            GranteePolicy::Allows,
            GranteePolicy::Silent,
            GranteePolicy::Denies,
        ]
        .choose(rng)
        .expect("policies");
        return Op::PutKeyPolicy {
            key,
            policy,
            result: None,
        };
    }
    let held: Vec<&(String, String, String)> =
        state.grants.iter().filter(|(k, _, _)| *k == key).collect();
    if !held.is_empty() && rng.gen_bool((0.5 * held.len() as f64).min(1.0)) {
        let (_, name, id) = held[0];
        return Op::RevokeGrant {
            key,
            name: name.clone(),
            grant_id: id.clone(),
            result: None,
        };
    }
    Op::CreateGrant {
        key,
        name: format!("jepsen-{}", uuid::Uuid::new_v4().simple()),
        grant_id: None,
    }
}

fn deletion_op(plan: &Plan, rng: &mut impl Rng) -> Op {
    let key = plan
        .deletion_keys
        .choose(rng)
        .expect("deletion keys")
        .clone();
    if rng.gen_bool(0.3) {
        Op::ScheduleDeletion {
            key,
            days: rng.gen_range(7..=30),
            at_ms: wall_ms(),
            deletion_date: None,
        }
    } else {
        Op::DeletionRead {
            key,
            at_ms: wall_ms(),
            final_read: false,
            state: None,
        }
    }
}

/// The harness's wall clock, ms since the Unix epoch: the majority's time (the clock nemesis
/// skews only nodes, at most half of them).
pub fn wall_ms() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_millis() as u64)
}

fn key_state_op(plan: &Plan, rng: &mut impl Rng) -> Op {
    let key = plan
        .register_keys
        .choose(rng)
        .expect("register keys")
        .clone();
    match rng.gen_range(0..100) {
        0..=11 => write(key, KeyAction::Enable),
        12..=21 => write(key, KeyAction::Disable),
        22..=26 => write(key, KeyAction::ScheduleDeletion),
        27..=33 => write(key, KeyAction::CancelDeletion),
        34..=66 => Op::KeyRead { key, state: None },
        _ => Op::KeyUse { key, result: None },
    }
}

fn write(key: String, action: KeyAction) -> Op {
    Op::KeyWrite {
        key,
        action,
        result: None,
    }
}

fn alias_op(plan: &Plan, rng: &mut impl Rng) -> Op {
    let alias = plan.aliases.choose(rng).expect("aliases").clone();
    let target = Some(plan.alias_targets.choose(rng).expect("targets").clone());
    let (action, target) = match rng.gen_range(0..100) {
        0..=14 => (AliasAction::Create, target),
        15..=34 => (AliasAction::Update, target),
        35..=44 => (AliasAction::Delete, None),
        _ => {
            return Op::AliasRead {
                alias,
                target: None,
            }
        }
    };
    Op::AliasWrite {
        alias,
        action,
        target,
        result: None,
    }
}

fn durability_op(plan: &Plan, rng: &mut impl Rng, seq: u64) -> Op {
    let key = plan.durable_keys.choose(rng).expect("durable keys").clone();
    // Rare: a key takes 25 on-demand rotations in its life (AWS's limit); past that they are
    // refused, harmlessly.
    if rng.gen_bool(0.02) {
        return Op::RotateKey { key, result: None };
    }
    let context = BTreeMap::from([
        ("jepsen-run".to_owned(), plan.run_tag.clone()),
        ("n".to_owned(), seq.to_string()),
    ]);
    if rng.gen_bool(0.5) {
        let len = rng.gen_range(1..=64);
        let plaintext: Vec<u8> = (0..len).map(|_| rng.gen()).collect();
        Op::Encrypt {
            key,
            context,
            plaintext: B64.encode(plaintext),
            ciphertext: None,
        }
    } else {
        Op::GenerateDataKey {
            key,
            context,
            data_key: None,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::history::Answer;
    use serde_json::Value;

    fn plan() -> Plan {
        Plan {
            authz_keys: vec!["k1".into()],
            ..Plan::default()
        }
    }

    #[test]
    fn an_admin_client_revokes_only_grants_it_made_and_asks_an_unsure_one_again() {
        let (plan, mut rng) = (plan(), rand::thread_rng());
        let mut state = ClientState::default();
        for _ in 0..50 {
            let op = Workload::AuthzAdmin.next_op(&plan, &mut state, &mut rng, 0);
            assert!(
                !matches!(op, Op::RevokeGrant { .. }),
                "nothing to revoke: {op:?}"
            );
        }
        let made = |name: &str, id: Option<Answer<String>>| Op::CreateGrant {
            key: "k1".into(),
            name: name.into(),
            grant_id: id,
        };
        state.observe(Kind::Ok, &made("g1", Some(Ok("id1".into()))));
        let revoke = (0..200)
            .map(|_| Workload::AuthzAdmin.next_op(&plan, &mut state, &mut rng, 0))
            .find(|op| matches!(op, Op::RevokeGrant { .. }))
            .expect("a revocation of the grant held");
        let Op::RevokeGrant { name, grant_id, .. } = &revoke else {
            unreachable!()
        };
        assert_eq!((name.as_str(), grant_id.as_str()), ("g1", "id1"));
        let revoked = Op::RevokeGrant {
            key: "k1".into(),
            name: "g1".into(),
            grant_id: "id1".into(),
            result: Some(Err("NotFoundException".into())),
        };
        state.observe(Kind::Ok, &revoked);
        assert!(state.grants.is_empty());

        state.observe(Kind::Info, &made("g2", None));
        let again = Workload::AuthzAdmin.next_op(&plan, &mut state, &mut rng, 0);
        assert_eq!(again, made("g2", None), "the same grant, by its name");
        state.observe(Kind::Ok, &made("g2", Some(Ok("id2".into()))));
        assert!(state.unsure.is_none());
        assert_eq!(state.grants, vec![("k1".into(), "g2".into(), "id2".into())]);
    }

    #[test]
    fn the_three_policies_keep_the_root_and_say_what_they_say_of_the_grantee() {
        for policy in [
            GranteePolicy::Allows,
            GranteePolicy::Silent,
            GranteePolicy::Denies,
        ] {
            let doc: Value = serde_json::from_str(&key_policy(policy)).unwrap();
            let statements = doc["Statement"].as_array().unwrap();
            assert_eq!(statements[0]["Action"], "kms:*");
            assert_eq!(
                statements[0]["Principal"]["AWS"],
                format!("arn:aws:iam::{ACCOUNT}:root")
            );
            let grantee: Vec<&str> = statements[1..]
                .iter()
                .map(|s| s["Effect"].as_str().unwrap())
                .collect();
            let expected: &[&str] = match policy {
                GranteePolicy::Allows => &["Allow"],
                GranteePolicy::Silent => &[],
                GranteePolicy::Denies => &["Deny"],
            };
            assert_eq!(grantee, expected);
        }
    }
}
