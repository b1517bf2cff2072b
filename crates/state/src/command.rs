//! What the log carries: requests wrapping commands, and what applying one answers.

use std::fmt;

use serde::{Deserialize, Serialize};
use uuid::Uuid;

use crate::backup::BackupBytes;
use crate::rewrap::Rewrap;
use trent_model::{
    AccessKeyRecord, AccountId, AliasName, Error, GrantRecord, KeyId, KeyLastUsage, KeyMetadata,
    KeyRecord, Millis, RotationType, Tag, UsedToken, UserName, WrappedMaterial,
};

/// Identifies one client request across retries and leader changes.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
pub struct RequestId(pub Uuid);

impl fmt::Display for RequestId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        self.0.fmt(f)
    }
}

/// One log entry's payload: a command with the leader-stamped request id and time.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Request {
    pub id: RequestId,
    /// Leader wall-clock time when the request was proposed.
    pub time: Millis,
    pub command: Command,
}

/// One log entry's payload: the requests the leader proposed together (group commit: one
/// log append and one fsync for every write that arrived while the previous ones were being
/// committed). They apply in order, each exactly as if it had an entry of its own.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Batch(pub Vec<Request>);

/// What applying a [`Batch`] answers: one response per request, in the batch's order.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Responses(pub Vec<Response>);

/// A change to the replicated state. Inputs are validated by the service before proposal;
/// `apply` checks only what depends on the state (existence, key state).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub enum Command {
    /// Records a new key: metadata, tags and material already wrapped by the HSM.
    CreateKey {
        record: KeyRecord,
        /// Refused with `LimitExceededException` if the account already has this many keys.
        #[serde(default)]
        max_keys_per_account: Option<u32>,
    },
    EnableKey {
        key_id: KeyId,
    },
    DisableKey {
        key_id: KeyId,
    },
    ScheduleKeyDeletion {
        key_id: KeyId,
        deletion_date: Millis,
        pending_window_days: u32,
    },
    /// Returns a key pending deletion to `Disabled`.
    CancelKeyDeletion {
        key_id: KeyId,
    },
    /// Removes a key, its material and its aliases for good. Proposed by the leader when the
    /// waiting period has passed; refused for a key that is not `PendingDeletion` or not due.
    DeleteKey {
        key_id: KeyId,
    },
    UpdateKeyDescription {
        key_id: KeyId,
        description: String,
    },
    TagKey {
        key_id: KeyId,
        tags: Vec<Tag>,
        /// Refused with `TagException` if the key would then have more tags than this.
        #[serde(default)]
        max_tags_per_key: Option<u32>,
    },
    UntagKey {
        key_id: KeyId,
        tag_keys: Vec<String>,
    },
    CreateAlias {
        account: AccountId,
        name: AliasName,
        target: KeyId,
        /// Refused with `LimitExceededException` if the target already has this many aliases.
        #[serde(default)]
        max_aliases_per_key: Option<u32>,
    },
    UpdateAlias {
        account: AccountId,
        name: AliasName,
        target: KeyId,
    },
    DeleteAlias {
        account: AccountId,
        name: AliasName,
    },
    CreateUser {
        account: AccountId,
        name: UserName,
        /// Refused with `LimitExceededException` if the account already has this many users.
        #[serde(default)]
        max_users_per_account: Option<u32>,
    },
    /// Refused while the user still has access keys (as IAM does).
    DeleteUser {
        account: AccountId,
        name: UserName,
    },
    /// Records an access key whose secret the HSM has already wrapped. The owner (a user)
    /// must exist; an account root needs no user record.
    CreateAccessKey {
        record: AccessKeyRecord,
        /// Refused with `LimitExceededException` if the owner (user or root) already has
        /// this many access keys.
        #[serde(default)]
        max_access_keys_per_user: Option<u32>,
    },
    /// Bootstraps the cluster from trentd's configuration, once in its life: records the
    /// operator root's access key (unless a key of that id exists, from a data dir older
    /// than this command) and that bootstrap is done. Refused once done, so a root key the
    /// operator deleted is never re-created by a later start.
    Bootstrap {
        root_access_key: AccessKeyRecord,
    },
    DeleteAccessKey {
        access_key_id: String,
    },
    /// Records the cluster's identity, once in its life (`identity.rs`): proposed by the
    /// leader when the state holds none. A later one changes nothing.
    SetClusterIdentity {
        identity: crate::ClusterIdentity,
    },
    /// Records the last successful cryptographic use of keys, in a batch the leader
    /// gathers. An entry for a key that no longer exists, or older than what is recorded,
    /// is skipped: usage never fails and never moves backwards.
    RecordKeyUsage {
        usages: Vec<(KeyId, KeyLastUsage)>,
    },
    /// Stages part `part` of `parts` of a backup blob for restore `restore_id`; part 0 starts
    /// a new staging area, replacing an abandoned one. Refused unless the cluster is fresh
    /// (nothing but `operator`'s root access keys).
    RestorePart {
        restore_id: Uuid,
        part: u32,
        parts: u32,
        data: BackupBytes,
        operator: AccountId,
    },
    /// Replaces every key, alias, user and access key with the staged backup's, in one step
    /// (keeping `operator`'s root access keys). Proposed after the service checked the seal.
    RestoreCommit {
        restore_id: Uuid,
        operator: AccountId,
    },
    /// Drops the staging area of `restore_id` (a backup that failed its checks).
    RestoreAbort {
        restore_id: Uuid,
    },
    /// Makes `error` the answer to this request id: the service refused the request on a
    /// check against the state before it proposed anything. Applying it changes nothing but
    /// the deduplication record, so a late duplicate of the request (an attempt the network
    /// delayed past its retry) is answered the same refusal instead of taking effect after
    /// its client was told it failed. A request id already applied keeps its first answer.
    Refuse {
        error: Error,
    },
    /// Records that member `node` keeps its log in the data dir created as `incarnation`
    /// (`incarnations.rs`). Proposed by the leader: for a member with no record, the
    /// incarnation it reports; with `replace`, by AddNode once the node caught up.
    RecordIncarnation {
        node: u64,
        incarnation: Uuid,
        #[serde(default)]
        replace: bool,
    },
    /// Records a new key with a key policy of its own (CreateKey with `Policy`): the key and
    /// its policy exist from the same log entry on, so no request ever sees the key under
    /// the default policy. The policy text was checked by the service.
    CreateKeyWithPolicy {
        record: KeyRecord,
        max_keys_per_account: Option<u32>,
        policy: String,
    },
    /// Replaces a key's policy (PutKeyPolicy). Refused for a key pending deletion.
    PutKeyPolicy {
        key_id: KeyId,
        policy: String,
    },
    /// Records a grant; answers its id. A grant with the same name and terms on the key is
    /// answered instead of a new one (CreateGrant's idempotency). Refused beyond
    /// `max_grants_per_key` grants on the key.
    CreateGrant {
        grant: GrantRecord,
        max_grants_per_key: Option<u32>,
    },
    /// Removes a grant (RetireGrant, RevokeGrant): from the moment this applies, nothing the
    /// grant allowed passes on it.
    RemoveGrant {
        key_id: KeyId,
        grant_id: String,
    },
    // Appended: bincode numbers variants by position, so logs written before keep decoding.
    /// Sets `user`'s inline identity policy `name` to `document` (replacing one of that name).
    /// The service validated the name and the document; `apply` checks that the user exists
    /// (`NoSuchEntity`) and IAM's aggregate size quota (`user_policies.rs`).
    PutUserPolicy {
        account: AccountId,
        user: UserName,
        name: String,
        document: String,
    },
    DeleteUserPolicy {
        account: AccountId,
        user: UserName,
        name: String,
    },
    /// Enters the user policies era, once in the cluster's life (`user_policies.rs`):
    /// proposed by the leader while the marker is absent; gives every user without inline
    /// policies the migration policy. A later one changes nothing.
    BeginUserPolicies,
    /// Enables automatic rotation of a key every `period_days` (the first a period after the
    /// request's time), or with `None` disables it (command set 3).
    SetKeyRotation {
        key_id: KeyId,
        period_days: Option<u32>,
    },
    /// Makes `material` (wrapped by the leader's HSM under the key's next version) the key's
    /// current material. Refused unless it is the next version; an automatic rotation unless
    /// the key's schedule is due; an on-demand one past `max_on_demand` (command set 3).
    RotateKey {
        key_id: KeyId,
        material: WrappedMaterial,
        kind: RotationType,
        max_on_demand: Option<u32>,
    },
    /// Brings imported material into an EXTERNAL key (its first material, or a re-import of
    /// a version), spending the token. Refused if the token was used or expired by the
    /// request's time, or if the version was imported before with material of another
    /// fingerprint (command set 3).
    ImportKeyMaterial(MaterialImport),
    /// Deletes an EXTERNAL key's imported material; the key is `PendingImport` after (unless
    /// pending deletion) (command set 3).
    DeleteImportedKeyMaterial {
        key_id: KeyId,
    },
    /// The same, proposed by the leader when the material's `ValidTo` has passed; refused if
    /// it has not by the request's time (command set 3).
    ExpireKeyMaterial {
        key_id: KeyId,
    },
    /// Imports new material into an EXTERNAL symmetric key that has material, for a later
    /// rotation (`ImportType=NEW_KEY_MATERIAL`): it waits as the key's pending material, under
    /// the next version. Refused as `ImportKeyMaterial` is, and while other material waits or
    /// if the key already has this material (command set 4).
    ImportPendingMaterial(MaterialImport),
    /// RotateKeyOnDemand of an EXTERNAL key: makes its pending material current. Refused if
    /// none waits, or past `max_on_demand` (command set 4).
    RotateToImported {
        key_id: KeyId,
        max_on_demand: u32,
    },
    /// Deletes one version of an EXTERNAL key's imported material, or its pending material
    /// (`DeleteImportedKeyMaterial` with a `KeyMaterialId`, or of a key with several versions)
    /// (command set 4).
    DeleteImportedVersion {
        key_id: KeyId,
        version: u32,
    },
    /// Appends a batch of audit events to the trail: `apply` seals them on the chain's tip
    /// (`audit.rs`). Each event is its CloudTrail JSON without a chain link (command set 5).
    AppendAudit {
        events: Vec<String>,
    },
    /// [`Command::AppendAudit`] with each event serialized once by the leader and cut where
    /// its chain link goes, so `apply` writes the link instead of parsing the event
    /// (`trent_audit::Unlinked`, command set 7).
    AppendAuditUnlinked {
        events: Vec<trent_audit::Unlinked>,
    },
    /// [`Command::AppendAuditUnlinked`] with the cut events compressed as one block
    /// (`trent_audit::Packed`): the log carries a fraction of their bytes (command set 8).
    AppendAuditPacked {
        events: trent_audit::Packed,
    },
    /// Records that an exporter holds every audit batch before `before` (command set 5).
    AuditExported {
        before: u64,
    },
    /// Retention: drops the audit batches before `before`; refused past what an export
    /// holds (command set 5).
    PruneAudit {
        before: u64,
        /// Events in the batches dropped, as the leader counted them.
        events: u64,
    },
    /// Makes `to` the cluster's recorded domain key check value if it is `from`: from this
    /// index, migrating nodes write under the new key; the old key's audit public key (DER)
    /// is kept, so earlier exports still verify (`rewrap.rs`, command set 6).
    SwitchDomainKey {
        from: Vec<u8>,
        to: Vec<u8>,
        retired_audit_key: Vec<u8>,
    },
    /// Replaces blobs under the outgoing domain key by their rewraps, each only while its
    /// record still holds the blob it names (`rewrap.rs`, command set 6).
    RewrapBlobs {
        rewraps: Vec<Rewrap>,
    },
    /// A write and its audit event in one entry (command set 9, `audited.rs`): `apply`
    /// applies `command` exactly as if it were alone, then seals `event` (cut at its link,
    /// recorded as a success) as a batch of its own, with the error code and message of the
    /// command's response when that is a refusal. One quorum round holds a write and its
    /// record, and neither commits without the other.
    Audited {
        command: Box<Command>,
        event: trent_audit::Unlinked,
    },
}

impl Command {
    /// Whether `apply` remembers this command's request id, so that a retry under the same
    /// id replays the first answer. An audit batch is proposed once, under an id drawn for
    /// it, and never retried (a batch that fails is reported to its callers, whose retries
    /// record events of their own); remembering it would only fill the dedup table with an
    /// entry per audit round (hundreds a second under load, each kept for the window, in
    /// every snapshot).
    pub fn remembered(&self) -> bool {
        match self {
            Command::AppendAudit { .. }
            | Command::AppendAuditUnlinked { .. }
            | Command::AppendAuditPacked { .. } => false,
            Command::Audited { command, .. } => command.remembered(),
            _ => true,
        }
    }

    /// A short name for logs and metrics.
    pub fn name(&self) -> &'static str {
        match self {
            Command::CreateKey { .. } => "CreateKey",
            Command::EnableKey { .. } => "EnableKey",
            Command::DisableKey { .. } => "DisableKey",
            Command::ScheduleKeyDeletion { .. } => "ScheduleKeyDeletion",
            Command::CancelKeyDeletion { .. } => "CancelKeyDeletion",
            Command::DeleteKey { .. } => "DeleteKey",
            Command::UpdateKeyDescription { .. } => "UpdateKeyDescription",
            Command::TagKey { .. } => "TagKey",
            Command::UntagKey { .. } => "UntagKey",
            Command::CreateAlias { .. } => "CreateAlias",
            Command::UpdateAlias { .. } => "UpdateAlias",
            Command::DeleteAlias { .. } => "DeleteAlias",
            Command::CreateUser { .. } => "CreateUser",
            Command::DeleteUser { .. } => "DeleteUser",
            Command::CreateAccessKey { .. } => "CreateAccessKey",
            Command::DeleteAccessKey { .. } => "DeleteAccessKey",
            Command::Bootstrap { .. } => "Bootstrap",
            Command::RecordKeyUsage { .. } => "RecordKeyUsage",
            Command::RestorePart { .. } => "RestorePart",
            Command::RestoreCommit { .. } => "RestoreCommit",
            Command::RestoreAbort { .. } => "RestoreAbort",
            Command::Refuse { .. } => "Refuse",
            Command::RecordIncarnation { .. } => "RecordIncarnation",
            Command::SetClusterIdentity { .. } => "SetClusterIdentity",
            Command::SwitchDomainKey { .. } => "SwitchDomainKey",
            Command::RewrapBlobs { .. } => "RewrapBlobs",
            Command::CreateKeyWithPolicy { .. } => "CreateKeyWithPolicy",
            Command::PutKeyPolicy { .. } => "PutKeyPolicy",
            Command::CreateGrant { .. } => "CreateGrant",
            Command::RemoveGrant { .. } => "RemoveGrant",
            Command::PutUserPolicy { .. } => "PutUserPolicy",
            Command::DeleteUserPolicy { .. } => "DeleteUserPolicy",
            Command::BeginUserPolicies => "BeginUserPolicies",
            Command::SetKeyRotation { .. } => "SetKeyRotation",
            Command::RotateKey { .. } => "RotateKey",
            Command::ImportKeyMaterial { .. } => "ImportKeyMaterial",
            Command::DeleteImportedKeyMaterial { .. } => "DeleteImportedKeyMaterial",
            Command::ExpireKeyMaterial { .. } => "ExpireKeyMaterial",
            Command::ImportPendingMaterial { .. } => "ImportPendingMaterial",
            Command::RotateToImported { .. } => "RotateToImported",
            Command::DeleteImportedVersion { .. } => "DeleteImportedVersion",
            Command::AppendAudit { .. } => "AppendAudit",
            Command::AppendAuditUnlinked { .. } => "AppendAuditUnlinked",
            Command::AppendAuditPacked { .. } => "AppendAuditPacked",
            Command::AuditExported { .. } => "AuditExported",
            Command::PruneAudit { .. } => "PruneAudit",
            Command::Audited { command, .. } => command.name(),
        }
    }
}

/// What an import command brings: the user's material, unwrapped from the user's wrapping and
/// wrapped again by the leader's HSM under the version it goes to, a keyed fingerprint of it,
/// the import token it spends and what the import said. (Its fields, in this order, are what
/// `ImportKeyMaterial` carried as a struct variant before command set 4: the same bytes.)
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct MaterialImport {
    pub key_id: KeyId,
    pub material: WrappedMaterial,
    pub fingerprint: [u8; 32],
    pub token: UsedToken,
    pub valid_to: Option<Millis>,
    pub description: Option<String>,
}

/// What applying a command produced.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub enum Outcome {
    Done,
    Key(Box<KeyMetadata>),
    /// The access key created, its secret wrapped: what a retry of the creation answers.
    AccessKey(Box<AccessKeyRecord>),
    /// The incarnation recorded for a node after `RecordIncarnation`.
    Incarnation(Uuid),
    /// The token of the grant created (or found, for a repeated named grant), which names its
    /// key and id (`trent_model::grant_token`).
    Grant(String),
    /// The key after an import or a deletion of imported material, and the material version
    /// it imported or deleted (command set 4; before it, and for version 1, `Key`).
    Material(Box<KeyMetadata>, u32),
}

/// The result of applying one request: business errors are values, not storage failures.
pub type Response = Result<Outcome, Error>;
