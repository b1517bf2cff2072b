//! AWS's rules on key types, in one table: which usages each `KeySpec` allows, the algorithms
//! each usage offers (in the order AWS lists them in `KeyMetadata`), and the bounds of the
//! messages each algorithm takes. CreateKey, DescribeKey, GetPublicKey and every
//! cryptographic operation read it; nothing else decides what a key can do.

use std::fmt;

use serde::{Deserialize, Serialize};

use crate::{Error, KeySpec, KeyUsage};

aws_enum!(
    /// A signature scheme (Sign, Verify).
    SigningAlgorithm {
        RsassaPssSha256 = "RSASSA_PSS_SHA_256",
        RsassaPssSha384 = "RSASSA_PSS_SHA_384",
        RsassaPssSha512 = "RSASSA_PSS_SHA_512",
        RsassaPkcs1V15Sha256 = "RSASSA_PKCS1_V1_5_SHA_256",
        RsassaPkcs1V15Sha384 = "RSASSA_PKCS1_V1_5_SHA_384",
        RsassaPkcs1V15Sha512 = "RSASSA_PKCS1_V1_5_SHA_512",
        EcdsaSha256 = "ECDSA_SHA_256",
        EcdsaSha384 = "ECDSA_SHA_384",
        EcdsaSha512 = "ECDSA_SHA_512",
        Sm2Dsa = "SM2DSA",
        MlDsaShake256 = "ML_DSA_SHAKE_256",
        Ed25519Sha512 = "ED25519_SHA_512",
        Ed25519PhSha512 = "ED25519_PH_SHA_512",
    }
);

aws_enum!(
    /// An encryption scheme (Encrypt, Decrypt, ReEncrypt).
    EncryptionAlgorithm {
        SymmetricDefault = "SYMMETRIC_DEFAULT",
        RsaesOaepSha1 = "RSAES_OAEP_SHA_1",
        RsaesOaepSha256 = "RSAES_OAEP_SHA_256",
        Sm2Pke = "SM2PKE",
    }
);

aws_enum!(
    /// An HMAC (GenerateMac, VerifyMac).
    MacAlgorithm {
        HmacSha224 = "HMAC_SHA_224",
        HmacSha256 = "HMAC_SHA_256",
        HmacSha384 = "HMAC_SHA_384",
        HmacSha512 = "HMAC_SHA_512",
    }
);

aws_enum!(
    /// A key agreement scheme (DeriveSharedSecret).
    KeyAgreementAlgorithm { Ecdh = "ECDH" }
);

aws_enum!(
    /// A key encapsulation mechanism (Encapsulate, Decapsulate).
    EncapsulationAlgorithm { MlKem = "ML_KEM" }
);

aws_enum!(
    /// What Sign and Verify are given: the message, its digest, or ML-DSA's μ.
    MessageType {
        Raw = "RAW",
        Digest = "DIGEST",
        ExternalMu = "EXTERNAL_MU",
    }
);

aws_enum!(
    /// The key pair GenerateDataKeyPair makes.
    DataKeyPairSpec {
        Rsa2048 = "RSA_2048",
        Rsa3072 = "RSA_3072",
        Rsa4096 = "RSA_4096",
        EccNistP256 = "ECC_NIST_P256",
        EccNistP384 = "ECC_NIST_P384",
        EccNistP521 = "ECC_NIST_P521",
        EccSecgP256k1 = "ECC_SECG_P256K1",
        Sm2 = "SM2",
        EccNistEdwards25519 = "ECC_NIST_EDWARDS25519",
        MlKem512 = "ML_KEM_512",
        MlKem768 = "ML_KEM_768",
        MlKem1024 = "ML_KEM_1024",
    }
);

/// AWS's bound on a RAW message to Sign, Verify, GenerateMac and VerifyMac.
pub const MAX_MESSAGE: usize = 4096;
/// The length of ML-DSA's μ (an EXTERNAL_MU message).
pub const MU_LEN: usize = 64;

impl KeySpec {
    /// The usages AWS allows keys of this spec, the default (`ENCRYPT_DECRYPT`) first where
    /// it is allowed.
    pub fn usages(self) -> &'static [KeyUsage] {
        use KeySpec::*;
        use KeyUsage::*;
        match self {
            SymmetricDefault => &[EncryptDecrypt],
            Rsa2048 | Rsa3072 | Rsa4096 => &[EncryptDecrypt, SignVerify],
            EccNistP256 | EccNistP384 | EccNistP521 => &[SignVerify, KeyAgreement],
            EccSecgP256k1 | EccNistEdwards25519 | MlDsa44 | MlDsa65 | MlDsa87 => &[SignVerify],
            Hmac224 | Hmac256 | Hmac384 | Hmac512 => &[GenerateVerifyMac],
            MlKem512 | MlKem768 | MlKem1024 => &[EncapsulateDecapsulate],
            Sm2 => &[EncryptDecrypt, SignVerify, KeyAgreement],
        }
    }

    /// Refuses a usage the spec does not allow, in AWS's words.
    pub fn check_usage(self, usage: KeyUsage) -> Result<(), Error> {
        match self.usages().contains(&usage) {
            true => Ok(()),
            false => Err(Error::key_usage_for_spec(usage, self)),
        }
    }

    /// Whether keys of this spec hold a private key (and so a public key to give out).
    pub fn is_asymmetric(self) -> bool {
        !matches!(
            self,
            KeySpec::SymmetricDefault
                | KeySpec::Hmac224
                | KeySpec::Hmac256
                | KeySpec::Hmac384
                | KeySpec::Hmac512
        )
    }

    /// `CustomerMasterKeySpec`, the deprecated name AWS still sends: the spec itself where
    /// the older enum has it, `None` for specs added after it (AWS leaves the member out).
    pub fn customer_master_key_spec(self) -> Option<KeySpec> {
        use KeySpec::*;
        match self {
            MlDsa44 | MlDsa65 | MlDsa87 | EccNistEdwards25519 | MlKem512 | MlKem768 | MlKem1024 => {
                None
            }
            other => Some(other),
        }
    }

    /// The encryption algorithms a key of this spec and usage offers.
    pub fn encryption_algorithms(self, usage: KeyUsage) -> &'static [EncryptionAlgorithm] {
        use EncryptionAlgorithm::*;
        match (self, usage) {
            (KeySpec::SymmetricDefault, KeyUsage::EncryptDecrypt) => &[SymmetricDefault],
            (KeySpec::Rsa2048 | KeySpec::Rsa3072 | KeySpec::Rsa4096, KeyUsage::EncryptDecrypt) => {
                &[RsaesOaepSha1, RsaesOaepSha256]
            }
            (KeySpec::Sm2, KeyUsage::EncryptDecrypt) => &[Sm2Pke],
            _ => &[],
        }
    }

    /// The signing algorithms a key of this spec and usage offers.
    pub fn signing_algorithms(self, usage: KeyUsage) -> &'static [SigningAlgorithm] {
        use SigningAlgorithm::*;
        if usage != KeyUsage::SignVerify {
            return &[];
        }
        match self {
            KeySpec::Rsa2048 | KeySpec::Rsa3072 | KeySpec::Rsa4096 => &[
                RsassaPkcs1V15Sha256,
                RsassaPkcs1V15Sha384,
                RsassaPkcs1V15Sha512,
                RsassaPssSha256,
                RsassaPssSha384,
                RsassaPssSha512,
            ],
            KeySpec::EccNistP256 | KeySpec::EccSecgP256k1 => &[EcdsaSha256],
            KeySpec::EccNistP384 => &[EcdsaSha384],
            KeySpec::EccNistP521 => &[EcdsaSha512],
            KeySpec::EccNistEdwards25519 => &[Ed25519Sha512, Ed25519PhSha512],
            KeySpec::MlDsa44 | KeySpec::MlDsa65 | KeySpec::MlDsa87 => &[MlDsaShake256],
            KeySpec::Sm2 => &[Sm2Dsa],
            _ => &[],
        }
    }

    /// The MAC algorithm of an HMAC key.
    pub fn mac_algorithms(self, usage: KeyUsage) -> &'static [MacAlgorithm] {
        use MacAlgorithm::*;
        match (self, usage) {
            (KeySpec::Hmac224, KeyUsage::GenerateVerifyMac) => &[HmacSha224],
            (KeySpec::Hmac256, KeyUsage::GenerateVerifyMac) => &[HmacSha256],
            (KeySpec::Hmac384, KeyUsage::GenerateVerifyMac) => &[HmacSha384],
            (KeySpec::Hmac512, KeyUsage::GenerateVerifyMac) => &[HmacSha512],
            _ => &[],
        }
    }

    /// The key agreement algorithms of a KEY_AGREEMENT key.
    pub fn key_agreement_algorithms(self, usage: KeyUsage) -> &'static [KeyAgreementAlgorithm] {
        match usage {
            KeyUsage::KeyAgreement => &[KeyAgreementAlgorithm::Ecdh],
            _ => &[],
        }
    }

    /// The encapsulation algorithms of an ML-KEM key.
    pub fn encapsulation_algorithms(self, usage: KeyUsage) -> &'static [EncapsulationAlgorithm] {
        match usage {
            KeyUsage::EncapsulateDecapsulate => &[EncapsulationAlgorithm::MlKem],
            _ => &[],
        }
    }

    /// The secret length of an HMAC key (AWS: the key is as long as the hash).
    pub fn hmac_key_len(self) -> Option<usize> {
        match self {
            KeySpec::Hmac224 => Some(28),
            KeySpec::Hmac256 => Some(32),
            KeySpec::Hmac384 => Some(48),
            KeySpec::Hmac512 => Some(64),
            _ => None,
        }
    }

    /// An RSA key's modulus length in bytes.
    pub fn rsa_modulus_len(self) -> Option<usize> {
        match self {
            KeySpec::Rsa2048 => Some(256),
            KeySpec::Rsa3072 => Some(384),
            KeySpec::Rsa4096 => Some(512),
            _ => None,
        }
    }
}

impl EncryptionAlgorithm {
    /// The longest plaintext RSAES-OAEP takes under a modulus of `modulus_len` bytes:
    /// `k - 2·hLen - 2` (RFC 8017 §7.1.1), as AWS's limits are (214 and 190 bytes for
    /// RSA_2048).
    pub fn max_oaep_plaintext(self, modulus_len: usize) -> usize {
        let hash_len = match self {
            EncryptionAlgorithm::RsaesOaepSha1 => 20,
            _ => 32,
        };
        modulus_len.saturating_sub(2 * hash_len + 2)
    }
}

impl SigningAlgorithm {
    /// The digest length a DIGEST message must have for this algorithm.
    pub fn digest_len(self) -> Option<usize> {
        use SigningAlgorithm::*;
        match self {
            RsassaPssSha256 | RsassaPkcs1V15Sha256 | EcdsaSha256 | Sm2Dsa => Some(32),
            RsassaPssSha384 | RsassaPkcs1V15Sha384 | EcdsaSha384 => Some(48),
            RsassaPssSha512 | RsassaPkcs1V15Sha512 | EcdsaSha512 | Ed25519PhSha512 => Some(64),
            Ed25519Sha512 | MlDsaShake256 => None,
        }
    }

    /// Checks `message` against the message type: RAW up to 4096 bytes, DIGEST of exactly
    /// the algorithm's digest length, EXTERNAL_MU (ML-DSA only) of 64 bytes.
    pub fn check_message(self, message_type: MessageType, message: &[u8]) -> Result<(), Error> {
        match message_type {
            // AWS: ED25519_PH_SHA_512 requires DIGEST.
            MessageType::Raw if self == SigningAlgorithm::Ed25519PhSha512 => {
                Err(Error::message_type_for_algorithm(message_type, self))
            }
            MessageType::Raw => Ok(()),
            MessageType::Digest => match self.digest_len() {
                Some(len) if len == message.len() => Ok(()),
                Some(_) => Err(Error::digest_length(self)),
                None => Err(Error::message_type_for_algorithm(message_type, self)),
            },
            MessageType::ExternalMu => match self {
                SigningAlgorithm::MlDsaShake256 if message.len() == MU_LEN => Ok(()),
                SigningAlgorithm::MlDsaShake256 => Err(Error::digest_length(self)),
                _ => Err(Error::message_type_for_algorithm(message_type, self)),
            },
        }
    }
}

impl DataKeyPairSpec {
    /// The key spec of the same name.
    pub fn key_spec(self) -> KeySpec {
        use DataKeyPairSpec as D;
        match self {
            D::Rsa2048 => KeySpec::Rsa2048,
            D::Rsa3072 => KeySpec::Rsa3072,
            D::Rsa4096 => KeySpec::Rsa4096,
            D::EccNistP256 => KeySpec::EccNistP256,
            D::EccNistP384 => KeySpec::EccNistP384,
            D::EccNistP521 => KeySpec::EccNistP521,
            D::EccSecgP256k1 => KeySpec::EccSecgP256k1,
            D::Sm2 => KeySpec::Sm2,
            D::EccNistEdwards25519 => KeySpec::EccNistEdwards25519,
            D::MlKem512 => KeySpec::MlKem512,
            D::MlKem768 => KeySpec::MlKem768,
            D::MlKem1024 => KeySpec::MlKem1024,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_spec_but_sm2_has_algorithms_for_each_usage_it_allows() {
        for &spec in KeySpec::ALL {
            for &usage in spec.usages() {
                let offered = spec.encryption_algorithms(usage).len()
                    + spec.signing_algorithms(usage).len()
                    + spec.mac_algorithms(usage).len()
                    + spec.key_agreement_algorithms(usage).len()
                    + spec.encapsulation_algorithms(usage).len();
                assert!(offered > 0, "{spec} {usage}");
            }
        }
    }

    #[test]
    fn usages_follow_aws() {
        assert!(KeySpec::Rsa2048.check_usage(KeyUsage::SignVerify).is_ok());
        assert!(KeySpec::EccNistP256
            .check_usage(KeyUsage::KeyAgreement)
            .is_ok());
        let err = KeySpec::Hmac224
            .check_usage(KeyUsage::EncryptDecrypt)
            .unwrap_err();
        assert_eq!(
            err.message,
            "KeyUsage ENCRYPT_DECRYPT is not compatible with KeySpec HMAC_224"
        );
        assert!(KeySpec::EccSecgP256k1
            .check_usage(KeyUsage::KeyAgreement)
            .is_err());
        assert!(KeySpec::MlKem768
            .check_usage(KeyUsage::EncapsulateDecapsulate)
            .is_ok());
    }

    #[test]
    fn oaep_limits_are_aws_figures() {
        assert_eq!(
            EncryptionAlgorithm::RsaesOaepSha1.max_oaep_plaintext(256),
            214
        );
        assert_eq!(
            EncryptionAlgorithm::RsaesOaepSha256.max_oaep_plaintext(256),
            190
        );
        assert_eq!(
            EncryptionAlgorithm::RsaesOaepSha256.max_oaep_plaintext(512),
            446
        );
    }

    #[test]
    fn digests_must_have_the_hash_length() {
        let a = SigningAlgorithm::EcdsaSha256;
        assert!(a.check_message(MessageType::Digest, &[0; 32]).is_ok());
        assert_eq!(
            a.check_message(MessageType::Digest, &[0; 31])
                .unwrap_err()
                .message,
            "Digest is invalid length for algorithm ECDSA_SHA_256."
        );
        assert!(a.check_message(MessageType::ExternalMu, &[0; 64]).is_err());
        assert!(SigningAlgorithm::Ed25519Sha512
            .check_message(MessageType::Digest, &[0; 64])
            .is_err());
        assert!(SigningAlgorithm::Ed25519PhSha512
            .check_message(MessageType::Raw, b"m")
            .is_err());
        assert!(SigningAlgorithm::MlDsaShake256
            .check_message(MessageType::ExternalMu, &[0; 64])
            .is_ok());
    }
}
