//! Keys of every spec but SYMMETRIC_DEFAULT: RSA, elliptic curves (ECDSA and ECDH), Ed25519,
//! ML-DSA, ML-KEM and HMAC, all on aws-lc-rs (ED25519ph through aws-lc-sys, the same
//! library, whose Rust API lacks it).
//!
//! A key's secret is serialized once, when it is generated or imported ([`crate::import`]),
//! and from then on only travels wrapped under the domain key ([`crate::soft`]): PKCS#8 DER
//! for RSA, EC, Ed25519 and ML-DSA, the raw key for HMAC (the spec's length when generated,
//! up to 128 bytes when imported), the expanded decapsulation key followed by the
//! encapsulation key for ML-KEM. [`Loaded`] is the unwrapped, parsed key the cache keeps; aws-lc frees (and
//! clears, `OPENSSL_free`) its key objects when they are dropped.

use aws_lc_rs::encoding::{AsDer, Pkcs8V1Der};
use aws_lc_rs::kem::{DecapsulationKey, EncapsulationKey, ML_KEM_1024, ML_KEM_512, ML_KEM_768};
use aws_lc_rs::rand::SystemRandom;
use aws_lc_rs::signature::{self, EcdsaKeyPair, Ed25519KeyPair, KeyPair, PqdsaKeyPair};
use aws_lc_rs::{agreement, hmac, rsa};
use trent_model::KeySpec;
use zeroize::Zeroizing;

use crate::{DataKeyPair, HsmError};

/// An unwrapped key of a spec other than SYMMETRIC_DEFAULT, ready to use. Each is made once
/// and kept in the cache behind an `Arc`, so the variants' sizes are left unequal (boxing
/// would add an indirection to every use and save nothing).
#[allow(clippy::large_enum_variant)]
pub(crate) enum Loaded {
    Rsa {
        sign: rsa::KeyPair,
        decrypt: rsa::OaepPrivateDecryptingKey,
        encrypt: rsa::OaepPublicEncryptingKey,
    },
    Ec {
        sign: EcdsaKeyPair,
        /// The same key for ECDH, on the curves AWS offers key agreement on.
        agree: Option<agreement::PrivateKey>,
    },
    Ed25519(Ed25519KeyPair),
    MlDsa(
        PqdsaKeyPair,
        /// The same key as aws-lc holds it, to sign and verify an external μ.
        crate::ml_dsa_mu::MuKey,
    ),
    Hmac(hmac::Key),
    MlKem {
        decapsulate: DecapsulationKey<aws_lc_rs::kem::AlgorithmId>,
        encapsulate: EncapsulationKey<aws_lc_rs::kem::AlgorithmId>,
    },
}

/// A fresh secret of `spec`, serialized as [`load`] reads it.
pub(crate) fn generate(spec: KeySpec) -> Result<Zeroizing<Vec<u8>>, HsmError> {
    let fail = || HsmError::Generation(spec.as_str());
    let secret = |der: &[u8]| Zeroizing::new(der.to_vec());
    match family(spec)? {
        Family::Rsa(size) => {
            let key = rsa::KeyPair::generate(size).map_err(|_| fail())?;
            let der: Pkcs8V1Der<'static> = key.as_der().map_err(|_| fail())?;
            Ok(secret(der.as_ref()))
        }
        Family::Ec(sign, _, _) => {
            let key = EcdsaKeyPair::generate(sign).map_err(|_| fail())?;
            Ok(secret(key.to_pkcs8v1().map_err(|_| fail())?.as_ref()))
        }
        Family::Ed25519 => {
            let key = Ed25519KeyPair::generate().map_err(|_| fail())?;
            Ok(secret(key.to_pkcs8v1().map_err(|_| fail())?.as_ref()))
        }
        Family::MlDsa(alg, _) => {
            let key = PqdsaKeyPair::generate(alg).map_err(|_| fail())?;
            Ok(secret(key.to_pkcs8v1().map_err(|_| fail())?.as_ref()))
        }
        Family::Hmac(_, len) => {
            let mut key = Zeroizing::new(vec![0u8; len]);
            aws_lc_rs::rand::fill(&mut key).map_err(|_| fail())?;
            Ok(key)
        }
        Family::MlKem(alg, _, _) => {
            let key = DecapsulationKey::generate(alg).map_err(|_| fail())?;
            let dk = key.key_bytes().map_err(|_| fail())?;
            let ek = key.encapsulation_key().map_err(|_| fail())?;
            let ek = ek.key_bytes().map_err(|_| fail())?;
            let mut secret = Zeroizing::new(Vec::with_capacity(dk.as_ref().len() + 1600));
            secret.extend_from_slice(dk.as_ref());
            secret.extend_from_slice(ek.as_ref());
            Ok(secret)
        }
    }
}

/// A key pair the HSM does not keep: the private key as PKCS#8, the public key as SPKI.
pub(crate) fn data_key_pair(spec: KeySpec) -> Result<DataKeyPair, HsmError> {
    if matches!(family(spec)?, Family::Hmac(..)) {
        return Err(HsmError::Spec(spec.as_str()));
    }
    if let Family::MlKem(..) = family(spec)? {
        let key = crate::ml_kem_seed::generate(spec)?;
        return Ok(DataKeyPair {
            private_pkcs8: crate::der::ml_kem_pkcs8(spec, key.seed.as_ref()),
            public_der: crate::der::ml_kem_spki(spec, &key.ek),
        });
    }
    let secret = generate(spec)?;
    let loaded = load(spec, &secret)?;
    let public_der = loaded.public_key_der(spec)?;
    let private_pkcs8 = secret;
    Ok(DataKeyPair {
        private_pkcs8,
        public_der,
    })
}

/// Parses a secret [`generate`] made for `spec`.
pub(crate) fn load(spec: KeySpec, secret: &[u8]) -> Result<Loaded, HsmError> {
    let fail = || HsmError::Generation(spec.as_str());
    Ok(match family(spec)? {
        Family::Rsa(_) => {
            let decrypt = rsa::PrivateDecryptingKey::from_pkcs8(secret).map_err(|_| fail())?;
            let public = decrypt.public_key();
            Loaded::Rsa {
                sign: rsa::KeyPair::from_pkcs8(secret).map_err(|_| fail())?,
                decrypt: rsa::OaepPrivateDecryptingKey::new(decrypt).map_err(|_| fail())?,
                encrypt: rsa::OaepPublicEncryptingKey::new(public).map_err(|_| fail())?,
            }
        }
        Family::Ec(sign, _, agree) => Loaded::Ec {
            sign: EcdsaKeyPair::from_pkcs8(sign, secret).map_err(|_| fail())?,
            agree: match agree {
                Some(alg) => Some(
                    agreement::PrivateKey::from_private_key_der(alg, secret).map_err(|_| fail())?,
                ),
                None => None,
            },
        },
        Family::Ed25519 => {
            Loaded::Ed25519(Ed25519KeyPair::from_pkcs8_maybe_unchecked(secret).map_err(|_| fail())?)
        }
        Family::MlDsa(alg, _) => Loaded::MlDsa(
            PqdsaKeyPair::from_pkcs8(alg, secret).map_err(|_| fail())?,
            crate::ml_dsa_mu::MuKey::parse(secret)?,
        ),
        // Generated keys have the spec's length; imported ones any length AWS imports.
        Family::Hmac(alg, _) if hmac_length_ok(spec, secret.len()) => {
            Loaded::Hmac(hmac::Key::new(alg, secret))
        }
        Family::Hmac(..) => return Err(fail()),
        Family::MlKem(alg, dk_len, ek_len) => {
            if secret.len() != dk_len + ek_len {
                return Err(fail());
            }
            let (dk, ek) = secret.split_at(dk_len);
            Loaded::MlKem {
                decapsulate: DecapsulationKey::new(alg, dk).map_err(|_| fail())?,
                encapsulate: EncapsulationKey::new(alg, ek).map_err(|_| fail())?,
            }
        }
    })
}

impl Loaded {
    /// The public key as a DER-encoded X.509 SubjectPublicKeyInfo, as GetPublicKey answers.
    pub(crate) fn public_key_der(&self, spec: KeySpec) -> Result<Vec<u8>, HsmError> {
        let fail = || HsmError::Generation(spec.as_str());
        let der = match self {
            Loaded::Rsa { sign, .. } => sign.public_key().as_der().map_err(|_| fail())?,
            Loaded::Ec { sign, .. } => sign.public_key().as_der().map_err(|_| fail())?,
            Loaded::Ed25519(key) => key.public_key().as_der().map_err(|_| fail())?,
            Loaded::MlDsa(key, ..) => key.public_key().as_der().map_err(|_| fail())?,
            Loaded::MlKem { encapsulate, .. } => {
                let raw = encapsulate.key_bytes().map_err(|_| fail())?;
                return Ok(crate::der::ml_kem_spki(spec, raw.as_ref()));
            }
            Loaded::Hmac(_) => return Err(HsmError::NoPublicKey),
        };
        Ok(der.as_ref().to_vec())
    }

    /// The raw public key bytes the verification algorithms of aws-lc-rs take.
    pub(crate) fn public_key_raw(&self) -> Option<&[u8]> {
        match self {
            Loaded::Rsa { sign, .. } => Some(sign.public_key().as_ref()),
            Loaded::Ec { sign, .. } => Some(sign.public_key().as_ref()),
            Loaded::Ed25519(key) => Some(key.public_key().as_ref()),
            Loaded::MlDsa(key, ..) => Some(key.public_key().as_ref()),
            _ => None,
        }
    }
}

/// Whether an HMAC key of `spec` may be `len` bytes long (generated or imported).
fn hmac_length_ok(spec: KeySpec, len: usize) -> bool {
    trent_model::hmac_import_lengths(spec).is_some_and(|lengths| lengths.contains(&len))
}

/// What a spec is to aws-lc-rs.
pub(crate) enum Family {
    Rsa(rsa::KeySize),
    Ec(
        &'static signature::EcdsaSigningAlgorithm,
        &'static signature::EcdsaVerificationAlgorithm,
        Option<&'static agreement::Algorithm>,
    ),
    Ed25519,
    MlDsa(
        &'static signature::PqdsaSigningAlgorithm,
        &'static signature::PqdsaVerificationAlgorithm,
    ),
    Hmac(hmac::Algorithm, usize),
    /// The algorithm, and the lengths of its decapsulation and encapsulation keys (FIPS 203).
    MlKem(
        &'static aws_lc_rs::kem::Algorithm<aws_lc_rs::kem::AlgorithmId>,
        usize,
        usize,
    ),
}

pub(crate) fn family(spec: KeySpec) -> Result<Family, HsmError> {
    use KeySpec::*;
    Ok(match spec {
        Rsa2048 => Family::Rsa(rsa::KeySize::Rsa2048),
        Rsa3072 => Family::Rsa(rsa::KeySize::Rsa3072),
        Rsa4096 => Family::Rsa(rsa::KeySize::Rsa4096),
        EccNistP256 => Family::Ec(
            &signature::ECDSA_P256_SHA256_ASN1_SIGNING,
            &signature::ECDSA_P256_SHA256_ASN1,
            Some(&agreement::ECDH_P256),
        ),
        EccNistP384 => Family::Ec(
            &signature::ECDSA_P384_SHA384_ASN1_SIGNING,
            &signature::ECDSA_P384_SHA384_ASN1,
            Some(&agreement::ECDH_P384),
        ),
        EccNistP521 => Family::Ec(
            &signature::ECDSA_P521_SHA512_ASN1_SIGNING,
            &signature::ECDSA_P521_SHA512_ASN1,
            Some(&agreement::ECDH_P521),
        ),
        EccSecgP256k1 => Family::Ec(
            &signature::ECDSA_P256K1_SHA256_ASN1_SIGNING,
            &signature::ECDSA_P256K1_SHA256_ASN1,
            None,
        ),
        EccNistEdwards25519 => Family::Ed25519,
        MlDsa44 => Family::MlDsa(&signature::ML_DSA_44_SIGNING, &signature::ML_DSA_44),
        MlDsa65 => Family::MlDsa(&signature::ML_DSA_65_SIGNING, &signature::ML_DSA_65),
        MlDsa87 => Family::MlDsa(&signature::ML_DSA_87_SIGNING, &signature::ML_DSA_87),
        Hmac224 => Family::Hmac(hmac::HMAC_SHA224, 28),
        Hmac256 => Family::Hmac(hmac::HMAC_SHA256, 32),
        Hmac384 => Family::Hmac(hmac::HMAC_SHA384, 48),
        Hmac512 => Family::Hmac(hmac::HMAC_SHA512, 64),
        MlKem512 => Family::MlKem(&ML_KEM_512, 1632, 800),
        MlKem768 => Family::MlKem(&ML_KEM_768, 2400, 1184),
        MlKem1024 => Family::MlKem(&ML_KEM_1024, 3168, 1568),
        SymmetricDefault | Sm2 => return Err(HsmError::Spec(spec.as_str())),
    })
}

/// A random source for the aws-lc-rs calls that take one (they ignore it and use aws-lc's).
pub(crate) fn rng() -> SystemRandom {
    SystemRandom::new()
}
