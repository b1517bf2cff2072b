//! Users and access keys: their commands and queries. Secrets arrive already wrapped by the
//! HSM; the state only stores and returns the wrapped form.

use trent_model::{AccessKeyRecord, AccountId, Error, Millis, Principal, UserName, UserRecord};

use crate::apply::limit_exceeded;
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
        limit: Option<u32>,
        now: Millis,
        touched: &mut Vec<RecordKey>,
    ) -> Response {
        let slot = (account.clone(), name.clone());
        if self.users.contains_key(&slot) {
            return Err(Error::admin_exists(format!("User {name}")));
        }
        if let Some(limit) = limit.filter(|&l| self.user_count(account) >= l as usize) {
            return Err(limit_exceeded(format!(
                "The account already has the maximum of {limit} users"
            )));
        }
        let record = UserRecord {
            account: account.clone(),
            name: name.clone(),
            created: now,
        };
        self.insert_user(record);
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
            return Err(Error::admin_not_found(format!("User {name}")));
        }
        let user = Principal {
            account: account.clone(),
            user: Some(name.clone()),
        };
        if self.access_key_count(&user) > 0 {
            return Err(Error::admin_state(format!(
                "User {name} still has access keys; delete them first"
            )));
        }
        if self.has_user_policies(account, name) {
            return Err(Error::user_has_policies());
        }
        self.remove_user(account, name);
        touched.push(RecordKey::User(account.clone(), name.clone()));
        Ok(Outcome::Done)
    }

    pub(crate) fn create_access_key(
        &mut self,
        record: &AccessKeyRecord,
        limit: Option<u32>,
        touched: &mut Vec<RecordKey>,
    ) -> Response {
        let id = &record.access_key_id;
        if self.access_keys.contains_key(id) {
            return Err(Error::admin_exists(format!("Access key {id}")));
        }
        if let Some(user) = &record.owner.user {
            if self.user(&record.owner.account, user).is_none() {
                return Err(Error::admin_not_found(format!("User {user}")));
            }
        }
        let count = self.access_key_count(&record.owner);
        if let Some(limit) = limit.filter(|&l| count >= l as usize) {
            return Err(limit_exceeded(format!(
                "{} already has the maximum of {limit} access keys",
                record.owner.arn()
            )));
        }
        self.insert_access_key(record.clone());
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
            return Err(Error::admin_exists("The cluster's bootstrap"));
        }
        self.bootstrapped = true;
        touched.push(RecordKey::Bootstrapped);
        let id = &root_access_key.access_key_id;
        if !self.access_keys.contains_key(id) {
            self.insert_access_key(root_access_key.clone());
            touched.push(RecordKey::AccessKey(id.clone()));
        }
        Ok(Outcome::Done)
    }

    pub(crate) fn delete_access_key(
        &mut self,
        access_key_id: &str,
        touched: &mut Vec<RecordKey>,
    ) -> Response {
        if !self.remove_access_key(access_key_id) {
            return Err(Error::admin_not_found(format!(
                "Access key {access_key_id}"
            )));
        }
        touched.push(RecordKey::AccessKey(access_key_id.to_owned()));
        Ok(Outcome::Done)
    }
}
