//! Token loss and return: SoftHSM2's token directory taken away (as a device is pulled) and
//! put back, through [`ReopeningPkcs11`]; a token that comes back with another key; a PIN
//! the token refuses, tried once per PIN file content.

use std::process::Command;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use zeroize::Zeroizing;

use super::reopen::{ReopenSettings, ReopeningPkcs11};
use super::tests::{error_of, key_id, TestToken};
use super::{Pkcs11Config, Pkcs11Hsm};
use crate::{Hsm, HsmError, MaterialRef};

/// Settings that read `pin` anew at each open, as trentd reads its PIN file.
fn settings(token: &TestToken, pin: &Arc<Mutex<String>>) -> ReopenSettings {
    let base = token.config();
    let pin = pin.clone();
    Box::new(move || {
        Ok(Pkcs11Config {
            module: base.module.clone(),
            token_label: base.token_label.clone(),
            pin: Zeroizing::new(pin.lock().unwrap().clone()),
            key_label: base.key_label.clone(),
        })
    })
}

/// Calls `health` until `done` holds of its answer (reopening backs off), or panics.
fn health_until(hsm: &ReopeningPkcs11, what: &str, done: impl Fn(&Result<(), HsmError>) -> bool) {
    let deadline = Instant::now() + Duration::from_secs(20);
    loop {
        let answer = hsm.health();
        if done(&answer) {
            return;
        }
        assert!(
            Instant::now() < deadline,
            "{what}: last answer {:?}",
            answer.map_err(|e| e.to_string())
        );
        std::thread::sleep(Duration::from_millis(100));
    }
}

#[test]
fn a_lost_token_fails_every_operation_and_serves_again_when_it_returns() {
    let token = TestToken::new();
    Pkcs11Hsm::init(&token.config()).unwrap();
    let pin = Arc::new(Mutex::new("4321".to_owned()));
    let hsm = ReopeningPkcs11::open(settings(&token, &pin), 4).unwrap();
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
    assert!(hsm.verify_domain_mac(b"p", b"d", &[0; 32]).is_err());
    // While it is away, reopening fails, naming the token.
    let e = error_of(hsm.health());
    assert!(e.contains(&token.config().token_label), "{e}");

    // Back: a check soon opens it again, and what was sealed before opens.
    std::fs::rename(&away, &dir).unwrap();
    health_until(&hsm, "the token to open again", Result::is_ok);
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
    let pin = Arc::new(Mutex::new("4321".to_owned()));
    let hsm = ReopeningPkcs11::open(settings(&token, &pin), 4).unwrap();
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
    health_until(
        &hsm,
        "the swapped token to be refused",
        |answer| matches!(answer, Err(e) if e.to_string().contains("another domain key")),
    );
    assert!(hsm.salt().is_err());
}

#[test]
fn a_refused_pin_is_not_tried_again_until_the_pin_file_changes() {
    let token = TestToken::new();
    Pkcs11Hsm::init(&token.config()).unwrap();
    let pin = Arc::new(Mutex::new("4321".to_owned()));
    let hsm = ReopeningPkcs11::open(settings(&token, &pin), 4).unwrap();
    let dir = token.dir().to_path_buf();
    let away = dir.with_extension("away");
    std::fs::rename(&dir, &away).unwrap();
    assert!(hsm.health().is_err());
    // The PIN file now holds a wrong PIN, and the token comes back.
    *pin.lock().unwrap() = "0000".to_owned();
    std::fs::rename(&away, &dir).unwrap();
    health_until(
        &hsm,
        "the wrong PIN to be refused",
        |answer| matches!(answer, Err(e) if e.to_string().contains("wrong PIN")),
    );
    health_until(
        &hsm,
        "the refused PIN to be held back",
        |answer| matches!(answer, Err(e) if e.to_string().contains("not trying it again")),
    );
    // The right PIN in the file: the token opens.
    *pin.lock().unwrap() = "4321".to_owned();
    health_until(&hsm, "the token to open with the new PIN", Result::is_ok);
}

/// SoftHSM2 keeps every destroyed session object until the module is finalized (one per
/// Encrypt and Decrypt): the check reopens it after a number of them, and operations that
/// arrive meanwhile wait for the new token instead of failing.
#[test]
fn softhsm_is_reopened_to_free_its_objects_and_no_operation_fails_meanwhile() {
    let token = TestToken::new();
    Pkcs11Hsm::init(&token.config()).unwrap();
    let pin = Arc::new(Mutex::new("4321".to_owned()));
    let hsm = ReopeningPkcs11::open(settings(&token, &pin), 4).unwrap();
    assert_eq!(hsm.planned_reopenings(), 0);
    let hsm = hsm.reopen_after_objects(20);
    let id = key_id();
    let wrapped = hsm.generate_symmetric(id, 1).unwrap();
    let key = MaterialRef {
        key_id: id,
        version: 1,
        wrapped: &wrapped,
    };
    let salt = hsm.salt().unwrap();
    let before = hsm.encrypt(key, &salt, b"before", b"").unwrap();
    let working = std::sync::atomic::AtomicUsize::new(4);
    std::thread::scope(|s| {
        for worker in 0..4 {
            let (hsm, salt, working) = (&hsm, &salt, &working);
            s.spawn(move || {
                // At least 150 calls each, and on until the watcher has reopened the token
                // five times: a loaded machine may run the watcher rarely.
                let deadline = Instant::now() + Duration::from_secs(120);
                let mut i = 0;
                while i < 150 || (hsm.planned_reopenings() < 5 && Instant::now() < deadline) {
                    i += 1;
                    let text = format!("worker {worker} call {i}");
                    let sealed = hsm.encrypt(key, salt, text.as_bytes(), b"").unwrap();
                    let opened = hsm
                        .decrypt(key, Some(salt), &sealed.nonce, &sealed.ciphertext, b"")
                        .unwrap();
                    assert_eq!(&opened[..], text.as_bytes());
                }
                working.fetch_sub(1, std::sync::atomic::Ordering::SeqCst);
            });
        }
        // The watcher: checks while the workers run, as trentd's does every second.
        s.spawn(|| {
            while working.load(std::sync::atomic::Ordering::SeqCst) > 0 {
                hsm.health().unwrap();
            }
        });
    });
    let reopened = hsm.planned_reopenings();
    assert!(reopened >= 5, "reopened {reopened} times in 120 s of calls");
    let opened = hsm
        .decrypt(key, Some(&salt), &before.nonce, &before.ciphertext, b"")
        .unwrap();
    assert_eq!(&opened[..], b"before");
}
