//! The leader's audit buffer (issue 25): every API call's event reaches the replicated trail
//! through it, many events per quorum round.
//!
//! Guarantees:
//! - [`Service::audit_commit`] returns `Ok` only once the event is in a committed
//!   `AppendAudit` entry, so on a quorum's disks: a successful operation is answered after
//!   that, or not at all (the front end turns the error into a retry or a 503).
//! - Events pushed while one `AppendAudit` is in flight ride the next one: one quorum round
//!   per group-commit cycle, whatever the number of calls.
//! - Refusals after authentication ([`Service::audit_refused`]) are answers too: they wait
//!   for their batch like successes (a shared round, never one of their own). Past
//!   [`REFUSALS_PENDING`] waiting refusals, further ones of the same caller and error code
//!   are counted into one event (`coalescedEvents`) and answered without waiting, so a flood
//!   of refused calls cannot grow the buffer or the log without bound.
//! - Unauthenticated requests ([`Service::audit_unauthenticated`]) are counted per (source
//!   address, error code) and become at most one event per pair per flush, so a flood of
//!   bad signatures costs log bytes bounded by the flush rate, not one entry per request.
//! - Until every voter applies command set 5 (`AUDIT_COMMANDS`, a rolling upgrade), nothing
//!   is proposed: events are dropped with a warning and counted (`audit_dropped`), and
//!   operations are answered, since old voters could not apply the command.
//! - A write offered its event (`audit_note.rs`) carries it in its own log entry instead:
//!   one round for both, and the API records no second one.
//! - Each event is serialized once, here, cut where its chain link goes
//!   ([`trent_audit::Unlinked`]), and proposed compressed as `AppendAuditPacked` once every
//!   voter applies command set 8 (`AppendAuditUnlinked` with set 7; before that as
//!   `AppendAudit`, which every node parses).

use std::collections::HashMap;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::Mutex;

use serde_json::Value;
use tokio::sync::oneshot;
use trent_audit::{Event, Packed, Unlinked};
use trent_cluster::ClusterError;
use trent_state::{Command, AUDIT_COMMANDS, PACKED_AUDIT_COMMANDS, UNLINKED_AUDIT_COMMANDS};
use uuid::Uuid;

use crate::{AuditNote, OpError, Service};

/// Events one flush takes at most (a few MB of log entries).
const MAX_EVENTS_PER_FLUSH: usize = 4096;
/// Events in one `AppendAudit`, so in one stored batch, at most. A lookup through the
/// resource index reads an event out of its stored batch, so the batch's size is the cost of
/// each event it finds: a flush of more is proposed as several batches at once, riding one
/// group-commit round.
pub const MAX_EVENTS_PER_BATCH: usize = 128;
/// `AppendAudit` proposals in flight at once. One: events that arrive while it waits for its
/// quorum ride the next one, so each carries many (measured, `scripts/bench-audit`: four in
/// flight made batches of ~10 events and cost 20% more CPU per call than one).
const MAX_FLUSHES: usize = 1;
/// Refusals waiting beyond this many are coalesced per (caller, error code).
pub const REFUSALS_PENDING: usize = 8192;

type Waiter = oneshot::Sender<Result<(), ClusterError>>;

#[derive(Default)]
pub(crate) struct AuditBuffer {
    pending: Mutex<Pending>,
    /// Every voter applies `AppendAudit` (checked until true, then kept).
    enabled: AtomicBool,
    /// Every voter applies `AppendAuditUnlinked` (checked until true, then kept).
    unlinked: AtomicBool,
    /// Every voter applies `AppendAuditPacked` (checked until true, then kept).
    packed: AtomicBool,
    /// Every voter applies `Audited` (checked until true, then kept; `audit_note.rs`).
    pub(crate) audited: AtomicBool,
    pub(crate) dropped: AtomicU64,
    pub(crate) committed: AtomicU64,
    pub(crate) coalesced: AtomicU64,
    /// Retention wants to prune what no export holds (`audit_retention.rs`).
    pub(crate) retention_blocked: AtomicBool,
}

#[derive(Default)]
struct Pending {
    /// Each event, serialized, and, for a success, who waits for its commit.
    events: Vec<(Unlinked, Option<Waiter>)>,
    refusals: usize,
    /// Flush tasks running (at most [`MAX_FLUSHES`]).
    flushes: usize,
    /// Refusals over the bound: one event per (caller or source, error code), with a count.
    over: HashMap<(String, String), (Event, u64)>,
}

/// Counters for metrics.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct AuditCounts {
    /// Events in committed `AppendAudit` entries proposed by this node.
    pub committed: u64,
    /// Events not recorded because the cluster cannot apply them yet (rolling upgrade).
    pub dropped: u64,
    /// Refusals folded into another event's count.
    pub coalesced: u64,
    /// Events waiting for the next batch.
    pub pending: u64,
    /// Retention's limits ask to prune events no export holds yet.
    pub retention_blocked: bool,
}

impl Service {
    /// Records `event` and waits until a quorum holds it.
    pub async fn audit_commit(&self, event: Event) -> Result<(), OpError> {
        if !self.audit_trail_on() {
            return Ok(());
        }
        let (tx, rx) = oneshot::channel();
        let event = Unlinked::new(event);
        {
            let mut p = self.audit_buffer().pending.lock().expect("audit lock");
            p.events.push((event, Some(tx)));
        }
        self.kick_audit_flush();
        committed(rx).await
    }

    /// Records a refused call's `event`: it waits for its batch like a success, unless
    /// more than [`REFUSALS_PENDING`] refusals wait already; then it is folded into one event
    /// per caller and error code and answered at once (module doc).
    pub async fn audit_refused(&self, event: Event) -> Result<(), OpError> {
        if !self.audit_trail_on() {
            return Ok(());
        }
        let key = (
            event.user_identity.arn.clone().unwrap_or_default(),
            event.error_code.clone().unwrap_or_default(),
        );
        let (tx, rx) = oneshot::channel();
        let waits = {
            let mut p = self.audit_buffer().pending.lock().expect("audit lock");
            if p.refusals < REFUSALS_PENDING {
                p.refusals += 1;
                p.events.push((Unlinked::new(event), Some(tx)));
                true
            } else {
                drop(p);
                self.coalesce(&event, key);
                false
            }
        };
        self.kick_audit_flush();
        if !waits {
            return Ok(());
        }
        committed(rx).await
    }

    /// Notes, for a call the service answered without looking the key up (a write's retry
    /// answered from its first attempt's record), the key `key_text` names for `caller`.
    pub fn note_key_for_audit(
        &self,
        caller: &trent_model::Principal,
        note: &AuditNote,
        key_text: &str,
    ) {
        let Ok(key_ref) = crate::resolve::parse_key_ref(
            key_text,
            self.region(),
            crate::resolve::Aliases::Accepted,
        ) else {
            return;
        };
        self.node().read_local(|s| {
            if let Ok(key) = crate::resolve::find_key(s, caller, self.region(), &key_ref) {
                note.note_key(&key.metadata);
            }
        });
    }

    /// Records an unauthenticated call's `event`, counted per source address and error code.
    pub fn audit_unauthenticated(&self, event: &Event) {
        let key = (
            event.source_ip_address.clone(),
            event.error_code.clone().unwrap_or_default(),
        );
        self.coalesce(event, key);
    }

    /// What this node's audit buffer has done.
    pub fn audit_counts(&self) -> AuditCounts {
        let b = self.audit_buffer();
        AuditCounts {
            committed: b.committed.load(Ordering::Relaxed),
            dropped: b.dropped.load(Ordering::Relaxed),
            coalesced: b.coalesced.load(Ordering::Relaxed),
            pending: b.pending.lock().expect("audit lock").events.len() as u64,
            retention_blocked: b.retention_blocked.load(Ordering::Relaxed),
        }
    }

    /// Counts `event` into the one event of its `key` (caller or address, error code) that
    /// the next batch carries with `coalescedEvents`.
    fn coalesce(&self, event: &Event, key: (String, String)) {
        if !self.audit_trail_on() {
            return;
        }
        {
            let mut p = self.audit_buffer().pending.lock().expect("audit lock");
            match p.over.get_mut(&key) {
                Some((_, n)) => {
                    *n += 1;
                    self.audit_buffer()
                        .coalesced
                        .fetch_add(1, Ordering::Relaxed);
                }
                None => {
                    p.over.insert(key, (event.clone(), 1));
                }
            }
        }
        self.kick_audit_flush();
    }

    /// Starts a flush task unless [`MAX_FLUSHES`] run; each runs until nothing waits.
    fn kick_audit_flush(&self) {
        {
            let mut p = self.audit_buffer().pending.lock().expect("audit lock");
            let waiting = !p.events.is_empty() || !p.over.is_empty();
            if !waiting || p.flushes >= MAX_FLUSHES {
                return;
            }
            p.flushes += 1;
        }
        let service = self.clone();
        tokio::spawn(async move { service.flush_audit().await });
    }

    async fn flush_audit(&self) {
        // Taking a batch and leaving when there is none happen under one lock with every
        // push, so no event is left waiting for a task that is gone.
        while let Some(mut batches) = self.take_audit_batches() {
            let last = batches.pop().expect("at least one batch");
            let mut others = tokio::task::JoinSet::new();
            for batch in batches {
                let service = self.clone();
                others.spawn(async move { service.record_audit_batch(batch).await });
            }
            self.record_audit_batch(last).await;
            while others.join_next().await.is_some() {}
        }
    }

    /// Proposes one batch and tells its waiters how it went.
    async fn record_audit_batch(&self, (events, waiters): (Vec<Unlinked>, Vec<Waiter>)) {
        let count = events.len() as u64;
        let result = self.propose_audit(events).await;
        if result.is_ok() {
            self.audit_buffer()
                .committed
                .fetch_add(count, Ordering::Relaxed);
        }
        for waiter in waiters {
            let _ = waiter.send(result.clone());
        }
    }

    /// Up to [`MAX_EVENTS_PER_FLUSH`] pending events and their waiters, in batches of at most
    /// [`MAX_EVENTS_PER_BATCH`]; coalesced refusals come out as one event each, with their
    /// count. `None` (and this flush task ends) when nothing waits.
    fn take_audit_batches(&self) -> Option<Vec<(Vec<Unlinked>, Vec<Waiter>)>> {
        let mut p = self.audit_buffer().pending.lock().expect("audit lock");
        if p.events.is_empty() && p.over.is_empty() {
            p.flushes -= 1;
            return None;
        }
        let over: Vec<_> = p.over.drain().map(|(_, v)| v).collect();
        for (mut event, count) in over {
            let data = event
                .additional_event_data
                .get_or_insert_with(Default::default);
            data.service
                .insert("coalescedEvents".into(), Value::from(count));
            p.events.push((Unlinked::new(event), None));
        }
        let n = p.events.len().min(MAX_EVENTS_PER_FLUSH);
        p.refusals = 0;
        let mut batches = Vec::with_capacity(n.div_ceil(MAX_EVENTS_PER_BATCH));
        let (mut events, mut waiters) = (Vec::new(), Vec::new());
        for (event, waiter) in p.events.drain(..n) {
            events.push(event);
            waiters.extend(waiter);
            if events.len() == MAX_EVENTS_PER_BATCH {
                batches.push((std::mem::take(&mut events), std::mem::take(&mut waiters)));
            }
        }
        if !events.is_empty() {
            batches.push((events, waiters));
        }
        Some(batches)
    }

    async fn propose_audit(&self, events: Vec<Unlinked>) -> Result<(), ClusterError> {
        let buffer = self.audit_buffer();
        if !buffer.enabled.load(Ordering::Acquire) {
            if let Err(why) = self.node().voters_apply_command_set(AUDIT_COMMANDS).await {
                // No quorum answered: the write would fail too; say so to the waiters.
                if !why.contains("cannot apply command set") {
                    return Err(ClusterError::Unavailable(why));
                }
                let n = events.len() as u64;
                buffer.dropped.fetch_add(n, Ordering::Relaxed);
                tracing::warn!(
                    events = n,
                    "audit events not recorded: a voter does not apply the audit trail's \
                     commands yet (rolling upgrade in progress)"
                );
                return Ok(());
            }
            buffer.enabled.store(true, Ordering::Release);
        }
        let command = self.audit_command(events).await;
        match self.node().write(Uuid::new_v4(), command).await? {
            Ok(_) => Ok(()),
            Err(e) => Err(ClusterError::Unavailable(format!(
                "the audit trail refused a batch: {e}"
            ))),
        }
    }
}

impl Service {
    /// `events` in the newest form every voter applies: packed (`AppendAuditPacked`, command
    /// set 8), cut (`AppendAuditUnlinked`, set 7), else whole, with a placeholder link `apply`
    /// replaces.
    async fn audit_command(&self, events: Vec<Unlinked>) -> Command {
        let buffer = self.audit_buffer();
        if self
            .voters_apply(&buffer.packed, PACKED_AUDIT_COMMANDS)
            .await
        {
            return Command::AppendAuditPacked {
                events: Packed::pack(&events),
            };
        }
        if self
            .voters_apply(&buffer.unlinked, UNLINKED_AUDIT_COMMANDS)
            .await
        {
            return Command::AppendAuditUnlinked { events };
        }
        let events = events.iter().map(Unlinked::whole).collect();
        Command::AppendAudit { events }
    }

    /// Whether every voter applies command set `set`, asked until they do, then kept in
    /// `known`.
    pub(crate) async fn voters_apply(&self, known: &AtomicBool, set: u32) -> bool {
        if known.load(Ordering::Acquire) {
            return true;
        }
        let all = self.node().voters_apply_command_set(set).await.is_ok();
        if all {
            known.store(true, Ordering::Release);
        }
        all
    }
}

/// What the flush told a waiter: its event's batch committed, or why not.
async fn committed(rx: oneshot::Receiver<Result<(), ClusterError>>) -> Result<(), OpError> {
    match rx.await {
        Ok(result) => Ok(result?),
        Err(_) => Err(ClusterError::Unavailable("the audit buffer stopped".into()).into()),
    }
}
