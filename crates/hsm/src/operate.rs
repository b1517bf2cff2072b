//! What a [`Loaded`] key does: sign and verify, RSA-OAEP, HMAC, ECDH and ML-KEM. Callers
//! (the service) have already checked that the algorithm suits the key and that the message
//! has the length its type requires; these functions check again and answer an error, never
//! a panic, if not.

use aws_lc_rs::digest::{self, Digest};
use aws_lc_rs::signature::{self, KeyPair, UnparsedPublicKey, VerificationAlgorithm};
use aws_lc_rs::{agreement, hmac, rsa};
use trent_model::{EncryptionAlgorithm, KeySpec, MacAlgorithm, MessageType, SigningAlgorithm};
use zeroize::Zeroizing;

use crate::asymmetric::{rng, Family, Loaded};
use crate::{HsmError, Plaintext};

impl Loaded {
    pub(crate) fn sign(
        &self,
        algorithm: SigningAlgorithm,
        message_type: MessageType,
        message: &[u8],
    ) -> Result<Vec<u8>, HsmError> {
        let wrong = || HsmError::Algorithm(algorithm.as_str());
        match (self, message_type) {
            (Loaded::Rsa { sign, .. }, _) => {
                let (padding, hash) = rsa_signing(algorithm).ok_or_else(wrong)?;
                let mut signature = vec![0u8; sign.public_modulus_len()];
                let done = match message_type {
                    MessageType::Raw => sign.sign(padding, &rng(), message, &mut signature),
                    MessageType::Digest => {
                        sign.sign_digest(padding, &imported(message, hash)?, &mut signature)
                    }
                    MessageType::ExternalMu => return Err(wrong()),
                };
                done.map_err(|_| wrong())?;
                Ok(signature)
            }
            (Loaded::Ec { sign, .. }, MessageType::Raw) => sign
                .sign(&rng(), message)
                .map(|s| s.as_ref().to_vec())
                .map_err(|_| wrong()),
            (Loaded::Ec { sign, .. }, MessageType::Digest) => {
                let hash = ecdsa_hash(algorithm).ok_or_else(wrong)?;
                sign.sign_digest(&imported(message, hash)?)
                    .map(|s| s.as_ref().to_vec())
                    .map_err(|_| wrong())
            }
            (Loaded::Ed25519(key), MessageType::Raw)
                if algorithm == SigningAlgorithm::Ed25519Sha512 =>
            {
                Ok(key.sign(message).as_ref().to_vec())
            }
            // AWS's ED25519_PH_SHA_512 takes the caller's SHA-512 digest as Ed25519ph's
            // message, so it is hashed again (FIPS 186-5 §7.8.1 step 1): "hashed twice".
            (Loaded::Ed25519(key), MessageType::Digest)
                if algorithm == SigningAlgorithm::Ed25519PhSha512 =>
            {
                crate::ed25519ph::sign(key, digest::digest(&digest::SHA512, message).as_ref())
            }
            (Loaded::MlDsa(key, ..), MessageType::Raw) => {
                let mut signature = vec![0u8; key.algorithm().signature_len()];
                let len = key.sign(message, &mut signature).map_err(|_| wrong())?;
                signature.truncate(len);
                Ok(signature)
            }
            (Loaded::MlDsa(key, mu), MessageType::ExternalMu) => {
                mu.sign(message, key.algorithm().signature_len())
            }
            _ => Err(wrong()),
        }
    }

    /// Whether `signature` is a valid signature of `message` under this key's public key.
    pub(crate) fn verify(
        &self,
        spec: KeySpec,
        algorithm: SigningAlgorithm,
        message_type: MessageType,
        message: &[u8],
        signature: &[u8],
    ) -> Result<bool, HsmError> {
        let wrong = || HsmError::Algorithm(algorithm.as_str());
        if let Loaded::Ed25519(key) = self {
            return match (algorithm, message_type) {
                (SigningAlgorithm::Ed25519Sha512, MessageType::Raw) => {
                    let public = UnparsedPublicKey::new(&signature::ED25519, key.public_key());
                    Ok(public.verify(message, signature).is_ok())
                }
                (SigningAlgorithm::Ed25519PhSha512, MessageType::Digest) => {
                    let prehash = digest::digest(&digest::SHA512, message);
                    Ok(crate::ed25519ph::verify(key, prehash.as_ref(), signature))
                }
                _ => Err(wrong()),
            };
        }
        if let (Loaded::MlDsa(_, mu), MessageType::ExternalMu) = (self, message_type) {
            return mu.verify(message, signature);
        }
        let public = self.public_key_raw().ok_or_else(wrong)?;
        let verifier = verification(spec, algorithm).ok_or_else(wrong)?;
        let public = UnparsedPublicKey::new(verifier, public);
        match message_type {
            MessageType::Raw => Ok(public.verify(message, signature).is_ok()),
            MessageType::Digest => {
                let hash = digest_of(algorithm).ok_or_else(wrong)?;
                Ok(public
                    .verify_digest(&imported(message, hash)?, signature)
                    .is_ok())
            }
            MessageType::ExternalMu => Err(wrong()),
        }
    }

    pub(crate) fn oaep_encrypt(
        &self,
        algorithm: EncryptionAlgorithm,
        plaintext: &[u8],
    ) -> Result<Vec<u8>, HsmError> {
        let Loaded::Rsa {
            encrypt: public, ..
        } = self
        else {
            return Err(HsmError::Algorithm(algorithm.as_str()));
        };
        let oaep = oaep(algorithm)?;
        let mut out = vec![0u8; public.ciphertext_size()];
        let len = public
            .encrypt(oaep, plaintext, &mut out, None)
            .map_err(|_| HsmError::Algorithm(algorithm.as_str()))?
            .len();
        out.truncate(len);
        Ok(out)
    }

    pub(crate) fn oaep_decrypt(
        &self,
        algorithm: EncryptionAlgorithm,
        ciphertext: &[u8],
    ) -> Result<Plaintext, HsmError> {
        let Loaded::Rsa { decrypt, .. } = self else {
            return Err(HsmError::Algorithm(algorithm.as_str()));
        };
        let oaep = oaep(algorithm)?;
        let mut out = Zeroizing::new(vec![0u8; decrypt.min_output_size()]);
        let len = decrypt
            .decrypt(oaep, ciphertext, &mut out, None)
            .map_err(|_| HsmError::Authentication)?
            .len();
        out.truncate(len);
        Ok(out)
    }

    pub(crate) fn mac(&self, algorithm: MacAlgorithm, message: &[u8]) -> Result<Vec<u8>, HsmError> {
        match self {
            Loaded::Hmac(key) if mac_matches(key, algorithm) => {
                Ok(hmac::sign(key, message).as_ref().to_vec())
            }
            _ => Err(HsmError::Algorithm(algorithm.as_str())),
        }
    }

    /// Whether `mac` is this key's MAC of `message` (compared in constant time).
    pub(crate) fn verify_mac(
        &self,
        algorithm: MacAlgorithm,
        message: &[u8],
        mac: &[u8],
    ) -> Result<bool, HsmError> {
        match self {
            Loaded::Hmac(key) if mac_matches(key, algorithm) => {
                Ok(hmac::verify(key, message, mac).is_ok())
            }
            _ => Err(HsmError::Algorithm(algorithm.as_str())),
        }
    }

    /// ECDH with the peer's public key (DER SubjectPublicKeyInfo): the raw shared secret.
    pub(crate) fn agree(&self, spec: KeySpec, peer: &[u8]) -> Result<Plaintext, HsmError> {
        let Loaded::Ec {
            agree: Some(private),
            ..
        } = self
        else {
            return Err(HsmError::Algorithm("ECDH"));
        };
        let peer = agreement::UnparsedPublicKey::new(private.algorithm(), peer);
        agreement::agree(
            private,
            peer,
            HsmError::PublicKey(spec.as_str()),
            |secret| Ok(Zeroizing::new(secret.to_vec())),
        )
    }

    /// A fresh shared secret and its ciphertext under this ML-KEM key.
    pub(crate) fn encapsulate(&self) -> Result<(Vec<u8>, Plaintext), HsmError> {
        let Loaded::MlKem { encapsulate, .. } = self else {
            return Err(HsmError::Algorithm("ML_KEM"));
        };
        let (ciphertext, secret) = encapsulate
            .encapsulate()
            .map_err(|_| HsmError::Algorithm("ML_KEM"))?;
        Ok((
            ciphertext.as_ref().to_vec(),
            Zeroizing::new(secret.as_ref().to_vec()),
        ))
    }

    pub(crate) fn decapsulate(&self, ciphertext: &[u8]) -> Result<Plaintext, HsmError> {
        let Loaded::MlKem { decapsulate, .. } = self else {
            return Err(HsmError::Algorithm("ML_KEM"));
        };
        let secret = decapsulate
            .decapsulate(ciphertext.into())
            .map_err(|_| HsmError::Authentication)?;
        Ok(Zeroizing::new(secret.as_ref().to_vec()))
    }
}

/// A digest the caller computed, as aws-lc-rs takes one.
fn imported(bytes: &[u8], hash: &'static digest::Algorithm) -> Result<Digest, HsmError> {
    Digest::import_less_safe(bytes, hash).map_err(|_| HsmError::DigestLength)
}

fn rsa_signing(
    algorithm: SigningAlgorithm,
) -> Option<(
    &'static dyn signature::RsaEncoding,
    &'static digest::Algorithm,
)> {
    use SigningAlgorithm::*;
    Some(match algorithm {
        RsassaPssSha256 => (&signature::RSA_PSS_SHA256, &digest::SHA256),
        RsassaPssSha384 => (&signature::RSA_PSS_SHA384, &digest::SHA384),
        RsassaPssSha512 => (&signature::RSA_PSS_SHA512, &digest::SHA512),
        RsassaPkcs1V15Sha256 => (&signature::RSA_PKCS1_SHA256, &digest::SHA256),
        RsassaPkcs1V15Sha384 => (&signature::RSA_PKCS1_SHA384, &digest::SHA384),
        RsassaPkcs1V15Sha512 => (&signature::RSA_PKCS1_SHA512, &digest::SHA512),
        _ => return None,
    })
}

/// The aws-lc-rs verification of `algorithm` with a key of `spec` (what Verify checks a
/// signature with; the Wycheproof tests run their vectors through it).
pub(crate) fn verification(
    spec: KeySpec,
    algorithm: SigningAlgorithm,
) -> Option<&'static dyn VerificationAlgorithm> {
    use SigningAlgorithm::*;
    if !spec
        .signing_algorithms(trent_model::KeyUsage::SignVerify)
        .contains(&algorithm)
    {
        return None;
    }
    match (crate::asymmetric::family(spec).ok()?, algorithm) {
        (Family::Rsa(_), _) => rsa_verification(algorithm),
        (Family::Ec(_, verify, _), _) => Some(verify),
        (Family::MlDsa(_, verify), _) => Some(verify),
        (Family::Ed25519, Ed25519Sha512) => Some(&signature::ED25519),
        _ => None,
    }
}

fn rsa_verification(algorithm: SigningAlgorithm) -> Option<&'static dyn VerificationAlgorithm> {
    use SigningAlgorithm::*;
    Some(match algorithm {
        RsassaPssSha256 => &signature::RSA_PSS_2048_8192_SHA256,
        RsassaPssSha384 => &signature::RSA_PSS_2048_8192_SHA384,
        RsassaPssSha512 => &signature::RSA_PSS_2048_8192_SHA512,
        RsassaPkcs1V15Sha256 => &signature::RSA_PKCS1_2048_8192_SHA256,
        RsassaPkcs1V15Sha384 => &signature::RSA_PKCS1_2048_8192_SHA384,
        RsassaPkcs1V15Sha512 => &signature::RSA_PKCS1_2048_8192_SHA512,
        _ => return None,
    })
}

fn ecdsa_hash(algorithm: SigningAlgorithm) -> Option<&'static digest::Algorithm> {
    match algorithm {
        SigningAlgorithm::EcdsaSha256 => Some(&digest::SHA256),
        SigningAlgorithm::EcdsaSha384 => Some(&digest::SHA384),
        SigningAlgorithm::EcdsaSha512 => Some(&digest::SHA512),
        _ => None,
    }
}

/// The hash whose digest a DIGEST message of `algorithm` is.
fn digest_of(algorithm: SigningAlgorithm) -> Option<&'static digest::Algorithm> {
    rsa_signing(algorithm)
        .map(|(_, hash)| hash)
        .or_else(|| ecdsa_hash(algorithm))
}

fn oaep(algorithm: EncryptionAlgorithm) -> Result<&'static rsa::OaepAlgorithm, HsmError> {
    match algorithm {
        EncryptionAlgorithm::RsaesOaepSha1 => Ok(&rsa::OAEP_SHA1_MGF1SHA1),
        EncryptionAlgorithm::RsaesOaepSha256 => Ok(&rsa::OAEP_SHA256_MGF1SHA256),
        other => Err(HsmError::Algorithm(other.as_str())),
    }
}

fn mac_matches(key: &hmac::Key, algorithm: MacAlgorithm) -> bool {
    let expected = match algorithm {
        MacAlgorithm::HmacSha224 => hmac::HMAC_SHA224,
        MacAlgorithm::HmacSha256 => hmac::HMAC_SHA256,
        MacAlgorithm::HmacSha384 => hmac::HMAC_SHA384,
        MacAlgorithm::HmacSha512 => hmac::HMAC_SHA512,
    };
    key.algorithm() == expected
}
