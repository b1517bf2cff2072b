//! Operations as data: what a front end asks of the service, parsed on the leader from the
//! request its caller signed. No operation travels between nodes already parsed or with a
//! caller attached: followers forward the raw signed request (crates/api), and the leader
//! authenticates it, so the peer port carries nothing a client did not sign.
//!
//! `Operation` is tagged with the AWS operation name and carries the AWS-shaped input, so a
//! front end builds one from `X-Amz-Target` and the JSON body with
//! [`Operation::from_target`].

use serde::{Deserialize, Serialize};
use serde_json::Value;
use trent_model::{Error, ErrorKind};
use trent_state::Outcome;

use crate::once::Answer;
use crate::types::*;
use crate::{Call, OpError, Output, Service};

#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(tag = "Operation", content = "Input")]
pub enum Operation {
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

/// Calls `$m!` with every operation: its variant and its input type.
macro_rules! each_operation {
    ($m:ident, $($args:tt)*) => {
        $m!($($args)*;
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
        )
    };
}

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
    fn declares_invalid_arn(&self) -> bool {
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

impl Service {
    /// Executes `op` on this node, which must be the leader.
    pub async fn execute(&self, call: &Call, op: Operation) -> Result<Output, OpError> {
        // Before any read or write: a throttled request costs no barrier, no HSM, no log.
        self.quotas().admit(&call.caller.account, op.name())?;
        let declares_invalid_arn = op.declares_invalid_arn();
        match self.run(call, op).await {
            // AWS answers a malformed ARN with NotFoundException where the operation does
            // not declare InvalidArnException (Encrypt, Decrypt, the alias operations...).
            Err(OpError::Api(e)) if e.kind == ErrorKind::InvalidArn && !declares_invalid_arn => {
                Err(Error::not_found(e.message).into())
            }
            other => other,
        }
    }

    /// Runs `op`; a write goes through [`Service::once`], so its request id gets one answer.
    async fn run(&self, call: &Call, op: Operation) -> Result<Output, OpError> {
        match write_answer(&op) {
            Some(answer) => self.once(call, answer, self.dispatch(call, op)).await,
            None => self.dispatch(call, op).await,
        }
    }

    async fn dispatch(&self, call: &Call, op: Operation) -> Result<Output, OpError> {
        use Operation::*;
        let json = match op {
            CreateKey(r) => self.create_key(call, r).await,
            DescribeKey(r) => self.describe_key(call, r).await,
            ListKeys(r) => self.list_keys(call, r).await,
            EnableKey(r) => self.enable_key(call, r).await,
            DisableKey(r) => self.disable_key(call, r).await,
            ScheduleKeyDeletion(r) => self.schedule_key_deletion(call, r).await,
            CancelKeyDeletion(r) => self.cancel_key_deletion(call, r).await,
            UpdateKeyDescription(r) => self.update_key_description(call, r).await,
            GetKeyLastUsage(r) => self.get_key_last_usage(call, r).await,
            CreateAlias(r) => self.create_alias(call, r).await,
            UpdateAlias(r) => self.update_alias(call, r).await,
            DeleteAlias(r) => self.delete_alias(call, r).await,
            ListAliases(r) => self.list_aliases(call, r).await,
            TagResource(r) => self.tag_resource(call, r).await,
            UntagResource(r) => self.untag_resource(call, r).await,
            ListResourceTags(r) => self.list_resource_tags(call, r).await,
            Encrypt(r) => return self.encrypt(call, r).await,
            Decrypt(r) => return self.decrypt(call, r).await,
            ReEncrypt(r) => return self.re_encrypt(call, r).await,
            GenerateDataKey(r) => return self.generate_data_key(call, r, true).await,
            GenerateDataKeyWithoutPlaintext(r) => {
                return self.generate_data_key(call, r, false).await
            }
            GenerateRandom(r) => return self.generate_random(r).await,
        };
        json.map(Output::Json)
    }
}

/// For a write, how the state machine's outcome of its request id becomes its answer (a
/// replayed retry answers from it); `None` for operations that change nothing. The request
/// id binds the caller's access key, the operation and the SDK's invocation id.
fn write_answer(op: &Operation) -> Option<Answer> {
    use Operation::*;
    fn json(
        answer: fn(Outcome) -> Result<Value, OpError>,
        outcome: Outcome,
    ) -> Result<Output, OpError> {
        answer(outcome).map(Output::Json)
    }
    Some(match op {
        CreateKey(_) => |o| json(crate::keys::created, o),
        ScheduleKeyDeletion(_) => |o| json(crate::keys::scheduled, o),
        CancelKeyDeletion(_) => |o| json(crate::keys::cancelled, o),
        EnableKey(_)
        | DisableKey(_)
        | UpdateKeyDescription(_)
        | CreateAlias(_)
        | UpdateAlias(_)
        | DeleteAlias(_)
        | TagResource(_)
        | UntagResource(_) => |_| Ok(Output::Json(serde_json::json!({}))),
        _ => return None,
    })
}
