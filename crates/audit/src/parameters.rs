//! What of a request and a response may be recorded: an allowlist per operation, as
//! CloudTrail keeps for AWS KMS.
//!
//! Guarantees:
//! - Only members named in the operation's list come out; an operation not in the tables
//!   (a future one, trent's admin target) records `keyId` alone, if its request has one,
//!   and no response elements.
//! - No blob is ever recorded (every `blob` member of the KMS model: `Plaintext`,
//!   `CiphertextBlob`, `Signature`, `Mac`, `Message`, `SharedSecret`,
//!   `SharedSecretCiphertextBlob`, `CiphertextForRecipient`, `PrivateKeyPlaintext`,
//!   `PrivateKeyCiphertextBlob`, `EncryptedKeyMaterial`, `ImportToken`, `PublicKey`, a
//!   recipient's `AttestationDocument`), and no credential (`KeyStorePassword`,
//!   `XksProxyAuthenticationCredential`, `GrantToken`, `GrantTokens`). A member whose name
//!   looks like a secret ([`looks_secret`]) is dropped at any depth, even if a table named it:
//!   the tables are the policy, the name check is the backstop.
//! - Member names are CloudTrail's: the API name with its first letter lowered, unless the
//!   second is a capital too (`KeyId` -> `keyId`, `AWSAccountId` stays), which is how the
//!   KMS examples print `keyMetadata.AWSAccountId`. Map keys (an encryption context's, a
//!   grant constraint's) are data and keep their case.
//! - A kept member is copied only in the shape the model gives it (a scalar, a list of
//!   scalars, a map of scalars, a structure); a refused request's malformed member
//!   (`{"KeyId": {"Plaintext": ...}}`) is recorded as `null`. A structure (`Constraints`,
//!   `Tags`, `KeyMetadata`) has its own allowlist, at every depth: a member the model does
//!   not give it is dropped, whatever its name.
//!
//! Choices (see docs/ARCHITECTURE.md, "Audit trail"):
//! - `DeriveSharedSecret`'s `PublicKey` (the peer's) is public, but it is a blob and is not
//!   recorded: one rule for every blob is easier to keep than a list of harmless ones, and
//!   `keyAgreementAlgorithm` and the key say what was done.
//! - Key policies are recorded: CloudTrail's PutKeyPolicy entry carries `policy` in full
//!   (`ct-put-key-policy`), and a policy is readable by anyone allowed GetKeyPolicy.
//! - Grant tokens are not recorded (a token lets its holder use a grant at once); nor are
//!   pagination members (`Limit`, `Marker`), `ResourceOwners`, `DryRunModifiers` or a
//!   `Recipient` (its attestation document is a blob; CloudTrail summarizes it in
//!   `additionalEventData`, which the integration may do).
//! - Cryptographic operations record no response elements (CloudTrail's Encrypt, Decrypt,
//!   Decapsulate entries have `"responseElements": null`); CreateGrant records `grantId`,
//!   never `grantToken`.

use serde_json::{Map, Value};

/// How a kept member's value is copied.
#[derive(Clone, Copy)]
enum Keep {
    /// A scalar or a list of scalars, as given.
    Scalar,
    /// A map of scalars whose keys are data (an encryption context), as given.
    Map,
    /// A structure: only the members its own list names, each copied as the list says.
    Struct(&'static [(&'static str, Keep)]),
    /// A list of structures, each [`Keep::Struct`].
    EachStruct(&'static [(&'static str, Keep)]),
}

const K: Keep = Keep::Scalar;
const MAP: Keep = Keep::Map;

/// `Tag`.
const TAGS: Keep = Keep::EachStruct(&[("TagKey", K), ("TagValue", K)]);
/// `GrantConstraints`.
const CONSTRAINTS: Keep = Keep::Struct(&[
    ("EncryptionContextSubset", MAP),
    ("EncryptionContextEquals", MAP),
    ("SourceArn", K),
]);
/// `MultiRegionKey`.
const REGION_KEY: &[(&str, Keep)] = &[("Arn", K), ("Region", K)];
/// `KeyMetadata`, every member of the model's (none is secret).
const KEY_METADATA: Keep = Keep::Struct(&[
    ("AWSAccountId", K),
    ("KeyId", K),
    ("Arn", K),
    ("CreationDate", K),
    ("Enabled", K),
    ("Description", K),
    ("KeyUsage", K),
    ("KeyState", K),
    ("DeletionDate", K),
    ("ValidTo", K),
    ("Origin", K),
    ("CustomKeyStoreId", K),
    ("CloudHsmClusterId", K),
    ("ExpirationModel", K),
    ("KeyManager", K),
    ("CustomerMasterKeySpec", K),
    ("KeySpec", K),
    ("EncryptionAlgorithms", K),
    ("SigningAlgorithms", K),
    ("KeyAgreementAlgorithms", K),
    ("EncapsulationAlgorithms", K),
    ("MultiRegion", K),
    (
        "MultiRegionConfiguration",
        Keep::Struct(&[
            ("MultiRegionKeyType", K),
            ("PrimaryKey", Keep::Struct(REGION_KEY)),
            ("ReplicaKeys", Keep::EachStruct(REGION_KEY)),
        ]),
    ),
    ("PendingDeletionWindowInDays", K),
    ("MacAlgorithms", K),
    ("XksKeyConfiguration", Keep::Struct(&[("Id", K)])),
    ("CurrentKeyMaterialId", K),
]);

/// The members of `operation`'s request CloudTrail records.
fn request_allowlist(operation: &str) -> Option<&'static [(&'static str, Keep)]> {
    const KEY: &[(&str, Keep)] = &[("KeyId", K)];
    const STORE: &[(&str, Keep)] = &[("CustomKeyStoreId", K)];
    Some(match operation {
        "CancelKeyDeletion"
        | "DisableKey"
        | "DisableKeyRotation"
        | "EnableKey"
        | "RotateKeyOnDemand"
        | "GetKeyRotationStatus"
        | "GetKeyLastUsage"
        | "DescribeKey" => KEY,
        "ConnectCustomKeyStore" | "DeleteCustomKeyStore" | "DisconnectCustomKeyStore" => STORE,
        "CreateAlias" | "UpdateAlias" => &[("AliasName", K), ("TargetKeyId", K)],
        "DeleteAlias" => &[("AliasName", K)],
        "CreateCustomKeyStore" => &[
            ("CustomKeyStoreName", K),
            ("CustomKeyStoreType", K),
            ("CloudHsmClusterId", K),
            ("TrustAnchorCertificate", K),
            ("XksProxyConnectivity", K),
            ("XksProxyUriEndpoint", K),
            ("XksProxyUriPath", K),
            ("XksProxyVpcEndpointServiceName", K),
            ("XksProxyVpcEndpointServiceOwner", K),
        ],
        "UpdateCustomKeyStore" => &[
            ("CustomKeyStoreId", K),
            ("NewCustomKeyStoreName", K),
            ("CloudHsmClusterId", K),
            ("XksProxyConnectivity", K),
            ("XksProxyUriEndpoint", K),
            ("XksProxyUriPath", K),
            ("XksProxyVpcEndpointServiceName", K),
            ("XksProxyVpcEndpointServiceOwner", K),
        ],
        "DescribeCustomKeyStores" => &[("CustomKeyStoreId", K), ("CustomKeyStoreName", K)],
        "CreateGrant" => &[
            ("KeyId", K),
            ("GranteePrincipal", K),
            ("GranteeServicePrincipal", K),
            ("RetiringPrincipal", K),
            ("RetiringServicePrincipal", K),
            ("Operations", K),
            ("Constraints", CONSTRAINTS),
            ("Name", K),
            ("DryRun", K),
        ],
        "RetireGrant" => &[("KeyId", K), ("GrantId", K), ("DryRun", K)],
        "RevokeGrant" => &[("KeyId", K), ("GrantId", K), ("DryRun", K)],
        "ListGrants" => &[
            ("KeyId", K),
            ("GrantId", K),
            ("GranteePrincipal", K),
            ("GranteeServicePrincipal", K),
        ],
        "ListRetirableGrants" => &[("RetiringPrincipal", K), ("RetiringServicePrincipal", K)],
        "CreateKey" => &[
            ("Description", K),
            ("KeyUsage", K),
            ("KeySpec", K),
            ("CustomerMasterKeySpec", K),
            ("Origin", K),
            ("CustomKeyStoreId", K),
            ("XksKeyId", K),
            ("MultiRegion", K),
            ("BypassPolicyLockoutSafetyCheck", K),
            ("Policy", K),
            ("Tags", TAGS),
        ],
        "ReplicateKey" => &[
            ("KeyId", K),
            ("ReplicaRegion", K),
            ("Description", K),
            ("BypassPolicyLockoutSafetyCheck", K),
            ("Policy", K),
            ("Tags", TAGS),
        ],
        "Encrypt" => &[
            ("KeyId", K),
            ("EncryptionContext", MAP),
            ("EncryptionAlgorithm", K),
            ("DryRun", K),
        ],
        "Decrypt" => &[
            ("KeyId", K),
            ("EncryptionContext", MAP),
            ("EncryptionAlgorithm", K),
            ("DryRun", K),
        ],
        "ReEncrypt" => &[
            ("SourceKeyId", K),
            ("DestinationKeyId", K),
            ("SourceEncryptionContext", MAP),
            ("DestinationEncryptionContext", MAP),
            ("SourceEncryptionAlgorithm", K),
            ("DestinationEncryptionAlgorithm", K),
            ("DryRun", K),
        ],
        "GenerateDataKey" | "GenerateDataKeyWithoutPlaintext" => &[
            ("KeyId", K),
            ("EncryptionContext", MAP),
            ("KeySpec", K),
            ("NumberOfBytes", K),
            ("DryRun", K),
        ],
        "GenerateDataKeyPair" | "GenerateDataKeyPairWithoutPlaintext" => &[
            ("KeyId", K),
            ("EncryptionContext", MAP),
            ("KeyPairSpec", K),
            ("DryRun", K),
        ],
        "GenerateRandom" => &[("NumberOfBytes", K), ("CustomKeyStoreId", K)],
        "GenerateMac" | "VerifyMac" => &[("KeyId", K), ("MacAlgorithm", K), ("DryRun", K)],
        "Sign" | "Verify" => &[
            ("KeyId", K),
            ("SigningAlgorithm", K),
            ("MessageType", K),
            ("DryRun", K),
        ],
        "DeriveSharedSecret" => &[("KeyId", K), ("KeyAgreementAlgorithm", K), ("DryRun", K)],
        "Encapsulate" | "Decapsulate" => {
            &[("KeyId", K), ("EncapsulationAlgorithm", K), ("DryRun", K)]
        }
        "GetPublicKey" => KEY,
        "GetKeyPolicy" => &[("KeyId", K), ("PolicyName", K)],
        "PutKeyPolicy" => &[
            ("KeyId", K),
            ("PolicyName", K),
            ("Policy", K),
            ("BypassPolicyLockoutSafetyCheck", K),
        ],
        "ListKeyPolicies" | "ListResourceTags" | "ListAliases" => KEY,
        "ListKeyRotations" => &[("KeyId", K), ("IncludeKeyMaterial", K)],
        "ListKeys" => &[],
        "GetParametersForImport" => &[
            ("KeyId", K),
            ("WrappingAlgorithm", K),
            ("WrappingKeySpec", K),
        ],
        "ImportKeyMaterial" => &[
            ("KeyId", K),
            ("ExpirationModel", K),
            ("ValidTo", K),
            ("ImportType", K),
            ("KeyMaterialDescription", K),
            ("KeyMaterialId", K),
        ],
        "DeleteImportedKeyMaterial" => &[("KeyId", K), ("KeyMaterialId", K)],
        "EnableKeyRotation" => &[("KeyId", K), ("RotationPeriodInDays", K)],
        "ScheduleKeyDeletion" => &[("KeyId", K), ("PendingWindowInDays", K)],
        "TagResource" => &[("KeyId", K), ("Tags", TAGS)],
        "UntagResource" => &[("KeyId", K), ("TagKeys", K)],
        "UpdateKeyDescription" => &[("KeyId", K), ("Description", K)],
        "UpdatePrimaryRegion" => &[("KeyId", K), ("PrimaryRegion", K)],
        _ => return None,
    })
}

/// The members of `operation`'s response CloudTrail records (`None`: `"responseElements":
/// null`, as for every read and every cryptographic operation).
fn response_allowlist(operation: &str) -> Option<&'static [(&'static str, Keep)]> {
    Some(match operation {
        "CreateKey" => &[("KeyMetadata", KEY_METADATA)],
        "ReplicateKey" => &[("ReplicaKeyMetadata", KEY_METADATA)],
        "CreateGrant" => &[("GrantId", K), ("KeyId", K)],
        "CreateCustomKeyStore" => &[("CustomKeyStoreId", K)],
        "CancelKeyDeletion" | "RotateKeyOnDemand" => &[("KeyId", K)],
        "ScheduleKeyDeletion" => &[
            ("KeyId", K),
            ("DeletionDate", K),
            ("KeyState", K),
            ("PendingWindowInDays", K),
        ],
        "ImportKeyMaterial" | "DeleteImportedKeyMaterial" => &[("KeyId", K), ("KeyMaterialId", K)],
        _ => return None,
    })
}

/// The `requestParameters` to record for `operation`'s `request` (the JSON body as the API
/// received it), or `None` (written `null`) when nothing may be kept.
pub fn request_parameters(operation: &str, request: &Value) -> Option<Value> {
    const UNKNOWN: &[(&str, Keep)] = &[("KeyId", Keep::Scalar)];
    keep(request, request_allowlist(operation).unwrap_or(UNKNOWN))
}

/// The `responseElements` to record for `operation`'s `response`, or `None` (`null`).
pub fn response_elements(operation: &str, response: &Value) -> Option<Value> {
    keep(response, response_allowlist(operation)?)
}

fn keep(body: &Value, allowlist: &[(&str, Keep)]) -> Option<Value> {
    let kept = members(body.as_object()?, allowlist);
    (!kept.is_empty()).then_some(Value::Object(kept))
}

/// The members of `o` that `allowlist` names and whose names do not look secret,
/// CloudTrail-cased, each copied as the list says.
fn members(o: &Map<String, Value>, allowlist: &[(&str, Keep)]) -> Map<String, Value> {
    allowlist
        .iter()
        .filter(|(member, _)| !looks_secret(member))
        .filter_map(|&(member, how)| Some((cloudtrail_name(member), copy(o.get(member)?, how))))
        .collect()
}

fn copy(value: &Value, how: Keep) -> Value {
    match (how, value) {
        (Keep::Scalar, v) => scalars(v),
        (Keep::Map, Value::Object(o)) if o.values().all(is_scalar) => value.clone(),
        (Keep::Struct(list), Value::Object(o)) => Value::Object(members(o, list)),
        (Keep::EachStruct(list), Value::Array(items)) => {
            Value::Array(items.iter().map(|i| copy(i, Keep::Struct(list))).collect())
        }
        // A shape the model does not give this member (a malformed request's
        // `{"KeyId": {"Plaintext": ...}}`) is recorded as null: refused requests are
        // recorded too, and their bodies are whatever the caller sent.
        _ => Value::Null,
    }
}

fn is_scalar(v: &Value) -> bool {
    !v.is_object() && !v.is_array()
}

/// A scalar or a list of scalars as given; anything else null.
fn scalars(v: &Value) -> Value {
    match v {
        Value::Array(items) if items.iter().all(is_scalar) => v.clone(),
        v if is_scalar(v) => v.clone(),
        _ => Value::Null,
    }
}

/// `KeyId` -> `keyId`; `AWSAccountId` unchanged (Java's `Introspector.decapitalize`, which
/// gives the names the KMS examples show).
pub fn cloudtrail_name(api_name: &str) -> String {
    let mut chars = api_name.chars();
    match (chars.next(), chars.next()) {
        (Some(a), Some(b)) if a.is_uppercase() && b.is_uppercase() => api_name.to_owned(),
        (Some(a), _) => a
            .to_lowercase()
            .chain(api_name[a.len_utf8()..].chars())
            .collect(),
        (None, _) => String::new(),
    }
}

/// Whether a member name says it holds secret or bulk cryptographic bytes. Exact names for
/// words that are also parts of harmless names (`Mac` vs `MacAlgorithm`).
pub fn looks_secret(name: &str) -> bool {
    const EXACT: &[&str] = &[
        "mac",
        "signature",
        "message",
        "publickey",
        "encryptedkeymaterial",
        "attestationdocument",
    ];
    const PARTS: &[&str] = &[
        "plaintext",
        "ciphertext",
        "secret",
        "password",
        "credential",
        "privatekey",
        "token",
    ];
    let lower = name.to_ascii_lowercase();
    EXACT.contains(&lower.as_str()) || PARTS.iter().any(|p| lower.contains(p))
}
