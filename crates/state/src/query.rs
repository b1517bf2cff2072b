//! Read-only views of the state for the service layer. Callers decide the consistency: the
//! cluster layer puts a linearizable read barrier in front of these where it matters.

use trent_model::{AccountId, AliasName, AliasRecord, KeyId, KeyRecord, KeyState, Millis};

use crate::{RequestId, Response, State};

impl State {
    /// The response a request with this id got, while the id is remembered
    /// ([`crate::DEDUP_WINDOW_MS`]).
    pub fn applied_response(&self, id: RequestId) -> Option<Response> {
        self.applied
            .get(&id)
            .map(|(_, remembered)| self.replay(remembered))
    }

    pub fn key(&self, id: &KeyId) -> Option<&KeyRecord> {
        self.keys.get(id)
    }

    /// Keys of `account` in key-id order, starting after `after`, at most `limit`: from the
    /// account's own index, so a page costs `limit` lookups whatever other accounts hold.
    pub fn keys<'a>(
        &'a self,
        account: &'a AccountId,
        after: Option<KeyId>,
        limit: usize,
    ) -> impl Iterator<Item = &'a KeyRecord> + 'a {
        self.account_key_ids(account, after)
            .filter_map(move |id| self.keys.get(id))
            .take(limit)
    }

    pub fn alias(&self, account: &AccountId, name: &AliasName) -> Option<&AliasRecord> {
        self.aliases.get(&(account.clone(), name.clone()))
    }

    /// Aliases of `account` in name order, optionally only those of one key.
    pub fn aliases<'a>(
        &'a self,
        account: &'a AccountId,
        target: Option<KeyId>,
    ) -> impl Iterator<Item = &'a AliasRecord> + 'a {
        self.aliases
            .range((account.clone(), min_alias())..)
            .map(|(_, a)| a)
            .take_while(move |a| &a.account == account)
            .filter(move |a| target.is_none_or(|t| a.target == t))
    }

    /// Keys whose deletion waiting period has passed at `now`: the leader proposes their
    /// deletion.
    pub fn keys_due_for_deletion(&self, now: Millis) -> Vec<KeyId> {
        self.keys
            .values()
            .filter(|k| k.metadata.key_state == KeyState::PendingDeletion)
            .filter(|k| k.metadata.deletion_date.is_some_and(|d| d <= now))
            .map(|k| k.metadata.key_id)
            .collect()
    }

    /// The replicated clock: the latest leader time applied.
    pub fn clock(&self) -> Millis {
        self.clock
    }
}

fn min_alias() -> AliasName {
    "alias/-".parse().expect("valid alias")
}
