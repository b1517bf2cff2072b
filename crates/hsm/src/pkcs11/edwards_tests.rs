//! Ed25519 in a real SoftHSM2 token (one fresh token per test, see `tests.rs`) against the
//! soft backend on the same key: the same public key, the same (deterministic) signatures,
//! each verifies the other's and refuses the same wrong ones; and the refusals by name of
//! what SoftHSM2 2.6.1 cannot do: wrap Ed25519 keys out of the token (so it serves none),
//! and Ed25519ph. Since SoftHSM2 2.6.1 cannot wrap the keys, the signing path is tested on
//! keys put straight into the cache (`known_key`), with the wrap refusal lifted.

use std::sync::Arc;

use aws_lc_rs::digest;
use aws_lc_rs::signature::{self, Ed25519KeyPair, UnparsedPublicKey};
use cryptoki::mechanism::eddsa::{EddsaParams, EddsaSignatureScheme};
use cryptoki::mechanism::Mechanism;
use cryptoki::object::{Attribute, KeyType};
use trent_model::{KeyId, KeySpec, MessageType, SigningAlgorithm};

use super::cache::Unwrapped;
use super::families::{Kind, ED25519};
use super::keys;
use super::keys_tests::{at, soft};
use super::objects::{self, Temp, Uses};
use super::tests::{error_of, key_id, TestToken};
use super::Pkcs11Hsm;
use crate::{Hsm, HsmError, MaterialRef};

const SPEC: KeySpec = KeySpec::EccNistEdwards25519;
const PURE: SigningAlgorithm = SigningAlgorithm::Ed25519Sha512;
const PREHASHED: SigningAlgorithm = SigningAlgorithm::Ed25519PhSha512;

#[test]
fn ed25519_signatures_cross_between_the_token_and_the_soft_backend() {
    let (_token, mut hsm) = TestToken::initialized();
    hsm.families.refused.retain(|(spec, _)| *spec != SPEC);
    let soft = soft();
    let seed: [u8; 32] = rand_seed();
    let pkcs8 = Ed25519KeyPair::from_seed_unchecked(&seed)
        .unwrap()
        .to_pkcs8v1()
        .unwrap();
    let id = key_id();
    let soft_blob = soft.wrap.wrap_material(id, 1, SPEC, pkcs8.as_ref());
    let sw = at(id, &soft_blob);
    let spki = soft.public_key(sw, SPEC).unwrap();
    assert_eq!(hsm.token_spki(SPEC, &spki), spki);
    let p11_blob = hsm.known_key(id, &seed, &spki);
    let p11 = at(id, &p11_blob);
    assert_eq!(hsm.public_key(p11, SPEC).unwrap(), spki);
    for message in [&b""[..], b"signed by one backend, verified by the other"] {
        let raw = MessageType::Raw;
        let by_token = hsm.sign(p11, SPEC, PURE, raw, message).unwrap();
        let by_soft = soft.sign(sw, SPEC, PURE, raw, message).unwrap();
        assert_eq!(by_token, by_soft, "Ed25519 is deterministic");
        assert!(hsm.verify(p11, SPEC, PURE, raw, message, &by_soft).unwrap());
        let mut flipped = by_token.clone();
        flipped[0] ^= 1;
        let mut other = message.to_vec();
        other.push(1);
        let mut trailing = by_token.clone();
        trailing.push(0);
        for (message, signature) in [
            (message, &flipped[..]),
            (&other[..], &by_token[..]),
            (message, &trailing[..]),
            (message, &by_token[..63]),
            (message, &[][..]),
        ] {
            let token = hsm
                .verify(p11, SPEC, PURE, raw, message, signature)
                .unwrap();
            let software = soft
                .verify(sw, SPEC, PURE, raw, message, signature)
                .unwrap();
            assert!(!token && !software);
        }
    }
    // Algorithms and message types that do not go together: the soft backend's refusal.
    let digest = digest::digest(&digest::SHA512, b"m").as_ref().to_vec();
    for (algorithm, message_type) in [
        (PURE, MessageType::Digest),
        (PREHASHED, MessageType::Raw),
        (PURE, MessageType::ExternalMu),
        (SigningAlgorithm::EcdsaSha256, MessageType::Raw),
    ] {
        for result in [
            hsm.sign(p11, SPEC, algorithm, message_type, &digest),
            soft.sign(sw, SPEC, algorithm, message_type, &digest),
        ] {
            assert!(matches!(result, Err(HsmError::Algorithm(_))), "{algorithm}");
        }
        let verified = hsm.verify(p11, SPEC, algorithm, message_type, &digest, &[0; 64]);
        assert!(
            matches!(verified, Err(HsmError::Algorithm(_))),
            "{algorithm}"
        );
    }
    prehashed_cross(&hsm, &soft, p11, sw, &digest);
}

/// ED25519_PH_SHA_512: SoftHSM2 2.6.1's `CKM_EDDSA` ignores `CK_EDDSA_PARAMS` (it signs pure
/// Ed25519), so it fails the Ed25519ph known-answer test and is refused by name, both ways;
/// the key's ED25519_SHA_512 is still served.
fn prehashed_cross(
    hsm: &super::Pkcs11Hsm,
    soft: &crate::SoftHsm,
    p11: MaterialRef,
    sw: MaterialRef,
    digest: &[u8],
) {
    let digest_type = MessageType::Digest;
    let by_soft = soft.sign(sw, SPEC, PREHASHED, digest_type, digest).unwrap();
    assert!(soft
        .verify(sw, SPEC, PREHASHED, digest_type, digest, &by_soft)
        .unwrap());
    let e = error_of(hsm.sign(p11, SPEC, PREHASHED, digest_type, digest));
    assert!(
        e.contains("cannot serve ED25519_PH_SHA_512 with ECC_NIST_EDWARDS25519 keys: the token lacks CKM_EDDSA with CK_EDDSA_PARAMS phFlag set (Ed25519ph) (its signature with a known key is not ED25519_PH_SHA_512's)"),
        "{e}"
    );
    assert!(e.contains("does not fall back to software"), "{e}");
    let e = error_of(hsm.verify(p11, SPEC, PREHASHED, digest_type, digest, &by_soft));
    assert!(e.contains("ED25519_PH_SHA_512"), "{e}");
    // What it would have signed: pure Ed25519 of the same bytes, not Ed25519ph.
    let pure = hsm.sign(p11, SPEC, PURE, MessageType::Raw, digest).unwrap();
    assert_ne!(pure, by_soft);
}

#[test]
fn ed25519_keys_are_refused_by_name_where_the_token_cannot_wrap_them() {
    let (_token, hsm) = TestToken::initialized();
    let id = key_id();
    let e = error_of(hsm.generate(id, 1, SPEC));
    assert!(
        e.contains("cannot serve ECC_NIST_EDWARDS25519 keys: the token lacks C_WrapKey of Ed25519 private keys (the token answered KeyNotWrappable)"),
        "{e}"
    );
    assert!(e.contains("does not fall back to software"), "{e}");
    let e = error_of(hsm.sign(at(id, &[4; 80]), SPEC, PURE, MessageType::Raw, b"m"));
    assert!(e.contains("KeyNotWrappable"), "{e}");
    // Pure Ed25519 passed its known-answer test; only the wrap is missing.
    assert!(hsm.families.check_signing(SPEC, PURE).is_ok());
}

/// A key pair made in the token gives a SubjectPublicKeyInfo aws-lc reads and verifies the
/// token's signature with (what `generate` answers, on a token that can wrap the key).
#[test]
fn ed25519_public_keys_of_the_token_are_aws_lcs() {
    let (_token, mut hsm) = TestToken::initialized();
    hsm.families.refused.retain(|(spec, _)| *spec != SPEC);
    let session = hsm.token.session();
    let sign = Uses {
        sign: true,
        ..Uses::default()
    };
    let mut public = objects::public_key_template(KeyType::EC_EDWARDS, sign);
    public.push(Attribute::EcParams(ED25519.params.to_vec()));
    let private = objects::private_key_template(KeyType::EC_EDWARDS, false, sign);
    let (public, private) = session
        .generate_key_pair(&Mechanism::EccEdwardsKeyPairGen, &public, &private)
        .unwrap();
    let (public, private) = (Temp::new(&session, public), Temp::new(&session, private));
    let spki = keys::spki_of(&session, Kind::Ed25519, public.handle).unwrap();
    assert_eq!(spki.len(), 44);
    let message = b"made in the token";
    let eddsa = Mechanism::Eddsa(EddsaParams::new(EddsaSignatureScheme::Ed25519));
    let signature = session.sign(&eddsa, private.handle, message).unwrap();
    let verifier = crate::operate::verification(SPEC, PURE).unwrap();
    let raw = &spki[12..];
    assert!(UnparsedPublicKey::new(verifier, raw)
        .verify(message, &signature)
        .is_ok());
    assert!(UnparsedPublicKey::new(&signature::ED25519, raw)
        .verify(message, &signature)
        .is_ok());
    assert_eq!(hsm.token_spki(SPEC, &spki), spki);
}

#[test]
fn a_token_failing_the_eddsa_known_answer_test_is_refused_by_name() {
    let (_token, mut hsm) = TestToken::initialized();
    hsm.families.refused.retain(|(spec, _)| *spec != SPEC);
    let id = key_id();
    let key = Ed25519KeyPair::from_seed_unchecked(&[7; 32]).unwrap();
    let spki = aws_lc_rs::encoding::AsDer::<aws_lc_rs::encoding::PublicKeyX509Der>::as_der(
        aws_lc_rs::signature::KeyPair::public_key(&key),
    )
    .unwrap();
    let wrapped = hsm.known_key(id, &[7; 32], spki.as_ref());
    hsm.sign(at(id, &wrapped), SPEC, PURE, MessageType::Raw, b"m")
        .unwrap();
    hsm.families.signing_refused = vec![(PURE, "the token lacks CKM_EDDSA (test)".into())];
    let e = error_of(hsm.sign(at(id, &wrapped), SPEC, PURE, MessageType::Raw, b"m"));
    assert!(
        e.contains("cannot serve ED25519_SHA_512 with ECC_NIST_EDWARDS25519 keys: the token lacks CKM_EDDSA (test)"),
        "{e}"
    );
}

fn rand_seed() -> [u8; 32] {
    let mut seed = [0u8; 32];
    aws_lc_rs::rand::fill(&mut seed).unwrap();
    seed
}

impl Pkcs11Hsm {
    /// Test only: the Ed25519 key of `seed` (public key `spki`) in the cache as `key_id`
    /// version 1, as if unwrapped from the blob answered (which holds `spki` and no wrapped
    /// key: SoftHSM2 2.6.1 cannot wrap Ed25519 keys). The private key enters the token by
    /// `C_CreateObject`, sensitive and not extractable. (Production code never does this.)
    pub(super) fn known_key(&self, key_id: KeyId, seed: &[u8; 32], spki: &[u8]) -> Vec<u8> {
        let session = self.token.session();
        let (private_uses, public_uses) = keys::uses(Kind::Ed25519);
        let mut template = objects::private_key_template(KeyType::EC_EDWARDS, false, private_uses);
        template.push(Attribute::EcParams(ED25519.params.to_vec()));
        template.push(Attribute::Value(seed.to_vec()));
        let private = session.create_object(&template).unwrap();
        let template = keys::public_template(Kind::Ed25519, public_uses, spki).unwrap();
        let public = session.create_object(&template).unwrap();
        let mut blob = vec![keys::WRAP_FORMAT_4, 0, 0];
        blob.extend_from_slice(spki);
        blob.extend_from_slice(&[0; 32]);
        let entry = Unwrapped::of_spec(&blob, SPEC, private, Some(public), self.token.clone());
        self.cache.put(key_id, 1, Arc::new(entry));
        blob
    }
}
