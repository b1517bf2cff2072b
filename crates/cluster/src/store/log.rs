//! The Raft log and Raft metadata (vote, committed, purged) in RocksDB.
//!
//! An append is written to RocksDB at once (readable when `append` returns, as openraft
//! requires) and made durable by the [`Flusher`] thread, which syncs the write-ahead log and
//! only then tells openraft the entries are on disk. One sync covers every append that was
//! waiting for it, and appends are reported durable in the order they were made. The vote is
//! written synced before `save_vote` returns. Every write waits while the disk is full, and
//! a failed sync stops the node and fails every later sync too (disk.rs).

use std::fmt::Debug;
use std::ops::RangeBounds;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{mpsc, Arc, Weak};

use openraft::storage::{LogFlushed, LogState, RaftLogReader, RaftLogStorage};
use openraft::{Entry, OptionalSend, RaftLogId, Vote};
use rocksdb::{Direction, IteratorMode, WriteBatch, WriteOptions, DB};

use super::disk::DiskHealth;
use super::log_cache::{range_start, LogCache};
use super::{blocking, storage_io, storage_read, LogSizes, CF_LOG, CF_RAFT};
use crate::{LogId, NodeId, StorageError, TypeConfig};

const VOTE: &[u8] = b"vote";
const COMMITTED: &[u8] = b"committed";
const PURGED: &[u8] = b"purged";

/// The log store; cheap to clone (it shares the database), which is also its reader.
#[derive(Clone)]
pub struct LogStore {
    db: Arc<DB>,
    /// The last committed index + 1 (0: nothing committed yet), for metrics.
    committed: Arc<AtomicU64>,
    flusher: Flusher,
    /// The stored size of each entry, for retention by bytes.
    sizes: LogSizes,
    disk: Arc<DiskHealth>,
    /// The newest entries, which most reads ask for (log_cache.rs).
    cache: LogCache,
}

/// The thread that makes appended entries durable; it ends with the last [`LogStore`].
#[derive(Clone)]
struct Flusher {
    waiting: mpsc::Sender<LogFlushed<TypeConfig>>,
}

impl Flusher {
    fn spawn(db: &Arc<DB>, disk: Arc<DiskHealth>) -> Flusher {
        let (waiting, queue) = mpsc::channel();
        // Weak: a node that shut down must be able to reopen its data dir at once.
        let db = Arc::downgrade(db);
        std::thread::Builder::new()
            .name("trent-log-flush".into())
            .spawn(move || flush_loop(db, disk, queue))
            .expect("spawn the log flush thread");
        Flusher { waiting }
    }

    /// Reports `callback`'s entries durable after the next sync of the WAL.
    fn after_next_sync(&self, callback: LogFlushed<TypeConfig>) {
        if let Err(mpsc::SendError(callback)) = self.waiting.send(callback) {
            callback.log_io_completed(Err(std::io::Error::other("the log flusher stopped")));
        }
    }
}

fn flush_loop(db: Weak<DB>, disk: Arc<DiskHealth>, queue: mpsc::Receiver<LogFlushed<TypeConfig>>) {
    // After one failed sync no later one proves anything (disk.rs: "fsyncgate").
    let mut broken: Option<String> = None;
    while let Ok(first) = queue.recv() {
        // Everything queued was written before it was queued: one sync covers it all.
        let mut waiting = vec![first];
        waiting.extend(queue.try_iter());
        let synced = match (&broken, db.upgrade()) {
            (Some(reason), _) => Err(reason.clone()),
            (None, Some(db)) => disk
                .write_blocking("syncing the Raft log", || {
                    fail::fail_point!("log-sync-skip", |_| Ok(()));
                    db.flush_wal(true)
                })
                .map_err(|e| e.to_string()),
            (None, None) => Err("the database is closed".to_string()),
        };
        if let Err(e) = &synced {
            broken.get_or_insert_with(|| format!("an earlier sync of the log failed: {e}"));
        }
        for callback in waiting {
            callback.log_io_completed(synced.clone().map_err(std::io::Error::other));
        }
    }
}

fn index_key(index: u64) -> [u8; 8] {
    index.to_be_bytes()
}

fn synced() -> WriteOptions {
    let mut opts = WriteOptions::default();
    opts.set_sync(true);
    opts
}

impl LogStore {
    pub(crate) fn new(db: Arc<DB>, disk: Arc<DiskHealth>) -> Self {
        // The log is bounded (retention.rs), so reading its sizes once at start is too.
        let sizes = LogSizes::default();
        let cf = db.cf_handle(CF_LOG).expect("cf");
        for (key, value) in db.iterator_cf(cf, IteratorMode::Start).flatten() {
            if let Ok(index) = <[u8; 8]>::try_from(key.as_ref()) {
                sizes.record(u64::from_be_bytes(index), value.len() as u64);
            }
        }
        LogStore {
            flusher: Flusher::spawn(&db, disk.clone()),
            db,
            committed: Arc::default(),
            sizes,
            disk,
            cache: LogCache::default(),
        }
    }

    /// The database, for the data dir's incarnation (incarnation.rs).
    pub(crate) fn db(&self) -> Arc<DB> {
        self.db.clone()
    }

    /// The stored size of each entry in the log.
    pub(crate) fn sizes(&self) -> LogSizes {
        self.sizes.clone()
    }

    /// The commit index as openraft last saved it: last committed index + 1, 0 for none.
    pub(crate) fn committed_gauge(&self) -> Arc<AtomicU64> {
        self.committed.clone()
    }

    fn get_meta<T: serde::de::DeserializeOwned>(
        &self,
        key: &[u8],
    ) -> Result<Option<T>, StorageError> {
        let cf = self.db.cf_handle(CF_RAFT).expect("cf");
        match self.db.get_cf(cf, key).map_err(storage_read)? {
            None => Ok(None),
            Some(bytes) => bincode::deserialize(&bytes).map(Some).map_err(storage_read),
        }
    }

    /// Writes one metadata value, on disk before this returns.
    async fn put_synced_meta<T: serde::Serialize>(
        &self,
        key: &'static [u8],
        value: &T,
    ) -> Result<(), StorageError> {
        let bytes = bincode::serialize(value).map_err(storage_io)?;
        let (db, disk) = (self.db.clone(), self.disk.clone());
        blocking(move || {
            let cf = db.cf_handle(CF_RAFT).expect("cf");
            disk.write_blocking("saving Raft metadata", || {
                db.put_cf_opt(cf, key, &bytes, &synced())
            })
            .map_err(storage_io)
        })
        .await
    }

    fn last_entry_id(&self) -> Result<Option<LogId>, StorageError> {
        let cf = self.db.cf_handle(CF_LOG).expect("cf");
        match self.db.iterator_cf(cf, IteratorMode::End).next() {
            None => Ok(None),
            Some(item) => {
                let (_, value) = item.map_err(storage_read)?;
                let entry: Entry<TypeConfig> =
                    bincode::deserialize(&value).map_err(storage_read)?;
                Ok(Some(*entry.get_log_id()))
            }
        }
    }

    /// Deletes log entries with index in `[from, to)` with one synced range delete.
    async fn delete_range(
        &self,
        from: u64,
        to: u64,
        meta: Option<(&'static [u8], Vec<u8>)>,
    ) -> Result<(), StorageError> {
        let (db, disk) = (self.db.clone(), self.disk.clone());
        blocking(move || {
            let mut batch = WriteBatch::default();
            if let Some((key, value)) = meta {
                batch.put_cf(db.cf_handle(CF_RAFT).expect("cf"), key, value);
            }
            batch.delete_range_cf(
                db.cf_handle(CF_LOG).expect("cf"),
                index_key(from),
                index_key(to),
            );
            disk.write_blocking("deleting Raft log entries", || {
                db.write_opt(WriteBatch::from_data(batch.data()), &synced())
            })
            .map_err(storage_io)
        })
        .await
    }
}

impl RaftLogReader<TypeConfig> for LogStore {
    async fn try_get_log_entries<RB: RangeBounds<u64> + Clone + Debug + OptionalSend>(
        &mut self,
        range: RB,
    ) -> Result<Vec<Entry<TypeConfig>>, StorageError> {
        if let Some(entries) = self.cache.get(&range) {
            return Ok(entries);
        }
        let Some(start) = range_start(&range) else {
            return Ok(Vec::new());
        };
        let cf = self.db.cf_handle(CF_LOG).expect("cf");
        let mut entries = Vec::new();
        for item in self.db.iterator_cf(
            cf,
            IteratorMode::From(&index_key(start), Direction::Forward),
        ) {
            let (key, value) = item.map_err(storage_read)?;
            let index = u64::from_be_bytes(key.as_ref().try_into().map_err(storage_read)?);
            if !range.contains(&index) {
                break;
            }
            entries.push(bincode::deserialize(&value).map_err(storage_read)?);
        }
        Ok(entries)
    }
}

impl RaftLogStorage<TypeConfig> for LogStore {
    type LogReader = Self;

    async fn get_log_state(&mut self) -> Result<LogState<TypeConfig>, StorageError> {
        let last_purged_log_id: Option<LogId> = self.get_meta(PURGED)?;
        let last_log_id = self.last_entry_id()?.or(last_purged_log_id);
        Ok(LogState {
            last_purged_log_id,
            last_log_id,
        })
    }

    async fn get_log_reader(&mut self) -> Self::LogReader {
        self.clone()
    }

    async fn save_vote(&mut self, vote: &Vote<NodeId>) -> Result<(), StorageError> {
        self.put_synced_meta(VOTE, vote).await
    }

    async fn read_vote(&mut self) -> Result<Option<Vote<NodeId>>, StorageError> {
        self.get_meta(VOTE)
    }

    async fn save_committed(&mut self, committed: Option<LogId>) -> Result<(), StorageError> {
        // Not synced: losing it only means re-learning the commit index from the leader. An
        // unsynced put only copies into the memtable and the WAL's buffer, so it runs here
        // rather than paying two thread hand-offs on every commit.
        let cf = self.db.cf_handle(CF_RAFT).expect("cf");
        let bytes = bincode::serialize(&committed).map_err(storage_io)?;
        self.disk
            .write("saving the commit index", || {
                self.db.put_cf(cf, COMMITTED, &bytes)
            })
            .await
            .map_err(storage_io)?;
        let next = committed.map_or(0, |id| id.index + 1);
        self.committed.store(next, Ordering::Relaxed);
        Ok(())
    }

    async fn read_committed(&mut self) -> Result<Option<LogId>, StorageError> {
        let committed = self.get_meta::<Option<LogId>>(COMMITTED)?.flatten();
        let next = committed.map_or(0, |id| id.index + 1);
        self.committed.store(next, Ordering::Relaxed);
        Ok(committed)
    }

    async fn append<I>(
        &mut self,
        entries: I,
        callback: LogFlushed<TypeConfig>,
    ) -> Result<(), StorageError>
    where
        I: IntoIterator<Item = Entry<TypeConfig>> + OptionalSend,
        I::IntoIter: OptionalSend,
    {
        let mut batch = WriteBatch::default();
        let cf = self.db.cf_handle(CF_LOG).expect("cf");
        let mut appended = Vec::new();
        for entry in entries {
            let value = bincode::serialize(&entry).map_err(storage_io)?;
            let (index, size) = (entry.get_log_id().index, value.len() as u64);
            self.sizes.record(index, size);
            batch.put_cf(cf, index_key(index), value);
            appended.push((entry, size));
        }
        // One batch, written here (an unsynced write only fills the memtable and hands the
        // WAL record to the OS), then synced by the flusher before openraft hears the
        // entries are durable.
        // Bytes, not the batch (which is not `Sync`), wait across a full disk's retries.
        let data = batch.data().to_vec();
        drop(batch);
        let written = self
            .disk
            .write("appending to the Raft log", || {
                let batch = WriteBatch::from_data(&data);
                self.db.write_opt(batch, &WriteOptions::default())
            })
            .await;
        if let Err(e) = written {
            callback.log_io_completed(Err(std::io::Error::other(e.to_string())));
            return Err(storage_io(e));
        }
        // Readable from the cache once readable from the log.
        self.cache.appended(appended);
        self.flusher.after_next_sync(callback);
        Ok(())
    }

    async fn truncate(&mut self, log_id: LogId) -> Result<(), StorageError> {
        self.sizes.forget(log_id.index, u64::MAX);
        // Out of the cache before out of the log: no read sees an entry the log lost.
        self.cache.truncate(log_id.index);
        self.delete_range(log_id.index, u64::MAX, None).await
    }

    async fn purge(&mut self, log_id: LogId) -> Result<(), StorageError> {
        // The purged marker and the deletion are one batch: a crash never leaves a gap
        // between the marker and the first remaining entry.
        let marker = bincode::serialize(&log_id).map_err(storage_io)?;
        self.delete_range(0, log_id.index + 1, Some((PURGED, marker)))
            .await?;
        self.cache.purge(log_id.index);
        self.sizes.forget(0, log_id.index + 1);
        Ok(())
    }
}
