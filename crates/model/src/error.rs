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
}

impl ErrorKind {
    /// Every kind, for lookups by code.
    pub const ALL: [ErrorKind; 26] = [
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
            _ => 400,
        }
    }
}

/// An error with its kind and a message for the caller. Messages name the offending field and
/// never carry secrets.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize, thiserror::Error)]
#[error("{}: {message}", kind.aws_code())]
pub struct Error {
    pub kind: ErrorKind,
    pub message: String,
}

impl Error {
    pub fn new(kind: ErrorKind, message: impl Into<String>) -> Self {
        Error {
            kind,
            message: message.into(),
        }
    }
    pub fn not_found(message: impl Into<String>) -> Self {
        Self::new(ErrorKind::NotFound, message)
    }
    pub fn already_exists(message: impl Into<String>) -> Self {
        Self::new(ErrorKind::AlreadyExists, message)
    }
    pub fn invalid_state(message: impl Into<String>) -> Self {
        Self::new(ErrorKind::InvalidState, message)
    }
    pub fn disabled(message: impl Into<String>) -> Self {
        Self::new(ErrorKind::Disabled, message)
    }
    /// A `ValidationException` naming `field` and the constraint it broke.
    pub fn validation(field: &str, constraint: impl std::fmt::Display) -> Self {
        Self::new(
            ErrorKind::Validation,
            format!("1 validation error detected: Value at '{field}' failed to satisfy constraint: {constraint}"),
        )
    }
    pub fn unavailable(message: impl Into<String>) -> Self {
        Self::new(ErrorKind::Unavailable, message)
    }
    pub fn internal(message: impl Into<String>) -> Self {
        Self::new(ErrorKind::Internal, message)
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
        assert_eq!(Error::not_found("x").http_status(), 400);
        assert_eq!(Error::unavailable("x").http_status(), 503);
        assert_eq!(Error::internal("x").http_status(), 500);
    }

    #[test]
    fn every_code_maps_back_to_its_kind() {
        for kind in ErrorKind::ALL {
            assert_eq!(ErrorKind::from_aws_code(kind.aws_code()), Some(kind));
        }
        assert_eq!(ErrorKind::from_aws_code("NoSuchException"), None);
    }

    #[test]
    fn validation_message_names_the_field() {
        let e = Error::validation(
            "description",
            "Member must have length less than or equal to 8192",
        );
        assert_eq!(e.aws_code(), "ValidationException");
        assert!(e.message.contains("'description'"), "{}", e.message);
    }
}
