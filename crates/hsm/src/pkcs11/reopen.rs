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
//!
//! **Planned reopening.** SoftHSM2 frees a destroyed session object only when the module is
//! finalized, and trentd destroys one per Encrypt and Decrypt (the per-ciphertext key): a
//! leader on SoftHSM2 grew by ~250 bytes per request without bound (docs/BENCHMARKS.md). On
//! such a module (`Pkcs11Hsm::keeps_destroyed_objects`), once [`REOPEN_AFTER_OBJECTS`]
//! objects were destroyed since the last open, the check reopens the token: operations that
//! arrive meanwhile wait for the new one (up to [`PLANNED_WAIT`]) instead of failing, those
//! running end on the old one, which is then finalized, and the new one is opened with the
//! same settings and checks. The unwrapped keys are unwrapped again as they are used.

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Condvar, Mutex, RwLock, Weak};
use std::time::{Duration, Instant};

use trent_model::{KeyId, KeySpec, Millis, WrappingAlgorithm, WrappingKeySpec};
use zeroize::Zeroizing;

use super::token::destroyed_objects;
use super::{Pkcs11Config, Pkcs11Hsm};
use crate::{
    DataKeyPair, Hsm, HsmError, ImportParameters, ImportTokenFacts, ImportedMaterial, Plaintext,
    Salt,
};

/// The settings of the next open: read again at each attempt (the PIN from its file).
pub type ReopenSettings = Box<dyn Fn() -> Result<Pkcs11Config, String> + Send + Sync>;

/// The first and the longest wait between reopening attempts.
const FIRST_BACKOFF: Duration = Duration::from_secs(1);
const MAX_BACKOFF: Duration = Duration::from_secs(60);
/// Destroyed session objects after which a module that keeps them is reopened: ~250 MB of
/// SoftHSM2's memory, a pause of milliseconds every 1 M Encrypt and Decrypt calls.
pub const REOPEN_AFTER_OBJECTS: u64 = 1_000_000;
/// How long an operation waits for a planned reopening, and the reopening for the operations
/// on the old token to end.
const PLANNED_WAIT: Duration = Duration::from_secs(5);

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
    /// Destroyed objects after which the token is reopened (0: never).
    reopen_after: AtomicU64,
    /// `destroyed_objects()` when the open token was opened.
    opened_at: AtomicU64,
    /// A planned reopening is under way: operations wait for it.
    planned: Mutex<bool>,
    planned_done: Condvar,
    /// Planned reopenings so far.
    reopenings: AtomicU64,
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
        let reopen_after = match hsm.keeps_destroyed_objects() {
            true => REOPEN_AFTER_OBJECTS,
            false => 0,
        };
        Ok(ReopeningPkcs11 {
            reopen_after: AtomicU64::new(reopen_after),
            opened_at: AtomicU64::new(destroyed_objects()),
            planned: Mutex::new(false),
            planned_done: Condvar::new(),
            reopenings: AtomicU64::new(0),
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

    /// Reopens the token after `objects` destroyed session objects (0: never); the default is
    /// [`REOPEN_AFTER_OBJECTS`] on a module that keeps them, never on others.
    pub fn reopen_after_objects(self, objects: u64) -> Self {
        self.reopen_after.store(objects, Ordering::Relaxed);
        self
    }

    /// How many planned reopenings there were.
    pub fn planned_reopenings(&self) -> u64 {
        self.reopenings.load(Ordering::Relaxed)
    }

    /// The open token, waiting for a planned reopening under way; or why there is none.
    fn hsm(&self) -> Result<Arc<Pkcs11Hsm>, HsmError> {
        if let Some(hsm) = self.current() {
            return Ok(hsm);
        }
        let deadline = Instant::now() + PLANNED_WAIT;
        let mut planned = self.planned.lock().expect("planned lock");
        while *planned {
            let left = deadline.saturating_duration_since(Instant::now());
            if left.is_zero() {
                break;
            }
            planned = self
                .planned_done
                .wait_timeout(planned, left)
                .expect("planned lock")
                .0;
        }
        drop(planned);
        self.current().ok_or_else(|| {
            HsmError::Token(format!(
                "token {:?} failed and is not open again yet",
                self.label
            ))
        })
    }

    /// The open token, if there is one now.
    fn current(&self) -> Option<Arc<Pkcs11Hsm>> {
        self.current.read().expect("token lock").clone()
    }

    /// Whether enough objects were destroyed since the open for a planned reopening.
    fn reopening_due(&self) -> bool {
        let after = self.reopen_after.load(Ordering::Relaxed);
        let since = destroyed_objects().saturating_sub(self.opened_at.load(Ordering::Relaxed));
        after > 0 && since >= after
    }

    /// The planned reopening: new operations wait, running ones end on the old token, which
    /// is then finalized, and the token is opened again. A failure leaves it to the checks'
    /// ordinary reopening (operations fail until then, as on a token loss).
    fn reopen_planned(&self) {
        *self.planned.lock().expect("planned lock") = true;
        self.retire();
        let outcome = self.open_after_retired();
        match &outcome {
            Ok(()) => {
                self.reopenings.fetch_add(1, Ordering::Relaxed);
                tracing::info!(
                    token = %self.label,
                    "PKCS#11 token reopened to free the session objects its module keeps"
                );
            }
            Err(e) => tracing::warn!(
                token = %self.label,
                error = %e,
                "PKCS#11 token not reopened after freeing its session objects; retrying"
            ),
        }
        *self.planned.lock().expect("planned lock") = false;
        self.planned_done.notify_all();
    }

    /// Opens the token once the retired one is finalized (its last operation ended).
    fn open_after_retired(&self) -> Result<(), HsmError> {
        let deadline = Instant::now() + PLANNED_WAIT;
        let config = (self.settings)().map_err(HsmError::Token)?;
        loop {
            // Finalized by whichever thread drops it last; until then the module refuses a
            // second initialization.
            let finalized = self.retired.lock().expect("retired lock").strong_count() == 0;
            let attempt = match finalized {
                true => self.open_checked(&config),
                false => Err(HsmError::Token(
                    "operations on the old token are ending".into(),
                )),
            };
            match attempt {
                Ok(hsm) => {
                    self.opened_at.store(destroyed_objects(), Ordering::Relaxed);
                    *self.current.write().expect("token lock") = Some(Arc::new(hsm));
                    return Ok(());
                }
                Err(e) if Instant::now() >= deadline => return Err(e),
                Err(_) => std::thread::sleep(Duration::from_millis(1)),
            }
        }
    }

    /// [`Pkcs11Hsm::adopt`] on the open token (the migration from the soft backend).
    pub(crate) fn adopt(
        &self,
        key_id: KeyId,
        version: u32,
        spec: KeySpec,
        secret: &[u8],
        public: &[u8],
    ) -> Result<Vec<u8>, HsmError> {
        self.hsm()?.adopt(key_id, version, spec, secret, public)
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
                self.opened_at.store(destroyed_objects(), Ordering::Relaxed);
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
    /// A check that passes may be followed by a planned reopening (module docs).
    fn health(&self) -> Result<(), HsmError> {
        let Some(hsm) = self.current() else {
            return self.reopen();
        };
        hsm.health().inspect_err(|_| self.retire())?;
        drop(hsm);
        if self.reopening_due() {
            self.reopen_planned();
        }
        Ok(())
    }

    fn is_outgoing(&self, wrapped: &[u8]) -> bool {
        crate::soft_wrap::is_soft_blob(wrapped)
    }

    fn generate_symmetric(&self, key_id: KeyId, version: u32) -> Result<Vec<u8>, HsmError> {
        self.hsm()?.generate_symmetric(key_id, version)
    }

    crate::delegate::delegate_material_ops!(self, key => self.hsm()?);

    fn generate(&self, key_id: KeyId, version: u32, spec: KeySpec) -> Result<Vec<u8>, HsmError> {
        self.hsm()?.generate(key_id, version, spec)
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
