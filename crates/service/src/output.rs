//! What an operation answers: the AWS-shaped response, typed for the cryptographic
//! operations (the hot path), a JSON value for the rest.
//!
//! The service never encodes a response itself: the front end serializes an [`Output`]
//! straight into the HTTP body, so a 4 KB ciphertext is base64-encoded once, into the
//! body, and never passes through an intermediate `serde_json::Value`.

use serde::Serialize;
use serde_json::Value;

use crate::Blob;

/// An operation's answer. Serializes as the AWS response body.
#[derive(Debug, Serialize)]
#[serde(untagged)]
pub enum Output {
    Json(Value),
    Encrypt(EncryptResponse),
    Decrypt(DecryptResponse),
    ReEncrypt(ReEncryptResponse),
    DataKey(GenerateDataKeyResponse),
    Random(GenerateRandomResponse),
    SharedSecret(SharedSecretResponse),
    DataKeyPair(GenerateDataKeyPairResponse),
}

impl Output {
    /// The answer as a JSON value (tests and in-process callers index into it).
    pub fn into_value(self) -> Value {
        match self {
            Output::Json(value) => value,
            typed => serde_json::to_value(&typed).expect("responses serialize"),
        }
    }
}

impl From<Value> for Output {
    fn from(value: Value) -> Output {
        Output::Json(value)
    }
}

#[derive(Debug, Serialize)]
#[serde(rename_all = "PascalCase")]
pub struct EncryptResponse {
    pub ciphertext_blob: Blob,
    /// The key ARN.
    pub key_id: String,
    pub encryption_algorithm: &'static str,
}

#[derive(Debug, Serialize)]
#[serde(rename_all = "PascalCase")]
pub struct DecryptResponse {
    pub key_id: String,
    pub plaintext: Blob,
    pub encryption_algorithm: &'static str,
    /// The material version that sealed the ciphertext ([`trent_model::key_material_id`]);
    /// AWS sends it for symmetric keys only.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub key_material_id: Option<String>,
}

#[derive(Debug, Serialize)]
#[serde(rename_all = "PascalCase")]
pub struct ReEncryptResponse {
    pub ciphertext_blob: Blob,
    pub source_key_id: String,
    pub key_id: String,
    pub source_encryption_algorithm: &'static str,
    pub destination_encryption_algorithm: &'static str,
    /// The material version that sealed the source ciphertext.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub source_key_material_id: Option<String>,
    /// The material version that sealed the new ciphertext.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub destination_key_material_id: Option<String>,
}

/// The answer of DeriveSharedSecret, Encapsulate and Decapsulate: a shared secret, typed so
/// that it lives only in a [`Blob`] (zeroized when the answer is dropped), never in a JSON
/// value's string.
#[derive(Debug, Serialize)]
#[serde(rename_all = "PascalCase")]
pub struct SharedSecretResponse {
    pub key_id: String,
    pub shared_secret: Blob,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub shared_secret_ciphertext_blob: Option<Blob>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub key_agreement_algorithm: Option<&'static str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub key_origin: Option<&'static str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub encapsulation_algorithm: Option<&'static str>,
}

/// GenerateDataKeyPair's answer; GenerateDataKeyPairWithoutPlaintext's has no
/// `PrivateKeyPlaintext`.
#[derive(Debug, Serialize)]
#[serde(rename_all = "PascalCase")]
pub struct GenerateDataKeyPairResponse {
    pub key_id: String,
    pub key_pair_spec: &'static str,
    pub private_key_ciphertext_blob: Blob,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub private_key_plaintext: Option<Blob>,
    pub public_key: Blob,
    pub key_material_id: String,
}

/// GenerateDataKey's answer; GenerateDataKeyWithoutPlaintext's has no `Plaintext`.
#[derive(Debug, Serialize)]
#[serde(rename_all = "PascalCase")]
pub struct GenerateDataKeyResponse {
    pub ciphertext_blob: Blob,
    pub key_id: String,
    /// The material version that sealed the data key.
    pub key_material_id: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub plaintext: Option<Blob>,
}

#[derive(Debug, Serialize)]
#[serde(rename_all = "PascalCase")]
pub struct GenerateRandomResponse {
    pub plaintext: Blob,
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn typed_answers_serialize_as_aws_shapes() {
        let out = Output::DataKey(GenerateDataKeyResponse {
            ciphertext_blob: Blob(vec![1, 2, 3]),
            key_id: "arn".into(),
            key_material_id: "ab".repeat(32),
            plaintext: None,
        });
        assert_eq!(
            out.into_value(),
            json!({"CiphertextBlob": "AQID", "KeyId": "arn", "KeyMaterialId": "ab".repeat(32)})
        );
        let out = Output::Encrypt(EncryptResponse {
            ciphertext_blob: Blob(vec![0xff]),
            key_id: "arn".into(),
            encryption_algorithm: "SYMMETRIC_DEFAULT",
        });
        let body = serde_json::to_vec(&out).unwrap();
        assert_eq!(
            serde_json::from_slice::<Value>(&body).unwrap(),
            json!({"CiphertextBlob": "/w==", "KeyId": "arn", "EncryptionAlgorithm": "SYMMETRIC_DEFAULT"})
        );
        assert_eq!(Output::from(json!({})).into_value(), json!({}));
    }
}
