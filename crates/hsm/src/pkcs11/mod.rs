//! The PKCS#11 backend of [`Hsm`](crate::Hsm): the domain key is a non-extractable AES-256
//! key inside a token, key material is generated inside the token and leaves it only wrapped,
//! and every operation on material runs in the token on a session object, so trentd holds
//! object handles, never plaintext key material. Tested against SoftHSM2.
//!
//! Guarantees (issue 26): symmetric (SYMMETRIC_DEFAULT) keys end to end: generation, sealing
//! and opening ciphertexts exactly as the soft backend does (blob format 2's per-ciphertext
//! key `AES-256-ECB(material, T|1|salt || T|2|salt)`, derived in the token with
//! `CKM_AES_ECB_ENCRYPT_DATA`, then AES-256-GCM in the token, so the same material gives the
//! same ciphertexts under either backend), format-1 blobs, salts, random bytes, access-key
//! secrets, the domain key's fingerprint, key check value and MACs. HMAC (224 to 512), ECC
//! (P-256, P-384, P-521, secp256k1: ECDSA; ECDH on the NIST curves, `agree.rs`), Ed25519
//! (`edwards.rs`) and RSA (2048 to 4096: PKCS#1 v1.5 and PSS signatures, OAEP) keys
//! generated, wrapped (blob format 4, `keys.rs`) and used in the token, with the soft
//! backend's results (`sign.rs`). The one object whose value trent reads is an ECDH shared
//! secret, which DeriveSharedSecret answers by design; it is destroyed once read. Data key
//! pairs are generated in the token and their private key leaves it once, as the PKCS#8
//! GenerateDataKeyPair answers (`pairs.rs`). Imported SYMMETRIC_DEFAULT, HMAC, RSA and ECC
//! material is unwrapped by the token and wrapped out as generated material (`import.rs`).
//! ML-DSA and ML-KEM answer [`HsmError::Pkcs11Unsupported`]: nothing falls back to software. A token that lacks a mechanism the symmetric keys or the domain key need is
//! refused at [`Pkcs11Hsm::open`], naming it; one that lacks what a spec or algorithm needs
//! serves the rest and refuses that one by name ([`HsmError::Pkcs11Lacks`], `families.rs`).
//!
//! The domain key is found by label at open and created only by an initialization, which
//! refuses a label that exists (`ceremony.rs`): [`Pkcs11Hsm::init`] generates it in the token;
//! [`Pkcs11Hsm::init_from_components`] (the key ceremony) creates it, with the same
//! attributes, as the XOR of key components held by custodians, so the tokens of every node
//! hold the same domain key while no one person ever knew it; it reports each component's
//! check value and the key check value to compare. Both create the audit signing key
//! (`audit.rs`) beside it, labelled `{key_label}/audit`: an ECDSA P-256 token object,
//! sensitive, never extractable, sign only, whose scalar is derived at initialization from
//! the domain MAC (as the soft backend derives it) and zeroized after its import; so every
//! token holding the same domain key signs audit digests under the same public key, and the
//! scalar is never in memory afterwards. A token initialized before the audit key existed
//! still opens; its audit methods answer [`HsmError::Token`] saying it must be
//! re-initialized. See docs/ARCHITECTURE.md, "PKCS#11 backend (issue 26)".

mod adopt;
mod agree;
#[cfg(test)]
mod agree_tests;
mod audit;
mod cache;
mod ceremony;
#[cfg(test)]
mod ceremony_tests;
mod der;
mod edwards;
#[cfg(test)]
mod edwards_tests;
mod families;
#[cfg(test)]
mod health_tests;
mod import;
#[cfg(test)]
mod import_tests;
mod imported;
mod imported_ec;
mod keys;
#[cfg(test)]
mod keys_tests;
#[cfg(test)]
mod migrating_tests;
mod objects;
mod ops;
mod pairs;
#[cfg(test)]
mod pairs_tests;
mod pool;
mod probes;
mod reopen;
mod sign;
#[cfg(test)]
mod sign_tests;
#[cfg(test)]
mod tests;
mod token;

use std::path::PathBuf;
use std::sync::Arc;

use cryptoki::object::{Attribute, AttributeType, KeyType, ObjectClass, ObjectHandle};
use cryptoki::session::Session;
use zeroize::Zeroizing;

use audit::AuditPair;
use cache::HandleCache;
pub use ceremony::{component_check_value, InitReport};
use families::Families;
use objects::{blocks, derived_aes_template, derived_mac_template, ecb_derive, Uses};
pub use reopen::{ReopenSettings, ReopeningPkcs11};
use token::{fail, Token};

use crate::{HsmError, DEFAULT_CACHE_ENTRIES};

/// Where Debian's `softhsm2` package installs SoftHSM2's module.
pub const SOFTHSM2_MODULE: &str = "/usr/lib/softhsm/libsofthsm2.so";

/// The purpose of the domain key's fingerprint MAC ([`crate::Hsm::domain_key_fingerprint`]).
const FINGERPRINT_PURPOSE: &[u8] = b"trent/domain-key-fingerprint/v1";

/// How to reach the token and the domain key in it.
pub struct Pkcs11Config {
    /// The PKCS#11 module (shared library), e.g. [`SOFTHSM2_MODULE`].
    pub module: PathBuf,
    /// The token's label (`CKA_LABEL` of its token info).
    pub token_label: String,
    /// The user PIN (read from a file by the caller), zeroized when dropped.
    pub pin: Zeroizing<String>,
    /// The domain key's `CKA_LABEL`.
    pub key_label: String,
}

impl std::fmt::Debug for Pkcs11Config {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Pkcs11Config")
            .field("module", &self.module)
            .field("token_label", &self.token_label)
            .field("pin", &"<redacted>")
            .field("key_label", &self.key_label)
            .finish()
    }
}

/// The PKCS#11 HSM. One per process: the module is initialized by [`Pkcs11Hsm::open`] and
/// finalized when this is dropped (after its cached objects are destroyed).
pub struct Pkcs11Hsm {
    /// Dropped first: destroys every cached object while the token is open.
    cache: HandleCache,
    token: Arc<Token>,
    domain: ObjectHandle,
    /// Derived from the domain key (`M` blocks): the HMAC-SHA256 key of `domain_mac`.
    mac_key: ObjectHandle,
    /// Derived from the domain key (`S` blocks): the AES-256-GCM key of `wrap_secret`.
    secret_key: ObjectHandle,
    fingerprint: [u8; 32],
    check_value: [u8; 32],
    /// The key specs beyond SYMMETRIC_DEFAULT the token serves, found at open.
    families: Families,
    /// The audit signing key pair (token objects), found at open (`audit.rs`).
    audit: AuditPair,
}

impl Pkcs11Hsm {
    /// Loads the module, finds the token, checks its mechanisms, logs in, and finds the domain
    /// key, which must be a non-extractable, sensitive AES-256 key that may derive, and the
    /// audit key pair beside it (whose absence only the audit methods report, `audit.rs`).
    pub fn open(config: &Pkcs11Config) -> Result<Pkcs11Hsm, HsmError> {
        Self::open_with_cache(config, DEFAULT_CACHE_ENTRIES)
    }

    /// [`Pkcs11Hsm::open`] keeping at most `cache_entries` unwrapped key versions (session
    /// objects) in the token.
    pub fn open_with_cache(
        config: &Pkcs11Config,
        cache_entries: usize,
    ) -> Result<Pkcs11Hsm, HsmError> {
        let token = Arc::new(Token::open(config)?);
        let mut hsm = Self::on_token(token, config, cache_entries)?;
        hsm.audit = audit::find(&hsm.token, &config.key_label)?;
        Ok(hsm)
    }

    /// Whether the module keeps every session object it made until it is finalized
    /// (SoftHSM2), so that only reopening it frees them (reopen.rs).
    pub fn keeps_destroyed_objects(&self) -> bool {
        self.token.keeps_destroyed_objects
    }

    /// The HSM on an open token, without its audit key pair (which an initialization has yet
    /// to create).
    fn on_token(
        token: Arc<Token>,
        config: &Pkcs11Config,
        cache_entries: usize,
    ) -> Result<Pkcs11Hsm, HsmError> {
        let (domain, mac_key, secret_key) = {
            let session = token.session();
            let domain = domain_key(&session, &token.label, &config.key_label)?;
            let ecb = token.ecb_derive();
            let mac_key = ecb_derive(
                &session,
                ecb,
                domain,
                &blocks(b'M', 1, b"mac-root/v1"),
                &derived_mac_template(),
            )
            .map_err(|e| fail("deriving the MAC key from the domain key", e))?;
            let secret_key = ecb_derive(
                &session,
                ecb,
                domain,
                &blocks(b'S', 1, b"secret/v1"),
                &derived_aes_template(Uses {
                    encrypt: true,
                    decrypt: true,
                    ..Uses::default()
                }),
            )
            .map_err(|e| fail("deriving the secret-wrapping key from the domain key", e))?;
            (domain, mac_key, secret_key)
        };
        let families = Families::probe(&token)?;
        let mut hsm = Pkcs11Hsm {
            cache: HandleCache::new(cache_entries),
            token,
            domain,
            mac_key,
            secret_key,
            fingerprint: [0; 32],
            check_value: [0; 32],
            families,
            audit: AuditPair::Unusable("the audit key pair is being created".into()),
        };
        hsm.fingerprint = hsm.mac(FINGERPRINT_PURPOSE, &[])?;
        hsm.check_value = hsm.mac(crate::KEY_CHECK_PURPOSE, &[])?;
        Ok(hsm)
    }

    /// The token's label.
    pub fn token_label(&self) -> &str {
        &self.token.label
    }
}

/// Secret keys labelled `label`.
fn find_keys(session: &Session, label: &str) -> Result<Vec<ObjectHandle>, cryptoki::error::Error> {
    session.find_objects(&[
        Attribute::Class(ObjectClass::SECRET_KEY),
        Attribute::Label(label.as_bytes().to_vec()),
    ])
}

/// The domain key, checked: one AES-256 key, sensitive, never extractable, may derive.
fn domain_key(session: &Session, token: &str, label: &str) -> Result<ObjectHandle, HsmError> {
    let found = find_keys(session, label).map_err(|e| fail("looking for the domain key", e))?;
    let key = match found[..] {
        [key] => key,
        [] => {
            return Err(HsmError::Token(format!(
                "no key labelled {label:?} in token {token:?}: create it with `trentd hsm init` \
                 (Pkcs11Hsm::init, or Pkcs11Hsm::init_from_components for the key ceremony)"
            )))
        }
        _ => {
            return Err(HsmError::Token(format!(
                "{} keys are labelled {label:?} in token {token:?}; the domain key's label must \
                 be unique",
                found.len()
            )))
        }
    };
    let attributes = session
        .get_attributes(
            key,
            &[
                AttributeType::KeyType,
                AttributeType::ValueLen,
                AttributeType::Sensitive,
                AttributeType::Extractable,
                AttributeType::Derive,
            ],
        )
        .map_err(|e| fail("reading the domain key's attributes", e))?;
    let mut problems = Vec::new();
    let (mut aes, mut len, mut sensitive, mut extractable, mut derive) =
        (false, 0u64, false, true, false);
    for attribute in attributes {
        match attribute {
            Attribute::KeyType(t) => aes = t == KeyType::AES,
            Attribute::ValueLen(n) => len = n.into(),
            Attribute::Sensitive(b) => sensitive = b,
            Attribute::Extractable(b) => extractable = b,
            Attribute::Derive(b) => derive = b,
            _ => {}
        }
    }
    if !aes || len != 32 {
        problems.push("is not an AES-256 key");
    }
    if !sensitive {
        problems.push("is not sensitive (CKA_SENSITIVE false)");
    }
    if extractable {
        problems.push("is extractable (CKA_EXTRACTABLE true)");
    }
    if !derive {
        problems.push("may not derive keys (CKA_DERIVE false)");
    }
    if !problems.is_empty() {
        return Err(HsmError::Token(format!(
            "the key labelled {label:?} in token {token:?} {}",
            problems.join(", ")
        )));
    }
    Ok(key)
}
