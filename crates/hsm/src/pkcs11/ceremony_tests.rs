//! The key ceremony and the audit signing key against SoftHSM2: tokens initialized from the
//! same components hold the same domain key and audit key (blobs and signatures of one open
//! and verify under the other), other components give other keys, and the objects created
//! from known bytes reveal nothing.
//!
//! One module instance per process (`tests.rs`): the tokens of a test share one token
//! directory (one [`TestToken`], its lock held) and are opened one after the other.

use std::process::Command;

use aws_lc_rs::signature::{UnparsedPublicKey, ECDSA_P256_SHA256_ASN1};
use cryptoki::object::{AttributeInfo, AttributeType, ObjectClass, ObjectHandle};
use uuid::Uuid;

use super::tests::{error_of, key_id, TestToken};
use super::*;
use crate::audit_key::AuditKey;
use crate::{Hsm, MaterialRef, Plaintext};

fn components(a: u8, b: u8) -> [Zeroizing<[u8; 32]>; 2] {
    [
        Zeroizing::new(std::array::from_fn(|i| a ^ i as u8)),
        Zeroizing::new(std::array::from_fn(|i| b.wrapping_mul(i as u8 + 1))),
    ]
}

/// Another fresh token in `first`'s token directory (its lock held), with its user PIN.
fn sibling(first: &TestToken) -> Pkcs11Config {
    let config = first.config();
    let label = format!("trent-{}", &Uuid::new_v4().simple().to_string()[..8]);
    let output = Command::new("softhsm2-util")
        .args(["--init-token", "--free", "--label", &label])
        .args(["--pin", config.pin.as_str(), "--so-pin", "12345678"])
        .output()
        .unwrap();
    assert!(
        output.status.success(),
        "{}",
        String::from_utf8_lossy(&output.stderr)
    );
    Pkcs11Config {
        token_label: label,
        ..config
    }
}

/// A blob generated and a message sealed in one token, to open in another.
struct Carried {
    wrapped: Vec<u8>,
    salt: crate::Salt,
    sealed: crate::Sealed,
    signature: Vec<u8>,
}

fn seal_in(hsm: &Pkcs11Hsm, id: trent_model::KeyId) -> Carried {
    let wrapped = hsm.generate_symmetric(id, 1).unwrap();
    let key = MaterialRef {
        key_id: id,
        version: 1,
        wrapped: &wrapped,
    };
    let salt = hsm.salt().unwrap();
    let sealed = hsm.encrypt(key, &salt, b"one key", b"aad").unwrap();
    let signature = hsm.audit_sign(b"digest file").unwrap();
    Carried {
        wrapped,
        salt,
        sealed,
        signature,
    }
}

fn open_in(hsm: &Pkcs11Hsm, id: trent_model::KeyId, s: &Carried) -> Result<Plaintext, HsmError> {
    let key = MaterialRef {
        key_id: id,
        version: 1,
        wrapped: &s.wrapped,
    };
    let (nonce, ciphertext) = (&s.sealed.nonce, &s.sealed.ciphertext);
    hsm.decrypt(key, Some(&s.salt), nonce, ciphertext, b"aad")
}

fn verifies(public_der: &[u8], message: &[u8], signature: &[u8]) -> bool {
    // The SubjectPublicKeyInfo of P-256 ends with the 65-byte point aws-lc takes.
    let point = &public_der[public_der.len() - 65..];
    UnparsedPublicKey::new(&ECDSA_P256_SHA256_ASN1, point)
        .verify(message, signature)
        .is_ok()
}

#[test]
fn tokens_from_the_same_components_hold_the_same_domain_and_audit_keys() {
    let first = TestToken::new();
    let (a, b, c) = (first.config(), sibling(&first), sibling(&first));
    let report_a = Pkcs11Hsm::init_from_components(&a, &components(1, 2)).unwrap();
    let report_b = Pkcs11Hsm::init_from_components(&b, &components(1, 2)).unwrap();
    let report_c = Pkcs11Hsm::init_from_components(&c, &components(1, 3)).unwrap();
    assert_eq!(report_a, report_b);
    let kcvs = components(1, 2).map(|c| component_check_value(&c));
    assert_eq!(report_a.component_check_values, kcvs);
    assert_ne!(kcvs[0], kcvs[1]);
    assert_eq!(report_c.component_check_values[0], kcvs[0]);
    assert_ne!(report_c.component_check_values[1], kcvs[1]);
    assert_ne!(report_c.key_check_value, report_a.key_check_value);
    assert_ne!(report_c.audit_public_key, report_a.audit_public_key);

    let id = key_id();
    let (sealed, fingerprint) = {
        let hsm = Pkcs11Hsm::open(&a).unwrap();
        assert_eq!(hsm.key_check_value(), report_a.key_check_value);
        assert_eq!(hsm.audit_public_key().unwrap(), report_a.audit_public_key);
        // The key the soft backend would derive from this token's domain MAC.
        let soft = AuditKey::derive(|p, d| hsm.domain_mac(p, d).unwrap()).unwrap();
        assert_eq!(soft.public_key_der().unwrap(), report_a.audit_public_key);
        (seal_in(&hsm, id), hsm.domain_key_fingerprint())
    };
    {
        let hsm = Pkcs11Hsm::open(&b).unwrap();
        assert_eq!(hsm.key_check_value(), report_a.key_check_value);
        assert_eq!(hsm.domain_key_fingerprint(), fingerprint);
        assert_eq!(&open_in(&hsm, id, &sealed).unwrap()[..], b"one key");
        let public = hsm.audit_public_key().unwrap();
        assert_eq!(public, report_a.audit_public_key);
        assert!(verifies(&public, b"digest file", &sealed.signature));
        assert!(!verifies(&public, b"digest file!", &sealed.signature));
        // And the other way round.
        let signature = hsm.audit_sign(b"from b").unwrap();
        assert!(verifies(&report_a.audit_public_key, b"from b", &signature));
    }
    let hsm = Pkcs11Hsm::open(&c).unwrap();
    assert_ne!(hsm.domain_key_fingerprint(), fingerprint);
    assert!(matches!(
        open_in(&hsm, id, &sealed),
        Err(HsmError::Unwrap { .. })
    ));
    let public = hsm.audit_public_key().unwrap();
    assert!(!verifies(&public, b"digest file", &sealed.signature));
}

/// The attributes two domain keys (or two audit keys) must share, whatever made them.
const SHARED: [AttributeType; 17] = [
    AttributeType::Class,
    AttributeType::KeyType,
    AttributeType::Token,
    AttributeType::Private,
    AttributeType::Sensitive,
    AttributeType::Extractable,
    AttributeType::Derive,
    AttributeType::Wrap,
    AttributeType::Unwrap,
    AttributeType::Encrypt,
    AttributeType::Decrypt,
    AttributeType::Sign,
    AttributeType::Verify,
    AttributeType::Modifiable,
    AttributeType::Copyable,
    AttributeType::ValueLen,
    AttributeType::Label,
];

fn attributes(hsm: &Pkcs11Hsm, object: ObjectHandle, of: &[AttributeType]) -> Vec<Attribute> {
    hsm.token.session().get_attributes(object, of).unwrap()
}

/// The value of `object` is refused: sensitive, and C_GetAttributeValue answers nothing.
fn assert_value_refused(hsm: &Pkcs11Hsm, object: ObjectHandle) {
    assert!(matches!(
        hsm.attribute_info(object, AttributeType::Value),
        AttributeInfo::Sensitive
    ));
    assert_eq!(attributes(hsm, object, &[AttributeType::Value]), vec![]);
}

#[test]
fn the_ceremonys_keys_are_created_as_the_generated_ones_and_reveal_nothing() {
    let first = TestToken::new();
    let (ceremony, generated) = (first.config(), sibling(&first));
    Pkcs11Hsm::init_from_components(&ceremony, &components(4, 5)).unwrap();
    let e = error_of(Pkcs11Hsm::init_from_components(
        &ceremony,
        &components(4, 5),
    ));
    assert!(e.contains("already holds a key labelled"), "{e}");
    let report = Pkcs11Hsm::init(&generated).unwrap();
    assert!(report.component_check_values.is_empty());
    let (domain, audit) = {
        let hsm = Pkcs11Hsm::open(&generated).unwrap();
        assert_eq!(hsm.key_check_value(), report.key_check_value);
        assert_eq!(hsm.audit_public_key().unwrap(), report.audit_public_key);
        let domain = attributes(&hsm, hsm.domain, &SHARED);
        let private = audit_private(&hsm, &generated.key_label);
        (domain, attributes(&hsm, private, &SHARED))
    };
    let hsm = Pkcs11Hsm::open(&ceremony).unwrap();
    assert_eq!(attributes(&hsm, hsm.domain, &SHARED), domain);
    assert!(hsm.flag(hsm.domain, AttributeType::Sensitive));
    assert!(!hsm.flag(hsm.domain, AttributeType::Extractable));
    assert_value_refused(&hsm, hsm.domain);
    let private = audit_private(&hsm, &ceremony.key_label);
    assert_eq!(attributes(&hsm, private, &SHARED), audit);
    assert!(hsm.flag(private, AttributeType::Token));
    assert!(hsm.flag(private, AttributeType::Sensitive));
    assert!(!hsm.flag(private, AttributeType::Extractable));
    assert_value_refused(&hsm, private);
    let uses = attributes(
        &hsm,
        private,
        &[
            AttributeType::Sign,
            AttributeType::Derive,
            AttributeType::Decrypt,
        ],
    );
    let expected = [
        Attribute::Sign(true),
        Attribute::Derive(false),
        Attribute::Decrypt(false),
    ];
    assert_eq!(uses, expected);
}

/// The audit private key of `hsm`'s token.
fn audit_private(hsm: &Pkcs11Hsm, key_label: &str) -> ObjectHandle {
    let label = audit::audit_label(key_label);
    let found = hsm
        .token
        .session()
        .find_objects(&[
            Attribute::Class(ObjectClass::PRIVATE_KEY),
            Attribute::Label(label.into_bytes()),
        ])
        .unwrap();
    assert_eq!(found.len(), 1);
    found[0]
}

#[test]
fn weak_components_are_refused_before_the_token_is_touched() {
    let token = TestToken::new();
    let config = token.config();
    let [x, y] = components(6, 7);
    let xy = Zeroizing::new(std::array::from_fn(|i| x[i] ^ y[i]));
    let cases: [(&[Zeroizing<[u8; 32]>], &str); 4] = [
        (&[], "no key components"),
        (&[x.clone(), Zeroizing::new([0; 32])], "is all zeros"),
        (&[x.clone(), x.clone()], "are equal"),
        (&[x, y, xy], "XOR to zero"),
    ];
    for (components, why) in cases {
        let e = error_of(Pkcs11Hsm::init_from_components(&config, components));
        assert!(e.starts_with("domain key: ") && e.contains(why), "{e}");
    }
    let e = error_of(Pkcs11Hsm::open(&config));
    assert!(e.contains("no key labelled"), "{e}");
}

#[test]
fn a_token_initialized_without_an_audit_key_serves_keys_and_says_how_to_get_one() {
    let token = TestToken::new();
    let config = token.config();
    Pkcs11Hsm::init(&config).unwrap();
    {
        // As a token initialized before the audit key existed: its pair destroyed.
        let hsm = Pkcs11Hsm::open(&config).unwrap();
        let session = hsm.token.session();
        let label = audit::audit_label(&config.key_label);
        for object in session
            .find_objects(&[Attribute::Label(label.into_bytes())])
            .unwrap()
        {
            session.destroy_object(object).unwrap();
        }
    }
    let hsm = Pkcs11Hsm::open(&config).unwrap();
    for e in [
        error_of(hsm.audit_public_key()),
        error_of(hsm.audit_sign(b"digest")),
    ] {
        assert!(
            e.contains("no audit signing key labelled \"trent-domain/audit\""),
            "{e}"
        );
        assert!(e.contains("re-initialized with `trentd hsm init`"), "{e}");
    }
    let id = key_id();
    let sealed = {
        let wrapped = hsm.generate_symmetric(id, 1).unwrap();
        let key = MaterialRef {
            key_id: id,
            version: 1,
            wrapped: &wrapped,
        };
        hsm.encrypt(key, &hsm.salt().unwrap(), b"m", b"").unwrap()
    };
    assert_eq!(sealed.ciphertext.len(), 1 + crate::TAG_LEN);
    drop(hsm);
    let e = error_of(Pkcs11Hsm::init(&config));
    assert!(e.contains("already holds a key labelled"), "{e}");
}

#[test]
fn an_audit_pair_left_without_its_domain_key_is_refused_not_reused() {
    let token = TestToken::new();
    let config = token.config();
    Pkcs11Hsm::init(&config).unwrap();
    {
        let hsm = Pkcs11Hsm::open(&config).unwrap();
        hsm.token.session().destroy_object(hsm.domain).unwrap();
    }
    let e = error_of(Pkcs11Hsm::init_from_components(&config, &components(8, 9)));
    assert!(
        e.contains("already holds objects labelled \"trent-domain/audit\""),
        "{e}"
    );
}
