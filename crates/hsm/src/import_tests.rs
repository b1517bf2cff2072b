//! Importing key material through the soft HSM: material wrapped outside the HSM's code path
//! (aws-lc-rs public-key encryption and key wrap here, the `openssl` CLI in one test) imports
//! under every wrapping algorithm and spec, and then works in every operation of its spec.

use std::collections::HashMap;
use std::sync::{Mutex, OnceLock};

use aws_lc_rs::encoding::AsDer;
use aws_lc_rs::key_wrap::{AesKek, KeyWrapPadded, AES_128, AES_256};
use aws_lc_rs::rsa::{self, OaepPublicEncryptingKey, PublicEncryptingKey};
use aws_lc_rs::signature::{self, EcdsaKeyPair, KeyPair, UnparsedPublicKey};
use trent_model::{
    KeyId, KeySpec, MacAlgorithm, MessageType, SigningAlgorithm, WrappingAlgorithm, WrappingKeySpec,
};

use crate::{DomainKey, Hsm, ImportParameters, MaterialRef, SoftHsm};

#[path = "import_openssl_tests.rs"]
mod openssl;
#[path = "import_refusal_tests.rs"]
mod refusals;

use WrappingAlgorithm::{RsaAesKeyWrapSha1, RsaAesKeyWrapSha256, RsaesOaepSha1, RsaesOaepSha256};

/// The key every shared token is for.
const KEY: KeyId = KeyId(uuid::Uuid::from_bytes([1; 16]));
const VALID_TO: u64 = 1_700_000_000_000;
const SALT: crate::Salt = [3; crate::CIPHERTEXT_SALT_LEN];

/// The wrapping algorithm and spec of each shared parameter set: every algorithm, and every
/// RSA size at least once.
const SETS: [(WrappingAlgorithm, WrappingKeySpec); 4] = [
    (RsaesOaepSha1, WrappingKeySpec::Rsa2048),
    (RsaesOaepSha256, WrappingKeySpec::Rsa3072),
    (RsaAesKeyWrapSha1, WrappingKeySpec::Rsa4096),
    (RsaAesKeyWrapSha256, WrappingKeySpec::Rsa2048),
];

fn hsm() -> SoftHsm {
    SoftHsm::new(DomainKey::from_bytes([5; 32]), 100)
}

/// Parameters for [`KEY`], made once per (algorithm, spec, n) for the whole suite: RSA key
/// generation is the slow part.
fn params(algorithm: WrappingAlgorithm, spec: WrappingKeySpec, n: u8) -> &'static ImportParameters {
    type Cache =
        Mutex<HashMap<(WrappingAlgorithm, WrappingKeySpec, u8), &'static ImportParameters>>;
    static CACHE: OnceLock<Cache> = OnceLock::new();
    let mut cache = CACHE.get_or_init(Default::default).lock().unwrap();
    cache.entry((algorithm, spec, n)).or_insert_with(|| {
        let made = hsm().import_parameters(KEY, algorithm, spec, VALID_TO);
        Box::leak(Box::new(made.unwrap()))
    })
}

pub(crate) fn random(n: usize) -> Vec<u8> {
    let mut bytes = vec![0u8; n];
    aws_lc_rs::rand::fill(&mut bytes).unwrap();
    bytes
}

fn oaep_of(algorithm: WrappingAlgorithm) -> &'static rsa::OaepAlgorithm {
    match algorithm {
        RsaesOaepSha1 | RsaAesKeyWrapSha1 => &rsa::OAEP_SHA1_MGF1SHA1,
        _ => &rsa::OAEP_SHA256_MGF1SHA256,
    }
}

/// RSA-OAEP under the answered SubjectPublicKeyInfo, as a client does it.
fn oaep_encrypt(p: &ImportParameters, plaintext: &[u8]) -> Vec<u8> {
    let public = PublicEncryptingKey::from_der(&p.public_key).unwrap();
    let public = OaepPublicEncryptingKey::new(public).unwrap();
    let mut out = vec![0u8; public.ciphertext_size()];
    let oaep = oaep_of(p.facts.algorithm);
    let len = public
        .encrypt(oaep, plaintext, &mut out, None)
        .unwrap()
        .len();
    out.truncate(len);
    out
}

/// RFC 5649 under `aes_key` (16 or 32 bytes).
fn key_wrap_padded(aes_key: &[u8], material: &[u8]) -> Vec<u8> {
    let cipher = if aes_key.len() == 16 {
        &AES_128
    } else {
        &AES_256
    };
    let kek = AesKek::new(cipher, aes_key).unwrap();
    let mut out = vec![0u8; material.len() + 15];
    let len = kek.wrap_with_padding(material, &mut out).unwrap().len();
    out.truncate(len);
    out
}

/// `material` wrapped for `p` as a client would, with an ephemeral AES key of `aes_len`
/// bytes for the RSA_AES_KEY_WRAP algorithms.
pub(crate) fn wrap_with(p: &ImportParameters, material: &[u8], aes_len: usize) -> Vec<u8> {
    match p.facts.algorithm {
        RsaAesKeyWrapSha1 | RsaAesKeyWrapSha256 => {
            let aes_key = random(aes_len);
            let mut out = oaep_encrypt(p, &aes_key);
            out.extend_from_slice(&key_wrap_padded(&aes_key, material));
            out
        }
        _ => oaep_encrypt(p, material),
    }
}

pub(crate) fn wrap(p: &ImportParameters, material: &[u8]) -> Vec<u8> {
    wrap_with(p, material, 32)
}

fn at(wrapped: &[u8], version: u32) -> MaterialRef<'_> {
    MaterialRef {
        key_id: KEY,
        version,
        wrapped,
    }
}

/// Seals with `blob`, opens with `other` (both version 1 of [`KEY`]).
fn round_trip(hsm: &SoftHsm, blob: &[u8], other: &[u8]) -> Vec<u8> {
    let sealed = hsm
        .encrypt(at(blob, 1), &SALT, b"imported", b"ctx")
        .unwrap();
    let opened = hsm.decrypt(
        at(other, 1),
        Some(&SALT),
        &sealed.nonce,
        &sealed.ciphertext,
        b"ctx",
    );
    opened.unwrap().to_vec()
}

#[test]
fn imports_match_versions_recorded_with_the_earlier_fingerprint() {
    let hsm = hsm();
    let material = random(32);
    let p = params(RsaesOaepSha256, WrappingKeySpec::Rsa2048, 0);
    let imported = hsm
        .import_material(
            &p.token,
            &wrap(p, &material),
            KEY,
            1,
            KeySpec::SymmetricDefault,
        )
        .unwrap();
    let mut v1_input = KEY.as_bytes().to_vec();
    v1_input.extend_from_slice(&material);
    let v1 = hsm
        .domain_mac(b"trent/import-fingerprint/v1", &v1_input)
        .unwrap();
    assert_eq!(imported.earlier_fingerprint, Some(v1));
    assert!(imported.matches(&v1) && imported.matches(&imported.fingerprint));
    assert!(!imported.matches(&[0; 32]));
    assert_ne!(imported.fingerprint, v1);
}

#[test]
fn read_import_token_answers_the_facts_given() {
    let hsm = hsm();
    for (algorithm, spec) in SETS {
        let p = params(algorithm, spec, 0);
        let facts = hsm.read_import_token(&p.token).unwrap();
        assert_eq!(facts, p.facts);
        assert_eq!(
            (
                facts.key_id,
                facts.algorithm,
                facts.wrapping_spec,
                facts.valid_to
            ),
            (KEY, algorithm, spec, VALID_TO)
        );
        let public = PublicEncryptingKey::from_der(&p.public_key).unwrap();
        let bits = match spec {
            WrappingKeySpec::Rsa2048 => 2048,
            WrappingKeySpec::Rsa3072 => 3072,
            _ => 4096,
        };
        assert_eq!(public.key_size_bits(), bits);
        assert!(p.token.len() < 6144, "{} bytes", p.token.len());
    }
    let (a, b) = (
        params(RsaesOaepSha1, WrappingKeySpec::Rsa2048, 0),
        params(RsaesOaepSha1, WrappingKeySpec::Rsa2048, 1),
    );
    assert_ne!(a.facts.token_id, b.facts.token_id);
    assert_ne!(a.public_key, b.public_key);
}

#[test]
fn symmetric_material_imports_under_every_algorithm_and_spec() {
    let hsm = hsm();
    let material = random(32);
    let mut fingerprints = Vec::new();
    let mut first: Option<Vec<u8>> = None;
    for (algorithm, spec) in SETS {
        let p = params(algorithm, spec, 0);
        let imported = hsm
            .import_material(
                &p.token,
                &wrap(p, &material),
                KEY,
                1,
                KeySpec::SymmetricDefault,
            )
            .unwrap_or_else(|e| panic!("{algorithm} {spec}: {e}"));
        // Stored as generated symmetric material is: format 1, 61 bytes.
        assert_eq!((imported.blob[0], imported.blob.len()), (1, 61));
        assert_eq!(
            round_trip(&hsm, &imported.blob, &imported.blob),
            b"imported"
        );
        // Each import is sealed anew, yet each opens what the first sealed.
        if let Some(first) = &first {
            assert_ne!(first, &imported.blob);
            assert_eq!(round_trip(&hsm, first, &imported.blob), b"imported");
        } else {
            first = Some(imported.blob.clone());
        }
        fingerprints.push(imported.fingerprint);
    }
    // The fingerprint is the material's, whichever way it was wrapped.
    assert!(fingerprints.windows(2).all(|w| w[0] == w[1]));
    // Another material, or another key, fingerprints otherwise.
    let p = params(RsaesOaepSha1, WrappingKeySpec::Rsa2048, 0);
    let other = hsm
        .import_material(
            &p.token,
            &wrap(p, &random(32)),
            KEY,
            2,
            KeySpec::SymmetricDefault,
        )
        .unwrap();
    assert_ne!(other.fingerprint, fingerprints[0]);
    let key_b = KeyId(uuid::Uuid::from_bytes([2; 16]));
    let pb = hsm
        .import_parameters(key_b, RsaesOaepSha1, WrappingKeySpec::Rsa2048, VALID_TO)
        .unwrap();
    let in_b = hsm
        .import_material(
            &pb.token,
            &wrap(&pb, &material),
            key_b,
            1,
            KeySpec::SymmetricDefault,
        )
        .unwrap();
    assert_ne!(in_b.fingerprint, fingerprints[0]);
}

#[test]
fn a_16_byte_ephemeral_aes_key_unwraps_too() {
    let hsm = hsm();
    let p = params(RsaAesKeyWrapSha256, WrappingKeySpec::Rsa2048, 0);
    let material = random(32);
    let imported = hsm
        .import_material(
            &p.token,
            &wrap_with(p, &material, 16),
            KEY,
            1,
            KeySpec::SymmetricDefault,
        )
        .unwrap();
    let again = hsm
        .import_material(
            &p.token,
            &wrap(p, &material),
            KEY,
            1,
            KeySpec::SymmetricDefault,
        )
        .unwrap();
    assert_eq!(imported.fingerprint, again.fingerprint);
    assert_eq!(round_trip(&hsm, &imported.blob, &again.blob), b"imported");
}

/// RustCrypto's HMAC (not aws-lc's) of `message` under `key`, with the hash of `spec`.
fn reference_hmac(spec: KeySpec, key: &[u8], message: &[u8]) -> Vec<u8> {
    use hmac::{Hmac, KeyInit, Mac};
    macro_rules! hmac_of {
        ($hash:ty) => {{
            let mut mac = <Hmac<$hash>>::new_from_slice(key).unwrap();
            mac.update(message);
            mac.finalize().into_bytes().to_vec()
        }};
    }
    match spec {
        KeySpec::Hmac224 => hmac_of!(sha2::Sha224),
        KeySpec::Hmac256 => hmac_of!(sha2::Sha256),
        KeySpec::Hmac384 => hmac_of!(sha2::Sha384),
        _ => hmac_of!(sha2::Sha512),
    }
}

#[test]
fn hmac_material_macs_as_an_independent_hmac_does() {
    let hsm = hsm();
    let cases = [
        (KeySpec::Hmac224, MacAlgorithm::HmacSha224, 28),
        (KeySpec::Hmac256, MacAlgorithm::HmacSha256, 40),
        (KeySpec::Hmac256, MacAlgorithm::HmacSha256, 128),
        (KeySpec::Hmac384, MacAlgorithm::HmacSha384, 48),
        (KeySpec::Hmac512, MacAlgorithm::HmacSha512, 100),
    ];
    for (n, (spec, algorithm, len)) in cases.into_iter().enumerate() {
        let (wrapping, wrapping_spec) = SETS[n % SETS.len()];
        let p = params(wrapping, wrapping_spec, 0);
        let key = random(len);
        let imported = hsm
            .import_material(&p.token, &wrap(p, &key), KEY, 1, spec)
            .unwrap();
        let blob = at(&imported.blob, 1);
        let mac = hsm
            .generate_mac(blob, spec, algorithm, b"an HMAC message")
            .unwrap();
        let expected = reference_hmac(spec, &key, b"an HMAC message");
        assert_eq!(mac, expected, "{spec} {len}");
        assert!(hsm
            .verify_mac(blob, spec, algorithm, b"an HMAC message", &mac)
            .unwrap());
        hsm.forget_key(KEY);
    }
}

#[test]
fn ecc_material_signs_under_its_own_public_key() {
    let hsm = hsm();
    let cases = [
        (
            KeySpec::EccNistP256,
            &signature::ECDSA_P256_SHA256_ASN1_SIGNING,
            &signature::ECDSA_P256_SHA256_ASN1,
            SigningAlgorithm::EcdsaSha256,
            SETS[1],
        ),
        (
            KeySpec::EccNistP521,
            &signature::ECDSA_P521_SHA512_ASN1_SIGNING,
            &signature::ECDSA_P521_SHA512_ASN1,
            SigningAlgorithm::EcdsaSha512,
            SETS[3],
        ),
        (
            KeySpec::EccSecgP256k1,
            &signature::ECDSA_P256K1_SHA256_ASN1_SIGNING,
            &signature::ECDSA_P256K1_SHA256_ASN1,
            SigningAlgorithm::EcdsaSha256,
            SETS[0],
        ),
    ];
    for (spec, signing, verifying, algorithm, (wrapping, wrapping_spec)) in cases {
        let pkcs8 =
            EcdsaKeyPair::generate_pkcs8(signing, &aws_lc_rs::rand::SystemRandom::new()).unwrap();
        let outside = EcdsaKeyPair::from_pkcs8(signing, pkcs8.as_ref()).unwrap();
        let p = params(wrapping, wrapping_spec, 0);
        let imported = hsm
            .import_material(&p.token, &wrap(p, pkcs8.as_ref()), KEY, 1, spec)
            .unwrap();
        let blob = at(&imported.blob, 1);
        let spki = outside.public_key().as_der().unwrap();
        assert_eq!(hsm.public_key(blob, spec).unwrap(), spki.as_ref(), "{spec}");
        let sig = hsm
            .sign(blob, spec, algorithm, MessageType::Raw, b"signed")
            .unwrap();
        let public = UnparsedPublicKey::new(verifying, outside.public_key().as_ref());
        assert!(public.verify(b"signed", &sig).is_ok(), "{spec}");
        assert!(public.verify(b"other", &sig).is_err());
        hsm.forget_key(KEY);
    }
}

#[test]
fn rsa_material_signs_and_decrypts_under_its_own_public_key() {
    let hsm = hsm();
    let outside = rsa::KeyPair::generate(rsa::KeySize::Rsa2048).unwrap();
    let pkcs8 = outside.as_der().unwrap();
    let p = params(RsaAesKeyWrapSha256, WrappingKeySpec::Rsa2048, 0);
    let spec = KeySpec::Rsa2048;
    let imported = hsm
        .import_material(&p.token, &wrap(p, pkcs8.as_ref()), KEY, 1, spec)
        .unwrap();
    let blob = at(&imported.blob, 1);
    let spki = outside.public_key().as_der().unwrap();
    assert_eq!(hsm.public_key(blob, spec).unwrap(), spki.as_ref());
    let algorithm = SigningAlgorithm::RsassaPssSha256;
    let sig = hsm
        .sign(blob, spec, algorithm, MessageType::Raw, b"signed")
        .unwrap();
    let public = UnparsedPublicKey::new(
        &signature::RSA_PSS_2048_8192_SHA256,
        outside.public_key().as_ref(),
    );
    assert!(public.verify(b"signed", &sig).is_ok());
    assert!(public.verify(b"other", &sig).is_err());
    // RSA-OAEP made outside opens inside.
    let outside_public = PublicEncryptingKey::from_der(spki.as_ref()).unwrap();
    let outside_public = OaepPublicEncryptingKey::new(outside_public).unwrap();
    let mut ciphertext = vec![0u8; outside_public.ciphertext_size()];
    let oaep = &rsa::OAEP_SHA256_MGF1SHA256;
    outside_public
        .encrypt(oaep, b"secret", &mut ciphertext, None)
        .unwrap();
    let algorithm = trent_model::EncryptionAlgorithm::RsaesOaepSha256;
    let opened = hsm
        .decrypt_asymmetric(blob, spec, algorithm, &ciphertext)
        .unwrap();
    assert_eq!(&opened[..], b"secret");
    // Stored as generated: the same PKCS#8 aws-lc writes, so the fingerprint is of it.
    let stored = hsm.unwrap_other(blob, spec).unwrap();
    assert_eq!(&stored[..], pkcs8.as_ref());
    // The same key through the other RSA_AES algorithm and a 4096-bit wrapping key.
    let p4 = params(RsaAesKeyWrapSha1, WrappingKeySpec::Rsa4096, 0);
    let again = hsm
        .import_material(&p4.token, &wrap(p4, pkcs8.as_ref()), KEY, 2, spec)
        .unwrap();
    assert_eq!(again.fingerprint, imported.fingerprint);
}
