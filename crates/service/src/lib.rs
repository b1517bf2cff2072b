//! The KMS operations, transport-agnostic: each one is
//! authenticated caller -> authorize -> validate -> HSM -> propose/read.
//!
//! Only the leader executes operations: every read that decides an outcome passes the
//! cluster's linearizable read barrier, so a key disabled or deleted before a request arrived
//! is honoured even right after a leader change, and an isolated old leader answers nothing.
//! Followers forward the signed request (the front end routes it through the cluster layer). Every value that is
//! not a pure function of the state (key ids, key material, timestamps) is decided here, on
//! the leader, and proposed; `apply()` only records it.

mod aliases;
mod audit;
mod audit_export;
mod audit_lookup;
mod audit_note;
mod audit_retention;
mod authz;
mod backup;
mod crypto;
mod deletion;
mod domain_key;
mod error;
mod grants;
mod hooks;
mod import;
mod key_pairs;
mod keys;
mod once;
mod operation;
mod output;
mod policies;
mod principals;
mod quota;
mod resolve;
mod rotation;
mod signing;
mod usage;
mod user_policies;

pub use audit::{AuditCounts, MAX_EVENTS_PER_BATCH, REFUSALS_PENDING};
pub use audit_export::{AuditExport, MAX_EXPORT_BATCHES};
pub use audit_lookup::{LookupQuery, ATTRIBUTE_KEYS, MAX_SCAN};
pub use audit_note::AuditNote;
pub use audit_retention::{AuditRetention, PRUNE_STEP};
pub use authz::Action;
pub use backup::{ExportedBackup, ImportPart, ImportProgress};
pub use domain_key::DomainKeyStatus;
pub use error::OpError;
pub use hooks::HsmHooks;
pub use operation::answers_with_response;
pub use output::{
    DecryptResponse, EncryptResponse, GenerateDataKeyPairResponse, GenerateDataKeyResponse,
    GenerateRandomResponse, Output, ReEncryptResponse, SharedSecretResponse,
};
pub use principals::CreatedAccessKey;
pub use quota::RateQuotas;
pub use trent_protocol::{types, Blob, Operation};
pub use user_policies::{user_resource, valid_policy_name, PolicyNames};

use std::sync::Arc;

use trent_cluster::ClusterNode;
use trent_hsm::Hsm;
use trent_model::{Error, Principal};
use trent_state::{Command, Outcome, RequestId, Response, State};
use uuid::Uuid;

/// Per-account and per-key resource limits (`LimitExceededException` beyond them, or
/// `TagException` for tags). Each travels in the command that could pass it and is checked by
/// `apply` against the applied state, so concurrent requests cannot pass it together.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Limits {
    pub keys_per_account: u32,
    pub aliases_per_key: u32,
    /// Tags on one key; also the most tag keys one UntagResource may name.
    pub tags_per_key: u32,
    pub users_per_account: u32,
    /// Access keys of one user, or of an account's root.
    pub access_keys_per_user: u32,
}

impl Default for Limits {
    /// AWS's default quotas: 100,000 KMS keys per account and region, 50 aliases per key,
    /// 50 tags per key (AWS's tagging limit); IAM's 5,000 users per account and 2 access keys
    /// per user.
    fn default() -> Self {
        Limits {
            keys_per_account: 100_000,
            aliases_per_key: 50,
            tags_per_key: 50,
            users_per_account: 5_000,
            access_keys_per_user: 2,
        }
    }
}

#[derive(Debug, Clone)]
pub struct ServiceConfig {
    /// The region in ARNs this node issues and accepts.
    pub region: String,
    pub limits: Limits,
    /// Request-rate quotas per account, enforced where requests execute (the leader).
    pub quotas: RateQuotas,
    /// Whether calls are recorded in the audit trail (`audit.rs`); off only to measure it.
    pub audit_trail: bool,
    /// What of the trail is kept once exported (`audit_retention.rs`).
    pub audit_retention: AuditRetention,
}

/// One node's service. Cheap to clone.
#[derive(Clone)]
pub struct Service {
    inner: Arc<Inner>,
}

struct Inner {
    node: ClusterNode,
    hsm: Arc<dyn Hsm>,
    config: ServiceConfig,
    default_policies: authz::DefaultPolicies,
    pending_usage: usage::PendingUsage,
    quotas: quota::Quotas,
    audit: audit::AuditBuffer,
    stuck: domain_key::Stuck,
}

/// Who is calling, and the request id that makes a retried write apply once.
#[derive(Debug, Clone)]
pub struct Call {
    pub caller: Principal,
    /// The id that makes a retried write apply once (the leader derives it from what it
    /// verified: crates/api/src/dispatch.rs).
    pub request_id: Uuid,
    /// This attempt's own id, answered to the client as `x-amzn-RequestId`: what records of
    /// the call (key usage, `KmsRequestId`) carry, so a client can find its request in them.
    /// Equal to `request_id` for the service's own calls.
    pub attempt: Uuid,
    /// A linearizable read barrier already passed on this node during this call (the API
    /// passes one while authenticating), so the call's reads need no second one.
    pub barrier_passed: bool,
    /// Where the request came from, as the node that received it saw it (`aws:SourceIp`,
    /// `aws:SecureTransport`); `None` for the service's own calls.
    pub origin: Origin,
    /// The keys the call acted on, for its audit event (`audit.rs`).
    pub audit: AuditNote,
}

/// The client's address and transport, for policies.
#[derive(Debug, Clone, Default)]
pub struct Origin {
    pub source_ip: Option<String>,
    pub secure_transport: Option<bool>,
}

impl Call {
    /// The id the state machine remembers this call's write under: the request id bound to
    /// the caller, so a remembered response answers only the principal that caused it,
    /// whoever else presents the same request id.
    pub(crate) fn dedup_id(&self) -> Uuid {
        Uuid::new_v5(&self.request_id, self.caller.arn().to_string().as_bytes())
    }
}

impl Service {
    /// Creates the service. It executes operations on this node; the front end routes signed
    /// requests to the leader.
    pub fn install(node: ClusterNode, hsm: Arc<dyn Hsm>, config: ServiceConfig) -> Service {
        Service {
            inner: Arc::new(Inner {
                node,
                hsm,
                quotas: quota::Quotas::new(config.quotas),
                config,
                default_policies: authz::DefaultPolicies::default(),
                pending_usage: usage::PendingUsage::default(),
                audit: audit::AuditBuffer::default(),
                stuck: domain_key::Stuck::default(),
            }),
        }
    }

    pub fn node(&self) -> &ClusterNode {
        &self.inner.node
    }
    pub(crate) fn hsm(&self) -> &dyn Hsm {
        self.inner.hsm.as_ref()
    }
    /// The HSM, to move into a blocking task (key generation).
    pub(crate) fn hsm_shared(&self) -> Arc<dyn Hsm> {
        self.inner.hsm.clone()
    }
    pub fn region(&self) -> &str {
        &self.inner.config.region
    }
    pub(crate) fn limits(&self) -> Limits {
        self.inner.config.limits
    }
    pub(crate) fn quotas(&self) -> &quota::Quotas {
        &self.inner.quotas
    }

    /// Requests this node throttled so far, by account and operation (for metrics).
    pub fn throttled(&self) -> Vec<(trent_model::AccountId, &'static str, u64)> {
        self.inner.quotas.throttled()
    }

    pub(crate) fn audit_retention(&self) -> AuditRetention {
        self.inner.config.audit_retention
    }

    pub(crate) fn audit_trail_on(&self) -> bool {
        self.inner.config.audit_trail
    }

    pub(crate) fn audit_buffer(&self) -> &audit::AuditBuffer {
        &self.inner.audit
    }

    pub(crate) fn pending_usage(&self) -> &usage::PendingUsage {
        &self.inner.pending_usage
    }

    /// Reads the state behind the linearizable read barrier.
    pub(crate) async fn read<T>(&self, f: impl FnOnce(&State) -> T) -> Result<T, OpError> {
        Ok(self.node().read(f).await?)
    }

    /// Reads the state for `call`: behind the barrier, unless one already passed on this node
    /// during the call. Then a local read is still linearizable: the barrier proved that this
    /// node had applied every write acknowledged before the call arrived, and its state only
    /// moves forward through committed entries, so what it reads now was the cluster's state
    /// at some moment between the call's arrival and its answer.
    pub(crate) async fn read_for<T>(
        &self,
        call: &Call,
        f: impl FnOnce(&State) -> T,
    ) -> Result<T, OpError> {
        if call.barrier_passed {
            return Ok(self.node().read_local(f));
        }
        self.read(f).await
    }

    /// The response the state machine gave a request with this call's id, if it applied one
    /// (read behind the barrier): the call is a retry whose first attempt took effect.
    pub(crate) async fn applied_before(&self, call: &Call) -> Result<Option<Response>, OpError> {
        let id = RequestId(call.dedup_id());
        self.read_for(call, |s| s.applied_response(id)).await
    }

    /// Proposes a command under the call's request id; business errors come back as `Api`.
    pub(crate) async fn write(&self, call: &Call, command: Command) -> Result<Outcome, OpError> {
        Ok(self.propose(call, command).await??)
    }

    /// The trusted time to stamp into a command (trent_cluster's cluster_time.rs): never one
    /// node's clock alone.
    pub(crate) async fn now(&self) -> Result<trent_model::Millis, OpError> {
        Ok(self.node().now().await?)
    }
}

/// `Some(value)` or a ValidationException naming the missing member.
pub(crate) fn required<T>(value: Option<T>, field: &str) -> Result<T, Error> {
    value.ok_or_else(|| Error::required(field))
}
