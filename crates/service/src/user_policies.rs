//! Users' inline identity policies (IAM's `PutUserPolicy`, `GetUserPolicy`,
//! `DeleteUserPolicy`, `ListUserPolicies`), the authorization of the admin target by them, and
//! the leader's one-time migration into the user policies era (trent_state's
//! `user_policies.rs`).
//!
//! Who may call an admin operation ([`Service::authorize_admin`]): the account's root, or a
//! user of the account whose identity policies allow the IAM-named action on the resource,
//! evaluated with trent-policy (an explicit `Deny` in any policy wins, then any `Allow`). A
//! refusal is AWS's `User: <arn> is not authorized to perform: <action> on resource: <arn>
//! because no identity-based policy allows the <action> action` (or `with an explicit deny in
//! an identity-based policy`). Resources: `arn:aws:iam::<account>:user/<name>` for an
//! operation on one user, `arn:aws:iam::<account>:user/*` for ListUsers and ListAccessKeys
//! (which list the whole account); what belongs to the root (its access keys) only the root
//! manages. The cluster operations' actions (`trent:<Operation>`) are the admin front end's.
//!
//! Rolling upgrades: the migration (`BeginUserPolicies`) is proposed only once every voter
//! reports a build that applies it (`USER_POLICY_COMMANDS`), since a command an older follower cannot
//! decode stalls replication to it. PutUserPolicy and DeleteUserPolicy have no such gate:
//! they are new operations, for once every node runs this build (docs/OPERATIONS.md).

use std::time::Duration;

use trent_model::{AccountId, Arn, Error, UserName};
use trent_policy::{Decision, Denial, Policy, Request};
use trent_state::{Command, USER_POLICY_COMMANDS};

use crate::deletion::system_call;
use crate::{Call, OpError, Service};

/// IAM's default and largest `MaxItems`.
const DEFAULT_MAX_ITEMS: u32 = 100;
const MAX_MAX_ITEMS: u32 = 1000;

/// How often the leader looks whether the migration still needs proposing.
const MIGRATION_INTERVAL: Duration = Duration::from_millis(500);

/// One page of `ListUserPolicies`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PolicyNames {
    pub names: Vec<String>,
    /// Where the next page starts, if there is one.
    pub marker: Option<String>,
}

/// A policy name as IAM takes it: 1 to 128 of `[\w+=,.@-]`.
pub fn valid_policy_name(name: &str) -> Result<(), Error> {
    let constraint = if name.is_empty() {
        "Member must have length greater than or equal to 1"
    } else if name.len() > 128 {
        "Member must have length less than or equal to 128"
    } else if !name
        .bytes()
        .all(|b| b.is_ascii_alphanumeric() || b"_+=,.@-".contains(&b))
    {
        "Member must satisfy regular expression pattern: [\\w+=,.@-]+"
    } else {
        return Ok(());
    };
    Err(Error::validation("policyName", Some(name), constraint))
}

/// `arn:aws:iam::<account>:user/<name>` (`*` for every user of the account).
pub fn user_resource(account: &AccountId, name: &str) -> Arn {
    Arn {
        partition: "aws".into(),
        service: "iam".into(),
        region: String::new(),
        account: account.as_str().into(),
        resource: format!("user/{name}"),
    }
}

impl Service {
    /// Whether `call`'s caller may perform `action` on `resource` (module doc): the root of
    /// the resource's account, or a user of that account whose identity policies allow it.
    /// Read behind the barrier, so a policy change acknowledged before the call is honoured.
    pub async fn authorize_admin(
        &self,
        call: &Call,
        action: &str,
        resource: &Arn,
    ) -> Result<(), OpError> {
        let caller = &call.caller;
        let same_account = caller.account.as_str() == resource.account;
        if caller.user.is_none() && same_account {
            return Ok(());
        }
        let request = Request::new(action, caller, resource);
        let decision = if same_account {
            self.read_for(call, |s| decide(s.identity_policies(caller), &request))
                .await?
        } else {
            Decision::NotApplicable
        };
        let denial = match decision {
            Decision::Allow => return Ok(()),
            Decision::Deny => Denial::ExplicitInIdentityPolicy,
            Decision::NotApplicable => Denial::NoIdentityPolicyAllows,
        };
        Err(Error::not_authorized(caller.arn(), action, resource, denial.reason(action)).into())
    }

    /// The account a principal-management call acts in, once `action` on user `target`
    /// (`*`: the whole account) is authorized.
    pub(crate) async fn authorize_iam(
        &self,
        call: &Call,
        action: &str,
        target: &str,
    ) -> Result<AccountId, OpError> {
        let account = call.caller.account.clone();
        self.authorize_admin(call, action, &user_resource(&account, target))
            .await?;
        Ok(account)
    }

    pub async fn put_user_policy(
        &self,
        call: &Call,
        user: &str,
        name: &str,
        document: &str,
    ) -> Result<(), OpError> {
        let user: UserName = user.parse()?;
        valid_policy_name(name)?;
        let account = self
            .authorize_iam(call, "iam:PutUserPolicy", user.as_str())
            .await?;
        // Refused here with the parser's message; apply compiles it again.
        Policy::parse_identity(document)?;
        self.ensure_user_policies_era(call).await?;
        let command = Command::PutUserPolicy {
            account,
            user,
            name: name.to_owned(),
            document: document.to_owned(),
        };
        self.write(call, command).await?;
        Ok(())
    }

    /// The policy's text, exactly as put.
    pub async fn get_user_policy(
        &self,
        call: &Call,
        user: &str,
        name: &str,
    ) -> Result<String, OpError> {
        let user: UserName = user.parse()?;
        valid_policy_name(name)?;
        let account = self
            .authorize_iam(call, "iam:GetUserPolicy", user.as_str())
            .await?;
        let found = self
            .read_for(call, |s| {
                s.user(&account, &user)
                    .map(|_| s.user_policy(&account, &user, name).map(str::to_owned))
            })
            .await?;
        match found {
            None => Err(Error::no_such_user(&user).into()),
            Some(None) => Err(Error::no_such_user_policy(name).into()),
            Some(Some(document)) => Ok(document),
        }
    }

    pub async fn delete_user_policy(
        &self,
        call: &Call,
        user: &str,
        name: &str,
    ) -> Result<(), OpError> {
        let user: UserName = user.parse()?;
        valid_policy_name(name)?;
        let account = self
            .authorize_iam(call, "iam:DeleteUserPolicy", user.as_str())
            .await?;
        self.ensure_user_policies_era(call).await?;
        let command = Command::DeleteUserPolicy {
            account,
            user,
            name: name.to_owned(),
        };
        self.write(call, command).await?;
        Ok(())
    }

    /// One page of `user`'s policy names, in name order, after `marker` (the last name of
    /// the previous page).
    pub async fn list_user_policies(
        &self,
        call: &Call,
        user: &str,
        marker: Option<&str>,
        max_items: Option<u32>,
    ) -> Result<PolicyNames, OpError> {
        let user: UserName = user.parse()?;
        let max = match max_items {
            None => DEFAULT_MAX_ITEMS,
            Some(n @ 1..=MAX_MAX_ITEMS) => n,
            Some(n) => {
                let constraint = match n {
                    0 => "Member must have value greater than or equal to 1",
                    _ => "Member must have value less than or equal to 1000",
                };
                let shown = n.to_string();
                return Err(Error::validation("maxItems", Some(&shown), constraint).into());
            }
        } as usize;
        if let Some(marker) = marker {
            if marker.is_empty() || marker.len() > 320 {
                return Err(Error::invalid_marker().into());
            }
        }
        let account = self
            .authorize_iam(call, "iam:ListUserPolicies", user.as_str())
            .await?;
        let names = self
            .read_for(call, |s| {
                s.user(&account, &user).map(|_| {
                    s.user_policy_names(&account, &user)
                        .filter(|n| marker.is_none_or(|m| *n > m))
                        .take(max + 1)
                        .map(str::to_owned)
                        .collect::<Vec<_>>()
                })
            })
            .await?;
        let Some(mut names) = names else {
            return Err(Error::no_such_user(&user).into());
        };
        let marker = (names.len() > max).then(|| {
            names.truncate(max);
            names.last().cloned().unwrap_or_default()
        });
        Ok(PolicyNames { names, marker })
    }

    /// Proposes the migration into the user policies era unless the state records it, so
    /// that a user created by this call is never one the migration gives full access (in a
    /// new cluster, before the leader's task got to it). Not while a voter runs an older
    /// build (a rolling upgrade): the user is then created before the era, as that build
    /// would, and the migration gives it what it had.
    pub(crate) async fn ensure_user_policies_era(&self, call: &Call) -> Result<(), OpError> {
        if self.read_for(call, |s| s.user_policies_era()).await? {
            return Ok(());
        }
        match self
            .node()
            .voters_apply_command_set(USER_POLICY_COMMANDS)
            .await
        {
            Ok(()) => self.begin_user_policies().await,
            Err(why) => {
                tracing::debug!(%why, "not entering the user policies era yet");
                Ok(())
            }
        }
    }

    async fn begin_user_policies(&self) -> Result<(), OpError> {
        self.write(&system_call(), Command::BeginUserPolicies)
            .await?;
        Ok(())
    }

    /// On the leader, proposes the migration into the user policies era once the state has
    /// no marker (a new cluster just records it; an older one gives its users the migration
    /// policy) and every voter runs a build that applies it. Ends once the marker is
    /// recorded.
    pub fn spawn_user_policies_migration(&self) -> tokio::task::JoinHandle<()> {
        let service = self.clone();
        tokio::spawn(async move {
            let mut tick = tokio::time::interval(MIGRATION_INTERVAL);
            tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
            // Said once, not every tick, while it stays the same.
            let mut waiting_for = String::new();
            loop {
                tick.tick().await;
                let node = service.node();
                if node.read_local(|s| s.user_policies_era()) {
                    return;
                }
                if !node.is_leader() {
                    continue;
                }
                if let Err(why) = node.voters_apply_command_set(USER_POLICY_COMMANDS).await {
                    if why != waiting_for {
                        tracing::info!(%why, "the user policies migration waits");
                        waiting_for = why;
                    }
                    continue;
                }
                match service.begin_user_policies().await {
                    Ok(()) => tracing::info!("entered the user policies era"),
                    Err(e) => tracing::debug!(error = %e, "the user policies migration will retry"),
                }
            }
        })
    }
}

/// Identity policies' combined decision: an explicit deny wins, then any allow.
fn decide<'a>(policies: impl Iterator<Item = &'a Policy>, request: &Request) -> Decision {
    let mut decision = Decision::NotApplicable;
    for policy in policies {
        match policy.evaluate(request) {
            Decision::Deny => return Decision::Deny,
            Decision::Allow => decision = Decision::Allow,
            Decision::NotApplicable => {}
        }
    }
    decision
}

#[cfg(test)]
mod tests {
    use super::*;
    use trent_model::{Principal, ADMINISTRATOR_POLICY};

    #[test]
    fn policy_names_are_iams() {
        for good in ["a", "AdministratorAccess", "p_1+=,.@-", &"x".repeat(128)] {
            valid_policy_name(good).unwrap();
        }
        let err = valid_policy_name("").unwrap_err();
        assert_eq!(
            err.message,
            "1 validation error detected: Value '' at 'policyName' failed to satisfy \
             constraint: Member must have length greater than or equal to 1"
        );
        let err = valid_policy_name(&"x".repeat(129)).unwrap_err();
        assert!(err.message.ends_with("less than or equal to 128"), "{err}");
        let err = valid_policy_name("a/b").unwrap_err();
        assert_eq!(
            err.message,
            "1 validation error detected: Value 'a/b' at 'policyName' failed to satisfy \
             constraint: Member must satisfy regular expression pattern: [\\w+=,.@-]+"
        );
    }

    #[test]
    fn the_administrator_policy_is_an_identity_policy() {
        Policy::parse_identity(ADMINISTRATOR_POLICY).unwrap();
        let user = Principal {
            account: "111122223333".parse().unwrap(),
            user: Some("ops".parse().unwrap()),
        };
        let resource = user_resource(&user.account, "bob");
        let policy = Policy::parse_identity(ADMINISTRATOR_POLICY).unwrap();
        for action in ["iam:CreateUser", "trent:GetClusterStatus", "kms:Encrypt"] {
            let request = Request::new(action, &user, &resource);
            assert_eq!(policy.evaluate(&request), Decision::Allow, "{action}");
        }
    }
}
