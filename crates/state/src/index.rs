//! Per-account indexes and counts, derived from the entity maps, so that a limit check in
//! `apply` and a ListKeys page cost a lookup in the caller's own account instead of a scan of
//! every account's records.
//!
//! The index is never stored: every change to the entity maps goes through the methods here,
//! and a state rebuilt from records (start, snapshot install, backup restore) rebuilds it
//! whole with [`State::rebuild_index`]. So it equals what the maps hold on every replica.

use std::collections::{BTreeMap, BTreeSet};

use trent_model::{
    AccessKeyRecord, AccountId, AliasName, AliasRecord, KeyId, KeyRecord, Principal, UserName,
    UserRecord,
};

use crate::State;

#[derive(Clone, Debug, Default, PartialEq)]
pub(crate) struct Index {
    /// Key ids by owning account, in id order (ListKeys pages from it).
    keys: BTreeMap<AccountId, BTreeSet<KeyId>>,
    /// Aliases pointing at each key.
    aliases_per_key: BTreeMap<KeyId, usize>,
    users: BTreeMap<AccountId, usize>,
    /// Access keys by owner (a user, or an account's root).
    access_keys: BTreeMap<(AccountId, Option<UserName>), usize>,
}

fn up<K: Ord>(counts: &mut BTreeMap<K, usize>, key: K) {
    *counts.entry(key).or_default() += 1;
}

fn down<K: Ord>(counts: &mut BTreeMap<K, usize>, key: K) {
    if let std::collections::btree_map::Entry::Occupied(mut e) = counts.entry(key) {
        *e.get_mut() -= 1;
        if *e.get() == 0 {
            e.remove();
        }
    }
}

fn owner(p: &Principal) -> (AccountId, Option<UserName>) {
    (p.account.clone(), p.user.clone())
}

impl State {
    /// Rebuilds the index from the entity maps.
    pub(crate) fn rebuild_index(&mut self) {
        let mut index = Index::default();
        for (id, key) in &self.keys {
            index
                .keys
                .entry(key.metadata.account.clone())
                .or_default()
                .insert(*id);
        }
        for alias in self.aliases.values() {
            up(&mut index.aliases_per_key, alias.target);
        }
        for (account, _) in self.users.keys() {
            up(&mut index.users, account.clone());
        }
        for key in self.access_keys.values() {
            up(&mut index.access_keys, owner(&key.owner));
        }
        self.index = index;
    }

    pub(crate) fn insert_key(&mut self, record: KeyRecord) {
        let id = record.metadata.key_id;
        self.index
            .keys
            .entry(record.metadata.account.clone())
            .or_default()
            .insert(id);
        self.keys.insert(id, record);
    }

    pub(crate) fn remove_key(&mut self, id: KeyId) {
        let Some(record) = self.keys.remove(&id) else {
            return;
        };
        let account = &record.metadata.account;
        if let Some(ids) = self.index.keys.get_mut(account) {
            ids.remove(&id);
            if ids.is_empty() {
                self.index.keys.remove(account);
            }
        }
    }

    pub(crate) fn insert_alias(&mut self, record: AliasRecord) {
        up(&mut self.index.aliases_per_key, record.target);
        let slot = (record.account.clone(), record.name.clone());
        if let Some(old) = self.aliases.insert(slot, record) {
            down(&mut self.index.aliases_per_key, old.target);
        }
    }

    pub(crate) fn remove_alias(&mut self, account: &AccountId, name: &AliasName) {
        if let Some(old) = self.aliases.remove(&(account.clone(), name.clone())) {
            down(&mut self.index.aliases_per_key, old.target);
        }
    }

    pub(crate) fn insert_user(&mut self, record: UserRecord) {
        let account = record.account.clone();
        let slot = (account.clone(), record.name.clone());
        if self.users.insert(slot, record).is_none() {
            up(&mut self.index.users, account);
        }
    }

    pub(crate) fn remove_user(&mut self, account: &AccountId, name: &UserName) {
        if self
            .users
            .remove(&(account.clone(), name.clone()))
            .is_some()
        {
            down(&mut self.index.users, account.clone());
        }
    }

    pub(crate) fn insert_access_key(&mut self, record: AccessKeyRecord) {
        let owner = owner(&record.owner);
        if let Some(old) = self
            .access_keys
            .insert(record.access_key_id.clone(), record)
        {
            down(&mut self.index.access_keys, self::owner(&old.owner));
        }
        up(&mut self.index.access_keys, owner);
    }

    pub(crate) fn remove_access_key(&mut self, id: &str) -> bool {
        match self.access_keys.remove(id) {
            Some(old) => {
                down(&mut self.index.access_keys, owner(&old.owner));
                true
            }
            None => false,
        }
    }

    /// Keys of `account` in key-id order, starting after `after`.
    pub(crate) fn account_key_ids<'a>(
        &'a self,
        account: &AccountId,
        after: Option<KeyId>,
    ) -> impl Iterator<Item = &'a KeyId> + 'a {
        let start = match after {
            Some(id) => std::ops::Bound::Excluded(id),
            None => std::ops::Bound::Unbounded,
        };
        self.index
            .keys
            .get(account)
            .into_iter()
            .flat_map(move |ids| ids.range((start, std::ops::Bound::Unbounded)))
    }

    /// How many keys `account` has (a map lookup, not a scan).
    pub fn key_count(&self, account: &AccountId) -> usize {
        self.index.keys.get(account).map_or(0, BTreeSet::len)
    }

    /// How many aliases point at `key`.
    pub fn alias_count(&self, key: KeyId) -> usize {
        self.index.aliases_per_key.get(&key).copied().unwrap_or(0)
    }

    pub fn user_count(&self, account: &AccountId) -> usize {
        self.index.users.get(account).copied().unwrap_or(0)
    }

    /// How many access keys `owner` (a user or an account's root) has.
    pub fn access_key_count(&self, owner: &Principal) -> usize {
        self.index
            .access_keys
            .get(&self::owner(owner))
            .copied()
            .unwrap_or(0)
    }
}
