//! The soft backend's unwrapped keys, kept ready: each key version's material, once
//! unwrapped, as the ciphers (or the loaded asymmetric key) it is used through, in a bounded
//! LRU keyed by key id and version.
//!
//! Guarantees: a cached key is served only for the very wrapped blob it was unwrapped from
//! (another blob under the same id and version is unwrapped afresh); an evicted, forgotten or
//! dropped entry zeroizes its key schedule (the `aes` and `ghash` crates' `zeroize`
//! features), and so does every per-ciphertext cipher after its one use.

use std::num::NonZeroUsize;
use std::sync::{Arc, Mutex};

use aes::Aes256;
use aes_gcm::Aes256Gcm;
use lru::LruCache;
use trent_model::KeyId;

use crate::asymmetric::Loaded;
use crate::derive::derived_cipher;
use crate::{HsmError, MaterialRef, Salt};

/// An unwrapped key, ready to use, with the wrapped blob it came from (so a different blob
/// under the same id and version is never served from the cache).
pub(crate) struct Ready {
    wrapped: Vec<u8>,
    key: ReadyKey,
}

/// Made once per key version and shared behind an `Arc`: sizes are left unequal.
#[allow(clippy::large_enum_variant)]
pub(crate) enum ReadyKey {
    Symmetric {
        /// The material as a block cipher, to derive per-ciphertext keys.
        kdf: Aes256,
        /// The material as an AEAD: only to open format-1 blobs, sealed under it directly.
        direct: Aes256Gcm,
    },
    /// Any other spec's key.
    Other(Loaded),
}

impl Ready {
    pub(crate) fn cipher(&self, salt: Option<&Salt>) -> Result<Cipher<'_>, HsmError> {
        let ReadyKey::Symmetric { kdf, direct } = &self.key else {
            return Err(HsmError::Algorithm("SYMMETRIC_DEFAULT"));
        };
        Ok(match salt {
            Some(salt) => Cipher::Derived(Box::new(derived_cipher(kdf, salt))),
            None => Cipher::Direct(direct),
        })
    }

    pub(crate) fn loaded(&self) -> Result<&Loaded, HsmError> {
        match &self.key {
            ReadyKey::Other(loaded) => Ok(loaded),
            ReadyKey::Symmetric { .. } => Err(HsmError::Spec("SYMMETRIC_DEFAULT")),
        }
    }
}

/// The cipher one message is sealed or opened with.
pub(crate) enum Cipher<'a> {
    Derived(Box<Aes256Gcm>),
    Direct(&'a Aes256Gcm),
}

impl std::ops::Deref for Cipher<'_> {
    type Target = Aes256Gcm;
    fn deref(&self) -> &Aes256Gcm {
        match self {
            Cipher::Derived(cipher) => cipher,
            Cipher::Direct(cipher) => cipher,
        }
    }
}

/// Unwrapped keys by (key id, version), least recently used evicted first.
pub(crate) struct ReadyCache {
    keys: Mutex<LruCache<(KeyId, u32), Arc<Ready>>>,
}

impl ReadyCache {
    pub(crate) fn new(capacity: NonZeroUsize) -> ReadyCache {
        ReadyCache {
            keys: Mutex::new(LruCache::new(capacity)),
        }
    }

    /// `key` ready, from the cache if it holds `key`'s very blob, else made by `load` (which
    /// unwraps it) and cached.
    pub(crate) fn get_or_load(
        &self,
        key: MaterialRef<'_>,
        load: impl FnOnce() -> Result<ReadyKey, HsmError>,
    ) -> Result<Arc<Ready>, HsmError> {
        let slot = (key.key_id, key.version);
        if let Some(ready) = self.keys.lock().expect("cache lock").get(&slot) {
            if ready.wrapped == key.wrapped {
                return Ok(ready.clone());
            }
        }
        let ready = Arc::new(Ready {
            wrapped: key.wrapped.to_vec(),
            key: load()?,
        });
        self.keys
            .lock()
            .expect("cache lock")
            .put(slot, ready.clone());
        Ok(ready)
    }

    /// Drops every version of `key_id`.
    pub(crate) fn forget(&self, key_id: KeyId) {
        let mut keys = self.keys.lock().expect("cache lock");
        drop(crate::pop_versions(&mut keys, key_id));
    }

    /// Whether key id and version `slot` is cached, without touching its recency (tests).
    #[cfg(test)]
    pub(crate) fn holds(&self, slot: (KeyId, u32)) -> bool {
        self.keys.lock().expect("cache lock").peek(&slot).is_some()
    }

    pub(crate) fn len(&self) -> usize {
        self.keys.lock().expect("cache lock").len()
    }
}
