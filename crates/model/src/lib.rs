//! trent's domain types: identifiers, ARNs, key metadata, aliases, tags and the one error
//! enum every layer reports through.
//!
//! This crate does no I/O and holds no key material. Everything here is plain data that can be
//! replicated, stored and printed; the HSM crate is the only place plaintext keys exist.

mod alias;
mod arn;
mod cluster;
mod error;
mod key;

pub use alias::{AliasName, AliasRecord};
pub use arn::{AccountId, Arn};
pub use cluster::{ClusterStatus, MemberStatus};
pub use error::{Error, ErrorKind};
pub use key::{KeyId, KeyManager, KeyMetadata, KeyRecord, KeySpec, KeyState, KeyUsage, Origin, Tag, WrappedMaterial};

/// Milliseconds since the Unix epoch. Stamped by the Raft leader into every command, so that
/// `apply()` never reads a clock.
pub type Millis = u64;
