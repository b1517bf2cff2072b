//! The recorded history of a run: what every client invoked and how it ended, and when each
//! fault started and stopped. One JSON object per line (`history.jsonl`), in the order the
//! harness observed them; the checkers read nothing else.
//!
//! Rules the recorder keeps (the checkers rely on them):
//! - a client process has at most one operation outstanding: its `Invoke` is followed by
//!   exactly one completion (`Ok`, `Fail` or `Info`) of the same process before its next
//!   `Invoke`;
//! - `Ok`: the operation completed and the service answered it; a business error the service
//!   answered (`DisabledException`, `NotFoundException`, ...) is an `Ok` whose result is
//!   `Err(code)`: it is an observation of the state, not a failure;
//! - `Fail`: the operation certainly took no effect (never reached any node, or was refused
//!   before it could be applied, e.g. a validation error);
//! - `Info`: the outcome is unknown (timeout, connection lost after sending, 5xx): it may
//!   take effect at any time after its invocation, or never. A process that ends `Info` is
//!   retired, as in Jepsen; a run's last operations may lack a completion, which means `Info`.
//! - Times are nanoseconds since the run started, from one monotonic clock.

use std::collections::BTreeMap;
use std::io::{BufRead, Write};
use std::path::Path;

use serde::{Deserialize, Serialize};

/// Nanoseconds since the run started.
pub type Nanos = u64;

/// The answer the service gave: a value, or the `__type` of the AWS error it answered.
pub type Answer<T> = Result<T, String>;

/// One line of the history.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "type", rename_all = "lowercase")]
pub enum Entry {
    Op(OpEvent),
    Nemesis(NemesisEvent),
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Kind {
    Invoke,
    Ok,
    Fail,
    Info,
}

/// A client operation's invocation or completion.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct OpEvent {
    pub time: Nanos,
    pub process: usize,
    pub kind: Kind,
    /// The node (1-based id) that last received the request, when one did.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub node: Option<u64>,
    /// Inputs on `Invoke`; inputs and outputs on `Ok`; inputs on `Fail`/`Info`.
    pub op: Op,
    /// Why a `Fail` or `Info` ended so (transport error, 5xx code, timeout).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub error: Option<String>,
    /// On a completion: the `x-amzn-RequestId` of the attempt that was answered (or refused),
    /// which its audit event's `requestID` must name (`check::audit`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub request_id: Option<String>,
}

/// The operations of the workloads. Output fields are `None` until an `Ok` fills them.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "f", rename_all = "kebab-case")]
pub enum Op {
    // -- key-state register (one register per key id) --
    /// EnableKey / DisableKey / ScheduleKeyDeletion / CancelKeyDeletion.
    KeyWrite {
        key: String,
        action: KeyAction,
        #[serde(default)]
        result: Option<Answer<()>>,
    },
    /// DescribeKey: the key's state.
    KeyRead {
        key: String,
        #[serde(default)]
        state: Option<Answer<KeyState>>,
    },
    /// Encrypt with the key: `Ok(())` when it encrypted, else the error code
    /// (`DisabledException`, `KMSInvalidStateException`).
    KeyUse {
        key: String,
        #[serde(default)]
        result: Option<Answer<()>>,
    },

    // -- alias register (one register per alias name; value = target key id) --
    /// CreateAlias / UpdateAlias (with `target`) / DeleteAlias (without).
    AliasWrite {
        alias: String,
        action: AliasAction,
        #[serde(default)]
        target: Option<String>,
        #[serde(default)]
        result: Option<Answer<()>>,
    },
    /// Encrypt through the alias: the key id it resolved to, or `NotFoundException`.
    AliasRead {
        alias: String,
        #[serde(default)]
        target: Option<Answer<String>>,
    },

    // -- ciphertext durability --
    /// Encrypt `plaintext` (base64) under `context`; `ciphertext` (base64) on `Ok`.
    Encrypt {
        key: String,
        context: BTreeMap<String, String>,
        plaintext: String,
        #[serde(default)]
        ciphertext: Option<Answer<String>>,
    },
    /// GenerateDataKey under `context`; plaintext and ciphertext (base64) on `Ok`.
    GenerateDataKey {
        key: String,
        context: BTreeMap<String, String>,
        #[serde(default)]
        data_key: Option<Answer<DataKey>>,
    },
    /// Decrypt after the faults healed: the plaintext (base64) or the error code.
    Decrypt {
        ciphertext: String,
        context: BTreeMap<String, String>,
        #[serde(default)]
        plaintext: Option<Answer<String>>,
    },
    /// RotateKeyOnDemand of a durable key: later ciphertexts are sealed under new material,
    /// and the earlier ones must still decrypt.
    RotateKey {
        key: String,
        #[serde(default)]
        result: Option<Answer<()>>,
    },

    // -- creation set --
    /// CreateKey: the new key id on `Ok`.
    CreateKey {
        #[serde(default)]
        key: Option<Answer<String>>,
    },
    /// ListKeys (all pages): every key id of the account. `final_read` marks the read made
    /// after the faults healed.
    ListKeys {
        #[serde(default)]
        final_read: bool,
        #[serde(default)]
        keys: Option<Answer<Vec<String>>>,
    },

    // -- deletion schedule (fresh keys, each scheduled for deletion days ahead) --
    /// ScheduleKeyDeletion with a `days` waiting period, invoked when the harness's wall
    /// clock (the majority's: the clock nemesis skews at most half the nodes) read `at_ms`;
    /// the DeletionDate answered, in ms since the Unix epoch, on `Ok`.
    ScheduleDeletion {
        key: String,
        days: u32,
        at_ms: u64,
        #[serde(default)]
        deletion_date: Option<Answer<u64>>,
    },
    /// DescribeKey of a deletion-schedule key invoked at the harness's wall clock `at_ms`:
    /// its state, or `NotFoundException` once deleted. `final_read` marks the read made
    /// after the faults healed.
    DeletionRead {
        key: String,
        at_ms: u64,
        #[serde(default)]
        final_read: bool,
        #[serde(default)]
        state: Option<Answer<KeyState>>,
    },

    // -- authorization (a few keys; a grantee user with no identity policy) --
    /// CreateGrant of `Encrypt` on `key` for the grantee, as the account root. `name` (the
    /// grant's `Name`, CreateGrant's idempotency key) is unique to the grant in the run: a
    /// CreateGrant of unknown outcome is asked again under the same name, which answers the
    /// same grant. The GrantId on `Ok`.
    CreateGrant {
        key: String,
        name: String,
        #[serde(default)]
        grant_id: Option<Answer<String>>,
    },
    /// RevokeGrant of the grant named `name` (by its id), as the account root.
    RevokeGrant {
        key: String,
        name: String,
        grant_id: String,
        #[serde(default)]
        result: Option<Answer<()>>,
    },
    /// PutKeyPolicy of one of the workload's three policies, as the account root (each keeps
    /// the root's `kms:*`).
    PutKeyPolicy {
        key: String,
        policy: GranteePolicy,
        #[serde(default)]
        result: Option<Answer<()>>,
    },
    /// Encrypt by the grantee, with its own credentials and no grant token: `Ok(())`, or the
    /// error code (`AccessDeniedException`).
    GranteeEncrypt {
        key: String,
        #[serde(default)]
        result: Option<Answer<()>>,
    },

    // -- signatures (a few asymmetric SIGN_VERIFY keys) --
    /// Sign `message` (base64, MessageType RAW) with `algorithm` (`ECDSA_SHA_256`,
    /// `RSASSA_PSS_SHA_256`); the signature (base64) on `Ok`.
    Sign {
        key: String,
        algorithm: String,
        message: String,
        #[serde(default)]
        signature: Option<Answer<String>>,
    },
    /// Verify of a signature an acknowledged Sign answered, or, when `tampered`, of that
    /// signature with its last bit flipped: `SignatureValid` on `Ok`, or the error code
    /// (`KMSInvalidSignatureException` for a signature that does not verify).
    Verify {
        key: String,
        algorithm: String,
        message: String,
        signature: String,
        #[serde(default)]
        tampered: bool,
        #[serde(default)]
        valid: Option<Answer<bool>>,
    },
    /// GetPublicKey: the key's public key (DER SubjectPublicKeyInfo, base64). `final_read`
    /// marks the reads made after the faults healed, whose keys verify every acknowledged
    /// signature outside trent.
    GetPublicKey {
        key: String,
        #[serde(default)]
        final_read: bool,
        #[serde(default)]
        public_key: Option<Answer<String>>,
    },
}

/// What a key policy of the authorization workload says of the grantee's `kms:Encrypt`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum GranteePolicy {
    /// A statement allows it: the grantee may encrypt with or without a grant.
    Allows,
    /// Nothing names the grantee: it may encrypt only through a grant.
    Silent,
    /// A statement denies it explicitly: no grant helps.
    Denies,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct DataKey {
    pub plaintext: String,
    pub ciphertext: String,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
pub enum KeyAction {
    Enable,
    Disable,
    ScheduleDeletion,
    CancelDeletion,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
pub enum KeyState {
    Enabled,
    Disabled,
    PendingDeletion,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
pub enum AliasAction {
    Create,
    Update,
    Delete,
}

/// A fault starting or stopping.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct NemesisEvent {
    pub time: Nanos,
    /// The nemesis: `partition`, `kill`, `pause`, `clock`, `membership`, `netem`.
    pub fault: String,
    pub phase: Phase,
    /// The nodes the fault acts on (1-based ids).
    #[serde(default)]
    pub nodes: Vec<u64>,
    /// What exactly, for people: "isolate leader 3 from 1,2,4,5", "kill -9 node 2".
    #[serde(default)]
    pub detail: String,
    /// While this fault is active, is a majority of the voters running and connected to
    /// each other? Availability is measured over the time it is.
    pub majority_healthy: bool,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Phase {
    Start,
    Stop,
}

/// Reads a history file.
pub fn load(path: &Path) -> std::io::Result<Vec<Entry>> {
    let file = std::io::BufReader::new(std::fs::File::open(path)?);
    let mut entries = vec![];
    for (n, line) in file.lines().enumerate() {
        let line = line?;
        if line.trim().is_empty() {
            continue;
        }
        let entry = serde_json::from_str(&line).map_err(|e| {
            std::io::Error::new(
                std::io::ErrorKind::InvalidData,
                format!("{}:{}: {e}", path.display(), n + 1),
            )
        })?;
        entries.push(entry);
    }
    Ok(entries)
}

/// Writes one entry as a line.
pub fn write_entry(out: &mut impl Write, entry: &Entry) -> std::io::Result<()> {
    serde_json::to_writer(&mut *out, entry)?;
    out.write_all(b"\n")
}

/// An operation with its invocation and completion paired.
#[derive(Debug, Clone, PartialEq)]
pub struct Completed {
    pub process: usize,
    pub invoke: Nanos,
    /// `None` when the history ends before the operation completed (then `kind` is `Info`).
    pub complete: Option<Nanos>,
    /// `Ok`, `Fail` or `Info`.
    pub kind: Kind,
    /// The completion's op (outputs filled on `Ok`), or the invocation's when none.
    pub op: Op,
    pub node: Option<u64>,
    /// The request id of the attempt that was answered or refused (`OpEvent::request_id`).
    pub request_id: Option<String>,
}

/// Pairs each invocation with its process's next completion, in invocation order.
pub fn completed(entries: &[Entry]) -> Vec<Completed> {
    let mut open: BTreeMap<usize, usize> = BTreeMap::new();
    let mut out: Vec<Completed> = vec![];
    for entry in entries {
        let Entry::Op(event) = entry else { continue };
        match event.kind {
            Kind::Invoke => {
                open.insert(event.process, out.len());
                out.push(Completed {
                    process: event.process,
                    invoke: event.time,
                    complete: None,
                    kind: Kind::Info,
                    op: event.op.clone(),
                    node: event.node,
                    request_id: None,
                });
            }
            kind => {
                if let Some(i) = open.remove(&event.process) {
                    let c = &mut out[i];
                    c.complete = Some(event.time);
                    c.kind = kind;
                    c.op = event.op.clone();
                    c.node = event.node;
                    c.request_id = event.request_id.clone();
                }
            }
        }
    }
    out
}
