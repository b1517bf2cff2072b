//! A request body checked against the AWS model before anything reads it, in one pass over
//! the JSON and in AWS's words:
//!
//! - a member of the wrong JSON type is a `SerializationException` at once, as AWS's
//!   deserializer answers it (`STRING_VALUE can not be converted to an Integer`, `Start of
//!   structure or map found where not expected.`);
//! - a member the operation's input lacks is refused (AWS ignores it; trent does not, so a
//!   misspelled `EncryptionContext` never goes unnoticed: docs/ARCHITECTURE.md);
//! - every broken constraint (required, enum, length, range, pattern) is collected, and all
//!   of them are answered in one `ValidationException`, ordered as the model orders the
//!   members: `2 validation errors detected: Value '0' at 'numberOfBytes' failed to satisfy
//!   constraint: Member must have value greater than or equal to 1; ...`.
//!
//! A JSON `null` is an absent member. Sensitive members (plaintexts) are never quoted, and no
//! copy of a string value is kept unless it goes into a message.

use std::fmt;

use serde::de::{self, DeserializeSeed, Deserializer, MapAccess, SeqAccess, Visitor};
use trent_model::{constraint_detail, Error, Shown, NOT_NULL};

use crate::aws_model::{model, Shape, ShapeType};

/// Checks `body` (one JSON object) against the input of `operation`. Operations the model
/// lacks, and syntax errors, are left to the parser that follows.
pub fn validate(operation: &str, body: &[u8]) -> Result<(), Error> {
    let model = model();
    let Some(input) = model
        .operation(operation)
        .and_then(|o| o.input.as_deref())
        .and_then(|name| model.shape(name))
    else {
        return Ok(());
    };
    let mut found = Findings::default();
    let mut json = serde_json::Deserializer::from_slice(body);
    let check = Check {
        shape: input,
        path: String::new(),
        order: Vec::new(),
        sensitive: false,
        found: &mut found,
    };
    match check.deserialize(&mut json) {
        Ok(_) => {}
        Err(_) if found.refusal.is_some() => return Err(found.refusal.take().unwrap()),
        Err(e) if e.is_data() => return Err(Error::serialization(strip_position(&e))),
        // Not JSON: the parser that follows words it.
        Err(_) => return Ok(()),
    }
    let mut found = found.violations;
    if found.is_empty() {
        return Ok(());
    }
    found.sort_by(|a, b| a.order.cmp(&b.order));
    let details: Vec<String> = found.into_iter().map(|v| v.text).collect();
    Err(Error::validation_errors(&details))
}

/// serde_json's message without its " at line 1 column 9".
fn strip_position(e: &serde_json::Error) -> String {
    let text = e.to_string();
    match text.rfind(" at line ") {
        Some(at) => text[..at].to_owned(),
        None => text,
    }
}

/// What the check found: broken constraints, or a refusal that stops it.
#[derive(Default)]
struct Findings {
    violations: Vec<Violation>,
    refusal: Option<Error>,
}

/// One broken constraint, and where its member sits in the model's order.
struct Violation {
    order: Vec<usize>,
    text: String,
}

// Constraint texts, as AWS words them.

fn enum_set(values: &[String]) -> String {
    format!(
        "Member must satisfy enum value set: [{}]",
        values.join(", ")
    )
}

fn length_min(min: i64) -> String {
    format!("Member must have length greater than or equal to {min}")
}

fn length_max(max: i64) -> String {
    format!("Member must have length less than or equal to {max}")
}

fn value_min(min: i64) -> String {
    format!("Member must have value greater than or equal to {min}")
}

fn value_max(max: i64) -> String {
    format!("Member must have value less than or equal to {max}")
}

fn pattern(pattern: &str) -> String {
    format!("Member must satisfy regular expression pattern: {pattern}")
}

/// The check of one value against `shape`, at `path` (AWS's lowerCamel path:
/// `tags.1.member.tagKey`). Yields whether a value was there (`null` is absence).
struct Check<'a> {
    shape: &'static Shape,
    path: String,
    order: Vec<usize>,
    sensitive: bool,
    found: &'a mut Findings,
}

impl Check<'_> {
    /// Records a broken constraint; `value` shows the member, unless it is sensitive.
    fn violation(&mut self, value: impl FnOnce() -> String, constraint: String) {
        let quoted = match self.sensitive || self.shape.sensitive {
            true => None,
            false => Some(value()),
        };
        let shown = quoted.as_deref().map_or(Shown::Hidden, Shown::Quoted);
        self.found.violations.push(Violation {
            order: self.order.clone(),
            text: constraint_detail(shown, &self.path, constraint),
        });
    }

    fn check_length(&mut self, len: i64, value: impl Fn() -> String) {
        if let Some(min) = self.shape.min.filter(|min| len < *min) {
            self.violation(&value, length_min(min));
        }
        if let Some(max) = self.shape.max.filter(|max| len > *max) {
            self.violation(&value, length_max(max));
        }
    }

    fn check_string(&mut self, s: &str) {
        if let Some(values) = &self.shape.enum_values {
            if !values.iter().any(|v| v == s) {
                self.violation(|| s.to_owned(), enum_set(values));
            }
            return;
        }
        // Java counts UTF-16 code units.
        self.check_length(s.encode_utf16().count() as i64, || s.to_owned());
        if let Some(p) = &self.shape.pattern {
            if !full_match(p, s) {
                self.violation(|| s.to_owned(), pattern(p));
            }
        }
    }

    fn check_number(&mut self, n: i64) {
        if let Some(min) = self.shape.min.filter(|min| n < *min) {
            self.violation(|| n.to_string(), value_min(min));
        }
        if let Some(max) = self.shape.max.filter(|max| n > *max) {
            self.violation(|| n.to_string(), value_max(max));
        }
    }

    /// A blob's length is its decoded length; AWS shows a blob as Java shows its buffer.
    fn check_blob(&mut self, base64: &str) {
        let len = decoded_len(base64) as i64;
        self.check_length(len, || {
            format!("java.nio.HeapByteBuffer[pos=0 lim={len} cap={len}]")
        });
    }

    fn child(&mut self, shape: &str, path: String, index: usize) -> Check<'_> {
        let mut order = self.order.clone();
        order.push(index);
        Check {
            shape: model().shape(shape).expect("the model resolves its shapes"),
            path,
            order,
            sensitive: self.sensitive || self.shape.sensitive,
            found: self.found,
        }
    }

    fn wrong_type<E: de::Error>(&self, token: &str) -> E {
        let expected = match self.shape.kind {
            ShapeType::String => "a String",
            ShapeType::Integer => "an Integer",
            ShapeType::Long => "a Long",
            ShapeType::Boolean => "a Boolean",
            ShapeType::Blob => "a ByteBuffer",
            ShapeType::Timestamp => "a Date",
            ShapeType::List => "a List",
            ShapeType::Map => "a Map",
            ShapeType::Structure => "a Structure",
        };
        E::custom(format!("{token} can not be converted to {expected}"))
    }
}

/// Java's `String.matches`: the whole string. The model's patterns are Java's; the ones KMS
/// uses read the same in Rust's syntax. A pattern Rust cannot read checks nothing.
pub(crate) fn full_match(pattern: &str, s: &str) -> bool {
    use std::collections::HashMap;
    use std::sync::{LazyLock, Mutex};
    static COMPILED: LazyLock<Mutex<HashMap<String, Option<regex::Regex>>>> =
        LazyLock::new(Default::default);
    let mut compiled = COMPILED.lock().unwrap_or_else(|e| e.into_inner());
    let re = compiled
        .entry(pattern.to_owned())
        .or_insert_with(|| regex::Regex::new(&format!("^(?:{pattern})$")).ok());
    re.as_ref().is_none_or(|re| re.is_match(s))
}

/// The length of what a base64 string decodes to (its validity is the parser's to check).
fn decoded_len(s: &str) -> usize {
    let padding = s.bytes().rev().take_while(|b| *b == b'=').count().min(2);
    (s.len() / 4 * 3 + (s.len() % 4).saturating_sub(1)).saturating_sub(padding)
}

/// AWS's path segment for a member: its name with a lowercase first letter.
fn lower_camel(name: &str) -> String {
    let mut chars = name.chars();
    match chars.next() {
        Some(first) => first.to_lowercase().chain(chars).collect(),
        None => String::new(),
    }
}

fn join(path: &str, segment: &str) -> String {
    match path.is_empty() {
        true => segment.to_owned(),
        false => format!("{path}.{segment}"),
    }
}

impl<'de> DeserializeSeed<'de> for Check<'_> {
    /// Whether a value was there.
    type Value = bool;

    fn deserialize<D: Deserializer<'de>>(self, d: D) -> Result<bool, D::Error> {
        d.deserialize_any(self)
    }
}

impl<'de> Visitor<'de> for Check<'_> {
    type Value = bool;

    fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
        write!(f, "a value of the model's shape")
    }

    fn visit_unit<E: de::Error>(self) -> Result<bool, E> {
        Ok(false)
    }

    fn visit_none<E: de::Error>(self) -> Result<bool, E> {
        Ok(false)
    }

    fn visit_bool<E: de::Error>(self, _: bool) -> Result<bool, E> {
        match self.shape.kind {
            ShapeType::Boolean => Ok(true),
            _ => Err(self.wrong_type("BOOLEAN_VALUE")),
        }
    }

    fn visit_i64<E: de::Error>(mut self, n: i64) -> Result<bool, E> {
        match self.shape.kind {
            ShapeType::Integer | ShapeType::Long => {
                self.check_number(n);
                Ok(true)
            }
            ShapeType::Timestamp => Ok(true),
            _ => Err(self.wrong_type("NUMBER_VALUE")),
        }
    }

    fn visit_u64<E: de::Error>(self, n: u64) -> Result<bool, E> {
        self.visit_i64(i64::try_from(n).unwrap_or(i64::MAX))
    }

    fn visit_f64<E: de::Error>(self, _: f64) -> Result<bool, E> {
        match self.shape.kind {
            ShapeType::Timestamp => Ok(true),
            _ => Err(self.wrong_type("NUMBER_VALUE")),
        }
    }

    fn visit_str<E: de::Error>(mut self, s: &str) -> Result<bool, E> {
        match self.shape.kind {
            ShapeType::String => self.check_string(s),
            ShapeType::Blob => self.check_blob(s),
            ShapeType::Timestamp => {}
            _ => return Err(self.wrong_type("STRING_VALUE")),
        }
        Ok(true)
    }

    fn visit_seq<A: SeqAccess<'de>>(mut self, mut seq: A) -> Result<bool, A::Error> {
        if self.shape.kind != ShapeType::List {
            return Err(de::Error::custom("Start of list found where not expected"));
        }
        let element = self
            .shape
            .member
            .as_deref()
            .expect("lists name their member");
        let mut count = 0usize;
        loop {
            let path = join(&self.path, &format!("{}.member", count + 1));
            if seq
                .next_element_seed(self.child(element, path, count))?
                .is_none()
            {
                break;
            }
            count += 1;
        }
        self.check_length(count as i64, || format!("[{count} elements]"));
        Ok(true)
    }

    fn visit_map<A: MapAccess<'de>>(self, map: A) -> Result<bool, A::Error> {
        match self.shape.kind {
            ShapeType::Structure => self.visit_structure(map),
            ShapeType::Map => self.visit_entries(map),
            _ => Err(de::Error::custom(
                "Start of structure or map found where not expected.",
            )),
        }
    }
}

impl Check<'_> {
    fn visit_structure<'de, A: MapAccess<'de>>(mut self, mut map: A) -> Result<bool, A::Error> {
        let mut present = vec![false; self.shape.members.len()];
        while let Some(name) = map.next_key::<std::borrow::Cow<'de, str>>()? {
            let Some((index, shape)) = self.shape.member(&name) else {
                // `null` is absence, of a member the input lacks as of any other.
                if map.next_value::<Option<de::IgnoredAny>>()?.is_none() {
                    continue;
                }
                self.found.refusal = Some(Error::unknown_member(&name));
                return Err(de::Error::custom("an unknown member"));
            };
            let path = join(&self.path, &lower_camel(&name));
            present[index] = map.next_value_seed(self.child(shape, path, index))?;
        }
        for required in &self.shape.required {
            let (index, _) = self.shape.member(required).expect("required members exist");
            if !present[index] {
                let path = join(&self.path, &lower_camel(required));
                let mut order = self.order.clone();
                order.push(index);
                self.found.violations.push(Violation {
                    order,
                    text: constraint_detail(Shown::Null, &path, NOT_NULL),
                });
            }
        }
        Ok(true)
    }

    fn visit_entries<'de, A: MapAccess<'de>>(mut self, mut map: A) -> Result<bool, A::Error> {
        let key = self.shape.key.clone().expect("maps name their key");
        let value = self.shape.value.clone().expect("maps name their value");
        let mut count = 0usize;
        loop {
            let path = join(&self.path, &format!("{}.key", count + 1));
            if map.next_key_seed(self.child(&key, path, count))?.is_none() {
                break;
            }
            let path = join(&self.path, &format!("{}.value", count + 1));
            map.next_value_seed(self.child(&value, path, count))?;
            count += 1;
        }
        self.check_length(count as i64, || format!("{{{count} entries}}"));
        Ok(true)
    }
}

/// Base64's alphabet, for tests that build bodies.
#[cfg(test)]
fn b64(bytes: &[u8]) -> String {
    use base64::Engine as _;
    base64::engine::general_purpose::STANDARD.encode(bytes)
}

#[cfg(test)]
#[path = "validate_tests.rs"]
mod tests;
