//! The objects trent creates in a token, their attribute sets, and the derivations and wrapped
//! blob format built on them.
//!
//! Guarantees: every secret and private key has `CKA_SENSITIVE` true (its value never leaves
//! the token in plaintext) and exactly the uses its role needs (all others explicitly false);
//! public keys carry only the verify and encrypt uses of their key; every object but the
//! domain key and the audit key pair (`audit.rs`) is a session object (`CKA_TOKEN` false: gone
//! when its session closes, never on the token's storage); those three are token objects,
//! not modifiable, not copyable; every secret and private key is `CKA_EXTRACTABLE` false except
//! freshly generated material or a freshly generated private key, which must be wrappable
//! once by its key-version wrapping key and is destroyed right after (a [`Temp`]). Derived
//! keys are computed by the token (`CKM_AES_ECB_ENCRYPT_DATA`) from inputs built here, never
//! from bytes trent holds. The exceptions to "no known bytes in the token" are the start-up
//! known-answer tests of the RFC 5649 wrap ([`known_value_template`]: a fixed, public AES key
//! and secret, used for one `C_WrapKey`) and of EdDSA (`edwards.rs`: a fixed, public Ed25519
//! key, used for two signatures), each destroyed at once, and the two keys an initialization
//! may import (`ceremony.rs`): the domain key combined from key components, and the audit
//! key's scalar derived from the domain MAC, each carried by a [`ValueTemplate`] that zeroizes
//! it. The one exception to "sensitive" is an ECDH shared secret (`agree.rs`), read because
//! DeriveSharedSecret answers it and destroyed at once.
//!
//! Wrapped material of this backend (blob format 3): `[3][RFC 3394 AES key wrap (40 bytes)]`
//! of the 32-byte material under `KEK(key id, version)`, a key the token derives from the
//! domain key (below). Binding: a blob unwraps only under the KEK of its own key id and
//! version (RFC 3394's 64-bit integrity check fails under any other), as the soft backend's
//! formats 1 and 2 bind them through AES-GCM's additional data. Format 4 (other specs) is
//! `keys.rs`'s.

use cryptoki::error::Error;
use cryptoki::mechanism::misc::KeyDerivationStringData;
use cryptoki::mechanism::vendor_defined::VendorDefinedMechanism;
use cryptoki::mechanism::{Mechanism, MechanismType};
use cryptoki::object::{Attribute, KeyType, ObjectClass, ObjectHandle};
use cryptoki::session::Session;
use trent_model::KeyId;
use zeroize::Zeroize;

/// First byte of material wrapped by this backend (the soft backend's are 1 and 2).
pub(crate) const WRAP_FORMAT_PKCS11: u8 = 3;
/// RFC 3394 output for 32 bytes of material.
pub(crate) const WRAPPED_KEY_LEN: usize = 40;
/// A whole format-3 blob.
pub(crate) const WRAPPED_LEN: usize = 1 + WRAPPED_KEY_LEN;

/// What an object may be used for. Every use not named is set false explicitly.
#[derive(Clone, Copy, Default)]
pub(crate) struct Uses {
    pub derive: bool,
    pub wrap: bool,
    pub encrypt: bool,
    pub decrypt: bool,
    pub sign: bool,
}

impl Uses {
    pub(crate) const DERIVE: Uses = Uses {
        derive: true,
        wrap: false,
        encrypt: false,
        decrypt: false,
        sign: false,
    };
}

/// A secret key's attribute set: class, type, session or token object, sensitive, not
/// extractable unless `extractable`, and exactly `uses`.
pub(crate) fn secret_key(
    key_type: KeyType,
    token: bool,
    extractable: bool,
    uses: Uses,
) -> Vec<Attribute> {
    vec![
        Attribute::Class(ObjectClass::SECRET_KEY),
        Attribute::KeyType(key_type),
        Attribute::Token(token),
        Attribute::Private(true),
        Attribute::Sensitive(true),
        Attribute::Extractable(extractable),
        Attribute::Derive(uses.derive),
        Attribute::Wrap(uses.wrap),
        Attribute::Unwrap(uses.wrap),
        Attribute::Encrypt(uses.encrypt),
        Attribute::Decrypt(uses.decrypt),
        Attribute::Sign(uses.sign),
        Attribute::Verify(uses.sign),
    ]
}

/// The domain key (`ceremony.rs`): a token object, AES-256, used only to derive the keys
/// below; not modifiable, not copyable, never extractable.
pub(crate) fn domain_key_template(label: &str) -> Vec<Attribute> {
    let mut t = secret_key(KeyType::AES, true, false, Uses::DERIVE);
    t.extend([
        Attribute::ValueLen(32.into()),
        Attribute::Label(label.as_bytes().to_vec()),
        Attribute::Modifiable(false),
        Attribute::Copyable(false),
    ]);
    t
}

/// The domain key created from its value (the key ceremony, `ceremony.rs`): the attributes
/// of [`domain_key_template`] but `CKA_VALUE_LEN`, which a token takes from the value.
pub(crate) fn domain_key_value_template(label: &str, value: &[u8; 32]) -> ValueTemplate {
    let mut t = domain_key_template(label);
    t.retain(|a| !matches!(a, Attribute::ValueLen(_)));
    ValueTemplate::new(t, value)
}

/// `template` (a session object's) as a token object labelled `label`, not modifiable and
/// not copyable, as the domain key is: the audit key pair (`audit.rs`).
pub(crate) fn token_object(mut template: Vec<Attribute>, label: &str) -> Vec<Attribute> {
    template.retain(|a| !matches!(a, Attribute::Token(_)));
    template.extend([
        Attribute::Token(true),
        Attribute::Label(label.as_bytes().to_vec()),
        Attribute::Modifiable(false),
        Attribute::Copyable(false),
    ]);
    template
}

/// A template carrying a secret `CKA_VALUE` for `C_CreateObject`: the value's buffer is
/// zeroized when this drops, whether the object was created or not. (cryptoki hands the
/// token a pointer into that buffer; nothing else copies it.)
pub(crate) struct ValueTemplate(Vec<Attribute>);

impl ValueTemplate {
    pub(crate) fn new(mut template: Vec<Attribute>, value: &[u8]) -> ValueTemplate {
        template.push(Attribute::Value(value.to_vec()));
        ValueTemplate(template)
    }

    pub(crate) fn attributes(&self) -> &[Attribute] {
        &self.0
    }
}

impl Drop for ValueTemplate {
    fn drop(&mut self) {
        for attribute in &mut self.0 {
            if let Attribute::Value(value) = attribute {
                value.zeroize();
            }
        }
    }
}

/// Freshly generated material: the one extractable object, so its KEK can wrap it; it lives
/// for one `C_WrapKey` and is destroyed.
pub(crate) fn generated_material_template() -> Vec<Attribute> {
    let mut t = secret_key(KeyType::AES, false, true, Uses::default());
    t.push(Attribute::ValueLen(32.into()));
    t
}

/// A freshly generated HMAC key of `len` bytes: extractable for its one wrap, no other use.
pub(crate) fn generated_secret_template(len: usize) -> Vec<Attribute> {
    let mut t = secret_key(KeyType::GENERIC_SECRET, false, true, Uses::default());
    t.push(Attribute::ValueLen((len as u64).into()));
    t
}

/// An HMAC key unwrapped for use: sign and verify (MACs) only, never extractable.
pub(crate) fn unwrapped_secret_template() -> Vec<Attribute> {
    secret_key(
        KeyType::GENERIC_SECRET,
        false,
        false,
        Uses {
            sign: true,
            ..Uses::default()
        },
    )
}

/// A private key: a session object, sensitive, extractable only if `extractable` (a freshly
/// generated key, for its one wrap), used only to sign, decrypt and derive (ECDH) as `uses`
/// says; never to unwrap or recover.
pub(crate) fn private_key_template(
    key_type: KeyType,
    extractable: bool,
    uses: Uses,
) -> Vec<Attribute> {
    vec![
        Attribute::Class(ObjectClass::PRIVATE_KEY),
        Attribute::KeyType(key_type),
        Attribute::Token(false),
        Attribute::Private(true),
        Attribute::Sensitive(true),
        Attribute::Extractable(extractable),
        Attribute::Sign(uses.sign),
        Attribute::SignRecover(false),
        Attribute::Decrypt(uses.decrypt),
        Attribute::Derive(uses.derive),
        Attribute::Unwrap(false),
    ]
}

/// A public key: a session object used only to verify and encrypt as `uses` says; never to
/// wrap or derive. Its attributes are public by nature (the point, the modulus).
pub(crate) fn public_key_template(key_type: KeyType, uses: Uses) -> Vec<Attribute> {
    vec![
        Attribute::Class(ObjectClass::PUBLIC_KEY),
        Attribute::KeyType(key_type),
        Attribute::Token(false),
        Attribute::Private(true),
        Attribute::Verify(uses.sign),
        Attribute::VerifyRecover(false),
        Attribute::Encrypt(uses.encrypt),
        Attribute::Wrap(false),
        Attribute::Derive(false),
    ]
}

/// A key of known, public value for the start-up known-answer test of the RFC 5649 wrap:
/// the wrapping key (`uses.wrap`) or the key it wraps (`extractable`). Destroyed after it.
pub(crate) fn known_value_template(
    key_type: KeyType,
    extractable: bool,
    uses: Uses,
    value: &[u8],
) -> Vec<Attribute> {
    let mut t = secret_key(key_type, false, extractable, uses);
    t.push(Attribute::Value(value.to_vec()));
    t
}

/// Material unwrapped for use (the cache's objects): derives per-ciphertext keys, and
/// decrypts format-1 blobs sealed under the material itself.
pub(crate) fn unwrapped_material_template() -> Vec<Attribute> {
    secret_key(
        KeyType::AES,
        false,
        false,
        Uses {
            derive: true,
            decrypt: true,
            ..Uses::default()
        },
    )
}

/// A derived AES-256 key with `uses`; `CKA_VALUE_LEN` 32 takes the whole 32-byte output.
pub(crate) fn derived_aes_template(uses: Uses) -> Vec<Attribute> {
    let mut t = secret_key(KeyType::AES, false, false, uses);
    t.push(Attribute::ValueLen(32.into()));
    t
}

/// The derived HMAC key of `domain_mac`.
pub(crate) fn derived_mac_template() -> Vec<Attribute> {
    let mut t = secret_key(
        KeyType::GENERIC_SECRET,
        false,
        false,
        Uses {
            sign: true,
            ..Uses::default()
        },
    );
    t.push(Attribute::ValueLen(32.into()));
    t
}

/// Two derivation blocks `label | counter | payload (zero padded)`, counters `first` and
/// `first + 1`: the shape of the per-ciphertext derivation (`crate::derive`), so every input
/// the domain key or material encrypts is two distinct blocks told apart by label.
pub(crate) fn blocks(label: u8, first: u8, payload: &[u8]) -> [u8; 32] {
    assert!(
        payload.len() <= 14,
        "a derivation payload is at most 14 bytes"
    );
    let mut input = [0u8; 32];
    for (i, block) in input.chunks_exact_mut(16).enumerate() {
        block[0] = label;
        block[1] = first + i as u8;
        block[2..2 + payload.len()].copy_from_slice(payload);
    }
    input
}

/// `C_DeriveKey(CKM_AES_ECB_ENCRYPT_DATA, data)` from `base`: AES-ECB of `data` under the
/// base key, inside the token, as a new object of `template`.
pub(crate) fn ecb_derive(
    session: &Session,
    ecb: MechanismType,
    base: ObjectHandle,
    data: &[u8; 32],
    template: &[Attribute],
) -> Result<ObjectHandle, Error> {
    let params = KeyDerivationStringData::new(data);
    let mechanism = Mechanism::VendorDefined(VendorDefinedMechanism::new(ecb, Some(&params)));
    session.derive_key(&mechanism, base, template)
}

/// The wrapping key of one key version, derived in two steps so every byte of the key id and
/// version is bound (a block carries 14): `K1 = ECB(domain, W|1|version|id[..10],
/// W|2|version|id[..10])`, `KEK = ECB(K1, W|3|id[10..], W|4|id[10..])`. The caller owns the
/// returned object (a [`Temp`]); `K1` is destroyed here.
pub(crate) fn version_kek(
    session: &Session,
    ecb: MechanismType,
    domain: ObjectHandle,
    key_id: KeyId,
    version: u32,
) -> Result<ObjectHandle, Error> {
    let id = key_id.0.as_bytes();
    let mut first = [0u8; 14];
    first[..4].copy_from_slice(&version.to_be_bytes());
    first[4..].copy_from_slice(&id[..10]);
    two_step_kek(session, ecb, domain, b'W', &first, &id[10..])
}

/// A wrapping key derived from `domain` in two ECB steps under `label`: `K1 = ECB(domain,
/// label|1|first, label|2|first)`, `KEK = ECB(K1, label|3|second, label|4|second)` (each of
/// `first` and `second` at most 14 bytes, a block's room). The caller owns the returned
/// object; `K1` is destroyed here. Key versions use label `W`, import tokens `I`.
pub(crate) fn two_step_kek(
    session: &Session,
    ecb: MechanismType,
    domain: ObjectHandle,
    label: u8,
    first: &[u8],
    second: &[u8],
) -> Result<ObjectHandle, Error> {
    let k1 = Temp::new(
        session,
        ecb_derive(
            session,
            ecb,
            domain,
            &blocks(label, 1, first),
            &derived_aes_template(Uses::DERIVE),
        )?,
    );
    ecb_derive(
        session,
        ecb,
        k1.handle,
        &blocks(label, 3, second),
        &derived_aes_template(Uses {
            wrap: true,
            ..Uses::default()
        }),
    )
}

/// A session object destroyed when dropped (derived keys, fresh material, KEKs).
pub(crate) struct Temp<'s> {
    session: &'s Session,
    pub(crate) handle: ObjectHandle,
}

impl<'s> Temp<'s> {
    pub(crate) fn new(session: &'s Session, handle: ObjectHandle) -> Temp<'s> {
        Temp { session, handle }
    }

    /// The object, kept: its new owner (a cache entry) destroys it.
    pub(crate) fn keep(self) -> ObjectHandle {
        let handle = self.handle;
        std::mem::forget(self);
        handle
    }
}

impl Drop for Temp<'_> {
    fn drop(&mut self) {
        match self.session.destroy_object(self.handle) {
            Ok(()) => super::token::note_destroyed(),
            Err(e) => tracing::warn!(error = %e, "destroying a temporary PKCS#11 object failed"),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::Salt;

    #[test]
    fn the_ciphertext_derivation_blocks_are_the_soft_backends() {
        let salt: Salt = *b"0123456789abcd";
        assert_eq!(
            blocks(b'T', 1, &salt),
            crate::derive::derivation_input(&salt)
        );
    }

    #[test]
    fn kek_inputs_differ_by_label_and_counter() {
        let a = blocks(b'W', 1, &[0; 14]);
        let b = blocks(b'W', 3, &[0; 14]);
        let blocks_of = |x: [u8; 32]| [x[..16].to_vec(), x[16..].to_vec()];
        let all: Vec<Vec<u8>> = blocks_of(a).into_iter().chain(blocks_of(b)).collect();
        for (i, x) in all.iter().enumerate() {
            for y in &all[i + 1..] {
                assert_ne!(x, y);
            }
        }
    }
}
