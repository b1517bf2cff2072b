//! How an operation of the history maps to a KMS call and back: the request each `Op` sends,
//! through [`Clients`] (so through any node), and the `Op` its answer completes.

use base64::engine::general_purpose::STANDARD as B64;
use base64::Engine;
use serde_json::{json, Value};

use super::{grantee_arn, key_policy, signing};
use crate::client::{Clients, Outcome};
use crate::history::{AliasAction, Answer, DataKey, KeyAction, KeyState, Kind, Op};

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
