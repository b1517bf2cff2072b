//! What imported key material must be (AWS's "Requirements for imported key material"),
//! checked by parsing it as the HSM later loads it.
//!
//! Guarantees: material that passes is serialized exactly as generated material of its spec
//! is ([`crate::asymmetric::generate`]): the 32 bytes of SYMMETRIC_DEFAULT, the raw HMAC key,
//! and for RSA and EC keys the PKCS#8 DER aws-lc writes for the parsed key, so a key encoded
//! another way (BER lengths, optional fields) is stored, and fingerprinted, in one form. It
//! then loads as the spec's key ([`crate::asymmetric::load`]), so every operation can use it.
//! Refusals say what is wrong in plain words (a length, a modulus size, a curve), never
//! the material.

use aws_lc_rs::encoding::AsDer;
use aws_lc_rs::rsa;
use aws_lc_rs::signature::{EcdsaKeyPair, EcdsaSigningAlgorithm};
use trent_model::{KeySpec, WrappingAlgorithm};
use zeroize::Zeroizing;

use crate::asymmetric::{self, family, Family};
use crate::{HsmError, Plaintext};

/// The elliptic curve specs, to name the curve of a key imported as another.
const EC_SPECS: [KeySpec; 4] = [
    KeySpec::EccNistP256,
    KeySpec::EccNistP384,
    KeySpec::EccNistP521,
    KeySpec::EccSecgP256k1,
];

/// Whether material of `spec` can be imported wrapped with `algorithm`, decided before
/// anything is decrypted. An RSA private key (PKCS#8, over 1 KB) never fits in one RSA-OAEP
/// block (at most 470 bytes under a 4096-bit wrapping key), which is why AWS requires
/// RSA_AES_KEY_WRAP_* for it: the combination is refused as unsupported, not as incorrect
/// material, since no bytes could make it work.
pub(crate) fn suits(spec: KeySpec, algorithm: WrappingAlgorithm) -> Result<(), HsmError> {
    if !trent_model::importable(spec) {
        return Err(HsmError::ImportUnsupported(spec.as_str()));
    }
    let oaep_only = matches!(
        algorithm,
        WrappingAlgorithm::RsaesOaepSha1 | WrappingAlgorithm::RsaesOaepSha256
    );
    if oaep_only && matches!(family(spec), Ok(Family::Rsa(_))) {
        return Err(HsmError::ImportUnsupported(
            "RSA key material wrapped with RSAES_OAEP_SHA_1 or RSAES_OAEP_SHA_256 \
             (RSA private keys need RSA_AES_KEY_WRAP_SHA_1 or RSA_AES_KEY_WRAP_SHA_256)",
        ));
    }
    Ok(())
}

/// `material` as the HSM stores material of `spec`, or [`HsmError::IncorrectKeyMaterial`].
pub(crate) fn canonical(spec: KeySpec, material: &[u8]) -> Result<Plaintext, HsmError> {
    if spec == KeySpec::SymmetricDefault {
        return symmetric(material);
    }
    let secret = match family(spec)? {
        Family::Hmac(..) => hmac(spec, material)?,
        Family::Rsa(size) => rsa_key(spec, size, material)?,
        Family::Ec(sign, ..) => ec_key(spec, sign, material)?,
        _ => return Err(HsmError::ImportUnsupported(spec.as_str())),
    };
    // What every later operation will do with it: fail here, not there.
    asymmetric::load(spec, &secret)
        .map_err(|_| incorrect(format!("{spec} key material does not load as a {spec} key")))?;
    Ok(secret)
}

fn symmetric(material: &[u8]) -> Result<Plaintext, HsmError> {
    if material.len() != 32 {
        return Err(incorrect(format!(
            "SYMMETRIC_DEFAULT key material must be exactly 32 bytes (256 bits); this is {} bytes",
            material.len()
        )));
    }
    Ok(Zeroizing::new(material.to_vec()))
}

fn hmac(spec: KeySpec, material: &[u8]) -> Result<Plaintext, HsmError> {
    let lengths = trent_model::hmac_import_lengths(spec).ok_or(HsmError::Spec(spec.as_str()))?;
    if !lengths.contains(&material.len()) {
        return Err(incorrect(format!(
            "{spec} key material must be {} to {} bytes long; this is {} bytes",
            lengths.start(),
            lengths.end(),
            material.len()
        )));
    }
    Ok(Zeroizing::new(material.to_vec()))
}

fn rsa_key(spec: KeySpec, size: rsa::KeySize, material: &[u8]) -> Result<Plaintext, HsmError> {
    let key = rsa::PrivateDecryptingKey::from_pkcs8(material).map_err(|_| {
        incorrect(format!(
            "{spec} key material must be an RSA private key in PKCS#8 form"
        ))
    })?;
    let (bits, expected) = (key.key_size_bits(), size.len() * 8);
    if bits != expected {
        return Err(incorrect(format!(
            "{spec} key material must be a {expected}-bit RSA private key; this one has {bits} bits"
        )));
    }
    // The same serialization `KeyPair::as_der` gives generated keys (`Pkcs8V1Der` zeroizes).
    let der = key
        .as_der()
        .map_err(|_| HsmError::Generation(spec.as_str()))?;
    Ok(Zeroizing::new(der.as_ref().to_vec()))
}

fn ec_key(
    spec: KeySpec,
    sign: &'static EcdsaSigningAlgorithm,
    material: &[u8],
) -> Result<Plaintext, HsmError> {
    let Ok(key) = EcdsaKeyPair::from_pkcs8(sign, material) else {
        return Err(incorrect(match curve_of(material) {
            Some(other) => format!(
                "{spec} key material must be a private key on its curve; this is {other} key material"
            ),
            None => format!("{spec} key material must be an elliptic curve private key in PKCS#8 form"),
        }));
    };
    let der = key
        .to_pkcs8v1()
        .map_err(|_| HsmError::Generation(spec.as_str()))?;
    Ok(Zeroizing::new(der.as_ref().to_vec()))
}

/// The EC spec whose curve `material` (PKCS#8) is on, if any.
fn curve_of(material: &[u8]) -> Option<KeySpec> {
    EC_SPECS.into_iter().find(|&spec| match family(spec) {
        Ok(Family::Ec(sign, ..)) => EcdsaKeyPair::from_pkcs8(sign, material).is_ok(),
        _ => false,
    })
}

fn incorrect(why: String) -> HsmError {
    HsmError::IncorrectKeyMaterial(why)
}
