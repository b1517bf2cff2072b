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
use trent_model::Error;

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
            PutKeyPolicy(PutKeyPolicyRequest),
            GetKeyPolicy(GetKeyPolicyRequest),
            ListKeyPolicies(ListRequest),
            CreateGrant(CreateGrantRequest),
            ListGrants(ListGrantsRequest),
            ListRetirableGrants(ListRetirableGrantsRequest),
            RetireGrant(GrantRequest),
            RevokeGrant(GrantRequest),
            Sign(SignRequest),
            Verify(VerifyRequest),
            GetPublicKey(KeyIdRequest),
            GenerateMac(GenerateMacRequest),
            VerifyMac(VerifyMacRequest),
            DeriveSharedSecret(DeriveSharedSecretRequest),
            GenerateDataKeyPair(GenerateDataKeyPairRequest),
            GenerateDataKeyPairWithoutPlaintext(GenerateDataKeyPairRequest),
            Encapsulate(EncapsulateRequest),
            Decapsulate(DecapsulateRequest),
            EnableKeyRotation(EnableKeyRotationRequest),
            DisableKeyRotation(KeyIdRequest),
            GetKeyRotationStatus(KeyIdRequest),
            RotateKeyOnDemand(KeyIdRequest),
            ListKeyRotations(ListKeyRotationsRequest),
            GetParametersForImport(GetParametersForImportRequest),
            ImportKeyMaterial(ImportKeyMaterialRequest),
            DeleteImportedKeyMaterial(DeleteImportedKeyMaterialRequest),
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
        if Self::implemented(name) {
            let body = serde_json::to_vec(&input).expect("JSON values serialize");
            crate::validate::validate(name, &body)?;
        }
        fn typed<T: serde::de::DeserializeOwned>(name: &str, input: Value) -> Result<T, Error> {
            serde_json::from_value(input).map_err(|e| shape_error(name, &e))
        }
        macro_rules! from_value {
            ($name:expr; $($variant:ident($t:ty),)*) => {
                match $name {
                    $(stringify!($variant) => Operation::$variant(typed::<$t>(name, input)?),)*
                    _ => return Err(Error::unsupported_operation(name)),
                }
            };
        }
        Ok(each_operation!(from_value, name))
    }

    /// The operation `name` with the JSON object `body`, checked against the AWS model
    /// ([`crate::validate`]), then deserialized straight into its input type (no
    /// intermediate `Value`). Errors as [`Operation::from_target`]'s; a body that is not one
    /// JSON object is a `SerializationException`.
    pub fn parse(name: &str, body: &[u8]) -> Result<Operation, Error> {
        let body = match body.iter().position(|b| !b.is_ascii_whitespace()) {
            None => &b"{}"[..],
            Some(start) if body[start] == b'{' => body,
            Some(_) => return Err(Error::not_a_json_object()),
        };
        if Self::implemented(name) {
            crate::validate::validate(name, body)?;
        }
        macro_rules! from_slice {
            ($name:expr; $($variant:ident($t:ty),)*) => {
                match $name {
                    $(stringify!($variant) => Operation::$variant(
                        serde_json::from_slice::<$t>(body).map_err(|e| body_error(name, &e))?,
                    ),)*
                    _ => return Err(Error::unsupported_operation(name)),
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
        _ => Error::serialization(format_args!("The request body is not valid JSON: {e}")),
    }
}

/// An input the model accepts but trent's types do not (a blob that is not base64, a
/// member the model validator lets through): a `SerializationException`, as AWS answers a
/// value its deserializer cannot read. The message leaves out serde's position.
fn shape_error(name: &str, e: &serde_json::Error) -> Error {
    let text = e.to_string();
    let text = match text.rfind(" at line ") {
        Some(at) if e.line() > 0 => &text[..at],
        _ => &text,
    };
    Error::serialization(format_args!("{name}: {text}"))
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

    /// Whether trent implements the operation `name`.
    /// The name of every operation trent serves, in the list's order.
    pub const NAMES: &'static [&'static str] = {
        macro_rules! names {
            ($unused:expr; $($variant:ident($t:ty),)*) => {
                &[$(stringify!($variant)),*]
            };
        }
        each_operation!(names, ())
    };

    pub fn implemented(name: &str) -> bool {
        macro_rules! implemented {
            ($name:expr; $($variant:ident($t:ty),)*) => {
                matches!($name, $(stringify!($variant))|*)
            };
        }
        each_operation!(implemented, name)
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
                | Sign(_)
                | Verify(_)
                | GenerateMac(_)
                | VerifyMac(_)
                | DeriveSharedSecret(_)
                | GenerateDataKeyPair(_)
                | GenerateDataKeyPairWithoutPlaintext(_)
                | Encapsulate(_)
                | Decapsulate(_)
        )
    }
}
