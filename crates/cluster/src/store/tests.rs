//! The storage contract, checked by openraft's own suite, plus trent's data-dir rules.

use openraft::testing::{StoreBuilder, Suite};

use super::*;

struct Builder;

impl StoreBuilder<crate::TypeConfig, LogStore, StateMachineStore, tempfile::TempDir> for Builder {
    async fn build(
        &self,
    ) -> Result<(tempfile::TempDir, LogStore, StateMachineStore), StorageError> {
        let dir = tempfile::tempdir().unwrap();
        let storage = open(dir.path(), "test", 1).unwrap();
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
    drop(open(dir.path(), "alpha", 1).unwrap());
    drop(open(dir.path(), "alpha", 1).unwrap());
    let err = open(dir.path(), "alpha", 2).err().unwrap().to_string();
    assert!(
        err.contains("belongs to node 1 of cluster 'alpha'"),
        "{err}"
    );
    let err = open(dir.path(), "beta", 1).err().unwrap().to_string();
    assert!(err.contains("cluster 'alpha'"), "{err}");
}

#[test]
fn foreign_and_corrupt_data_dirs_are_refused() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join("photo.jpg"), b"not ours").unwrap();
    let err = open(dir.path(), "alpha", 1).err().unwrap().to_string();
    assert!(err.contains("no trent database"), "{err}");

    let dir = tempfile::tempdir().unwrap();
    drop(open(dir.path(), "alpha", 1).unwrap());
    let current = dir.path().join("db/CURRENT");
    std::fs::write(&current, b"MANIFEST-999999\n").unwrap();
    let err = open(dir.path(), "alpha", 1).err().unwrap().to_string();
    assert!(err.contains("may be corrupt"), "{err}");
}
