//! Importing key material into a SoftHSM2 token: material wrapped as a client wraps it
//! (aws-lc-rs here) imports under the SHA-1 algorithms the token offers, then works in every
//! operation of its spec, with the soft backend's fingerprint and results for the same
//! material under the same domain key; what the token cannot do is refused by name, and
//! wrong tokens and wrong material are refused as the soft backend refuses them.

use aws_lc_rs::encoding::AsDer;
use aws_lc_rs::rsa;
use aws_lc_rs::signature::{self, EcdsaKeyPair, KeyPair, UnparsedPublicKey};
use trent_model::{
    KeyId, KeySpec, MacAlgorithm, MessageType, SigningAlgorithm, WrappingAlgorithm, WrappingKeySpec,
};
use zeroize::Zeroizing;

use super::tests::{error_of, key_id, TestToken};
use super::Pkcs11Hsm;
use crate::import_tests::{random, wrap, wrap_with};
use crate::{DomainKey, Hsm, ImportParameters, MaterialRef, SoftHsm};

use WrappingAlgorithm::{RsaAesKeyWrapSha1, RsaAesKeyWrapSha256, RsaesOaepSha1, RsaesOaepSha256};

const VALID_TO: u64 = 1_700_000_000_000;

/// A token whose domain key is the XOR of two known components, and a soft backend with the
/// same domain key.
fn token_and_soft() -> (TestToken, Pkcs11Hsm, SoftHsm) {
    let token = TestToken::new();
    let a: [u8; 32] = std::array::from_fn(|i| i as u8 ^ 0x5c);
    let b: [u8; 32] = std::array::from_fn(|i| (i as u8).wrapping_mul(29) ^ 0x36);
    let components = [Zeroizing::new(a), Zeroizing::new(b)];
    Pkcs11Hsm::init_from_components(&token.config(), &components).unwrap();
    let hsm = Pkcs11Hsm::open(&token.config()).unwrap();
    let soft = SoftHsm::new(
        DomainKey::from_bytes(std::array::from_fn(|i| a[i] ^ b[i])),
        8,
    );
    (token, hsm, soft)
}

fn params(hsm: &dyn Hsm, key: KeyId, algorithm: WrappingAlgorithm) -> ImportParameters {
    hsm.import_parameters(key, algorithm, WrappingKeySpec::Rsa2048, VALID_TO)
        .unwrap()
}

fn at(key_id: KeyId, wrapped: &[u8]) -> MaterialRef<'_> {
    MaterialRef {
        key_id,
        version: 1,
        wrapped,
    }
}

fn rsa_pkcs8(size: rsa::KeySize) -> Vec<u8> {
    rsa::KeyPair::generate(size)
        .unwrap()
        .as_der()
        .unwrap()
        .as_ref()
        .to_vec()
}

#[test]
fn symmetric_material_imports_into_the_token_with_the_soft_backends_fingerprint() {
    let (_token, hsm, soft) = token_and_soft();
    let key = key_id();
    let material = random(32);
    let before = hsm.all_objects().len();
    let mut fingerprints = vec![];
    for algorithm in [RsaesOaepSha1, RsaAesKeyWrapSha1] {
        let p = params(&hsm, key, algorithm);
        assert_eq!(hsm.read_import_token(&p.token).unwrap(), p.facts);
        let imported = hsm
            .import_material(
                &p.token,
                &wrap(&p, &material),
                key,
                1,
                KeySpec::SymmetricDefault,
            )
            .unwrap();
        assert_eq!(imported.earlier_fingerprint, None);
        // Ciphertexts cross between the token's blob and the soft backend's of the material.
        let salt = hsm.salt().unwrap();
        let sealed = hsm
            .encrypt(at(key, &imported.blob), &salt, b"imported", b"ctx")
            .unwrap();
        let soft_blob = soft
            .wrap
            .wrap_material(key, 1, KeySpec::SymmetricDefault, &material);
        let (nonce, ciphertext) = (&sealed.nonce, &sealed.ciphertext);
        let opened = soft.decrypt(at(key, &soft_blob), Some(&salt), nonce, ciphertext, b"ctx");
        assert_eq!(&opened.unwrap()[..], b"imported");
        fingerprints.push(imported.fingerprint);
    }
    // The soft backend, under the same domain key and under another (a migration brings one).
    let elsewhere = SoftHsm::new(DomainKey::from_bytes([7; 32]), 8);
    for soft in [&soft, &elsewhere] {
        let p = params(soft, key, RsaesOaepSha256);
        let by_soft = soft
            .import_material(
                &p.token,
                &wrap(&p, &material),
                key,
                1,
                KeySpec::SymmetricDefault,
            )
            .unwrap();
        assert!(by_soft.earlier_fingerprint.is_some());
        fingerprints.push(by_soft.fingerprint);
    }
    assert!(
        fingerprints.windows(2).all(|w| w[0] == w[1]),
        "{fingerprints:?}"
    );
    // Other material, or the same under another key, fingerprints otherwise.
    let p = params(&hsm, key, RsaesOaepSha1);
    let other = hsm.import_material(
        &p.token,
        &wrap(&p, &random(32)),
        key,
        1,
        KeySpec::SymmetricDefault,
    );
    assert_ne!(other.unwrap().fingerprint, fingerprints[0]);
    let other_key = key_id();
    let p = params(&hsm, other_key, RsaesOaepSha1);
    let moved = hsm.import_material(
        &p.token,
        &wrap(&p, &material),
        other_key,
        1,
        KeySpec::SymmetricDefault,
    );
    assert_ne!(moved.unwrap().fingerprint, fingerprints[0]);
    // Nothing the imports made is left in the token.
    hsm.forget_key(key);
    hsm.forget_key(other_key);
    assert_eq!(hsm.all_objects().len(), before);
}

#[test]
fn hmac_and_rsa_material_import_and_work_as_under_the_soft_backend() {
    let (_token, hsm, soft) = token_and_soft();
    let (mac_key, rsa_key) = (key_id(), key_id());
    let hmac = random(48);
    let p = params(&hsm, mac_key, RsaesOaepSha1);
    let imported = hsm
        .import_material(&p.token, &wrap(&p, &hmac), mac_key, 1, KeySpec::Hmac256)
        .unwrap();
    let ps = params(&soft, mac_key, RsaesOaepSha1);
    let by_soft = soft
        .import_material(&ps.token, &wrap(&ps, &hmac), mac_key, 1, KeySpec::Hmac256)
        .unwrap();
    assert_eq!(imported.fingerprint, by_soft.fingerprint);
    let algorithm = MacAlgorithm::HmacSha256;
    let spec = KeySpec::Hmac256;
    let mac = hsm
        .generate_mac(at(mac_key, &imported.blob), spec, algorithm, b"message")
        .unwrap();
    let reference = aws_lc_rs::hmac::sign(
        &aws_lc_rs::hmac::Key::new(aws_lc_rs::hmac::HMAC_SHA256, &hmac),
        b"message",
    );
    assert_eq!(mac, reference.as_ref());

    let pkcs8 = rsa_pkcs8(rsa::KeySize::Rsa2048);
    let p = params(&hsm, rsa_key, RsaAesKeyWrapSha1);
    let imported = hsm
        .import_material(&p.token, &wrap(&p, &pkcs8), rsa_key, 1, KeySpec::Rsa2048)
        .unwrap();
    let ps = params(&soft, rsa_key, RsaAesKeyWrapSha256);
    let by_soft = soft
        .import_material(&ps.token, &wrap(&ps, &pkcs8), rsa_key, 1, KeySpec::Rsa2048)
        .unwrap();
    assert_eq!(imported.fingerprint, by_soft.fingerprint);
    let blob = at(rsa_key, &imported.blob);
    let public = hsm.public_key(blob, KeySpec::Rsa2048).unwrap();
    let expected = rsa::KeyPair::from_pkcs8(&pkcs8).unwrap();
    assert_eq!(public, expected.public_key().as_der().unwrap().as_ref());
    let algorithm = SigningAlgorithm::RsassaPssSha256;
    let signature = hsm
        .sign(
            blob,
            KeySpec::Rsa2048,
            algorithm,
            MessageType::Raw,
            b"signed",
        )
        .unwrap();
    let key = expected.public_key().as_ref().to_vec();
    UnparsedPublicKey::new(&signature::RSA_PSS_2048_8192_SHA256, key)
        .verify(b"signed", &signature)
        .unwrap();
}

#[test]
fn ecc_material_imports_with_its_public_key_found_in_the_token() {
    let (_token, hsm, soft) = token_and_soft();
    let curves = [
        (
            KeySpec::EccNistP256,
            &signature::ECDSA_P256_SHA256_ASN1_SIGNING,
            RsaesOaepSha1,
        ),
        (
            KeySpec::EccNistP384,
            &signature::ECDSA_P384_SHA384_ASN1_SIGNING,
            RsaAesKeyWrapSha1,
        ),
        (
            KeySpec::EccNistP521,
            &signature::ECDSA_P521_SHA512_ASN1_SIGNING,
            RsaAesKeyWrapSha1,
        ),
        (
            KeySpec::EccSecgP256k1,
            &signature::ECDSA_P256K1_SHA256_ASN1_SIGNING,
            RsaesOaepSha1,
        ),
    ];
    let before = hsm.all_objects().len();
    for (spec, signing, algorithm) in curves {
        // Keys until both parities of the public point's y were found (each 1/2 a key).
        let mut parities = [false; 2];
        for tried in 0.. {
            if parities == [true, true] {
                break;
            }
            assert!(tried < 40, "{spec}: one parity of y in {tried} keys");
            let key = key_id();
            let pair = EcdsaKeyPair::generate(signing).unwrap();
            let pkcs8 = pair.to_pkcs8v1().unwrap();
            let p = params(&hsm, key, algorithm);
            let imported = hsm
                .import_material(&p.token, &wrap(&p, pkcs8.as_ref()), key, 1, spec)
                .unwrap();
            let blob = at(key, &imported.blob);
            let expected = pair.public_key().as_der().unwrap();
            parities[(expected.as_ref().last().unwrap() & 1) as usize] = true;
            assert_eq!(
                hsm.public_key(blob, spec).unwrap(),
                expected.as_ref(),
                "{spec}"
            );
            let ps = params(&soft, key, RsaAesKeyWrapSha256);
            let by_soft = soft
                .import_material(&ps.token, &wrap(&ps, pkcs8.as_ref()), key, 1, spec)
                .unwrap();
            assert_eq!(imported.fingerprint, by_soft.fingerprint, "{spec}");
            let algorithm = match spec {
                KeySpec::EccNistP384 => SigningAlgorithm::EcdsaSha384,
                KeySpec::EccNistP521 => SigningAlgorithm::EcdsaSha512,
                _ => SigningAlgorithm::EcdsaSha256,
            };
            let signed = hsm.sign(blob, spec, algorithm, MessageType::Raw, b"signed");
            let by_soft = at(key, &by_soft.blob);
            let verified = soft.verify(
                by_soft,
                spec,
                algorithm,
                MessageType::Raw,
                b"signed",
                &signed.unwrap(),
            );
            assert!(verified.unwrap(), "{spec}");
            hsm.forget_key(key);
        }
    }
    assert_eq!(hsm.all_objects().len(), before);
    // Material on another curve is refused naming it, as under the soft backend.
    let key = key_id();
    let p = params(&hsm, key, RsaAesKeyWrapSha1);
    let p384 = EcdsaKeyPair::generate(&signature::ECDSA_P384_SHA384_ASN1_SIGNING).unwrap();
    let p384 = wrap(&p, p384.to_pkcs8v1().unwrap().as_ref());
    let e = error_of(hsm.import_material(&p.token, &p384, key, 1, KeySpec::EccNistP256));
    assert!(e.contains("this is ECC_NIST_P384 key material"), "{e}");
    let rsa = wrap(&p, &rsa_pkcs8(rsa::KeySize::Rsa2048));
    let e = error_of(hsm.import_material(&p.token, &rsa, key, 1, KeySpec::EccNistP256));
    assert!(
        e.contains("elliptic curve private key in PKCS#8 form"),
        "{e}"
    );
}

#[test]
fn what_the_token_cannot_import_is_refused_by_name() {
    let (_token, hsm, _) = token_and_soft();
    let key = key_id();
    // SoftHSM2 2.6's OAEP takes SHA-1 only.
    for algorithm in [RsaesOaepSha256, RsaAesKeyWrapSha256] {
        let e = error_of(hsm.import_parameters(key, algorithm, WrappingKeySpec::Rsa2048, VALID_TO));
        assert!(
            e.contains(algorithm.as_str()) && e.contains("CKM_RSA_PKCS_OAEP"),
            "{e}"
        );
    }
    let e = error_of(hsm.import_parameters(key, RsaesOaepSha1, WrappingKeySpec::Sm2, VALID_TO));
    assert!(e.contains("SM2"), "{e}");
    let p = params(&hsm, key, RsaAesKeyWrapSha1);
    // An HMAC-SHA256 key over 64 bytes and not a multiple of 8: SoftHSM2 2.6 would pad it.
    let e =
        error_of(hsm.import_material(&p.token, &wrap(&p, &random(70)), key, 1, KeySpec::Hmac256));
    assert!(
        e.contains("of 65 to 72 bytes") && e.contains("multiple of 8"),
        "{e}"
    );
    let imported = hsm.import_material(&p.token, &wrap(&p, &random(72)), key, 1, KeySpec::Hmac256);
    assert!(imported.is_ok());
    // At the bounds, where SoftHSM2 2.6 tells a length only to within 8 bytes: what imports
    // MACs as the material does, and 17 to 24 bytes is short of any HMAC_256 key.
    let cases = [
        (
            28,
            KeySpec::Hmac224,
            MacAlgorithm::HmacSha224,
            aws_lc_rs::hmac::HMAC_SHA224,
        ),
        (
            30,
            KeySpec::Hmac224,
            MacAlgorithm::HmacSha224,
            aws_lc_rs::hmac::HMAC_SHA224,
        ),
        (
            32,
            KeySpec::Hmac256,
            MacAlgorithm::HmacSha256,
            aws_lc_rs::hmac::HMAC_SHA256,
        ),
    ];
    for (len, spec, algorithm, sha) in cases {
        let material = random(len);
        let imported = hsm.import_material(&p.token, &wrap(&p, &material), key, 1, spec);
        let blob = imported.unwrap().blob;
        let mac = hsm
            .generate_mac(at(key, &blob), spec, algorithm, b"m")
            .unwrap();
        let reference = aws_lc_rs::hmac::sign(&aws_lc_rs::hmac::Key::new(sha, &material), b"m");
        assert_eq!(mac, reference.as_ref(), "{len} bytes");
        hsm.forget_key(key);
    }
    let e =
        error_of(hsm.import_material(&p.token, &wrap(&p, &random(28)), key, 1, KeySpec::Hmac256));
    assert!(e.contains("this is 25 to 31 bytes"), "{e}");
    let e =
        error_of(hsm.import_material(&p.token, &wrap(&p, &random(24)), key, 1, KeySpec::Hmac256));
    assert!(
        e.contains("32 to 128 bytes") && e.contains("this is 17 to 24 bytes"),
        "{e}"
    );
}

#[test]
fn wrong_tokens_and_wrong_material_are_refused_as_the_soft_backend_refuses_them() {
    let (_token, hsm, soft) = token_and_soft();
    let key = key_id();
    let p = params(&hsm, key, RsaAesKeyWrapSha1);
    let material = wrap(&p, &random(32));
    let spec = KeySpec::SymmetricDefault;
    let invalid = "import token";
    // Another key's token; a token tampered with or cut; the soft backend's token.
    let e = error_of(hsm.import_material(&p.token, &material, key_id(), 1, spec));
    assert!(e.contains(invalid), "{e}");
    for at in [1, 20, p.token.len() / 2, p.token.len() - 1] {
        let mut tampered = p.token.clone();
        tampered[at] ^= 1;
        let e = error_of(hsm.import_material(&tampered, &material, key, 1, spec));
        assert!(e.contains(invalid), "byte {at}: {e}");
        assert!(error_of(hsm.read_import_token(&tampered)).contains(invalid));
    }
    let cut = &p.token[..p.token.len() - 1];
    assert!(error_of(hsm.import_material(cut, &material, key, 1, spec)).contains(invalid));
    let theirs = params(&soft, key, RsaAesKeyWrapSha1);
    let e = error_of(hsm.import_material(&theirs.token, &material, key, 1, spec));
    assert!(e.contains(invalid), "{e}");
    // Material that does not unwrap, or is not of the spec.
    let mut garbled = material.clone();
    *garbled.last_mut().unwrap() ^= 1;
    let e = error_of(hsm.import_material(&p.token, &garbled, key, 1, spec));
    assert!(e.contains("does not unwrap"), "{e}");
    let e = error_of(hsm.import_material(&p.token, &material[..200], key, 1, spec));
    assert!(e.contains("does not unwrap"), "{e}");
    let short = wrap_with(&p, &random(31), 16);
    let e = error_of(hsm.import_material(&p.token, &short, key, 1, spec));
    assert!(
        e.contains("exactly 32 bytes") && e.contains("this is 25 to 31 bytes"),
        "{e}"
    );
    let hmac = wrap(&p, &random(20));
    let e = error_of(hsm.import_material(&p.token, &hmac, key, 1, KeySpec::Hmac256));
    assert!(
        e.contains("32 to 128 bytes") && e.contains("this is 17 to 24 bytes"),
        "{e}"
    );
    let rsa_3072 = wrap(&p, &rsa_pkcs8(rsa::KeySize::Rsa3072));
    let e = error_of(hsm.import_material(&p.token, &rsa_3072, key, 1, KeySpec::Rsa2048));
    assert!(e.contains("2048-bit") && e.contains("3072 bits"), "{e}");
    let not_rsa = wrap(&p, &random(1200));
    let e = error_of(hsm.import_material(&p.token, &not_rsa, key, 1, KeySpec::Rsa2048));
    assert!(e.contains("RSA private key in PKCS#8 form"), "{e}");
    // RSA material needs the key-wrap algorithms, as under the soft backend.
    let oaep = params(&hsm, key, RsaesOaepSha1);
    let e = error_of(hsm.import_material(&oaep.token, &material, key, 1, KeySpec::Rsa2048));
    assert!(e.contains("RSA_AES_KEY_WRAP_SHA_1"), "{e}");
}
