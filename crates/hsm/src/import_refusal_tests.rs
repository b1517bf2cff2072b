//! What an import refuses, and with which error; no error's text carries material.

use super::*;
use crate::HsmError;

fn token_error(result: Result<impl Sized, HsmError>) -> bool {
    matches!(result, Err(HsmError::InvalidImportToken))
}

#[test]
fn tokens_that_are_not_this_keys_or_this_domains_are_invalid() {
    let hsm = hsm();
    let p = params(RsaesOaepSha1, WrappingKeySpec::Rsa2048, 0);
    let encrypted = wrap(p, &random(32));
    let import = |token: &[u8], key_id: KeyId| {
        hsm.import_material(token, &encrypted, key_id, 1, KeySpec::SymmetricDefault)
    };
    assert!(import(&p.token, KEY).is_ok());
    for at in [0, 1, 13, p.token.len() / 2, p.token.len() - 1] {
        let mut tampered = p.token.clone();
        tampered[at] ^= 0x40;
        assert!(token_error(hsm.read_import_token(&tampered)), "byte {at}");
        assert!(token_error(import(&tampered, KEY)), "byte {at}");
    }
    for len in [0, 10, 29, p.token.len() - 1] {
        let truncated = &p.token[..len];
        assert!(token_error(hsm.read_import_token(truncated)), "{len} bytes");
        assert!(token_error(import(truncated, KEY)), "{len} bytes");
    }
    let mut longer = p.token.clone();
    longer.push(0);
    assert!(token_error(import(&longer, KEY)));
    let other_key = KeyId(uuid::Uuid::from_bytes([7; 16]));
    assert!(token_error(import(&p.token, other_key)));
    let other_domain = SoftHsm::new(DomainKey::from_bytes([6; 32]), 10);
    assert!(token_error(other_domain.read_import_token(&p.token)));
    let result =
        other_domain.import_material(&p.token, &encrypted, KEY, 1, KeySpec::SymmetricDefault);
    assert!(token_error(result));
    // A secret sealed under the domain key with another label is no token either.
    let secret = hsm.wrap_secret(b"AKIAEXAMPLE", &random(64)).unwrap();
    assert!(token_error(hsm.read_import_token(&secret)));
}

#[test]
fn material_that_does_not_unwrap_is_an_unwrap_error() {
    let hsm = hsm();
    let unwrap_error = |p: &ImportParameters, encrypted: &[u8]| {
        let result = hsm.import_material(&p.token, encrypted, KEY, 1, KeySpec::SymmetricDefault);
        matches!(result, Err(HsmError::ImportUnwrap))
    };
    let material = random(32);
    for (algorithm, spec) in [SETS[0], SETS[3]] {
        let p = params(algorithm, spec, 0);
        let stranger = params(algorithm, spec, 1);
        assert!(unwrap_error(p, &[]), "{algorithm}");
        assert!(unwrap_error(p, &random(256)), "{algorithm}");
        assert!(unwrap_error(p, &random(300)), "{algorithm}");
        // Wrapped under another token's public key.
        assert!(unwrap_error(p, &wrap(stranger, &material)), "{algorithm}");
        assert!(hsm
            .import_material(
                &p.token,
                &wrap(p, &material),
                KEY,
                1,
                KeySpec::SymmetricDefault
            )
            .is_ok());
    }
    let p = params(RsaAesKeyWrapSha256, WrappingKeySpec::Rsa2048, 0);
    let good = wrap(p, &material);
    // The wrapped AES key alone; a damaged key wrap; an AES key of 24 bytes.
    assert!(unwrap_error(p, &good[..256]));
    let mut damaged = good.clone();
    *damaged.last_mut().unwrap() ^= 1;
    assert!(unwrap_error(p, &damaged));
    let mut odd_key = oaep_encrypt(p, &random(24));
    odd_key.extend_from_slice(&key_wrap_padded(&random(32), &material));
    assert!(unwrap_error(p, &odd_key));
    // The other hash: OAEP-SHA-1 under a SHA-256 token.
    let mut cross = p.clone();
    cross.facts.algorithm = RsaAesKeyWrapSha1;
    assert!(unwrap_error(p, &wrap(&cross, &material)));
}

#[test]
fn unsupported_specs_and_algorithms_are_refused() {
    let hsm = hsm();
    let unsupported = |algorithm, spec| {
        let result = hsm.import_parameters(KEY, algorithm, spec, VALID_TO);
        matches!(result, Err(HsmError::ImportUnsupported(_)))
    };
    assert!(unsupported(RsaesOaepSha256, WrappingKeySpec::Sm2));
    assert!(unsupported(WrappingAlgorithm::Sm2Pke, WrappingKeySpec::Sm2));
    assert!(unsupported(
        WrappingAlgorithm::RsaesPkcs1V15,
        WrappingKeySpec::Rsa2048
    ));
    assert!(unsupported(
        WrappingAlgorithm::Sm2Pke,
        WrappingKeySpec::Rsa2048
    ));
    let p = params(RsaesOaepSha1, WrappingKeySpec::Rsa2048, 0);
    for spec in [
        KeySpec::MlDsa44,
        KeySpec::EccNistEdwards25519,
        KeySpec::MlKem768,
        KeySpec::Sm2,
    ] {
        let result = hsm.import_material(&p.token, &wrap(p, &random(32)), KEY, 1, spec);
        assert!(
            matches!(result, Err(HsmError::ImportUnsupported(_))),
            "{spec}"
        );
    }
    // RSA private keys need RSA_AES_KEY_WRAP_*: refused whatever the bytes.
    let result = hsm.import_material(&p.token, &wrap(p, &random(32)), KEY, 1, KeySpec::Rsa2048);
    let Err(HsmError::ImportUnsupported(why)) = result else {
        panic!("{result:?}")
    };
    assert!(why.contains("RSA_AES_KEY_WRAP"), "{why}");
}

/// Imports `material` as `spec` and answers the error's message, checking that neither its
/// Display nor its Debug text carries the material.
fn incorrect(spec: KeySpec, material: &[u8]) -> String {
    let hsm = hsm();
    let p = params(RsaAesKeyWrapSha256, WrappingKeySpec::Rsa2048, 0);
    let result = hsm.import_material(&p.token, &wrap(p, material), KEY, 1, spec);
    let Err(error) = result else {
        panic!("{spec}: accepted")
    };
    for text in [error.to_string(), format!("{error:?}")] {
        assert!(!leaks(&text, material), "{text}");
    }
    let HsmError::IncorrectKeyMaterial(why) = error else {
        panic!("{spec}: {error}")
    };
    why
}

/// Whether `text` shows `material` raw, in hex or as Rust prints a byte list.
fn leaks(text: &str, material: &[u8]) -> bool {
    let part = &material[..material.len().min(16)];
    let hex: String = part.iter().map(|b| format!("{b:02x}")).collect();
    let list = format!("{part:?}");
    text.as_bytes().windows(part.len()).any(|w| w == part)
        || text.to_lowercase().contains(&hex)
        || text.contains(&list[1..list.len() - 1])
}

#[test]
fn material_of_the_wrong_shape_is_incorrect_and_never_shown() {
    let p384 = EcdsaKeyPair::generate_pkcs8(
        &signature::ECDSA_P384_SHA384_ASN1_SIGNING,
        &aws_lc_rs::rand::SystemRandom::new(),
    )
    .unwrap();
    let rsa_3072 = rsa::KeyPair::generate(rsa::KeySize::Rsa3072).unwrap();
    let rsa_3072 = rsa_3072.as_der().unwrap();
    let why = |spec, material: &[u8]| incorrect(spec, material);
    assert!(why(KeySpec::SymmetricDefault, &random(31)).contains("31 bytes"));
    assert!(why(KeySpec::SymmetricDefault, &random(33)).contains("33 bytes"));
    assert!(why(KeySpec::Hmac256, &random(16)).contains("16 bytes"));
    assert!(why(KeySpec::Hmac256, &random(129)).contains("129 bytes"));
    assert!(why(KeySpec::Hmac512, &random(63)).contains("64 to 128"));
    assert!(why(KeySpec::EccNistP256, p384.as_ref()).contains("ECC_NIST_P384"));
    assert!(why(KeySpec::EccSecgP256k1, p384.as_ref()).contains("ECC_NIST_P384"));
    assert!(why(KeySpec::EccNistP256, &random(138)).contains("PKCS#8"));
    assert!(why(KeySpec::Rsa2048, rsa_3072.as_ref()).contains("3072 bits"));
    assert!(why(KeySpec::Rsa2048, &random(1200)).contains("RSA private key"));
    assert!(why(KeySpec::Rsa2048, p384.as_ref()).contains("RSA private key"));
    assert!(why(KeySpec::EccNistP384, rsa_3072.as_ref()).contains("PKCS#8"));
}

#[test]
fn unwrap_and_token_errors_do_not_show_material_either() {
    let hsm = hsm();
    let p = params(RsaesOaepSha1, WrappingKeySpec::Rsa2048, 0);
    let material = random(32);
    let encrypted = wrap(p, &material);
    let stranger = params(RsaesOaepSha1, WrappingKeySpec::Rsa2048, 1);
    let mut tampered = p.token.clone();
    tampered[40] ^= 1;
    for (token, key_id) in [
        (&stranger.token, KEY),
        (&tampered, KEY),
        (&p.token, KeyId(uuid::Uuid::nil())),
    ] {
        let error = hsm
            .import_material(token, &encrypted, key_id, 1, KeySpec::SymmetricDefault)
            .unwrap_err();
        for text in [error.to_string(), format!("{error:?}")] {
            assert!(!leaks(&text, &material), "{text}");
            assert!(!text.is_empty());
        }
    }
}
