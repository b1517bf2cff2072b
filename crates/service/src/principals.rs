//! Users and access keys (what IAM does for AWS), and the one-time bootstrap of the operator
//! root's access key from configuration. An account's root manages its principals, and so
//! does a user whose identity policies allow the IAM action (`user_policies.rs`); the root's
//! own access keys only the root.
//! Secrets are generated and wrapped by the HSM; a new secret is shown to its creator, and
//! to the creator's retries of the same request (from the wrapped copy the state machine
//! remembers with the request's answer), never to anyone else.

use std::time::Duration;

use trent_hsm::HsmError;
use trent_model::{
    validate_access_key_id, AccessKeyRecord, AccountId, Error, ErrorKind, Principal, UserName,
};
use trent_state::{Command, Outcome};
use uuid::Uuid;
use zeroize::Zeroizing;

use crate::{Call, OpError, Service};

/// An access key just created: the only time its secret is visible.
pub struct CreatedAccessKey {
    pub access_key_id: String,
    pub secret_access_key: Zeroizing<String>,
    pub owner: Principal,
}

const SECRET_ALPHABET: &[u8] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
const ID_ALPHABET: &[u8] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZ234567";

impl Service {
    pub async fn create_user(&self, call: &Call, name: &str) -> Result<(), OpError> {
        let name: UserName = name.parse()?;
        let account = self
            .authorize_iam(call, "iam:CreateUser", name.as_str())
            .await?;
        // A user created now must not be one the migration gives full access.
        self.ensure_user_policies_era(call).await?;
        let command = Command::CreateUser {
            account,
            name,
            max_users_per_account: Some(self.limits().users_per_account),
        };
        self.write(call, command).await?;
        Ok(())
    }

    pub async fn delete_user(&self, call: &Call, name: &str) -> Result<(), OpError> {
        let name: UserName = name.parse()?;
        let account = self
            .authorize_iam(call, "iam:DeleteUser", name.as_str())
            .await?;
        self.write(call, Command::DeleteUser { account, name })
            .await?;
        Ok(())
    }

    pub async fn list_users(&self, call: &Call) -> Result<Vec<UserName>, OpError> {
        let account = self.authorize_iam(call, "iam:ListUsers", "*").await?;
        self.read_for(call, |s| {
            s.users(&account).map(|u| u.name.clone()).collect()
        })
        .await
    }

    /// Creates an access key for `user` (or for the root if `None`) with a fresh secret.
    pub async fn create_access_key(
        &self,
        call: &Call,
        user: Option<&str>,
    ) -> Result<CreatedAccessKey, OpError> {
        let user: Option<UserName> = user.map(str::parse).transpose()?;
        let account = match &user {
            Some(user) => {
                self.authorize_iam(call, "iam:CreateAccessKey", user.as_str())
                    .await?
            }
            None => only_root(call)?,
        };
        let owner = Principal { account, user };
        self.issue_access_key(call, owner).await
    }

    /// Opens `account` by creating an access key for its root. The caller's authority (the
    /// cluster operator) is the admin front end's to check.
    pub async fn create_account_root_key(
        &self,
        call: &Call,
        account: AccountId,
    ) -> Result<CreatedAccessKey, OpError> {
        self.issue_access_key(call, Principal::root(account)).await
    }

    /// A fresh access key for `owner`, stored with its secret wrapped. A retry of the call
    /// answers the key its first attempt stored: the state machine remembers the created
    /// record (secret wrapped) as the request's answer, and the HSM unwraps it again.
    async fn issue_access_key(
        &self,
        call: &Call,
        owner: Principal,
    ) -> Result<CreatedAccessKey, OpError> {
        let limit = Some(self.limits().access_keys_per_user);
        let outcome = match self.applied_before(call).await? {
            Some(first) => first?,
            // Should a duplicate of this call apply first, the state machine answers its
            // record, not the one proposed here.
            None => {
                let (access_key_id, secret) = self.generate_credentials()?;
                self.store_access_key(call, &access_key_id, &secret, owner, limit)
                    .await?
            }
        };
        let Outcome::AccessKey(record) = outcome else {
            return Err(Error::internal(format!("unexpected outcome {outcome:?}")).into());
        };
        let secret = self
            .hsm()
            .unwrap_secret(record.access_key_id.as_bytes(), &record.wrapped_secret)?;
        let secret = std::str::from_utf8(&secret)
            .map_err(|_| Error::internal("stored secret is not text"))?;
        Ok(CreatedAccessKey {
            secret_access_key: Zeroizing::new(secret.to_owned()),
            access_key_id: record.access_key_id,
            owner: record.owner,
        })
    }

    pub async fn delete_access_key(&self, call: &Call, access_key_id: &str) -> Result<(), OpError> {
        // A retry of a deletion that took effect answers as the first time (the key is gone
        // now); a refused one stays refused (once.rs).
        self.once(call, |_| Ok(()), async {
            let account = call.caller.account.clone();
            let owner = self
                .read_for(call, |s| {
                    s.access_key(access_key_id).map(|k| k.owner.clone())
                })
                .await?
                .filter(|owner| owner.account == account);
            // A key of the root only the root deletes; one that is not the account's is
            // NotFound to whoever may delete every user's keys.
            match owner.as_ref().map(|o| &o.user) {
                Some(None) => {
                    only_root(call)?;
                }
                Some(Some(user)) => {
                    self.authorize_iam(call, "iam:DeleteAccessKey", user.as_str())
                        .await?;
                }
                None => {
                    self.authorize_iam(call, "iam:DeleteAccessKey", "*").await?;
                }
            }
            if owner.is_none() {
                return Err(
                    Error::admin_not_found(format_args!("Access key {access_key_id}")).into(),
                );
            }
            let command = Command::DeleteAccessKey {
                access_key_id: access_key_id.into(),
            };
            self.write(call, command).await?;
            Ok(())
        })
        .await
    }

    /// Access key ids of the account, with their owners.
    pub async fn list_access_keys(&self, call: &Call) -> Result<Vec<(String, Principal)>, OpError> {
        let account = self.authorize_iam(call, "iam:ListAccessKeys", "*").await?;
        self.read_for(call, |s| {
            s.access_keys(&account)
                .map(|k| (k.access_key_id.clone(), k.owner.clone()))
                .collect()
        })
        .await
    }

    /// The owner of access key `access_key_id` and its secret, unwrapped by the HSM, to
    /// verify a request signature with; `None` for an unknown key. Read behind the barrier,
    /// so a deleted key is refused at once.
    pub async fn signing_secret(
        &self,
        access_key_id: &str,
    ) -> Result<Option<(Principal, Zeroizing<Vec<u8>>)>, OpError> {
        let Some(record) = self.read(|s| s.access_key(access_key_id).cloned()).await? else {
            return Ok(None);
        };
        let secret = self
            .hsm()
            .unwrap_secret(record.access_key_id.as_bytes(), &record.wrapped_secret)?;
        Ok(Some((record.owner, secret)))
    }

    /// Bootstraps the cluster with `account`'s root access key `access_key_id` and `secret`
    /// (from configuration), once in the cluster's life: the state records that it is done,
    /// and every later start leaves access keys alone (a root key the operator deleted stays
    /// deleted). Runs on every node; only the leader's attempt writes, so it waits until this
    /// node has seen bootstrap done in the state. Until then, a key of that id with another
    /// secret or owner is refused, never overwritten.
    pub async fn ensure_root_access_key(
        &self,
        account: AccountId,
        access_key_id: String,
        secret: Zeroizing<String>,
    ) -> Result<(), Error> {
        validate_access_key_id(&access_key_id)?;
        let owner = Principal::root(account);
        loop {
            let (done, record) = self
                .node()
                .read_local(|s| (s.bootstrapped(), s.access_key(&access_key_id).cloned()));
            if done {
                if let Some(record) = &record {
                    // This node's domain key must open what its peers wrapped.
                    self.hsm()
                        .unwrap_secret(record.access_key_id.as_bytes(), &record.wrapped_secret)
                        .map_err(|e| Error::internal(e.to_string()))?;
                }
                tracing::info!(
                    access_key_id,
                    "the cluster is bootstrapped already: the root access key from the \
                     configuration (TRENT_ROOT_ACCESS_KEY_ID) is ignored"
                );
                return Ok(());
            }
            if let Some(record) = &record {
                // A data dir from before bootstrap was recorded: the key must be this one.
                self.check_bootstrapped(record, &owner, &secret)?;
            }
            if self.node().is_leader() {
                let id = Uuid::new_v4();
                let call = Call {
                    caller: owner.clone(),
                    request_id: id,
                    attempt: id,
                    barrier_passed: false,
                    origin: Default::default(),
                    audit: Default::default(),
                };
                let record = match self
                    .wrap_access_key(&access_key_id, &secret, owner.clone())
                    .await
                {
                    Ok(record) => record,
                    Err(OpError::Api(e)) => return Err(e),
                    // A leader that just started may not have read a quorum's clocks yet
                    // (its stamp needs them): that is a reason to wait, not to exit.
                    Err(OpError::Cluster(e)) => {
                        tracing::debug!(error = %e, "root key bootstrap will retry");
                        tokio::time::sleep(Duration::from_millis(200)).await;
                        continue;
                    }
                };
                let command = Command::Bootstrap {
                    root_access_key: record,
                };
                match self.write(&call, command).await {
                    Ok(_) => {
                        tracing::info!(access_key_id, "bootstrapped the root access key");
                        return Ok(());
                    }
                    // Bootstrapped by an earlier leader: the next look sees it.
                    Err(OpError::Api(e)) if e.kind == ErrorKind::AlreadyExists => continue,
                    Err(OpError::Api(e)) => return Err(e),
                    Err(OpError::Cluster(e)) => {
                        tracing::debug!(error = %e, "root key bootstrap will retry")
                    }
                }
            }
            tokio::time::sleep(Duration::from_millis(200)).await;
        }
    }

    fn check_bootstrapped(
        &self,
        record: &AccessKeyRecord,
        owner: &Principal,
        secret: &str,
    ) -> Result<(), Error> {
        let stored = self
            .hsm()
            .unwrap_secret(record.access_key_id.as_bytes(), &record.wrapped_secret)
            .map_err(|e| Error::internal(e.to_string()))?;
        if &record.owner != owner || stored.as_slice() != secret.as_bytes() {
            return Err(Error::admin_invalid(format_args!(
                "access key {} already exists with another owner or secret; refusing to change it",
                record.access_key_id
            )));
        }
        Ok(())
    }

    async fn store_access_key(
        &self,
        call: &Call,
        access_key_id: &str,
        secret: &str,
        owner: Principal,
        limit: Option<u32>,
    ) -> Result<Outcome, OpError> {
        let record = self.wrap_access_key(access_key_id, secret, owner).await?;
        let command = Command::CreateAccessKey {
            record,
            max_access_keys_per_user: limit,
        };
        self.write(call, command).await
    }

    async fn wrap_access_key(
        &self,
        access_key_id: &str,
        secret: &str,
        owner: Principal,
    ) -> Result<AccessKeyRecord, OpError> {
        let wrapped_secret = self
            .hsm()
            .wrap_secret(access_key_id.as_bytes(), secret.as_bytes())?;
        Ok(AccessKeyRecord {
            access_key_id: access_key_id.into(),
            owner,
            wrapped_secret,
            created: self.now().await?,
        })
    }

    /// A fresh access key id and secret, in AWS's shapes (20 and 40 characters), from the
    /// HSM's random source. Nothing is stored.
    pub fn generate_credentials(&self) -> Result<(String, Zeroizing<String>), HsmError> {
        let access_key_id = format!("TKIA{}", self.random_text(ID_ALPHABET, 16)?);
        let secret = Zeroizing::new(self.random_text(SECRET_ALPHABET, 40)?);
        Ok((access_key_id, secret))
    }

    fn random_text(&self, alphabet: &[u8], len: usize) -> Result<String, HsmError> {
        // 256 is a multiple of both alphabets' sizes (32 and 64), so there is no modulo bias.
        Ok(self
            .hsm()
            .random(len)?
            .iter()
            .map(|b| alphabet[*b as usize % alphabet.len()] as char)
            .collect())
    }
}

/// For what only an account's root may do: its own access keys.
fn only_root(call: &Call) -> Result<AccountId, Error> {
    match call.caller.user {
        None => Ok(call.caller.account.clone()),
        Some(_) => Err(Error::admin_denied(
            call.caller.arn(),
            "manage the account root's access keys; only the account root is",
        )),
    }
}
