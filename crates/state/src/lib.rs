//! trent's replicated state machine.
//!
//! [`State::apply`] is a pure function of the state and a [`Request`]: it reads no clock, draws
//! no randomness and does no I/O. The leader stamps time and ids into every request before
//! proposing it, so every replica computes the same state from the same log.
//!
//! Business outcomes (not found, already exists, wrong state) are part of the [`Response`]
//! value; they are never storage errors. Each request carries a client request id; a request
//! whose id was applied within the [`DEDUP_WINDOW_MS`] returns the first response again
//! instead of being applied twice, so a retry after a leader change is harmless.
//!
//! A response is remembered in a compact form: a key's description (up to 8 KB) is left
//! out and taken from the key when the response is replayed, so the dedup table costs a few
//! hundred bytes per write whatever a caller puts in a description.
//!
//! Limits that depend on the state (keys per account, aliases per key, tags per key, users per
//! account, access keys per user) travel in the command and are checked here, in `apply`, so
//! that two concurrent requests that each fit cannot pass a limit together.
//!
//! The state persists as *records* (key/value byte pairs): `apply` reports which records it
//! touched, [`State::record`] encodes one, and [`State::restore`] rebuilds the state from all of
//! them. The same records make up snapshots.
//!
//! A backup ([`backup`]) is the state's entity records in a sealed, checksummed blob; a
//! restore stages one through the log and swaps it in with one command (`restore.rs`), whose
//! apply checks the seal through the node's HSM ([`SealCheck`], [`State::apply_checked`]).

mod apply;
mod audit;
mod audited;
pub mod backup;
mod command;
mod identity;
mod import;
mod incarnations;
mod index;
mod key_access;
mod principals;
mod query;
mod record;
mod restore;
mod rewrap;
mod rotation;
mod seal;
mod user_policies;

pub use audit::{batch_key, AuditTip, BatchHeader, StoredBatch};
pub use command::{
    Batch, Command, MaterialImport, Outcome, Request, RequestId, Response, Responses,
};
pub use identity::ClusterIdentity;
pub use key_access::KeyPolicy;
pub use record::{DecodeError, RecordKey};
pub use restore::{check_backup, EntityCounts, MAX_PARTS, MAX_PART_BYTES};
pub use rewrap::{Outgoing, OutgoingCount, Rewrap};
pub use seal::{NoSealCheck, SealCheck};
pub use user_policies::{
    policy_size, MAX_INLINE_BYTES_PER_USER, MIGRATED_POLICY, MIGRATED_POLICY_NAME,
};

use std::collections::{BTreeMap, BTreeSet};

use trent_model::{
    AccessKeyRecord, AccountId, AliasName, AliasRecord, KeyId, KeyImportRecord, KeyRecord,
    KeyRotationRecord, Millis, PendingMaterial, UserName, UserRecord,
};

/// The set of [`Command`]s this build applies: raised with every variant added (2: key
/// policies, grants and user policies; 3: key rotation and imported key material; 4: rotation
/// of imported key material; 5: the audit trail; 6: the domain key's migration; 7: audit events cut at their chain link; 8: cut audit events compressed; 9: a write's audit event in
/// the write's own entry). Peers report it (`HelloReply.command_set`), so that a leader
/// proposes an optional command of a newer set only once every voter's build decodes it.
pub const COMMAND_SET: u32 = 9;
/// The command set that brought the domain key's migration (`SwitchDomainKey`, `RewrapBlobs`).
pub const DOMAIN_KEY_COMMANDS: u32 = 6;
/// The command set that brought user policies (`BeginUserPolicies` and the rest).
pub const USER_POLICY_COMMANDS: u32 = 2;
/// The command set that brought key rotation and imported key material.
pub const ROTATION_COMMANDS: u32 = 3;
/// The command set that brought the rotation of imported key material.
pub const IMPORTED_ROTATION_COMMANDS: u32 = 4;
/// The command set that brought the audit trail (`AppendAudit`).
pub const AUDIT_COMMANDS: u32 = 5;
/// The command set that brought `AppendAuditUnlinked`.
pub const UNLINKED_AUDIT_COMMANDS: u32 = 7;
/// The command set that brought `AppendAuditPacked`.
pub const PACKED_AUDIT_COMMANDS: u32 = 8;
/// The command set that brought `Audited` (a write with its audit event).
pub const AUDITED_WRITE_COMMANDS: u32 = 9;

/// How long a request id is remembered for deduplication.
pub const DEDUP_WINDOW_MS: Millis = 10 * 60 * 1000;

/// The whole replicated state, in memory. Readers share it behind a lock held by the storage
/// layer; only `apply` and `restore` change it.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct State {
    keys: BTreeMap<KeyId, KeyRecord>,
    aliases: BTreeMap<(AccountId, AliasName), AliasRecord>,
    users: BTreeMap<(AccountId, UserName), UserRecord>,
    /// By access key id.
    access_keys: BTreeMap<String, AccessKeyRecord>,
    /// Key policies other than the default one (`key_access.rs`).
    key_policies: BTreeMap<KeyId, KeyPolicy>,
    /// Grants, by key.
    grants: BTreeMap<KeyId, key_access::KeyGrants>,
    /// Rotation schedules and histories, by key (`rotation.rs`).
    rotations: BTreeMap<KeyId, KeyRotationRecord>,
    /// Imported material's facts, by key (`import.rs`).
    imports: BTreeMap<KeyId, KeyImportRecord>,
    /// Material imported for a rotation and not yet current, by key (`import.rs`).
    pending: BTreeMap<KeyId, PendingMaterial>,
    /// Responses of recently applied requests, for deduplication.
    applied: BTreeMap<RequestId, (Millis, Response)>,
    /// The same requests ordered by time, to expire them.
    applied_by_time: BTreeSet<(Millis, RequestId)>,
    /// The latest leader time seen in the log; never moves backwards.
    clock: Millis,
    /// The root access key from trentd's configuration was recorded, once: later starts
    /// leave access keys alone.
    bootstrapped: bool,
    /// The cluster's id and domain key check, once recorded (`identity.rs`).
    identity: Option<ClusterIdentity>,
    /// Audit public keys (DER) of the domain keys the cluster switched away from, oldest
    /// first, so exports signed before a switch still verify (`rewrap.rs`).
    retired_audit_keys: Vec<Vec<u8>>,
    /// A backup being restored, and its parts received so far.
    restore: Option<restore::Staging>,
    restore_parts: restore::StagedParts,
    /// Each member's data-dir incarnation (`incarnations.rs`).
    incarnations: incarnations::Incarnations,
    /// Users' inline identity policies (`user_policies.rs`).
    user_policies: user_policies::UserPolicies,
    /// The user policies era began: the migration applied (`user_policies.rs`).
    user_policies_era: bool,
    /// Per-account indexes and counts, derived from the maps above (`index.rs`).
    index: index::Index,
    /// Where the audit chain stands (`audit.rs`).
    audit_tip: AuditTip,
    /// Batches sealed by `apply` and not yet taken by the storage layer.
    audit_outbox: Vec<(u64, Vec<u8>)>,
    /// Batches pruned by `apply`, `[from, to)`, not yet deleted by the storage layer.
    audit_pruned: Option<(u64, u64)>,
}

#[cfg(test)]
mod import_rotation_tests;
#[cfg(test)]
mod import_tests;
#[cfg(test)]
mod key_access_tests;
#[cfg(test)]
mod limits_tests;
#[cfg(test)]
mod restore_tests;
#[cfg(test)]
mod rewrap_tests;
#[cfg(test)]
mod rotation_tests;
#[cfg(test)]
mod tests;
