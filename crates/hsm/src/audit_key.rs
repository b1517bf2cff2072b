//! The audit signing key (issue 25): the key that signs the audit trail's digest files, inside
//! the HSM boundary like every other key.
//!
//! Guarantees:
//! - One key per domain key: ECDSA P-256, its private scalar derived from the domain key by
//!   [`Hsm::domain_mac`](crate::Hsm::domain_mac) under a purpose of its own, so every node of
//!   a cluster signs with the same key without it ever being replicated or exported, and a
//!   new leader's digests verify under the key the previous leader published.
//! - The soft backend derives the key when first used and keeps it in memory
//!   ([`AuditKey::derive`]). A PKCS#11 token derives nothing at run time: the scalar is
//!   computed once, when the token is initialized ([`AuditKeyParts::derive`], from the
//!   token's own domain MAC), imported into the token as a non-extractable private key, and
//!   zeroized (`pkcs11/audit.rs`). Both give the same key for the same domain MAC, so tokens
//!   holding the same domain key (the key ceremony) hold the same audit key.
//! - Signatures are `SHA256withECDSA` (ASN.1 DER), which trent-audit's verifier accepts; a
//!   cluster whose domain key changes gets another audit key (its old digests still verify
//!   under the old public key, which an auditor keeps).
//! - The derived scalar and its DER form are zeroized; the key pair lives only inside this
//!   crate (or the token).

use aws_lc_rs::encoding::AsDer;
use aws_lc_rs::rand::SystemRandom;
use aws_lc_rs::signature::{EcdsaKeyPair, KeyPair, ECDSA_P256_SHA256_ASN1_SIGNING};
use zeroize::Zeroizing;

use crate::HsmError;

/// The purpose the scalar is derived under.
const PURPOSE: &[u8] = b"trent/audit-signing-key/p256/v1";
/// RFC 5915 `ECPrivateKey` for P-256 without its public key: the prefix before the 32-byte
/// scalar, and the curve's OID after it.
const SEC1_PREFIX: [u8; 7] = [0x30, 0x31, 0x02, 0x01, 0x01, 0x04, 0x20];
const SEC1_SUFFIX: [u8; 12] = [
    0xa0, 0x0a, 0x06, 0x08, 0x2a, 0x86, 0x48, 0xce, 0x3d, 0x03, 0x01, 0x07,
];

/// The error of every step that cannot make or use the key.
const KEY_ERROR: HsmError = HsmError::Generation("the audit signing key (ECC_NIST_P256)");

/// The scalar and the key pair made of it, with `mac` (a backend's domain MAC, which may
/// fail when it is a token's).
fn derive_pair(
    mut mac: impl FnMut(&[u8], &[u8]) -> Result<[u8; 32], HsmError>,
) -> Result<(Zeroizing<[u8; 32]>, EcdsaKeyPair), HsmError> {
    // A 32-byte value is a valid scalar unless it is 0 or at least the group order
    // (odds about 2^-32); the next counter is tried then.
    for counter in 0u32..16 {
        let scalar = Zeroizing::new(mac(PURPOSE, &counter.to_be_bytes())?);
        let mut der = Zeroizing::new(Vec::with_capacity(51));
        der.extend_from_slice(&SEC1_PREFIX);
        der.extend_from_slice(scalar.as_ref());
        der.extend_from_slice(&SEC1_SUFFIX);
        if let Ok(pair) = EcdsaKeyPair::from_private_key_der(&ECDSA_P256_SHA256_ASN1_SIGNING, &der)
        {
            return Ok((scalar, pair));
        }
    }
    Err(KEY_ERROR)
}

/// DER SubjectPublicKeyInfo of `pair`.
fn spki(pair: &EcdsaKeyPair) -> Result<Vec<u8>, HsmError> {
    pair.public_key()
        .as_der()
        .map(|der| der.as_ref().to_vec())
        .map_err(|_| KEY_ERROR)
}

/// The key, derived with `mac` (the backend's domain MAC).
pub(crate) struct AuditKey {
    pair: EcdsaKeyPair,
}

impl AuditKey {
    pub(crate) fn derive(mac: impl Fn(&[u8], &[u8]) -> [u8; 32]) -> Result<AuditKey, HsmError> {
        let (_, pair) = derive_pair(|purpose, data| Ok(mac(purpose, data)))?;
        Ok(AuditKey { pair })
    }

    /// DER SubjectPublicKeyInfo.
    pub(crate) fn public_key_der(&self) -> Result<Vec<u8>, HsmError> {
        spki(&self.pair)
    }

    pub(crate) fn sign(&self, data: &[u8]) -> Result<Vec<u8>, HsmError> {
        self.pair
            .sign(&SystemRandom::new(), data)
            .map(|s| s.as_ref().to_vec())
            .map_err(|_| KEY_ERROR)
    }
}

/// The key as a token imports it: [`AuditKey::derive`]'s key, in parts. No `Debug`, no
/// `Clone`: the scalar is zeroized when this drops.
pub(crate) struct AuditKeyParts {
    /// The private scalar, big-endian (`CKA_VALUE` of a PKCS#11 EC private key).
    pub(crate) scalar: Zeroizing<[u8; 32]>,
    /// The uncompressed public point (`CKA_EC_POINT`'s contents).
    pub(crate) point: Vec<u8>,
    /// DER SubjectPublicKeyInfo, what [`AuditKey::public_key_der`] answers.
    pub(crate) public_der: Vec<u8>,
}

impl AuditKeyParts {
    /// Derives the key with `mac` (a token's domain MAC, which may fail).
    pub(crate) fn derive(
        mac: impl FnMut(&[u8], &[u8]) -> Result<[u8; 32], HsmError>,
    ) -> Result<AuditKeyParts, HsmError> {
        let (scalar, pair) = derive_pair(mac)?;
        Ok(AuditKeyParts {
            scalar,
            point: pair.public_key().as_ref().to_vec(),
            public_der: spki(&pair)?,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use aws_lc_rs::signature::{UnparsedPublicKey, ECDSA_P256_SHA256_ASN1};

    fn mac_under(key: u8) -> impl Fn(&[u8], &[u8]) -> [u8; 32] {
        move |purpose, data| {
            let mut out = [key; 32];
            for (i, b) in purpose.iter().chain(data).enumerate() {
                out[i % 32] ^= b;
            }
            out
        }
    }

    #[test]
    fn one_domain_key_one_audit_key_whose_signatures_verify() {
        let a = AuditKey::derive(mac_under(7)).unwrap();
        let again = AuditKey::derive(mac_under(7)).unwrap();
        let other = AuditKey::derive(mac_under(8)).unwrap();
        let public = a.public_key_der().unwrap();
        assert_eq!(public, again.public_key_der().unwrap());
        assert_ne!(public, other.public_key_der().unwrap());
        let signature = again.sign(b"digest").unwrap();
        // SubjectPublicKeyInfo: the verifier takes the point, the last 65 bytes.
        let point = &public[public.len() - 65..];
        let key = UnparsedPublicKey::new(&ECDSA_P256_SHA256_ASN1, point);
        assert!(key.verify(b"digest", &signature).is_ok());
        assert!(key.verify(b"digest!", &signature).is_err());
    }

    #[test]
    fn the_parts_a_token_imports_are_the_derived_key() {
        let key = AuditKey::derive(mac_under(7)).unwrap();
        let mac = mac_under(7);
        let parts = AuditKeyParts::derive(|purpose, data| Ok(mac(purpose, data))).unwrap();
        assert_eq!(parts.public_der, key.public_key_der().unwrap());
        assert_eq!(parts.point.len(), 65);
        assert!(parts.public_der.ends_with(&parts.point));
        // The scalar is the first counter's MAC (valid here, as nearly always).
        assert_eq!(*parts.scalar, mac(PURPOSE, &0u32.to_be_bytes()));
        let e = AuditKeyParts::derive(|_, _| Err(HsmError::Token("gone".into())));
        assert!(matches!(e, Err(HsmError::Token(_))));
    }
}
