//! Data key pairs from SoftHSM2: each parses outside trent (aws-lc) as a key of its spec with
//! the public key answered, leaves nothing in the token, and what the token cannot make is
//! refused by name, never made in software.

use aws_lc_rs::encoding::AsDer;
use aws_lc_rs::rsa::KeyPair as RsaKeyPair;
use aws_lc_rs::signature::{
    EcdsaKeyPair, KeyPair, ECDSA_P256K1_SHA256_ASN1_SIGNING, ECDSA_P256_SHA256_ASN1_SIGNING,
    ECDSA_P384_SHA384_ASN1_SIGNING, ECDSA_P521_SHA512_ASN1_SIGNING,
};
use trent_model::KeySpec;

use super::tests::{error_of, TestToken};
use crate::Hsm;

#[test]
fn pairs_are_made_in_the_token_and_parse_outside_with_their_public_key() {
    let (_token, hsm) = TestToken::initialized();
    let objects = hsm.all_objects().len();
    let ec = [
        (KeySpec::EccNistP256, &ECDSA_P256_SHA256_ASN1_SIGNING),
        (KeySpec::EccNistP384, &ECDSA_P384_SHA384_ASN1_SIGNING),
        (KeySpec::EccNistP521, &ECDSA_P521_SHA512_ASN1_SIGNING),
        (KeySpec::EccSecgP256k1, &ECDSA_P256K1_SHA256_ASN1_SIGNING),
    ];
    for (spec, algorithm) in ec {
        let pair = hsm.generate_data_key_pair(spec).unwrap();
        let parsed = EcdsaKeyPair::from_pkcs8(algorithm, &pair.private_pkcs8)
            .unwrap_or_else(|e| panic!("{spec:?}: {e}"));
        let public = parsed.public_key().as_der().unwrap();
        assert_eq!(public.as_ref(), &pair.public_der[..], "{spec:?}");
        let again = hsm.generate_data_key_pair(spec).unwrap();
        assert_ne!(
            again.public_der, pair.public_der,
            "{spec:?}: a fresh pair each time"
        );
    }
    let pair = hsm.generate_data_key_pair(KeySpec::Rsa2048).unwrap();
    let parsed = RsaKeyPair::from_pkcs8(&pair.private_pkcs8).unwrap();
    assert_eq!(parsed.public_modulus_len(), 256);
    let public = parsed.public_key().as_der().unwrap();
    assert_eq!(public.as_ref(), &pair.public_der[..]);
    assert_eq!(
        hsm.all_objects().len(),
        objects,
        "the pairs and transport keys are gone"
    );
}

#[test]
fn pairs_the_token_cannot_make_are_refused_by_name() {
    let (_token, hsm) = TestToken::initialized();
    // SoftHSM2 2.6 cannot wrap Ed25519 keys (edwards.rs).
    let e = error_of(hsm.generate_data_key_pair(KeySpec::EccNistEdwards25519));
    assert!(e.contains("does not fall back to software"), "{e}");
    let e = error_of(hsm.generate_data_key_pair(KeySpec::MlKem768));
    assert!(e.contains("PKCS#11"), "{e}");
    let e = error_of(hsm.generate_data_key_pair(KeySpec::Hmac256));
    assert!(e.contains("HMAC_256"), "{e}");
}
