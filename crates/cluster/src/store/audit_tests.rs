//! The trail outside snapshots: a snapshot carries the chain's tip alone, a node installing
//! one knows which batches it lacks, a backfill stores only the batch just below what it
//! holds, and retention's cuts are not undone.

use openraft::storage::{RaftSnapshotBuilder, RaftStateMachine};
use openraft::{Entry, EntryPayload, LogId};

use super::*;

fn cell() -> Arc<crate::cluster_id::IdentityCell> {
    crate::cluster_id::IdentityCell::new(Default::default())
}

pub(super) fn storage(dir: &Path) -> Storage {
    open(dir, "test", 1, 0, Default::default(), cell()).unwrap()
}

fn log_id(index: u64) -> LogId<NodeId> {
    LogId::new(openraft::CommittedLeaderId::new(1, 1), index)
}

pub(super) fn entry(index: u64, command: trent_state::Command) -> Entry<crate::TypeConfig> {
    let request = trent_state::Request {
        id: trent_state::RequestId(uuid::Uuid::from_u128(index as u128)),
        time: index * 1_000,
        command,
    };
    Entry {
        log_id: log_id(index),
        payload: EntryPayload::Normal(trent_state::Batch(vec![request])),
    }
}

fn event(n: u64) -> String {
    event_on(n, None)
}

/// Event `n`, naming key `key` as its resource if given.
pub(super) fn event_on(n: u64, key: Option<&str>) -> String {
    use trent_audit::{Call, Event, IdentityType, Resource, UserIdentity};
    let mut event = Event::kms(Call {
        identity: UserIdentity {
            kind: IdentityType::Root,
            principal_id: None,
            arn: None,
            account_id: Some("111122223333".into()),
            access_key_id: None,
            user_name: None,
        },
        time: time::OffsetDateTime::UNIX_EPOCH,
        operation: "Encrypt".into(),
        region: "us-east-1".into(),
        source_ip: "127.0.0.1".into(),
        user_agent: "test".into(),
        request_id: uuid::Uuid::from_u128(n as u128).to_string(),
        event_id: uuid::Uuid::from_u128(n as u128).to_string(),
        read_only: false,
        recipient_account_id: "111122223333".into(),
    });
    if let Some(key) = key {
        let arn = format!("arn:aws:kms:us-east-1:111122223333:key/{key}");
        event.resources = vec![Resource::key("111122223333", &arn)];
    }
    String::from_utf8(event.canonical_bytes()).unwrap()
}

/// Applies `batches` audit batches (one event each) from log index `from` on.
async fn append(machine: &mut StateMachineStore, from: u64, batches: u64) {
    let entries = (from..from + batches).map(|i| {
        entry(
            i,
            trent_state::Command::AppendAudit {
                events: vec![event(i)],
            },
        )
    });
    for responses in machine.apply(entries.collect::<Vec<_>>()).await.unwrap() {
        for response in responses.0 {
            response.unwrap();
        }
    }
}

pub(super) fn tip(machine: &StateMachineStore) -> trent_state::AuditTip {
    machine.state().read().unwrap().audit_tip()
}

#[tokio::test]
async fn a_snapshot_carries_the_tip_not_the_trail_and_the_installer_knows_what_it_lacks() {
    let (a, b) = (tempfile::tempdir().unwrap(), tempfile::tempdir().unwrap());
    let mut source = storage(a.path());
    append(&mut source.state_machine, 1, 5).await;
    assert_eq!(
        source.audit.missing_below(&tip(&source.state_machine)),
        None
    );
    let snapshot = snapshot_of(&mut source).await;
    let data = snapshot.snapshot.into_inner();
    let image = snapshot::parse(&data).unwrap();
    assert!(
        image
            .records
            .iter()
            .all(|(key, _)| audit::snapshot_seq(key).is_none()),
        "the snapshot carries audit batches"
    );

    let mut target = storage(b.path());
    target
        .state_machine
        .install_snapshot(&snapshot.meta, Box::new(std::io::Cursor::new(data)))
        .await
        .unwrap();
    let installed = tip(&target.state_machine);
    assert_eq!(installed, tip(&source.state_machine));
    assert_eq!(target.audit.missing_below(&installed), Some(5));
    // What it applies after the snapshot it stores, above the gap.
    append(&mut target.state_machine, 6, 2).await;
    let now = tip(&target.state_machine);
    assert_eq!(target.audit.missing_below(&now), Some(5));
    // The gap survives a restart as it was.
    drop(target);
    let target = storage(b.path());
    assert_eq!(target.audit.missing_below(&now), Some(5));

    // The source answers newest first, contiguous, about the bytes asked (at least one).
    let answer = source.audit.stored_below(5, usize::MAX).unwrap();
    assert_eq!(
        answer.iter().map(|b| b.0).collect::<Vec<_>>(),
        [4, 3, 2, 1, 0]
    );
    assert_eq!(source.audit.stored_below(5, 1).unwrap().len(), 1);
    assert!(source.audit.stored_below(0, usize::MAX).unwrap().is_empty());

    // Only the batch just below the stored run is taken, and what follows it.
    let front = || 0;
    assert_eq!(target.audit.fill(&answer[1..], front).await.unwrap(), 0);
    assert_eq!(target.audit.fill(&answer[..2], front).await.unwrap(), 2);
    assert_eq!(target.audit.held_from(), 3);
    assert_eq!(target.audit.fill(&answer[2..], front).await.unwrap(), 3);
    assert_eq!(target.audit.missing_below(&now), None);
    assert_eq!(stored(&target.audit, 7), (0..7).collect::<Vec<_>>());
    drop(target);
    assert_eq!(storage(b.path()).audit.missing_below(&now), None);
}

/// A snapshot `source` builds now.
pub(super) async fn snapshot_of(
    source: &mut Storage,
) -> openraft::storage::Snapshot<crate::TypeConfig> {
    source
        .state_machine
        .get_snapshot_builder()
        .await
        .build_snapshot()
        .await
        .unwrap()
}

/// A fresh node that installed a snapshot of `source`.
pub(super) async fn installed_copy(source: &mut Storage) -> (tempfile::TempDir, Storage) {
    let snapshot = snapshot_of(source).await;
    let dir = tempfile::tempdir().unwrap();
    let mut copy = storage(dir.path());
    copy.state_machine
        .install_snapshot(&snapshot.meta, snapshot.snapshot)
        .await
        .unwrap();
    (dir, copy)
}

fn stored(store: &AuditStore, below: u64) -> Vec<u64> {
    (0..below)
        .filter(|&seq| store.batch(seq).unwrap().is_some())
        .collect()
}

#[tokio::test]
async fn a_backfill_never_brings_back_what_retention_pruned() {
    let a = tempfile::tempdir().unwrap();
    let mut source = storage(a.path());
    append(&mut source.state_machine, 1, 6).await;
    let answer = source.audit.stored_below(6, usize::MAX).unwrap();

    // Retention has moved the front to batch 4: 3 and below are not written.
    let (_dir, copy) = installed_copy(&mut source).await;
    assert_eq!(copy.audit.fill(&answer, || 4).await.unwrap(), 2);
    assert_eq!(copy.audit.held_from(), 4);
    assert_eq!(stored(&copy.audit, 6), [4, 5]);

    // The front moves to 3 while the batches are written: those below it go again.
    let (_dir, copy) = installed_copy(&mut source).await;
    let asked = std::sync::atomic::AtomicU64::new(0);
    let front = || match asked.fetch_add(1, std::sync::atomic::Ordering::SeqCst) {
        0 => 0,
        _ => 3,
    };
    assert_eq!(copy.audit.fill(&answer, front).await.unwrap(), 6);
    assert_eq!(stored(&copy.audit, 6), [3, 4, 5]);
}

#[tokio::test]
async fn a_snapshot_made_before_the_trail_left_them_still_installs_its_batches() {
    let (a, b) = (tempfile::tempdir().unwrap(), tempfile::tempdir().unwrap());
    let mut source = storage(a.path());
    append(&mut source.state_machine, 1, 3).await;
    let state = source.state_machine.state();
    let meta = snapshot::Meta {
        last_log_id: Some(log_id(3)),
        last_membership: Default::default(),
        snapshot_id: "old-format".into(),
    };
    let mut writer = snapshot::Writer::new(&meta);
    for (key, value) in state.read().unwrap().records() {
        writer.record(&key, &value);
    }
    for (seq, bytes) in source
        .audit
        .stored_below(3, usize::MAX)
        .unwrap()
        .into_iter()
        .rev()
    {
        writer.record(&audit::snapshot_key(seq), &bytes);
    }
    let mut target = storage(b.path());
    target
        .state_machine
        .install_snapshot(&meta, Box::new(std::io::Cursor::new(writer.finish())))
        .await
        .unwrap();
    let installed = tip(&target.state_machine);
    assert_eq!(installed.next_seq, 3);
    assert_eq!(target.audit.missing_below(&installed), None);
    assert_eq!(target.audit.held_from(), 0);
}
