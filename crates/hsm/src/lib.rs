//! The HSM boundary: the only crate in trent that holds plaintext key material.
//!
//! Key material is generated here and leaves only *wrapped*: sealed with AES-256-GCM under
//! the cluster's domain key, with the key id and material version bound as additional data,
//! so a wrapped blob cannot be passed off as another key's or another version's. Everything
//! outside this crate handles wrapped blobs and the results of operations (ciphertexts,
//! data keys the caller asked for), never a key. Imported material (BYOK) arrives wrapped
//! under a wrapping key that exists in plaintext only here, is unwrapped only here, and
//! leaves wrapped as generated material does (see `import`).
//!
//! Every ciphertext is sealed under a key of its own: AES-256-GCM under a key derived from the
//! material and a random salt the blob carries (see [`Hsm::encrypt`]), so no key ever seals
//! enough messages to approach the 2^32 bound on random 96-bit nonces (NIST SP 800-38D). The
//! derivation is AES-256 encryption of two salt blocks, which a PKCS#11 token computes inside
//! itself as `C_DeriveKey(CKM_AES_ECB_ENCRYPT_DATA)`; blobs sealed under the material itself
//! (blob format 1) still open.
//!
//! Guarantees: unwrapped material lives in a bounded cache and is zeroized when evicted,
//! forgotten (a deleted key, [`Hsm::forget_key`]) or dropped; no type holding material
//! implements `Debug`, `Clone`, `Serialize` or offers an accessor (the `test-hooks` feature
//! adds one for tests that prove material never reaches disk). Errors never carry material.

mod asymmetric;
#[cfg(test)]
mod asymmetric_tests;
mod audit_key;
mod delegate;
mod der;
mod derive;
mod domain;
mod ed25519ph;
mod fingerprint;
mod import;
mod import_check;
#[cfg(test)]
mod import_tests;
mod migrating;
mod ml_dsa_mu;
mod ml_kem_seed;
mod operate;
pub mod pkcs11;
mod secret_file;
mod soft;
mod soft_ready;
mod soft_wrap;
#[cfg(test)]
mod wycheproof_tests;

pub use domain::{DomainKey, DomainKeySource};
pub use import::{ImportParameters, ImportTokenFacts, ImportedMaterial};
pub use migrating::MigratingHsm;
pub use pkcs11::{InitReport, Pkcs11Config, Pkcs11Hsm, ReopeningPkcs11};
pub use secret_file::read_secret_file;
pub use soft::{SoftHsm, DEFAULT_CACHE_ENTRIES};

pub use trent_model::{Salt, CIPHERTEXT_SALT_LEN};

use trent_model::{
    EncryptionAlgorithm, KeyId, KeySpec, MacAlgorithm, MessageType, Millis, SigningAlgorithm,
    WrappingAlgorithm, WrappingKeySpec,
};
use zeroize::Zeroizing;

/// Bytes the caller is entitled to see in the clear (a decrypted message, a data key, a
/// random string), zeroized when dropped.
pub type Plaintext = Zeroizing<Vec<u8>>;

/// AES-GCM nonce length.
pub const NONCE_LEN: usize = 12;
/// AES-GCM tag length.
pub const TAG_LEN: usize = 16;

/// One version of one key's material, as the replicated state holds it (wrapped).
#[derive(Clone, Copy)]
pub struct MaterialRef<'a> {
    pub key_id: KeyId,
    pub version: u32,
    pub wrapped: &'a [u8],
}

/// The output of sealing under a key: a fresh random nonce and the ciphertext with its tag.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Sealed {
    pub nonce: [u8; NONCE_LEN],
    pub ciphertext: Vec<u8>,
}

/// Why an HSM operation failed. Messages name the problem, never material.
#[derive(Debug, thiserror::Error)]
pub enum HsmError {
    /// The wrapped blob does not unwrap under this node's domain key (wrong domain key, or a
    /// blob of another key or version, or tampered).
    #[error("wrapped key material of key {key_id} version {version} does not unwrap under this node's domain key")]
    Unwrap { key_id: KeyId, version: u32 },
    /// A wrapped secret does not unwrap under this node's domain key.
    #[error("wrapped secret does not unwrap under this node's domain key")]
    UnwrapSecret,
    /// The ciphertext, its nonce or its additional data does not authenticate.
    #[error("ciphertext does not authenticate")]
    Authentication,
    /// The domain key cannot be loaded.
    #[error("domain key: {0}")]
    DomainKey(String),
    /// Material of this spec could not be generated or parsed.
    #[error("key material of spec {0} could not be generated or parsed")]
    Generation(&'static str),
    /// The HSM holds no keys of this spec.
    #[error("key spec {0} is not offered")]
    Spec(&'static str),
    /// The algorithm does not suit the key (the service checks this first).
    #[error("algorithm {0} does not suit the key")]
    Algorithm(&'static str),
    /// A digest whose length is not its hash's.
    #[error("the digest has the wrong length for its algorithm")]
    DigestLength,
    /// A peer public key that is not a public key of the key's curve.
    #[error("the public key is not a {0} public key")]
    PublicKey(&'static str),
    /// A key with no public key (HMAC).
    #[error("the key has no public key")]
    NoPublicKey,
    /// Something the HSM does not do.
    #[error("{0} is not supported")]
    Unsupported(&'static str),
    /// An import token that does not open under this node's domain key (tampered, truncated,
    /// sealed under another domain key) or that was issued for another key.
    #[error("the import token is not valid")]
    InvalidImportToken,
    /// The encrypted key material does not unwrap with the import token's wrapping key.
    #[error("the encrypted key material does not unwrap with the import token's wrapping key")]
    ImportUnwrap,
    /// The unwrapped material is not material of the key's spec; the message says why in
    /// plain words (lengths, sizes, curves), never the material.
    #[error("incorrect key material: {0}")]
    IncorrectKeyMaterial(String),
    /// A wrapping key spec, wrapping algorithm or key spec the HSM does not import with.
    #[error("{0} is not supported for importing key material")]
    ImportUnsupported(&'static str),
    /// The PKCS#11 token or module failed or refused (not found, wrong PIN, a mechanism
    /// missing, the token removed); the message says which, never a PIN or material.
    #[error("PKCS#11 token: {0}")]
    Token(String),
    /// An operation the PKCS#11 backend does not offer yet; it never falls back to software.
    #[error("the PKCS#11 backend does not offer {0} yet")]
    Pkcs11Unsupported(&'static str),
    /// Keys of a spec (or one algorithm with them) the PKCS#11 backend offers but this token
    /// cannot serve: it lacks a mechanism (or a curve, a hash, an RFC 5649 key wrap) they
    /// need, found when it was opened. Refused, never served in software; `what` says which
    /// keys or algorithm ("HMAC_384 keys"), `reason` what is missing and what it is for.
    #[error(
        "the PKCS#11 token cannot serve {what}: {reason}; trent does not fall back to software"
    )]
    Pkcs11Lacks { what: String, reason: String },
}

/// A data key pair (GenerateDataKeyPair): the private key as PKCS#8 DER, zeroized when
/// dropped, and the public key as DER SubjectPublicKeyInfo.
pub struct DataKeyPair {
    pub private_pkcs8: Plaintext,
    pub public_der: Vec<u8>,
}

/// What every HSM backend offers. Operations are synchronous: the soft backend takes
/// microseconds, and a PKCS#11 token is driven from a blocking context by its caller.
pub trait Hsm: Send + Sync + 'static {
    /// Generates 256-bit symmetric material for `key_id` version `version`; returns it
    /// wrapped.
    fn generate_symmetric(&self, key_id: KeyId, version: u32) -> Result<Vec<u8>, HsmError>;

    /// Seals `plaintext` with AES-256-GCM and a fresh random nonce under the key derived from
    /// `key`'s material and `salt`: `AES-256-ECB(material, "T" | 1 | salt || "T" | 2 | salt)`.
    fn encrypt(
        &self,
        key: MaterialRef<'_>,
        salt: &Salt,
        plaintext: &[u8],
        aad: &[u8],
    ) -> Result<Sealed, HsmError>;

    /// [`Hsm::encrypt`], appending `nonce || ciphertext || tag` to `out` (which may already
    /// hold a header), so a caller builds its message in one buffer.
    fn encrypt_append(
        &self,
        key: MaterialRef<'_>,
        salt: &Salt,
        plaintext: &[u8],
        aad: &[u8],
        out: &mut Vec<u8>,
    ) -> Result<(), HsmError> {
        let sealed = self.encrypt(key, salt, plaintext, aad)?;
        out.extend_from_slice(&sealed.nonce);
        out.extend_from_slice(&sealed.ciphertext);
        Ok(())
    }

    /// Opens what [`Hsm::encrypt`] sealed with `salt`; without a salt, what was sealed under
    /// the material itself (blob format 1, which nothing writes any more).
    fn decrypt(
        &self,
        key: MaterialRef<'_>,
        salt: Option<&Salt>,
        nonce: &[u8; NONCE_LEN],
        ciphertext: &[u8],
        aad: &[u8],
    ) -> Result<Plaintext, HsmError>;

    /// Generates material of `spec` (any spec but SYMMETRIC_DEFAULT, which is
    /// [`Hsm::generate_symmetric`], and SM2) for `key_id` version `version`; returns it
    /// wrapped, bound to the key, the version and the spec. RSA generation takes up to
    /// seconds: callers run it off the async runtime.
    fn generate(&self, key_id: KeyId, version: u32, spec: KeySpec) -> Result<Vec<u8>, HsmError>;

    /// The public key of an asymmetric key, as a DER X.509 SubjectPublicKeyInfo.
    fn public_key(&self, key: MaterialRef<'_>, spec: KeySpec) -> Result<Vec<u8>, HsmError>;

    /// Signs `message` (of `message_type`) with the key's private key.
    fn sign(
        &self,
        key: MaterialRef<'_>,
        spec: KeySpec,
        algorithm: SigningAlgorithm,
        message_type: MessageType,
        message: &[u8],
    ) -> Result<Vec<u8>, HsmError>;

    /// Whether `signature` verifies under the key's public key.
    fn verify(
        &self,
        key: MaterialRef<'_>,
        spec: KeySpec,
        algorithm: SigningAlgorithm,
        message_type: MessageType,
        message: &[u8],
        signature: &[u8],
    ) -> Result<bool, HsmError>;

    /// RSAES-OAEP encryption under the key's public key.
    fn encrypt_asymmetric(
        &self,
        key: MaterialRef<'_>,
        spec: KeySpec,
        algorithm: EncryptionAlgorithm,
        plaintext: &[u8],
    ) -> Result<Vec<u8>, HsmError>;

    /// RSAES-OAEP decryption; [`HsmError::Authentication`] when the ciphertext does not open.
    fn decrypt_asymmetric(
        &self,
        key: MaterialRef<'_>,
        spec: KeySpec,
        algorithm: EncryptionAlgorithm,
        ciphertext: &[u8],
    ) -> Result<Plaintext, HsmError>;

    /// The HMAC of `message` under the key.
    fn generate_mac(
        &self,
        key: MaterialRef<'_>,
        spec: KeySpec,
        algorithm: MacAlgorithm,
        message: &[u8],
    ) -> Result<Vec<u8>, HsmError>;

    /// Whether `mac` is the key's HMAC of `message`, compared in constant time.
    fn verify_mac(
        &self,
        key: MaterialRef<'_>,
        spec: KeySpec,
        algorithm: MacAlgorithm,
        message: &[u8],
        mac: &[u8],
    ) -> Result<bool, HsmError>;

    /// ECDH between the key and `peer_public` (DER SubjectPublicKeyInfo): the raw secret.
    fn derive_shared_secret(
        &self,
        key: MaterialRef<'_>,
        spec: KeySpec,
        peer_public: &[u8],
    ) -> Result<Plaintext, HsmError>;

    /// ML-KEM encapsulation to the key: the ciphertext and the shared secret.
    fn encapsulate(
        &self,
        key: MaterialRef<'_>,
        spec: KeySpec,
    ) -> Result<(Vec<u8>, Plaintext), HsmError>;

    /// ML-KEM decapsulation; [`HsmError::Authentication`] for a malformed ciphertext.
    fn decapsulate(
        &self,
        key: MaterialRef<'_>,
        spec: KeySpec,
        ciphertext: &[u8],
    ) -> Result<Plaintext, HsmError>;

    /// A fresh key pair of `spec` that the HSM does not keep (GenerateDataKeyPair).
    fn generate_data_key_pair(&self, spec: KeySpec) -> Result<DataKeyPair, HsmError>;

    /// GetParametersForImport: a fresh RSA wrapping key pair of `wrapping_spec` and a token
    /// sealing its private key with the facts under the domain key, so no state holds
    /// wrapping keys. RSA-4096 generation takes seconds: callers run it off the async runtime.
    /// [`HsmError::ImportUnsupported`] for SM2, RSAES_PKCS1_V1_5 and SM2PKE.
    fn import_parameters(
        &self,
        key_id: KeyId,
        algorithm: WrappingAlgorithm,
        wrapping_spec: WrappingKeySpec,
        valid_to: Millis,
    ) -> Result<ImportParameters, HsmError>;

    /// The facts a token of [`Hsm::import_parameters`] carries, authenticated;
    /// [`HsmError::InvalidImportToken`] if it does not open.
    fn read_import_token(&self, token: &[u8]) -> Result<ImportTokenFacts, HsmError>;

    /// ImportKeyMaterial: unwraps `encrypted` with the token's wrapping key, checks it is
    /// material of `spec`, and wraps it as generated material of `key_id` version `version`
    /// would be, so every operation uses it unchanged. The token must be `key_id`'s; its
    /// expiry is the caller's to check (it holds the cluster's trusted time).
    fn import_material(
        &self,
        token: &[u8],
        encrypted: &[u8],
        key_id: KeyId,
        version: u32,
        spec: KeySpec,
    ) -> Result<ImportedMaterial, HsmError>;

    /// A fresh random salt for [`Hsm::encrypt`].
    fn salt(&self) -> Result<Salt, HsmError>;

    /// Drops every cached version of `key_id` at once (the key was deleted), zeroizing it.
    fn forget_key(&self, key_id: KeyId);

    /// How many unwrapped key versions the cache holds now.
    fn cached_keys(&self) -> usize;

    /// `n` bytes from the HSM's random generator.
    fn random(&self, n: usize) -> Result<Plaintext, HsmError>;

    /// Seals a secret (an access key's secret) under the domain key, bound to `label`.
    fn wrap_secret(&self, label: &[u8], secret: &[u8]) -> Result<Vec<u8>, HsmError>;

    /// Opens what [`Hsm::wrap_secret`] sealed with the same `label`.
    fn unwrap_secret(&self, label: &[u8], wrapped: &[u8]) -> Result<Plaintext, HsmError>;

    /// A fingerprint of the domain key (HMAC-SHA256 under it of a fixed label): the same on
    /// every node holding the same key, different for another key, and no help in finding
    /// the key. Backups record it so a restore under another domain key is refused.
    fn domain_key_fingerprint(&self) -> [u8; 32];

    /// HMAC-SHA256 of `data` under a key derived from the domain key and bound to `purpose`:
    /// only a holder of the domain key can make or check it (backups are sealed this way).
    fn domain_mac(&self, purpose: &[u8], data: &[u8]) -> Result<[u8; 32], HsmError>;

    /// Checks a [`Hsm::domain_mac`] in constant time; an error when the HSM cannot tell (a
    /// failed token), never a guess: a replica applying a restore must not judge its seal
    /// otherwise than its peers.
    fn verify_domain_mac(&self, purpose: &[u8], data: &[u8], mac: &[u8]) -> Result<bool, HsmError>;

    /// The audit signing key's public key, DER SubjectPublicKeyInfo (`audit_key.rs`): ECDSA
    /// P-256, one per domain key, the same on every node (under either backend).
    fn audit_public_key(&self) -> Result<Vec<u8>, HsmError>;

    /// `data` signed with the audit signing key (`SHA256withECDSA`, DER): the audit trail's
    /// digest files.
    fn audit_sign(&self, data: &[u8]) -> Result<Vec<u8>, HsmError>;

    /// The domain key's key-check value: [`Hsm::domain_mac`] of nothing under a purpose of
    /// its own. Equal on every node holding the same domain key, different under another
    /// key, and no help in finding the key. Nodes exchange it when they form or join a
    /// cluster, and the cluster records it, so a node started with another domain key is
    /// refused ("domain key mismatch") before it can join, vote or serve. It detects a
    /// mistake; it authenticates nobody (peer TLS does that).
    fn key_check_value(&self) -> [u8; 32];

    /// Whether the HSM can serve now: a PKCS#11 token that fails (the module erroring, the
    /// token removed or logged out) answers why; the node is unready while it does.
    fn health(&self) -> Result<(), HsmError> {
        Ok(())
    }

    /// Told the key check value the cluster's state records (at start and whenever it may
    /// have changed): a migrating HSM writes under the key it names (`migrating.rs`); any
    /// other holds one key and ignores it.
    fn follow_recorded_key(&self, _recorded: &[u8]) {}

    /// Whether this HSM holds the domain key whose check value is `key_check`: its one key,
    /// or either of a migrating HSM's two.
    fn holds_key_check(&self, key_check: &[u8]) -> bool {
        key_check == self.key_check_value()
    }

    /// The key check value a migration would switch the cluster to: the token's, on a
    /// migrating HSM; `None` on any other.
    fn next_key_check_value(&self) -> Option<[u8; 32]> {
        None
    }

    /// Whether `wrapped` (material or a secret) is under the key a migration leaves, so it
    /// must be rewrapped before that key can go.
    fn is_outgoing(&self, _wrapped: &[u8]) -> bool {
        false
    }

    /// The same material as `key` (of `spec`), wrapped under the key the cluster now writes
    /// with: [`HsmError::Unsupported`] unless this is a migrating HSM whose cluster switched.
    fn rewrap_material(&self, _key: MaterialRef<'_>, _spec: KeySpec) -> Result<Vec<u8>, HsmError> {
        Err(HsmError::Unsupported("rewrapping key material"))
    }

    /// [`Hsm::rewrap_material`] for a secret of [`Hsm::wrap_secret`].
    fn rewrap_secret(&self, _label: &[u8], _wrapped: &[u8]) -> Result<Vec<u8>, HsmError> {
        Err(HsmError::Unsupported("rewrapping a secret"))
    }
}

/// The purpose [`Hsm::key_check_value`] derives its MAC key for.
pub(crate) const KEY_CHECK_PURPOSE: &[u8] = b"trent/domain-key-check/v1";

/// Takes every version of `key_id` out of a cache of key versions (each backend keeps its
/// unwrapped keys in one), handing them back so the caller chooses where they drop.
pub(crate) fn pop_versions<V>(lru: &mut lru::LruCache<(KeyId, u32), V>, key_id: KeyId) -> Vec<V> {
    let slots: Vec<(KeyId, u32)> = lru
        .iter()
        .map(|(slot, _)| *slot)
        .filter(|(id, _)| *id == key_id)
        .collect();
    slots.iter().filter_map(|slot| lru.pop(slot)).collect()
}
