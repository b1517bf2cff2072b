//! Wildcards, policy variables and ARN patterns, compiled once.
//!
//! A [`Glob`] is a list of pieces: literal text, `*` (any run of characters, `:` included),
//! `?` (any one character) and policy variables (`${aws:username}`, with an optional default
//! `${aws:username, 'anonymous'}`), which take the request's value of that key and match it
//! literally (a `*` in a user name is not a wildcard). `${*}`, `${?}` and `${$}` are the
//! literal characters. Variables exist only in version 2012-10-17 documents; in 2008-10-17
//! ones `${...}` is plain text, as AWS reads it. A variable whose key the request lacks (and
//! that has no default) matches nothing.
//!
//! Matching is linear-ish and never backtracks exponentially: the pieces between stars are
//! fixed-length once variables are resolved, so the leftmost match of each is the right one
//! (the classic glob algorithm), whatever a hostile pattern looks like.
//!
//! An [`ArnPattern`] matches ARNs component by component, as AWS's `ArnLike` and `Resource`
//! do: a wildcard does not cross a `:` inside the first five components; a pattern with fewer
//! than six components whose last one ends in `*` lets that `*` take the rest of the ARN
//! (`arn:aws:kms:*` matches every KMS ARN).

use std::borrow::Cow;

use serde::{Deserialize, Serialize};

use crate::request::canonical_key;

/// What a pattern needs from the request: the single value of a condition key.
pub(crate) trait Lookup {
    fn variable(&self, canonical_key: &str) -> Option<&str>;
}

#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub(crate) enum Piece {
    Lit(String),
    Var {
        key: String,
        default: Option<String>,
    },
    Star,
    One,
}

/// A compiled wildcard pattern (or, without wildcards, a literal with variables).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub(crate) struct Glob {
    pieces: Vec<Piece>,
}

impl Glob {
    /// Compiles `text`; `wildcards` makes `*` and `?` special, `variables` makes `${...}` so.
    pub(crate) fn new(text: &str, wildcards: bool, variables: bool) -> Glob {
        let mut pieces = Vec::new();
        let mut lit = String::new();
        let mut rest = text;
        while let Some(c) = rest.chars().next() {
            if variables && rest.starts_with("${") {
                if let Some((piece, len)) = variable(rest) {
                    match piece {
                        Piece::Lit(s) => lit.push_str(&s),
                        var => {
                            flush(&mut lit, &mut pieces);
                            pieces.push(var);
                        }
                    }
                    rest = &rest[len..];
                    continue;
                }
            }
            match c {
                '*' if wildcards => {
                    flush(&mut lit, &mut pieces);
                    // Two stars in a row match what one does; keeping one keeps matching linear.
                    if pieces.last() != Some(&Piece::Star) {
                        pieces.push(Piece::Star);
                    }
                }
                '?' if wildcards => {
                    flush(&mut lit, &mut pieces);
                    pieces.push(Piece::One);
                }
                c => lit.push(c),
            }
            rest = &rest[c.len_utf8()..];
        }
        flush(&mut lit, &mut pieces);
        Glob { pieces }
    }

    /// The text, when the pattern is one literal (no wildcard, no variable).
    pub(crate) fn literal(&self) -> Option<&str> {
        match self.pieces.as_slice() {
            [] => Some(""),
            [Piece::Lit(s)] => Some(s),
            _ => None,
        }
    }

    pub(crate) fn ends_with_star(&self) -> bool {
        self.pieces.last() == Some(&Piece::Star)
    }

    /// The pattern with its variables replaced, for a pattern without wildcards; `None` when
    /// a variable has no value.
    pub(crate) fn resolve<'a>(&'a self, vars: &'a impl Lookup) -> Option<Cow<'a, str>> {
        if let Some(s) = self.literal() {
            return Some(Cow::Borrowed(s));
        }
        let mut out = String::new();
        for piece in &self.pieces {
            match piece {
                Piece::Lit(s) => out.push_str(s),
                Piece::Var { key, default } => out.push_str(resolve(key, default, vars)?),
                Piece::Star => out.push('*'),
                Piece::One => out.push('?'),
            }
        }
        Some(Cow::Owned(out))
    }

    /// Whether the whole of `text` matches.
    pub(crate) fn matches(&self, text: &str, vars: &impl Lookup) -> bool {
        if let Some(s) = self.literal() {
            return s == text;
        }
        let resolved = self.pieces.iter().all(|p| match p {
            Piece::Var { key, default } => resolve(key, default, vars).is_some(),
            _ => true,
        });
        if !resolved {
            return false;
        }
        let mut chunks = self.pieces.split(|p| *p == Piece::Star);
        let first = chunks.next().expect("split yields one chunk");
        let Some(mut pos) = match_at(first, text, 0, vars) else {
            return false;
        };
        let Some(last) = chunks.next_back() else {
            return pos == text.len();
        };
        // The last chunk is anchored at the end: it starts `len` characters before it.
        let Some(len) = chunk_chars(last, vars) else {
            return false;
        };
        let Some(last_start) = nth_char_from_end(text, len) else {
            return false;
        };
        if last_start < pos || match_at(last, text, last_start, vars) != Some(text.len()) {
            return false;
        }
        let window = &text[..last_start];
        for chunk in chunks {
            match leftmost(chunk, window, pos, vars) {
                Some(end) => pos = end,
                None => return false,
            }
        }
        true
    }
}

fn flush(lit: &mut String, pieces: &mut Vec<Piece>) {
    if !lit.is_empty() {
        pieces.push(Piece::Lit(std::mem::take(lit)));
    }
}

/// `${...}` at the start of `text`: the piece and the length it spans, or `None` when it is
/// not a well-formed variable (then it is literal text, as AWS treats it).
fn variable(text: &str) -> Option<(Piece, usize)> {
    let end = text.find('}')?;
    let inner = &text[2..end];
    let piece = match inner {
        "*" | "?" | "$" => Piece::Lit(inner.to_owned()),
        _ => {
            let (key, default) = match inner.split_once(',') {
                None => (inner.trim(), None),
                Some((key, default)) => {
                    let d = default.trim();
                    let quoted = d.len() >= 2 && d.starts_with('\'') && d.ends_with('\'');
                    if !quoted {
                        return None;
                    }
                    (key.trim(), Some(d[1..d.len() - 1].to_owned()))
                }
            };
            let well_formed = !key.is_empty()
                && key.contains(':')
                && !key.contains(|c: char| c.is_whitespace() || "'${".contains(c));
            if !well_formed {
                return None;
            }
            Piece::Var {
                key: canonical_key(key),
                default,
            }
        }
    };
    Some((piece, end + 1))
}

fn resolve<'a>(key: &str, default: &'a Option<String>, vars: &'a impl Lookup) -> Option<&'a str> {
    vars.variable(key).or(default.as_deref())
}

/// Matches a star-free chunk at byte `pos`; the byte offset after it.
fn match_at(chunk: &[Piece], text: &str, mut pos: usize, vars: &impl Lookup) -> Option<usize> {
    for piece in chunk {
        let lit = match piece {
            Piece::Lit(s) => s.as_str(),
            Piece::Var { key, default } => resolve(key, default, vars)?,
            Piece::One => {
                pos += text[pos..].chars().next()?.len_utf8();
                continue;
            }
            Piece::Star => unreachable!("chunks hold no star"),
        };
        if !text[pos..].starts_with(lit) {
            return None;
        }
        pos += lit.len();
    }
    Some(pos)
}

/// The leftmost match of `chunk` in `text` at or after `from`: the byte offset after it.
fn leftmost(chunk: &[Piece], text: &str, from: usize, vars: &impl Lookup) -> Option<usize> {
    let mut start = from;
    loop {
        if let Some(end) = match_at(chunk, text, start, vars) {
            return Some(end);
        }
        start += text[start..].chars().next()?.len_utf8();
    }
}

fn chunk_chars(chunk: &[Piece], vars: &impl Lookup) -> Option<usize> {
    let mut n = 0;
    for piece in chunk {
        n += match piece {
            Piece::Lit(s) => s.chars().count(),
            Piece::Var { key, default } => resolve(key, default, vars)?.chars().count(),
            Piece::One => 1,
            Piece::Star => 0,
        };
    }
    Some(n)
}

/// The byte offset `n` characters before the end of `text`.
fn nth_char_from_end(text: &str, n: usize) -> Option<usize> {
    if n == 0 {
        return Some(text.len());
    }
    text.char_indices().rev().nth(n - 1).map(|(i, _)| i)
}

/// An ARN pattern: up to six components, each a [`Glob`] (the sixth takes the rest).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub(crate) struct ArnPattern {
    components: Vec<Glob>,
}

impl ArnPattern {
    pub(crate) fn new(text: &str, variables: bool) -> ArnPattern {
        let components = split_components(text, variables)
            .into_iter()
            .map(|c| Glob::new(c, true, variables))
            .collect();
        ArnPattern { components }
    }

    /// Whether `arn` (six components, or it matches nothing) matches.
    pub(crate) fn matches(&self, arn: &str, vars: &impl Lookup) -> bool {
        let Ok(value) = <[&str; 6]>::try_from(arn.splitn(6, ':').collect::<Vec<_>>()) else {
            return false;
        };
        let k = self.components.len();
        if k == 6 {
            return self
                .components
                .iter()
                .zip(value)
                .all(|(p, v)| p.matches(v, vars));
        }
        let (last, first) = self
            .components
            .split_last()
            .expect("at least one component");
        if !last.ends_with_star() {
            return false;
        }
        // The rest of the ARN from the start of component k, colons included.
        let offset: usize = value[..k - 1].iter().map(|v| v.len() + 1).sum();
        first.iter().zip(value).all(|(p, v)| p.matches(v, vars))
            && last.matches(&arn[offset..], vars)
    }
}

/// Splits on the first five colons that are not inside `${...}` (a variable's key has one).
fn split_components(text: &str, variables: bool) -> Vec<&str> {
    let mut parts = Vec::new();
    let (mut start, mut depth) = (0, false);
    let bytes = text.as_bytes();
    for (i, &b) in bytes.iter().enumerate() {
        match b {
            b'$' if variables && bytes.get(i + 1) == Some(&b'{') => depth = true,
            b'}' => depth = false,
            b':' if !depth && parts.len() < 5 => {
                parts.push(&text[start..i]);
                start = i + 1;
            }
            _ => {}
        }
    }
    parts.push(&text[start..]);
    parts
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::BTreeMap;

    struct Vars(BTreeMap<&'static str, &'static str>);
    impl Lookup for Vars {
        fn variable(&self, key: &str) -> Option<&str> {
            self.0.get(key).copied()
        }
    }
    fn vars() -> Vars {
        Vars(BTreeMap::from([
            ("aws:username", "bob*"),
            ("aws:principalaccount", "1"),
        ]))
    }
    fn glob(p: &str, t: &str) -> bool {
        Glob::new(p, true, true).matches(t, &vars())
    }

    #[test]
    fn wildcards() {
        assert!(glob("kms:*", "kms:Encrypt"));
        assert!(glob("kms:Generate*", "kms:GenerateDataKeyWithoutPlaintext"));
        assert!(!glob("kms:Generate*", "kms:Encrypt"));
        assert!(glob("*", ""));
        assert!(glob("a?c", "abc") && !glob("a?c", "ac") && glob("a?c", "aéc"));
        assert!(glob("*a*b*c*", "xxaxxbxxcxx") && !glob("*a*b*c*", "cba"));
        assert!(glob("a*a", "aa") && !glob("a*a", "a"));
        assert!(glob("*.example.com", "x.example.com") && !glob("*.example.com", "example.com"));
        // Adversarial: no exponential backtracking (this would take forever if it did).
        let long = "a".repeat(5000);
        assert!(!glob(&format!("{}b", "*a".repeat(50)), &long));
    }

    #[test]
    fn variables_match_literally_and_escapes_are_characters() {
        assert!(glob("home/${aws:username}/*", "home/bob*/x"));
        assert!(!glob("home/${aws:username}/*", "home/bobby/x"));
        assert!(glob("${*}${?}${$}", "*?$") && !glob("${*}", "x"));
        assert!(!glob("${aws:userid}", "") && glob("${aws:userid, 'none'}", "none"));
        assert!(glob("${not a var}", "${not a var}"));
        // 2008-10-17: no variables.
        assert!(Glob::new("${aws:username}", true, false).matches("${aws:username}", &vars()));
    }

    #[test]
    fn arns_match_component_by_component() {
        let arn = "arn:aws:kms:us-east-1:111122223333:key/1234";
        let m = |p: &str| ArnPattern::new(p, true).matches(arn, &vars());
        assert!(m(arn));
        assert!(m("arn:aws:kms:*:111122223333:key/*"));
        assert!(m("arn:aws:kms:*") && m("arn:*"));
        assert!(!m("arn:aws:kms:*:444455556666:key/*"));
        assert!(
            !m("arn:aws:kms:us-*:key/1234"),
            "a star does not cross a colon mid-ARN"
        );
        assert!(!m("arn:aws:kms"));
        assert!(!ArnPattern::new("arn:*", true).matches("not-an-arn", &vars()));
        assert!(
            ArnPattern::new("arn:aws:iam::${aws:PrincipalAccount}:root", true)
                .matches("arn:aws:iam::1:root", &vars())
        );
    }
}
