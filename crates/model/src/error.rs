//! The one error type of trent. Every variant maps once to its AWS exception name and HTTP
//! status, so the API front end never invents codes of its own.

use serde::{Deserialize, Serialize};

/// The kind of an error: an AWS KMS exception (or a trent-internal condition that maps to one).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub enum ErrorKind {
    NotFound,
    AlreadyExists,
    Disabled,
    InvalidState,
    Validation,
    InvalidArn,
    InvalidAliasName,
    AccessDenied,
    LimitExceeded,
    InvalidCiphertext,
    IncorrectKey,
    Tag,
    UnsupportedOperation,
    InvalidMarker,
    InvalidKeyUsage,
    /// A `DryRun` request that would have succeeded.
    DryRunOperation,
    /// A name reserved for AWS (`alias/aws/...`).
    NotAuthorized,
    /// The request carries no SigV4 signature.
    MissingAuthenticationToken,
    /// The access key id is not known (or the request carries a session token).
    UnrecognizedClient,
    /// The signature does not match, is malformed, or is outside the clock-skew window.
    InvalidSignature,
    /// The operation named in `X-Amz-Target` does not exist.
    UnknownOperation,
    /// The body is not the JSON the operation takes (not JSON, wrong member types).
    Serialization,
    /// The request body is larger than the endpoint accepts.
    RequestTooLarge,
    /// The cluster cannot serve the request now (no leader, no quorum, shutting down). The
    /// outcome of a write that reports this is unknown. AWS's common error
    /// `ServiceUnavailable`, HTTP 503, which every AWS SDK retries (docs/ARCHITECTURE.md).
    Unavailable,
    Internal,
    /// The caller's account is over a request-rate quota (AWS: 400 `ThrottlingException`).
    /// Last, so the stored form of every earlier kind keeps its index.
    Throttling,
    /// A key or identity policy that is not a valid policy document, or one the lockout
    /// safety check refuses (AWS: 400 `MalformedPolicyDocumentException`). After
    /// `Throttling`, so no stored index moves.
    MalformedPolicyDocument,
    /// A grant id that is not a grant's (AWS: 400 `InvalidGrantIdException`). Appended, so no
    /// stored index moves.
    InvalidGrantId,
    /// A grant token that names no grant, or is not a grant token (AWS: 400
    /// `InvalidGrantTokenException`).
    InvalidGrantToken,
    /// IAM's `NoSuchEntity`: the user, or the user's inline policy, named in an admin request
    /// does not exist (HTTP 404, as IAM answers). Appended, so no stored index moves.
    NoSuchEntity,
    /// IAM's `DeleteConflict`: the entity still has subordinates (a user with inline
    /// policies), HTTP 409 as IAM answers.
    DeleteConflict,
    /// Verify of a signature that does not verify (AWS: `KMSInvalidSignatureException`).
    /// Appended, so no stored index moves.
    KmsInvalidSignature,
    /// VerifyMac of a MAC that does not verify (AWS: `KMSInvalidMacException`).
    KmsInvalidMac,
    /// A change that conflicts with another one to the same key (AWS: `ConflictException`):
    /// two rotations of one key at once. Appended, so no stored index moves.
    Conflict,
    /// An import token past its 24 hours (AWS: `ExpiredImportTokenException`).
    ExpiredImportToken,
    /// An import token that is not one, is another key's, or was used (AWS:
    /// `InvalidImportTokenException`).
    InvalidImportToken,
    /// Imported material that is not what the key takes, or not the material imported
    /// before (AWS: `IncorrectKeyMaterialException`).
    IncorrectKeyMaterial,
    /// A LookupEvents `NextToken` this trail did not issue (CloudTrail: 400
    /// `InvalidNextTokenException`). Appended, so no stored index moves.
    InvalidNextToken,
}

impl ErrorKind {
    /// Every kind, for lookups by code.
    pub const ALL: [ErrorKind; 38] = [
        ErrorKind::NotFound,
        ErrorKind::AlreadyExists,
        ErrorKind::Disabled,
        ErrorKind::InvalidState,
        ErrorKind::Validation,
        ErrorKind::InvalidArn,
        ErrorKind::InvalidAliasName,
        ErrorKind::AccessDenied,
        ErrorKind::LimitExceeded,
        ErrorKind::InvalidCiphertext,
        ErrorKind::IncorrectKey,
        ErrorKind::Tag,
        ErrorKind::UnsupportedOperation,
        ErrorKind::InvalidMarker,
        ErrorKind::InvalidKeyUsage,
        ErrorKind::DryRunOperation,
        ErrorKind::NotAuthorized,
        ErrorKind::MissingAuthenticationToken,
        ErrorKind::UnrecognizedClient,
        ErrorKind::InvalidSignature,
        ErrorKind::UnknownOperation,
        ErrorKind::Serialization,
        ErrorKind::RequestTooLarge,
        ErrorKind::Unavailable,
        ErrorKind::Internal,
        ErrorKind::Throttling,
        ErrorKind::MalformedPolicyDocument,
        ErrorKind::InvalidGrantId,
        ErrorKind::InvalidGrantToken,
        ErrorKind::NoSuchEntity,
        ErrorKind::DeleteConflict,
        ErrorKind::KmsInvalidSignature,
        ErrorKind::KmsInvalidMac,
        ErrorKind::Conflict,
        ErrorKind::ExpiredImportToken,
        ErrorKind::InvalidImportToken,
        ErrorKind::IncorrectKeyMaterial,
        ErrorKind::InvalidNextToken,
    ];

    /// The kind whose AWS exception name is `code` (the inverse of [`ErrorKind::aws_code`]).
    pub fn from_aws_code(code: &str) -> Option<ErrorKind> {
        ErrorKind::ALL.into_iter().find(|k| k.aws_code() == code)
    }

    /// The AWS exception name, as it appears in `__type`.
    pub fn aws_code(self) -> &'static str {
        match self {
            ErrorKind::NotFound => "NotFoundException",
            ErrorKind::AlreadyExists => "AlreadyExistsException",
            ErrorKind::Disabled => "DisabledException",
            ErrorKind::InvalidState => "KMSInvalidStateException",
            ErrorKind::Validation => "ValidationException",
            ErrorKind::InvalidArn => "InvalidArnException",
            ErrorKind::InvalidAliasName => "InvalidAliasNameException",
            ErrorKind::AccessDenied => "AccessDeniedException",
            ErrorKind::LimitExceeded => "LimitExceededException",
            ErrorKind::InvalidCiphertext => "InvalidCiphertextException",
            ErrorKind::IncorrectKey => "IncorrectKeyException",
            ErrorKind::Tag => "TagException",
            ErrorKind::UnsupportedOperation => "UnsupportedOperationException",
            ErrorKind::InvalidMarker => "InvalidMarkerException",
            ErrorKind::InvalidKeyUsage => "InvalidKeyUsageException",
            ErrorKind::DryRunOperation => "DryRunOperationException",
            ErrorKind::NotAuthorized => "NotAuthorizedException",
            ErrorKind::MissingAuthenticationToken => "MissingAuthenticationTokenException",
            ErrorKind::UnrecognizedClient => "UnrecognizedClientException",
            ErrorKind::InvalidSignature => "InvalidSignatureException",
            ErrorKind::UnknownOperation => "UnknownOperationException",
            ErrorKind::Serialization => "SerializationException",
            ErrorKind::RequestTooLarge => "RequestEntityTooLargeException",
            ErrorKind::Unavailable => "ServiceUnavailable",
            ErrorKind::Internal => "KMSInternalException",
            ErrorKind::Throttling => "ThrottlingException",
            ErrorKind::MalformedPolicyDocument => "MalformedPolicyDocumentException",
            ErrorKind::InvalidGrantId => "InvalidGrantIdException",
            ErrorKind::InvalidGrantToken => "InvalidGrantTokenException",
            ErrorKind::NoSuchEntity => "NoSuchEntityException",
            ErrorKind::DeleteConflict => "DeleteConflictException",
            ErrorKind::KmsInvalidSignature => "KMSInvalidSignatureException",
            ErrorKind::KmsInvalidMac => "KMSInvalidMacException",
            ErrorKind::Conflict => "ConflictException",
            ErrorKind::ExpiredImportToken => "ExpiredImportTokenException",
            ErrorKind::InvalidImportToken => "InvalidImportTokenException",
            ErrorKind::IncorrectKeyMaterial => "IncorrectKeyMaterialException",
            ErrorKind::InvalidNextToken => "InvalidNextTokenException",
        }
    }

    /// The HTTP status AWS answers with: 400 for anything the caller can fix, 5xx only for
    /// internal or dependency failures.
    pub fn http_status(self) -> u16 {
        match self {
            ErrorKind::Unavailable => 503,
            ErrorKind::Internal => 500,
            ErrorKind::MissingAuthenticationToken => 403,
            ErrorKind::RequestTooLarge => 413,
            ErrorKind::NoSuchEntity => 404,
            ErrorKind::DeleteConflict => 409,
            _ => 400,
        }
    }
}

/// An error with its kind and a message for the caller. Messages name the offending field and
/// never carry secrets. Every message comes from [`CATALOG`]; an empty message is sent as no
/// `message` member at all, as AWS does (`InvalidCiphertextException`).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize, thiserror::Error)]
#[error("{}: {message}", kind.aws_code())]
pub struct Error {
    pub kind: ErrorKind,
    pub message: String,
}

/// The constraint a required member breaks when it is absent.
pub const NOT_NULL: &str = "Member must not be null";

/// How AWS shows a member's value in a validation message: quoted, `null` (absent), or not
/// at all (sensitive members).
#[derive(Debug, Clone, Copy)]
pub enum Shown<'a> {
    Quoted(&'a str),
    Null,
    Hidden,
}

/// One detail of a `ValidationException`, in AWS's words: `Value '<v>' at '<field>' failed
/// to satisfy constraint: <constraint>` (the one place this wording is written).
pub fn constraint_detail(
    shown: Shown<'_>,
    field: &str,
    constraint: impl std::fmt::Display,
) -> String {
    let value = match shown {
        Shown::Quoted(v) => format!("Value '{v}' at"),
        Shown::Null => "Value null at".to_owned(),
        Shown::Hidden => "Value at".to_owned(),
    };
    format!("{value} '{field}' failed to satisfy constraint: {constraint}")
}

/// One row of [`CATALOG`]: a message trent can send, its kind (so its AWS code and HTTP
/// status) and its template.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Entry {
    pub name: &'static str,
    pub kind: ErrorKind,
    pub template: &'static str,
}

/// Declares every message trent sends, once: a constructor on [`Error`] per row and the row
/// in [`CATALOG`].
macro_rules! catalog {
    ($($(#[$doc:meta])* $name:ident($($arg:ident),*) => $kind:ident, $template:literal;)*) => {
        impl Error {
            $(
                $(#[$doc])*
                pub fn $name($($arg: impl std::fmt::Display),*) -> Error {
                    Error::new(ErrorKind::$kind, format!($template $(, $arg = $arg)*))
                }
            )*
        }

        /// Every message trent can send: name, kind (AWS code, HTTP status) and template.
        pub const CATALOG: &[Entry] = &[
            $(Entry { name: stringify!($name), kind: ErrorKind::$kind, template: $template },)*
        ];
    };
}

catalog! {
    // Keys and aliases, as AWS words them (docs/ARCHITECTURE.md, AWS fidelity).
    /// A well-formed key id or ARN that names no key of the account: always the key ARN.
    key_not_found(arn) => NotFound, "Key '{arn}' does not exist";
    /// A key id that is not one (not a UUID, not `mrk-` and 32 hex digits).
    invalid_key_id(id) => NotFound, "Invalid keyId '{id}'";
    /// An alias that names no key: always the alias ARN.
    alias_not_found(arn) => NotFound, "Alias {arn} is not found.";
    /// A key ARN of another region.
    arn_of_region(region) => NotFound, "Invalid arn {region}";
    invalid_arn(arn) => InvalidArn, "Invalid arn {arn}";
    alias_exists(arn) => AlreadyExists, "An alias with the name {arn} already exists";
    alias_prefix() => Validation, "Alias must start with the prefix \"alias/\". Please see https://docs.aws.amazon.com/kms/latest/developerguide/kms-alias.html";
    alias_characters(name) => Validation, "{name} contains invalid characters for an alias";
    /// `alias/aws/...`: AWS answers with no message.
    alias_reserved() => NotAuthorized, "";
    alias_to_alias() => Validation, "Aliases must refer to keys. Not aliases";
    key_disabled(arn) => Disabled, "{arn} is disabled.";
    /// A key whose state forbids the operation: `<arn> is pending deletion.`
    key_state(arn, state) => InvalidState, "{arn} is {state}.";
    key_not_pending_deletion(arn) => InvalidState, "{arn} is not pending deletion.";
    invalid_key_usage(arn, usage, operation) => InvalidKeyUsage, "{arn} key usage is {usage} which is not valid for {operation}.";
    /// An encryption algorithm the key's spec does not support.
    algorithm_for_spec(algorithm, spec) => InvalidKeyUsage, "Algorithm {algorithm} is incompatible with key spec {spec}.";
    /// Decrypt of a ciphertext whose key is gone: AWS's words, which tell nothing of why.
    ciphertext_key_unknown() => AccessDenied, "The ciphertext refers to a customer master key that does not exist, does not exist in this region, or you are not allowed to access.";
    // Key types (issue 23).
    /// A key spec AWS offers only in its China regions.
    key_spec_china_only(spec) => UnsupportedOperation, "KeySpec {spec} is available only in the AWS China Regions; trent does not offer it.";
    /// A DIGEST (or EXTERNAL_MU) message whose length is not the algorithm's.
    digest_length(algorithm) => Validation, "Digest is invalid length for algorithm {algorithm}.";
    /// A message type the signing algorithm does not take.
    message_type_for_algorithm(message_type, algorithm) => InvalidKeyUsage, "MessageType {message_type} is not supported with signing algorithm {algorithm}.";
    /// Decrypt of an RSA ciphertext without the key named (it carries no header).
    key_id_for_asymmetric() => Validation, "KeyId is required to decrypt with an asymmetric KMS key.";
    /// An encryption context with an RSA key (OAEP has no additional data to bind it to).
    context_for_asymmetric() => Validation, "EncryptionContext is not supported with asymmetric KMS keys.";
    /// A signature that does not verify: AWS says nothing more.
    invalid_signature() => KmsInvalidSignature, "";
    /// A MAC that does not verify: AWS says nothing more.
    invalid_mac() => KmsInvalidMac, "";
    /// An RSA plaintext longer than OAEP takes under the key.
    rsa_plaintext_too_long(algorithm, spec, max) => Validation, "Plaintext is too long for {algorithm} with a {spec} key: at most {max} bytes.";
    /// DeriveSharedSecret with a public key that is not one of the key's curve.
    public_key_for_curve(spec) => Validation, "PublicKey must be a DER-encoded X.509 SubjectPublicKeyInfo of a {spec} public key.";
    // Rotation (issue 24).
    /// A key that cannot rotate (asymmetric, HMAC): AWS answers RotateKeyOnDemand on an RSA
    /// key with no message.
    rotation_unsupported() => UnsupportedOperation, "";
    /// The 26th on-demand rotation of a key.
    rotation_limit(arn) => LimitExceeded, "The on-demand rotations limit has been reached for the given keyId. No more on-demand rotations can be performed for this key: {arn}";
    /// RotateKeyOnDemand of an EXTERNAL key with no imported material waiting to become current.
    no_pending_rotation(arn) => InvalidState, "No available key material pending rotation for the key: {arn}.";
    /// Two rotations of one key raced; the later one was not applied.
    rotation_conflict(arn) => Conflict, "Another rotation of {arn} is in progress; try again.";
    // Imported key material (issue 24). AWS's recorded words where there are recordings
    // (origin, validTo); elsewhere the exception's documented sense, in trent's words.
    /// An operation for EXTERNAL keys on a key of another origin, or the reverse.
    origin_not_valid(arn, origin) => UnsupportedOperation, "{arn} origin is {origin} which is not valid for this operation.";
    import_valid_to_required() => Validation, "A validTo date must be set if the ExpirationModel is KEY_MATERIAL_EXPIRES";
    import_valid_to_forbidden() => Validation, "A validTo date must not be set if the ExpirationModel is KEY_MATERIAL_DOES_NOT_EXPIRE";
    import_valid_to_range(now) => Validation, "ValidTo must be in the future and at most 365 days after now ({now})";
    import_spec(spec) => UnsupportedOperation, "Key material of KeySpec {spec} cannot be imported.";
    import_wrapping(what) => UnsupportedOperation, "{what} is not supported for importing key material";
    /// RSA private keys are too long for RSA-OAEP alone.
    import_rsa_needs_aes_wrap() => Validation, "RSA key material must be wrapped with RSA_AES_KEY_WRAP_SHA_1 or RSA_AES_KEY_WRAP_SHA_256.";
    import_type_for_spec(spec) => Validation, "ImportType is only valid for SYMMETRIC_DEFAULT keys, not {spec}";
    /// NEW_KEY_MATERIAL while other new material waits for its rotation (AWS's wording is
    /// not recorded: trent's own).
    import_pending_exists(arn) => InvalidState, "Key material pending rotation already exists for {arn}: make it current with RotateKeyOnDemand, or delete it with DeleteImportedKeyMaterial, before importing other new key material.";
    /// NEW_KEY_MATERIAL bringing material the key already has (trent's wording).
    import_material_associated() => IncorrectKeyMaterial, "This key material is already associated with the KMS key: reimport it with ImportType EXISTING_KEY_MATERIAL.";
    /// A KeyMaterialId with NEW_KEY_MATERIAL (the model: "You cannot specify a key material ID
    /// with ImportType set to NEW_KEY_MATERIAL").
    import_material_id_with_new() => Validation, "KeyMaterialId cannot be specified when ImportType is NEW_KEY_MATERIAL.";
    import_token_invalid() => InvalidImportToken, "The import token is invalid or is associated with a different KMS key.";
    import_token_used() => InvalidImportToken, "The import token was already used. Use GetParametersForImport to get a new import token and public key.";
    import_token_expired() => ExpiredImportToken, "The import token is expired. Use GetParametersForImport to get a new import token and public key, use the new public key to encrypt the key material, and then try the request again.";
    import_unwrap() => InvalidCiphertext, "The encrypted key material could not be decrypted with the wrapping key and wrapping algorithm of this import token.";
    incorrect_key_material(why) => IncorrectKeyMaterial, "{why}";
    import_different_material() => IncorrectKeyMaterial, "The key material is not the key material previously imported into this KMS key.";
    import_material_id(id) => IncorrectKeyMaterial, "KeyMaterialId {id} does not identify key material of this KMS key.";
    incorrect_key() => IncorrectKey, "The key ID in the request does not identify a CMK that can perform this operation.";
    /// AWS says nothing more, so as not to help an attacker.
    invalid_ciphertext() => InvalidCiphertext, "";
    dry_run() => DryRunOperation, "The request would have succeeded, but the DryRun option is set.";
    invalid_marker() => InvalidMarker, "";
    invalid_next_token() => InvalidNextToken, "Invalid NextToken";
    too_many_tags() => Tag, "Too many tags";
    duplicate_tag_keys() => Tag, "Duplicate tag keys";
    reserved_tag() => Tag, "Tags beginning with aws: are reserved";
    number_of_bytes_required() => Validation, "NumberOfBytes is required.";
    key_spec_or_bytes() => Validation, "Please specify either number of bytes or key spec.";
    key_spec_and_bytes() => Validation, "Please specify either number of bytes or key spec, but not both.";
    pending_window(days) => Validation, "1 validation error detected: Value '{days}' at 'pendingWindowInDays' failed to satisfy constraint: Member must have minimum value of 7 and maximum value of 30.";
    key_usage_for_spec(usage, spec) => Validation, "KeyUsage {usage} is not compatible with KeySpec {spec}";
    both_key_specs() => Validation, "You cannot specify KeySpec and CustomerMasterKeySpec in the same request. CustomerMasterKeySpec is deprecated.";
    limit_exceeded(what) => LimitExceeded, "{what}";
    throttled() => Throttling, "Rate exceeded";

    // What trent does not do (yet), in its own words.
    unsupported(what) => UnsupportedOperation, "{what} is not supported";
    hsm_refuses(why) => UnsupportedOperation, "{why}";
    unsupported_operation(operation) => UnsupportedOperation, "{operation} is not supported by this KMS";

    // The request's form (docs/ARCHITECTURE.md, AWS fidelity).
    /// `n validation errors detected: ...`: [`Error::validation_errors`] builds it.
    validation_detected(count, plural, details) => Validation, "{count} validation error{plural} detected: {details}";
    /// A member the operation's input does not have (AWS would ignore it).
    unknown_member(name) => Validation, "'{name}' is not a member of this operation's input";
    serialization(what) => Serialization, "{what}";
    not_a_json_object() => Serialization, "Start of structure or map expected: the request body must be one JSON object";
    /// An `X-Amz-Target` that names no operation of the endpoint.
    unknown_operation(target) => UnknownOperation, "{target} is not an operation of this endpoint";
    missing_target() => UnknownOperation, "X-Amz-Target is missing: name the operation as TrentService.<Operation>";
    not_post(method, path) => UnknownOperation, "{method} {path}: the API takes POST / with an X-Amz-Target header";
    content_type(expected, got) => Serialization, "Content-Type must be {expected}, not '{got}'";
    too_large(limit) => RequestTooLarge, "Request body is larger than {limit} bytes";
    body_unreadable() => Serialization, "The request body could not be read to its end";

    // Authentication, as AWS words it.
    missing_token() => MissingAuthenticationToken, "Missing Authentication Token";
    authorization_incomplete(why) => InvalidSignature, "Authorization header is incomplete: {why}";
    unrecognized_client() => UnrecognizedClient, "The security token included in the request is invalid.";
    signature_mismatch() => InvalidSignature, "The request signature we calculated does not match the signature you provided. Check your AWS Secret Access Key and signing method. Consult the service documentation for details.";
    signature_expired(time, limit, now) => InvalidSignature, "Signature expired: {time} is now earlier than {limit} ({now} - 5 min.)";
    signature_not_yet_current(time, limit, now) => InvalidSignature, "Signature not yet current: {time} is still later than {limit} ({now} + 5 min.)";
    signature_invalid(why) => InvalidSignature, "{why}";
    /// The AWS authorization failure, with the caller, action and resource.
    not_authorized(user, action, resource, reason) => AccessDenied, "User: {user} is not authorized to perform: {action} on resource: {resource} {reason}";

    // Key and identity policies (crates/policy). AWS's words where they are recorded: KMS's for
    // principals and the lockout check, IAM's for actions, resources and Sids; elsewhere
    // trent's own, naming the element and the statement (`statement 2 ("Sid")`).
    policy_invalid_principals() => MalformedPolicyDocument, "Policy contains a statement with one or more invalid principals.";
    policy_no_principal() => MalformedPolicyDocument, "Policy contains a statement with no principal.";
    /// The lockout safety check: the new key policy would not let the caller put a policy again.
    policy_lockout() => MalformedPolicyDocument, "The new key policy will not allow you to update the key policy in the future.";
    /// A `Principal` in an identity (user) policy.
    policy_principal_in_identity() => MalformedPolicyDocument, "Policy document should not specify a principal.";
    policy_sids_unique() => MalformedPolicyDocument, "Statement IDs (SID) in a single policy must be unique.";
    policy_no_actions() => MalformedPolicyDocument, "Policy statement must contain actions.";
    policy_no_resources() => MalformedPolicyDocument, "Policy statement must contain resources.";
    policy_no_vendor() => MalformedPolicyDocument, "Actions/Conditions must be prefaced by a vendor, e.g., iam, sdb, ec2, etc.";
    policy_colons() => MalformedPolicyDocument, "Actions/Condition can contain only one colon.";
    policy_vendor(vendor) => MalformedPolicyDocument, "Vendor {vendor} is not valid";
    policy_resource_format(resource) => MalformedPolicyDocument, "Resource {resource} must be in ARN format or \"*\".";
    /// AWS documents `LimitExceededException` for a key policy over 32768 bytes.
    policy_too_large(size, limit) => LimitExceeded, "The policy document is {size} bytes, over the limit of {limit} bytes";
    policy_character(offset) => MalformedPolicyDocument, "The policy document has a character outside tab, line feed, carriage return and U+0020 to U+00FF at byte {offset}";
    policy_json(why) => MalformedPolicyDocument, "The policy document is not a JSON object: {why}";
    policy_version(version) => MalformedPolicyDocument, "Version {version} is not a policy language version: use 2012-10-17 (or 2008-10-17)";
    policy_missing(element, place) => MalformedPolicyDocument, "{element} is missing from {place}";
    policy_empty(element, place) => MalformedPolicyDocument, "{element} in {place} is empty";
    policy_duplicate(element, place) => MalformedPolicyDocument, "{element} appears twice in {place}";
    policy_unknown_element(element, place) => MalformedPolicyDocument, "{element} is not an element of {place}";
    policy_element_type(element, place, expected) => MalformedPolicyDocument, "{element} in {place} must be {expected}";
    policy_exclusive(first, second, place) => MalformedPolicyDocument, "Give only one of {first} and {second} in {place}";
    policy_effect(effect, place) => MalformedPolicyDocument, "Effect '{effect}' in {place} must be Allow or Deny";
    policy_not_principal_allow(place) => MalformedPolicyDocument, "NotPrincipal in {place} can only be used with \"Effect\": \"Deny\"";
    policy_condition_operator(operator, place) => MalformedPolicyDocument, "{operator} in {place} is not a condition operator";
    policy_condition_value(operator, place, key, value, expected) => MalformedPolicyDocument, "{operator} in {place} cannot compare {key} with '{value}': it is not {expected}";

    // Key policies as operations take them (PutKeyPolicy, GetKeyPolicy, CreateKey's Policy).
    /// A `PolicyName` other than `default` (AWS's only key policy name).
    policy_name_not_found(name) => NotFound, "No such policy exists: {name}";

    // Grants (CreateGrant, ListGrants, RetireGrant, RevokeGrant, grant tokens). AWS does not
    // record these texts where trent could read them: the wording is trent's
    // (docs/ARCHITECTURE.md, Grants).
    grant_not_found(grant_id) => NotFound, "Grant ID {grant_id} not found";
    grant_id_invalid(grant_id) => InvalidGrantId, "Invalid grant ID {grant_id}";
    grant_token_invalid() => InvalidGrantToken, "Invalid grant token";
    grant_retire_target() => Validation, "Give either GrantToken, or KeyId and GrantId";
    grant_principal(field, value) => Validation, "{field} '{value}' is not a valid principal: give an account id, an account root ARN or an IAM user or role ARN";
    grant_constraints_operations(operations) => Validation, "Grant constraints apply only to operations that take an encryption context; {operations} take none";
    grant_operations_for_usage(operations, usage) => Validation, "{operations} cannot be granted on a key with KeyUsage {usage}";
    grant_limit(arn, limit) => LimitExceeded, "Key {arn} already has {limit} grants";
    // User (identity) policies in the admin target, in IAM's words (PutUserPolicy,
    // GetUserPolicy, DeleteUserPolicy, ListUserPolicies, DeleteUser).
    no_such_user(name) => NoSuchEntity, "The user with name {name} cannot be found.";
    no_such_user_policy(name) => NoSuchEntity, "The user policy with name {name} cannot be found.";
    /// DeleteUser of a user that still has inline policies.
    user_has_policies() => DeleteConflict, "Cannot delete entity, must delete policies first.";
    /// IAM's quota on the aggregate size of one user's inline policies.
    user_policy_size(limit, user) => LimitExceeded, "Maximum policy size of {limit} bytes exceeded for user {user}";

    // The cluster and trent's own admin API.
    unavailable(why) => Unavailable, "{why}";
    internal(why) => Internal, "{why}";
    admin_invalid(why) => Validation, "{why}";
    admin_input(operation, why) => Serialization, "{operation}: {why}";
    admin_not_found(what) => NotFound, "{what} does not exist";
    admin_exists(what) => AlreadyExists, "{what} already exists";
    admin_state(why) => InvalidState, "{why}";
    admin_denied(user, what) => AccessDenied, "User: {user} is not authorized to {what}";
    /// A session token: trent has no temporary credentials.
    session_token() => UnrecognizedClient, "The security token included in the request is invalid: temporary credentials (session tokens) are not supported";
    backup_domain_key(cluster, theirs, ours) => IncorrectKey, "the backup of cluster '{cluster}' was made under another domain key (fingerprint {theirs}, this cluster's is {ours}); its key material cannot be used here. Start this cluster with the domain key of the backup's cluster";
}

impl Error {
    pub fn new(kind: ErrorKind, message: impl Into<String>) -> Self {
        Error {
            kind,
            message: message.into(),
        }
    }
    /// The one `ValidationException` of a request whose members broke `details` (each
    /// `Value '...' at '...' failed to satisfy constraint: ...`), in AWS's order.
    pub fn validation_errors(details: &[String]) -> Self {
        let plural = if details.len() == 1 { "" } else { "s" };
        Error::validation_detected(details.len(), plural, details.join("; "))
    }
    /// A `ValidationException` of one member: `field` (AWS's lowerCamel path), the value as
    /// AWS shows it (`None`: not shown) and the constraint it broke.
    pub fn validation(
        field: &str,
        value: Option<&str>,
        constraint: impl std::fmt::Display,
    ) -> Self {
        let shown = match value {
            Some(v) => Shown::Quoted(v),
            None => Shown::Hidden,
        };
        Error::validation_errors(&[constraint_detail(shown, field, constraint)])
    }
    /// A `ValidationException` of one member whose value is not shown.
    pub fn invalid_member(field: &str, constraint: impl std::fmt::Display) -> Self {
        Error::validation(field, None, constraint)
    }
    /// A required member that is absent.
    pub fn required(field: &str) -> Self {
        Error::validation_errors(&[constraint_detail(Shown::Null, field, NOT_NULL)])
    }
    pub fn aws_code(&self) -> &'static str {
        self.kind.aws_code()
    }
    pub fn http_status(&self) -> u16 {
        self.kind.http_status()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn client_errors_are_400_and_failures_5xx() {
        assert_eq!(Error::key_not_found("x").http_status(), 400);
        assert_eq!(Error::unavailable("x").http_status(), 503);
        assert_eq!(Error::internal("x").http_status(), 500);
        assert_eq!(Error::policy_lockout().http_status(), 400);
        assert_eq!(
            Error::policy_lockout().aws_code(),
            "MalformedPolicyDocumentException"
        );
    }

    #[test]
    fn every_code_maps_back_to_its_kind() {
        for kind in ErrorKind::ALL {
            assert_eq!(ErrorKind::from_aws_code(kind.aws_code()), Some(kind));
        }
        assert_eq!(ErrorKind::from_aws_code("NoSuchException"), None);
    }

    #[test]
    fn validation_messages_are_aws_words() {
        let e = Error::validation(
            "numberOfBytes",
            Some("0"),
            "Member must have value greater than or equal to 1",
        );
        assert_eq!(e.aws_code(), "ValidationException");
        assert_eq!(
            e.message,
            "1 validation error detected: Value '0' at 'numberOfBytes' failed to satisfy \
             constraint: Member must have value greater than or equal to 1"
        );
        let two = Error::validation_errors(&["A".into(), "B".into()]);
        assert_eq!(two.message, "2 validation errors detected: A; B");
        assert_eq!(
            Error::required("keyId").message,
            "1 validation error detected: Value null at 'keyId' failed to satisfy constraint: \
             Member must not be null"
        );
    }

    #[test]
    fn the_catalog_names_each_message_once() {
        let mut names: Vec<_> = CATALOG.iter().map(|e| e.name).collect();
        let mut templates: Vec<_> = CATALOG
            .iter()
            .map(|e| e.template)
            .filter(|t| !t.is_empty() && !t.starts_with('{'))
            .collect();
        let (n, t) = (names.len(), templates.len());
        names.sort();
        names.dedup();
        templates.sort();
        templates.dedup();
        assert_eq!(
            (names.len(), templates.len()),
            (n, t),
            "a message is written twice"
        );
        assert_eq!(Error::key_disabled("arn:x").message, "arn:x is disabled.");
        assert_eq!(Error::invalid_ciphertext().message, "");
    }
}
