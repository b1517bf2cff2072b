//! Imported material in the token, once unwrapped (`import.rs`): checked against its spec,
//! wrapped out as generated material of that spec is, and given its check value
//! ([`crate::fingerprint`]).
//!
//! Guarantees: the checks are the soft backend's (`crate::import_check`), made with what
//! the token tells. A token need not record an unwrapped secret's length (SoftHSM2 leaves
//! `CKA_VALUE_LEN` 0), so it is found by wrapping the secret under a key the token derived:
//! RFC 3394 succeeds only for a multiple of 8 bytes, and then tells the length exactly;
//! otherwise RFC 5649 tells it to within the 7 bytes below a multiple of 8 (SoftHSM2 before
//! 2.7 pads a secret with zeros to a multiple of 8 before either, so only that multiple).
//! SYMMETRIC_DEFAULT material is told exactly by the token also using it as an AES key; an
//! HMAC key is refused ([`HsmError::IncorrectKeyMaterial`], as under the soft backend) when
//! no length the token's answer allows is within its spec's bounds, or when the token refuses
//! to MAC with it as shorter than its hash (SoftHSM2 does: its minimum is the spec's); on a
//! token that does neither, one up to 7 bytes short of the minimum passes, and MACs exactly
//! as that key padded with zeros to the minimum does (HMAC pads keys to its block). Nothing here reads a secret value: the check values come from `C_Encrypt`
//! (a key check value) and `C_Sign` (an HMAC), and an RSA key's from its public parts.

use cryptoki::error::{Error, RvError};
use cryptoki::mechanism::Mechanism;
use cryptoki::object::{Attribute, KeyType, ObjectHandle};
use cryptoki::session::Session;
use trent_model::{KeyId, KeySpec, MacAlgorithm};

use super::families::{hmac_mechanism, Kind};
use super::import::{refused_as, UserWrapping};
use super::objects::{self, Temp, Uses};
use super::probes::Padding;
use super::token::fail;
use super::{der, keys, Pkcs11Hsm};
use crate::{fingerprint, HsmError};

/// What an imported key signs or MACs to show it is whole, or stored unchanged.
const SELF_TEST_MESSAGE: &[u8] = b"trent/pkcs11/imported-key-self-test/v1";

/// An RSA key being imported: its spec and modulus size.
#[derive(Clone, Copy)]
pub(super) struct ImportedRsa {
    pub(super) spec: KeySpec,
    pub(super) bits: usize,
}

impl ImportedRsa {
    /// The object an RSA private key is unwrapped into: extractable for its one wrap, able
    /// to sign its self-test.
    pub(super) fn template(self) -> Vec<Attribute> {
        let sign = Uses {
            sign: true,
            ..Uses::default()
        };
        objects::private_key_template(KeyType::RSA, true, sign)
    }

    pub(super) fn incorrect(self) -> HsmError {
        HsmError::IncorrectKeyMaterial(format!(
            "{} key material must be an RSA private key in PKCS#8 form",
            self.spec
        ))
    }
}

/// What the token tells of a secret's length: exact, or a range of at most 8 bytes.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
struct Length {
    low: usize,
    high: usize,
}

impl std::fmt::Display for Length {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self.low == self.high {
            true => write!(f, "{} bytes", self.low),
            false => write!(f, "{} to {} bytes", self.low, self.high),
        }
    }
}

impl Pkcs11Hsm {
    /// The length of the secret `object` (extractable), found by wrapping it under `kek`.
    fn secret_length(
        &self,
        session: &Session,
        kek: ObjectHandle,
        object: ObjectHandle,
    ) -> Result<Length, HsmError> {
        let pads = matches!(self.families.wrap, Some((_, Padding::ZerosTo8)));
        if !pads {
            if let Ok(wrapped) = session.wrap_key(&Mechanism::AesKeyWrap, kek, object) {
                let len = wrapped.len().saturating_sub(8);
                return Ok(Length {
                    low: len,
                    high: len,
                });
            }
        }
        let wrapped = session
            .wrap_key(&self.families.wrap_mechanism(), kek, object)
            .map_err(|e| fail("measuring imported key material", e))?;
        // A token that pads first tells only the multiple of 8; one that does not refused
        // RFC 3394 above, so the secret is under 16 bytes or not a multiple of 8.
        let padded = wrapped.len().saturating_sub(8);
        Ok(Length {
            low: padded.saturating_sub(7).max(1),
            high: if pads || padded <= 8 {
                padded
            } else {
                padded - 1
            },
        })
    }

    /// Imports SYMMETRIC_DEFAULT material: exactly 32 bytes, wrapped as format 3; answers the
    /// blob and the check value. The length is told by the wrap (to within 8 bytes) and by
    /// the token using the material as an AES key, which only 16, 24 and 32 bytes are.
    pub(super) fn import_symmetric(
        &self,
        session: &Session,
        measure: ObjectHandle,
        user: &UserWrapping<'_>,
        (key_id, version): (KeyId, u32),
    ) -> Result<(Vec<u8>, Vec<u8>), HsmError> {
        let len = {
            let bytes = objects::secret_key(KeyType::GENERIC_SECRET, false, true, Uses::default());
            let bytes = self
                .unwrap_user(session, user, &bytes)
                .map_err(|e| e.unwrap_or(HsmError::ImportUnwrap))?;
            self.secret_length(session, measure, bytes.handle)?
        };
        let wrong = |len: Length| {
            HsmError::IncorrectKeyMaterial(format!(
                "SYMMETRIC_DEFAULT key material must be exactly 32 bytes (256 bits); this is {len}"
            ))
        };
        if !(len.low..=len.high).contains(&32) {
            return Err(wrong(len));
        }
        let under_32 = Length { high: 31, ..len };
        let encrypt = Uses {
            encrypt: true,
            ..Uses::default()
        };
        let template = objects::secret_key(KeyType::AES, false, true, encrypt);
        let material = self
            .unwrap_user(session, user, &template)
            .map_err(|e| refused_as(session, e, wrong(under_32)))?;
        let input = fingerprint::symmetric_check_input();
        let check = match session.encrypt(&Mechanism::AesEcb, material.handle, &input) {
            Ok(check) => check,
            Err(_) if len.low < 32 && session.get_session_info().is_ok() => {
                return Err(wrong(under_32))
            }
            Err(e) => return Err(fail("computing imported material's check value", e)),
        };
        let blob = self.seal_material(session, key_id, version, &material)?;
        // The blob gives the same material back.
        let kek = self.kek(session, key_id, version)?;
        let template = objects::secret_key(KeyType::AES, false, false, encrypt);
        let again = session
            .unwrap_key(&Mechanism::AesKeyWrap, kek.handle, &blob[1..], &template)
            .map_err(|e| fail("unwrapping imported material again", e))?;
        let again = Temp::new(session, again);
        let same = session
            .encrypt(&Mechanism::AesEcb, again.handle, &input)
            .map_err(|e| fail("checking imported material's wrap", e))?;
        if same != check {
            return Err(HsmError::Token(
                "the token's wrap of imported material did not give it back".into(),
            ));
        }
        Ok((blob, check))
    }

    /// Imports HMAC material of `spec` (MACs with `algorithm`): its length checked, wrapped
    /// as format 4; answers the blob and the check value.
    pub(super) fn import_hmac(
        &self,
        session: &Session,
        measure: ObjectHandle,
        user: &UserWrapping<'_>,
        (key_id, version, spec): (KeyId, u32, KeySpec),
        algorithm: MacAlgorithm,
    ) -> Result<(Vec<u8>, Vec<u8>), HsmError> {
        let sign = Uses {
            sign: true,
            ..Uses::default()
        };
        let template = objects::secret_key(KeyType::GENERIC_SECRET, false, true, sign);
        let secret = self
            .unwrap_user(session, user, &template)
            .map_err(|e| e.unwrap_or(HsmError::ImportUnwrap))?;
        let len = self.secret_length(session, measure, secret.handle)?;
        let bounds = trent_model::hmac_import_lengths(spec).ok_or(HsmError::Spec(spec.as_str()))?;
        let (min, max) = (*bounds.start(), *bounds.end());
        // Refused here when no length the token's answer allows is within the bounds. A key
        // up to 7 bytes under the minimum passes this, to be refused by a token that refuses
        // HMAC keys shorter than their hash (below); on one that does not, it MACs exactly as
        // that key padded with zeros to the minimum would (HMAC pads keys to its block).
        if len.high < min || len.low > max {
            return Err(HsmError::IncorrectKeyMaterial(format!(
                "{spec} key material must be {min} to {max} bytes long; this is {len}"
            )));
        }
        let (mechanism, _) = hmac_mechanism(algorithm);
        let mac = |key: ObjectHandle, message: &[u8]| {
            session
                .sign(&mechanism, key, message)
                .map_err(|e| fail("computing imported material's check value", e))
        };
        // A token may refuse a key shorter than its hash (SoftHSM2 does): the one length
        // check it makes exactly.
        let check = match session.sign(&mechanism, secret.handle, fingerprint::HMAC_CHECK_MESSAGE) {
            Ok(check) => check,
            Err(Error::Pkcs11(RvError::KeySizeRange, _)) => {
                let short = Length {
                    high: min - 1,
                    ..len
                };
                return Err(HsmError::IncorrectKeyMaterial(format!(
                    "{spec} key material must be {min} to {max} bytes long; this is {short}"
                )));
            }
            Err(e) => return Err(fail("computing imported material's check value", e)),
        };
        let blob = self.seal_key(session, key_id, version, spec, secret.handle, &[])?;
        // The stored key must MAC as the imported one does: a token that pads a key with
        // zeros when it wraps it (SoftHSM2 before 2.7) changes a key longer than its hash's
        // block, which HMAC hashes first.
        let wrapped = keys::parse(&blob).map(|parts| parts.wrapped.to_vec());
        let wrapped =
            wrapped.ok_or_else(|| HsmError::Token("a format-4 blob did not parse".into()))?;
        let kek = self.kek(session, key_id, version)?;
        let stored = session
            .unwrap_key(
                &self.families.wrap_mechanism(),
                kek.handle,
                &wrapped,
                &objects::unwrapped_secret_template(),
            )
            .map_err(|e| fail("unwrapping imported material again", e))?;
        let stored = Temp::new(session, stored);
        if mac(secret.handle, SELF_TEST_MESSAGE)? != mac(stored.handle, SELF_TEST_MESSAGE)? {
            return Err(HsmError::Pkcs11Lacks {
                what: format!("importing {spec} key material of {len}"),
                reason: "the token's RFC 5649 wrap appends zeros to a key up to a multiple of 8 \
                         bytes (SoftHSM2 before 2.7), which changes the MACs of a key longer \
                         than its hash's block; import a key of at most the block (64 bytes for \
                         HMAC_224 and HMAC_256, 128 for the others) or of a multiple of 8 bytes"
                    .into(),
            });
        }
        Ok((blob, check))
    }

    /// The SubjectPublicKeyInfo of an imported RSA key, once its size is the spec's and a
    /// signature it makes verifies under it (a key whose parts do not agree fails here, not
    /// in every later Sign).
    pub(super) fn check_imported_rsa(
        &self,
        session: &Session,
        key: &Temp<'_>,
        target: ImportedRsa,
    ) -> Result<Vec<u8>, HsmError> {
        let spki = keys::spki_of(session, Kind::Rsa(target.bits), key.handle)?;
        let (n, e) = der::rsa_spki_parts(&spki).ok_or_else(|| target.incorrect())?;
        let bits = bit_length(n);
        if bits != target.bits {
            return Err(HsmError::IncorrectKeyMaterial(format!(
                "{} key material must be a {}-bit RSA private key; this one has {bits} bits",
                target.spec, target.bits
            )));
        }
        let signature = session
            .sign(&Mechanism::Sha256RsaPkcs, key.handle, SELF_TEST_MESSAGE)
            .map_err(|_| target.incorrect())?;
        let public = aws_lc_rs::signature::RsaPublicKeyComponents { n, e };
        let algorithm = &aws_lc_rs::signature::RSA_PKCS1_2048_8192_SHA256;
        public
            .verify(algorithm, SELF_TEST_MESSAGE, &signature)
            .map_err(|_| {
                HsmError::IncorrectKeyMaterial(format!(
                    "{} key material is not a consistent RSA private key (its signature does \
                     not verify under its public key)",
                    target.spec
                ))
            })?;
        Ok(spki)
    }
}

/// The bit length of a big-endian unsigned integer.
fn bit_length(n: &[u8]) -> usize {
    let n = &n[n.iter().take_while(|b| **b == 0).count()..];
    match n.first() {
        Some(first) => n.len() * 8 - first.leading_zeros() as usize,
        None => 0,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bit_lengths_ignore_leading_zeros() {
        assert_eq!(bit_length(&[0, 0x80, 0]), 16);
        assert_eq!(bit_length(&[0x7f, 0]), 15);
        assert_eq!(bit_length(&[0, 0]), 0);
    }

    #[test]
    fn lengths_read_as_exact_or_a_range() {
        assert_eq!(Length { low: 32, high: 32 }.to_string(), "32 bytes");
        assert_eq!(Length { low: 25, high: 32 }.to_string(), "25 to 32 bytes");
    }
}
