//! The migration of the cluster's domain key from the soft backend to a PKCS#11 token
//! (issue 26), as the leader runs it once every node holds both keys (`trent_hsm`'s
//! `migrating.rs`): `SwitchDomainKey` makes the token's key the one the cluster writes under,
//! at one log index; then a leader task rewraps every blob under the old key through Raft
//! (`RewrapBlobs`), so the old key can go.
//!
//! Guarantees: the switch is proposed only when every member reports the same new key (a
//! node holding only the old key would stop at it) and every voter applies command set 6; a
//! rewrap is computed by the leader's HSM, proved to hold the same material
//! (`MigratingHsm::check_same_material`), and replaces a blob only if the record still holds
//! it; a blob the token cannot take (a spec it lacks) stays, is counted, and its reason is
//! reported, never dropped. Nothing of the old key is in any command.

use std::collections::HashMap;
use std::sync::Mutex;

use trent_hsm::{Hsm, HsmError, MaterialRef};
use trent_model::Error;
use trent_state::{Command, Outgoing, OutgoingCount, Rewrap, DOMAIN_KEY_COMMANDS};

use crate::deletion::{every_second, system_call};
use crate::{Call, OpError, Service};

/// Blobs rewrapped per command, and per leader tick.
const REWRAP_BATCH: usize = 64;
const REWRAP_PER_TICK: usize = 1024;

/// Where the cluster's domain key stands (`DescribeDomainKey`).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct DomainKeyStatus {
    /// The key check value the cluster records: the key it writes under.
    pub recorded: Vec<u8>,
    /// The key a migrating node would switch to (none unless this node holds two keys).
    pub next: Option<Vec<u8>>,
    /// Blobs still under a key this node's HSM does not write with.
    pub outgoing: OutgoingCount,
    /// Blobs the rewrap task could not move, with why (say, a spec the token lacks).
    pub stuck: Vec<String>,
}

/// Blobs the leader's rewrap task cannot move (the token refuses their spec), by blob, with
/// the reason.
#[derive(Default)]
pub(crate) struct Stuck(Mutex<HashMap<Vec<u8>, String>>);

impl Service {
    /// `SwitchDomainKey`: the cluster writes under the new key from the index this commits at.
    /// A repeated switch changes nothing and answers the status.
    pub async fn switch_domain_key(&self, call: &Call) -> Result<DomainKeyStatus, OpError> {
        let next = self.hsm().next_key_check_value().ok_or_else(|| {
            Error::admin_state(
                "This node holds one domain key: start every node with --hsm pkcs11 and \
                 --migrate-from-domain-key-file (the soft key) before switching",
            )
        })?;
        let recorded = self.recorded_key_check(call).await?;
        if recorded != next {
            self.require_commands(DOMAIN_KEY_COMMANDS).await?;
            self.node()
                .members_hold_next_key(&next)
                .await
                .map_err(|why| Error::admin_state(format!("The cluster cannot switch: {why}")))?;
            let command = Command::SwitchDomainKey {
                from: recorded,
                to: next.to_vec(),
                retired_audit_key: self.audit_public_key()?,
            };
            self.write(call, command).await?;
            tracing::info!("the cluster switched to the new domain key; rewrapping follows");
        }
        self.domain_key_status(call).await
    }

    /// `DescribeDomainKey`.
    pub async fn domain_key_status(&self, call: &Call) -> Result<DomainKeyStatus, OpError> {
        let hsm = self.hsm_shared();
        let (recorded, outgoing) = self
            .read_for(call, |s| {
                let recorded = s.cluster_identity().map(|i| i.key_check.clone());
                (recorded, s.count_outgoing(&|b| hsm.is_outgoing(b)))
            })
            .await?;
        let recorded = recorded.unwrap_or_default();
        let stuck = self.inner.stuck.0.lock().expect("stuck lock");
        Ok(DomainKeyStatus {
            recorded,
            next: self.hsm().next_key_check_value().map(|k| k.to_vec()),
            outgoing,
            stuck: stuck.values().take(10).cloned().collect(),
        })
    }

    async fn recorded_key_check(&self, call: &Call) -> Result<Vec<u8>, OpError> {
        let recorded = self
            .read_for(call, |s| s.cluster_identity().map(|i| i.key_check.clone()))
            .await?;
        recorded.ok_or_else(|| {
            Error::admin_state("The cluster has not recorded its domain key yet; try again").into()
        })
    }

    /// On the leader, after the switch: rewraps up to [`REWRAP_PER_TICK`] blobs under the old
    /// key; answers how many it replaced.
    pub async fn rewrap_outgoing(&self) -> Result<usize, OpError> {
        let hsm = self.hsm_shared();
        let Some(next) = hsm.next_key_check_value() else {
            return Ok(0);
        };
        // The HSM writes under the new key once this node applied the switch (the state is
        // read before that, while the apply's write reaches the disk).
        if !self.node().is_leader() || hsm.key_check_value() != next {
            return Ok(0);
        }
        let stuck = self.inner.stuck.0.lock().expect("stuck lock").clone();
        let (recorded, blobs) = self
            .read(|s| {
                let recorded = s.cluster_identity().map(|i| i.key_check.clone());
                let outgoing = |b: &[u8]| hsm.is_outgoing(b) && !stuck.contains_key(b);
                (recorded, s.outgoing_blobs(&outgoing, REWRAP_PER_TICK))
            })
            .await?;
        if recorded.as_deref() != Some(next.as_slice()) || blobs.is_empty() {
            return Ok(0);
        }
        let mut replaced = 0;
        for chunk in blobs.chunks(REWRAP_BATCH) {
            let chunk = chunk.to_vec();
            let hsm = hsm.clone();
            let rewraps = tokio::task::spawn_blocking(move || rewrap_all(hsm.as_ref(), chunk))
                .await
                .map_err(|e| Error::internal(format!("rewrap task: {e}")))?;
            let (rewraps, failed): (Vec<_>, Vec<_>) = rewraps.into_iter().partition(Result::is_ok);
            self.note_failed(failed.into_iter().filter_map(Result::err));
            let rewraps: Vec<Rewrap> = rewraps.into_iter().filter_map(Result::ok).collect();
            if rewraps.is_empty() {
                continue;
            }
            let n = rewraps.len();
            self.write(&system_call(), Command::RewrapBlobs { rewraps })
                .await?;
            replaced += n;
        }
        tracing::info!(replaced, "rewrapped blobs under the new domain key");
        Ok(replaced)
    }

    /// A blob the token refuses for good (a spec it lacks) is not tried again on this
    /// leader; any other failure (the token reopening) is tried at the next scan.
    fn note_failed(&self, failed: impl Iterator<Item = (Vec<u8>, HsmError, String)>) {
        let mut stuck = self.inner.stuck.0.lock().expect("stuck lock");
        for (blob, error, why) in failed {
            tracing::warn!(reason = %why, "a blob under the old domain key was not rewrapped");
            if lasting(&error) {
                stuck.insert(blob, why);
            }
        }
    }

    /// Runs [`Service::rewrap_outgoing`] every second until the node shuts down.
    pub fn spawn_rewrap_task(&self) -> tokio::task::JoinHandle<()> {
        every_second(self, "rewrap", |s| async move { s.rewrap_outgoing().await })
    }
}

/// Whether a rewrap refusal lasts: the token cannot take the key's spec at all.
fn lasting(error: &HsmError) -> bool {
    use HsmError::{Generation, Pkcs11Lacks, Pkcs11Unsupported, Spec, Unsupported};
    matches!(
        error,
        Pkcs11Lacks { .. } | Pkcs11Unsupported(_) | Spec(_) | Unsupported(_) | Generation(_)
    )
}

type Rewrapped = Result<Rewrap, (Vec<u8>, HsmError, String)>;

/// Each blob's rewrap, or the blob, the error and what it was.
fn rewrap_all(hsm: &dyn Hsm, blobs: Vec<Outgoing>) -> Vec<Rewrapped> {
    blobs
        .into_iter()
        .map(|outgoing| match outgoing {
            Outgoing::Material {
                key_id,
                version,
                spec,
                blob,
            } => {
                let key = MaterialRef {
                    key_id,
                    version,
                    wrapped: &blob,
                };
                match hsm.rewrap_material(key, spec) {
                    Ok(new) => Ok(Rewrap::Material {
                        key_id,
                        version,
                        old: blob,
                        new,
                    }),
                    Err(e) => {
                        let why = format!("key {key_id} version {version}: {e}");
                        Err((blob, e, why))
                    }
                }
            }
            Outgoing::Secret {
                access_key_id,
                blob,
            } => match hsm.rewrap_secret(access_key_id.as_bytes(), &blob) {
                Ok(new) => Ok(Rewrap::Secret {
                    access_key_id,
                    old: blob,
                    new,
                }),
                Err(e) => {
                    let why = format!("access key {access_key_id}: {e}");
                    Err((blob, e, why))
                }
            },
        })
        .collect()
}
