//! The parts of the AWS KMS wire protocol that need no I/O, no state and no keys: the
//! operations' request shapes ([`types`], [`Operation`]) and the SigV4 `Authorization` header
//! grammar ([`sigv4`]). They read bytes an unauthenticated client chose, so they are pure,
//! total (an AWS-style error, never a panic) and fuzzed (`fuzz/`, run by `scripts/fuzz`).
//!
//! Below trent-service (which executes operations) and trent-api (which verifies signatures
//! and speaks HTTP); depends on trent-model only.

pub mod aws_model;
mod blob;
mod operation;
pub mod shape_check;
pub mod sigv4;
pub mod types;
pub mod validate;

pub use blob::Blob;
pub use operation::Operation;
