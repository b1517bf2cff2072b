//! Imported ECC private keys in the token (`import.rs`): their curve checked, and their
//! public key found, which GetPublicKey answers and the blob carries.
//!
//! A token keeps no public point with a private key it unwraps (SoftHSM2's private EC objects
//! have no `CKA_EC_POINT`), and the point must not be computed from the scalar outside the
//! token. So the token computes it: ECDH of the key with its curve's generator G is the
//! x-coordinate of `d·G`, the public point (`CKM_ECDH1_DERIVE`, read as DeriveSharedSecret's
//! answer is, `agree.rs`). Of the two points with that x, the public key is the one under
//! which a signature the key makes in the token verifies (aws-lc decompresses each and checks
//! it is on the curve). So a key that is not one (a scalar that makes no valid signature)
//! fails here, as [`HsmError::IncorrectKeyMaterial`], not in every later Sign.
//!
//! Guarantees: the curve is the spec's (`CKA_EC_PARAMS` of the unwrapped key), else the
//! material is refused naming the curve it is on, as under the soft backend; the public key
//! answered is the SubjectPublicKeyInfo aws-lc would give for the same key; the scalar never
//! leaves the token.

use aws_lc_rs::digest;
use aws_lc_rs::signature::{EcdsaVerificationAlgorithm, UnparsedPublicKey};
use cryptoki::mechanism::Mechanism;
use cryptoki::object::{Attribute, AttributeType, KeyType};
use cryptoki::session::Session;
use trent_model::KeySpec;

use super::agree;
use super::der;
use super::families::{kind, Curve, Kind};
use super::objects::{self, Temp, Uses};
use super::token::fail;
use super::Pkcs11Hsm;
use crate::asymmetric::{family, Family};
use crate::HsmError;

/// The ECC specs material may be imported as, to name the curve of a key given as another.
const EC_SPECS: [KeySpec; 4] = [
    KeySpec::EccNistP256,
    KeySpec::EccNistP384,
    KeySpec::EccNistP521,
    KeySpec::EccSecgP256k1,
];

/// What the key signs to tell its public point from the other with the same x.
const SELF_TEST_MESSAGE: &[u8] = b"trent/pkcs11/imported-ec-self-test/v1";

/// The object an ECC private key is unwrapped into: extractable for its one wrap, able to
/// sign its self-test and to agree with the generator.
pub(super) fn template() -> Vec<Attribute> {
    let uses = Uses {
        sign: true,
        derive: true,
        ..Uses::default()
    };
    objects::private_key_template(KeyType::EC, true, uses)
}

pub(super) fn incorrect(spec: KeySpec) -> HsmError {
    HsmError::IncorrectKeyMaterial(format!(
        "{spec} key material must be an elliptic curve private key in PKCS#8 form"
    ))
}

/// aws-lc's NID of the curve of `spec`, the hash and verification algorithm its
/// self-test uses (the spec's own, as the soft backend's).
fn curve_facts(
    spec: KeySpec,
) -> Option<(
    i32,
    &'static digest::Algorithm,
    &'static EcdsaVerificationAlgorithm,
)> {
    let (nid, hash) = match spec {
        KeySpec::EccNistP256 => (aws_lc_sys::NID_X9_62_prime256v1, &digest::SHA256),
        KeySpec::EccNistP384 => (aws_lc_sys::NID_secp384r1, &digest::SHA384),
        KeySpec::EccNistP521 => (aws_lc_sys::NID_secp521r1, &digest::SHA512),
        KeySpec::EccSecgP256k1 => (aws_lc_sys::NID_secp256k1, &digest::SHA256),
        _ => return None,
    };
    match family(spec) {
        Ok(Family::Ec(_, verify, _)) => Some((nid, hash, verify)),
        _ => None,
    }
}

impl Pkcs11Hsm {
    /// The SubjectPublicKeyInfo of the imported ECC private key `key`, once it is on the
    /// curve of `spec` and signs under it.
    pub(super) fn imported_ec_public(
        &self,
        session: &Session,
        key: &Temp<'_>,
        spec: KeySpec,
        curve: Curve,
    ) -> Result<Vec<u8>, HsmError> {
        let params = session
            .get_attributes(key.handle, &[AttributeType::EcParams])
            .map_err(|e| fail("reading an imported key's curve", e))?;
        let params = match params.into_iter().next() {
            Some(Attribute::EcParams(params)) => params,
            _ => return Err(incorrect(spec)),
        };
        if params != curve.params {
            return Err(match curve_of(&params) {
                Some(other) => HsmError::IncorrectKeyMaterial(format!(
                    "{spec} key material must be a private key on its curve; this is {other} \
                     key material"
                )),
                None => incorrect(spec),
            });
        }
        let (nid, hash, verify) = curve_facts(spec).ok_or(HsmError::Spec(spec.as_str()))?;
        let generator = agree::generator(nid, curve.point_len())
            .ok_or_else(|| HsmError::Token(format!("aws-lc has no generator of {spec}")))?;
        let x = agree::derive(session, key.handle, &generator, curve.field).map_err(|e| {
            fail(
                format_args!("computing an imported {spec} key's public point"),
                e,
            )
        })?;
        let digest = digest::digest(hash, SELF_TEST_MESSAGE);
        let raw = session
            .sign(&Mechanism::Ecdsa, key.handle, digest.as_ref())
            .map_err(|_| incorrect(spec))?;
        let signature = der::ecdsa_signature(&raw).ok_or_else(|| incorrect(spec))?;
        for parity in [2u8, 3] {
            let compressed = [&[parity][..], &x].concat();
            let Some(point) = agree::uncompressed(nid, &compressed, curve.point_len()) else {
                continue;
            };
            let public = UnparsedPublicKey::new(verify, &point);
            if public.verify(SELF_TEST_MESSAGE, &signature).is_ok() {
                return Ok(der::ec_spki(curve.params, &point));
            }
        }
        Err(HsmError::IncorrectKeyMaterial(format!(
            "{spec} key material is not a consistent elliptic curve private key (its signature \
             verifies under neither public point)"
        )))
    }
}

/// The ECC spec whose curve `params` (`CKA_EC_PARAMS`) names, if any.
fn curve_of(params: &[u8]) -> Option<KeySpec> {
    EC_SPECS
        .into_iter()
        .find(|&spec| matches!(kind(spec), Some(Kind::Ec(curve)) if curve.params == params))
}
