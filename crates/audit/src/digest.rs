//! Signed digests: what a range of batches hashed to, in the shape of a CloudTrail digest
//! file, signed by a key the caller holds (the HSM's audit signing key, later).
//!
//! Matched to AWS ("CloudTrail digest file structure"; "Custom implementations of CloudTrail
//! log file integrity validation"):
//! - The members and their order: `awsAccountId`, `digestStartTime`, `digestEndTime`,
//!   `digestS3Bucket`, `digestS3Object`, `digestPublicKeyFingerprint`,
//!   `digestSignatureAlgorithm`, `newestEventTime`, `oldestEventTime`,
//!   `previousDigestS3Bucket`, `previousDigestS3Object`, `previousDigestHashValue`,
//!   `previousDigestHashAlgorithm`, `previousDigestSignature` (all five `null` in the first
//!   digest), `logFiles` [{`s3Bucket`, `s3Object`, `hashValue`, `hashAlgorithm`,
//!   `newestEventTime`, `oldestEventTime`}]. Hash values are hex SHA-256 of the
//!   *uncompressed* file.
//! - The signature is not in the file (CloudTrail keeps it in the object's
//!   `x-amz-meta-signature`); trent writes it, hex, beside the file as `<digest>.sig`. It
//!   signs the data signing string: `digestEndTime` `\n` `bucket/object` `\n` hex SHA-256 of
//!   the uncompressed digest `\n` the previous digest's hex signature (`null` for the first).
//!
//! Not matched: `digestS3Bucket`/`s3Bucket` hold the trail's bucket label and
//! `digestS3Object`/`s3Object` a file name in the export directory (no S3); the fingerprint
//! is the first 16 bytes of SHA-256 of the public key's DER, hex (CloudTrail's is an MD5, the
//! same length); and three members are trent's own, after `logFiles`: `firstBatchSeq`,
//! `lastBatchSeq`, `lastBatchHashValue` (the chain position the digest vouches for).
//!
//! Signature algorithm: `SHA256withRSA` (RSASSA-PKCS1-v1_5 with SHA-256, RSA 2048 or more),
//! CloudTrail's, so a validator written to AWS's custom-validation page works unchanged
//! (`openssl dgst -sha256 -verify`). ECDSA P-256 would sign faster and smaller, but a digest is
//! signed once per export interval, so speed buys nothing; [`verify_signature`] also accepts
//! `SHA256withECDSA` (P-256, DER signature) so an HSM that only has EC keys can sign.

use aws_lc_rs::signature::{
    UnparsedPublicKey, VerificationAlgorithm, ECDSA_P256_SHA256_ASN1, RSA_PKCS1_2048_8192_SHA256,
};
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};
use time::OffsetDateTime;

use crate::event::{hex32, utc_seconds};
use crate::Error;

/// `hashAlgorithm` and `previousDigestHashAlgorithm`.
pub const HASH_ALGORITHM: &str = "SHA-256";
/// CloudTrail's digest signature algorithm, trent's default.
pub const SHA256_WITH_RSA: &str = "SHA256withRSA";
/// ECDSA P-256 with SHA-256, DER-encoded signatures.
pub const SHA256_WITH_ECDSA: &str = "SHA256withECDSA";

/// A signer failed (the HSM refused or is unreachable).
#[derive(Debug, thiserror::Error)]
#[error("the digest signer failed: {0}")]
pub struct SignError(pub String);

/// Signs digests with a key it keeps (the HSM will keep it inside its boundary).
pub trait DigestSigner {
    /// The signature of `bytes` (the data signing string) under [`DigestSigner::algorithm`].
    fn sign(&self, bytes: &[u8]) -> Result<Vec<u8>, SignError>;
    /// The public key, DER `SubjectPublicKeyInfo` (what KMS GetPublicKey returns).
    fn public_key_der(&self) -> Vec<u8>;
    /// [`SHA256_WITH_RSA`] or [`SHA256_WITH_ECDSA`].
    fn algorithm(&self) -> &str;
}

/// A digest file's contents.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub struct DigestFile {
    pub aws_account_id: String,
    #[serde(with = "utc_seconds")]
    pub digest_start_time: OffsetDateTime,
    #[serde(with = "utc_seconds")]
    pub digest_end_time: OffsetDateTime,
    #[serde(rename = "digestS3Bucket")]
    pub digest_s3_bucket: String,
    #[serde(rename = "digestS3Object")]
    pub digest_s3_object: String,
    pub digest_public_key_fingerprint: String,
    pub digest_signature_algorithm: String,
    #[serde(with = "utc_seconds")]
    pub newest_event_time: OffsetDateTime,
    #[serde(with = "utc_seconds")]
    pub oldest_event_time: OffsetDateTime,
    #[serde(rename = "previousDigestS3Bucket")]
    pub previous_digest_s3_bucket: Option<String>,
    #[serde(rename = "previousDigestS3Object")]
    pub previous_digest_s3_object: Option<String>,
    pub previous_digest_hash_value: Option<String>,
    pub previous_digest_hash_algorithm: Option<String>,
    pub previous_digest_signature: Option<String>,
    pub log_files: Vec<LogFileEntry>,
    pub first_batch_seq: u64,
    pub last_batch_seq: u64,
    #[serde(with = "hex32")]
    pub last_batch_hash_value: [u8; 32],
}

/// One log file a digest vouches for.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub struct LogFileEntry {
    #[serde(rename = "s3Bucket")]
    pub s3_bucket: String,
    #[serde(rename = "s3Object")]
    pub s3_object: String,
    pub hash_value: String,
    pub hash_algorithm: String,
    #[serde(with = "utc_seconds")]
    pub newest_event_time: OffsetDateTime,
    #[serde(with = "utc_seconds")]
    pub oldest_event_time: OffsetDateTime,
}

impl DigestFile {
    /// The uncompressed bytes written to the file (and hashed).
    pub fn to_bytes(&self) -> Vec<u8> {
        serde_json::to_vec(self).expect("a digest always serializes")
    }

    /// CloudTrail's data signing string for this digest, whose uncompressed bytes are
    /// `bytes`.
    pub fn signing_string(&self, bytes: &[u8]) -> String {
        format!(
            "{}\n{}/{}\n{}\n{}",
            utc_seconds::format(&self.digest_end_time),
            self.digest_s3_bucket,
            self.digest_s3_object,
            sha256_hex(bytes),
            self.previous_digest_signature.as_deref().unwrap_or("null"),
        )
    }
}

/// Hex SHA-256: the `hashValue` of a file's uncompressed bytes.
pub fn sha256_hex(bytes: &[u8]) -> String {
    crate::hex(&Sha256::digest(bytes))
}

/// `digestPublicKeyFingerprint` of a DER public key.
pub fn fingerprint(public_key_der: &[u8]) -> String {
    crate::hex(&Sha256::digest(public_key_der)[..16])
}

/// Whether `signature` is `algorithm`'s signature of `message` under the DER public key.
pub fn verify_signature(
    public_key_der: &[u8],
    algorithm: &str,
    message: &[u8],
    signature: &[u8],
) -> Result<bool, Error> {
    let alg: &'static dyn VerificationAlgorithm = match algorithm {
        SHA256_WITH_RSA => &RSA_PKCS1_2048_8192_SHA256,
        SHA256_WITH_ECDSA => &ECDSA_P256_SHA256_ASN1,
        other => return Err(Error::Algorithm(other.to_owned())),
    };
    Ok(UnparsedPublicKey::new(alg, public_key_der)
        .verify(message, signature)
        .is_ok())
}
