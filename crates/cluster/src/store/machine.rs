//! The state machine store: the in-memory [`State`] that readers share, persisted record by
//! record in RocksDB together with `last_applied` and the membership, and its snapshots.

use std::io::Cursor;
use std::path::{Path, PathBuf};
use std::sync::{Arc, RwLock};

use openraft::storage::{RaftStateMachine, Snapshot};
use openraft::{
    BasicNode, Entry, EntryPayload, OptionalSend, RaftSnapshotBuilder, StoredMembership,
};
use rocksdb::{IteratorMode, WriteBatch, WriteOptions, DB};
use trent_state::{RecordKey, Responses, State};

use super::disk::DiskHealth;
use super::snapshot::{self, Meta};
use super::{audit, audit_index};
use super::{blocking, storage_io, storage_read, CF_AUDIT, CF_STATE, CF_STATE_META};
use crate::cluster_id::IdentityCell;
use crate::{Hooks, LogId, NodeId, StorageError, TypeConfig};

const LAST_APPLIED: &[u8] = b"last_applied";
const MEMBERSHIP: &[u8] = b"membership";
const CURRENT_SNAPSHOT: &str = "current";

type Membership = StoredMembership<NodeId, BasicNode>;

/// The replicated state, shared between the state machine (the only writer) and readers.
pub type SharedState = Arc<RwLock<State>>;

pub struct StateMachineStore {
    db: Arc<DB>,
    state: SharedState,
    last_applied: Option<LogId>,
    membership: Membership,
    snapshot_dir: PathBuf,
    /// Backup seals are checked through them; removed keys are reported to them.
    hooks: Hooks,
    /// Learns the cluster's identity as it is applied or installed (cluster_id.rs).
    identity: Arc<IdentityCell>,
    disk: Arc<DiskHealth>,
    audit: audit::AuditStore,
}

impl StateMachineStore {
    pub(crate) fn open(
        db: Arc<DB>,
        snapshot_dir: PathBuf,
        hooks: Hooks,
        identity: Arc<IdentityCell>,
        disk: Arc<DiskHealth>,
        audit_front: Arc<std::sync::atomic::AtomicU64>,
    ) -> Result<Self, StorageError> {
        let meta = db.cf_handle(CF_STATE_META).expect("cf");
        let last_applied =
            read_value(db.get_cf(meta, LAST_APPLIED).map_err(storage_read)?)?.flatten();
        let membership =
            read_value(db.get_cf(meta, MEMBERSHIP).map_err(storage_read)?)?.unwrap_or_default();
        let records = db
            .iterator_cf(db.cf_handle(CF_STATE).expect("cf"), IteratorMode::Start)
            .map(|item| item.map(|(k, v)| (k.to_vec(), v.to_vec())))
            .collect::<Result<Vec<_>, _>>()
            .map_err(storage_read)?;
        let state = State::restore(records).map_err(storage_read)?;
        let audit = audit::AuditStore::new(db.clone(), &state.audit_tip(), audit_front)
            .map_err(storage_read)?;
        Ok(StateMachineStore {
            audit,
            db,
            state: Arc::new(RwLock::new(state)),
            last_applied,
            membership,
            snapshot_dir,
            hooks,
            identity,
            disk,
        })
    }

    /// The state, for readers.
    pub fn state(&self) -> SharedState {
        self.state.clone()
    }

    /// The stored audit trail.
    pub fn audit(&self) -> &audit::AuditStore {
        &self.audit
    }

    /// Adds the applied log id to `batch`, and the membership when `membership_changed`:
    /// most applies change no membership, and rewriting it each time was a write per round on
    /// every node for nothing.
    fn persist_batch(
        &self,
        batch: &mut WriteBatch,
        membership_changed: bool,
    ) -> Result<(), StorageError> {
        let meta = self.db.cf_handle(CF_STATE_META).expect("cf");
        batch.put_cf(
            meta,
            LAST_APPLIED,
            bincode::serialize(&self.last_applied).map_err(storage_io)?,
        );
        if membership_changed {
            batch.put_cf(
                meta,
                MEMBERSHIP,
                bincode::serialize(&self.membership).map_err(storage_io)?,
            );
        }
        Ok(())
    }
}

impl StateMachineStore {
    /// Stops the node for `reason` (a storage error stops Raft; the node then exits).
    fn refuse(&self, reason: String) -> StorageError {
        self.identity.fail(reason.clone());
        storage_io(reason)
    }
}

fn read_value<T: serde::de::DeserializeOwned>(
    bytes: Option<Vec<u8>>,
) -> Result<Option<T>, StorageError> {
    bytes
        .map(|b| bincode::deserialize(&b).map_err(storage_read))
        .transpose()
}

/// Writes `data` as the node's current snapshot: to a temporary file (owner-only, like the
/// dir it is in), fsynced, then renamed.
fn save_snapshot_file(dir: &Path, data: &[u8]) -> std::io::Result<()> {
    use std::io::Write;
    use std::os::unix::fs::OpenOptionsExt;
    let tmp = dir.join("current.tmp");
    let mut file = std::fs::OpenOptions::new()
        .write(true)
        .create(true)
        .truncate(true)
        .mode(0o600)
        .open(&tmp)?;
    file.write_all(data)?;
    file.sync_all()?;
    std::fs::rename(&tmp, dir.join(CURRENT_SNAPSHOT))?;
    std::fs::File::open(dir)?.sync_all()
}

impl RaftStateMachine<TypeConfig> for StateMachineStore {
    type SnapshotBuilder = SnapshotBuilder;

    async fn applied_state(&mut self) -> Result<(Option<LogId>, Membership), StorageError> {
        Ok((self.last_applied, self.membership.clone()))
    }

    async fn apply<I>(&mut self, entries: I) -> Result<Vec<Responses>, StorageError>
    where
        I: IntoIterator<Item = Entry<TypeConfig>> + OptionalSend,
        I::IntoIter: OptionalSend,
    {
        let mut responses = Vec::new();
        let mut touched = Vec::new();
        let mut batch = WriteBatch::default();
        let hooks = self.hooks.0.clone();
        let identity;
        let sealed;
        let mut pruned = None;
        let mut membership_changed = false;
        {
            let mut state = self.state.write().expect("state lock");
            for entry in entries {
                self.last_applied = Some(entry.log_id);
                responses.push(match entry.payload {
                    EntryPayload::Blank => Responses(Vec::new()),
                    EntryPayload::Normal(batch) => Responses(
                        batch
                            .0
                            .iter()
                            .map(|request| state.apply_checked(request, &mut touched, &*hooks))
                            .collect(),
                    ),
                    EntryPayload::Membership(membership) => {
                        self.membership = StoredMembership::new(Some(entry.log_id), membership);
                        membership_changed = true;
                        Responses(Vec::new())
                    }
                });
            }
            identity = touched
                .contains(&RecordKey::ClusterIdentity)
                .then(|| state.cluster_identity().cloned());
            let cf = self.db.cf_handle(CF_STATE).expect("cf");
            for key in dedup(touched) {
                match state.record(&key) {
                    Some(value) => batch.put_cf(cf, key.encode(), value),
                    None => {
                        batch.delete_cf(cf, key.encode());
                        if let RecordKey::Key(key_id) = key {
                            hooks.key_removed(key_id);
                        }
                    }
                }
            }
            sealed = state.take_sealed_audit();
            if let Some((from, to)) = state.take_pruned_audit() {
                audit::delete_pruned(&self.db, &mut batch, from, to);
                pruned = Some(to);
            }
        }
        // In the same write as the tip that counts them; indexed outside the state's lock.
        let staged = self.audit.put_sealed(&mut batch, &sealed);
        self.persist_batch(&mut batch, membership_changed)?;
        // Not fsynced: the log already is, and a crash re-applies from it. The next synced
        // write (a log append or purge) makes these durable too, as all share one WAL.
        let data = batch.data().to_vec();
        drop(batch);
        self.disk
            .write("applying to the state", || {
                let batch = WriteBatch::from_data(&data);
                self.db.write_opt(batch, &WriteOptions::default())
            })
            .await
            .map_err(storage_io)?;
        self.audit.sealed_written(staged);
        if let Some(to) = pruned {
            self.audit.pruned_before(to);
        }
        // A node that holds another domain key than the one just recorded stops here, before
        // it serves (its next start refuses at once: the record is on disk).
        if let Some(recorded) = identity {
            self.identity
                .learn(recorded.as_ref())
                .map_err(|reason| self.refuse(reason))?;
        }
        Ok(responses)
    }

    async fn get_snapshot_builder(&mut self) -> Self::SnapshotBuilder {
        SnapshotBuilder {
            db: self.db.clone(),
            dir: self.snapshot_dir.clone(),
        }
    }

    async fn begin_receiving_snapshot(&mut self) -> Result<Box<Cursor<Vec<u8>>>, StorageError> {
        Ok(Box::new(Cursor::new(Vec::new())))
    }

    async fn install_snapshot(
        &mut self,
        meta: &Meta,
        snapshot: Box<Cursor<Vec<u8>>>,
    ) -> Result<(), StorageError> {
        let data = snapshot.into_inner();
        let image = snapshot::parse(&data).map_err(storage_read)?;
        if image.meta.last_log_id != meta.last_log_id {
            return Err(storage_read(format!(
                "snapshot {} claims {:?} but holds {:?}",
                meta.snapshot_id, meta.last_log_id, image.meta.last_log_id
            )));
        }
        let (trail, records): (Vec<_>, Vec<_>) = image
            .records
            .iter()
            .partition(|(key, _)| audit::snapshot_seq(key).is_some());
        let state = State::restore(records.iter().map(|&r| r.clone())).map_err(storage_read)?;
        // A snapshot of another cluster is refused (cluster_id.rs).
        self.identity
            .learn(state.cluster_identity())
            .map_err(|reason| self.refuse(format!("snapshot {}: {reason}", meta.snapshot_id)))?;
        self.last_applied = meta.last_log_id;
        self.membership = meta.last_membership.clone();

        let mut batch = WriteBatch::default();
        let cf = self.db.cf_handle(CF_STATE).expect("cf");
        // Every record key begins with an ASCII tag byte, so [0, 0xFF) covers them all.
        batch.delete_range_cf(cf, [0u8].as_slice(), [0xFFu8].as_slice());
        for (key, value) in records {
            batch.put_cf(cf, key, value);
        }
        let audit_cf = self.db.cf_handle(CF_AUDIT).expect("cf");
        batch.delete_range_cf(audit_cf, [0u8; 8].as_slice(), [0xFFu8; 9].as_slice());
        let tip = state.audit_tip();
        audit_index::clear(&self.db, &mut batch, tip.next_seq);
        for (key, value) in trail {
            let seq = audit::snapshot_seq(key).expect("partitioned");
            batch.put_cf(audit_cf, trent_state::batch_key(seq), value);
            audit_index::put_entries_of_bytes(&self.db, &mut batch, seq, value);
        }
        self.persist_batch(&mut batch, true)?;
        let db = self.db.clone();
        let dir = self.snapshot_dir.clone();
        {
            // No batch a backfill fetched before this install lands after it.
            let _writing = self.audit.exclusive().await;
            blocking(move || {
                let mut opts = WriteOptions::default();
                opts.set_sync(true);
                db.write_opt(batch, &opts).map_err(storage_io)?;
                save_snapshot_file(&dir, &data).map_err(storage_io)
            })
            .await?;
            // The batches before the snapshot's tip come from the peers (audit_backfill.rs).
            self.audit.recount(&tip).map_err(storage_read)?;
            self.audit.reindexed(tip.next_seq);
        }
        let old = std::mem::replace(&mut *self.state.write().expect("state lock"), state);
        // Keys the snapshot no longer holds leave the HSM's cache too.
        let current = self.state.read().expect("state lock");
        for (key, _) in old.records() {
            if let Ok(RecordKey::Key(key_id)) = RecordKey::decode(&key) {
                if current.key(&key_id).is_none() {
                    self.hooks.0.key_removed(key_id);
                }
            }
        }
        Ok(())
    }

    async fn get_current_snapshot(&mut self) -> Result<Option<Snapshot<TypeConfig>>, StorageError> {
        let path = self.snapshot_dir.join(CURRENT_SNAPSHOT);
        let data = match tokio::fs::read(&path).await {
            Ok(data) => data,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(None),
            Err(e) => return Err(storage_read(e)),
        };
        let meta = snapshot::parse_meta(&data).map_err(storage_read)?;
        Ok(Some(Snapshot {
            meta,
            snapshot: Box::new(Cursor::new(data)),
        }))
    }
}

fn dedup(mut keys: Vec<RecordKey>) -> Vec<RecordKey> {
    let mut seen = std::collections::HashSet::new();
    keys.retain(|k| seen.insert(k.clone()));
    keys
}

/// Builds a snapshot from a RocksDB point-in-time view, concurrently with `apply`.
pub struct SnapshotBuilder {
    db: Arc<DB>,
    dir: PathBuf,
}

impl RaftSnapshotBuilder<TypeConfig> for SnapshotBuilder {
    async fn build_snapshot(&mut self) -> Result<Snapshot<TypeConfig>, StorageError> {
        let db = self.db.clone();
        let dir = self.dir.clone();
        let (meta, data) = blocking(move || {
            let view = db.snapshot();
            let meta_cf = db.cf_handle(CF_STATE_META).expect("cf");
            let last_log_id: Option<LogId> =
                read_value(view.get_cf(meta_cf, LAST_APPLIED).map_err(storage_read)?)?.flatten();
            let last_membership: Membership =
                read_value(view.get_cf(meta_cf, MEMBERSHIP).map_err(storage_read)?)?
                    .unwrap_or_default();
            let unique = std::time::SystemTime::now()
                .duration_since(std::time::UNIX_EPOCH)
                .unwrap_or_default();
            let snapshot_id = match last_log_id {
                Some(id) => format!("{}-{}-{}", id.leader_id.term, id.index, unique.as_nanos()),
                None => format!("empty-{}", unique.as_nanos()),
            };
            let meta = Meta {
                last_log_id,
                last_membership,
                snapshot_id,
            };
            let mut writer = snapshot::Writer::new(&meta);
            // The state alone: the trail's batches stay out (store/audit.rs).
            for item in view.iterator_cf(db.cf_handle(CF_STATE).expect("cf"), IteratorMode::Start) {
                let (key, value) = item.map_err(storage_read)?;
                writer.record(&key, &value);
            }
            let data = writer.finish();
            save_snapshot_file(&dir, &data).map_err(storage_io)?;
            Ok((meta, data))
        })
        .await?;
        tracing::info!(snapshot = %meta.snapshot_id, bytes = data.len(), "built snapshot");
        Ok(Snapshot {
            meta,
            snapshot: Box::new(Cursor::new(data)),
        })
    }
}
