//! Token loss and return: SoftHSM2's token directory taken away (as a device is pulled) and
//! put back, through [`ReopeningPkcs11`].

use std::process::Command;

use super::reopen::ReopeningPkcs11;
use super::tests::{error_of, key_id, TestToken};
use super::Pkcs11Hsm;
use crate::{Hsm, MaterialRef};

#[test]
fn a_lost_token_fails_every_operation_and_serves_again_when_it_returns() {
    let token = TestToken::new();
    Pkcs11Hsm::init(&token.config()).unwrap();
    let hsm = ReopeningPkcs11::open(token.config(), 4).unwrap();
    let check_value = hsm.key_check_value();
    let id = key_id();
    let wrapped = hsm.generate_symmetric(id, 1).unwrap();
    let key = MaterialRef {
        key_id: id,
        version: 1,
        wrapped: &wrapped,
    };
    let salt = hsm.salt().unwrap();
    let sealed = hsm.encrypt(key, &salt, b"before the loss", b"").unwrap();
    hsm.health().unwrap();

    // The token's files go: the check fails, and so does every operation (no software).
    let dir = token.dir().to_path_buf();
    let away = dir.with_extension("away");
    std::fs::rename(&dir, &away).unwrap();
    let e = error_of(hsm.health());
    assert!(e.contains("PKCS#11 token"), "{e}");
    let e = error_of(hsm.encrypt(key, &salt, b"x", b""));
    assert!(e.contains("not open again yet"), "{e}");
    assert!(hsm.salt().is_err() && hsm.random(8).is_err());
    assert!(!hsm.verify_domain_mac(b"p", b"d", &[0; 32]));
    // While it is away, reopening fails, naming the token.
    let e = error_of(hsm.health());
    assert!(e.contains(&token.config().token_label), "{e}");

    // Back: the next check opens it again, and what was sealed before opens.
    std::fs::rename(&away, &dir).unwrap();
    hsm.health().unwrap();
    assert_eq!(hsm.key_check_value(), check_value);
    let opened = hsm
        .decrypt(key, Some(&salt), &sealed.nonce, &sealed.ciphertext, b"")
        .unwrap();
    assert_eq!(&opened[..], b"before the loss");
    hsm.health().unwrap();
}

#[test]
fn a_token_that_returns_with_another_domain_key_is_refused() {
    let token = TestToken::new();
    Pkcs11Hsm::init(&token.config()).unwrap();
    let hsm = ReopeningPkcs11::open(token.config(), 4).unwrap();
    // The device is swapped: same token label, same key label, another key.
    let dir = token.dir().to_path_buf();
    std::fs::rename(&dir, dir.with_extension("old")).unwrap();
    assert!(hsm.health().is_err());
    std::fs::create_dir(&dir).unwrap();
    let config = token.config();
    let output = Command::new("softhsm2-util")
        .args(["--init-token", "--free", "--label", &config.token_label])
        .args(["--pin", "4321", "--so-pin", "87654321"])
        .output()
        .unwrap();
    assert!(output.status.success(), "{output:?}");
    Pkcs11Hsm::init(&config).unwrap();
    let e = error_of(hsm.health());
    assert!(e.contains("another domain key"), "{e}");
    assert!(hsm.salt().is_err());
}
