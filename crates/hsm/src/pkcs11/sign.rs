//! HMAC, signatures and RSA encryption with keys in the token: the soft backend's semantics,
//! the token's arithmetic.
//!
//! Guarantees: every operation with a secret or private key is the token's (`C_Sign`,
//! `C_Decrypt`), and so is every verification and RSA encryption (`C_Verify`, `C_Encrypt`
//! with the public key object); trent computes only the digest of a RAW message (public data:
//! SoftHSM2 has no `CKM_ECDSA_SHA*`, and DIGEST messages need the bare mechanism anyway) and
//! the DER around the token's raw values. Results equal the soft backend's for the same
//! material: the same MACs, signatures each verifies of the other (ECDSA in DER, PSS with a
//! salt as long as the hash, as aws-lc signs), the same `Algorithm`, `DigestLength` and
//! `Authentication` errors. An algorithm that does not suit the spec is refused
//! ([`HsmError::Algorithm`]) before the token is asked; a signature or MAC that does not
//! verify is `Ok(false)`, whether malformed or wrong.

use cryptoki::error::{Error, RvError};
use cryptoki::mechanism::rsa::{PkcsMgfType, PkcsPssParams};
use cryptoki::mechanism::{Mechanism, MechanismType};
use trent_model::{
    EncryptionAlgorithm, KeySpec, KeyUsage, MacAlgorithm, MessageType, SigningAlgorithm,
};
use zeroize::Zeroizing;

use aws_lc_rs::digest;

use super::der;
use super::families::{hmac_mechanism, oaep_mechanism, Kind};
use super::ops::refused_input;
use super::token::fail;
use super::Pkcs11Hsm;
use crate::{HsmError, MaterialRef, Plaintext};

/// The DigestInfo prefix of EMSA-PKCS1-v1_5 (RFC 8017 9.2, note 1) for each hash.
const DIGEST_INFO_SHA256: &[u8] = &[
    0x30, 0x31, 0x30, 0x0d, 0x06, 0x09, 0x60, 0x86, 0x48, 0x01, 0x65, 0x03, 0x04, 0x02, 0x01, 0x05,
    0x00, 0x04, 0x20,
];
const DIGEST_INFO_SHA384: &[u8] = &[
    0x30, 0x41, 0x30, 0x0d, 0x06, 0x09, 0x60, 0x86, 0x48, 0x01, 0x65, 0x03, 0x04, 0x02, 0x02, 0x05,
    0x00, 0x04, 0x30,
];
const DIGEST_INFO_SHA512: &[u8] = &[
    0x30, 0x51, 0x30, 0x0d, 0x06, 0x09, 0x60, 0x86, 0x48, 0x01, 0x65, 0x03, 0x04, 0x02, 0x03, 0x05,
    0x00, 0x04, 0x40,
];

/// How a signing algorithm signs a digest in the token.
enum Scheme {
    Ecdsa,
    Pkcs1(&'static [u8]),
    Pss(MechanismType, PkcsMgfType),
}

/// The hash and scheme of `algorithm`, if it suits `spec`.
fn scheme(
    spec: KeySpec,
    algorithm: SigningAlgorithm,
) -> Result<(&'static digest::Algorithm, Scheme), HsmError> {
    use SigningAlgorithm::*;
    if !spec
        .signing_algorithms(KeyUsage::SignVerify)
        .contains(&algorithm)
    {
        return Err(HsmError::Algorithm(algorithm.as_str()));
    }
    let (sha256, sha384, sha512) = (&digest::SHA256, &digest::SHA384, &digest::SHA512);
    Ok(match algorithm {
        EcdsaSha256 => (sha256, Scheme::Ecdsa),
        EcdsaSha384 => (sha384, Scheme::Ecdsa),
        EcdsaSha512 => (sha512, Scheme::Ecdsa),
        RsassaPkcs1V15Sha256 => (sha256, Scheme::Pkcs1(DIGEST_INFO_SHA256)),
        RsassaPkcs1V15Sha384 => (sha384, Scheme::Pkcs1(DIGEST_INFO_SHA384)),
        RsassaPkcs1V15Sha512 => (sha512, Scheme::Pkcs1(DIGEST_INFO_SHA512)),
        RsassaPssSha256 => (
            sha256,
            Scheme::Pss(MechanismType::SHA256, PkcsMgfType::MGF1_SHA256),
        ),
        RsassaPssSha384 => (
            sha384,
            Scheme::Pss(MechanismType::SHA384, PkcsMgfType::MGF1_SHA384),
        ),
        RsassaPssSha512 => (
            sha512,
            Scheme::Pss(MechanismType::SHA512, PkcsMgfType::MGF1_SHA512),
        ),
        _ => return Err(HsmError::Algorithm(algorithm.as_str())),
    })
}

/// The digest the token signs: the message's for RAW, the message itself for DIGEST (which
/// must be as long as the hash's output).
fn digest_of(
    hash: &'static digest::Algorithm,
    message_type: MessageType,
    message: &[u8],
    algorithm: SigningAlgorithm,
) -> Result<Vec<u8>, HsmError> {
    match message_type {
        MessageType::Raw => Ok(digest::digest(hash, message).as_ref().to_vec()),
        MessageType::Digest if message.len() == hash.output_len() => Ok(message.to_vec()),
        MessageType::Digest => Err(HsmError::DigestLength),
        MessageType::ExternalMu => Err(HsmError::Algorithm(algorithm.as_str())),
    }
}

/// The token mechanism of `scheme` and the data it signs for `digest`.
fn mechanism(scheme: &Scheme, digest: Vec<u8>) -> (Mechanism<'static>, Vec<u8>) {
    match scheme {
        Scheme::Ecdsa => (Mechanism::Ecdsa, digest),
        Scheme::Pkcs1(prefix) => (Mechanism::RsaPkcs, [prefix, &digest[..]].concat()),
        Scheme::Pss(hash_alg, mgf) => {
            let params = PkcsPssParams {
                hash_alg: *hash_alg,
                mgf: *mgf,
                s_len: (digest.len() as u64).into(),
            };
            (Mechanism::RsaPkcsPss(params), digest)
        }
    }
}

/// Whether a `C_Verify` failure means "does not verify" rather than the token failing.
pub(super) fn not_verified(e: &Error) -> bool {
    matches!(
        e,
        Error::Pkcs11(RvError::SignatureInvalid | RvError::SignatureLenRange, _)
    )
}

impl Pkcs11Hsm {
    pub(super) fn key_mac(
        &self,
        key: MaterialRef<'_>,
        spec: KeySpec,
        algorithm: MacAlgorithm,
        message: &[u8],
    ) -> Result<Vec<u8>, HsmError> {
        let mechanism = mac_mechanism(spec, algorithm)?;
        let (entry, _) = self.key(key, spec)?;
        self.token
            .session()
            .sign(&mechanism, entry.handle, message)
            .map_err(|e| fail(format_args!("computing a {algorithm} MAC"), e))
    }

    pub(super) fn key_verify_mac(
        &self,
        key: MaterialRef<'_>,
        spec: KeySpec,
        algorithm: MacAlgorithm,
        message: &[u8],
        mac: &[u8],
    ) -> Result<bool, HsmError> {
        let mechanism = mac_mechanism(spec, algorithm)?;
        let (entry, _) = self.key(key, spec)?;
        match self
            .token
            .session()
            .verify(&mechanism, entry.handle, message, mac)
        {
            Ok(()) => Ok(true),
            Err(e) if not_verified(&e) => Ok(false),
            Err(e) => Err(fail(format_args!("verifying a {algorithm} MAC"), e)),
        }
    }

    pub(super) fn key_sign(
        &self,
        key: MaterialRef<'_>,
        spec: KeySpec,
        algorithm: SigningAlgorithm,
        message_type: MessageType,
        message: &[u8],
    ) -> Result<Vec<u8>, HsmError> {
        if spec == KeySpec::EccNistEdwards25519 {
            return self.eddsa_sign(key, spec, algorithm, message_type, message);
        }
        let (hash, scheme) = scheme(spec, algorithm)?;
        let digest = digest_of(hash, message_type, message, algorithm)?;
        let (entry, kind) = self.key(key, spec)?;
        let (mechanism, data) = mechanism(&scheme, digest);
        let signature = self
            .token
            .session()
            .sign(&mechanism, entry.handle, &data)
            .map_err(|e| fail(format_args!("signing with {algorithm}"), e))?;
        match (kind, scheme) {
            (Kind::Ec(curve), Scheme::Ecdsa) if signature.len() == 2 * curve.field => {
                der::ecdsa_signature(&signature).ok_or(HsmError::Algorithm(algorithm.as_str()))
            }
            (Kind::Ec(curve), _) => Err(HsmError::Token(format!(
                "the token's {} signature is {} bytes, not r || s",
                curve.name,
                signature.len()
            ))),
            _ => Ok(signature),
        }
    }

    pub(super) fn key_verify(
        &self,
        key: MaterialRef<'_>,
        spec: KeySpec,
        algorithm: SigningAlgorithm,
        message_type: MessageType,
        message: &[u8],
        signature: &[u8],
    ) -> Result<bool, HsmError> {
        if spec == KeySpec::EccNistEdwards25519 {
            return self.eddsa_verify(key, spec, algorithm, message_type, message, signature);
        }
        let (hash, scheme) = scheme(spec, algorithm)?;
        let digest = digest_of(hash, message_type, message, algorithm)?;
        let (entry, kind) = self.key(key, spec)?;
        let public = entry.public.ok_or(HsmError::NoPublicKey)?;
        let signature = match kind {
            // aws-lc reads only DER; what is not DER of a signature does not verify.
            Kind::Ec(curve) => match der::ecdsa_raw(signature, curve.field) {
                Some(raw) => raw,
                None => return Ok(false),
            },
            _ => signature.to_vec(),
        };
        let (mechanism, data) = mechanism(&scheme, digest);
        match self
            .token
            .session()
            .verify(&mechanism, public, &data, &signature)
        {
            Ok(()) => Ok(true),
            Err(e) if not_verified(&e) => Ok(false),
            Err(e) => Err(fail(format_args!("verifying with {algorithm}"), e)),
        }
    }

    pub(super) fn key_encrypt(
        &self,
        key: MaterialRef<'_>,
        spec: KeySpec,
        algorithm: EncryptionAlgorithm,
        plaintext: &[u8],
    ) -> Result<Vec<u8>, HsmError> {
        let (mechanism, longest) = oaep(spec, algorithm)?;
        let (entry, _) = self.key(key, spec)?;
        self.families.check_oaep(spec, algorithm)?;
        let public = entry
            .public
            .ok_or(HsmError::Algorithm(algorithm.as_str()))?;
        if plaintext.len() > longest {
            return Err(HsmError::Algorithm(algorithm.as_str()));
        }
        self.token
            .session()
            .encrypt(&mechanism, public, plaintext)
            .map_err(|e| fail(format_args!("encrypting with {algorithm}"), e))
    }

    pub(super) fn key_decrypt(
        &self,
        key: MaterialRef<'_>,
        spec: KeySpec,
        algorithm: EncryptionAlgorithm,
        ciphertext: &[u8],
    ) -> Result<Plaintext, HsmError> {
        let (mechanism, _) = oaep(spec, algorithm)?;
        let (entry, _) = self.key(key, spec)?;
        self.families.check_oaep(spec, algorithm)?;
        let session = self.token.session();
        match session.decrypt(&mechanism, entry.handle, ciphertext) {
            Ok(plaintext) => Ok(Zeroizing::new(plaintext)),
            Err(e) if refused_input(&session, &e) => Err(HsmError::Authentication),
            Err(Error::Pkcs11(RvError::DataLenRange, _)) => Err(HsmError::Authentication),
            Err(e) => Err(fail(format_args!("decrypting with {algorithm}"), e)),
        }
    }
}

/// The token mechanism of `algorithm`, if it is the MAC algorithm of `spec`.
fn mac_mechanism(spec: KeySpec, algorithm: MacAlgorithm) -> Result<Mechanism<'static>, HsmError> {
    match spec
        .mac_algorithms(KeyUsage::GenerateVerifyMac)
        .contains(&algorithm)
    {
        true => Ok(hmac_mechanism(algorithm).0),
        false => Err(HsmError::Algorithm(algorithm.as_str())),
    }
}

/// The OAEP mechanism of `algorithm`, if it suits `spec`, and the longest plaintext it
/// takes with a key of `bits` (RFC 8017 7.1.1: k - 2 hLen - 2), which aws-lc refuses beyond
/// and SoftHSM2 answers with `CKR_GENERAL_ERROR`, so it is checked here.
fn oaep(
    spec: KeySpec,
    algorithm: EncryptionAlgorithm,
) -> Result<(Mechanism<'static>, usize), HsmError> {
    let wrong = || HsmError::Algorithm(algorithm.as_str());
    if !spec
        .encryption_algorithms(KeyUsage::EncryptDecrypt)
        .contains(&algorithm)
    {
        return Err(wrong());
    }
    let hash_len = match algorithm {
        EncryptionAlgorithm::RsaesOaepSha1 => 20,
        _ => 32,
    };
    let Some(Kind::Rsa(bits)) = super::families::kind(spec) else {
        return Err(wrong());
    };
    let longest = bits / 8 - 2 * hash_len - 2;
    Ok((oaep_mechanism(algorithm).ok_or_else(wrong)?, longest))
}
