//! The in-process ("soft") HSM: AES-256-GCM in this process's memory, the domain key from
//! [`DomainKey`]. Key material and secrets are stored wrapped under the domain key
//! (`soft_wrap.rs`); unwrapped keys are cached as ready ciphers in a bounded LRU
//! (`soft_ready.rs`), and an evicted, forgotten or dropped cipher zeroizes its key schedule,
//! as does every per-ciphertext key after its one use.

use std::num::NonZeroUsize;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;

use aes_gcm::aead::{Aead, AeadInPlace, KeyInit, Payload};
use aes_gcm::{Aes256Gcm, Key, Nonce};
use hmac::{Hmac, KeyInit as _, Mac};
use rand::RngCore;
use sha2::Sha256;
use trent_model::{
    EncryptionAlgorithm, KeyId, KeySpec, MacAlgorithm, MessageType, Millis, SigningAlgorithm,
    WrappingAlgorithm, WrappingKeySpec,
};
use zeroize::{Zeroize, Zeroizing};

use crate::asymmetric::{self, Loaded};
use crate::derive::kdf_cipher;
use crate::import::{self, ImportParameters, ImportTokenFacts, ImportedMaterial};
use crate::soft_ready::{Ready, ReadyCache, ReadyKey};
use crate::soft_wrap::{fresh_nonce, DomainWrap, TAG_LEN};
use crate::{
    DataKeyPair, DomainKey, Hsm, HsmError, MaterialRef, Plaintext, Salt, Sealed, NONCE_LEN,
};

/// Unwrapped keys kept ready by default.
pub const DEFAULT_CACHE_ENTRIES: usize = 10_000;

const FINGERPRINT_LABEL: &[u8] = b"trent/domain-key-fingerprint/v1";
const MAC_KEY_LABEL: &[u8] = b"trent/mac-key/v1";

pub struct SoftHsm {
    /// The domain key, used for wrapping only (`soft_wrap.rs`). Generated and imported
    /// material are wrapped by its one `wrap_material`, so they are indistinguishable.
    pub(crate) wrap: DomainWrap,
    /// HMAC-SHA256(domain key, FINGERPRINT_LABEL): public by design.
    fingerprint: [u8; 32],
    /// HMAC-SHA256(domain key, MAC_KEY_LABEL): the root of [`Hsm::domain_mac`] keys, so the
    /// domain key itself is used for one thing only (AES-GCM wrapping) after start.
    mac_key: Zeroizing<[u8; 32]>,
    cache: ReadyCache,
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
            wrap: DomainWrap::new(domain.0.as_ref()),
            fingerprint: hmac_sha256(domain.0.as_ref(), &[FINGERPRINT_LABEL]),
            mac_key: Zeroizing::new(hmac_sha256(domain.0.as_ref(), &[MAC_KEY_LABEL])),
            cache: ReadyCache::new(capacity),
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

    /// The material of `key` (of `spec`) as `DomainWrap::wrap_material` took it: what the
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
        self.cache.get_or_load(key, || {
            let material = self.unwrap_material(key)?;
            Ok(ReadyKey::Symmetric {
                kdf: kdf_cipher(material.as_ref()),
                direct: Aes256Gcm::new(Key::<Aes256Gcm>::from_slice(material.as_ref())),
            })
        })
    }

    /// The loaded key of a spec other than SYMMETRIC_DEFAULT, from the cache or unwrapped.
    fn ready_other(&self, key: MaterialRef<'_>, spec: KeySpec) -> Result<Arc<Ready>, HsmError> {
        self.cache.get_or_load(key, || {
            let secret = self.unwrap_other(key, spec)?;
            Ok(ReadyKey::Other(asymmetric::load(spec, &secret)?))
        })
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
        self.wrap.unwrap_other(key, spec)
    }

    fn unwrap_material(&self, key: MaterialRef<'_>) -> Result<Plaintext, HsmError> {
        self.wrap.unwrap_material(key)
    }
}

impl Hsm for SoftHsm {
    fn generate_symmetric(&self, key_id: KeyId, version: u32) -> Result<Vec<u8>, HsmError> {
        let material = self.random(32)?;
        Ok(self
            .wrap
            .wrap_material(key_id, version, KeySpec::SymmetricDefault, &material))
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
        Ok(self.wrap.wrap_material(key_id, version, spec, &secret))
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
        self.cache.forget(key_id);
    }

    fn cached_keys(&self) -> usize {
        self.cache.len()
    }

    fn random(&self, n: usize) -> Result<Plaintext, HsmError> {
        let mut bytes = Zeroizing::new(vec![0u8; n]);
        rand::rngs::OsRng.fill_bytes(&mut bytes);
        Ok(bytes)
    }

    fn wrap_secret(&self, label: &[u8], secret: &[u8]) -> Result<Vec<u8>, HsmError> {
        Ok(self.wrap.wrap_secret(label, secret))
    }

    fn unwrap_secret(&self, label: &[u8], wrapped: &[u8]) -> Result<Plaintext, HsmError> {
        self.wrap.unwrap_secret(label, wrapped)
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

/// HMAC-SHA256 under `key` of the concatenation of `parts`.
fn hmac_sha256(key: &[u8], parts: &[&[u8]]) -> [u8; 32] {
    let mut mac = <Hmac<Sha256>>::new_from_slice(key).expect("HMAC takes keys of any length");
    for part in parts {
        mac.update(part);
    }
    mac.finalize().into_bytes().into()
}

#[cfg(test)]
#[path = "soft_tests.rs"]
mod tests;
