//! ECDH in a real SoftHSM2 token (one fresh token per test, see `tests.rs`) against the soft
//! backend on the same key pair and against aws-lc's agreement computed outside both: the
//! same secrets for every form of peer key the soft backend takes, the same refusals.

use aws_lc_rs::agreement::{self, PrivateKey, UnparsedPublicKey};
use aws_lc_rs::encoding::{
    AsBigEndian, AsDer, EcPublicKeyCompressedBin, EcPublicKeyUncompressedBin,
};
use aws_lc_rs::signature::{self, EcdsaKeyPair};
use trent_model::KeySpec;

use super::keys_tests::{at, soft};
use super::tests::{error_of, key_id, TestToken};
use crate::{Hsm, HsmError};

fn curves() -> [(
    KeySpec,
    &'static signature::EcdsaSigningAlgorithm,
    &'static agreement::Algorithm,
); 3] {
    [
        (
            KeySpec::EccNistP256,
            &signature::ECDSA_P256_SHA256_ASN1_SIGNING,
            &agreement::ECDH_P256,
        ),
        (
            KeySpec::EccNistP384,
            &signature::ECDSA_P384_SHA384_ASN1_SIGNING,
            &agreement::ECDH_P384,
        ),
        (
            KeySpec::EccNistP521,
            &signature::ECDSA_P521_SHA512_ASN1_SIGNING,
            &agreement::ECDH_P521,
        ),
    ]
}

/// The peer's public key as a SubjectPublicKeyInfo, an uncompressed and a compressed point.
fn forms(peer: &PrivateKey) -> [Vec<u8>; 3] {
    let public = peer.compute_public_key().unwrap();
    let spki = AsDer::<aws_lc_rs::encoding::PublicKeyX509Der>::as_der(&public).unwrap();
    let raw: EcPublicKeyUncompressedBin = public.as_be_bytes().unwrap();
    let compressed: EcPublicKeyCompressedBin = public.as_be_bytes().unwrap();
    [
        spki.as_ref().to_vec(),
        raw.as_ref().to_vec(),
        compressed.as_ref().to_vec(),
    ]
}

/// What aws-lc computes as the peer, agreeing with our public key `ours` (SPKI).
fn outside(peer: &PrivateKey, algorithm: &'static agreement::Algorithm, ours: &[u8]) -> Vec<u8> {
    agreement::agree(peer, UnparsedPublicKey::new(algorithm, ours), (), |s| {
        Ok(s.to_vec())
    })
    .unwrap()
}

#[test]
fn ecdh_in_the_token_equals_the_soft_backend_and_aws_lc() {
    let (_token, hsm) = TestToken::initialized();
    let soft = soft();
    for (spec, signing, algorithm) in curves() {
        let pkcs8 = EcdsaKeyPair::generate(signing)
            .unwrap()
            .to_pkcs8v1()
            .unwrap();
        let id = key_id();
        let soft_blob = soft.wrap.wrap_material(id, 1, spec, pkcs8.as_ref());
        let sw = at(id, &soft_blob);
        let spki = soft.public_key(sw, spec).unwrap();
        let p11_blob = hsm.wrap_known_key(id, 1, spec, pkcs8.as_ref(), &spki);
        let p11 = at(id, &p11_blob);
        for _ in 0..4 {
            let peer = PrivateKey::generate(algorithm).unwrap();
            let expected = outside(&peer, algorithm, &spki);
            assert_eq!(expected.len(), spec_bits(spec).div_ceil(8), "{spec}");
            // The soft backend (aws-lc's EVP_parse_public_key) ignores bytes after a
            // SubjectPublicKeyInfo; so does this one.
            let [spki_form, raw, compressed] = forms(&peer);
            let trailing = [&spki_form[..], &[0, 1]].concat();
            for form in [spki_form, raw, compressed, trailing] {
                let by_token = hsm.derive_shared_secret(p11, spec, &form).unwrap();
                let by_soft = soft.derive_shared_secret(sw, spec, &form).unwrap();
                assert_eq!(&by_token[..], &expected[..], "{spec}");
                assert_eq!(&by_soft[..], &expected[..], "{spec}");
            }
        }
        // Peer keys on another curve, or not keys: refused alike.
        let other = if spec == KeySpec::EccNistP256 {
            &agreement::ECDH_P384
        } else {
            &agreement::ECDH_P256
        };
        let x25519 = PrivateKey::generate(&agreement::X25519).unwrap();
        let x25519 = x25519.compute_public_key().unwrap().as_ref().to_vec();
        let [spki_other, raw_other, _] = forms(&PrivateKey::generate(other).unwrap());
        let [good, raw, _] = forms(&PrivateKey::generate(algorithm).unwrap());
        let mut off_curve = raw.clone();
        *off_curve.last_mut().unwrap() ^= 1;
        let bad = [
            spki_other,
            raw_other,
            x25519,
            off_curve,
            good[..good.len() - 1].to_vec(),
            vec![],
            vec![0x04],
            spki.clone()[..20].to_vec(),
        ];
        for peer in &bad {
            for result in [
                hsm.derive_shared_secret(p11, spec, peer),
                soft.derive_shared_secret(sw, spec, peer),
            ] {
                assert!(
                    matches!(result, Err(HsmError::PublicKey(s)) if s == spec.as_str()),
                    "{spec} {peer:02x?}"
                );
            }
        }
    }
}

fn spec_bits(spec: KeySpec) -> usize {
    match spec {
        KeySpec::EccNistP256 => 256,
        KeySpec::EccNistP384 => 384,
        _ => 521,
    }
}

#[test]
fn keys_generated_in_the_token_agree_and_the_rest_refuse() {
    let (_token, hsm) = TestToken::initialized();
    for (spec, _, algorithm) in curves() {
        let id = key_id();
        let wrapped = hsm.generate(id, 1, spec).unwrap();
        let key = at(id, &wrapped);
        let ours = hsm.public_key(key, spec).unwrap();
        let peer = PrivateKey::generate(algorithm).unwrap();
        let [spki, ..] = forms(&peer);
        let secret = hsm.derive_shared_secret(key, spec, &spki).unwrap();
        assert_eq!(&secret[..], &outside(&peer, algorithm, &ours)[..]);
    }
    // The objects the agreements derived are gone: three key pairs remain in the cache.
    assert_eq!(hsm.all_objects().len(), 5 + 3 * 2);
    // secp256k1 (no key agreement in AWS), HMAC: the soft backend's refusal.
    let soft = soft();
    let peer = forms(&PrivateKey::generate(&agreement::ECDH_P256).unwrap())[0].clone();
    for spec in [KeySpec::EccSecgP256k1, KeySpec::Hmac256] {
        let id = key_id();
        let wrapped = hsm.generate(id, 1, spec).unwrap();
        let e = hsm.derive_shared_secret(at(id, &wrapped), spec, &peer);
        assert!(matches!(e, Err(HsmError::Algorithm("ECDH"))), "{spec}");
        let wrapped = soft.generate(id, 1, spec).unwrap();
        let e = soft.derive_shared_secret(at(id, &wrapped), spec, &peer);
        assert!(matches!(e, Err(HsmError::Algorithm("ECDH"))), "{spec}");
    }
    // A blob for another version is refused before any agreement.
    let id = key_id();
    let wrapped = hsm.generate(id, 1, KeySpec::EccNistP256).unwrap();
    let moved = crate::MaterialRef {
        version: 2,
        ..at(id, &wrapped)
    };
    assert!(matches!(
        hsm.derive_shared_secret(moved, KeySpec::EccNistP256, &peer),
        Err(HsmError::Unwrap { .. })
    ));
}

#[test]
fn a_token_failing_the_ecdh_trial_is_refused_by_name() {
    let (_token, mut hsm) = TestToken::initialized();
    assert!(hsm.families.agree_refused.is_empty(), "SoftHSM2 does ECDH");
    let id = key_id();
    let wrapped = hsm.generate(id, 1, KeySpec::EccNistP384).unwrap();
    hsm.families.agree_refused = vec![(
        KeySpec::EccNistP384,
        "the token lacks CKM_ECDH1_DERIVE, needed for ECDH".into(),
    )];
    let peer = forms(&PrivateKey::generate(&agreement::ECDH_P384).unwrap())[0].clone();
    let e = error_of(hsm.derive_shared_secret(at(id, &wrapped), KeySpec::EccNistP384, &peer));
    assert!(
        e.contains("cannot serve key agreement (ECDH) with ECC_NIST_P384 keys: the token lacks CKM_ECDH1_DERIVE"),
        "{e}"
    );
    assert!(e.contains("does not fall back to software"), "{e}");
    // Its signatures are still served.
    let algorithm = trent_model::SigningAlgorithm::EcdsaSha384;
    let m = trent_model::MessageType::Raw;
    hsm.sign(at(id, &wrapped), KeySpec::EccNistP384, algorithm, m, b"m")
        .unwrap();
}
