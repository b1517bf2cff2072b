//! Users and access keys: their commands and queries. Secrets arrive already wrapped by the
//! HSM; the state only stores and returns the wrapped form.

use trent_model::{AccessKeyRecord, AccountId, Error, Millis, UserName, UserRecord};

use crate::{Outcome, RecordKey, Response, State};

impl State {
    pub fn user(&self, account: &AccountId, name: &UserName) -> Option<&UserRecord> {
        self.users.get(&(account.clone(), name.clone()))
    }

    /// Users of `account`, in name order.
    pub fn users<'a>(&'a self, account: &'a AccountId) -> impl Iterator<Item = &'a UserRecord> {
        self.users.values().filter(move |u| &u.account == account)
    }

    pub fn access_key(&self, access_key_id: &str) -> Option<&AccessKeyRecord> {
        self.access_keys.get(access_key_id)
    }

    /// Access keys of `account`, in id order.
    pub fn access_keys<'a>(
        &'a self,
        account: &'a AccountId,
    ) -> impl Iterator<Item = &'a AccessKeyRecord> {
        self.access_keys
            .values()
            .filter(move |k| &k.owner.account == account)
    }

    pub(crate) fn create_user(
        &mut self,
        account: &AccountId,
        name: &UserName,
        now: Millis,
        touched: &mut Vec<RecordKey>,
    ) -> Response {
        let slot = (account.clone(), name.clone());
        if self.users.contains_key(&slot) {
            return Err(Error::already_exists(format!("User {name} already exists")));
        }
        let record = UserRecord {
            account: account.clone(),
            name: name.clone(),
            created: now,
        };
        self.users.insert(slot, record);
        touched.push(RecordKey::User(account.clone(), name.clone()));
        Ok(Outcome::Done)
    }

    pub(crate) fn delete_user(
        &mut self,
        account: &AccountId,
        name: &UserName,
        touched: &mut Vec<RecordKey>,
    ) -> Response {
        let slot = (account.clone(), name.clone());
        if !self.users.contains_key(&slot) {
            return Err(Error::not_found(format!("User {name} does not exist")));
        }
        let owns_keys = self
            .access_keys
            .values()
            .any(|k| &k.owner.account == account && k.owner.user.as_ref() == Some(name));
        if owns_keys {
            return Err(Error::invalid_state(format!(
                "User {name} still has access keys; delete them first"
            )));
        }
        self.users.remove(&slot);
        touched.push(RecordKey::User(account.clone(), name.clone()));
        Ok(Outcome::Done)
    }

    pub(crate) fn create_access_key(
        &mut self,
        record: &AccessKeyRecord,
        touched: &mut Vec<RecordKey>,
    ) -> Response {
        let id = &record.access_key_id;
        if self.access_keys.contains_key(id) {
            return Err(Error::already_exists(format!(
                "Access key {id} already exists"
            )));
        }
        if let Some(user) = &record.owner.user {
            if self.user(&record.owner.account, user).is_none() {
                return Err(Error::not_found(format!("User {user} does not exist")));
            }
        }
        self.access_keys.insert(id.clone(), record.clone());
        touched.push(RecordKey::AccessKey(id.clone()));
        Ok(Outcome::AccessKey(Box::new(record.clone())))
    }

    /// Whether the cluster was bootstrapped ([`crate::Command::Bootstrap`]).
    pub fn bootstrapped(&self) -> bool {
        self.bootstrapped
    }

    pub(crate) fn bootstrap(
        &mut self,
        root_access_key: &AccessKeyRecord,
        touched: &mut Vec<RecordKey>,
    ) -> Response {
        if self.bootstrapped {
            return Err(Error::already_exists("The cluster is bootstrapped already"));
        }
        self.bootstrapped = true;
        touched.push(RecordKey::Bootstrapped);
        let id = &root_access_key.access_key_id;
        if !self.access_keys.contains_key(id) {
            self.access_keys.insert(id.clone(), root_access_key.clone());
            touched.push(RecordKey::AccessKey(id.clone()));
        }
        Ok(Outcome::Done)
    }

    pub(crate) fn delete_access_key(
        &mut self,
        access_key_id: &str,
        touched: &mut Vec<RecordKey>,
    ) -> Response {
        if self.access_keys.remove(access_key_id).is_none() {
            return Err(Error::not_found(format!(
                "Access key {access_key_id} does not exist"
            )));
        }
        touched.push(RecordKey::AccessKey(access_key_id.to_owned()));
        Ok(Outcome::Done)
    }
}
