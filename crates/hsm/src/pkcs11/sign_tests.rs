//! Signatures and RSA-OAEP with keys in a real SoftHSM2 token (one fresh token per test, see
//! `tests.rs`), against the soft backend on the same material: each verifies what the other
//! signs, both refuse the same wrong and malformed signatures, each opens what the other
//! seals; and key pairs generated in the token give a public key aws-lc reads.

use aws_lc_rs::digest;
use aws_lc_rs::encoding::{AsDer, Pkcs8V1Der};
use aws_lc_rs::rsa;
use aws_lc_rs::signature::{self, EcdsaKeyPair, UnparsedPublicKey};
use trent_model::{EncryptionAlgorithm, KeySpec, KeyUsage, MessageType, SigningAlgorithm};

use super::keys;
use super::keys_tests::{at, soft};
use super::tests::{error_of, key_id, TestToken};
use super::Pkcs11Hsm;
use crate::{Hsm, HsmError, MaterialRef, SoftHsm};

/// The curves and their aws-lc signing algorithms.
fn curves() -> [(KeySpec, &'static signature::EcdsaSigningAlgorithm); 4] {
    [
        (
            KeySpec::EccNistP256,
            &signature::ECDSA_P256_SHA256_ASN1_SIGNING,
        ),
        (
            KeySpec::EccNistP384,
            &signature::ECDSA_P384_SHA384_ASN1_SIGNING,
        ),
        (
            KeySpec::EccNistP521,
            &signature::ECDSA_P521_SHA512_ASN1_SIGNING,
        ),
        (
            KeySpec::EccSecgP256k1,
            &signature::ECDSA_P256K1_SHA256_ASN1_SIGNING,
        ),
    ]
}

/// Signs with each backend and verifies with both, RAW and DIGEST, and checks both refuse
/// the same wrong and malformed signatures.
fn cross_sign(hsm: &Pkcs11Hsm, soft: &SoftHsm, spec: KeySpec, p11: MaterialRef, sw: MaterialRef) {
    for algorithm in spec.signing_algorithms(KeyUsage::SignVerify) {
        let algorithm = *algorithm;
        let hash = match algorithm.as_str() {
            a if a.ends_with("384") => &digest::SHA384,
            a if a.ends_with("512") => &digest::SHA512,
            _ => &digest::SHA256,
        };
        let raw = b"signed by one backend, verified by the other".to_vec();
        let digest = digest::digest(hash, &raw).as_ref().to_vec();
        for (message_type, message) in [(MessageType::Raw, raw), (MessageType::Digest, digest)] {
            let by_token = hsm
                .sign(p11, spec, algorithm, message_type, &message)
                .unwrap();
            let by_soft = soft
                .sign(sw, spec, algorithm, message_type, &message)
                .unwrap();
            for signature in [&by_token, &by_soft] {
                assert!(hsm
                    .verify(p11, spec, algorithm, message_type, &message, signature)
                    .unwrap());
                assert!(soft
                    .verify(sw, spec, algorithm, message_type, &message, signature)
                    .unwrap());
            }
            if algorithm.as_str().starts_with("RSASSA_PKCS1") {
                assert_eq!(by_token, by_soft, "PKCS #1 v1.5 is deterministic");
            }
            let mut other = message.clone();
            other[0] ^= 1;
            let mut flipped = by_token.clone();
            *flipped.last_mut().unwrap() ^= 1;
            let mut trailing = by_token.clone();
            trailing.push(0);
            let cases = [
                (&message, &flipped),
                (&other, &by_token),
                (&message, &trailing),
                (&message, &by_token[..by_token.len() - 1].to_vec()),
            ];
            for (message, signature) in cases {
                let token = hsm.verify(p11, spec, algorithm, message_type, message, signature);
                let software = soft.verify(sw, spec, algorithm, message_type, message, signature);
                assert!(
                    !token.unwrap() && !software.unwrap(),
                    "{algorithm} {message_type:?}"
                );
            }
            assert!(matches!(
                hsm.sign(p11, spec, algorithm, MessageType::Digest, &message[1..]),
                Err(HsmError::DigestLength)
            ));
        }
        assert!(matches!(
            hsm.sign(p11, spec, algorithm, MessageType::ExternalMu, &[0; 64]),
            Err(HsmError::Algorithm(_))
        ));
    }
    let unsuitable = SigningAlgorithm::Ed25519Sha512;
    assert!(matches!(
        hsm.sign(p11, spec, unsuitable, MessageType::Raw, b"m"),
        Err(HsmError::Algorithm(_))
    ));
}

#[test]
fn ecdsa_signatures_cross_between_the_token_and_the_soft_backend() {
    let (_token, hsm) = TestToken::initialized();
    let soft = soft();
    for (spec, signing) in curves() {
        let key = EcdsaKeyPair::generate(signing).unwrap();
        let pkcs8 = key.to_pkcs8v1().unwrap();
        let id = key_id();
        let soft_blob = soft.wrap.wrap_material(id, 1, spec, pkcs8.as_ref());
        let sw = at(id, &soft_blob);
        let spki = soft.public_key(sw, spec).unwrap();
        assert_eq!(hsm.token_spki(spec, &spki), spki, "{spec}");
        let p11_blob = hsm.wrap_known_key(id, 1, spec, pkcs8.as_ref(), &spki);
        let p11 = at(id, &p11_blob);
        assert_eq!(hsm.public_key(p11, spec).unwrap(), spki);
        cross_sign(&hsm, &soft, spec, p11, sw);
    }
}

#[test]
fn rsa_signatures_and_oaep_cross_between_the_token_and_the_soft_backend() {
    let (_token, hsm) = TestToken::initialized();
    let soft = soft();
    let spec = KeySpec::Rsa2048;
    let key = rsa::KeyPair::generate(rsa::KeySize::Rsa2048).unwrap();
    let pkcs8: Pkcs8V1Der<'static> = key.as_der().unwrap();
    let id = key_id();
    let soft_blob = soft.wrap.wrap_material(id, 1, spec, pkcs8.as_ref());
    let sw = at(id, &soft_blob);
    let spki = soft.public_key(sw, spec).unwrap();
    assert_eq!(hsm.token_spki(spec, &spki), spki);
    let p11_blob = hsm.wrap_known_key(id, 1, spec, pkcs8.as_ref(), &spki);
    let p11 = at(id, &p11_blob);
    assert_eq!(hsm.public_key(p11, spec).unwrap(), spki);
    cross_sign(&hsm, &soft, spec, p11, sw);
    let message = b"sealed by one backend, opened by the other";
    // SoftHSM2 2.6.1's CKM_RSA_PKCS_OAEP takes SHA-1 only: OAEP with SHA-256 is refused by
    // name, both ways, and the key's other algorithms are served.
    let sha256 = EncryptionAlgorithm::RsaesOaepSha256;
    let by_soft = soft.encrypt_asymmetric(sw, spec, sha256, message).unwrap();
    let e = error_of(hsm.decrypt_asymmetric(p11, spec, sha256, &by_soft));
    assert!(
        e.contains("cannot serve RSAES_OAEP_SHA_256 with RSA_2048 keys: CKM_RSA_PKCS_OAEP with RSAES_OAEP_SHA_256's hash (the token answered ArgumentsBad)"),
        "{e}"
    );
    assert!(error_of(hsm.encrypt_asymmetric(p11, spec, sha256, message)).contains("ArgumentsBad"));
    for algorithm in [EncryptionAlgorithm::RsaesOaepSha1] {
        let by_token = hsm
            .encrypt_asymmetric(p11, spec, algorithm, message)
            .unwrap();
        let by_soft = soft
            .encrypt_asymmetric(sw, spec, algorithm, message)
            .unwrap();
        for ciphertext in [&by_token, &by_soft] {
            let opened = hsm
                .decrypt_asymmetric(p11, spec, algorithm, ciphertext)
                .unwrap();
            assert_eq!(&opened[..], message);
            let opened = soft
                .decrypt_asymmetric(sw, spec, algorithm, ciphertext)
                .unwrap();
            assert_eq!(&opened[..], message);
        }
        let mut flipped = by_token.clone();
        flipped[10] ^= 1;
        for ciphertext in [&flipped, &by_token[1..].to_vec()] {
            assert!(matches!(
                hsm.decrypt_asymmetric(p11, spec, algorithm, ciphertext),
                Err(HsmError::Authentication)
            ));
        }
        assert!(matches!(
            hsm.encrypt_asymmetric(p11, spec, algorithm, &[0; 250]),
            Err(HsmError::Algorithm(_))
        ));
        assert!(matches!(
            soft.encrypt_asymmetric(sw, spec, algorithm, &[0; 250]),
            Err(HsmError::Algorithm(_))
        ));
    }
}

#[test]
fn key_pairs_generated_in_the_token_sign_and_give_their_public_key() {
    let (_token, hsm) = TestToken::initialized();
    let message = b"made in the token";
    for spec in curves()
        .map(|(spec, _)| spec)
        .into_iter()
        .chain([KeySpec::Rsa2048])
    {
        let id = key_id();
        let wrapped = hsm.generate(id, 1, spec).unwrap();
        assert_eq!(wrapped[0], keys::WRAP_FORMAT_4);
        let key = at(id, &wrapped);
        let spki = hsm.public_key(key, spec).unwrap();
        let algorithm = spec.signing_algorithms(KeyUsage::SignVerify)[0];
        let signature = hsm
            .sign(key, spec, algorithm, MessageType::Raw, message)
            .unwrap();
        assert!(hsm
            .verify(key, spec, algorithm, MessageType::Raw, message, &signature)
            .unwrap());
        // aws-lc reads the public key and verifies the token's signature with it.
        let verifier = crate::operate::verification(spec, algorithm).unwrap();
        assert!(UnparsedPublicKey::new(verifier, &spki)
            .verify(message, &signature)
            .is_ok());
        let as_other = if spec == KeySpec::EccNistP384 {
            KeySpec::EccNistP256
        } else {
            KeySpec::EccNistP384
        };
        let moved = MaterialRef { version: 2, ..key };
        assert!(matches!(
            hsm.public_key(moved, spec),
            Err(HsmError::Unwrap { .. })
        ));
        hsm.forget_key(id);
        assert!(matches!(
            hsm.public_key(key, as_other),
            Err(HsmError::Unwrap { .. })
        ));
    }
}
