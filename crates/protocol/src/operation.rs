//! Operations as data: what a front end asks of the service, parsed on the leader from the
//! request its caller signed. Parsing is pure and total: any byte string yields an
//! operation or an AWS-style error naming the problem, never a panic (fuzzed:
//! `fuzz/fuzz_targets/kms_json_body.rs`).
//!
//! `Operation` is tagged with the AWS operation name and carries the AWS-shaped input, so a
//! front end builds one from `X-Amz-Target` and the JSON body with
//! [`Operation::from_target`].

use serde::{Deserialize, Serialize};
use serde_json::Value;
use trent_model::{Error, ErrorKind};

use crate::types::*;

/// Calls `$m!` with every operation: its variant and its input type.
macro_rules! each_operation {
    ($m:ident, $($args:tt)*) => {
        $m! {$($args)*;
            CreateKey(CreateKeyRequest),
            DescribeKey(KeyIdRequest),
            ListKeys(ListRequest),
            EnableKey(KeyIdRequest),
            DisableKey(KeyIdRequest),
            ScheduleKeyDeletion(ScheduleKeyDeletionRequest),
            CancelKeyDeletion(KeyIdRequest),
            UpdateKeyDescription(UpdateKeyDescriptionRequest),
            GetKeyLastUsage(KeyIdRequest),
            CreateAlias(AliasRequest),
            UpdateAlias(AliasRequest),
            DeleteAlias(AliasRequest),
            ListAliases(ListRequest),
            TagResource(TagResourceRequest),
            UntagResource(UntagResourceRequest),
            ListResourceTags(ListRequest),
            Encrypt(EncryptRequest),
            Decrypt(DecryptRequest),
            ReEncrypt(ReEncryptRequest),
            GenerateDataKey(GenerateDataKeyRequest),
            GenerateDataKeyWithoutPlaintext(GenerateDataKeyRequest),
            GenerateRandom(GenerateRandomRequest),
        }
    };
}

/// Defines [`Operation`] from the one list above.
macro_rules! define_operation {
    (; $($variant:ident($t:ty),)*) => {
        /// One KMS request: the AWS operation and its input, as the caller sent them.
        #[derive(Debug, Clone, Serialize, Deserialize)]
        #[serde(tag = "Operation", content = "Input")]
        pub enum Operation {
            $($variant($t),)*
        }
    };
}

each_operation!(define_operation,);

impl Operation {
    /// The operation `name` with the JSON `input`. An unknown name is
    /// `UnsupportedOperationException`; an input that does not fit the shape is a
    /// `ValidationException` naming the problem.
    pub fn from_target(name: &str, input: Value) -> Result<Operation, Error> {
        fn typed<T: serde::de::DeserializeOwned>(name: &str, input: Value) -> Result<T, Error> {
            serde_json::from_value(input).map_err(|e| shape_error(name, &e))
        }
        macro_rules! from_value {
            ($name:expr; $($variant:ident($t:ty),)*) => {
                match $name {
                    $(stringify!($variant) => Operation::$variant(typed::<$t>(name, input)?),)*
                    _ => return Err(Error::new(
                        ErrorKind::UnsupportedOperation,
                        format!("{name} is not supported"),
                    )),
                }
            };
        }
        Ok(each_operation!(from_value, name))
    }

    /// The operation `name` with the JSON object `body`, deserialized straight into its
    /// input type (no intermediate `Value`). Errors as [`Operation::from_target`]'s; a body
    /// that is not one JSON object is a `SerializationException`.
    pub fn parse(name: &str, body: &[u8]) -> Result<Operation, Error> {
        let body = match body.iter().position(|b| !b.is_ascii_whitespace()) {
            None => &b"{}"[..],
            Some(start) if body[start] == b'{' => body,
            Some(_) => {
                return Err(Error::new(
                    ErrorKind::Serialization,
                    "the request body must be a JSON object",
                ))
            }
        };
        macro_rules! from_slice {
            ($name:expr; $($variant:ident($t:ty),)*) => {
                match $name {
                    $(stringify!($variant) => Operation::$variant(
                        serde_json::from_slice::<$t>(body).map_err(|e| body_error(name, &e))?,
                    ),)*
                    _ => return Err(Error::new(
                        ErrorKind::UnsupportedOperation,
                        format!("{name} is not supported"),
                    )),
                }
            };
        }
        Ok(each_operation!(from_slice, name))
    }
}

/// A JSON body that does not parse, or does not fit the operation's shape.
fn body_error(name: &str, e: &serde_json::Error) -> Error {
    match e.classify() {
        serde_json::error::Category::Data => shape_error(name, e),
        _ => Error::new(
            ErrorKind::Serialization,
            format!("the request body is not valid JSON: {e}"),
        ),
    }
}

/// An input that does not fit the shape: a member of the wrong JSON type is a
/// `SerializationException`, as AWS answers it; other problems (unknown or malformed
/// members) are `ValidationException`. The message leaves out serde's position.
fn shape_error(name: &str, e: &serde_json::Error) -> Error {
    let text = e.to_string();
    let text = match text.rfind(" at line ") {
        Some(at) if e.line() > 0 => &text[..at],
        _ => &text,
    };
    let wrong_type = ["invalid type", "invalid value", "invalid length"]
        .iter()
        .any(|m| text.contains(m));
    let kind = match wrong_type {
        true => ErrorKind::Serialization,
        false => ErrorKind::Validation,
    };
    Error::new(kind, format!("{name}: {text}"))
}

impl Operation {
    /// The AWS operation name.
    pub fn name(&self) -> &'static str {
        macro_rules! names {
            ($op:expr; $($variant:ident($t:ty),)*) => {
                match $op {
                    $(Operation::$variant(_) => stringify!($variant),)*
                }
            };
        }
        each_operation!(names, self)
    }

    /// Whether the AWS model lists `InvalidArnException` among the operation's errors.
    pub fn declares_invalid_arn(&self) -> bool {
        use Operation::*;
        !matches!(
            self,
            ListKeys(_)
                | CreateAlias(_)
                | UpdateAlias(_)
                | DeleteAlias(_)
                | Encrypt(_)
                | Decrypt(_)
                | ReEncrypt(_)
                | GenerateDataKey(_)
                | GenerateDataKeyWithoutPlaintext(_)
                | GenerateRandom(_)
        )
    }
}
