//! Every refusal of the key-type operations (issue 23) as AWS answers it: code, HTTP status and
//! message, on one real `trentd`, and none of them changes a key.

use serde_json::{json, Value};
use trent_client::Client;

use crate::fidelity::{answered_as_aws_without_change, case, null, silent, Case};
use crate::harness::*;

/// A key of each kind the cases use.
struct Keys {
    symmetric: String,
    signer: String,
    rsa: String,
    hmac: String,
    agreement: String,
    kem: String,
}

async fn create(client: &Client, spec: &str, usage: &str) -> (String, String) {
    let made = client
        .kms("CreateKey", &json!({"KeySpec": spec, "KeyUsage": usage}))
        .await
        .unwrap();
    let m = &made["KeyMetadata"];
    (
        m["KeyId"].as_str().unwrap().to_owned(),
        m["Arn"].as_str().unwrap().to_owned(),
    )
}

fn cases(k: &Keys, arn: impl Fn(&str) -> String) -> Vec<Case> {
    let usage = |key: &str, usage: &str, op: &str| {
        format!(
            "{} key usage is {usage} which is not valid for {op}.",
            arn(key)
        )
    };
    let incompatible =
        |alg: &str, spec: &str| format!("Algorithm {alg} is incompatible with key spec {spec}.");
    let sign = |extra: Value| {
        let mut body =
            json!({"KeyId": k.signer, "Message": "aGk=", "SigningAlgorithm": "ECDSA_SHA_256"});
        body.as_object_mut()
            .unwrap()
            .extend(extra.as_object().unwrap().clone());
        body
    };
    let big = base64_of(&vec![0u8; 4097]);
    vec![
        case("CreateKey", json!({"KeySpec": "ML_KEM_768", "KeyUsage": "SIGN_VERIFY"}), "ValidationException",
            "KeyUsage SIGN_VERIFY is not compatible with KeySpec ML_KEM_768"),
        case("CreateKey", json!({"KeySpec": "ECC_SECG_P256K1", "KeyUsage": "KEY_AGREEMENT"}), "ValidationException",
            "KeyUsage KEY_AGREEMENT is not compatible with KeySpec ECC_SECG_P256K1"),
        case("Sign", json!({"KeyId": k.symmetric, "Message": "aGk=", "SigningAlgorithm": "ECDSA_SHA_256"}),
            "InvalidKeyUsageException", &usage(&k.symmetric, "ENCRYPT_DECRYPT", "Sign")),
        case("Sign", sign(json!({"SigningAlgorithm": "RSASSA_PSS_SHA_256"})), "InvalidKeyUsageException",
            &incompatible("RSASSA_PSS_SHA_256", "ECC_NIST_P256")),
        case("Sign", sign(json!({"MessageType": "DIGEST", "Message": base64_of(&[0u8; 31])})), "ValidationException",
            "Digest is invalid length for algorithm ECDSA_SHA_256."),
        case("Sign", sign(json!({"MessageType": "EXTERNAL_MU", "Message": base64_of(&[0u8; 64])})),
            "InvalidKeyUsageException", "MessageType EXTERNAL_MU is not supported with signing algorithm ECDSA_SHA_256."),
        case("Sign", json!({"KeyId": k.signer, "Message": "aGk="}), "ValidationException", &null("signingAlgorithm")),
        case("Sign", sign(json!({"Message": big})), "ValidationException",
            &crate::fidelity::one("Value at 'message' failed to satisfy constraint: Member must have length less than or equal to 4096")),
        case("Sign", sign(json!({"DryRun": true})), "DryRunOperationException",
            "The request would have succeeded, but the DryRun option is set."),
        silent("Verify", sign(json!({"Signature": base64_of(&[0x30, 0x06, 2, 1, 1, 2, 1, 1])})), "KMSInvalidSignatureException"),
        case("GetPublicKey", json!({"KeyId": k.symmetric}), "InvalidKeyUsageException",
            &usage(&k.symmetric, "ENCRYPT_DECRYPT", "GetPublicKey")),
        case("GetPublicKey", json!({"KeyId": k.hmac}), "InvalidKeyUsageException",
            &usage(&k.hmac, "GENERATE_VERIFY_MAC", "GetPublicKey")),
        case("GenerateMac", json!({"KeyId": k.signer, "Message": "aGk=", "MacAlgorithm": "HMAC_SHA_256"}),
            "InvalidKeyUsageException", &usage(&k.signer, "SIGN_VERIFY", "GenerateMac")),
        case("GenerateMac", json!({"KeyId": k.hmac, "Message": "aGk=", "MacAlgorithm": "HMAC_SHA_512"}),
            "InvalidKeyUsageException", &incompatible("HMAC_SHA_512", "HMAC_256")),
        silent("VerifyMac", json!({"KeyId": k.hmac, "Message": "aGk=", "MacAlgorithm": "HMAC_SHA_256", "Mac": base64_of(&[0u8; 32])}),
            "KMSInvalidMacException"),
        case("Encrypt", json!({"KeyId": k.rsa, "Plaintext": "aGk="}), "InvalidKeyUsageException",
            &incompatible("SYMMETRIC_DEFAULT", "RSA_2048")),
        case("Encrypt", json!({"KeyId": k.rsa, "Plaintext": base64_of(&[1u8; 215]), "EncryptionAlgorithm": "RSAES_OAEP_SHA_1"}),
            "ValidationException", "Plaintext is too long for RSAES_OAEP_SHA_1 with a RSA_2048 key: at most 214 bytes."),
        case("Encrypt", json!({"KeyId": k.rsa, "Plaintext": "aGk=", "EncryptionAlgorithm": "RSAES_OAEP_SHA_256", "EncryptionContext": {"a": "b"}}),
            "ValidationException", "EncryptionContext is not supported with asymmetric KMS keys."),
        case("Encrypt", json!({"KeyId": k.signer, "Plaintext": "aGk="}), "InvalidKeyUsageException",
            &usage(&k.signer, "SIGN_VERIFY", "Encrypt")),
        case("Decrypt", json!({"CiphertextBlob": base64_of(&[1u8; 256]), "EncryptionAlgorithm": "RSAES_OAEP_SHA_256"}),
            "ValidationException", "KeyId is required to decrypt with an asymmetric KMS key."),
        silent("Decrypt", json!({"KeyId": k.rsa, "CiphertextBlob": base64_of(&[1u8; 256]), "EncryptionAlgorithm": "RSAES_OAEP_SHA_256"}),
            "InvalidCiphertextException"),
        case("Decrypt", json!({"KeyId": k.rsa, "CiphertextBlob": base64_of(&[1u8; 256])}), "InvalidKeyUsageException",
            &incompatible("SYMMETRIC_DEFAULT", "RSA_2048")),
        case("GenerateDataKey", json!({"KeyId": k.rsa, "KeySpec": "AES_256"}), "InvalidKeyUsageException",
            &incompatible("SYMMETRIC_DEFAULT", "RSA_2048")),
        case("DeriveSharedSecret", json!({"KeyId": k.agreement, "KeyAgreementAlgorithm": "ECDH", "PublicKey": "AAAA"}),
            "ValidationException", "PublicKey must be a DER-encoded X.509 SubjectPublicKeyInfo of a ECC_NIST_P256 public key."),
        case("DeriveSharedSecret", json!({"KeyId": k.signer, "KeyAgreementAlgorithm": "ECDH", "PublicKey": "AAAA"}),
            "InvalidKeyUsageException", &usage(&k.signer, "SIGN_VERIFY", "DeriveSharedSecret")),
        case("Encapsulate", json!({"KeyId": k.symmetric, "EncapsulationAlgorithm": "ML_KEM"}), "InvalidKeyUsageException",
            &usage(&k.symmetric, "ENCRYPT_DECRYPT", "Encapsulate")),
        silent("Decapsulate", json!({"KeyId": k.kem, "EncapsulationAlgorithm": "ML_KEM", "SharedSecretCiphertextBlob": "AAAA"}),
            "InvalidCiphertextException"),
        case("GenerateDataKeyPair", json!({"KeyId": k.symmetric, "KeyPairSpec": "SM2"}), "UnsupportedOperationException",
            "KeySpec SM2 is available only in the AWS China Regions; trent does not offer it."),
        case("GenerateDataKeyPair", json!({"KeyId": k.rsa, "KeyPairSpec": "ECC_NIST_P256"}), "InvalidKeyUsageException",
            &incompatible("SYMMETRIC_DEFAULT", "RSA_2048")),
    ]
}

fn base64_of(bytes: &[u8]) -> String {
    use base64::Engine as _;
    base64::engine::general_purpose::STANDARD.encode(bytes)
}

#[tokio::test(flavor = "multi_thread")]
async fn every_refusal_of_the_key_type_operations_is_answered_as_aws_answers_it() {
    let cluster = TestCluster::start(188, 1, &[]);
    cluster.leader().await;
    let client = cluster.client(1);
    let (symmetric, arn) = create(&client, "SYMMETRIC_DEFAULT", "ENCRYPT_DECRYPT").await;
    let prefix = arn.rsplit_once('/').unwrap().0.to_owned();
    let keys = Keys {
        symmetric,
        signer: create(&client, "ECC_NIST_P256", "SIGN_VERIFY").await.0,
        rsa: create(&client, "RSA_2048", "ENCRYPT_DECRYPT").await.0,
        hmac: create(&client, "HMAC_256", "GENERATE_VERIFY_MAC").await.0,
        agreement: create(&client, "ECC_NIST_P256", "KEY_AGREEMENT").await.0,
        kem: create(&client, "ML_KEM_768", "ENCAPSULATE_DECAPSULATE")
            .await
            .0,
    };
    let before = list_keys(&client).await.unwrap();
    let cases = cases(&keys, |id| format!("{prefix}/{id}"));
    answered_as_aws_without_change(&client, &cases, before).await;
}
