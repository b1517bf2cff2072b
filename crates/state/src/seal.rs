//! What `apply` asks of the node's HSM: whether a backup's seal verifies under the domain key.
//!
//! Checking it in `apply` (the restore commit), not only in the service before it proposes
//! the commit, means no path into the log (a race between the check and the commit, a service
//! bug, a forged proposal) can swap in a backup the domain key did not seal. The answer is a
//! pure function of the bytes and the domain key, which every replica holds the same, so
//! replicas agree as they must.

/// Verifies a seal (an HMAC under a key derived from the domain key) over `data`.
pub trait SealCheck: Send + Sync {
    fn verify_seal(&self, purpose: &[u8], data: &[u8], seal: &[u8]) -> bool;
}

/// For a state without an HSM: no seal verifies, so no restore commits.
pub struct NoSealCheck;

impl SealCheck for NoSealCheck {
    fn verify_seal(&self, _: &[u8], _: &[u8], _: &[u8]) -> bool {
        false
    }
}
