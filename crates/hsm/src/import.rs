//! Importing key material (AWS KMS BYOK): GetParametersForImport's wrapping key and token,
//! and ImportKeyMaterial's unwrapping.
//!
//! Guarantees: the RSA wrapping private key exists in plaintext only inside this crate, and
//! only while a call runs. It travels inside the import token, sealed with AES-256-GCM under
//! the domain key ([`crate::Hsm::wrap_secret`] with the label [`TOKEN_LABEL`]) together with
//! the token's facts, so no state holds wrapping keys and a token opens on every node of the
//! cluster. A token that was tampered with, truncated, sealed under another domain key or
//! issued for another key is [`HsmError::InvalidImportToken`]. Imported material is
//! unwrapped here, checked against the key's spec ([`crate::import_check`]) and leaves only
//! wrapped exactly as generated material of that key, version and spec is, so every
//! operation uses it unchanged. Every buffer holding the wrapping private key, the ephemeral
//! AES key or the material is `Zeroizing`; errors name the problem, never bytes.
//!
//! Token: `wrap_secret(TOKEN_LABEL, payload)`, i.e. `[1][nonce 12][AES-256-GCM(payload) +
//! tag 16]`, where payload is `[format 1][token id 16][key id 16][valid_to u64 BE]
//! [len 1][wrapping algorithm, AWS name][len 1][wrapping key spec, AWS name][PKCS#8 of the
//! wrapping private key]`: about 2.5 KB for RSA_4096.

use aws_lc_rs::encoding::AsDer;
use aws_lc_rs::key_wrap::{AesKek, KeyWrapPadded, AES_128, AES_256};
use aws_lc_rs::rsa::{self, OaepAlgorithm, OaepPrivateDecryptingKey};
use aws_lc_rs::signature::KeyPair as _;
use trent_model::{
    EncryptionAlgorithm, KeyId, KeySpec, Millis, WrappingAlgorithm, WrappingKeySpec,
};
use zeroize::Zeroizing;

use crate::soft::SoftHsm;
use crate::{Hsm, HsmError, Plaintext};

/// The label the token is sealed under (distinct from every access key id's).
pub(crate) const TOKEN_LABEL: &[u8] = b"trent/import-token/v1";
/// The purpose of the [`Hsm::domain_mac`] that fingerprinted imported material before
/// [`crate::fingerprint`] (v1).
const EARLIER_FINGERPRINT_PURPOSE: &[u8] = b"trent/import-fingerprint/v1";
/// The first byte of a token's sealed payload.
const TOKEN_FORMAT: u8 = 1;

/// The public facts an import token carries, authenticated under the domain key.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ImportTokenFacts {
    pub token_id: [u8; 16],
    pub key_id: KeyId,
    pub algorithm: WrappingAlgorithm,
    pub wrapping_spec: WrappingKeySpec,
    pub valid_to: Millis,
}

/// What GetParametersForImport answers: the wrapping public key (DER SubjectPublicKeyInfo),
/// the opaque token, and the facts sealed in it. Nothing here is secret.
#[derive(Debug, Clone)]
pub struct ImportParameters {
    pub public_key: Vec<u8>,
    pub token: Vec<u8>,
    pub facts: ImportTokenFacts,
}

/// Imported material, wrapped for the key's record, and keyed fingerprints of it
/// ([`crate::fingerprint`]).
#[derive(Debug, Clone)]
pub struct ImportedMaterial {
    pub blob: Vec<u8>,
    /// The same under either backend and any domain key for the same material.
    pub fingerprint: [u8; 32],
    /// The soft backend's fingerprint before that (v1): a version recorded with it is the
    /// same material if this matches. `None` from a PKCS#11 token, which cannot compute it.
    pub earlier_fingerprint: Option<[u8; 32]>,
}

impl ImportedMaterial {
    /// Whether this is the material a version recorded with `fingerprint` holds.
    pub fn matches(&self, fingerprint: &[u8; 32]) -> bool {
        self.fingerprint == *fingerprint || self.earlier_fingerprint.as_ref() == Some(fingerprint)
    }
}

/// [`Hsm::import_parameters`].
pub(crate) fn parameters(
    hsm: &SoftHsm,
    key_id: KeyId,
    algorithm: WrappingAlgorithm,
    wrapping_spec: WrappingKeySpec,
    valid_to: Millis,
) -> Result<ImportParameters, HsmError> {
    let size = wrapping_key_size(wrapping_spec)?;
    oaep_of(algorithm)?;
    let fail = || HsmError::Generation(wrapping_spec.as_str());
    let key = rsa::KeyPair::generate(size).map_err(|_| fail())?;
    let public_key = key.public_key().as_der().map_err(|_| fail())?;
    // `Pkcs8V1Der` zeroizes its buffer when dropped.
    let private = key.as_der().map_err(|_| fail())?;
    let mut token_id = [0u8; 16];
    token_id.copy_from_slice(&hsm.random(16)?);
    let facts = ImportTokenFacts {
        token_id,
        key_id,
        algorithm,
        wrapping_spec,
        valid_to,
    };
    let payload = encode(&facts, private.as_ref());
    Ok(ImportParameters {
        public_key: public_key.as_ref().to_vec(),
        token: hsm.wrap_secret(TOKEN_LABEL, &payload)?,
        facts,
    })
}

/// [`Hsm::read_import_token`]: the facts; the private key is zeroized with the payload.
pub(crate) fn read_token(hsm: &SoftHsm, token: &[u8]) -> Result<ImportTokenFacts, HsmError> {
    open(hsm, token).map(|(facts, _)| facts)
}

/// [`Hsm::import_material`].
pub(crate) fn material(
    hsm: &SoftHsm,
    token: &[u8],
    encrypted: &[u8],
    key_id: KeyId,
    version: u32,
    spec: KeySpec,
) -> Result<ImportedMaterial, HsmError> {
    let (facts, private) = open(hsm, token)?;
    if facts.key_id != key_id {
        return Err(HsmError::InvalidImportToken);
    }
    // Refused before the (slow) RSA decryption: nothing in `encrypted` could change it.
    crate::import_check::suits(spec, facts.algorithm)?;
    let plain = unwrap_encrypted(&private, facts.algorithm, encrypted)?;
    let secret = crate::import_check::canonical(spec, &plain)?;
    let mut fingerprinted = Zeroizing::new(Vec::with_capacity(16 + secret.len()));
    fingerprinted.extend_from_slice(key_id.as_bytes());
    fingerprinted.extend_from_slice(&secret);
    let check = crate::fingerprint::soft_check(spec, &secret)?;
    Ok(ImportedMaterial {
        blob: hsm.wrap.wrap_material(key_id, version, spec, &secret),
        fingerprint: crate::fingerprint::of(key_id, &check),
        earlier_fingerprint: Some(hsm.domain_mac(EARLIER_FINGERPRINT_PURPOSE, &fingerprinted)?),
    })
}

/// The RSA key spec of a wrapping key spec, or its refusal: both backends make wrapping keys
/// of the AWS specs but SM2.
pub(crate) fn wrapping_key_spec(spec: WrappingKeySpec) -> Result<KeySpec, HsmError> {
    match spec {
        WrappingKeySpec::Rsa2048 => Ok(KeySpec::Rsa2048),
        WrappingKeySpec::Rsa3072 => Ok(KeySpec::Rsa3072),
        WrappingKeySpec::Rsa4096 => Ok(KeySpec::Rsa4096),
        WrappingKeySpec::Sm2 => Err(HsmError::ImportUnsupported("the SM2 wrapping key spec")),
    }
}

/// The RSA-OAEP encryption (hash and MGF1 hash the same, empty label) that unwraps what a
/// wrapping algorithm sealed, or its refusal, for both backends. RSAES_PKCS1_V1_5 is refused:
/// PKCS#1 v1.5 decryption is a padding oracle (AWS deprecates it), and SM2PKE needs an SM2
/// wrapping key.
pub(crate) fn wrapping_oaep(algorithm: WrappingAlgorithm) -> Result<EncryptionAlgorithm, HsmError> {
    use WrappingAlgorithm::*;
    match algorithm {
        RsaesOaepSha1 | RsaAesKeyWrapSha1 => Ok(EncryptionAlgorithm::RsaesOaepSha1),
        RsaesOaepSha256 | RsaAesKeyWrapSha256 => Ok(EncryptionAlgorithm::RsaesOaepSha256),
        RsaesPkcs1V15 => Err(HsmError::ImportUnsupported(
            "the RSAES_PKCS1_V1_5 wrapping algorithm",
        )),
        Sm2Pke => Err(HsmError::ImportUnsupported("the SM2PKE wrapping algorithm")),
    }
}

/// The RSA modulus size of a wrapping key spec, for aws-lc.
fn wrapping_key_size(spec: WrappingKeySpec) -> Result<rsa::KeySize, HsmError> {
    Ok(match wrapping_key_spec(spec)? {
        KeySpec::Rsa2048 => rsa::KeySize::Rsa2048,
        KeySpec::Rsa3072 => rsa::KeySize::Rsa3072,
        _ => rsa::KeySize::Rsa4096,
    })
}

/// aws-lc's OAEP parameters of a wrapping algorithm.
fn oaep_of(algorithm: WrappingAlgorithm) -> Result<&'static OaepAlgorithm, HsmError> {
    Ok(match wrapping_oaep(algorithm)? {
        EncryptionAlgorithm::RsaesOaepSha1 => &rsa::OAEP_SHA1_MGF1SHA1,
        _ => &rsa::OAEP_SHA256_MGF1SHA256,
    })
}

/// The material inside `encrypted`: RSA-OAEP of the material itself (RSAES_OAEP_*), or
/// RSA-OAEP of an ephemeral AES key, modulus-length bytes, followed by AES Key Wrap with
/// Padding (RFC 5649) of the material under that key (RSA_AES_KEY_WRAP_*).
fn unwrap_encrypted(
    private_pkcs8: &[u8],
    algorithm: WrappingAlgorithm,
    encrypted: &[u8],
) -> Result<Plaintext, HsmError> {
    let oaep = oaep_of(algorithm)?;
    // The token authenticated, so its key parses; if not, the token is what is wrong.
    let key = rsa::PrivateDecryptingKey::from_pkcs8(private_pkcs8)
        .map_err(|_| HsmError::InvalidImportToken)?;
    let key = OaepPrivateDecryptingKey::new(key).map_err(|_| HsmError::InvalidImportToken)?;
    match algorithm {
        WrappingAlgorithm::RsaAesKeyWrapSha1 | WrappingAlgorithm::RsaAesKeyWrapSha256 => {
            let (wrapped_key, wrapped) = encrypted
                .split_at_checked(key.key_size_bytes())
                .ok_or(HsmError::ImportUnwrap)?;
            let aes_key = oaep_decrypt(&key, oaep, wrapped_key)?;
            unwrap_padded(&aes_key, wrapped)
        }
        _ => oaep_decrypt(&key, oaep, encrypted),
    }
}

fn oaep_decrypt(
    key: &OaepPrivateDecryptingKey,
    oaep: &'static OaepAlgorithm,
    ciphertext: &[u8],
) -> Result<Plaintext, HsmError> {
    let mut out = Zeroizing::new(vec![0u8; key.min_output_size()]);
    let len = key
        .decrypt(oaep, ciphertext, &mut out, None)
        .map_err(|_| HsmError::ImportUnwrap)?
        .len();
    out.truncate(len);
    Ok(out)
}

/// RFC 5649 unwrapping under an AES-128 or AES-256 key (aws-lc-rs offers no AES-192 KEK).
fn unwrap_padded(aes_key: &[u8], wrapped: &[u8]) -> Result<Plaintext, HsmError> {
    let cipher = match aes_key.len() {
        16 => &AES_128,
        32 => &AES_256,
        _ => return Err(HsmError::ImportUnwrap),
    };
    // `AesKek` zeroizes its copy of the key when dropped.
    let kek = AesKek::new(cipher, aes_key).map_err(|_| HsmError::ImportUnwrap)?;
    let mut out = Zeroizing::new(vec![0u8; wrapped.len()]);
    let len = kek
        .unwrap_with_padding(wrapped, &mut out)
        .map_err(|_| HsmError::ImportUnwrap)?
        .len();
    out.truncate(len);
    Ok(out)
}

/// Opens a token: its facts and the wrapping private key (PKCS#8).
fn open(hsm: &SoftHsm, token: &[u8]) -> Result<(ImportTokenFacts, Plaintext), HsmError> {
    let payload = hsm
        .unwrap_secret(TOKEN_LABEL, token)
        .map_err(|_| HsmError::InvalidImportToken)?;
    decode(&payload).ok_or(HsmError::InvalidImportToken)
}

pub(crate) fn encode(facts: &ImportTokenFacts, private_pkcs8: &[u8]) -> Plaintext {
    let (algorithm, spec) = (facts.algorithm.as_str(), facts.wrapping_spec.as_str());
    let mut out = Zeroizing::new(Vec::with_capacity(64 + private_pkcs8.len()));
    out.push(TOKEN_FORMAT);
    out.extend_from_slice(&facts.token_id);
    out.extend_from_slice(facts.key_id.as_bytes());
    out.extend_from_slice(&facts.valid_to.to_be_bytes());
    for name in [algorithm, spec] {
        out.push(name.len() as u8);
        out.extend_from_slice(name.as_bytes());
    }
    out.extend_from_slice(private_pkcs8);
    out
}

/// The facts and the private key of a payload [`encode`] wrote; `None` for anything else.
pub(crate) fn decode(payload: &[u8]) -> Option<(ImportTokenFacts, Plaintext)> {
    let mut rest = payload;
    if take(&mut rest, 1)? != [TOKEN_FORMAT] {
        return None;
    }
    let token_id = take(&mut rest, 16)?.try_into().ok()?;
    let key_id = KeyId(uuid_from(take(&mut rest, 16)?)?);
    let valid_to = Millis::from_be_bytes(take(&mut rest, 8)?.try_into().ok()?);
    let algorithm = named(&mut rest, WrappingAlgorithm::ALL, |a| a.as_str())?;
    let wrapping_spec = named(&mut rest, WrappingKeySpec::ALL, |s| s.as_str())?;
    let facts = ImportTokenFacts {
        token_id,
        key_id,
        algorithm,
        wrapping_spec,
        valid_to,
    };
    Some((facts, Zeroizing::new(rest.to_vec())))
}

fn take<'a>(rest: &mut &'a [u8], n: usize) -> Option<&'a [u8]> {
    let (head, tail) = rest.split_at_checked(n)?;
    *rest = tail;
    Some(head)
}

/// A length-prefixed AWS name, as one of `all`.
fn named<T: Copy>(rest: &mut &[u8], all: &[T], name: impl Fn(T) -> &'static str) -> Option<T> {
    let len = *take(rest, 1)?.first()?;
    let text = take(rest, len as usize)?;
    all.iter().copied().find(|&v| name(v).as_bytes() == text)
}

fn uuid_from(bytes: &[u8]) -> Option<uuid::Uuid> {
    Some(uuid::Uuid::from_bytes(bytes.try_into().ok()?))
}
