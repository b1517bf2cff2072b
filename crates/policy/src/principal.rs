//! `Principal` and `NotPrincipal`: whom a key policy statement is about.
//!
//! Forms taken: `"*"`; `{"AWS": ...}` with `"*"`, an account id, an account's root ARN
//! (`arn:aws:iam::<account>:root`, the same as the id) or a user ARN
//! (`arn:aws:iam::<account>:user/<name>`), one or a list; `{"Service": "<name>.amazonaws.com"}`,
//! which AWS services use and which names no trent caller, so it is kept and never matches.
//! Anything else (roles, federated and canonical users, wildcards inside ARNs) names nothing
//! trent can have and is refused, as AWS refuses a principal that does not exist, with AWS's
//! `Policy contains a statement with one or more invalid principals.`
//!
//! Matching, as AWS documents it:
//! - An account in `Principal` names every principal of that account, but a user is named only
//!   *through its account*: the key policy then delegates to the account's identity policies
//!   ([`Coverage::Account`]). The root of the account, `"*"` and a user's own ARN name the
//!   caller directly ([`Coverage::Direct`]).
//! - `NotPrincipal` (with `Deny` only) applies to a caller unless every identity AWS evaluates
//!   for it is listed: its account, and for a user the user too. So listing a user without
//!   its account still denies the user (AWS's warning), and listing an account alone exempts
//!   its root but not its users.

use serde::{Deserialize, Serialize};
use trent_model::Error;

use crate::json::Node;
use crate::request::Caller;

#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub(crate) enum Entry {
    Any,
    Account(String),
    /// A user's ARN.
    User(String),
    Service(String),
}

/// How a statement's `Principal` names the caller.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Coverage {
    /// `"*"`, the caller's own ARN, or the caller is the named account's root.
    Direct,
    /// Only through the caller's account: an `Allow` delegates to identity policies.
    Account,
}

#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub(crate) struct Principals {
    /// `NotPrincipal`.
    pub(crate) negated: bool,
    pub(crate) entries: Vec<Entry>,
}

impl Principals {
    pub(crate) fn parse(node: &Node, negated: bool) -> Result<Principals, Error> {
        let invalid = Error::policy_invalid_principals;
        let mut entries = Vec::new();
        match node {
            Node::String(s) if s == "*" => entries.push(Entry::Any),
            Node::Object(members) if !members.is_empty() => {
                for (i, (kind, value)) in members.iter().enumerate() {
                    if members[..i].iter().any(|(k, _)| k == kind) {
                        return Err(invalid());
                    }
                    for v in strings(value).ok_or_else(invalid)? {
                        entries.push(match kind.as_str() {
                            "AWS" => aws(v).ok_or_else(invalid)?,
                            "Service" if service(v) => Entry::Service(v.to_owned()),
                            _ => return Err(invalid()),
                        });
                    }
                }
            }
            _ => return Err(invalid()),
        }
        Ok(Principals { negated, entries })
    }

    /// Whether the statement applies to `caller`, and how it names it.
    pub(crate) fn applies(&self, caller: &Caller) -> Option<Coverage> {
        if self.negated {
            let listed = |e: &Entry| match e {
                Entry::Any => true,
                Entry::Account(a) => caller.user.is_none() && *a == caller.account,
                Entry::User(arn) => *arn == caller.arn,
                Entry::Service(_) => false,
            };
            let account_listed = self.entries.iter().any(|e| match e {
                Entry::Any => true,
                Entry::Account(a) => *a == caller.account,
                _ => false,
            });
            let all_listed = account_listed && self.entries.iter().any(listed);
            return (!all_listed).then_some(Coverage::Direct);
        }
        let mut best = None;
        for entry in &self.entries {
            match entry {
                Entry::Any => return Some(Coverage::Direct),
                Entry::User(arn) if *arn == caller.arn => return Some(Coverage::Direct),
                Entry::Account(a) if *a == caller.account => {
                    if caller.user.is_none() {
                        return Some(Coverage::Direct);
                    }
                    best = Some(Coverage::Account);
                }
                _ => {}
            }
        }
        best
    }

    pub(crate) fn users(&self) -> impl Iterator<Item = &str> {
        self.entries.iter().filter_map(|e| match e {
            Entry::User(arn) => Some(arn.as_str()),
            _ => None,
        })
    }

    pub(crate) fn accounts(&self) -> impl Iterator<Item = &str> {
        self.entries.iter().filter_map(|e| match e {
            Entry::Account(a) => Some(a.as_str()),
            Entry::User(arn) => arn.split(':').nth(4),
            _ => None,
        })
    }
}

/// A string or a non-empty list of strings.
fn strings(node: &Node) -> Option<Vec<&str>> {
    match node {
        Node::String(s) => Some(vec![s.as_str()]),
        Node::Array(items) if !items.is_empty() => items
            .iter()
            .map(|i| match i {
                Node::String(s) => Some(s.as_str()),
                _ => None,
            })
            .collect(),
        _ => None,
    }
}

fn account_id(s: &str) -> bool {
    s.len() == 12 && s.bytes().all(|b| b.is_ascii_digit())
}

/// IAM's name characters (`[\w+=,.@-]`), 1 to 64 of them.
fn iam_name(s: &str) -> bool {
    (1..=64).contains(&s.len())
        && s.bytes()
            .all(|b| b.is_ascii_alphanumeric() || b"_+=,.@-".contains(&b))
}

fn aws(v: &str) -> Option<Entry> {
    if v == "*" {
        return Some(Entry::Any);
    }
    if account_id(v) {
        return Some(Entry::Account(v.to_owned()));
    }
    let rest = v.strip_prefix("arn:aws:iam::")?;
    let (account, resource) = rest.split_once(':')?;
    if !account_id(account) {
        return None;
    }
    if resource == "root" {
        return Some(Entry::Account(account.to_owned()));
    }
    // `user/<name>` or `user/<path>/<name>`; a path never matches a trent user (they have
    // none) but is a well-formed principal.
    let path = resource.strip_prefix("user/")?;
    path.split('/')
        .all(iam_name)
        .then(|| Entry::User(v.to_owned()))
}

fn service(v: &str) -> bool {
    v.contains('.')
        && v.bytes()
            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b".-".contains(&b))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn caller(user: Option<&str>) -> Caller {
        let account = "111122223333".to_owned();
        let arn = match user {
            Some(u) => format!("arn:aws:iam::{account}:user/{u}"),
            None => format!("arn:aws:iam::{account}:root"),
        };
        Caller {
            account,
            user: user.map(str::to_owned),
            arn,
        }
    }

    fn principals(json: &str, negated: bool) -> Result<Principals, Error> {
        Principals::parse(&crate::json::parse(json).unwrap(), negated)
    }

    #[test]
    fn forms() {
        for ok in [
            r#""*""#,
            r#"{"AWS": "*"}"#,
            r#"{"AWS": "111122223333"}"#,
            r#"{"AWS": ["arn:aws:iam::111122223333:root",
                        "arn:aws:iam::111122223333:user/a.b@c"]}"#,
            r#"{"AWS": "arn:aws:iam::111122223333:user/division/alice"}"#,
            r#"{"Service": "logs.us-east-1.amazonaws.com"}"#,
        ] {
            assert!(principals(ok, false).is_ok(), "{ok}");
        }
        for bad in [
            r#""alice""#,
            r#"["*"]"#,
            r#"{}"#,
            r#"{"AWS": []}"#,
            r#"{"AWS": "11112222333"}"#,
            r#"{"AWS": "arn:aws:iam::111122223333:role/admin"}"#,
            r#"{"AWS": "arn:aws:iam::111122223333:user/*"}"#,
            r#"{"AWS": "arn:aws:sts::111122223333:assumed-role/r/s"}"#,
            r#"{"AWS": "arn:aws-cn:iam::111122223333:root"}"#,
            r#"{"Federated": "cognito-identity.amazonaws.com"}"#,
            r#"{"CanonicalUser": "79a59df900b949e55d96a1e698fbacedfd6e09d98eacf8f8d"}"#,
            r#"{"AWS": "*", "AWS": "*"}"#,
            r#"{"AWS": 111122223333}"#,
        ] {
            let e = principals(bad, false).unwrap_err();
            assert_eq!(e, Error::policy_invalid_principals(), "{bad}");
        }
    }

    #[test]
    fn coverage() {
        let p = principals(r#"{"AWS": "111122223333"}"#, false).unwrap();
        assert_eq!(p.applies(&caller(None)), Some(Coverage::Direct));
        assert_eq!(p.applies(&caller(Some("bob"))), Some(Coverage::Account));
        let p = principals(
            r#"{"AWS": ["111122223333", "arn:aws:iam::111122223333:user/bob"]}"#,
            false,
        )
        .unwrap();
        assert_eq!(p.applies(&caller(Some("bob"))), Some(Coverage::Direct));
        let p = principals(r#"{"Service": "kms.amazonaws.com"}"#, false).unwrap();
        assert_eq!(p.applies(&caller(None)), None);
    }

    #[test]
    fn not_principal_needs_every_identity_listed() {
        let bob_only =
            principals(r#"{"AWS": "arn:aws:iam::111122223333:user/bob"}"#, true).unwrap();
        assert!(
            bob_only.applies(&caller(Some("bob"))).is_some(),
            "the account is not listed"
        );
        let both = principals(
            r#"{"AWS": ["arn:aws:iam::111122223333:user/bob", "arn:aws:iam::111122223333:root"]}"#,
            true,
        )
        .unwrap();
        assert!(both.applies(&caller(Some("bob"))).is_none());
        assert!(both.applies(&caller(None)).is_none());
        assert!(both.applies(&caller(Some("alice"))).is_some());
        let account = principals(r#"{"AWS": "111122223333"}"#, true).unwrap();
        assert!(account.applies(&caller(None)).is_none());
        assert!(account.applies(&caller(Some("alice"))).is_some());
    }
}
