//! Restoring a backup through the log: parts are staged in the replicated state, then one
//! commit swaps them in, so every replica changes from "fresh" to "restored" at the same log
//! index and none ever holds half a backup.
//!
//! Guarantees: a restore only ever lands in a *fresh* cluster (no keys, aliases or users, and
//! no access keys but the operator root's), checked at every part and again at the commit.
//! The commit checks the staged blob whole ([`check_backup`]: format, checksum, framing, the
//! seal under the domain key through the node's HSM, each record's owner label against the
//! record) and refuses it as a value, changing nothing, if any of that fails. The service runs
//! the same check before it proposes the commit, for an early answer; the commit's own check
//! is what holds. The fresh cluster's own access keys survive the restore, so its
//! bootstrapped operator credentials keep working.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};
use trent_model::{AccountId, Error, Principal};
use uuid::Uuid;

use crate::backup::{self, BackupBytes, BackupHeader, Record};
use crate::record::owner_of;
use crate::{DecodeError, Outcome, RecordKey, Response, SealCheck, State};

/// Largest part a `RestorePart` carries. An AppendEntries batch of openraft's default 300
/// entries of this size stays under the peer transport's 64 MiB message limit.
pub const MAX_PART_BYTES: usize = 192 * 1024;
/// Most parts one restore may have.
pub const MAX_PARTS: u32 = 4096;

/// The restore being staged: which one, and how many parts it will have.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub(crate) struct Staging {
    pub restore_id: Uuid,
    pub parts: u32,
}

/// How many entities the state holds, over all accounts.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct EntityCounts {
    pub keys: u64,
    pub aliases: u64,
    pub users: u64,
    pub access_keys: u64,
}

/// One staged part, as a command carries it.
pub(crate) struct Part<'a> {
    pub restore_id: Uuid,
    pub part: u32,
    pub parts: u32,
    pub data: &'a BackupBytes,
}

impl State {
    /// Why `operator`'s cluster cannot take a restore, or `None` if it is fresh.
    pub fn restore_blocker(&self, operator: &AccountId) -> Option<String> {
        let root = Principal::root(operator.clone());
        let foreign_keys = self.access_keys.values().filter(|k| k.owner != root);
        let held = [
            (self.keys.len(), "key"),
            (self.aliases.len(), "alias"),
            (self.users.len(), "user"),
            (
                foreign_keys.count(),
                "access key other than the operator root's",
            ),
        ];
        let held: Vec<String> = held
            .iter()
            .filter(|(n, _)| *n > 0)
            .map(|(n, what)| format!("{n} {what}{}", if *n == 1 { "" } else { "(s)" }))
            .collect();
        (!held.is_empty()).then(|| {
            format!(
                "ImportBackup needs a fresh cluster, but this one already holds {}; restore into a \
                 new cluster, where only the operator root's bootstrapped access key exists",
                held.join(", ")
            )
        })
    }

    pub fn entity_counts(&self) -> EntityCounts {
        EntityCounts {
            keys: self.keys.len() as u64,
            aliases: self.aliases.len() as u64,
            users: self.users.len() as u64,
            access_keys: self.access_keys.len() as u64,
        }
    }

    /// The whole staged blob of `restore_id`, once every part has arrived.
    pub fn staged_backup(&self, restore_id: Uuid) -> Option<Vec<u8>> {
        let staging = self.restore.as_ref()?;
        let complete =
            staging.restore_id == restore_id && self.restore_parts.len() == staging.parts as usize;
        complete.then(|| {
            self.restore_parts
                .values()
                .flat_map(|p| p.0.iter().copied())
                .collect()
        })
    }

    pub(crate) fn restore_part(
        &mut self,
        part: Part<'_>,
        operator: &AccountId,
        touched: &mut Vec<RecordKey>,
    ) -> Response {
        check_part(&part)?;
        self.check_fresh(operator)?;
        if part.part == 0 && !self.is_staging(part.restore_id, part.parts) {
            self.drop_staging(touched);
            self.restore = Some(Staging {
                restore_id: part.restore_id,
                parts: part.parts,
            });
            touched.push(RecordKey::Restore);
        }
        if !self.is_staging(part.restore_id, part.parts) {
            return Err(Error::admin_state(format!(
                "no restore {} of {} parts is in progress; send part 0 first",
                part.restore_id, part.parts
            )));
        }
        self.stage(part.part, part.data, touched)
    }

    /// Adds the next part; a part already staged with the same bytes (a retry) is accepted.
    fn stage(&mut self, index: u32, data: &BackupBytes, touched: &mut Vec<RecordKey>) -> Response {
        let next = self.restore_parts.len() as u32;
        match self.restore_parts.get(&index) {
            Some(staged) if staged == data => Ok(Outcome::Done),
            Some(_) => Err(Error::admin_state(format!(
                "part {index} was already received with different contents"
            ))),
            None if index == next => {
                self.restore_parts.insert(index, data.clone());
                touched.push(RecordKey::RestorePart(index));
                Ok(Outcome::Done)
            }
            None => Err(Error::admin_state(format!(
                "part {index} arrived out of order; the next part expected is {next}"
            ))),
        }
    }

    pub(crate) fn restore_commit(
        &mut self,
        restore_id: Uuid,
        operator: &AccountId,
        touched: &mut Vec<RecordKey>,
        seal: &dyn SealCheck,
    ) -> Response {
        let blob = self.staged_backup(restore_id).ok_or_else(|| {
            Error::admin_state(format!(
                "restore {restore_id} is not staged completely; send every part first"
            ))
        })?;
        self.check_fresh(operator)?;
        let (header, restored) = check_backup(&blob, seal)?;
        self.swap_in(restored, operator, touched);
        // A backup from before user policies: its users keep what they could do (only once
        // the era began: before it, `BeginUserPolicies` will migrate them, as the build that
        // wrote an older log's entries did).
        if !header.user_policies && self.user_policies_era {
            self.migrate_users(touched);
        }
        self.drop_staging(touched);
        Ok(Outcome::Done)
    }

    pub(crate) fn restore_abort(&mut self, restore_id: Uuid, touched: &mut Vec<RecordKey>) {
        if self
            .restore
            .as_ref()
            .is_some_and(|s| s.restore_id == restore_id)
        {
            self.drop_staging(touched);
        }
    }

    /// The entities of a backup: keys, aliases, users, access keys and users' inline policies
    /// only. Bookkeeping
    /// records (clock, request ids, staging) belong to the cluster that wrote them. With
    /// `labelled` (format 2), each record's owner label must name the account the record
    /// itself belongs to.
    pub fn from_backup_records(records: Vec<Record>, labelled: bool) -> Result<State, DecodeError> {
        for record in &records {
            let owner = owner_of(&record.key, &record.value)?;
            if labelled && owner.as_str() != record.owner {
                return Err(DecodeError {
                    key: record.key.clone(),
                    reason: format!(
                        "it belongs to account {owner} but is filed under account '{}'",
                        record.owner
                    ),
                });
            }
        }
        let state = State::restore(records.into_iter().map(|r| (r.key, r.value)))?;
        if let Some(orphan) = state.orphan_user_policy() {
            return Err(DecodeError {
                key: orphan.encode(),
                reason: "it is an inline policy of a user the backup does not hold".into(),
            });
        }
        if let Some(orphan) = state.orphan_rotation().or_else(|| state.orphan_import()) {
            return Err(DecodeError {
                key: orphan.encode(),
                reason: "it is the rotation or import record of a key the backup does not hold"
                    .into(),
            });
        }
        Ok(state)
    }

    /// The records a backup holds, in key order, each labelled with its owner account.
    pub fn backup_records(&self) -> Vec<Record> {
        self.records()
            .filter_map(|(key, value)| {
                let owner = owner_of(&key, &value).ok()?;
                Some(Record {
                    owner: owner.to_string(),
                    key,
                    value,
                })
            })
            .collect()
    }

    fn check_fresh(&self, operator: &AccountId) -> Result<(), Error> {
        match self.restore_blocker(operator) {
            Some(why) => Err(Error::admin_state(why)),
            None => Ok(()),
        }
    }

    fn is_staging(&self, restore_id: Uuid, parts: u32) -> bool {
        self.restore.as_ref() == Some(&Staging { restore_id, parts })
    }

    /// Replaces every entity with the backup's; the operator root's current access keys stay
    /// (and win over the backup's under the same id).
    fn swap_in(&mut self, restored: State, operator: &AccountId, touched: &mut Vec<RecordKey>) {
        touched.extend(self.entity_keys());
        let ours = std::mem::take(&mut self.access_keys);
        let root = Principal::root(operator.clone());
        self.keys = restored.keys;
        self.aliases = restored.aliases;
        self.users = restored.users;
        self.key_policies = restored.key_policies;
        self.grants = restored.grants;
        self.rotations = restored.rotations;
        self.imports = restored.imports;
        self.pending = restored.pending;
        self.access_keys = restored.access_keys;
        self.access_keys
            .extend(ours.into_iter().filter(|(_, k)| k.owner == root));
        self.user_policies = restored.user_policies;
        self.rebuild_index();
        touched.extend(self.entity_keys());
    }

    fn entity_keys(&self) -> Vec<RecordKey> {
        let keys = self.keys.keys().map(|id| RecordKey::Key(*id));
        let aliases = self
            .aliases
            .keys()
            .map(|(a, n)| RecordKey::Alias(a.clone(), n.clone()));
        let users = self
            .users
            .keys()
            .map(|(a, n)| RecordKey::User(a.clone(), n.clone()));
        let access = self.access_keys.keys().cloned().map(RecordKey::AccessKey);
        keys.chain(aliases)
            .chain(users)
            .chain(access)
            .chain(self.key_access_keys())
            .chain(self.user_policy_keys())
            .chain(self.rotation_keys())
            .chain(self.import_keys())
            .collect()
    }

    fn drop_staging(&mut self, touched: &mut Vec<RecordKey>) {
        if self.restore.take().is_some() {
            touched.push(RecordKey::Restore);
        }
        let parts = std::mem::take(&mut self.restore_parts);
        touched.extend(parts.into_keys().map(RecordKey::RestorePart));
    }
}

/// Checks a whole backup blob as the restore commit does: format, checksum and framing; the
/// seal, through `seal` (the node's HSM); every record's owner label against the record; and
/// that the records make a state. Answers the header and that state.
pub fn check_backup(blob: &[u8], seal: &dyn SealCheck) -> Result<(BackupHeader, State), Error> {
    let parsed = backup::parse(blob).map_err(|e| Error::invalid_member("data", e))?;
    if !seal.verify_seal(parsed.seal_purpose(), parsed.sealed, parsed.seal) {
        return Err(Error::invalid_member(
            "data",
            "the backup's seal does not verify under this cluster's domain key: it was altered \
             after export, or made under another domain key",
        ));
    }
    let labelled = parsed.format != backup::FORMAT_1;
    let restored = State::from_backup_records(parsed.records, labelled)
        .map_err(|e| Error::invalid_member("data", format!("the backup's records: {e}")))?;
    Ok((parsed.header, restored))
}

fn check_part(part: &Part<'_>) -> Result<(), Error> {
    if part.parts == 0 || part.parts > MAX_PARTS {
        return Err(Error::invalid_member(
            "parts",
            format!("Member must be between 1 and {MAX_PARTS}"),
        ));
    }
    if part.part >= part.parts {
        return Err(Error::invalid_member(
            "part",
            format!("Member must be less than parts ({})", part.parts),
        ));
    }
    if part.data.0.is_empty() || part.data.0.len() > MAX_PART_BYTES {
        return Err(Error::invalid_member(
            "data",
            format!("Member must hold 1 to {MAX_PART_BYTES} bytes"),
        ));
    }
    Ok(())
}

/// Staged parts by index (contiguous from 0).
pub(crate) type StagedParts = BTreeMap<u32, BackupBytes>;
