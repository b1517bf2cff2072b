//! From a policy document to a compiled [`Policy`]: every element checked, every pattern and
//! value compiled, so evaluation never parses.
//!
//! Two kinds, as AWS has them. A key policy ([`Policy::parse`]) is a resource policy: every
//! statement names its principals (`Policy contains a statement with no principal.`); a
//! statement without `Action` or `Resource` is accepted and has no effect, as AWS KMS
//! documents ("the PutKeyPolicy API request succeeds, even though the policy statement is
//! ineffective"; [`Policy::inert_statements`] lists them). An identity policy
//! ([`Policy::parse_identity`]) belongs to a user: no `Principal` (`Policy document should not
//! specify a principal.`), and `Action` and `Resource` are required, as IAM requires them.
//!
//! Both: at most [`crate::MAX_POLICY_BYTES`]; only the characters AWS's model allows (tab, line
//! feed, carriage return, U+0020 to U+00FF); one JSON object with `Version` (2012-10-17, or
//! 2008-10-17 in which `${...}` is plain text; absent means 2008-10-17, as AWS reads it), `Id`
//! and `Statement` (an object or a non-empty list); no element twice, none unknown; Sids
//! unique; `Effect` exactly `Allow` or `Deny`; `NotPrincipal` with `Deny` only (AWS no longer
//! supports it with `Allow`); `Action`s `*` or `vendor:pattern`, case-insensitive;
//! `Resource`s `*` or ARN patterns.

use std::collections::BTreeSet;
use std::fmt;

use serde::{Deserialize, Serialize};
use trent_model::Error;

use crate::condition::{self, Condition};
use crate::json::{self, Node};
use crate::pattern::{ArnPattern, Glob};
use crate::principal::Principals;
use crate::MAX_POLICY_BYTES;

/// Which policy a document is.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub enum PolicyKind {
    /// A key's resource policy: statements name principals.
    Key,
    /// A user's identity policy: statements apply to the user.
    Identity,
}

/// The policy language version; only 2012-10-17 has policy variables.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub enum Version {
    V2008_10_17,
    V2012_10_17,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub enum Effect {
    Allow,
    Deny,
}

/// A compiled policy: plain data, the same for the same text on every node.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Policy {
    pub(crate) kind: PolicyKind,
    pub(crate) version: Version,
    pub(crate) id: Option<String>,
    pub(crate) statements: Vec<Statement>,
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub(crate) struct Statement {
    pub(crate) sid: Option<String>,
    pub(crate) effect: Effect,
    /// `None` in identity policies.
    pub(crate) principals: Option<Principals>,
    /// `None`: the element is absent, and the statement has no effect (key policies only).
    pub(crate) actions: Option<Set<Glob>>,
    pub(crate) resources: Option<Set<Resource>>,
    pub(crate) conditions: Vec<Condition>,
}

/// `Action`/`Resource` (any item matches) or `NotAction`/`NotResource` (none does).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub(crate) struct Set<T> {
    pub(crate) negated: bool,
    pub(crate) items: Vec<T>,
}

#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub(crate) enum Resource {
    Any,
    Arn(ArnPattern),
}

impl Policy {
    /// Compiles a key policy.
    pub fn parse(text: &str) -> Result<Policy, Error> {
        compile(text, PolicyKind::Key)
    }

    /// Compiles an identity (user) policy.
    pub fn parse_identity(text: &str) -> Result<Policy, Error> {
        compile(text, PolicyKind::Identity)
    }

    pub fn kind(&self) -> PolicyKind {
        self.kind
    }

    pub fn version(&self) -> Version {
        self.version
    }

    pub fn id(&self) -> Option<&str> {
        self.id.as_deref()
    }

    /// The user ARNs the policy names in `Principal` or `NotPrincipal` (AWS refuses a policy
    /// naming a principal that does not exist; checking that is the caller's, with its state).
    pub fn users(&self) -> BTreeSet<&str> {
        self.principals().flat_map(Principals::users).collect()
    }

    /// The accounts the policy names in `Principal` or `NotPrincipal`, by id or through a user.
    pub fn accounts(&self) -> BTreeSet<&str> {
        self.principals().flat_map(Principals::accounts).collect()
    }

    /// The (1-based) numbers of the statements without `Action` or `Resource`, which AWS KMS
    /// accepts in a key policy and which never apply.
    pub fn inert_statements(&self) -> Vec<usize> {
        let inert = |s: &Statement| s.actions.is_none() || s.resources.is_none();
        (1..)
            .zip(&self.statements)
            .filter(|(_, s)| inert(s))
            .map(|(n, _)| n)
            .collect()
    }

    fn principals(&self) -> impl Iterator<Item = &Principals> {
        self.statements.iter().filter_map(|s| s.principals.as_ref())
    }
}

/// Where in the document something is, for messages: `the policy`, `statement 2 ("Sid")`.
#[derive(Clone, Copy, Debug)]
pub(crate) enum Place<'a> {
    Policy,
    Statement { number: usize, sid: Option<&'a str> },
}

impl fmt::Display for Place<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Place::Policy => f.write_str("the policy"),
            Place::Statement { number, sid: None } => write!(f, "statement {number}"),
            Place::Statement {
                number,
                sid: Some(sid),
            } => write!(f, "statement {number} (\"{sid}\")"),
        }
    }
}

impl Place<'_> {
    /// `node` as an object with no member twice.
    pub(crate) fn object<'n>(
        &self,
        element: &str,
        node: &'n Node,
    ) -> Result<&'n [(String, Node)], Error> {
        let Node::Object(members) = node else {
            return Err(Error::policy_element_type(element, self, "an object"));
        };
        let mut seen = BTreeSet::new();
        for (name, _) in members {
            if !seen.insert(name.as_str()) {
                return Err(Error::policy_duplicate(name, self));
            }
        }
        Ok(members)
    }

    fn string<'n>(&self, element: &str, node: &'n Node) -> Result<&'n str, Error> {
        match node {
            Node::String(s) => Ok(s),
            _ => Err(Error::policy_element_type(element, self, "a string")),
        }
    }

    /// A string or a list of strings; an empty list is `None`.
    fn strings<'n>(&self, element: &str, node: &'n Node) -> Result<Option<Vec<&'n str>>, Error> {
        let wrong = || Error::policy_element_type(element, self, "a string or a list of strings");
        match node {
            Node::String(s) => Ok(Some(vec![s.as_str()])),
            Node::Array(items) if items.is_empty() => Ok(None),
            Node::Array(items) => items
                .iter()
                .map(|i| match i {
                    Node::String(s) => Ok(s.as_str()),
                    _ => Err(wrong()),
                })
                .collect::<Result<_, _>>()
                .map(Some),
            _ => Err(wrong()),
        }
    }
}

fn compile(text: &str, kind: PolicyKind) -> Result<Policy, Error> {
    if text.len() > MAX_POLICY_BYTES {
        return Err(Error::policy_too_large(text.len(), MAX_POLICY_BYTES));
    }
    let allowed = |c: char| matches!(c, '\t' | '\n' | '\r' | '\u{20}'..='\u{ff}');
    if let Some((offset, _)) = text.char_indices().find(|&(_, c)| !allowed(c)) {
        return Err(Error::policy_character(offset));
    }
    let node = json::parse(text).map_err(Error::policy_json)?;
    let Node::Object(_) = node else {
        return Err(Error::policy_json(format_args!(
            "it is {}",
            node.type_name()
        )));
    };
    let place = Place::Policy;
    let (mut version, mut id, mut statements) = (Version::V2008_10_17, None, None);
    for (name, value) in place.object("Policy", &node)? {
        match name.as_str() {
            "Version" => {
                version = match place.string(name, value)? {
                    "2012-10-17" => Version::V2012_10_17,
                    "2008-10-17" => Version::V2008_10_17,
                    other => return Err(Error::policy_version(other)),
                }
            }
            "Id" => id = Some(place.string(name, value)?.to_owned()),
            "Statement" => statements = Some(value),
            _ => return Err(Error::policy_unknown_element(name, place)),
        }
    }
    let statements = match statements {
        None => return Err(Error::policy_missing("Statement", place)),
        Some(Node::Array(list)) if list.is_empty() => {
            return Err(Error::policy_empty("Statement", place))
        }
        Some(Node::Array(list)) => list.iter().collect(),
        Some(one @ Node::Object(_)) => vec![one],
        Some(_) => {
            let expected = "an object or a list of objects";
            return Err(Error::policy_element_type("Statement", place, expected));
        }
    };
    let variables = version == Version::V2012_10_17;
    let mut compiled = Vec::with_capacity(statements.len());
    for (number, node) in (1..).zip(statements) {
        compiled.push(statement(node, number, kind, variables)?);
    }
    let mut sids = BTreeSet::new();
    if compiled
        .iter()
        .filter_map(|s| s.sid.as_deref().filter(|s| !s.is_empty()))
        .any(|sid| !sids.insert(sid))
    {
        return Err(Error::policy_sids_unique());
    }
    Ok(Policy {
        kind,
        version,
        id,
        statements: compiled,
    })
}

fn statement(
    node: &Node,
    number: usize,
    kind: PolicyKind,
    variables: bool,
) -> Result<Statement, Error> {
    let Node::Object(members) = node else {
        let place = Place::Statement { number, sid: None };
        return Err(Error::policy_element_type("Statement", place, "an object"));
    };
    // Name the statement by its Sid in every message, whatever order its members come in.
    let sid = members
        .iter()
        .find_map(|(name, value)| match (name.as_str(), value) {
            ("Sid", Node::String(s)) => Some(s.as_str()),
            _ => None,
        });
    let place = Place::Statement { number, sid };
    let get = |name: &str| members.iter().find(|(n, _)| n == name).map(|(_, v)| v);
    for (name, value) in place.object("Statement", node)? {
        match name.as_str() {
            "Sid" => {
                place.string(name, value)?;
            }
            "Effect" | "Principal" | "NotPrincipal" | "Action" | "NotAction" | "Resource"
            | "NotResource" | "Condition" => {}
            _ => return Err(Error::policy_unknown_element(name, place)),
        }
    }
    let effect = match get("Effect") {
        None => return Err(Error::policy_missing("Effect", place)),
        Some(value) => match place.string("Effect", value)? {
            "Allow" => Effect::Allow,
            "Deny" => Effect::Deny,
            other => return Err(Error::policy_effect(other, place)),
        },
    };
    let principals = match (kind, get("Principal"), get("NotPrincipal")) {
        (PolicyKind::Identity, None, None) => None,
        (PolicyKind::Identity, _, _) => return Err(Error::policy_principal_in_identity()),
        (PolicyKind::Key, Some(_), Some(_)) => {
            return Err(Error::policy_exclusive("Principal", "NotPrincipal", place))
        }
        (PolicyKind::Key, None, None) => return Err(Error::policy_no_principal()),
        (PolicyKind::Key, Some(p), None) => Some(Principals::parse(p, false)?),
        (PolicyKind::Key, None, Some(_)) if effect == Effect::Allow => {
            return Err(Error::policy_not_principal_allow(place))
        }
        (PolicyKind::Key, None, Some(p)) => Some(Principals::parse(p, true)?),
    };
    let actions = set(&place, &get, "Action", "NotAction", action)?;
    let resources = set(&place, &get, "Resource", "NotResource", |r| {
        resource(r, variables)
    })?;
    if kind == PolicyKind::Identity && actions.is_none() {
        return Err(Error::policy_no_actions());
    }
    if kind == PolicyKind::Identity && resources.is_none() {
        return Err(Error::policy_no_resources());
    }
    let conditions = match get("Condition") {
        None => Vec::new(),
        Some(c) => condition::parse(c, &place, variables)?,
    };
    Ok(Statement {
        sid: sid.map(str::to_owned),
        effect,
        principals,
        actions,
        resources,
        conditions,
    })
}

/// `Action`/`NotAction` or `Resource`/`NotResource`: at most one of the pair; `None` when
/// neither is there or the list is empty.
fn set<'n, T>(
    place: &Place,
    get: &impl Fn(&str) -> Option<&'n Node>,
    name: &str,
    not_name: &str,
    item: impl Fn(&str) -> Result<T, Error>,
) -> Result<Option<Set<T>>, Error> {
    let (negated, node) = match (get(name), get(not_name)) {
        (Some(_), Some(_)) => return Err(Error::policy_exclusive(name, not_name, place)),
        (None, None) => return Ok(None),
        (Some(node), None) => (false, node),
        (None, Some(node)) => (true, node),
    };
    let element = if negated { not_name } else { name };
    let Some(values) = place.strings(element, node)? else {
        return Ok(None);
    };
    let items = values.into_iter().map(item).collect::<Result<_, _>>()?;
    Ok(Some(Set { negated, items }))
}

/// `*`, or `vendor:pattern` (IAM's words for the ways it can be wrong).
fn action(text: &str) -> Result<Glob, Error> {
    if text != "*" {
        let mut parts = text.split(':');
        let vendor = parts.next().unwrap_or_default();
        match (parts.next(), parts.next()) {
            (None, _) => return Err(Error::policy_no_vendor()),
            (Some(_), Some(_)) => return Err(Error::policy_colons()),
            (Some(_), None) => {}
        }
        if vendor.is_empty() {
            return Err(Error::policy_no_vendor());
        }
        if !vendor
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b"-.".contains(&b))
        {
            return Err(Error::policy_vendor(vendor));
        }
    }
    // Action names are case-insensitive: compiled lowercase, compared with the lowercase action.
    Ok(Glob::new(&text.to_lowercase(), true, false))
}

fn resource(text: &str, variables: bool) -> Result<Resource, Error> {
    match text {
        "*" => Ok(Resource::Any),
        arn if arn.starts_with("arn:") => Ok(Resource::Arn(ArnPattern::new(arn, variables))),
        other => Err(Error::policy_resource_format(other)),
    }
}
