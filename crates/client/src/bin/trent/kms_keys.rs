//! `trent kms` commands for keys other than symmetric encryption keys: signing, MACs, public
//! keys, key agreement, key encapsulation and data key pairs. Messages, signatures and MACs are read from files; what the service answers
//! is printed as base64.

use std::path::PathBuf;

use aws_sdk_kms::types::{
    DataKeyPairSpec, EncapsulationAlgorithmSpec, KeyAgreementAlgorithmSpec, MacAlgorithmSpec,
    MessageType, SigningAlgorithmSpec,
};
use clap::Subcommand;
use serde_json::{json, Value};

use crate::kms::{b64, err, read};

#[derive(Subcommand)]
pub enum KeyCmd {
    /// Signs the message in --message-file (at most 4096 bytes, or a digest with
    /// --message-type DIGEST) with an asymmetric SIGN_VERIFY key.
    Sign {
        /// Key id, key ARN, alias name or alias ARN.
        #[arg(long)]
        key_id: String,
        #[arg(long)]
        message_file: PathBuf,
        /// RSASSA_PSS_SHA_256, ECDSA_SHA_256, ED25519_SHA_512, ML_DSA_SHAKE_256, ...
        #[arg(long)]
        signing_algorithm: String,
        /// RAW (default) or DIGEST.
        #[arg(long, default_value = "RAW")]
        message_type: String,
    },
    /// Verifies the signature in --signature-file of the message in --message-file.
    Verify {
        #[arg(long)]
        key_id: String,
        #[arg(long)]
        message_file: PathBuf,
        /// The signature, raw bytes (as Sign made it, base64-decoded).
        #[arg(long)]
        signature_file: PathBuf,
        #[arg(long)]
        signing_algorithm: String,
        #[arg(long, default_value = "RAW")]
        message_type: String,
    },
    /// Prints a key's public key (DER SubjectPublicKeyInfo, base64) and what it is for.
    GetPublicKey {
        #[arg(long)]
        key_id: String,
    },
    /// Computes the HMAC of the message in --message-file with an HMAC key.
    GenerateMac {
        #[arg(long)]
        key_id: String,
        #[arg(long)]
        message_file: PathBuf,
        /// HMAC_SHA_224, HMAC_SHA_256, HMAC_SHA_384 or HMAC_SHA_512: the key's.
        #[arg(long)]
        mac_algorithm: String,
    },
    /// Checks the HMAC in --mac-file of the message in --message-file.
    VerifyMac {
        #[arg(long)]
        key_id: String,
        #[arg(long)]
        message_file: PathBuf,
        #[arg(long)]
        mac_file: PathBuf,
        #[arg(long)]
        mac_algorithm: String,
    },
    /// ECDH between a KEY_AGREEMENT key and the public key in --public-key-file (DER
    /// SubjectPublicKeyInfo); prints the raw shared secret (base64).
    DeriveSharedSecret {
        #[arg(long)]
        key_id: String,
        #[arg(long)]
        public_key_file: PathBuf,
    },
    /// Makes a key pair outside trent's keeping: the private key (PKCS#8) in plaintext and
    /// encrypted under --key-id (a symmetric key), and the public key (all base64).
    GenerateDataKeyPair {
        #[arg(long)]
        key_id: String,
        /// RSA_2048, ECC_NIST_P256, ECC_SECG_P256K1, ECC_NIST_EDWARDS25519, ML_KEM_768, ...
        #[arg(long)]
        key_pair_spec: String,
    },
    /// A fresh shared secret and its ML-KEM ciphertext under an ENCAPSULATE_DECAPSULATE key.
    Encapsulate {
        #[arg(long)]
        key_id: String,
    },
    /// The shared secret of the ML-KEM ciphertext in --ciphertext-file.
    Decapsulate {
        #[arg(long)]
        key_id: String,
        #[arg(long)]
        ciphertext_file: PathBuf,
    },
}

pub async fn run(kms: &aws_sdk_kms::Client, command: KeyCmd) -> Result<Value, String> {
    Ok(match command {
        KeyCmd::Sign {
            key_id,
            message_file,
            signing_algorithm,
            message_type,
        } => {
            let out = kms
                .sign()
                .key_id(key_id)
                .message(read(&message_file)?)
                .signing_algorithm(SigningAlgorithmSpec::from(signing_algorithm.as_str()))
                .message_type(MessageType::from(message_type.as_str()))
                .send()
                .await
                .map_err(err)?;
            json!({
                "KeyId": out.key_id(),
                "Signature": out.signature().map(|b| b64(b.as_ref())),
                "SigningAlgorithm": out.signing_algorithm().map(|a| a.as_str()),
            })
        }
        KeyCmd::Verify {
            key_id,
            message_file,
            signature_file,
            signing_algorithm,
            message_type,
        } => {
            let out = kms
                .verify()
                .key_id(key_id)
                .message(read(&message_file)?)
                .signature(read(&signature_file)?)
                .signing_algorithm(SigningAlgorithmSpec::from(signing_algorithm.as_str()))
                .message_type(MessageType::from(message_type.as_str()))
                .send()
                .await
                .map_err(err)?;
            json!({"KeyId": out.key_id(), "SignatureValid": out.signature_valid()})
        }
        KeyCmd::GetPublicKey { key_id } => {
            let out = kms
                .get_public_key()
                .key_id(key_id)
                .send()
                .await
                .map_err(err)?;
            json!({
                "KeyId": out.key_id(),
                "PublicKey": out.public_key().map(|b| b64(b.as_ref())),
                "KeySpec": out.key_spec().map(|s| s.as_str()),
                "KeyUsage": out.key_usage().map(|u| u.as_str()),
                "SigningAlgorithms": out.signing_algorithms().iter().map(|a| a.as_str()).collect::<Vec<_>>(),
                "EncryptionAlgorithms": out.encryption_algorithms().iter().map(|a| a.as_str()).collect::<Vec<_>>(),
            })
        }
        KeyCmd::GenerateMac {
            key_id,
            message_file,
            mac_algorithm,
        } => {
            let out = kms
                .generate_mac()
                .key_id(key_id)
                .message(read(&message_file)?)
                .mac_algorithm(MacAlgorithmSpec::from(mac_algorithm.as_str()))
                .send()
                .await
                .map_err(err)?;
            json!({"KeyId": out.key_id(), "Mac": out.mac().map(|b| b64(b.as_ref()))})
        }
        KeyCmd::VerifyMac {
            key_id,
            message_file,
            mac_file,
            mac_algorithm,
        } => {
            let out = kms
                .verify_mac()
                .key_id(key_id)
                .message(read(&message_file)?)
                .mac(read(&mac_file)?)
                .mac_algorithm(MacAlgorithmSpec::from(mac_algorithm.as_str()))
                .send()
                .await
                .map_err(err)?;
            json!({"KeyId": out.key_id(), "MacValid": out.mac_valid()})
        }
        KeyCmd::DeriveSharedSecret {
            key_id,
            public_key_file,
        } => {
            let out = kms
                .derive_shared_secret()
                .key_id(key_id)
                .key_agreement_algorithm(KeyAgreementAlgorithmSpec::Ecdh)
                .public_key(read(&public_key_file)?)
                .send()
                .await
                .map_err(err)?;
            json!({
                "KeyId": out.key_id(),
                "SharedSecret": out.shared_secret().map(|b| b64(b.as_ref())),
            })
        }
        KeyCmd::GenerateDataKeyPair {
            key_id,
            key_pair_spec,
        } => {
            let out = kms
                .generate_data_key_pair()
                .key_id(key_id)
                .key_pair_spec(DataKeyPairSpec::from(key_pair_spec.as_str()))
                .send()
                .await
                .map_err(err)?;
            json!({
                "KeyId": out.key_id(),
                "PrivateKeyPlaintext": out.private_key_plaintext().map(|b| b64(b.as_ref())),
                "PrivateKeyCiphertextBlob": out.private_key_ciphertext_blob().map(|b| b64(b.as_ref())),
                "PublicKey": out.public_key().map(|b| b64(b.as_ref())),
            })
        }
        KeyCmd::Encapsulate { key_id } => {
            let out = kms
                .encapsulate()
                .key_id(key_id)
                .encapsulation_algorithm(EncapsulationAlgorithmSpec::MlKem)
                .send()
                .await
                .map_err(err)?;
            json!({
                "KeyId": out.key_id(),
                "SharedSecret": out.shared_secret().map(|b| b64(b.as_ref())),
                "SharedSecretCiphertextBlob": out.shared_secret_ciphertext_blob().map(|b| b64(b.as_ref())),
            })
        }
        KeyCmd::Decapsulate {
            key_id,
            ciphertext_file,
        } => {
            let out = kms
                .decapsulate()
                .key_id(key_id)
                .encapsulation_algorithm(EncapsulationAlgorithmSpec::MlKem)
                .shared_secret_ciphertext_blob(read(&ciphertext_file)?)
                .send()
                .await
                .map_err(err)?;
            json!({
                "KeyId": out.key_id(),
                "SharedSecret": out.shared_secret().map(|b| b64(b.as_ref())),
            })
        }
    })
}
