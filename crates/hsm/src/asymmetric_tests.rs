//! Every spec through the soft HSM: generate, use, and the checks that keep a wrapped key to
//! its key id, version and spec.

use aws_lc_rs::digest;
use trent_model::{
    EncryptionAlgorithm, KeyId, KeySpec, KeyUsage, MacAlgorithm, MessageType, SigningAlgorithm,
};

use crate::{DomainKey, Hsm, HsmError, MaterialRef, SoftHsm};

fn hsm() -> SoftHsm {
    SoftHsm::new(DomainKey::from_bytes([9; 32]), 100)
}

fn key_id(n: u8) -> KeyId {
    KeyId(uuid::Uuid::from_bytes([n; 16]))
}

fn material(id: KeyId, wrapped: &[u8]) -> MaterialRef<'_> {
    MaterialRef {
        key_id: id,
        version: 1,
        wrapped,
    }
}

fn hash_of(algorithm: SigningAlgorithm, message: &[u8]) -> Vec<u8> {
    let hash = match algorithm.digest_len() {
        Some(32) => &digest::SHA256,
        Some(48) => &digest::SHA384,
        _ => &digest::SHA512,
    };
    digest::digest(hash, message).as_ref().to_vec()
}

#[test]
fn every_signing_spec_signs_and_verifies_raw_and_digest_messages() {
    let hsm = hsm();
    for (n, &spec) in KeySpec::ALL.iter().enumerate() {
        let algorithms = spec.signing_algorithms(KeyUsage::SignVerify);
        if algorithms.is_empty() || spec == KeySpec::Sm2 {
            continue;
        }
        let id = key_id(n as u8);
        let wrapped = hsm.generate(id, 1, spec).unwrap();
        let key = material(id, &wrapped);
        assert!(hsm.public_key(key, spec).unwrap().starts_with(&[0x30]));
        for &algorithm in algorithms {
            if algorithm == SigningAlgorithm::Ed25519PhSha512 {
                continue; // DIGEST only: its own test
            }
            let message = b"a message to sign";
            let sig = hsm
                .sign(key, spec, algorithm, MessageType::Raw, message)
                .unwrap_or_else(|e| panic!("{spec} {algorithm}: {e}"));
            assert!(
                hsm.verify(key, spec, algorithm, MessageType::Raw, message, &sig)
                    .unwrap(),
                "{spec} {algorithm}"
            );
            assert!(!hsm
                .verify(key, spec, algorithm, MessageType::Raw, b"another", &sig)
                .unwrap());
            if algorithm.digest_len().is_some() {
                let digest = hash_of(algorithm, message);
                let by_digest = hsm
                    .sign(key, spec, algorithm, MessageType::Digest, &digest)
                    .unwrap();
                // A signature of the digest is a signature of the message, both ways.
                assert!(
                    hsm.verify(key, spec, algorithm, MessageType::Raw, message, &by_digest)
                        .unwrap(),
                    "{spec} {algorithm} digest"
                );
                assert!(hsm
                    .verify(key, spec, algorithm, MessageType::Digest, &digest, &sig)
                    .unwrap());
            }
        }
    }
}

#[test]
fn rsa_oaep_round_trips_under_each_hash() {
    let hsm = hsm();
    let id = key_id(1);
    let wrapped = hsm.generate(id, 1, KeySpec::Rsa2048).unwrap();
    let key = material(id, &wrapped);
    for algorithm in [
        EncryptionAlgorithm::RsaesOaepSha1,
        EncryptionAlgorithm::RsaesOaepSha256,
    ] {
        let max = algorithm.max_oaep_plaintext(256);
        let plaintext = vec![7u8; max];
        let ciphertext = hsm
            .encrypt_asymmetric(key, KeySpec::Rsa2048, algorithm, &plaintext)
            .unwrap();
        let opened = hsm
            .decrypt_asymmetric(key, KeySpec::Rsa2048, algorithm, &ciphertext)
            .unwrap();
        assert_eq!(&opened[..], &plaintext[..]);
        let mut bad = ciphertext.clone();
        bad[10] ^= 1;
        assert!(matches!(
            hsm.decrypt_asymmetric(key, KeySpec::Rsa2048, algorithm, &bad),
            Err(HsmError::Authentication)
        ));
    }
}

#[test]
fn hmac_keys_mac_and_verify_in_their_one_algorithm() {
    let hsm = hsm();
    for (spec, algorithm, len) in [
        (KeySpec::Hmac224, MacAlgorithm::HmacSha224, 28),
        (KeySpec::Hmac256, MacAlgorithm::HmacSha256, 32),
        (KeySpec::Hmac384, MacAlgorithm::HmacSha384, 48),
        (KeySpec::Hmac512, MacAlgorithm::HmacSha512, 64),
    ] {
        let id = key_id(len as u8);
        let wrapped = hsm.generate(id, 1, spec).unwrap();
        let key = material(id, &wrapped);
        let mac = hsm.generate_mac(key, spec, algorithm, b"m").unwrap();
        assert_eq!(mac.len(), len);
        assert!(hsm.verify_mac(key, spec, algorithm, b"m", &mac).unwrap());
        assert!(!hsm.verify_mac(key, spec, algorithm, b"n", &mac).unwrap());
        assert!(hsm.public_key(key, spec).is_err());
    }
}

#[test]
fn ecdh_agrees_with_the_peer_and_refuses_another_curve() {
    let hsm = hsm();
    let (a, b, c) = (key_id(1), key_id(2), key_id(3));
    let wa = hsm.generate(a, 1, KeySpec::EccNistP256).unwrap();
    let wb = hsm.generate(b, 1, KeySpec::EccNistP256).unwrap();
    let wc = hsm.generate(c, 1, KeySpec::EccNistP384).unwrap();
    let pa = hsm
        .public_key(material(a, &wa), KeySpec::EccNistP256)
        .unwrap();
    let pb = hsm
        .public_key(material(b, &wb), KeySpec::EccNistP256)
        .unwrap();
    let pc = hsm
        .public_key(material(c, &wc), KeySpec::EccNistP384)
        .unwrap();
    let ab = hsm
        .derive_shared_secret(material(a, &wa), KeySpec::EccNistP256, &pb)
        .unwrap();
    let ba = hsm
        .derive_shared_secret(material(b, &wb), KeySpec::EccNistP256, &pa)
        .unwrap();
    assert_eq!(&ab[..], &ba[..]);
    assert_eq!(ab.len(), 32);
    assert!(matches!(
        hsm.derive_shared_secret(material(a, &wa), KeySpec::EccNistP256, &pc),
        Err(HsmError::PublicKey(_))
    ));
}

#[test]
fn ml_kem_encapsulates_to_what_it_decapsulates() {
    let hsm = hsm();
    for (n, spec) in [KeySpec::MlKem512, KeySpec::MlKem768, KeySpec::MlKem1024]
        .into_iter()
        .enumerate()
    {
        let id = key_id(n as u8);
        let wrapped = hsm.generate(id, 1, spec).unwrap();
        let key = material(id, &wrapped);
        let (ciphertext, secret) = hsm.encapsulate(key, spec).unwrap();
        let opened = hsm.decapsulate(key, spec, &ciphertext).unwrap();
        assert_eq!(&opened[..], &secret[..]);
        assert_eq!(secret.len(), 32);
        assert!(hsm.decapsulate(key, spec, &ciphertext[1..]).is_err());
        assert!(hsm
            .public_key(key, spec)
            .unwrap()
            .starts_with(&[0x30, 0x82]));
    }
}

#[test]
fn a_wrapped_key_opens_only_as_its_own_id_version_and_spec() {
    let hsm = hsm();
    let id = key_id(1);
    let wrapped = hsm.generate(id, 1, KeySpec::EccNistP256).unwrap();
    // As another spec of the same size: refused by the additional data, not misparsed.
    assert!(matches!(
        hsm.public_key(material(id, &wrapped), KeySpec::EccSecgP256k1),
        Err(HsmError::Unwrap { .. })
    ));
    let other = key_id(2);
    assert!(hsm
        .public_key(material(other, &wrapped), KeySpec::EccNistP256)
        .is_err());
    let v2 = MaterialRef {
        key_id: id,
        version: 2,
        wrapped: &wrapped,
    };
    assert!(hsm.public_key(v2, KeySpec::EccNistP256).is_err());
}

#[test]
fn data_key_pairs_are_pkcs8_with_a_matching_public_key() {
    let hsm = hsm();
    for spec in [
        KeySpec::Rsa2048,
        KeySpec::EccNistP256,
        KeySpec::EccSecgP256k1,
        KeySpec::EccNistEdwards25519,
        KeySpec::MlKem768,
    ] {
        let pair = hsm.generate_data_key_pair(spec).unwrap();
        assert_eq!(pair.private_pkcs8[0], 0x30, "{spec}");
        assert_eq!(pair.public_der[0], 0x30, "{spec}");
        let again = hsm.generate_data_key_pair(spec).unwrap();
        assert_ne!(pair.public_der, again.public_der, "{spec}: fresh each time");
    }
    assert!(hsm.generate_data_key_pair(KeySpec::Hmac256).is_err());
}

#[test]
fn ml_dsa_signs_and_verifies_an_external_mu() {
    let hsm = hsm();
    for (n, spec) in [KeySpec::MlDsa44, KeySpec::MlDsa65, KeySpec::MlDsa87]
        .into_iter()
        .enumerate()
    {
        let id = key_id(n as u8);
        let wrapped = hsm.generate(id, 1, spec).unwrap();
        let key = material(id, &wrapped);
        let alg = SigningAlgorithm::MlDsaShake256;
        let mu = [7u8; 64];
        let sig = hsm
            .sign(key, spec, alg, MessageType::ExternalMu, &mu)
            .unwrap();
        assert!(hsm
            .verify(key, spec, alg, MessageType::ExternalMu, &mu, &sig)
            .unwrap());
        assert!(!hsm
            .verify(key, spec, alg, MessageType::ExternalMu, &[8u8; 64], &sig)
            .unwrap());
        // μ is not the message: a signature of μ is no signature of μ's bytes as a message.
        assert!(!hsm
            .verify(key, spec, alg, MessageType::Raw, &mu, &sig)
            .unwrap());
    }
}

#[test]
fn ed25519ph_hashes_the_given_digest_again_and_takes_only_digests() {
    let hsm = hsm();
    let id = key_id(1);
    let spec = KeySpec::EccNistEdwards25519;
    let wrapped = hsm.generate(id, 1, spec).unwrap();
    let key = material(id, &wrapped);
    let alg = SigningAlgorithm::Ed25519PhSha512;
    let digest = digest::digest(&digest::SHA512, b"message");
    let sig = hsm
        .sign(key, spec, alg, MessageType::Digest, digest.as_ref())
        .unwrap();
    assert!(hsm
        .verify(key, spec, alg, MessageType::Digest, digest.as_ref(), &sig)
        .unwrap());
    // Ed25519ph of the digest as the message (PH = SHA-512 of it), as AWS documents.
    let prehash = digest::digest(&digest::SHA512, digest.as_ref());
    assert!(!hsm
        .verify(key, spec, alg, MessageType::Digest, prehash.as_ref(), &sig)
        .unwrap());
    assert!(hsm
        .sign(key, spec, alg, MessageType::Raw, b"message")
        .is_err());
}

#[test]
fn ml_kem_data_key_pairs_are_in_the_seed_form_other_tools_read() {
    let pair = hsm().generate_data_key_pair(KeySpec::MlKem768).unwrap();
    // PrivateKeyInfo { 0, id-alg-ml-kem-768, OCTET STRING { [0] 64-byte seed } }: the bytes
    // pyca/cryptography writes for an ML-KEM-768 key.
    let prefix = [
        0x30, 0x54, 0x02, 0x01, 0x00, 0x30, 0x0b, 0x06, 0x09, 0x60, 0x86, 0x48, 0x01, 0x65, 0x03,
        0x04, 0x04, 0x02, 0x04, 0x42, 0x80, 0x40,
    ];
    assert_eq!(&pair.private_pkcs8[..prefix.len()], &prefix);
    assert_eq!(pair.private_pkcs8.len(), prefix.len() + 64);
    assert_eq!(pair.public_der.len(), 22 + 1184);
}

#[test]
fn hmac_matches_an_independent_implementation() {
    use hmac::{Hmac, KeyInit, Mac};
    let hsm = hsm();
    let id = key_id(9);
    let spec = KeySpec::Hmac256;
    let wrapped = hsm.generate(id, 1, spec).unwrap();
    let key = material(id, &wrapped);
    // The key, unwrapped here only, so RustCrypto's HMAC (not aws-lc's) can compute the same MAC.
    let secret = hsm.unwrap_other(key, spec).unwrap();
    assert_eq!(secret.len(), 32);
    let mut reference = <Hmac<sha2::Sha256>>::new_from_slice(&secret).unwrap();
    reference.update(b"an HMAC message");
    let expected = reference.finalize().into_bytes();
    let mac = hsm
        .generate_mac(key, spec, MacAlgorithm::HmacSha256, b"an HMAC message")
        .unwrap();
    assert_eq!(&mac[..], &expected[..]);
}
