//! Importing key material into the token (AWS KMS BYOK on the PKCS#11 backend):
//! GetParametersForImport's wrapping key pair and token, ImportKeyMaterial's unwrapping.
//!
//! Guarantees: the RSA wrapping key pair is generated in the token; its private key leaves it
//! once, wrapped (RFC 5649) under a key the token derives from the domain key and the import
//! token's id (`I` blocks), inside the import token, so no state holds wrapping keys and any
//! node whose token holds the same domain key redeems the token. The token's facts are in
//! the clear and bound by a domain MAC (`trent/pkcs11/import-token/v1`), with the wrapped
//! key: a token tampered with, truncated, made under another domain key or for another key
//! is [`HsmError::InvalidImportToken`]. The user's material is unwrapped by the token
//! (`C_UnwrapKey` with RSA-OAEP, then RFC 5649 for the RSA_AES_KEY_WRAP algorithms) into
//! session objects; trentd never holds it. It is checked there (a secret's length, an RSA
//! key's size and a signature it makes, verified outside against its public key), wrapped
//! out as generated material of its spec is (formats 3 and 4), and fingerprinted as the soft
//! backend fingerprints it ([`crate::fingerprint`]). Every object is destroyed before the
//! call returns.
//!
//! Served: SYMMETRIC_DEFAULT, HMAC, RSA and ECC material (`imported.rs`, `imported_ec.rs`),
//! with the hashes the token's `CKM_RSA_PKCS_OAEP` takes (SoftHSM2 2.6: SHA-1 only; the
//! SHA-256 algorithms are refused by name, [`HsmError::Pkcs11Lacks`]).
//!
//! Token: `[2][payload][tag 32]`, payload as the soft backend's (`crate::import`) with the
//! wrapped private key in place of its PKCS#8, tag the domain MAC of everything before it.

use cryptoki::mechanism::Mechanism;
use cryptoki::object::{Attribute, KeyType, ObjectHandle};
use cryptoki::session::Session;
use trent_model::{KeyId, KeySpec, Millis, WrappingAlgorithm, WrappingKeySpec};

use super::families::{oaep_mechanism, Kind};
use super::imported::ImportedRsa;
use super::imported_ec;
use super::objects::{self, Temp, Uses};
use super::ops::refused_input;
use super::token::fail;
use super::{keys, Pkcs11Hsm};
use crate::import::{
    self, wrapping_key_spec, wrapping_oaep, ImportParameters, ImportTokenFacts, ImportedMaterial,
};
use crate::{fingerprint, HsmError};

/// First byte of this backend's import tokens (the soft backend's are sealed secrets).
const TOKEN_FORMAT: u8 = 2;
const TAG_PURPOSE: &[u8] = b"trent/pkcs11/import-token/v1";
const TAG_LEN: usize = 32;

impl Pkcs11Hsm {
    /// [`crate::Hsm::import_parameters`] in the token.
    pub(super) fn import_params(
        &self,
        key_id: KeyId,
        algorithm: WrappingAlgorithm,
        wrapping_spec: WrappingKeySpec,
        valid_to: Millis,
    ) -> Result<ImportParameters, HsmError> {
        let bits = self.wrapping_bits(wrapping_spec)?;
        self.import_oaep(algorithm)?;
        let session = self.token.session();
        let generated = |e| fail(format_args!("generating a {wrapping_spec} wrapping key"), e);
        let mut public = objects::public_key_template(KeyType::RSA, Uses::default());
        public.push(Attribute::ModulusBits((bits as u64).into()));
        public.push(Attribute::PublicExponent(vec![1, 0, 1]));
        let private = objects::private_key_template(KeyType::RSA, true, Uses::default());
        let (public, private) = session
            .generate_key_pair(&Mechanism::RsaPkcsKeyPairGen, &public, &private)
            .map_err(generated)?;
        let (public, private) = (Temp::new(&session, public), Temp::new(&session, private));
        let public_key = keys::spki_of(&session, Kind::Rsa(bits), public.handle)?;
        let mut token_id = [0u8; 16];
        session
            .generate_random_slice(&mut token_id)
            .map_err(|e| fail("drawing an import token id from the token", e))?;
        let kek = self.import_kek(&session, &token_id)?;
        let wrapped = session
            .wrap_key(&self.families.wrap_mechanism(), kek.handle, private.handle)
            .map_err(|e| fail("wrapping an import token's private key", e))?;
        let facts = ImportTokenFacts {
            token_id,
            key_id,
            algorithm,
            wrapping_spec,
            valid_to,
        };
        let mut token = vec![TOKEN_FORMAT];
        token.extend_from_slice(&import::encode(&facts, &wrapped));
        let tag = self.mac_with(&session, TAG_PURPOSE, &token)?;
        token.extend_from_slice(&tag);
        Ok(ImportParameters {
            public_key,
            token,
            facts,
        })
    }

    /// [`crate::Hsm::read_import_token`]: the facts of a token this backend made under this
    /// domain key, and its wrapped private key.
    pub(super) fn import_token(
        &self,
        token: &[u8],
    ) -> Result<(ImportTokenFacts, Vec<u8>), HsmError> {
        let body = token
            .len()
            .checked_sub(TAG_LEN)
            .and_then(|n| token.get(..n))
            .filter(|body| body.first() == Some(&TOKEN_FORMAT))
            .ok_or(HsmError::InvalidImportToken)?;
        let tag = self.mac(TAG_PURPOSE, body)?;
        if aws_lc_rs::constant_time::verify_slices_are_equal(&tag, &token[body.len()..]).is_err() {
            return Err(HsmError::InvalidImportToken);
        }
        let (facts, wrapped) = import::decode(&body[1..]).ok_or(HsmError::InvalidImportToken)?;
        Ok((facts, wrapped.to_vec()))
    }

    /// [`crate::Hsm::import_material`] in the token.
    pub(super) fn import_key_material(
        &self,
        token: &[u8],
        encrypted: &[u8],
        key_id: KeyId,
        version: u32,
        spec: KeySpec,
    ) -> Result<ImportedMaterial, HsmError> {
        let (facts, wrapped_private) = self.import_token(token)?;
        if facts.key_id != key_id {
            return Err(HsmError::InvalidImportToken);
        }
        crate::import_check::suits(spec, facts.algorithm)?;
        let kind = match spec {
            KeySpec::SymmetricDefault => None,
            _ => Some(self.families.check(spec)?),
        };
        if matches!(kind, Some(Kind::Ed25519)) {
            // No AWS key spec imports Ed25519 material; kept apart should one come.
            return Err(HsmError::ImportUnsupported(spec.as_str()));
        }
        let oaep = self.import_oaep(facts.algorithm)?;
        let modulus_len = self.wrapping_bits(facts.wrapping_spec)? / 8;
        let two_step = matches!(
            facts.algorithm,
            WrappingAlgorithm::RsaAesKeyWrapSha1 | WrappingAlgorithm::RsaAesKeyWrapSha256
        );
        let session = self.token.session();
        let kek = self.import_kek(&session, &facts.token_id)?;
        let mut unwrapping = objects::private_key_template(KeyType::RSA, false, Uses::default());
        unwrapping.retain(|a| !matches!(a, Attribute::Unwrap(_)));
        unwrapping.push(Attribute::Unwrap(true));
        let mechanism = self.families.wrap_mechanism();
        let private =
            match session.unwrap_key(&mechanism, kek.handle, &wrapped_private, &unwrapping) {
                Ok(handle) => Temp::new(&session, handle),
                Err(e) if refused_input(&session, &e) => return Err(HsmError::InvalidImportToken),
                Err(e) => return Err(fail("unwrapping an import token's private key", e)),
            };
        let user = UserWrapping {
            private: private.handle,
            oaep,
            modulus_len,
            two_step,
            encrypted,
        };
        let (blob, check) = match kind {
            None => self.import_symmetric(&session, kek.handle, &user, (key_id, version))?,
            Some(Kind::Hmac { algorithm, .. }) => {
                let to = (key_id, version, spec);
                self.import_hmac(&session, kek.handle, &user, to, algorithm)?
            }
            Some(Kind::Rsa(size)) => {
                let target = ImportedRsa { spec, bits: size };
                let key = self.unwrap_user_private(&session, &user, target.template())?;
                let key = key.map_err(|_| target.incorrect())?;
                let public = self.check_imported_rsa(&session, &key, target)?;
                let blob = self.seal_key(&session, key_id, version, spec, key.handle, &public)?;
                (blob, public)
            }
            Some(Kind::Ec(curve)) => {
                let key = self.unwrap_user_private(&session, &user, imported_ec::template())?;
                let key = key.map_err(|_| imported_ec::incorrect(spec))?;
                let public = self.imported_ec_public(&session, &key, spec, curve)?;
                let blob = self.seal_key(&session, key_id, version, spec, key.handle, &public)?;
                (blob, public)
            }
            Some(Kind::Ed25519) => unreachable!("refused above"),
        };
        Ok(ImportedMaterial {
            blob,
            fingerprint: fingerprint::of(key_id, &check),
            earlier_fingerprint: None,
        })
    }

    /// The modulus size of a wrapping key spec the token can make.
    fn wrapping_bits(&self, spec: WrappingKeySpec) -> Result<usize, HsmError> {
        match self.families.check(wrapping_key_spec(spec)?) {
            Ok(Kind::Rsa(bits)) => Ok(bits),
            Ok(_) => Err(HsmError::Spec(spec.as_str())),
            Err(HsmError::Pkcs11Lacks { reason, .. }) => Err(HsmError::Pkcs11Lacks {
                what: format!("{spec} wrapping keys"),
                reason,
            }),
            Err(e) => Err(e),
        }
    }

    /// The token's RSA-OAEP mechanism of a wrapping algorithm, if the token takes its hash.
    fn import_oaep(&self, algorithm: WrappingAlgorithm) -> Result<Mechanism<'static>, HsmError> {
        let oaep = wrapping_oaep(algorithm)?;
        if let Some((_, reason)) = self.families.oaep_refused.iter().find(|(a, _)| *a == oaep) {
            return Err(HsmError::Pkcs11Lacks {
                what: format!("the {algorithm} wrapping algorithm"),
                reason: reason.clone(),
            });
        }
        Ok(oaep_mechanism(oaep).expect("an OAEP algorithm"))
    }

    /// The wrapping key of the import token `token_id`, derived from the domain key in two
    /// steps as a key version's is (`objects::version_kek`), under label `I`.
    fn import_kek<'s>(
        &self,
        session: &'s Session,
        token_id: &[u8; 16],
    ) -> Result<Temp<'s>, HsmError> {
        objects::two_step_kek(
            session,
            self.token.ecb_derive(),
            self.domain,
            b'I',
            &token_id[..14],
            &token_id[14..],
        )
        .map(|handle| Temp::new(session, handle))
        .map_err(|e| fail("deriving an import token's wrapping key", e))
    }

    /// The user's private key, as an object of `template` (extractable for its one wrap):
    /// `Ok(Err(()))` if the material unwraps but is no key of that type, which is incorrect
    /// material, not a failed unwrap.
    fn unwrap_user_private<'s>(
        &self,
        session: &'s Session,
        user: &UserWrapping<'_>,
        template: Vec<Attribute>,
    ) -> Result<Result<Temp<'s>, ()>, HsmError> {
        // First as bytes, which only the RFC 5649 integrity check can refuse.
        let plain = objects::secret_key(KeyType::GENERIC_SECRET, false, false, Uses::default());
        drop(
            self.unwrap_user(session, user, &plain)
                .map_err(|e| e.unwrap_or(HsmError::ImportUnwrap))?,
        );
        match self.unwrap_user(session, user, &template) {
            Ok(key) => Ok(Ok(key)),
            Err(e) => match refused_as(session, e, HsmError::ImportUnwrap) {
                HsmError::ImportUnwrap => Ok(Err(())),
                failed => Err(failed),
            },
        }
    }

    /// `encrypted` unwrapped into an object of `template`: RSA-OAEP under the wrapping key
    /// (RSAES_OAEP_*), or RSA-OAEP of an ephemeral AES key followed by RFC 5649 under it
    /// (RSA_AES_KEY_WRAP_*). `Err(None)`: the token refused the input.
    pub(super) fn unwrap_user<'s>(
        &self,
        session: &'s Session,
        user: &UserWrapping<'_>,
        template: &[Attribute],
    ) -> Result<Temp<'s>, Option<HsmError>> {
        let unwrap =
            |mechanism: &Mechanism<'_>, key: ObjectHandle, bytes: &[u8], t: &[Attribute]| {
                match session.unwrap_key(mechanism, key, bytes, t) {
                    Ok(handle) => Ok(Temp::new(session, handle)),
                    Err(e) if refused_input(session, &e) => Err(None),
                    Err(e) => Err(Some(fail("unwrapping imported key material", e))),
                }
            };
        if !user.two_step {
            return unwrap(&user.oaep, user.private, user.encrypted, template);
        }
        let (wrapped_key, wrapped) = user
            .encrypted
            .split_at_checked(user.modulus_len)
            .ok_or(None)?;
        let ephemeral = objects::secret_key(
            KeyType::AES,
            false,
            false,
            Uses {
                wrap: true,
                ..Uses::default()
            },
        );
        let aes = unwrap(&user.oaep, user.private, wrapped_key, &ephemeral)?;
        unwrap(
            &self.families.wrap_mechanism(),
            aes.handle,
            wrapped,
            template,
        )
    }
}

/// What a refusal of a second unwrap means: the first unwrap of the same bytes passed the
/// integrity check, so if the token still answers (SoftHSM2 says `CKR_FUNCTION_FAILED` for
/// bytes that are no key of the template's type), the material is not of the spec.
pub(super) fn refused_as(session: &Session, e: Option<HsmError>, incorrect: HsmError) -> HsmError {
    match e {
        Some(e) if session.get_session_info().is_err() => e,
        _ => incorrect,
    }
}

/// How the user's material is wrapped: under the token's private key `private` (RSA-OAEP with
/// `oaep`, a modulus of `modulus_len` bytes), alone or (`two_step`) followed by RFC 5649.
pub(super) struct UserWrapping<'a> {
    private: ObjectHandle,
    oaep: Mechanism<'static>,
    modulus_len: usize,
    two_step: bool,
    encrypted: &'a [u8],
}
