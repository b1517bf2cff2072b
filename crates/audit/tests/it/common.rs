//! Test helpers: signers over key pairs generated here, and events that look like real calls.

use std::sync::{Arc, OnceLock};

use aws_lc_rs::encoding::AsDer;
use aws_lc_rs::rand::SystemRandom;
use aws_lc_rs::rsa::KeySize;
use aws_lc_rs::signature::{
    EcdsaKeyPair, KeyPair, RsaKeyPair, ECDSA_P256_SHA256_ASN1_SIGNING, RSA_PKCS1_SHA256,
};
use time::macros::datetime;
use time::OffsetDateTime;
use trent_audit::{
    Batch, Call, DigestSigner, Event, IdentityType, Resource, SignError, TlsDetails, Trail,
    UserIdentity, SHA256_WITH_ECDSA, SHA256_WITH_RSA,
};

pub struct RsaSigner {
    key: RsaKeyPair,
}

impl DigestSigner for RsaSigner {
    fn sign(&self, bytes: &[u8]) -> Result<Vec<u8>, SignError> {
        let mut sig = vec![0; self.key.public_modulus_len()];
        let rng = SystemRandom::new();
        self.key
            .sign(&RSA_PKCS1_SHA256, &rng, bytes, &mut sig)
            .map_err(|e| SignError(e.to_string()))?;
        Ok(sig)
    }
    fn public_key_der(&self) -> Vec<u8> {
        self.key
            .public_key()
            .as_der()
            .expect("DER")
            .as_ref()
            .to_vec()
    }
    fn algorithm(&self) -> &str {
        SHA256_WITH_RSA
    }
}

/// One RSA-2048 key per test binary (generating one is the slow part).
pub fn rsa_signer() -> Arc<RsaSigner> {
    static SIGNER: OnceLock<Arc<RsaSigner>> = OnceLock::new();
    SIGNER
        .get_or_init(|| {
            let key = RsaKeyPair::generate(KeySize::Rsa2048).expect("RSA key generation");
            Arc::new(RsaSigner { key })
        })
        .clone()
}

pub struct EcSigner {
    key: EcdsaKeyPair,
}

impl EcSigner {
    pub fn new() -> EcSigner {
        let key = EcdsaKeyPair::generate(&ECDSA_P256_SHA256_ASN1_SIGNING).expect("EC key");
        EcSigner { key }
    }
}

impl DigestSigner for EcSigner {
    fn sign(&self, bytes: &[u8]) -> Result<Vec<u8>, SignError> {
        let sig = self
            .key
            .sign(&SystemRandom::new(), bytes)
            .map_err(|e| SignError(e.to_string()))?;
        Ok(sig.as_ref().to_vec())
    }
    fn public_key_der(&self) -> Vec<u8> {
        self.key
            .public_key()
            .as_der()
            .expect("DER")
            .as_ref()
            .to_vec()
    }
    fn algorithm(&self) -> &str {
        SHA256_WITH_ECDSA
    }
}

pub const ACCOUNT: &str = "111122223333";
pub const KEY_ARN: &str =
    "arn:aws:kms:us-west-2:111122223333:key/1234abcd-12ab-34cd-56ef-1234567890ab";

pub fn trail() -> Trail {
    Trail {
        account: ACCOUNT.into(),
        region: "us-west-2".into(),
        bucket: "trent-audit".into(),
        name: "trent".into(),
    }
}

pub fn t0() -> OffsetDateTime {
    datetime!(2025-05-20 20:46:16 UTC)
}

/// The n-th Encrypt by Alice, `n` seconds after [`t0`], with a unique eventID and requestID.
pub fn encrypt_event(n: u64) -> Event {
    let mut e = Event::kms(Call {
        identity: UserIdentity {
            kind: IdentityType::IamUser,
            principal_id: Some("EX_PRINCIPAL_ID".into()),
            arn: Some("arn:aws:iam::111122223333:user/Alice".into()),
            account_id: Some(ACCOUNT.into()),
            access_key_id: Some("EXAMPLE_KEY_ID".into()),
            user_name: Some("Alice".into()),
        },
        time: t0() + time::Duration::seconds(n as i64),
        operation: "Encrypt".into(),
        region: "us-west-2".into(),
        source_ip: "192.0.2.0".into(),
        user_agent: "aws-cli/2".into(),
        request_id: format!("00000000-0000-4000-8000-{n:012}"),
        event_id: format!("e0000000-0000-4000-8000-{n:012}"),
        read_only: true,
        recipient_account_id: ACCOUNT.into(),
    });
    e.request_parameters = Some(serde_json::json!({
        "keyId": KEY_ARN,
        "encryptionContext": {"Department": "Engineering"},
        "encryptionAlgorithm": "SYMMETRIC_DEFAULT",
    }));
    e.resources = vec![Resource::key(ACCOUNT, KEY_ARN)];
    e.tls_details = Some(TlsDetails {
        tls_version: "TLSv1.3".into(),
        cipher_suite: "TLS_AES_256_GCM_SHA384".into(),
        client_provided_host_header: "kms.us-west-2.amazonaws.com".into(),
    });
    e
}

/// `sizes.len()` sealed batches from seq `first`, batch i holding `sizes[i]` events;
/// events numbered from `first_event`.
pub fn batches(first: u64, prev: [u8; 32], first_event: u64, sizes: &[usize]) -> Vec<Batch> {
    let mut out = Vec::new();
    let (mut prev, mut n) = (prev, first_event);
    for (i, &size) in sizes.iter().enumerate() {
        let events = (0..size as u64).map(|k| encrypt_event(n + k)).collect();
        n += size as u64;
        let batch = Batch::seal(first + i as u64, prev, events);
        prev = batch.hash();
        out.push(batch);
    }
    out
}
