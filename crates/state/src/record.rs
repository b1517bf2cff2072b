//! The state as records: the byte form that RocksDB and snapshots hold.
//!
//! A record key is one tag byte and the entity's identity; its value is the bincode form of the
//! entity. Keys sort by tag, so each kind of record is one contiguous range.

use serde::de::DeserializeOwned;
use serde::Serialize;
use uuid::Uuid;

use trent_model::{
    AccessKeyRecord, AccountId, AliasName, AliasRecord, GrantRecord, KeyId, KeyImportRecord,
    KeyRecord, KeyRotationRecord, Millis, PendingMaterial, UserName, UserRecord,
};

use crate::key_access::KeyPolicyRecord;
use crate::user_policies::UserPolicyRecord;
use crate::{AuditTip, RequestId, Response, State};

const TAG_CLOCK: u8 = b'c';
const TAG_KEY: u8 = b'k';
const TAG_ALIAS: u8 = b'a';
const TAG_REQUEST: u8 = b'r';
const TAG_USER: u8 = b'u';
const TAG_ACCESS_KEY: u8 = b'x';
const TAG_RESTORE: u8 = b'b';
const TAG_RESTORE_PART: u8 = b'p';
const TAG_BOOTSTRAPPED: u8 = b'o';
const TAG_INCARNATION: u8 = b'n';
const TAG_IDENTITY: u8 = b'i';
const TAG_KEY_POLICY: u8 = b'y';
const TAG_GRANT: u8 = b'g';
const TAG_USER_POLICY: u8 = b'q';
const TAG_USER_POLICIES_ERA: u8 = b'e';
const TAG_KEY_ROTATION: u8 = b't';
const TAG_KEY_IMPORT: u8 = b'm';
const TAG_PENDING_MATERIAL: u8 = b'v';
const TAG_AUDIT_TIP: u8 = b'l';
const TAG_RETIRED_AUDIT_KEYS: u8 = b'd';

/// The identity of one stored record.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub enum RecordKey {
    Clock,
    Key(KeyId),
    Alias(AccountId, AliasName),
    Request(RequestId),
    User(AccountId, UserName),
    AccessKey(String),
    /// The restore being staged, if any.
    Restore,
    /// One staged part of it.
    RestorePart(u32),
    /// Present once the cluster is bootstrapped.
    Bootstrapped,
    /// The data-dir incarnation recorded for a node id.
    Incarnation(u64),
    /// The cluster's identity, once recorded.
    ClusterIdentity,
    /// A key's policy, when it has one of its own.
    KeyPolicy(KeyId),
    /// One grant on a key, by grant id.
    Grant(KeyId, String),
    /// A user's inline policy: account, user name, policy name.
    UserPolicy(AccountId, UserName, String),
    /// Present once the user policies era began (`user_policies.rs`).
    UserPoliciesEra,
    /// A key's rotation schedule and history (`rotation.rs`).
    KeyRotation(KeyId),
    /// An EXTERNAL key's imports (`import.rs`).
    KeyImport(KeyId),
    /// An EXTERNAL key's material imported for a rotation, not yet current (`import.rs`).
    PendingMaterial(KeyId),
    /// The audit public keys of domain keys the cluster switched away from (`rewrap.rs`).
    RetiredAuditKeys,
    /// Where the audit chain stands (`audit.rs`); the batches live in their own column family.
    AuditTip,
}

/// A record that cannot be decoded: the data dir or snapshot is corrupt or of another format.
#[derive(Debug, thiserror::Error)]
#[error("undecodable state record {key:?}: {reason}")]
pub struct DecodeError {
    pub key: Vec<u8>,
    pub reason: String,
}

impl RecordKey {
    pub fn encode(&self) -> Vec<u8> {
        match self {
            RecordKey::Clock => vec![TAG_CLOCK],
            RecordKey::Key(id) => tagged(TAG_KEY, id.as_bytes()),
            // The account id is fixed-width (12 digits), so no separator is needed.
            RecordKey::Alias(account, name) => {
                tagged(TAG_ALIAS, format!("{account}{name}").as_bytes())
            }
            RecordKey::Request(id) => tagged(TAG_REQUEST, id.0.as_bytes()),
            RecordKey::User(account, name) => {
                tagged(TAG_USER, format!("{account}{name}").as_bytes())
            }
            RecordKey::AccessKey(id) => tagged(TAG_ACCESS_KEY, id.as_bytes()),
            RecordKey::Restore => vec![TAG_RESTORE],
            RecordKey::RestorePart(i) => tagged(TAG_RESTORE_PART, &i.to_be_bytes()),
            RecordKey::Bootstrapped => vec![TAG_BOOTSTRAPPED],
            RecordKey::Incarnation(node) => tagged(TAG_INCARNATION, &node.to_be_bytes()),
            RecordKey::ClusterIdentity => vec![TAG_IDENTITY],
            RecordKey::KeyPolicy(id) => tagged(TAG_KEY_POLICY, id.as_bytes()),
            // The key id is fixed-width (16 bytes), so no separator is needed.
            RecordKey::Grant(id, grant) => {
                let mut body = id.as_bytes().to_vec();
                body.extend_from_slice(grant.as_bytes());
                tagged(TAG_GRANT, &body)
            }
            // Neither a user name nor a policy name can hold a '/'.
            RecordKey::UserPolicy(account, user, name) => tagged(
                TAG_USER_POLICY,
                format!("{account}{user}/{name}").as_bytes(),
            ),
            RecordKey::UserPoliciesEra => vec![TAG_USER_POLICIES_ERA],
            RecordKey::KeyRotation(id) => tagged(TAG_KEY_ROTATION, id.as_bytes()),
            RecordKey::KeyImport(id) => tagged(TAG_KEY_IMPORT, id.as_bytes()),
            RecordKey::PendingMaterial(id) => tagged(TAG_PENDING_MATERIAL, id.as_bytes()),
            RecordKey::AuditTip => vec![TAG_AUDIT_TIP],
            RecordKey::RetiredAuditKeys => vec![TAG_RETIRED_AUDIT_KEYS],
        }
    }

    /// Keys, aliases, users, access keys and users' inline policies: what a backup holds.
    pub fn is_entity(&self) -> bool {
        matches!(
            self,
            RecordKey::Key(_)
                | RecordKey::Alias(..)
                | RecordKey::User(..)
                | RecordKey::AccessKey(_)
                | RecordKey::KeyPolicy(_)
                | RecordKey::Grant(..)
                | RecordKey::UserPolicy(..)
                | RecordKey::KeyRotation(_)
                | RecordKey::KeyImport(_)
                | RecordKey::PendingMaterial(_)
        )
    }

    pub fn decode(bytes: &[u8]) -> Result<RecordKey, DecodeError> {
        let bad = |reason: &str| DecodeError {
            key: bytes.to_vec(),
            reason: reason.into(),
        };
        let (&tag, body) = bytes.split_first().ok_or_else(|| bad("empty key"))?;
        let uuid = || Uuid::from_slice(body).map_err(|_| bad("bad uuid"));
        match tag {
            TAG_CLOCK if body.is_empty() => Ok(RecordKey::Clock),
            TAG_RESTORE if body.is_empty() => Ok(RecordKey::Restore),
            TAG_BOOTSTRAPPED if body.is_empty() => Ok(RecordKey::Bootstrapped),
            TAG_IDENTITY if body.is_empty() => Ok(RecordKey::ClusterIdentity),
            TAG_USER_POLICIES_ERA if body.is_empty() => Ok(RecordKey::UserPoliciesEra),
            TAG_AUDIT_TIP if body.is_empty() => Ok(RecordKey::AuditTip),
            TAG_RETIRED_AUDIT_KEYS if body.is_empty() => Ok(RecordKey::RetiredAuditKeys),
            TAG_USER_POLICY => {
                let text = std::str::from_utf8(body).map_err(|_| bad("key is not utf-8"))?;
                let (account, rest) = text.split_at_checked(12).ok_or_else(|| bad("short key"))?;
                let (user, name) = rest.split_once('/').ok_or_else(|| bad("no policy name"))?;
                if name.is_empty() {
                    return Err(bad("empty policy name"));
                }
                Ok(RecordKey::UserPolicy(
                    account.parse().map_err(|_| bad("bad account"))?,
                    user.parse().map_err(|_| bad("bad user name"))?,
                    name.to_owned(),
                ))
            }
            TAG_RESTORE_PART => {
                let index = body.try_into().map_err(|_| bad("bad part index"))?;
                Ok(RecordKey::RestorePart(u32::from_be_bytes(index)))
            }
            TAG_INCARNATION => {
                let node = body.try_into().map_err(|_| bad("bad node id"))?;
                Ok(RecordKey::Incarnation(u64::from_be_bytes(node)))
            }
            TAG_KEY => Ok(RecordKey::Key(KeyId(uuid()?))),
            TAG_KEY_POLICY => Ok(RecordKey::KeyPolicy(KeyId(uuid()?))),
            TAG_KEY_ROTATION => Ok(RecordKey::KeyRotation(KeyId(uuid()?))),
            TAG_KEY_IMPORT => Ok(RecordKey::KeyImport(KeyId(uuid()?))),
            TAG_PENDING_MATERIAL => Ok(RecordKey::PendingMaterial(KeyId(uuid()?))),
            TAG_GRANT => {
                let (id, grant) = body.split_at_checked(16).ok_or_else(|| bad("short key"))?;
                let id = Uuid::from_slice(id).map_err(|_| bad("bad uuid"))?;
                let grant = std::str::from_utf8(grant).map_err(|_| bad("key is not utf-8"))?;
                Ok(RecordKey::Grant(KeyId(id), grant.to_owned()))
            }
            TAG_REQUEST => Ok(RecordKey::Request(RequestId(uuid()?))),
            TAG_ALIAS | TAG_USER => {
                let text = std::str::from_utf8(body).map_err(|_| bad("key is not utf-8"))?;
                let (account, name) = text.split_at_checked(12).ok_or_else(|| bad("short key"))?;
                let account = account.parse().map_err(|_| bad("bad account"))?;
                match tag {
                    TAG_ALIAS => Ok(RecordKey::Alias(
                        account,
                        name.parse().map_err(|_| bad("bad alias name"))?,
                    )),
                    _ => Ok(RecordKey::User(
                        account,
                        name.parse().map_err(|_| bad("bad user name"))?,
                    )),
                }
            }
            TAG_ACCESS_KEY => {
                let id = std::str::from_utf8(body).map_err(|_| bad("key is not utf-8"))?;
                Ok(RecordKey::AccessKey(id.to_owned()))
            }
            _ => Err(bad("unknown record tag")),
        }
    }
}

fn tagged(tag: u8, body: &[u8]) -> Vec<u8> {
    let mut out = Vec::with_capacity(1 + body.len());
    out.push(tag);
    out.extend_from_slice(body);
    out
}

fn encode<T: Serialize>(value: &T) -> Vec<u8> {
    bincode::serialize(value).expect("in-memory state always serializes")
}

fn decode<T: DeserializeOwned>(key: &[u8], value: &[u8]) -> Result<T, DecodeError> {
    bincode::deserialize(value).map_err(|e| DecodeError {
        key: key.to_vec(),
        reason: e.to_string(),
    })
}

impl State {
    /// The stored form of one record, or `None` if the record no longer exists (delete it).
    pub fn record(&self, key: &RecordKey) -> Option<Vec<u8>> {
        match key {
            RecordKey::Clock => Some(encode(&self.clock)),
            RecordKey::Key(id) => self.keys.get(id).map(encode),
            RecordKey::Alias(account, name) => self
                .aliases
                .get(&(account.clone(), name.clone()))
                .map(encode),
            RecordKey::Request(id) => self.applied.get(id).map(encode),
            RecordKey::User(account, name) => {
                self.users.get(&(account.clone(), name.clone())).map(encode)
            }
            RecordKey::AccessKey(id) => self.access_keys.get(id).map(encode),
            RecordKey::Restore => self.restore.as_ref().map(encode),
            RecordKey::RestorePart(i) => self.restore_parts.get(i).map(encode),
            RecordKey::Bootstrapped => self.bootstrapped.then(|| encode(&true)),
            RecordKey::Incarnation(node) => self.incarnations.get(node).map(encode),
            RecordKey::ClusterIdentity => self.identity.as_ref().map(encode),
            RecordKey::KeyPolicy(id) => self.key_policy_record(id).as_ref().map(encode),
            RecordKey::Grant(id, grant) => self.grant(id, grant).map(encode),
            RecordKey::UserPolicy(account, user, name) => self
                .user_policy_record(account, user, name)
                .as_ref()
                .map(encode),
            RecordKey::UserPoliciesEra => self.user_policies_era.then(|| encode(&true)),
            RecordKey::KeyRotation(id) => self.rotations.get(id).map(encode),
            RecordKey::KeyImport(id) => self.imports.get(id).map(encode),
            RecordKey::PendingMaterial(id) => self.pending.get(id).map(encode),
            RecordKey::AuditTip => {
                (self.audit_tip != AuditTip::default()).then(|| encode(&self.audit_tip))
            }
            RecordKey::RetiredAuditKeys => {
                (!self.retired_audit_keys.is_empty()).then(|| encode(&self.retired_audit_keys))
            }
        }
    }

    /// Every record of the state, in key order.
    pub fn records(&self) -> impl Iterator<Item = (Vec<u8>, Vec<u8>)> + '_ {
        let clock = [
            RecordKey::Clock,
            RecordKey::Bootstrapped,
            RecordKey::ClusterIdentity,
            RecordKey::UserPoliciesEra,
            RecordKey::AuditTip,
            RecordKey::RetiredAuditKeys,
        ]
        .into_iter();
        let keys = self.keys.keys().map(|id| RecordKey::Key(*id));
        let aliases = self
            .aliases
            .keys()
            .map(|(a, n)| RecordKey::Alias(a.clone(), n.clone()));
        let requests = self.applied.keys().map(|id| RecordKey::Request(*id));
        let users = self
            .users
            .keys()
            .map(|(a, n)| RecordKey::User(a.clone(), n.clone()));
        let access_keys = self
            .access_keys
            .keys()
            .map(|id| RecordKey::AccessKey(id.clone()));
        let restore = self.restore.iter().map(|_| RecordKey::Restore);
        let parts = self
            .restore_parts
            .keys()
            .map(|i| RecordKey::RestorePart(*i));
        let incarnations = self
            .incarnations
            .keys()
            .map(|node| RecordKey::Incarnation(*node));
        clock
            .chain(incarnations)
            .chain(keys)
            .chain(aliases)
            .chain(requests)
            .chain(users)
            .chain(access_keys)
            .chain(self.user_policy_keys())
            .chain(restore)
            .chain(parts)
            .chain(self.key_access_keys())
            .chain(self.rotation_keys())
            .chain(self.import_keys())
            .filter_map(|k| {
                let value = self.record(&k)?;
                Some((k.encode(), value))
            })
    }

    /// Rebuilds the state from its records, in any order.
    pub fn restore<I>(records: I) -> Result<State, DecodeError>
    where
        I: IntoIterator<Item = (Vec<u8>, Vec<u8>)>,
    {
        let mut state = State::default();
        for (key, value) in records {
            match RecordKey::decode(&key)? {
                RecordKey::Clock => state.clock = decode::<Millis>(&key, &value)?,
                RecordKey::Key(id) => {
                    let record: KeyRecord = decode(&key, &value)?;
                    state.keys.insert(id, record);
                }
                RecordKey::Alias(account, name) => {
                    let record: AliasRecord = decode(&key, &value)?;
                    state.aliases.insert((account, name), record);
                }
                RecordKey::Request(id) => {
                    let (at, response): (Millis, Response) = decode(&key, &value)?;
                    state.applied_by_time.insert((at, id));
                    state.applied.insert(id, (at, response));
                }
                RecordKey::User(account, name) => {
                    let record: UserRecord = decode(&key, &value)?;
                    state.users.insert((account, name), record);
                }
                RecordKey::AccessKey(id) => {
                    let record: AccessKeyRecord = decode(&key, &value)?;
                    state.access_keys.insert(id, record);
                }
                RecordKey::Restore => state.restore = Some(decode(&key, &value)?),
                RecordKey::RestorePart(i) => {
                    state.restore_parts.insert(i, decode(&key, &value)?);
                }
                RecordKey::Bootstrapped => state.bootstrapped = decode(&key, &value)?,
                RecordKey::Incarnation(node) => {
                    state.incarnations.insert(node, decode(&key, &value)?);
                }
                RecordKey::ClusterIdentity => state.identity = Some(decode(&key, &value)?),
                RecordKey::KeyPolicy(_) => {
                    let record: KeyPolicyRecord = decode(&key, &value)?;
                    state
                        .restore_key_policy(record)
                        .map_err(|reason| DecodeError {
                            key: key.clone(),
                            reason,
                        })?;
                }
                RecordKey::Grant(..) => state.restore_grant(decode(&key, &value)?),
                RecordKey::UserPolicy(account, user, name) => {
                    let record: UserPolicyRecord = decode(&key, &value)?;
                    if (&record.account, &record.user, &record.name) != (&account, &user, &name) {
                        return Err(DecodeError {
                            key,
                            reason: "its key and its value name different policies".into(),
                        });
                    }
                    state.load_user_policy(record);
                }
                RecordKey::UserPoliciesEra => state.user_policies_era = decode(&key, &value)?,
                RecordKey::AuditTip => state.set_audit_tip(decode(&key, &value)?),
                RecordKey::RetiredAuditKeys => state.retired_audit_keys = decode(&key, &value)?,
                RecordKey::KeyRotation(id) => {
                    let record: KeyRotationRecord = decode(&key, &value)?;
                    if record.key_id != id {
                        return Err(DecodeError {
                            key,
                            reason: "its key and its value name different key ids".into(),
                        });
                    }
                    state.rotations.insert(id, record);
                }
                RecordKey::KeyImport(id) => {
                    let record: KeyImportRecord = decode(&key, &value)?;
                    if record.key_id != id {
                        return Err(DecodeError {
                            key,
                            reason: "its key and its value name different key ids".into(),
                        });
                    }
                    state.imports.insert(id, record);
                }
                RecordKey::PendingMaterial(id) => {
                    let record: PendingMaterial = decode(&key, &value)?;
                    if record.key_id != id {
                        return Err(DecodeError {
                            key,
                            reason: "its key and its value name different key ids".into(),
                        });
                    }
                    state.pending.insert(id, record);
                }
            }
        }
        state.rebuild_index();
        Ok(state)
    }
}

/// The account an entity record belongs to, read from the record itself. A record whose key
/// and value disagree (about the account, the alias or user name, the key or access key id)
/// is refused: in a backup, that is a record moved from one owner to another.
pub(crate) fn owner_of(key: &[u8], value: &[u8]) -> Result<AccountId, DecodeError> {
    let disagree = |what: &str| DecodeError {
        key: key.to_vec(),
        reason: format!("its key and its value name different {what}"),
    };
    match RecordKey::decode(key)? {
        RecordKey::Key(id) => {
            let record: KeyRecord = decode(key, value)?;
            if record.metadata.key_id != id {
                return Err(disagree("key ids"));
            }
            Ok(record.metadata.account)
        }
        RecordKey::Alias(account, name) => {
            let record: AliasRecord = decode(key, value)?;
            if record.account != account {
                return Err(disagree("accounts"));
            }
            if record.name != name {
                return Err(disagree("alias names"));
            }
            Ok(account)
        }
        RecordKey::User(account, name) => {
            let record: UserRecord = decode(key, value)?;
            if record.account != account {
                return Err(disagree("accounts"));
            }
            if record.name != name {
                return Err(disagree("user names"));
            }
            Ok(account)
        }
        RecordKey::AccessKey(id) => {
            let record: AccessKeyRecord = decode(key, value)?;
            if record.access_key_id != id {
                return Err(disagree("access key ids"));
            }
            Ok(record.owner.account)
        }
        RecordKey::KeyPolicy(id) => {
            let record: KeyPolicyRecord = decode(key, value)?;
            if record.key_id != id {
                return Err(disagree("key ids"));
            }
            Ok(record.account)
        }
        RecordKey::Grant(id, grant_id) => {
            let record: GrantRecord = decode(key, value)?;
            if record.key_id != id {
                return Err(disagree("key ids"));
            }
            if record.grant_id != grant_id {
                return Err(disagree("grant ids"));
            }
            Ok(record.account)
        }
        RecordKey::KeyRotation(id) => {
            let record: KeyRotationRecord = decode(key, value)?;
            if record.key_id != id {
                return Err(disagree("key ids"));
            }
            Ok(record.account)
        }
        RecordKey::KeyImport(id) => {
            let record: KeyImportRecord = decode(key, value)?;
            if record.key_id != id {
                return Err(disagree("key ids"));
            }
            Ok(record.account)
        }
        RecordKey::PendingMaterial(id) => {
            let record: PendingMaterial = decode(key, value)?;
            if record.key_id != id {
                return Err(disagree("key ids"));
            }
            Ok(record.account)
        }
        RecordKey::UserPolicy(account, user, name) => {
            let record: UserPolicyRecord = decode(key, value)?;
            if record.account != account {
                return Err(disagree("accounts"));
            }
            if record.user != user {
                return Err(disagree("user names"));
            }
            if record.name != name {
                return Err(disagree("policy names"));
            }
            Ok(account)
        }
        _ => Err(DecodeError {
            key: key.to_vec(),
            reason: "not a key, alias, user, access key, user policy, key policy, grant, key \
                     rotation, key import or pending material record"
                .into(),
        }),
    }
}
