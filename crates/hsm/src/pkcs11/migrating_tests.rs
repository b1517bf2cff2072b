//! The migration soft -> PKCS#11 inside one node's HSM (`crate::migrating`): before the
//! switch everything new is the soft backend's; after it the token's; every soft blob
//! rewraps into the token with the same material (ciphertexts, signatures, MACs and RSA
//! ciphertexts made before open after), and the token alone then serves it.

use zeroize::Zeroizing;

use super::reopen::ReopeningPkcs11;
use super::tests::{key_id, TestToken};
use super::Pkcs11Hsm;
use crate::{DomainKey, Hsm, MaterialRef, MigratingHsm, SoftHsm};
use trent_model::WrappingAlgorithm::RsaesOaepSha256;
use trent_model::{
    EncryptionAlgorithm, KeySpec, MacAlgorithm, MessageType, SigningAlgorithm, WrappingKeySpec,
};

fn soft() -> SoftHsm {
    let mut key = Zeroizing::new([0u8; 32]);
    aws_lc_rs::rand::fill(key.as_mut()).unwrap();
    SoftHsm::new(DomainKey(key), 16)
}

fn at<'a>(key_id: trent_model::KeyId, wrapped: &'a [u8]) -> MaterialRef<'a> {
    MaterialRef {
        key_id,
        version: 1,
        wrapped,
    }
}

#[test]
fn soft_blobs_rewrap_into_the_token_with_the_same_material() {
    let token = TestToken::new();
    Pkcs11Hsm::init(&token.config()).unwrap();
    let config = token.config();
    let settings = move || {
        Ok(super::Pkcs11Config {
            module: config.module.clone(),
            token_label: config.token_label.clone(),
            pin: config.pin.clone(),
            key_label: config.key_label.clone(),
        })
    };
    let reopening = ReopeningPkcs11::open(Box::new(settings), 16).unwrap();
    let token_check = reopening.key_check_value();
    let soft = soft();
    let soft_check = soft.key_check_value();
    let hsm = MigratingHsm::new(soft, reopening);

    // Before the switch: the soft backend writes, the token's key is only announced.
    assert_eq!(hsm.key_check_value(), soft_check);
    assert_eq!(hsm.next_key_check_value(), Some(token_check));
    assert!(hsm.holds_key_check(&soft_check) && hsm.holds_key_check(&token_check));
    let (aes, hmac, ec, rsa) = (key_id(), key_id(), key_id(), key_id());
    let aes_blob = hsm.generate_symmetric(aes, 1).unwrap();
    let hmac_blob = hsm.generate(hmac, 1, KeySpec::Hmac256).unwrap();
    let ec_blob = hsm.generate(ec, 1, KeySpec::EccNistP256).unwrap();
    let rsa_blob = hsm.generate(rsa, 1, KeySpec::Rsa2048).unwrap();
    for blob in [&aes_blob, &hmac_blob, &ec_blob, &rsa_blob] {
        assert!(hsm.is_outgoing(blob), "a soft blob before the switch");
    }
    let secret = hsm.wrap_secret(b"AKIA", b"the secret").unwrap();
    assert!(hsm.is_outgoing(&secret));
    assert!(hsm
        .rewrap_material(at(aes, &aes_blob), KeySpec::SymmetricDefault)
        .is_err());

    let salt = hsm.salt().unwrap();
    let sealed = hsm
        .encrypt(at(aes, &aes_blob), &salt, b"made before", b"ctx")
        .unwrap();
    let (alg, raw) = (SigningAlgorithm::EcdsaSha256, MessageType::Raw);
    let ec_pub = hsm
        .public_key(at(ec, &ec_blob), KeySpec::EccNistP256)
        .unwrap();
    let signature = hsm
        .sign(
            at(ec, &ec_blob),
            KeySpec::EccNistP256,
            alg,
            raw,
            b"signed before",
        )
        .unwrap();
    let mac = hsm
        .generate_mac(
            at(hmac, &hmac_blob),
            KeySpec::Hmac256,
            MacAlgorithm::HmacSha256,
            b"m",
        )
        .unwrap();
    let oaep = EncryptionAlgorithm::RsaesOaepSha1;
    let rsa_ct = hsm
        .encrypt_asymmetric(at(rsa, &rsa_blob), KeySpec::Rsa2048, oaep, b"rsa before")
        .unwrap();

    // Import parameters issued under the soft key before the switch.
    let import = hsm
        .import_parameters(
            key_id(),
            RsaesOaepSha256,
            WrappingKeySpec::Rsa2048,
            u64::MAX,
        )
        .unwrap();

    // The switch: the cluster records the token's key check value.
    hsm.follow_recorded_key(&token_check);
    // Material imported with them now would land under the outgoing key: refused by name.
    let refused = hsm
        .import_material(
            &import.token,
            &[0; 256],
            key_id(),
            1,
            KeySpec::SymmetricDefault,
        )
        .err()
        .map(|e| e.to_string())
        .unwrap_or_default();
    assert!(
        refused.contains("before the domain key switch"),
        "{refused}"
    );
    assert_eq!(hsm.key_check_value(), token_check);
    assert!(!hsm.is_outgoing(&hsm.generate_symmetric(key_id(), 1).unwrap()));
    let rewrap = |id, blob: &[u8], spec| hsm.rewrap_material(at(id, blob), spec).unwrap();
    let aes_new = rewrap(aes, &aes_blob, KeySpec::SymmetricDefault);
    let hmac_new = rewrap(hmac, &hmac_blob, KeySpec::Hmac256);
    let ec_new = rewrap(ec, &ec_blob, KeySpec::EccNistP256);
    let rsa_new = rewrap(rsa, &rsa_blob, KeySpec::Rsa2048);
    let secret_new = hsm.rewrap_secret(b"AKIA", &secret).unwrap();
    for blob in [&aes_new, &hmac_new, &ec_new, &rsa_new, &secret_new] {
        assert!(!hsm.is_outgoing(blob), "rewrapped into the token's format");
    }
    assert_eq!(aes_new[0], 3);
    assert_eq!(ec_new[0], 4);

    // The token alone (the old key gone) serves what was made before.
    drop(hsm);
    let alone = Pkcs11Hsm::open(&token.config()).unwrap();
    let opened = alone
        .decrypt(
            at(aes, &aes_new),
            Some(&salt),
            &sealed.nonce,
            &sealed.ciphertext,
            b"ctx",
        )
        .unwrap();
    assert_eq!(opened.as_slice(), b"made before");
    assert_eq!(
        alone
            .public_key(at(ec, &ec_new), KeySpec::EccNistP256)
            .unwrap(),
        ec_pub
    );
    let spec = KeySpec::EccNistP256;
    let ok = alone.verify(
        at(ec, &ec_new),
        spec,
        alg,
        raw,
        b"signed before",
        &signature,
    );
    assert!(ok.unwrap(), "a signature made before verifies after");
    let token_sig = alone
        .sign(at(ec, &ec_new), spec, alg, raw, b"signed after")
        .unwrap();
    assert!(alone
        .verify(at(ec, &ec_new), spec, alg, raw, b"signed after", &token_sig)
        .unwrap());
    let mac_after = alone
        .generate_mac(
            at(hmac, &hmac_new),
            KeySpec::Hmac256,
            MacAlgorithm::HmacSha256,
            b"m",
        )
        .unwrap();
    assert_eq!(mac_after, mac);
    let rsa_pt = alone
        .decrypt_asymmetric(at(rsa, &rsa_new), KeySpec::Rsa2048, oaep, &rsa_ct)
        .unwrap();
    assert_eq!(rsa_pt.as_slice(), b"rsa before");
    assert_eq!(
        alone
            .unwrap_secret(b"AKIA", &secret_new)
            .unwrap()
            .as_slice(),
        b"the secret"
    );
    assert!(
        alone.unwrap_secret(b"AKIA", &secret).is_err(),
        "the soft blob is not the token's"
    );
}
