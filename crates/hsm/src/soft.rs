//! The in-process ("soft") HSM: AES-256-GCM in this process's memory, the domain key from
//! [`DomainKey`]. Unwrapped keys are cached as ready ciphers in a bounded LRU; an evicted,
//! forgotten or dropped cipher zeroizes its key schedule (the `aes` and `ghash` crates'
//! `zeroize` features), and so does every per-ciphertext key after its one use.

use std::num::NonZeroUsize;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};

use aes::Aes256;
use aes_gcm::aead::{Aead, AeadInPlace, KeyInit, Payload};
use aes_gcm::{Aes256Gcm, Key, Nonce};
use hmac::{Hmac, KeyInit as _, Mac};
use lru::LruCache;
use rand::RngCore;
use sha2::Sha256;
use trent_model::{
    EncryptionAlgorithm, KeyId, KeySpec, MacAlgorithm, MessageType, Millis, SigningAlgorithm,
    WrappingAlgorithm, WrappingKeySpec,
};
use zeroize::{Zeroize, Zeroizing};

use crate::asymmetric::{self, Loaded};
use crate::derive::{derived_cipher, kdf_cipher};
use crate::import::{self, ImportParameters, ImportTokenFacts, ImportedMaterial};
use crate::{
    DataKeyPair, DomainKey, Hsm, HsmError, MaterialRef, Plaintext, Salt, Sealed, NONCE_LEN,
};

/// Unwrapped keys kept ready by default.
pub const DEFAULT_CACHE_ENTRIES: usize = 10_000;

/// Format byte of a wrapped symmetric key: `[1][nonce 12][sealed key 32 + tag 16]`.
const WRAP_FORMAT: u8 = 1;
/// Format byte of a wrapped key of any other spec: `[2][nonce 12][sealed secret + tag 16]`,
/// the spec bound into the additional data with the key id and version.
const WRAP_FORMAT_2: u8 = 2;
const MATERIAL_AAD_2: &[u8] = b"trent/material/v2";
const TAG_LEN: usize = 16;
const WRAPPED_LEN: usize = 1 + NONCE_LEN + 32 + TAG_LEN;
const MATERIAL_AAD: &[u8] = b"trent/material/v1";
const SECRET_AAD: &[u8] = b"trent/secret/v1";
const FINGERPRINT_LABEL: &[u8] = b"trent/domain-key-fingerprint/v1";
const MAC_KEY_LABEL: &[u8] = b"trent/mac-key/v1";

/// An unwrapped key, ready to use, with the wrapped blob it came from (so a different blob
/// under the same id and version is never served from the cache).
struct Ready {
    wrapped: Vec<u8>,
    key: ReadyKey,
}

/// Made once per key version and shared behind an `Arc`: sizes are left unequal.
#[allow(clippy::large_enum_variant)]
enum ReadyKey {
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
    fn cipher(&self, salt: Option<&Salt>) -> Result<Cipher<'_>, HsmError> {
        let ReadyKey::Symmetric { kdf, direct } = &self.key else {
            return Err(HsmError::Algorithm("SYMMETRIC_DEFAULT"));
        };
        Ok(match salt {
            Some(salt) => Cipher::Derived(Box::new(derived_cipher(kdf, salt))),
            None => Cipher::Direct(direct),
        })
    }

    fn loaded(&self) -> Result<&Loaded, HsmError> {
        match &self.key {
            ReadyKey::Other(loaded) => Ok(loaded),
            ReadyKey::Symmetric { .. } => Err(HsmError::Spec("SYMMETRIC_DEFAULT")),
        }
    }
}

/// The cipher one message is sealed or opened with.
enum Cipher<'a> {
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

pub struct SoftHsm {
    domain: Aes256Gcm,
    /// HMAC-SHA256(domain key, FINGERPRINT_LABEL): public by design.
    fingerprint: [u8; 32],
    /// HMAC-SHA256(domain key, MAC_KEY_LABEL): the root of [`Hsm::domain_mac`] keys, so the
    /// domain key itself is used for one thing only (AES-GCM wrapping) after start.
    mac_key: Zeroizing<[u8; 32]>,
    cache: Mutex<LruCache<(KeyId, u32), Arc<Ready>>>,
    /// Data key pairs generated (GenerateDataKeyPair): the costliest work a caller can ask
    /// for, counted so that a test can see a refused call did none.
    pairs_generated: AtomicU64,
    /// The audit signing key, derived on first use (`audit_key.rs`).
    audit: std::sync::OnceLock<crate::audit_key::AuditKey>,
}

impl SoftHsm {
    pub fn new(domain: DomainKey, cache_entries: usize) -> SoftHsm {
        let capacity = NonZeroUsize::new(cache_entries.max(1)).expect("nonzero");
        SoftHsm {
            domain: Aes256Gcm::new(Key::<Aes256Gcm>::from_slice(domain.0.as_ref())),
            fingerprint: hmac_sha256(domain.0.as_ref(), &[FINGERPRINT_LABEL]),
            mac_key: Zeroizing::new(hmac_sha256(domain.0.as_ref(), &[MAC_KEY_LABEL])),
            cache: Mutex::new(LruCache::new(capacity)),
            pairs_generated: AtomicU64::new(0),
            audit: std::sync::OnceLock::new(),
        }
    }

    fn audit_key(&self) -> Result<&crate::audit_key::AuditKey, HsmError> {
        if let Some(key) = self.audit.get() {
            return Ok(key);
        }
        let key = crate::audit_key::AuditKey::derive(|purpose, data| self.mac(purpose, data))?;
        Ok(self.audit.get_or_init(|| key))
    }

    /// HMAC-SHA256 under the MAC key of `len(purpose) | purpose | data` (`domain_mac`).
    fn mac(&self, purpose: &[u8], data: &[u8]) -> [u8; 32] {
        let len = (purpose.len() as u32).to_be_bytes();
        hmac_sha256(self.mac_key.as_ref(), &[&len, purpose, data])
    }

    /// How many data key pairs this HSM has generated.
    pub fn data_key_pairs_generated(&self) -> u64 {
        self.pairs_generated.load(Ordering::Relaxed)
    }

    /// Test hook: the plaintext of a wrapped key, so a test can prove it is nowhere on disk.
    #[cfg(feature = "test-hooks")]
    pub fn reveal_material_for_test(&self, key: MaterialRef<'_>) -> Vec<u8> {
        self.unwrap_material(key).expect("unwraps").to_vec()
    }

    /// The material of `key` (of `spec`) as [`SoftHsm::wrap_material`] took it: what the
    /// migration to PKCS#11 carries into the token (`migrating.rs`). Never leaves the crate.
    pub(crate) fn unwrap_any(
        &self,
        key: MaterialRef<'_>,
        spec: KeySpec,
    ) -> Result<Plaintext, HsmError> {
        match spec {
            KeySpec::SymmetricDefault => self.unwrap_material(key),
            _ => self.unwrap_other(key, spec),
        }
    }

    fn ready(&self, key: MaterialRef<'_>) -> Result<Arc<Ready>, HsmError> {
        let slot = (key.key_id, key.version);
        if let Some(ready) = self.cache.lock().expect("cache lock").get(&slot) {
            if ready.wrapped == key.wrapped {
                return Ok(ready.clone());
            }
        }
        let material = self.unwrap_material(key)?;
        let ready = Arc::new(Ready {
            wrapped: key.wrapped.to_vec(),
            key: ReadyKey::Symmetric {
                kdf: kdf_cipher(material.as_ref()),
                direct: Aes256Gcm::new(Key::<Aes256Gcm>::from_slice(material.as_ref())),
            },
        });
        self.cache
            .lock()
            .expect("cache lock")
            .put(slot, ready.clone());
        Ok(ready)
    }

    /// The loaded key of a spec other than SYMMETRIC_DEFAULT, from the cache or unwrapped.
    fn ready_other(&self, key: MaterialRef<'_>, spec: KeySpec) -> Result<Arc<Ready>, HsmError> {
        let slot = (key.key_id, key.version);
        if let Some(ready) = self.cache.lock().expect("cache lock").get(&slot) {
            if ready.wrapped == key.wrapped {
                return Ok(ready.clone());
            }
        }
        let secret = self.unwrap_other(key, spec)?;
        let ready = Arc::new(Ready {
            wrapped: key.wrapped.to_vec(),
            key: ReadyKey::Other(asymmetric::load(spec, &secret)?),
        });
        self.cache
            .lock()
            .expect("cache lock")
            .put(slot, ready.clone());
        Ok(ready)
    }

    fn with_loaded<T>(
        &self,
        key: MaterialRef<'_>,
        spec: KeySpec,
        f: impl FnOnce(&Loaded) -> Result<T, HsmError>,
    ) -> Result<T, HsmError> {
        let ready = self.ready_other(key, spec)?;
        f(ready.loaded()?)
    }

    pub(crate) fn unwrap_other(
        &self,
        key: MaterialRef<'_>,
        spec: KeySpec,
    ) -> Result<Plaintext, HsmError> {
        let fail = || HsmError::Unwrap {
            key_id: key.key_id,
            version: key.version,
        };
        let w = key.wrapped;
        if w.len() < 1 + NONCE_LEN + TAG_LEN || w[0] != WRAP_FORMAT_2 {
            return Err(fail());
        }
        let aad = material_aad_2(key.key_id, key.version, spec);
        let nonce = Nonce::from_slice(&w[1..1 + NONCE_LEN]);
        let payload = Payload {
            msg: &w[1 + NONCE_LEN..],
            aad: &aad,
        };
        let secret = self.domain.decrypt(nonce, payload).map_err(|_| fail())?;
        Ok(Zeroizing::new(secret))
    }

    fn unwrap_material(&self, key: MaterialRef<'_>) -> Result<Zeroizing<Vec<u8>>, HsmError> {
        let fail = || HsmError::Unwrap {
            key_id: key.key_id,
            version: key.version,
        };
        let w = key.wrapped;
        if w.len() != WRAPPED_LEN || w[0] != WRAP_FORMAT {
            return Err(fail());
        }
        let aad = material_aad(key.key_id, key.version);
        let nonce = Nonce::from_slice(&w[1..1 + NONCE_LEN]);
        let payload = Payload {
            msg: &w[1 + NONCE_LEN..],
            aad: &aad,
        };
        let material = self.domain.decrypt(nonce, payload).map_err(|_| fail())?;
        Ok(Zeroizing::new(material))
    }

    /// Wraps `secret`, serialized as [`asymmetric::generate`] makes it (the 32 bytes of
    /// SYMMETRIC_DEFAULT material), as `key_id` version `version`'s material: format 1 for
    /// symmetric material, format 2 (the spec bound too) for every other spec. Generated and
    /// imported material are wrapped by this one function, so they are indistinguishable.
    pub(crate) fn wrap_material(
        &self,
        key_id: KeyId,
        version: u32,
        spec: KeySpec,
        secret: &[u8],
    ) -> Vec<u8> {
        match spec {
            KeySpec::SymmetricDefault => {
                self.seal_under_domain(secret, &material_aad(key_id, version))
            }
            _ => {
                let aad = material_aad_2(key_id, version, spec);
                self.seal_under_domain_as(WRAP_FORMAT_2, secret, &aad)
            }
        }
    }

    fn seal_under_domain(&self, plaintext: &[u8], aad: &[u8]) -> Vec<u8> {
        self.seal_under_domain_as(WRAP_FORMAT, plaintext, aad)
    }

    fn seal_under_domain_as(&self, format: u8, plaintext: &[u8], aad: &[u8]) -> Vec<u8> {
        let nonce = fresh_nonce();
        let sealed = self
            .domain
            .encrypt(
                Nonce::from_slice(&nonce),
                Payload {
                    msg: plaintext,
                    aad,
                },
            )
            .expect("AES-GCM sealing of a short message cannot fail");
        let mut out = Vec::with_capacity(1 + NONCE_LEN + sealed.len());
        out.push(format);
        out.extend_from_slice(&nonce);
        out.extend_from_slice(&sealed);
        out
    }
}

impl Hsm for SoftHsm {
    fn generate_symmetric(&self, key_id: KeyId, version: u32) -> Result<Vec<u8>, HsmError> {
        let material = self.random(32)?;
        Ok(self.wrap_material(key_id, version, KeySpec::SymmetricDefault, &material))
    }

    fn encrypt(
        &self,
        key: MaterialRef<'_>,
        salt: &Salt,
        plaintext: &[u8],
        aad: &[u8],
    ) -> Result<Sealed, HsmError> {
        let ready = self.ready(key)?;
        let nonce = fresh_nonce();
        let ciphertext = ready
            .cipher(Some(salt))?
            .encrypt(
                Nonce::from_slice(&nonce),
                Payload {
                    msg: plaintext,
                    aad,
                },
            )
            .map_err(|_| HsmError::Authentication)?;
        Ok(Sealed { nonce, ciphertext })
    }

    fn encrypt_append(
        &self,
        key: MaterialRef<'_>,
        salt: &Salt,
        plaintext: &[u8],
        aad: &[u8],
        out: &mut Vec<u8>,
    ) -> Result<(), HsmError> {
        let ready = self.ready(key)?;
        let cipher = ready.cipher(Some(salt))?;
        let nonce = fresh_nonce();
        out.reserve(NONCE_LEN + plaintext.len() + TAG_LEN);
        let given = out.len();
        out.extend_from_slice(&nonce);
        let start = out.len();
        out.extend_from_slice(plaintext);
        // Sealed in place: the plaintext copy in `out` becomes the ciphertext.
        match cipher.encrypt_in_place_detached(Nonce::from_slice(&nonce), aad, &mut out[start..]) {
            Ok(tag) => {
                out.extend_from_slice(&tag);
                Ok(())
            }
            Err(_) => {
                // Leave `out` as it was given: no plaintext copy, no stray nonce.
                out[start..].zeroize();
                out.truncate(given);
                Err(HsmError::Authentication)
            }
        }
    }

    fn decrypt(
        &self,
        key: MaterialRef<'_>,
        salt: Option<&Salt>,
        nonce: &[u8; NONCE_LEN],
        ciphertext: &[u8],
        aad: &[u8],
    ) -> Result<Plaintext, HsmError> {
        let ready = self.ready(key)?;
        let payload = Payload {
            msg: ciphertext,
            aad,
        };
        let plaintext = ready
            .cipher(salt)?
            .decrypt(Nonce::from_slice(nonce), payload)
            .map_err(|_| HsmError::Authentication)?;
        Ok(Zeroizing::new(plaintext))
    }

    fn generate(&self, key_id: KeyId, version: u32, spec: KeySpec) -> Result<Vec<u8>, HsmError> {
        let secret = asymmetric::generate(spec)?;
        Ok(self.wrap_material(key_id, version, spec, &secret))
    }

    fn public_key(&self, key: MaterialRef<'_>, spec: KeySpec) -> Result<Vec<u8>, HsmError> {
        self.with_loaded(key, spec, |k| k.public_key_der(spec))
    }

    fn sign(
        &self,
        key: MaterialRef<'_>,
        spec: KeySpec,
        algorithm: SigningAlgorithm,
        message_type: MessageType,
        message: &[u8],
    ) -> Result<Vec<u8>, HsmError> {
        self.with_loaded(key, spec, |k| k.sign(algorithm, message_type, message))
    }

    fn verify(
        &self,
        key: MaterialRef<'_>,
        spec: KeySpec,
        algorithm: SigningAlgorithm,
        message_type: MessageType,
        message: &[u8],
        signature: &[u8],
    ) -> Result<bool, HsmError> {
        self.with_loaded(key, spec, |k| {
            k.verify(spec, algorithm, message_type, message, signature)
        })
    }

    fn encrypt_asymmetric(
        &self,
        key: MaterialRef<'_>,
        spec: KeySpec,
        algorithm: EncryptionAlgorithm,
        plaintext: &[u8],
    ) -> Result<Vec<u8>, HsmError> {
        self.with_loaded(key, spec, |k| k.oaep_encrypt(algorithm, plaintext))
    }

    fn decrypt_asymmetric(
        &self,
        key: MaterialRef<'_>,
        spec: KeySpec,
        algorithm: EncryptionAlgorithm,
        ciphertext: &[u8],
    ) -> Result<Plaintext, HsmError> {
        self.with_loaded(key, spec, |k| k.oaep_decrypt(algorithm, ciphertext))
    }

    fn generate_mac(
        &self,
        key: MaterialRef<'_>,
        spec: KeySpec,
        algorithm: MacAlgorithm,
        message: &[u8],
    ) -> Result<Vec<u8>, HsmError> {
        self.with_loaded(key, spec, |k| k.mac(algorithm, message))
    }

    fn verify_mac(
        &self,
        key: MaterialRef<'_>,
        spec: KeySpec,
        algorithm: MacAlgorithm,
        message: &[u8],
        mac: &[u8],
    ) -> Result<bool, HsmError> {
        self.with_loaded(key, spec, |k| k.verify_mac(algorithm, message, mac))
    }

    fn derive_shared_secret(
        &self,
        key: MaterialRef<'_>,
        spec: KeySpec,
        peer_public: &[u8],
    ) -> Result<Plaintext, HsmError> {
        self.with_loaded(key, spec, |k| k.agree(spec, peer_public))
    }

    fn encapsulate(
        &self,
        key: MaterialRef<'_>,
        spec: KeySpec,
    ) -> Result<(Vec<u8>, Plaintext), HsmError> {
        self.with_loaded(key, spec, |k| k.encapsulate())
    }

    fn decapsulate(
        &self,
        key: MaterialRef<'_>,
        spec: KeySpec,
        ciphertext: &[u8],
    ) -> Result<Plaintext, HsmError> {
        self.with_loaded(key, spec, |k| k.decapsulate(ciphertext))
    }

    fn import_parameters(
        &self,
        key_id: KeyId,
        algorithm: WrappingAlgorithm,
        wrapping_spec: WrappingKeySpec,
        valid_to: Millis,
    ) -> Result<ImportParameters, HsmError> {
        import::parameters(self, key_id, algorithm, wrapping_spec, valid_to)
    }

    fn read_import_token(&self, token: &[u8]) -> Result<ImportTokenFacts, HsmError> {
        import::read_token(self, token)
    }

    fn import_material(
        &self,
        token: &[u8],
        encrypted: &[u8],
        key_id: KeyId,
        version: u32,
        spec: KeySpec,
    ) -> Result<ImportedMaterial, HsmError> {
        import::material(self, token, encrypted, key_id, version, spec)
    }

    fn generate_data_key_pair(&self, spec: KeySpec) -> Result<DataKeyPair, HsmError> {
        self.pairs_generated.fetch_add(1, Ordering::Relaxed);
        asymmetric::data_key_pair(spec)
    }

    fn salt(&self) -> Result<Salt, HsmError> {
        let mut salt = Salt::default();
        rand::thread_rng().fill_bytes(&mut salt);
        Ok(salt)
    }

    fn forget_key(&self, key_id: KeyId) {
        let mut cache = self.cache.lock().expect("cache lock");
        let versions: Vec<(KeyId, u32)> = cache
            .iter()
            .map(|(slot, _)| *slot)
            .filter(|(id, _)| *id == key_id)
            .collect();
        for slot in versions {
            cache.pop(&slot);
        }
    }

    fn cached_keys(&self) -> usize {
        self.cache.lock().expect("cache lock").len()
    }

    fn random(&self, n: usize) -> Result<Plaintext, HsmError> {
        let mut bytes = Zeroizing::new(vec![0u8; n]);
        rand::rngs::OsRng.fill_bytes(&mut bytes);
        Ok(bytes)
    }

    fn wrap_secret(&self, label: &[u8], secret: &[u8]) -> Result<Vec<u8>, HsmError> {
        Ok(self.seal_under_domain(secret, &secret_aad(label)))
    }

    fn unwrap_secret(&self, label: &[u8], wrapped: &[u8]) -> Result<Plaintext, HsmError> {
        if wrapped.len() < 1 + NONCE_LEN + 16 || wrapped[0] != WRAP_FORMAT {
            return Err(HsmError::UnwrapSecret);
        }
        let aad = secret_aad(label);
        let payload = Payload {
            msg: &wrapped[1 + NONCE_LEN..],
            aad: &aad,
        };
        let nonce = Nonce::from_slice(&wrapped[1..1 + NONCE_LEN]);
        let secret = self
            .domain
            .decrypt(nonce, payload)
            .map_err(|_| HsmError::UnwrapSecret)?;
        Ok(Zeroizing::new(secret))
    }

    fn domain_key_fingerprint(&self) -> [u8; 32] {
        self.fingerprint
    }

    fn domain_mac(&self, purpose: &[u8], data: &[u8]) -> Result<[u8; 32], HsmError> {
        Ok(self.mac(purpose, data))
    }

    fn key_check_value(&self) -> [u8; 32] {
        self.mac(crate::KEY_CHECK_PURPOSE, &[])
    }

    fn audit_public_key(&self) -> Result<Vec<u8>, HsmError> {
        self.audit_key()?.public_key_der()
    }

    fn audit_sign(&self, data: &[u8]) -> Result<Vec<u8>, HsmError> {
        self.audit_key()?.sign(data)
    }

    fn verify_domain_mac(&self, purpose: &[u8], data: &[u8], mac: &[u8]) -> Result<bool, HsmError> {
        let len = (purpose.len() as u32).to_be_bytes();
        let mut check = <Hmac<Sha256>>::new_from_slice(self.mac_key.as_ref()).expect("any key");
        for part in [&len[..], purpose, data] {
            check.update(part);
        }
        Ok(check.verify_slice(mac).is_ok())
    }
}

/// Whether `wrapped` (material or a secret) is in one of this backend's formats, 1 or 2.
pub(crate) fn is_soft_blob(wrapped: &[u8]) -> bool {
    matches!(wrapped.first(), Some(&WRAP_FORMAT) | Some(&WRAP_FORMAT_2))
}

/// HMAC-SHA256 under `key` of the concatenation of `parts`.
fn hmac_sha256(key: &[u8], parts: &[&[u8]]) -> [u8; 32] {
    let mut mac = <Hmac<Sha256>>::new_from_slice(key).expect("HMAC takes keys of any length");
    for part in parts {
        mac.update(part);
    }
    mac.finalize().into_bytes().into()
}

/// A random 96-bit nonce. From the thread's CSPRNG (ChaCha12, seeded and periodically
/// reseeded from the OS): a nonce must never repeat under one key, which a CSPRNG gives as
/// well as the OS does, without a system call per message. Key material and data keys
/// still come straight from the OS ([`Hsm::random`]).
fn fresh_nonce() -> [u8; NONCE_LEN] {
    let mut nonce = [0u8; NONCE_LEN];
    rand::thread_rng().fill_bytes(&mut nonce);
    nonce
}

fn material_aad(key_id: KeyId, version: u32) -> Vec<u8> {
    let mut aad = MATERIAL_AAD.to_vec();
    aad.extend_from_slice(key_id.0.as_bytes());
    aad.extend_from_slice(&version.to_be_bytes());
    aad
}

fn material_aad_2(key_id: KeyId, version: u32, spec: KeySpec) -> Vec<u8> {
    let mut aad = MATERIAL_AAD_2.to_vec();
    aad.extend_from_slice(key_id.0.as_bytes());
    aad.extend_from_slice(&version.to_be_bytes());
    aad.extend_from_slice(spec.as_str().as_bytes());
    aad
}

fn secret_aad(label: &[u8]) -> Vec<u8> {
    let mut aad = SECRET_AAD.to_vec();
    aad.extend_from_slice(&(label.len() as u32).to_be_bytes());
    aad.extend_from_slice(label);
    aad
}

#[cfg(test)]
#[path = "soft_tests.rs"]
mod tests;
