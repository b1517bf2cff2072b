//! The storage contract, checked by openraft's own suite, plus trent's data-dir rules.

use openraft::testing::{StoreBuilder, Suite};

use super::*;

fn cell() -> Arc<crate::cluster_id::IdentityCell> {
    crate::cluster_id::IdentityCell::new(Default::default())
}

struct Builder;

impl StoreBuilder<crate::TypeConfig, LogStore, StateMachineStore, tempfile::TempDir> for Builder {
    async fn build(
        &self,
    ) -> Result<(tempfile::TempDir, LogStore, StateMachineStore), StorageError> {
        let dir = tempfile::tempdir().unwrap();
        let storage = open(dir.path(), "test", 1, 1, Default::default(), cell()).unwrap();
        Ok((dir, storage.log, storage.state_machine))
    }
}

#[test]
fn openraft_storage_suite() {
    Suite::test_all(Builder).unwrap();
}

#[test]
fn a_data_dir_belongs_to_one_node_of_one_cluster() {
    let dir = tempfile::tempdir().unwrap();
    drop(open(dir.path(), "alpha", 1, 0, Default::default(), cell()).unwrap());
    drop(open(dir.path(), "alpha", 1, 0, Default::default(), cell()).unwrap());
    let err = open(dir.path(), "alpha", 2, 0, Default::default(), cell())
        .err()
        .unwrap()
        .to_string();
    assert!(
        err.contains("belongs to node 1 of cluster 'alpha'"),
        "{err}"
    );
    let err = open(dir.path(), "beta", 1, 0, Default::default(), cell())
        .err()
        .unwrap()
        .to_string();
    assert!(err.contains("cluster 'alpha'"), "{err}");
}

#[test]
fn foreign_and_corrupt_data_dirs_are_refused() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join("photo.jpg"), b"not ours").unwrap();
    let err = open(dir.path(), "alpha", 1, 0, Default::default(), cell())
        .err()
        .unwrap()
        .to_string();
    assert!(err.contains("no trent database"), "{err}");

    let dir = tempfile::tempdir().unwrap();
    drop(open(dir.path(), "alpha", 1, 0, Default::default(), cell()).unwrap());
    let current = dir.path().join("db/CURRENT");
    std::fs::write(&current, b"MANIFEST-999999\n").unwrap();
    let err = open(dir.path(), "alpha", 1, 0, Default::default(), cell())
        .err()
        .unwrap()
        .to_string();
    assert!(err.contains("may be corrupt"), "{err}");
}

#[test]
fn a_fresh_volume_with_lost_and_found_is_a_fresh_data_dir() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::create_dir(dir.path().join("lost+found")).unwrap();
    drop(open(dir.path(), "alpha", 1, 0, Default::default(), cell()).unwrap());
    // Reopened as the node's own.
    drop(open(dir.path(), "alpha", 1, 0, Default::default(), cell()).unwrap());
    // One that fsck filled is not a fresh volume.
    let dir = tempfile::tempdir().unwrap();
    std::fs::create_dir(dir.path().join("lost+found")).unwrap();
    std::fs::write(dir.path().join("lost+found/#1234"), b"recovered").unwrap();
    let err = open(dir.path(), "alpha", 1, 0, Default::default(), cell())
        .err()
        .unwrap()
        .to_string();
    assert!(err.contains("no trent database"), "{err}");
}

#[test]
fn data_dir_db_and_snapshots_are_created_private_and_tightened_when_wider() {
    use std::os::unix::fs::PermissionsExt;
    let mode = |p: &Path| std::fs::metadata(p).unwrap().permissions().mode() & 0o7777;
    let root = tempfile::tempdir().unwrap();
    let data = root.path().join("a/data");
    drop(open(&data, "alpha", 1, 0, Default::default(), cell()).unwrap());
    let dirs = [data.clone(), data.join("db"), data.join("snapshots")];
    for dir in &dirs {
        assert_eq!(mode(dir), 0o700, "{}", dir.display());
    }
    for dir in &dirs {
        std::fs::set_permissions(dir, std::fs::Permissions::from_mode(0o2755)).unwrap();
    }
    drop(open(&data, "alpha", 1, 0, Default::default(), cell()).unwrap());
    for dir in &dirs {
        assert_eq!(mode(dir), 0o2700, "{} was not tightened", dir.display());
    }
}

/// The WAL files in a data dir's database: (number, bytes), oldest first.
fn wal_files(dir: &Path) -> Vec<(u64, u64)> {
    let mut files: Vec<(u64, u64)> = std::fs::read_dir(dir.join("db"))
        .unwrap()
        .filter_map(Result::ok)
        .filter_map(|e| {
            let name = e.file_name().into_string().ok()?;
            let number = name.strip_suffix(".log")?.parse().ok()?;
            Some((number, e.metadata().ok()?.len()))
        })
        .collect();
    files.sort();
    files
}

#[tokio::test]
async fn every_start_writes_to_a_reused_wal_and_keeps_what_was_synced() {
    use openraft::storage::RaftLogStorage;
    let dir = tempfile::tempdir().unwrap();
    let filled = 2 << 20;
    let vote = openraft::Vote::new_committed(7, 2);
    for start in 0..3 {
        let mut storage = open(dir.path(), "alpha", 1, 2, Default::default(), cell()).unwrap();
        // The live WAL (the newest) is a filled file reused, so appends overwrite its blocks,
        // and the next file to reuse is filled too.
        let files = wal_files(dir.path());
        let live = files.last().unwrap();
        assert!(
            live.1 >= filled,
            "start {start}: live WAL {live:?} of {files:?}"
        );
        assert!(
            files.iter().filter(|f| f.1 >= filled).count() >= 2,
            "{files:?}"
        );
        // Old starts' files are deleted, not kept.
        assert!(files.len() <= 6, "start {start}: {files:?}");
        let seen = storage.log.read_vote().await.unwrap();
        assert_eq!(seen, (start > 0).then_some(vote), "start {start}");
        storage.log.save_vote(&vote).await.unwrap();
    }
    // Turning recycling off later reads the same data.
    let mut storage = open(dir.path(), "alpha", 1, 0, Default::default(), cell()).unwrap();
    assert_eq!(storage.log.read_vote().await.unwrap(), Some(vote));
}

/// A snapshot image holding the identity of cluster `id`, as of log index 5.
fn snapshot_of(id: u128) -> (snapshot::Meta, Vec<u8>) {
    let mut state = trent_state::State::default();
    let request = trent_state::Request {
        id: trent_state::RequestId(uuid::Uuid::from_u128(99)),
        time: 1,
        command: trent_state::Command::SetClusterIdentity {
            identity: trent_state::ClusterIdentity {
                id: uuid::Uuid::from_u128(id),
                key_check: vec![],
            },
        },
    };
    state.apply(&request, &mut vec![]).unwrap();
    let leader = openraft::CommittedLeaderId::new(1, 1);
    let meta = snapshot::Meta {
        last_log_id: Some(openraft::LogId::new(leader, 5)),
        last_membership: Default::default(),
        snapshot_id: format!("of-{id}"),
    };
    let mut writer = snapshot::Writer::new(&meta);
    for (key, value) in state.records() {
        writer.record(&key, &value);
    }
    (meta, writer.finish())
}

#[tokio::test]
async fn a_snapshot_of_another_cluster_is_refused_and_changes_nothing() {
    use openraft::storage::RaftStateMachine;
    let dir = tempfile::tempdir().unwrap();
    let identity = cell();
    let ours = trent_state::ClusterIdentity {
        id: uuid::Uuid::from_u128(1),
        key_check: vec![],
    };
    identity.learn(Some(&ours)).unwrap();
    let storage = open(
        dir.path(),
        "alpha",
        1,
        0,
        Default::default(),
        identity.clone(),
    );
    let mut machine = storage.unwrap().state_machine;

    let (meta, data) = snapshot_of(2);
    let err = machine
        .install_snapshot(&meta, Box::new(std::io::Cursor::new(data)))
        .await
        .unwrap_err();
    assert!(err.to_string().contains("cluster id mismatch"), "{err}");
    assert_eq!(machine.applied_state().await.unwrap().0, None);
    assert!(machine.state().read().unwrap().cluster_identity().is_none());

    let (meta, data) = snapshot_of(1);
    machine
        .install_snapshot(&meta, Box::new(std::io::Cursor::new(data)))
        .await
        .unwrap();
    let state = machine.state();
    assert_eq!(state.read().unwrap().cluster_identity(), Some(&ours));
}

/// The membership is written only when an entry changes it, and a restart still finds it
/// beside the last applied entry.
#[tokio::test]
async fn the_membership_a_restart_finds_is_the_last_applied_one() {
    use openraft::storage::RaftStateMachine;
    use openraft::{Entry, EntryPayload, LogId, Membership};
    let log_id = |index| LogId::new(openraft::CommittedLeaderId::new(1, 1), index);
    let members = |ids: &[NodeId]| {
        let nodes: std::collections::BTreeMap<NodeId, openraft::BasicNode> = ids
            .iter()
            .map(|&id| (id, openraft::BasicNode::new(format!("127.0.0.{id}:7701"))))
            .collect();
        Membership::new(vec![nodes.keys().copied().collect()], nodes)
    };
    let blank = |index| Entry {
        log_id: log_id(index),
        payload: EntryPayload::Blank,
    };
    let change = |index, ids: &[NodeId]| Entry {
        log_id: log_id(index),
        payload: EntryPayload::Membership(members(ids)),
    };
    let dir = tempfile::tempdir().unwrap();
    let mut machine = open(dir.path(), "test", 1, 0, Default::default(), cell())
        .unwrap()
        .state_machine;
    machine
        .apply(vec![change(1, &[1]), blank(2), blank(3)])
        .await
        .unwrap();
    machine
        .apply(vec![change(4, &[1, 2]), blank(5)])
        .await
        .unwrap();
    machine.apply(vec![blank(6)]).await.unwrap();
    drop(machine);
    let mut machine = open(dir.path(), "test", 1, 0, Default::default(), cell())
        .unwrap()
        .state_machine;
    let (applied, membership) = machine.applied_state().await.unwrap();
    assert_eq!(applied, Some(log_id(6)));
    assert_eq!(membership.log_id(), &Some(log_id(4)));
    assert_eq!(membership.membership(), &members(&[1, 2]));
}
