//! The PKCS#11 backend as a server runs it: a [`Pkcs11Hsm`] that is dropped when its token
//! fails and opened again when the token returns, so token loss costs a node its readiness,
//! not its process.
//!
//! Guarantees: every operation runs on the token opened last, or fails with
//! [`HsmError::Token`] while there is none (never in software); [`Hsm::health`] is what
//! notices a failure (the token's own check, `Pkcs11Hsm::health`) and what reopens: only
//! once the last operation on the failed token has ended and the module is finalized, then
//! with its settings read again (the PIN file may have changed), backing off from one second
//! to a minute between attempts. A PIN the token refused is not tried again until the PIN
//! file holds another, since tokens lock a PIN after a few wrong tries. A token that comes
//! back holding another domain key (another key check value) is refused, so a swapped device
//! never serves this cluster's keys. The key check value and fingerprint are the first open's.

use std::sync::{Arc, Mutex, RwLock, Weak};
use std::time::{Duration, Instant};

use trent_model::{
    EncryptionAlgorithm, KeyId, KeySpec, MacAlgorithm, MessageType, Millis, SigningAlgorithm,
    WrappingAlgorithm, WrappingKeySpec,
};
use zeroize::Zeroizing;

use super::{Pkcs11Config, Pkcs11Hsm};
use crate::{
    DataKeyPair, Hsm, HsmError, ImportParameters, ImportTokenFacts, ImportedMaterial, MaterialRef,
    Plaintext, Salt, NONCE_LEN,
};

/// The settings of the next open: read again at each attempt (the PIN from its file).
pub type ReopenSettings = Box<dyn Fn() -> Result<Pkcs11Config, String> + Send + Sync>;

/// The first and the longest wait between reopening attempts.
const FIRST_BACKOFF: Duration = Duration::from_secs(1);
const MAX_BACKOFF: Duration = Duration::from_secs(60);

/// A PKCS#11 token that is reopened after it fails.
pub struct ReopeningPkcs11 {
    settings: ReopenSettings,
    label: String,
    cache_entries: usize,
    current: RwLock<Option<Arc<Pkcs11Hsm>>>,
    /// The failed token while operations still hold it: no reopening until it is gone.
    retired: Mutex<Weak<Pkcs11Hsm>>,
    attempts: Mutex<Attempts>,
    check_value: [u8; 32],
    fingerprint: [u8; 32],
}

/// When the next reopening may be tried, and a PIN the token refused.
struct Attempts {
    next: Instant,
    backoff: Duration,
    refused_pin: Option<Zeroizing<String>>,
}

impl ReopeningPkcs11 {
    /// Opens the token now with `settings()` (a failure here is the caller's to report:
    /// nothing was served); reopens read `settings()` again.
    pub fn open(settings: ReopenSettings, cache_entries: usize) -> Result<Self, HsmError> {
        let config = settings().map_err(HsmError::Token)?;
        let hsm = Pkcs11Hsm::open_with_cache(&config, cache_entries)?;
        Ok(ReopeningPkcs11 {
            check_value: hsm.key_check_value(),
            fingerprint: hsm.domain_key_fingerprint(),
            label: config.token_label.clone(),
            settings,
            cache_entries,
            current: RwLock::new(Some(Arc::new(hsm))),
            retired: Mutex::new(Weak::new()),
            attempts: Mutex::new(Attempts {
                next: Instant::now(),
                backoff: FIRST_BACKOFF,
                refused_pin: None,
            }),
        })
    }

    /// The open token, or why there is none.
    fn hsm(&self) -> Result<Arc<Pkcs11Hsm>, HsmError> {
        self.current
            .read()
            .expect("token lock")
            .clone()
            .ok_or_else(|| {
                HsmError::Token(format!(
                    "token {:?} failed and is not open again yet",
                    self.label
                ))
            })
    }

    /// Lets the failed token go: finalized once the last operation on it ends.
    fn retire(&self) {
        let failed = self.current.write().expect("token lock").take();
        if let Some(failed) = failed {
            *self.retired.lock().expect("retired lock") = Arc::downgrade(&failed);
        }
    }

    /// Opens the token again if an attempt is due; refuses it if it holds another domain key.
    fn reopen(&self) -> Result<(), HsmError> {
        let failed = |why: String| {
            HsmError::Token(format!(
                "token {:?} failed and is not open again: {why}",
                self.label
            ))
        };
        if self.retired.lock().expect("retired lock").strong_count() > 0 {
            return Err(failed(
                "operations on the failed token are still ending".into(),
            ));
        }
        let mut attempts = self.attempts.lock().expect("attempts lock");
        if Instant::now() < attempts.next {
            return Err(failed("waiting before the next attempt".into()));
        }
        let config = (self.settings)().map_err(&failed)?;
        if attempts.refused_pin.as_ref() == Some(&config.pin) {
            return Err(failed(
                "the token refused the PIN in the PIN file; not trying it again until the file \
                 holds another"
                    .into(),
            ));
        }
        match self.open_checked(&config) {
            Ok(hsm) => {
                *attempts = Attempts {
                    next: Instant::now(),
                    backoff: FIRST_BACKOFF,
                    refused_pin: None,
                };
                *self.current.write().expect("token lock") = Some(Arc::new(hsm));
                tracing::info!(token = %self.label, "PKCS#11 token open again");
                Ok(())
            }
            Err(e) => {
                if e.to_string().contains("PIN") {
                    attempts.refused_pin = Some(config.pin.clone());
                }
                attempts.next = Instant::now() + attempts.backoff;
                attempts.backoff = (attempts.backoff * 2).min(MAX_BACKOFF);
                Err(failed(e.to_string()))
            }
        }
    }

    fn open_checked(&self, config: &Pkcs11Config) -> Result<Pkcs11Hsm, HsmError> {
        let hsm = Pkcs11Hsm::open_with_cache(config, self.cache_entries)?;
        if hsm.key_check_value() != self.check_value {
            return Err(HsmError::Token(
                "it came back holding another domain key (another key check value) than it was \
                 opened with; refusing it"
                    .into(),
            ));
        }
        Ok(hsm)
    }
}

impl Hsm for ReopeningPkcs11 {
    /// The open token's check; on failure the token is let go. Without an open token, an
    /// attempt to open it again when one is due.
    fn health(&self) -> Result<(), HsmError> {
        let Ok(hsm) = self.hsm() else {
            return self.reopen();
        };
        hsm.health().inspect_err(|_| self.retire())
    }

    fn generate_symmetric(&self, key_id: KeyId, version: u32) -> Result<Vec<u8>, HsmError> {
        self.hsm()?.generate_symmetric(key_id, version)
    }

    fn encrypt(
        &self,
        key: MaterialRef<'_>,
        salt: &Salt,
        plaintext: &[u8],
        aad: &[u8],
    ) -> Result<crate::Sealed, HsmError> {
        self.hsm()?.encrypt(key, salt, plaintext, aad)
    }

    fn encrypt_append(
        &self,
        key: MaterialRef<'_>,
        salt: &Salt,
        plaintext: &[u8],
        aad: &[u8],
        out: &mut Vec<u8>,
    ) -> Result<(), HsmError> {
        self.hsm()?.encrypt_append(key, salt, plaintext, aad, out)
    }

    fn decrypt(
        &self,
        key: MaterialRef<'_>,
        salt: Option<&Salt>,
        nonce: &[u8; NONCE_LEN],
        ciphertext: &[u8],
        aad: &[u8],
    ) -> Result<Plaintext, HsmError> {
        self.hsm()?.decrypt(key, salt, nonce, ciphertext, aad)
    }

    fn generate(&self, key_id: KeyId, version: u32, spec: KeySpec) -> Result<Vec<u8>, HsmError> {
        self.hsm()?.generate(key_id, version, spec)
    }

    fn public_key(&self, key: MaterialRef<'_>, spec: KeySpec) -> Result<Vec<u8>, HsmError> {
        self.hsm()?.public_key(key, spec)
    }

    fn sign(
        &self,
        key: MaterialRef<'_>,
        spec: KeySpec,
        algorithm: SigningAlgorithm,
        message_type: MessageType,
        message: &[u8],
    ) -> Result<Vec<u8>, HsmError> {
        self.hsm()?
            .sign(key, spec, algorithm, message_type, message)
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
        self.hsm()?
            .verify(key, spec, algorithm, message_type, message, signature)
    }

    fn encrypt_asymmetric(
        &self,
        key: MaterialRef<'_>,
        spec: KeySpec,
        algorithm: EncryptionAlgorithm,
        plaintext: &[u8],
    ) -> Result<Vec<u8>, HsmError> {
        self.hsm()?
            .encrypt_asymmetric(key, spec, algorithm, plaintext)
    }

    fn decrypt_asymmetric(
        &self,
        key: MaterialRef<'_>,
        spec: KeySpec,
        algorithm: EncryptionAlgorithm,
        ciphertext: &[u8],
    ) -> Result<Plaintext, HsmError> {
        self.hsm()?
            .decrypt_asymmetric(key, spec, algorithm, ciphertext)
    }

    fn generate_mac(
        &self,
        key: MaterialRef<'_>,
        spec: KeySpec,
        algorithm: MacAlgorithm,
        message: &[u8],
    ) -> Result<Vec<u8>, HsmError> {
        self.hsm()?.generate_mac(key, spec, algorithm, message)
    }

    fn verify_mac(
        &self,
        key: MaterialRef<'_>,
        spec: KeySpec,
        algorithm: MacAlgorithm,
        message: &[u8],
        mac: &[u8],
    ) -> Result<bool, HsmError> {
        self.hsm()?.verify_mac(key, spec, algorithm, message, mac)
    }

    fn derive_shared_secret(
        &self,
        key: MaterialRef<'_>,
        spec: KeySpec,
        peer_public: &[u8],
    ) -> Result<Plaintext, HsmError> {
        self.hsm()?.derive_shared_secret(key, spec, peer_public)
    }

    fn encapsulate(
        &self,
        key: MaterialRef<'_>,
        spec: KeySpec,
    ) -> Result<(Vec<u8>, Plaintext), HsmError> {
        self.hsm()?.encapsulate(key, spec)
    }

    fn decapsulate(
        &self,
        key: MaterialRef<'_>,
        spec: KeySpec,
        ciphertext: &[u8],
    ) -> Result<Plaintext, HsmError> {
        self.hsm()?.decapsulate(key, spec, ciphertext)
    }

    fn generate_data_key_pair(&self, spec: KeySpec) -> Result<DataKeyPair, HsmError> {
        self.hsm()?.generate_data_key_pair(spec)
    }

    fn import_parameters(
        &self,
        key_id: KeyId,
        algorithm: WrappingAlgorithm,
        wrapping_spec: WrappingKeySpec,
        valid_to: Millis,
    ) -> Result<ImportParameters, HsmError> {
        self.hsm()?
            .import_parameters(key_id, algorithm, wrapping_spec, valid_to)
    }

    fn read_import_token(&self, token: &[u8]) -> Result<ImportTokenFacts, HsmError> {
        self.hsm()?.read_import_token(token)
    }

    fn import_material(
        &self,
        token: &[u8],
        encrypted: &[u8],
        key_id: KeyId,
        version: u32,
        spec: KeySpec,
    ) -> Result<ImportedMaterial, HsmError> {
        self.hsm()?
            .import_material(token, encrypted, key_id, version, spec)
    }

    fn salt(&self) -> Result<Salt, HsmError> {
        self.hsm()?.salt()
    }

    /// Without an open token there is nothing cached to forget.
    fn forget_key(&self, key_id: KeyId) {
        if let Ok(hsm) = self.hsm() {
            hsm.forget_key(key_id);
        }
    }

    fn cached_keys(&self) -> usize {
        self.hsm().map(|hsm| hsm.cached_keys()).unwrap_or(0)
    }

    fn random(&self, n: usize) -> Result<Plaintext, HsmError> {
        self.hsm()?.random(n)
    }

    fn wrap_secret(&self, label: &[u8], secret: &[u8]) -> Result<Vec<u8>, HsmError> {
        self.hsm()?.wrap_secret(label, secret)
    }

    fn unwrap_secret(&self, label: &[u8], wrapped: &[u8]) -> Result<Plaintext, HsmError> {
        self.hsm()?.unwrap_secret(label, wrapped)
    }

    fn domain_key_fingerprint(&self) -> [u8; 32] {
        self.fingerprint
    }

    fn domain_mac(&self, purpose: &[u8], data: &[u8]) -> Result<[u8; 32], HsmError> {
        self.hsm()?.domain_mac(purpose, data)
    }

    fn verify_domain_mac(&self, purpose: &[u8], data: &[u8], mac: &[u8]) -> Result<bool, HsmError> {
        self.hsm()?.verify_domain_mac(purpose, data, mac)
    }

    fn audit_public_key(&self) -> Result<Vec<u8>, HsmError> {
        self.hsm()?.audit_public_key()
    }

    fn audit_sign(&self, data: &[u8]) -> Result<Vec<u8>, HsmError> {
        self.hsm()?.audit_sign(data)
    }

    fn key_check_value(&self) -> [u8; 32] {
        self.check_value
    }
}
