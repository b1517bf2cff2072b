//! The PKCS#11 module and the one token trent uses: loaded, initialized, found by label,
//! checked for every mechanism trent needs, and logged in with a pool of sessions.
//!
//! Guarantees: a token that lacks a mechanism trent needs is refused at start, naming every
//! missing mechanism and what it is for (trent never falls back to software); a wrong PIN, a
//! missing or ambiguous token label, a module that does not load or is already initialized in
//! this process each give an error that says which; the PIN is handed to the module and
//! never logged. Dropping the token closes its sessions (destroying every session object
//! trent created) and finalizes the module.

use std::fmt::Display;
use std::os::raw::c_ulong;
use std::sync::atomic::{AtomicU64, Ordering};

use cryptoki::context::{CInitializeArgs, CInitializeFlags, Pkcs11};
use cryptoki::error::{Error, RvError};
use cryptoki::mechanism::{MechanismInfo, MechanismType};
use cryptoki::object::ObjectHandle;
use cryptoki::session::UserType;
use cryptoki::slot::Slot;
use cryptoki::types::AuthPin;

use super::pool::{Pooled, SessionPool};
use super::Pkcs11Config;
use crate::HsmError;

/// `CKM_AES_ECB_ENCRYPT_DATA`, which cryptoki 0.12 has no variant for: it is found in the
/// token's mechanism list and used as a vendor-defined mechanism with its standard parameter.
pub(crate) const CKM_AES_ECB_ENCRYPT_DATA: c_ulong = 0x1104;

/// `CKM_AES_KEY_WRAP_KWP` (RFC 5649, PKCS#11 3.0), which cryptoki 0.12 has no variant for.
pub(crate) const CKM_AES_KEY_WRAP_KWP: c_ulong = 0x210B;

/// A `MechanismType` of value `CKM_AES_ECB_ENCRYPT_DATA`.
pub(crate) fn ecb_encrypt_data() -> MechanismType {
    raw_mechanism(CKM_AES_ECB_ENCRYPT_DATA)
}

/// A `MechanismType` of a standard value cryptoki 0.12 has no constant for. It builds none
/// from a standard value (only vendor-defined ones), and its mechanism list drops the values
/// it does not know; the type is `#[repr(transparent)]` over `CK_MECHANISM_TYPE` (cryptoki
/// reads token lists into it on that ground).
pub(crate) fn raw_mechanism(value: c_ulong) -> MechanismType {
    const _: () = assert!(std::mem::size_of::<MechanismType>() == std::mem::size_of::<c_ulong>());
    // SAFETY: `MechanismType` is `#[repr(transparent)]` over `CK_MECHANISM_TYPE` (`c_ulong`),
    // every value of which is a valid mechanism type; the token says whether it has it.
    unsafe { std::mem::transmute::<c_ulong, MechanismType>(value) }
}

/// What a required mechanism must be able to do (its `CK_MECHANISM_INFO` flags).
#[derive(Clone, Copy)]
pub(crate) enum Needs {
    Generate,
    GenerateKeyPair,
    WrapUnwrap,
    EncryptDecrypt,
    Derive,
    SignVerify,
}

impl Needs {
    pub(crate) fn met_by(self, info: &MechanismInfo) -> bool {
        match self {
            Needs::Generate => info.generate(),
            Needs::GenerateKeyPair => info.generate_key_pair(),
            Needs::WrapUnwrap => info.wrap() && info.unwrap(),
            Needs::EncryptDecrypt => info.encrypt() && info.decrypt(),
            Needs::Derive => info.derive(),
            Needs::SignVerify => info.sign() && info.verify(),
        }
    }
}

/// The mechanisms this backend needs, what they must do, and what each is for (named in the
/// start-up error).
fn required() -> [(MechanismType, Needs, &'static str, &'static str); 5] {
    [
        (
            MechanismType::AES_KEY_GEN,
            Needs::Generate,
            "CKM_AES_KEY_GEN",
            "generating symmetric material in the token",
        ),
        (
            MechanismType::AES_KEY_WRAP,
            Needs::WrapUnwrap,
            "CKM_AES_KEY_WRAP",
            "wrapping material under the domain key (RFC 3394)",
        ),
        (
            MechanismType::AES_GCM,
            Needs::EncryptDecrypt,
            "CKM_AES_GCM",
            "sealing and opening ciphertexts",
        ),
        (
            ecb_encrypt_data(),
            Needs::Derive,
            "CKM_AES_ECB_ENCRYPT_DATA",
            "deriving per-ciphertext and wrapping keys",
        ),
        (
            MechanismType::SHA256_HMAC,
            Needs::SignVerify,
            "CKM_SHA256_HMAC",
            "MACs under the domain key (key check value, backups)",
        ),
    ]
}

/// The names (and uses) of the required mechanisms that `info` (the token's answer for a
/// mechanism, `None` if it lacks it) does not offer with the flags trent needs.
pub(crate) fn missing_mechanisms(
    mut info: impl FnMut(MechanismType) -> Option<MechanismInfo>,
) -> Vec<String> {
    required()
        .iter()
        .filter(|(mechanism, needs, _, _)| !info(*mechanism).is_some_and(|i| needs.met_by(&i)))
        .map(|(_, _, name, why)| format!("{name} ({why})"))
        .collect()
}

/// An error of the token, saying what trent was doing.
pub(crate) fn fail(what: impl Display, e: Error) -> HsmError {
    HsmError::Token(match e {
        Error::Pkcs11(rv, function) => format!("{what}: {function} returned {rv:?}"),
        other => format!("{what}: {other}"),
    })
}

pub(crate) struct Token {
    ctx: Pkcs11,
    slot: Slot,
    pub(crate) label: String,
    pool: SessionPool,
    ecb_derive: MechanismType,
    /// The module keeps destroyed session objects until it is finalized (SoftHSM2).
    pub(crate) keeps_destroyed_objects: bool,
}

/// Session objects trentd destroyed since the process started (reopen.rs reads it: SoftHSM2
/// frees them only when the module is finalized).
static DESTROYED_OBJECTS: AtomicU64 = AtomicU64::new(0);

/// Counts a destroyed session object.
pub(crate) fn note_destroyed() {
    DESTROYED_OBJECTS.fetch_add(1, Ordering::Relaxed);
}

/// Session objects destroyed since the process started.
pub(crate) fn destroyed_objects() -> u64 {
    DESTROYED_OBJECTS.load(Ordering::Relaxed)
}

/// Whether the module keeps every session object it made until `C_Finalize`: SoftHSM2 does
/// (its `SessionObjectStore` keeps destroyed objects in `allObjects`; docs/BENCHMARKS.md,
/// "PKCS#11 tokens"). Hardware tokens free them.
fn keeps_destroyed_objects(ctx: &Pkcs11) -> bool {
    ctx.get_library_info()
        .is_ok_and(|info| info.manufacturer_id().trim_end().starts_with("SoftHSM"))
}

/// Held while the module is initialized or finalized: a token reopened after a failure is
/// initialized on one thread while the failed one may be finalized on another (whichever drops
/// it last), and PKCS#11 leaves `C_Initialize` beside `C_Finalize` undefined.
static MODULE_LIFECYCLE: std::sync::Mutex<()> = std::sync::Mutex::new(());

fn lifecycle() -> std::sync::MutexGuard<'static, ()> {
    MODULE_LIFECYCLE
        .lock()
        .unwrap_or_else(|poisoned| poisoned.into_inner())
}

impl Token {
    pub(crate) fn open(config: &Pkcs11Config) -> Result<Token, HsmError> {
        let _lifecycle = lifecycle();
        let module = config.module.display();
        if !config.module.exists() {
            return Err(HsmError::Token(format!(
                "the PKCS#11 module {module} does not exist (for SoftHSM2: apt-get install softhsm2)"
            )));
        }
        let ctx = Pkcs11::new(&config.module)
            .map_err(|e| fail(format_args!("loading the PKCS#11 module {module}"), e))?;
        match ctx.initialize(CInitializeArgs::new(CInitializeFlags::OS_LOCKING_OK)) {
            Ok(()) => {}
            Err(Error::Pkcs11(RvError::CryptokiAlreadyInitialized, _)) => {
                return Err(HsmError::Token(format!(
                    "the PKCS#11 module {module} is already initialized in this process \
                     (one PKCS#11 HSM per process)"
                )))
            }
            Err(e) => return Err(fail(format_args!("initializing {module}"), e)),
        }
        Self::connect(ctx.clone(), config).inspect_err(|_| {
            if let Err(e) = ctx.finalize() {
                tracing::warn!(error = %e, "finalizing the PKCS#11 module failed");
            }
        })
    }

    fn connect(ctx: Pkcs11, config: &Pkcs11Config) -> Result<Token, HsmError> {
        let module = config.module.display();
        let wanted = config.token_label.as_str();
        let slots = ctx
            .get_slots_with_token()
            .map_err(|e| fail(format_args!("listing the slots of {module}"), e))?;
        let mut labels = Vec::new();
        let mut found = Vec::new();
        for slot in slots {
            let info = ctx
                .get_token_info(slot)
                .map_err(|e| fail("reading a token's information", e))?;
            let label = info.label().trim_end().to_string();
            if label == wanted {
                found.push(slot);
            }
            labels.push(label);
        }
        let slot = match found[..] {
            [slot] => slot,
            [] => {
                return Err(HsmError::Token(format!(
                    "no token labelled {wanted:?} in {module} (tokens present: {labels:?})"
                )))
            }
            _ => {
                return Err(HsmError::Token(format!(
                    "{} tokens are labelled {wanted:?} in {module}; labels must be unique",
                    found.len()
                )))
            }
        };
        let mut failure = None;
        let missing =
            missing_mechanisms(|mechanism| match ctx.get_mechanism_info(slot, mechanism) {
                Ok(info) => Some(info),
                Err(Error::Pkcs11(RvError::MechanismInvalid, _)) => None,
                Err(e) => {
                    failure.get_or_insert(e);
                    None
                }
            });
        if let Some(e) = failure {
            return Err(fail(
                format_args!("reading the mechanisms of token {wanted:?}"),
                e,
            ));
        }
        if !missing.is_empty() {
            return Err(HsmError::Token(format!(
                "token {wanted:?} lacks mechanisms trent needs: {}; trent does not fall back \
                 to software",
                missing.join(", ")
            )));
        }
        let ecb_derive = ecb_encrypt_data();
        let size = pool_size();
        let mut sessions = Vec::with_capacity(size);
        for _ in 0..size {
            sessions.push(
                ctx.open_rw_session(slot)
                    .map_err(|e| fail(format_args!("opening a session on token {wanted:?}"), e))?,
            );
        }
        let pin = AuthPin::new(config.pin.as_str().into());
        match sessions[0].login(UserType::User, Some(&pin)) {
            Ok(()) | Err(Error::Pkcs11(RvError::UserAlreadyLoggedIn, _)) => {}
            Err(Error::Pkcs11(RvError::PinIncorrect, _)) => {
                return Err(HsmError::Token(format!(
                    "logging in to token {wanted:?}: wrong PIN (CKR_PIN_INCORRECT)"
                )))
            }
            Err(Error::Pkcs11(RvError::PinLocked, _)) => {
                return Err(HsmError::Token(format!(
                    "logging in to token {wanted:?}: the user PIN is locked (CKR_PIN_LOCKED)"
                )))
            }
            Err(e) => return Err(fail(format_args!("logging in to token {wanted:?}"), e)),
        }
        Ok(Token {
            keeps_destroyed_objects: keeps_destroyed_objects(&ctx),
            ctx,
            slot,
            label: wanted.to_string(),
            pool: SessionPool::new(sessions),
            ecb_derive,
        })
    }

    /// A logged-in session, waiting for a free one.
    pub(crate) fn session(&self) -> Pooled<'_> {
        self.pool.get()
    }

    /// What the token says it can do with `mechanism`; `None` if it lacks it.
    pub(crate) fn mechanism_info(
        &self,
        mechanism: MechanismType,
    ) -> Result<Option<MechanismInfo>, HsmError> {
        match self.ctx.get_mechanism_info(self.slot, mechanism) {
            Ok(info) => Ok(Some(info)),
            Err(Error::Pkcs11(RvError::MechanismInvalid, _)) => Ok(None),
            Err(e) => Err(fail(
                format_args!("reading the mechanisms of token {:?}", self.label),
                e,
            )),
        }
    }

    /// The token's own `CKM_AES_ECB_ENCRYPT_DATA` mechanism type.
    pub(crate) fn ecb_derive(&self) -> MechanismType {
        self.ecb_derive
    }

    /// Destroys a session object without waiting for a pooled session: one may be held by
    /// the caller (an eviction while it works), so a short-lived session is opened instead.
    pub(crate) fn destroy(&self, handle: ObjectHandle) {
        let result = match self.pool.try_get() {
            Some(session) => session.destroy_object(handle),
            None => self
                .ctx
                .open_ro_session(self.slot)
                .and_then(|session| session.destroy_object(handle)),
        };
        match result {
            Ok(()) => note_destroyed(),
            Err(e) => {
                tracing::warn!(error = %e, token = %self.label, "destroying a session object failed")
            }
        }
    }
}

impl Drop for Token {
    fn drop(&mut self) {
        let _lifecycle = lifecycle();
        self.pool.close_all();
        if let Err(e) = self.ctx.clone().finalize() {
            tracing::warn!(error = %e, "finalizing the PKCS#11 module failed");
        }
    }
}

/// One session per core (at least two, so a cache eviction never waits on its caller).
fn pool_size() -> usize {
    std::thread::available_parallelism()
        .map(|n| n.get())
        .unwrap_or(2)
        .clamp(2, 64)
}

#[cfg(test)]
impl Token {
    pub(crate) fn context(&self) -> &Pkcs11 {
        &self.ctx
    }

    pub(crate) fn slot(&self) -> Slot {
        self.slot
    }
}
