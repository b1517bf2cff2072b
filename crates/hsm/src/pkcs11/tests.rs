//! The PKCS#11 backend against a real SoftHSM2 token (Debian `softhsm2`), one fresh token per
//! test in a temporary directory. Nothing is skipped: without SoftHSM2 every test fails,
//! saying what to install.
//!
//! SoftHSM2 is one library instance per process, configured from `SOFTHSM2_CONF` when it is
//! initialized, and trent initializes it once per `Pkcs11Hsm`; so these tests run one at a
//! time (a lock), and `SOFTHSM2_CONF` names one file per process that each test rewrites to
//! point at its own token directory before opening the module (the variable is set once).

use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::{Mutex, MutexGuard, OnceLock};

use aes_gcm::aead::{Aead, KeyInit, Payload};
use aes_gcm::{Aes256Gcm, Key, Nonce};
use cryptoki::mechanism::Mechanism;
use cryptoki::object::{AttributeInfo, AttributeType, ObjectHandle};
use uuid::Uuid;

use super::*;
use crate::{DomainKey, Hsm, MaterialRef, Salt, SoftHsm, CIPHERTEXT_SALT_LEN};
use trent_model::{KeyId, KeySpec};

const PIN: &str = "4321";
const SO_PIN: &str = "87654321";
const KEY_LABEL: &str = "trent-domain";

/// One SoftHSM2 user at a time in this process, and the conf file `SOFTHSM2_CONF` names.
fn softhsm() -> (MutexGuard<'static, ()>, &'static Path) {
    static LOCK: Mutex<()> = Mutex::new(());
    static CONF: OnceLock<(tempfile::TempDir, PathBuf)> = OnceLock::new();
    let guard = LOCK.lock().unwrap_or_else(|poisoned| poisoned.into_inner());
    let (_, conf) = CONF.get_or_init(|| {
        assert!(
            Path::new(SOFTHSM2_MODULE).exists(),
            "{SOFTHSM2_MODULE} is missing: these tests need SoftHSM2 (apt-get install softhsm2)"
        );
        let dir = tempfile::tempdir().unwrap();
        let conf = dir.path().join("softhsm2.conf");
        std::fs::write(&conf, "").unwrap();
        // Set once, before any test opens the module, and never changed again.
        std::env::set_var("SOFTHSM2_CONF", &conf);
        (dir, conf)
    });
    (guard, conf)
}

/// A fresh SoftHSM2 token of its own, in a temporary directory, and the config reaching it.
pub(super) struct TestToken {
    _guard: MutexGuard<'static, ()>,
    _dir: tempfile::TempDir,
    label: String,
}

impl TestToken {
    pub(super) fn new() -> TestToken {
        let (guard, conf) = softhsm();
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(
            conf,
            format!(
                "directories.tokendir = {}\nobjectstore.backend = file\nlog.level = ERROR\n",
                dir.path().display()
            ),
        )
        .unwrap();
        let label = format!("trent-{}", &Uuid::new_v4().simple().to_string()[..8]);
        let output = Command::new("softhsm2-util")
            .env("SOFTHSM2_CONF", conf)
            .args(["--init-token", "--free", "--label", &label])
            .args(["--pin", PIN, "--so-pin", SO_PIN])
            .output()
            .unwrap_or_else(|e| {
                panic!("softhsm2-util: {e}: these tests need SoftHSM2 (apt-get install softhsm2)")
            });
        assert!(
            output.status.success(),
            "softhsm2-util --init-token: {}",
            String::from_utf8_lossy(&output.stderr)
        );
        TestToken {
            _guard: guard,
            _dir: dir,
            label,
        }
    }

    /// The token's directory (its files, as SoftHSM2 keeps them).
    pub(super) fn dir(&self) -> &Path {
        self._dir.path()
    }

    pub(super) fn config(&self) -> Pkcs11Config {
        Pkcs11Config {
            module: PathBuf::from(SOFTHSM2_MODULE),
            token_label: self.label.clone(),
            pin: Zeroizing::new(PIN.to_string()),
            key_label: KEY_LABEL.to_string(),
        }
    }

    /// A token with a domain key, opened.
    pub(super) fn initialized() -> (TestToken, Pkcs11Hsm) {
        let token = TestToken::new();
        Pkcs11Hsm::init(&token.config()).unwrap();
        let hsm = Pkcs11Hsm::open(&token.config()).unwrap();
        (token, hsm)
    }
}

pub(super) fn key_id() -> KeyId {
    KeyId(Uuid::new_v4())
}

pub(super) fn error_of<T>(result: Result<T, HsmError>) -> String {
    match result {
        Ok(_) => panic!("expected an error"),
        Err(e) => e.to_string(),
    }
}

impl Pkcs11Hsm {
    /// Test only: `material` as `key_id` version `version`'s wrapped material, as if the
    /// token had generated it, so a test can compare this backend with the soft one on the
    /// same material. (Production code never puts known bytes into the token.)
    fn wrap_known_material(&self, key_id: KeyId, version: u32, material: &[u8; 32]) -> Vec<u8> {
        let session = self.token.session();
        let kek = self.kek(&session, key_id, version).unwrap();
        let mut template = objects::generated_material_template();
        template.retain(|a| !matches!(a, Attribute::ValueLen(_)));
        template.push(Attribute::Value(material.to_vec()));
        let object = objects::Temp::new(&session, session.create_object(&template).unwrap());
        let wrapped = session
            .wrap_key(&Mechanism::AesKeyWrap, kek.handle, object.handle)
            .unwrap();
        [&[objects::WRAP_FORMAT_PKCS11][..], &wrapped].concat()
    }

    /// Test only: every object this process's sessions can see in the token.
    pub(super) fn all_objects(&self) -> Vec<ObjectHandle> {
        self.token.session().find_objects(&[]).unwrap()
    }

    /// Test only: the token objects trent created (the domain key, the audit key pair).
    pub(super) fn token_objects(&self) -> Vec<ObjectHandle> {
        let session = self.token.session();
        session.find_objects(&[Attribute::Token(true)]).unwrap()
    }

    /// Test only: how the token answers a request for `attribute` of `object`.
    pub(super) fn attribute_info(
        &self,
        object: ObjectHandle,
        attribute: AttributeType,
    ) -> AttributeInfo {
        self.token
            .session()
            .get_attribute_info(object, &[attribute])
            .unwrap()[0]
    }

    pub(super) fn flag(&self, object: ObjectHandle, attribute: AttributeType) -> bool {
        let found = self
            .token
            .session()
            .get_attributes(object, &[attribute])
            .unwrap();
        match found[..] {
            [Attribute::Sensitive(b)] | [Attribute::Extractable(b)] | [Attribute::Token(b)] => b,
            _ => panic!("{attribute:?} of {object}: {found:?}"),
        }
    }
}

#[test]
fn init_creates_a_non_extractable_key_and_refuses_a_second() {
    let token = TestToken::new();
    let check = Pkcs11Hsm::init(&token.config()).unwrap().key_check_value;
    let e = error_of(Pkcs11Hsm::init(&token.config()));
    assert!(e.contains("already holds a key labelled"), "{e}");
    let hsm = Pkcs11Hsm::open(&token.config()).unwrap();
    assert_eq!(hsm.key_check_value(), check);
    assert_eq!(
        hsm.key_check_value(),
        hsm.domain_mac(crate::KEY_CHECK_PURPOSE, &[]).unwrap()
    );
    assert_ne!(hsm.domain_key_fingerprint(), hsm.key_check_value());
    assert!(hsm.flag(hsm.domain, AttributeType::Token));
    assert!(hsm.flag(hsm.domain, AttributeType::Sensitive));
    assert!(!hsm.flag(hsm.domain, AttributeType::Extractable));
    assert!(matches!(
        hsm.attribute_info(hsm.domain, AttributeType::Value),
        AttributeInfo::Sensitive
    ));
    drop(hsm);
    drop(token);
    // Another token's domain key is another key: another check value.
    let other = TestToken::new();
    assert_ne!(
        Pkcs11Hsm::init(&other.config()).unwrap().key_check_value,
        check
    );
}

#[test]
fn generated_material_seals_and_opens_in_the_token() {
    let (_token, hsm) = TestToken::initialized();
    let id = key_id();
    let wrapped = hsm.generate_symmetric(id, 1).unwrap();
    assert_eq!(wrapped.len(), objects::WRAPPED_LEN);
    assert_eq!(wrapped[0], objects::WRAP_FORMAT_PKCS11);
    let key = MaterialRef {
        key_id: id,
        version: 1,
        wrapped: &wrapped,
    };
    let salt = hsm.salt().unwrap();
    let sealed = hsm.encrypt(key, &salt, b"hello", b"ctx").unwrap();
    assert_eq!(sealed.ciphertext.len(), 5 + crate::TAG_LEN);
    let opened = hsm
        .decrypt(key, Some(&salt), &sealed.nonce, &sealed.ciphertext, b"ctx")
        .unwrap();
    assert_eq!(&opened[..], b"hello");
    // Other additional data, another salt, a flipped byte: no.
    for (salt, aad, flip) in [
        (salt, &b"other"[..], false),
        (hsm.salt().unwrap(), b"ctx", false),
    ]
    .into_iter()
    .chain([(salt, &b"ctx"[..], true)])
    {
        let mut ciphertext = sealed.ciphertext.clone();
        if flip {
            ciphertext[0] ^= 1;
        }
        assert!(matches!(
            hsm.decrypt(key, Some(&salt), &sealed.nonce, &ciphertext, aad),
            Err(HsmError::Authentication)
        ));
    }
    // Appended after a header, in one buffer.
    let mut out = b"head".to_vec();
    hsm.encrypt_append(key, &salt, b"hello", b"ctx", &mut out)
        .unwrap();
    assert_eq!(out.len(), 4 + crate::NONCE_LEN + 5 + crate::TAG_LEN);
    // The same id under another version, or another id, does not unwrap the blob.
    for (key_id, version) in [(id, 2), (key_id(), 1)] {
        let moved = MaterialRef {
            key_id,
            version,
            wrapped: &wrapped,
        };
        assert!(matches!(
            hsm.encrypt(moved, &salt, b"x", b""),
            Err(HsmError::Unwrap { .. })
        ));
    }
    // Each generation is fresh material.
    let other = hsm.generate_symmetric(id, 1).unwrap();
    assert_ne!(other, wrapped);
    let other_key = MaterialRef {
        wrapped: &other,
        ..key
    };
    assert!(matches!(
        hsm.decrypt(
            other_key,
            Some(&salt),
            &sealed.nonce,
            &sealed.ciphertext,
            b"ctx"
        ),
        Err(HsmError::Authentication)
    ));
}

/// The same material gives the same AEAD under both backends: what the PKCS#11 backend
/// seals, the soft backend opens, and the other way round, for blob format 2 (per-ciphertext
/// key) and format 1 (sealed under the material itself). So blobs are one format whichever
/// backend sealed them; only the wrapped material differs.
#[test]
fn the_token_derives_and_seals_exactly_as_the_soft_backend() {
    let (_token, hsm) = TestToken::initialized();
    let soft = SoftHsm::new(DomainKey::from_bytes([9; 32]), 4);
    let id = key_id();
    let material: [u8; 32] = std::array::from_fn(|i| i as u8 * 7 + 1);
    let p11_wrapped = hsm.wrap_known_material(id, 1, &material);
    let soft_wrapped = soft
        .wrap
        .wrap_material(id, 1, KeySpec::SymmetricDefault, &material);
    let p11_key = MaterialRef {
        key_id: id,
        version: 1,
        wrapped: &p11_wrapped,
    };
    let soft_key = MaterialRef {
        wrapped: &soft_wrapped,
        ..p11_key
    };
    let salt: Salt = *b"0123456789abcd";
    let plaintext = b"the same bytes under either backend";
    let sealed = hsm.encrypt(p11_key, &salt, plaintext, b"hdr").unwrap();
    let opened = soft
        .decrypt(
            soft_key,
            Some(&salt),
            &sealed.nonce,
            &sealed.ciphertext,
            b"hdr",
        )
        .unwrap();
    assert_eq!(&opened[..], plaintext);
    let sealed = soft.encrypt(soft_key, &salt, plaintext, b"hdr").unwrap();
    let opened = hsm
        .decrypt(
            p11_key,
            Some(&salt),
            &sealed.nonce,
            &sealed.ciphertext,
            b"hdr",
        )
        .unwrap();
    assert_eq!(&opened[..], plaintext);
    // The per-ciphertext key itself: sealing with it outside under the token's nonce gives
    // the token's ciphertext byte for byte.
    let derived = {
        use aes::cipher::BlockEncrypt;
        let mut key = crate::derive::derivation_input(&salt);
        let aes = crate::derive::kdf_cipher(&material);
        for block in key.chunks_exact_mut(16) {
            aes.encrypt_block(block.into());
        }
        key
    };
    let sealed = hsm.encrypt(p11_key, &salt, plaintext, b"hdr").unwrap();
    let outside = Aes256Gcm::new(Key::<Aes256Gcm>::from_slice(&derived))
        .encrypt(
            Nonce::from_slice(&sealed.nonce),
            Payload {
                msg: plaintext,
                aad: b"hdr",
            },
        )
        .unwrap();
    assert_eq!(outside, sealed.ciphertext);
    // Format 1: sealed under the material itself, opened by the token without a salt.
    let nonce = [3u8; 12];
    let format_1 = Aes256Gcm::new(Key::<Aes256Gcm>::from_slice(&material))
        .encrypt(
            Nonce::from_slice(&nonce),
            Payload {
                msg: b"old",
                aad: b"v1",
            },
        )
        .unwrap();
    let opened = hsm
        .decrypt(p11_key, None, &nonce, &format_1, b"v1")
        .unwrap();
    assert_eq!(&opened[..], b"old");
    assert_eq!(salt.len(), CIPHERTEXT_SALT_LEN);
}

/// No object trent creates gives its value up: every one is sensitive and, but for the
/// material of a generation (destroyed at once), not extractable.
#[test]
fn no_object_trent_creates_reveals_its_value() {
    let (_token, mut hsm) = TestToken::initialized();
    let id = key_id();
    for version in 1..=3 {
        let wrapped = hsm.generate_symmetric(id, version).unwrap();
        let key = MaterialRef {
            key_id: id,
            version,
            wrapped: &wrapped,
        };
        let salt = hsm.salt().unwrap();
        let sealed = hsm.encrypt(key, &salt, b"m", b"").unwrap();
        hsm.decrypt(key, Some(&salt), &sealed.nonce, &sealed.ciphertext, b"")
            .unwrap();
    }
    let secret = hsm.wrap_secret(b"AKIA", b"secret").unwrap();
    assert_eq!(&hsm.unwrap_secret(b"AKIA", &secret).unwrap()[..], b"secret");
    assert!(matches!(
        hsm.unwrap_secret(b"AKIB", &secret),
        Err(HsmError::UnwrapSecret)
    ));
    // The ECDH secret (the one readable object) is destroyed once read: counted below.
    let mut families = super::keys_tests::use_one_key_of_each_family(&hsm);
    // An Ed25519 private key as trent's template makes it (SoftHSM2 2.6.1 cannot wrap
    // Ed25519 keys, so it enters the cache by C_CreateObject; see `edwards_tests.rs`).
    let spec = KeySpec::EccNistEdwards25519;
    hsm.families.refused.retain(|(refused, _)| *refused != spec);
    let ed = aws_lc_rs::signature::Ed25519KeyPair::from_seed_unchecked(&[1; 32]).unwrap();
    let spki = aws_lc_rs::encoding::AsDer::<aws_lc_rs::encoding::PublicKeyX509Der>::as_der(
        aws_lc_rs::signature::KeyPair::public_key(&ed),
    )
    .unwrap();
    let ed_id = key_id();
    let blob = hsm.known_key(ed_id, &[1; 32], spki.as_ref());
    let ed_key = MaterialRef {
        key_id: ed_id,
        version: 1,
        wrapped: &blob,
    };
    let algorithm = trent_model::SigningAlgorithm::Ed25519Sha512;
    let raw = trent_model::MessageType::Raw;
    hsm.sign(ed_key, spec, algorithm, raw, b"m").unwrap();
    families += 2;
    assert_eq!(hsm.cached_keys(), 3 + 4);
    let objects = hsm.all_objects();
    // The domain key and the audit key pair, the MAC and secret keys derived from the domain
    // key, three cached versions, an HMAC key and three key pairs: every temporary object (KEKs, per-ciphertext keys, generated
    // material and key pairs, ECDH secrets, known-answer keys, trial key pairs and wraps) is
    // gone.
    assert_eq!(objects.len(), 8 + families, "{objects:?}");
    let token_objects = hsm.token_objects();
    assert_eq!(token_objects.len(), 3);
    let mut public_keys = 0;
    for object in objects {
        let token_object = token_objects.contains(&object);
        assert_eq!(hsm.flag(object, AttributeType::Token), token_object);
        let class = hsm
            .token
            .session()
            .get_attributes(object, &[AttributeType::Class]);
        if let [Attribute::Class(ObjectClass::PUBLIC_KEY)] = class.unwrap()[..] {
            public_keys += 1;
            continue;
        }
        // The secret: CKA_VALUE of secret and EC keys, CKA_PRIVATE_EXPONENT of RSA keys.
        let value = hsm.attribute_info(object, AttributeType::Value);
        let exponent = hsm.attribute_info(object, AttributeType::PrivateExponent);
        assert!(
            matches!(
                (value, exponent),
                (AttributeInfo::Sensitive, AttributeInfo::TypeInvalid)
                    | (AttributeInfo::TypeInvalid, AttributeInfo::Sensitive)
            ),
            "object {object}: {value:?} {exponent:?}"
        );
        assert!(
            hsm.flag(object, AttributeType::Sensitive),
            "object {object}"
        );
        assert!(
            !hsm.flag(object, AttributeType::Extractable),
            "object {object}"
        );
    }
    assert_eq!(public_keys, 4);
    hsm.forget_key(id);
    assert_eq!(hsm.cached_keys(), 4);
    assert_eq!(hsm.all_objects().len(), 5 + families);
}

#[test]
fn the_cache_is_bounded_and_destroys_what_it_evicts() {
    let token = TestToken::new();
    Pkcs11Hsm::init(&token.config()).unwrap();
    let hsm = Pkcs11Hsm::open_with_cache(&token.config(), 2).unwrap();
    let ids: Vec<KeyId> = (0..4).map(|_| key_id()).collect();
    let blobs: Vec<Vec<u8>> = ids
        .iter()
        .map(|id| hsm.generate_symmetric(*id, 1).unwrap())
        .collect();
    for (id, wrapped) in ids.iter().zip(&blobs) {
        let key = MaterialRef {
            key_id: *id,
            version: 1,
            wrapped,
        };
        hsm.encrypt(key, &hsm.salt().unwrap(), b"m", b"").unwrap();
    }
    assert_eq!(hsm.cached_keys(), 2);
    assert_eq!(hsm.all_objects().len(), 5 + 2);
}

#[test]
fn other_key_types_and_soft_blobs_are_refused_not_served_in_software() {
    let (_token, hsm) = TestToken::initialized();
    let id = key_id();
    let e = error_of(hsm.generate(id, 1, KeySpec::MlDsa65));
    assert!(e.contains("PKCS#11 backend does not offer"), "{e}");
    assert!(error_of(hsm.generate_data_key_pair(KeySpec::MlKem768)).contains("does not offer"));
    let soft = SoftHsm::new(DomainKey::from_bytes([1; 32]), 1);
    // The soft backend's format-2 blob of an HMAC key: not this backend's.
    let soft_hmac = soft.generate(id, 1, KeySpec::Hmac256).unwrap();
    let key = MaterialRef {
        key_id: id,
        version: 1,
        wrapped: &soft_hmac,
    };
    let mac = trent_model::MacAlgorithm::HmacSha256;
    assert!(matches!(
        hsm.generate_mac(key, KeySpec::Hmac256, mac, b"m"),
        Err(HsmError::Unwrap { .. })
    ));
    let soft_blob = soft.generate_symmetric(id, 1).unwrap();
    let key = MaterialRef {
        key_id: id,
        version: 1,
        wrapped: &soft_blob,
    };
    assert!(matches!(
        hsm.encrypt(key, &hsm.salt().unwrap(), b"m", b""),
        Err(HsmError::Unwrap { .. })
    ));
    assert!(hsm
        .verify_domain_mac(b"p", b"d", &hsm.domain_mac(b"p", b"d").unwrap())
        .unwrap());
    assert!(!hsm
        .verify_domain_mac(b"q", b"d", &hsm.domain_mac(b"p", b"d").unwrap())
        .unwrap());
    assert_eq!(hsm.random(40).unwrap().len(), 40);
}

#[test]
fn a_wrong_pin_a_missing_token_and_a_missing_key_say_which() {
    let token = TestToken::new();
    let e = error_of(Pkcs11Hsm::open(&token.config()));
    assert!(e.contains("no key labelled \"trent-domain\""), "{e}");
    Pkcs11Hsm::init(&token.config()).unwrap();
    let wrong_pin = Pkcs11Config {
        pin: Zeroizing::new("0000".into()),
        ..token.config()
    };
    let e = error_of(Pkcs11Hsm::open(&wrong_pin));
    assert!(e.contains("wrong PIN"), "{e}");
    assert!(!e.contains(PIN) && !e.contains("0000"), "{e}");
    let no_token = Pkcs11Config {
        token_label: "nope".into(),
        ..token.config()
    };
    let e = error_of(Pkcs11Hsm::open(&no_token));
    assert!(e.contains("no token labelled \"nope\""), "{e}");
    assert!(e.contains(&token.label), "{e}");
    let no_module = Pkcs11Config {
        module: "/nonexistent/libpkcs11.so".into(),
        ..token.config()
    };
    let e = error_of(Pkcs11Hsm::open(&no_module));
    assert!(e.contains("does not exist"), "{e}");
    // After every refusal the module was finalized: it opens again.
    Pkcs11Hsm::open(&token.config()).unwrap();
}

#[test]
fn a_token_lacking_a_mechanism_is_refused_naming_it() {
    let token = TestToken::new();
    let hsm = {
        Pkcs11Hsm::init(&token.config()).unwrap();
        Pkcs11Hsm::open(&token.config()).unwrap()
    };
    assert_eq!(*token::ecb_encrypt_data(), token::CKM_AES_ECB_ENCRYPT_DATA);
    let ctx = hsm.token.context();
    let slot = hsm.token.slot();
    let info = |mechanism| ctx.get_mechanism_info(slot, mechanism).ok();
    // SoftHSM2 has them all.
    assert!(token::missing_mechanisms(info).is_empty());
    // A token without GCM and the ECB derivation: both named, with what they are for.
    let lacking = |mechanism: cryptoki::mechanism::MechanismType| {
        let value = *mechanism;
        if value == *cryptoki::mechanism::MechanismType::AES_GCM
            || value == token::CKM_AES_ECB_ENCRYPT_DATA
        {
            None
        } else {
            info(mechanism)
        }
    };
    let missing = token::missing_mechanisms(lacking);
    assert_eq!(missing.len(), 2, "{missing:?}");
    assert!(
        missing[0].starts_with("CKM_AES_GCM (sealing"),
        "{missing:?}"
    );
    assert!(
        missing[1].starts_with("CKM_AES_ECB_ENCRYPT_DATA (deriving"),
        "{missing:?}"
    );
}
