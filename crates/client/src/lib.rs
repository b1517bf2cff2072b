//! A Rust client for trent: a SigV4-signing JSON client for the KMS and admin targets (used
//! by the `trent` CLI, the integration tests and `trent bench`), and the load generator
//! behind `trent bench`.

pub mod backup;
pub mod bench;
mod signed;
pub mod tls;

pub use aws_credential_types::Credentials;
pub use signed::{Client, Prepared, ATTEMPTS};
pub use tls::CaBundle;

#[derive(Debug, thiserror::Error)]
pub enum ClientError {
    /// The request did not get an answer (connection refused, timeout, an untrusted
    /// certificate); the message carries the underlying causes.
    #[error("transport: {}", tls::describe(.0))]
    Transport(#[from] reqwest::Error),
    /// The request could not be signed (bad endpoint or credentials).
    #[error("signing: {0}")]
    Signing(String),
    /// The service answered with an error.
    #[error("{code} ({status}): {message}")]
    Api {
        status: u16,
        code: String,
        message: String,
    },
}

impl ClientError {
    /// The AWS error code, if the service answered.
    pub fn code(&self) -> Option<&str> {
        match self {
            ClientError::Api { code, .. } => Some(code),
            _ => None,
        }
    }
}

/// Static credentials (an access key id and its secret).
pub fn credentials(access_key_id: &str, secret_access_key: &str) -> Credentials {
    Credentials::new(access_key_id, secret_access_key, None, None, "trent")
}
