//! The `Condition` element: operators, their values, and how they meet a request.
//!
//! `"Condition": {"<operator>": {"<key>": value-or-list, ...}, ...}`. Every operator of a
//! statement and every key under an operator must hold (AND); the values listed for one key
//! are alternatives (OR). Operators, as AWS documents them:
//! - String: `StringEquals`, `StringNotEquals`, `StringEqualsIgnoreCase`,
//!   `StringNotEqualsIgnoreCase`, `StringLike`, `StringNotLike` (`*`, `?`); policy variables
//!   in all of them.
//! - `Numeric...` and `Date...`: `Equals`, `NotEquals`, `LessThan`, `LessThanEquals`,
//!   `GreaterThan`, `GreaterThanEquals` (request value compared with the policy's).
//! - `Bool`, `BinaryEquals` (base64), `IpAddress`/`NotIpAddress` (CIDR, IPv4 and IPv6),
//!   `ArnEquals`/`ArnLike` (the same: per-component wildcards) and their `Not` forms, `Null`
//!   (`true`: the key is absent).
//! - `...IfExists`: true when the key is absent, else as without the suffix.
//! - `ForAnyValue:`/`ForAllValues:` over a multi-valued key: some/every request value must
//!   match; `ForAllValues:` holds on an absent key, `ForAnyValue:` does not.
//!
//! A negated operator is the negation of its positive form, for every request value: so it
//! matches an absent key (AWS: "the condition is true"), a value of another type, and a
//! policy variable without a value.

mod value;

use serde::{Deserialize, Serialize};
use trent_model::Error;

use crate::json::Node;
use crate::parse::Place;
use crate::pattern::{ArnPattern, Glob};
use crate::request::{canonical_key, Request};
use value::{Cidr, Cmp};

#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
enum SetOp {
    Single,
    ForAnyValue,
    ForAllValues,
}

/// One operator's values, typed.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
enum Test {
    Str {
        values: Vec<Glob>,
        ignore_case: bool,
    },
    Like(Vec<Glob>),
    Num {
        cmp: Cmp,
        values: Vec<f64>,
    },
    Date {
        cmp: Cmp,
        values: Vec<i128>,
    },
    Bool(Vec<bool>),
    Binary(Vec<Vec<u8>>),
    Ip(Vec<Cidr>),
    Arn(Vec<ArnPattern>),
    /// `true`: the key must be absent; `false`: present.
    Null(Vec<bool>),
}

/// One key under one operator.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub(crate) struct Condition {
    /// Canonical (request.rs).
    key: String,
    set: SetOp,
    if_exists: bool,
    negated: bool,
    test: Test,
}

/// The operator families, before their values are known.
enum Family {
    Str { ignore_case: bool },
    Like,
    Num(Cmp),
    Date(Cmp),
    Bool,
    Binary,
    Ip,
    Arn,
    Null,
}

/// `ForAllValues:StringLikeIfExists` into its parts; `None` if it is no operator.
fn operator(name: &str) -> Option<(SetOp, Family, bool, bool)> {
    let (set, rest) = if let Some(r) = name.strip_prefix("ForAnyValue:") {
        (SetOp::ForAnyValue, r)
    } else if let Some(r) = name.strip_prefix("ForAllValues:") {
        (SetOp::ForAllValues, r)
    } else {
        (SetOp::Single, name)
    };
    let (base, if_exists) = match rest.strip_suffix("IfExists") {
        Some(base) => (base, true),
        None => (rest, false),
    };
    let numeric = |s: &str| {
        Some(match s {
            "Equals" => (Cmp::Eq, false),
            "NotEquals" => (Cmp::Eq, true),
            "LessThan" => (Cmp::Lt, false),
            "LessThanEquals" => (Cmp::Le, false),
            "GreaterThan" => (Cmp::Gt, false),
            "GreaterThanEquals" => (Cmp::Ge, false),
            _ => return None,
        })
    };
    let (family, negated) = match base {
        "StringEquals" => (Family::Str { ignore_case: false }, false),
        "StringNotEquals" => (Family::Str { ignore_case: false }, true),
        "StringEqualsIgnoreCase" => (Family::Str { ignore_case: true }, false),
        "StringNotEqualsIgnoreCase" => (Family::Str { ignore_case: true }, true),
        "StringLike" => (Family::Like, false),
        "StringNotLike" => (Family::Like, true),
        "Bool" => (Family::Bool, false),
        "BinaryEquals" => (Family::Binary, false),
        "IpAddress" => (Family::Ip, false),
        "NotIpAddress" => (Family::Ip, true),
        "ArnEquals" | "ArnLike" => (Family::Arn, false),
        "ArnNotEquals" | "ArnNotLike" => (Family::Arn, true),
        // Null asks whether the key exists: neither IfExists nor a set operator means anything.
        "Null" if !if_exists && set == SetOp::Single => (Family::Null, false),
        _ => {
            if let Some((cmp, negated)) = base.strip_prefix("Numeric").and_then(numeric) {
                (Family::Num(cmp), negated)
            } else if let Some((cmp, negated)) = base.strip_prefix("Date").and_then(numeric) {
                (Family::Date(cmp), negated)
            } else {
                return None;
            }
        }
    };
    Some((set, family, if_exists, negated))
}

/// Compiles a statement's `Condition` element.
pub(crate) fn parse(node: &Node, place: &Place, variables: bool) -> Result<Vec<Condition>, Error> {
    let operators = place.object("Condition", node)?;
    let mut conditions = Vec::new();
    for (name, body) in operators {
        let Some((set, family, if_exists, negated)) = operator(name) else {
            return Err(Error::policy_condition_operator(name, place));
        };
        let keys = place.object(name, body)?;
        if keys.is_empty() {
            return Err(Error::policy_empty(name, place));
        }
        for (key, values) in keys {
            if key
                .split_once(':')
                .is_none_or(|(vendor, _)| vendor.is_empty())
            {
                return Err(Error::policy_no_vendor());
            }
            let values = scalars(values).ok_or_else(|| {
                let expected = "a string, number or boolean, or a list of them";
                Error::policy_element_type(format_args!("{name} {key}"), place, expected)
            })?;
            if values.is_empty() {
                return Err(Error::policy_empty(format_args!("{name} {key}"), place));
            }
            let test = typed(&family, &values, variables).map_err(|(value, expected)| {
                Error::policy_condition_value(name, place, key, value, expected)
            })?;
            conditions.push(Condition {
                key: canonical_key(key),
                set,
                if_exists,
                negated,
                test,
            });
        }
    }
    Ok(conditions)
}

/// A condition value is a string, a number or a boolean (AWS takes all three), or a list.
fn scalars(node: &Node) -> Option<Vec<String>> {
    let one = |n: &Node| match n {
        Node::String(s) | Node::Number(s) => Some(s.clone()),
        Node::Bool(b) => Some(b.to_string()),
        _ => None,
    };
    match node {
        Node::Array(items) => items.iter().map(one).collect(),
        n => one(n).map(|v| vec![v]),
    }
}

/// The values typed for `family`, or the first that is not of its type and what it should be.
fn typed(
    family: &Family,
    values: &[String],
    variables: bool,
) -> Result<Test, (String, &'static str)> {
    fn all<T>(
        values: &[String],
        expected: &'static str,
        parse: impl Fn(&str) -> Option<T>,
    ) -> Result<Vec<T>, (String, &'static str)> {
        values
            .iter()
            .map(|v| parse(v).ok_or_else(|| (v.clone(), expected)))
            .collect()
    }
    Ok(match *family {
        Family::Str { ignore_case } => Test::Str {
            values: values
                .iter()
                .map(|v| Glob::new(v, false, variables))
                .collect(),
            ignore_case,
        },
        Family::Like => Test::Like(
            values
                .iter()
                .map(|v| Glob::new(v, true, variables))
                .collect(),
        ),
        Family::Num(cmp) => Test::Num {
            cmp,
            values: all(values, "a number", value::number)?,
        },
        Family::Date(cmp) => Test::Date {
            cmp,
            values: all(values, "an ISO 8601 date or epoch seconds", value::date)?,
        },
        Family::Bool => Test::Bool(all(values, "true or false", value::boolean)?),
        Family::Binary => Test::Binary(all(values, "base64", value::binary)?),
        Family::Ip => Test::Ip(all(values, "an IP address or CIDR range", Cidr::parse)?),
        Family::Arn => Test::Arn(
            values
                .iter()
                .map(|v| ArnPattern::new(v, variables))
                .collect(),
        ),
        Family::Null => Test::Null(all(values, "true or false", value::boolean)?),
    })
}

impl Condition {
    pub(crate) fn holds(&self, request: &Request) -> bool {
        let values = request.values(&self.key);
        if let Test::Null(wants_absent) = &self.test {
            return wants_absent.contains(&values.is_none());
        }
        let Some(values) = values else {
            return self.if_exists
                || match self.set {
                    SetOp::Single => self.negated,
                    SetOp::ForAnyValue => false,
                    SetOp::ForAllValues => true,
                };
        };
        // One request value against the policy's: any of them (negated: none of them).
        let one = |v: &String| self.test.any(v, request) != self.negated;
        match self.set {
            SetOp::Single if self.negated => values.iter().all(one),
            SetOp::Single | SetOp::ForAnyValue => values.iter().any(one),
            SetOp::ForAllValues => values.iter().all(one),
        }
    }
}

impl Test {
    /// Whether request value `v` matches any of the policy's values.
    fn any(&self, v: &str, request: &Request) -> bool {
        match self {
            Test::Str {
                values,
                ignore_case: false,
            } => values.iter().any(|g| g.matches(v, request)),
            Test::Str {
                values,
                ignore_case: true,
            } => values.iter().any(|g| {
                g.resolve(request).is_some_and(|p| {
                    p.chars()
                        .flat_map(char::to_lowercase)
                        .eq(v.chars().flat_map(char::to_lowercase))
                })
            }),
            Test::Like(globs) => globs.iter().any(|g| g.matches(v, request)),
            Test::Num { cmp, values } => {
                value::number(v).is_some_and(|x| values.iter().any(|&p| cmp.holds(x, p)))
            }
            Test::Date { cmp, values } => {
                value::date(v).is_some_and(|x| values.iter().any(|&p| cmp.holds(x, p)))
            }
            Test::Bool(values) => value::boolean(v).is_some_and(|b| values.contains(&b)),
            Test::Binary(values) => value::binary(v).is_some_and(|b| values.contains(&b)),
            Test::Ip(ranges) => ranges.iter().any(|r| r.contains(v)),
            Test::Arn(patterns) => patterns.iter().any(|p| p.matches(v, request)),
            Test::Null(_) => unreachable!("Null is decided by presence"),
        }
    }
}
