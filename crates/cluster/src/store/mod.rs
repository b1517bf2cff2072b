//! RocksDB storage for openraft: the log, the Raft metadata and the state machine, each in its
//! own column family of one database, so one WAL covers them all and a `WriteBatch` is atomic
//! across them.
//!
//! Guarantees: a log append and a vote are fsynced before openraft hears they are durable;
//! state changes and `last_applied`/membership land in one batch; a data dir is bound to one
//! node of one cluster and refuses to open for another; the data dir, `db/` and `snapshots/`
//! are mode 0700 (created so, or tightened at every start), so no other local user reads the
//! log, the state or a snapshot.

// openraft's storage traits fix the error type (`StorageError`, over 200 bytes); boxing it in
// our helpers would only add conversions at every trait boundary.
#![allow(clippy::result_large_err)]

mod audit;
mod audit_index;
mod audit_index_marks;
mod audit_index_tail;
mod disk;
mod log;
mod log_cache;
mod machine;
mod sizes;
mod snapshot;
mod wal;

pub use audit::AuditStore;
pub use audit_index::{
    index_name as audit_index_name, Entry as AuditIndexEntry, MAX_NAME as MAX_INDEXED_NAME,
};
pub use disk::DiskHealth;
pub use log::LogStore;
pub use machine::{SharedState, StateMachineStore};
pub use sizes::LogSizes;

use std::path::{Path, PathBuf};
use std::sync::Arc;

use rocksdb::{ColumnFamilyDescriptor, Options, DB};
use serde::{Deserialize, Serialize};

use crate::{NodeId, StorageError};

pub(crate) const CF_LOG: &str = "log";
pub(crate) const CF_RAFT: &str = "raft";
pub(crate) const CF_STATE: &str = "state";
pub(crate) const CF_STATE_META: &str = "state_meta";
/// Sealed audit batches by seq (`audit.rs`).
pub(crate) const CF_AUDIT: &str = "audit";
/// The audit trail's events by the resources they name (`audit_index.rs`).
pub(crate) const CF_AUDIT_INDEX: &str = "audit_index";
/// Every column family of the database.
const COLUMN_FAMILIES: [&str; 6] = [
    CF_LOG,
    CF_RAFT,
    CF_STATE,
    CF_STATE_META,
    CF_AUDIT,
    CF_AUDIT_INDEX,
];

const IDENTITY_KEY: &[u8] = b"identity";
/// 2: log entries carry batches of requests.
const FORMAT: u32 = 2;

/// Who a data dir belongs to; written at first start and checked at every start after.
#[derive(Debug, PartialEq, Serialize, Deserialize)]
struct Identity {
    format: u32,
    cluster: String,
    node_id: NodeId,
}

/// Why a data dir cannot be opened. Each message names the path and the problem.
#[derive(Debug, thiserror::Error)]
pub enum OpenError {
    #[error("data dir {path}: {source}")]
    Io {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("data dir {path} holds files but no trent database; refusing to use it (is it another program's?)")]
    Foreign { path: PathBuf },
    #[error("data dir {path} cannot be opened, the database may be corrupt: {reason}")]
    Corrupt { path: PathBuf, reason: String },
    #[error("data dir {path} belongs to node {found_node} of cluster '{found_cluster}', not to node {node} of cluster '{cluster}'")]
    WrongOwner {
        path: PathBuf,
        found_cluster: String,
        found_node: NodeId,
        cluster: String,
        node: NodeId,
    },
    #[error("data dir {path}: {reason}")]
    State { path: PathBuf, reason: String },
}

/// The opened storage of one node.
pub struct Storage {
    pub log: LogStore,
    pub state_machine: StateMachineStore,
    pub disk: Arc<DiskHealth>,
    pub audit: AuditStore,
}

/// Opens (or, if `data_dir` is new or empty, creates) the storage of `node_id` in `cluster`,
/// leaving it writing to a recycled WAL of `wal_recycle_mb` (0: no recycling; see wal.rs).
pub(crate) fn open(
    data_dir: &Path,
    cluster: &str,
    node_id: NodeId,
    wal_recycle_mb: u64,
    hooks: crate::Hooks,
    identity: Arc<crate::cluster_id::IdentityCell>,
) -> Result<Storage, OpenError> {
    let db_path = data_dir.join("db");
    let fresh = prepare_dir(data_dir, &db_path)?;
    // The state's oldest kept audit batch: the index drops entries below it as it compacts.
    let audit_front = Arc::new(std::sync::atomic::AtomicU64::new(0));
    let db = open_db(&db_path, fresh, wal_recycle_mb, audit_front.clone())?;
    check_identity(&db, &db_path, fresh, cluster, node_id)?;
    wal::rotate_onto_filled_wal(&db, wal_recycle_mb).map_err(|e| OpenError::Io {
        path: db_path.clone(),
        source: std::io::Error::other(format!("preparing a recycled WAL: {e}")),
    })?;
    let db = Arc::new(db);
    let snapshot_dir = data_dir.join("snapshots");
    private_dir(&snapshot_dir).map_err(|source| OpenError::Io {
        path: snapshot_dir.clone(),
        source,
    })?;
    let disk = DiskHealth::new(identity.clone());
    let state_machine = StateMachineStore::open(
        db.clone(),
        snapshot_dir,
        hooks,
        identity,
        disk.clone(),
        audit_front,
    )
    .map_err(|e| OpenError::State {
        path: db_path.clone(),
        reason: e.to_string(),
    })?;
    Ok(Storage {
        audit: state_machine.audit().clone(),
        log: LogStore::new(db, disk.clone()),
        state_machine,
        disk,
    })
}

/// Returns whether the database is new. A data dir with files but no database is refused
/// rather than written into. The data dir and `db/` are private afterwards (`private_dir`).
fn prepare_dir(data_dir: &Path, db_path: &Path) -> Result<bool, OpenError> {
    let io = |source| OpenError::Io {
        path: data_dir.to_path_buf(),
        source,
    };
    private_dir(data_dir).map_err(io)?;
    let fresh = fresh_db(data_dir, db_path)?;
    // RocksDB would create `db/` as the umask says; it takes an existing (empty) one as is.
    private_dir(db_path).map_err(|source| OpenError::Io {
        path: db_path.to_path_buf(),
        source,
    })?;
    Ok(fresh)
}

fn fresh_db(data_dir: &Path, db_path: &Path) -> Result<bool, OpenError> {
    let io = |source| OpenError::Io {
        path: data_dir.to_path_buf(),
        source,
    };
    if db_path.join("CURRENT").exists() {
        return Ok(false);
    }
    let unexpected = std::fs::read_dir(data_dir)
        .map_err(io)?
        .filter_map(Result::ok)
        .any(|entry| match entry.file_name().to_str() {
            Some("snapshots") | Some("db") | Some("domain.key") => false,
            // mkfs makes an empty lost+found at the root of every ext2/3/4 file system, so a
            // fresh volume mounted as the data dir (a Kubernetes PersistentVolume) holds one.
            // One with files in it is what fsck recovered, maybe this node's own database.
            Some("lost+found") => !is_empty_dir(&entry.path()),
            _ => true,
        });
    let db_has_files = db_path.exists() && std::fs::read_dir(db_path).map_err(io)?.next().is_some();
    if unexpected || db_has_files {
        return Err(OpenError::Foreign {
            path: data_dir.to_path_buf(),
        });
    }
    Ok(true)
}

fn is_empty_dir(path: &Path) -> bool {
    std::fs::read_dir(path).is_ok_and(|mut entries| entries.next().is_none())
}

/// Creates `dir` mode 0700 (missing parents as the umask has them), or tightens an existing
/// one to 0700, saying so: an older trentd (or a umask) may have left it readable by others.
/// A dir trentd does not own and may not change (the mount point of a Kubernetes volume,
/// root's with the pod's fsGroup) stays as it is: what trentd puts in it is private.
/// Every directory it creates survives a power loss (`create_durably`).
fn private_dir(dir: &Path) -> std::io::Result<()> {
    use std::os::unix::fs::{DirBuilderExt, MetadataExt, PermissionsExt};
    if let Some(parent) = parent_of(dir) {
        create_durably(parent)?;
    }
    match std::fs::DirBuilder::new().mode(0o700).create(dir) {
        Ok(()) => sync_parent(dir)?,
        Err(e) if e.kind() != std::io::ErrorKind::AlreadyExists => return Err(e),
        _ => {}
    }
    let meta = std::fs::metadata(dir)?;
    if !meta.is_dir() {
        return Err(std::io::Error::other("not a directory"));
    }
    let was = format!("{:04o}", meta.mode() & 0o7777);
    if meta.mode() & 0o077 == 0 {
        return Ok(());
    }
    // The set-group-id bit stays: under a Kubernetes fsGroup it keeps new files in the group.
    let tight = (meta.mode() & 0o7000) | 0o700;
    match std::fs::set_permissions(dir, std::fs::Permissions::from_mode(tight)) {
        Ok(()) => {
            tracing::info!(path = %dir.display(), was, "tightened a data directory to 0700");
            Ok(())
        }
        Err(e) if e.kind() == std::io::ErrorKind::PermissionDenied => {
            tracing::info!(
                path = %dir.display(),
                mode = was,
                owner = meta.uid(),
                "cannot tighten a directory owned by another user (a volume's mount point?) to 0700; trentd keeps db/ and snapshots/ 0700"
            );
            Ok(())
        }
        Err(e) => Err(e),
    }
}

fn open_db(
    db_path: &Path,
    create: bool,
    wal_recycle_mb: u64,
    audit_front: Arc<std::sync::atomic::AtomicU64>,
) -> Result<DB, OpenError> {
    let mut options = Options::default();
    options.create_if_missing(create);
    // Always: a data dir from before a column family existed (the audit trail's) gains it.
    options.create_missing_column_families(true);
    options.set_keep_log_file_num(4);
    wal::configure(&mut options, wal_recycle_mb);
    let cfs = COLUMN_FAMILIES.map(|name| {
        let mut cf_options = wal::column_family_options(wal_recycle_mb);
        if name == CF_AUDIT_INDEX {
            let filter = audit_index::prune_filter(audit_front.clone());
            cf_options.set_compaction_filter("audit-index-retention", filter);
        }
        ColumnFamilyDescriptor::new(name, cf_options)
    });
    DB::open_cf_descriptors(&options, db_path, cfs).map_err(|e| OpenError::Corrupt {
        path: db_path.to_path_buf(),
        reason: e.to_string(),
    })
}

fn check_identity(
    db: &DB,
    path: &Path,
    fresh: bool,
    cluster: &str,
    node_id: NodeId,
) -> Result<(), OpenError> {
    let cf = db.cf_handle(CF_RAFT).expect("column family exists");
    let want = Identity {
        format: FORMAT,
        cluster: cluster.into(),
        node_id,
    };
    let corrupt = |reason: String| OpenError::Corrupt {
        path: path.to_path_buf(),
        reason,
    };
    match db
        .get_cf(cf, IDENTITY_KEY)
        .map_err(|e| corrupt(e.to_string()))?
    {
        None if fresh => {
            let bytes = serde_json::to_vec(&want).expect("identity serializes");
            let mut opts = rocksdb::WriteOptions::default();
            opts.set_sync(true);
            db.put_cf_opt(cf, IDENTITY_KEY, bytes, &opts)
                .map_err(|e| corrupt(e.to_string()))
        }
        None => Err(corrupt("the identity record is missing".into())),
        Some(bytes) => {
            let found: Identity = serde_json::from_slice(&bytes)
                .map_err(|e| corrupt(format!("unreadable identity record: {e}")))?;
            if found.format != FORMAT {
                return Err(corrupt(format!(
                    "storage format {} is not supported (expected {FORMAT})",
                    found.format
                )));
            }
            if found != want {
                return Err(OpenError::WrongOwner {
                    path: path.to_path_buf(),
                    found_cluster: found.cluster,
                    found_node: found.node_id,
                    cluster: cluster.into(),
                    node: node_id,
                });
            }
            Ok(())
        }
    }
}

/// Creates `dir` and its missing parents, each made durable. A new directory entry survives
/// a power loss only once its parent directory is synced (POSIX; ext4's journal usually
/// commits it with any later fsync, which hid this until the power-loss harness of issue 20
/// lost whole data dirs: every acknowledged write with them).
fn create_durably(dir: &Path) -> std::io::Result<()> {
    if dir.is_dir() {
        return Ok(());
    }
    if let Some(parent) = parent_of(dir) {
        create_durably(parent)?;
    }
    match std::fs::create_dir(dir) {
        Ok(()) => sync_parent(dir),
        Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => Ok(()),
        Err(e) => Err(e),
    }
}

/// Syncs the directory that holds `path`, making `path`'s entry in it durable.
fn sync_parent(path: &Path) -> std::io::Result<()> {
    let parent = parent_of(path).unwrap_or(Path::new("."));
    std::fs::File::open(parent)?.sync_all()
}

fn parent_of(path: &Path) -> Option<&Path> {
    path.parent().filter(|p| !p.as_os_str().is_empty())
}

pub(crate) fn storage_io(e: impl std::fmt::Display) -> StorageError {
    openraft::StorageIOError::<NodeId>::new(
        openraft::ErrorSubject::Store,
        openraft::ErrorVerb::Write,
        openraft::AnyError::error(e.to_string()),
    )
    .into()
}

pub(crate) fn storage_read(e: impl std::fmt::Display) -> StorageError {
    openraft::StorageIOError::<NodeId>::new(
        openraft::ErrorSubject::Store,
        openraft::ErrorVerb::Read,
        openraft::AnyError::error(e.to_string()),
    )
    .into()
}

/// Runs blocking RocksDB work off the async runtime.
pub(crate) async fn blocking<T: Send + 'static>(
    f: impl FnOnce() -> Result<T, StorageError> + Send + 'static,
) -> Result<T, StorageError> {
    tokio::task::spawn_blocking(f).await.map_err(storage_io)?
}

#[cfg(test)]
mod audit_index_tests;
#[cfg(test)]
mod audit_tests;
#[cfg(test)]
mod tests;
