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

pub mod signing;

use std::collections::BTreeMap;

use base64::engine::general_purpose::STANDARD as B64;
use base64::Engine;
use rand::seq::SliceRandom;
use rand::Rng;
use serde_json::{json, Value};

use crate::client::{Clients, Outcome};
use crate::history::{AliasAction, Answer, DataKey, GranteePolicy, KeyAction, KeyState, Kind, Op};
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

/// How an operation completed: the kind, the op with its outputs, the node, for
/// `Fail`/`Info` why, and the request id of the attempt that was answered or refused.
pub struct Done {
    pub kind: Kind,
    pub op: Op,
    pub node: Option<u64>,
    pub error: Option<String>,
    pub request_id: Option<String>,
}

/// Runs `op` and answers how it completed.
pub async fn execute(clients: &Clients, op: &Op) -> Done {
    let (name, input) = request(op);
    let outcome = if name == "ListKeys" {
        list_keys(clients).await
    } else {
        clients.call(name, &input).await
    };
    let done = |kind, op, node, error, request_id| Done {
        kind,
        op,
        node,
        error,
        request_id,
    };
    match outcome {
        Outcome::Answered {
            node,
            answer,
            request_id,
        } => match complete(op, answer) {
            Ok(ok) => done(Kind::Ok, ok, Some(node), None, request_id),
            Err(e) => done(Kind::Info, op.clone(), Some(node), Some(e), request_id),
        },
        Outcome::NotApplied {
            node,
            error,
            request_id,
        } => done(Kind::Fail, op.clone(), node, Some(error), request_id),
        Outcome::Unknown { node, error } => done(Kind::Info, op.clone(), node, Some(error), None),
    }
}

/// The KMS operation `op` calls (its audit event's `eventName`).
pub fn operation_name(op: &Op) -> &'static str {
    request(op).0
}

/// The KMS operation and input for `op`.
fn request(op: &Op) -> (&'static str, Value) {
    let probe = B64.encode(b"jepsen");
    match op {
        Op::KeyWrite { key, action, .. } => match action {
            KeyAction::Enable => ("EnableKey", json!({ "KeyId": key })),
            KeyAction::Disable => ("DisableKey", json!({ "KeyId": key })),
            KeyAction::ScheduleDeletion => (
                "ScheduleKeyDeletion",
                json!({ "KeyId": key, "PendingWindowInDays": 7 }),
            ),
            KeyAction::CancelDeletion => ("CancelKeyDeletion", json!({ "KeyId": key })),
        },
        Op::KeyRead { key, .. } => ("DescribeKey", json!({ "KeyId": key })),
        Op::KeyUse { key, .. } => ("Encrypt", json!({ "KeyId": key, "Plaintext": probe })),
        Op::AliasWrite {
            alias,
            action,
            target,
            ..
        } => match action {
            AliasAction::Create => (
                "CreateAlias",
                json!({ "AliasName": alias, "TargetKeyId": target }),
            ),
            AliasAction::Update => (
                "UpdateAlias",
                json!({ "AliasName": alias, "TargetKeyId": target }),
            ),
            AliasAction::Delete => ("DeleteAlias", json!({ "AliasName": alias })),
        },
        Op::AliasRead { alias, .. } => ("Encrypt", json!({ "KeyId": alias, "Plaintext": probe })),
        Op::Encrypt {
            key,
            context,
            plaintext,
            ..
        } => (
            "Encrypt",
            json!({ "KeyId": key, "Plaintext": plaintext, "EncryptionContext": context }),
        ),
        Op::GenerateDataKey { key, context, .. } => (
            "GenerateDataKey",
            json!({ "KeyId": key, "NumberOfBytes": 32, "EncryptionContext": context }),
        ),
        Op::Decrypt {
            ciphertext,
            context,
            ..
        } => (
            "Decrypt",
            json!({ "CiphertextBlob": ciphertext, "EncryptionContext": context }),
        ),
        Op::RotateKey { key, .. } => ("RotateKeyOnDemand", json!({ "KeyId": key })),
        Op::CreateKey { .. } => ("CreateKey", json!({ "Description": "jepsen creation set" })),
        Op::ListKeys { .. } => ("ListKeys", json!({})),
        Op::ScheduleDeletion { key, days, .. } => (
            "ScheduleKeyDeletion",
            json!({ "KeyId": key, "PendingWindowInDays": days }),
        ),
        Op::DeletionRead { key, .. } => ("DescribeKey", json!({ "KeyId": key })),
        Op::CreateGrant { key, name, .. } => (
            "CreateGrant",
            json!({
                "KeyId": key,
                "GranteePrincipal": grantee_arn(),
                "Operations": ["Encrypt"],
                "Name": name,
            }),
        ),
        Op::RevokeGrant { key, grant_id, .. } => {
            ("RevokeGrant", json!({ "KeyId": key, "GrantId": grant_id }))
        }
        Op::PutKeyPolicy { key, policy, .. } => (
            "PutKeyPolicy",
            json!({ "KeyId": key, "PolicyName": "default", "Policy": key_policy(*policy) }),
        ),
        Op::GranteeEncrypt { key, .. } => ("Encrypt", json!({ "KeyId": key, "Plaintext": probe })),
        Op::Sign { .. } | Op::Verify { .. } | Op::GetPublicKey { .. } => {
            signing::request(op).expect("a signing op")
        }
    }
}

/// `op` with the service's answer filled in; `Err` when the answer makes no sense for it.
fn complete(op: &Op, answer: Result<Value, String>) -> Result<Op, String> {
    let mut done = op.clone();
    match &mut done {
        Op::KeyWrite { result, .. }
        | Op::KeyUse { result, .. }
        | Op::RevokeGrant { result, .. }
        | Op::PutKeyPolicy { result, .. }
        | Op::RotateKey { result, .. }
        | Op::GranteeEncrypt { result, .. } => {
            *result = Some(answer.map(|_| ()));
        }
        Op::CreateGrant { grant_id, .. } => *grant_id = Some(field(answer, "GrantId")?),
        Op::KeyRead { state, .. } | Op::DeletionRead { state, .. } => {
            *state = Some(read_state(answer)?)
        }
        Op::ScheduleDeletion { deletion_date, .. } => {
            *deletion_date = Some(match answer {
                Ok(v) => Ok(v["DeletionDate"]
                    .as_f64()
                    .map(|s| (s * 1000.0) as u64)
                    .ok_or("ScheduleKeyDeletion answered no DeletionDate")?),
                Err(code) => Err(code),
            })
        }
        Op::AliasWrite { result, .. } => *result = Some(answer.map(|_| ())),
        Op::AliasRead { target, .. } => *target = Some(resolved_key(answer)?),
        Op::Encrypt { ciphertext, .. } => *ciphertext = Some(field(answer, "CiphertextBlob")?),
        Op::GenerateDataKey { data_key, .. } => {
            *data_key = Some(match answer {
                Ok(v) => Ok(DataKey {
                    plaintext: string(&v, "Plaintext")?,
                    ciphertext: string(&v, "CiphertextBlob")?,
                }),
                Err(code) => Err(code),
            })
        }
        Op::Decrypt { plaintext, .. } => *plaintext = Some(field(answer, "Plaintext")?),
        Op::Sign { signature, .. } => *signature = Some(field(answer, "Signature")?),
        Op::GetPublicKey { public_key, .. } => *public_key = Some(field(answer, "PublicKey")?),
        Op::Verify { valid, .. } => {
            *valid = Some(match answer {
                Ok(v) => Ok(v["SignatureValid"]
                    .as_bool()
                    .ok_or("Verify answered no SignatureValid")?),
                Err(code) => Err(code),
            })
        }
        Op::CreateKey { key } => {
            *key = Some(match answer {
                Ok(v) => Ok(v["KeyMetadata"]["KeyId"]
                    .as_str()
                    .ok_or("CreateKey answered no KeyId")?
                    .to_owned()),
                Err(code) => Err(code),
            })
        }
        Op::ListKeys { keys, .. } => {
            *keys = Some(match answer {
                Ok(v) => Ok(serde_json::from_value(v).map_err(|e| e.to_string())?),
                Err(code) => Err(code),
            })
        }
    }
    Ok(done)
}

fn read_state(answer: Result<Value, String>) -> Result<Answer<KeyState>, String> {
    let v = match answer {
        Ok(v) => v,
        Err(code) => return Ok(Err(code)),
    };
    match v["KeyMetadata"]["KeyState"].as_str() {
        Some("Enabled") => Ok(Ok(KeyState::Enabled)),
        Some("Disabled") => Ok(Ok(KeyState::Disabled)),
        Some("PendingDeletion") => Ok(Ok(KeyState::PendingDeletion)),
        other => Err(format!("DescribeKey answered KeyState {other:?}")),
    }
}

/// The key id an Encrypt through an alias used (its answer's `KeyId` is the key ARN).
fn resolved_key(answer: Result<Value, String>) -> Result<Answer<String>, String> {
    match answer {
        Ok(v) => {
            let arn = string(&v, "KeyId")?;
            let id = arn.rsplit_once("key/").map(|(_, id)| id).unwrap_or(&arn);
            Ok(Ok(id.to_owned()))
        }
        Err(code) => Ok(Err(code)),
    }
}

fn field(answer: Result<Value, String>, name: &str) -> Result<Answer<String>, String> {
    match answer {
        Ok(v) => Ok(Ok(string(&v, name)?)),
        Err(code) => Ok(Err(code)),
    }
}

fn string(v: &Value, name: &str) -> Result<String, String> {
    v[name]
        .as_str()
        .map(str::to_owned)
        .ok_or_else(|| format!("the answer has no {name}"))
}

/// ListKeys, every page; one outcome for the whole read (the first page that fails ends it).
async fn list_keys(clients: &Clients) -> Outcome {
    let mut ids: Vec<String> = vec![];
    let mut marker: Option<String> = None;
    loop {
        let mut input = json!({ "Limit": 1000 });
        if let Some(m) = &marker {
            input["Marker"] = json!(m);
        }
        let (node, page) = match clients.call("ListKeys", &input).await {
            Outcome::Answered {
                node,
                answer: Ok(page),
                ..
            } => (node, page),
            other => return other,
        };
        for key in page["Keys"].as_array().into_iter().flatten() {
            if let Some(id) = key["KeyId"].as_str() {
                ids.push(id.to_owned());
            }
        }
        match page["NextMarker"].as_str() {
            Some(m) if page["Truncated"] == json!(true) => marker = Some(m.to_owned()),
            _ => {
                // Several requests, several events: the read as a whole names none.
                return Outcome::Answered {
                    node,
                    answer: Ok(json!(ids)),
                    request_id: None,
                };
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

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
