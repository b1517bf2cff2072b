//! A bounded LRU of unwrapped material: (key id, version) -> the handles of session objects in
//! the token (the key, and an asymmetric key's public key). trent holds handles only; the
//! material stays in the token.
//!
//! Guarantees: an entry is served only for the same wrapped blob it was unwrapped from; an
//! object is destroyed in the token once it leaves the cache (evicted, forgotten with its key,
//! or the cache dropped) and no operation still uses it (the entry is shared behind an `Arc`
//! and destroys its object when the last holder lets go); eviction never waits for a pooled
//! session (see `Token::destroy`).

use std::num::NonZeroUsize;
use std::sync::{Arc, Mutex};

use cryptoki::object::ObjectHandle;
use lru::LruCache;
use trent_model::{KeyId, KeySpec};

use super::token::Token;

/// An unwrapped key version: the token objects and the blob they came from.
pub(crate) struct Unwrapped {
    pub(crate) wrapped: Vec<u8>,
    /// The secret key (symmetric material, an HMAC key) or the private key.
    pub(crate) handle: ObjectHandle,
    /// An asymmetric key's public key (verify, encrypt).
    pub(crate) public: Option<ObjectHandle>,
    /// The spec of a format-4 key; `None` for SYMMETRIC_DEFAULT material (format 3).
    pub(crate) spec: Option<KeySpec>,
    token: Arc<Token>,
}

impl Unwrapped {
    pub(crate) fn new(wrapped: &[u8], handle: ObjectHandle, token: Arc<Token>) -> Unwrapped {
        Unwrapped {
            wrapped: wrapped.to_vec(),
            handle,
            public: None,
            spec: None,
            token,
        }
    }

    /// A key of `spec` (format 4), with its public key object if it has one.
    pub(crate) fn of_spec(
        wrapped: &[u8],
        spec: KeySpec,
        handle: ObjectHandle,
        public: Option<ObjectHandle>,
        token: Arc<Token>,
    ) -> Unwrapped {
        Unwrapped {
            wrapped: wrapped.to_vec(),
            handle,
            public,
            spec: Some(spec),
            token,
        }
    }
}

impl Drop for Unwrapped {
    fn drop(&mut self) {
        self.token.destroy(self.handle);
        if let Some(public) = self.public {
            self.token.destroy(public);
        }
    }
}

pub(crate) struct HandleCache {
    lru: Mutex<LruCache<(KeyId, u32), Arc<Unwrapped>>>,
}

impl HandleCache {
    pub(crate) fn new(entries: usize) -> HandleCache {
        HandleCache {
            lru: Mutex::new(LruCache::new(
                NonZeroUsize::new(entries.max(1)).expect("nonzero"),
            )),
        }
    }

    /// The entry of `key_id` version `version` if it came from `wrapped`.
    pub(crate) fn get(
        &self,
        key_id: KeyId,
        version: u32,
        wrapped: &[u8],
    ) -> Option<Arc<Unwrapped>> {
        let mut lru = self.lru.lock().expect("cache lock");
        lru.get(&(key_id, version))
            .filter(|entry| entry.wrapped == wrapped)
            .cloned()
    }

    /// Keeps `entry`; whatever it displaces (an older entry of the same slot, or the least
    /// recently used) is dropped after the lock is released.
    pub(crate) fn put(&self, key_id: KeyId, version: u32, entry: Arc<Unwrapped>) {
        let displaced = self
            .lru
            .lock()
            .expect("cache lock")
            .push((key_id, version), entry);
        drop(displaced);
    }

    /// Drops every version of `key_id`.
    pub(crate) fn forget(&self, key_id: KeyId) {
        // Dropped after the lock is released, as in `put`.
        let removed = crate::pop_versions(&mut self.lru.lock().expect("cache lock"), key_id);
        drop(removed);
    }

    pub(crate) fn len(&self) -> usize {
        self.lru.lock().expect("cache lock").len()
    }
}
