//! The soft HSM's own tests: wrapping, caching, per-ciphertext keys, zeroization.

use super::*;
use uuid::Uuid;

const SALT: Salt = [7; crate::CIPHERTEXT_SALT_LEN];

fn hsm(byte: u8) -> SoftHsm {
    SoftHsm::new(DomainKey::from_bytes([byte; 32]), 2)
}

fn key_id() -> KeyId {
    KeyId(Uuid::new_v4())
}

#[test]
fn sealed_data_opens_only_with_the_same_key_and_aad() {
    let hsm = hsm(1);
    let id = key_id();
    let wrapped = hsm.generate_symmetric(id, 1).unwrap();
    let key = MaterialRef {
        key_id: id,
        version: 1,
        wrapped: &wrapped,
    };
    // Sealed after a prefix, in one buffer: opens the same way.
    let mut out = b"head".to_vec();
    hsm.encrypt_append(key, &SALT, b"hello", b"ctx", &mut out)
        .unwrap();
    assert_eq!(&out[..4], b"head");
    assert_eq!(out.len(), 4 + NONCE_LEN + 5 + TAG_LEN);
    let nonce: [u8; NONCE_LEN] = out[4..4 + NONCE_LEN].try_into().unwrap();
    let appended = &out[4 + NONCE_LEN..];
    assert_ne!(&appended[..5], b"hello");
    assert_eq!(
        &hsm.decrypt(key, Some(&SALT), &nonce, appended, b"ctx")
            .unwrap()[..],
        b"hello"
    );
    assert!(hsm
        .decrypt(key, Some(&SALT), &nonce, appended, b"other")
        .is_err());

    let sealed = hsm.encrypt(key, &SALT, b"hello", b"ctx").unwrap();
    let opened = hsm
        .decrypt(key, Some(&SALT), &sealed.nonce, &sealed.ciphertext, b"ctx")
        .unwrap();
    assert_eq!(&opened[..], b"hello");
    assert!(hsm
        .decrypt(
            key,
            Some(&SALT),
            &sealed.nonce,
            &sealed.ciphertext,
            b"other"
        )
        .is_err());
    let other = hsm.generate_symmetric(id, 1).unwrap();
    let other_key = MaterialRef {
        wrapped: &other,
        ..key
    };
    assert!(matches!(
        hsm.decrypt(
            other_key,
            Some(&SALT),
            &sealed.nonce,
            &sealed.ciphertext,
            b"ctx"
        ),
        Err(HsmError::Authentication)
    ));
}

#[test]
fn each_salt_derives_another_key_and_format_1_still_opens() {
    let hsm = hsm(1);
    let id = key_id();
    let wrapped = hsm.generate_symmetric(id, 1).unwrap();
    let key = MaterialRef {
        key_id: id,
        version: 1,
        wrapped: &wrapped,
    };
    assert_ne!(hsm.salt().unwrap(), hsm.salt().unwrap());
    let sealed = hsm.encrypt(key, &SALT, b"hello", b"ctx").unwrap();
    let open = |salt: Option<&Salt>, sealed: &Sealed| {
        hsm.decrypt(key, salt, &sealed.nonce, &sealed.ciphertext, b"ctx")
    };
    assert_eq!(&open(Some(&SALT), &sealed).unwrap()[..], b"hello");
    let mut other = SALT;
    other[13] ^= 1;
    assert!(matches!(
        open(Some(&other), &sealed),
        Err(HsmError::Authentication)
    ));
    // Not sealed under the material itself: the format-1 path refuses it.
    assert!(open(None, &sealed).is_err());

    // A format-1 ciphertext, sealed as the code before issue 18 did: the material as the
    // AES-GCM key. It opens without a salt, and with none.
    let material = hsm.unwrap_material(key).unwrap();
    let direct = Aes256Gcm::new(Key::<Aes256Gcm>::from_slice(material.as_ref()));
    let nonce = [3u8; NONCE_LEN];
    let payload = Payload {
        msg: &b"old"[..],
        aad: &b"ctx"[..],
    };
    let old = Sealed {
        nonce,
        ciphertext: direct.encrypt(Nonce::from_slice(&nonce), payload).unwrap(),
    };
    assert_eq!(&open(None, &old).unwrap()[..], b"old");
    assert!(open(Some(&SALT), &old).is_err());
}

#[test]
fn a_forgotten_key_leaves_the_cache_at_once() {
    let hsm = SoftHsm::new(DomainKey::from_bytes([1; 32]), 100);
    let (a, b) = (key_id(), key_id());
    let wrapped: Vec<_> = [(a, 1), (a, 2), (b, 1)]
        .iter()
        .map(|&(id, v)| (id, v, hsm.generate_symmetric(id, v).unwrap()))
        .collect();
    for (id, version, wrapped) in &wrapped {
        let key = MaterialRef {
            key_id: *id,
            version: *version,
            wrapped,
        };
        hsm.encrypt(key, &SALT, b"m", b"").unwrap();
    }
    assert_eq!(hsm.cached_keys(), 3);
    hsm.forget_key(a);
    assert_eq!(hsm.cached_keys(), 1);
    assert!(hsm.cache.holds((b, 1)));
    hsm.forget_key(a);
    assert_eq!(hsm.cached_keys(), 1);
}

#[test]
fn wrapped_material_is_bound_to_its_key_version_and_domain() {
    let hsm = hsm(1);
    let id = key_id();
    let wrapped = hsm.generate_symmetric(id, 1).unwrap();
    let as_v2 = MaterialRef {
        key_id: id,
        version: 2,
        wrapped: &wrapped,
    };
    assert!(matches!(
        hsm.encrypt(as_v2, &SALT, b"x", b""),
        Err(HsmError::Unwrap { version: 2, .. })
    ));
    let as_other = MaterialRef {
        key_id: key_id(),
        version: 1,
        wrapped: &wrapped,
    };
    assert!(hsm.encrypt(as_other, &SALT, b"x", b"").is_err());
    let foreign = self::hsm(2);
    let right = MaterialRef {
        key_id: id,
        version: 1,
        wrapped: &wrapped,
    };
    assert!(foreign.encrypt(right, &SALT, b"x", b"").is_err());
    assert!(hsm.encrypt(right, &SALT, b"x", b"").is_ok());
    let mut tampered = wrapped.clone();
    tampered[20] ^= 1;
    let bad = MaterialRef {
        wrapped: &tampered,
        ..right
    };
    assert!(hsm.encrypt(bad, &SALT, b"x", b"").is_err());
    assert!(hsm
        .encrypt(
            MaterialRef {
                wrapped: &wrapped[..10],
                ..right
            },
            &SALT,
            b"x",
            b""
        )
        .is_err());
}

#[test]
fn the_cache_stays_bounded_and_serves_correct_keys() {
    let hsm = hsm(1);
    let keys: Vec<_> = (0..5)
        .map(|_| {
            let id = key_id();
            (id, hsm.generate_symmetric(id, 1).unwrap())
        })
        .collect();
    for _ in 0..2 {
        for (id, wrapped) in &keys {
            let key = MaterialRef {
                key_id: *id,
                version: 1,
                wrapped,
            };
            let sealed = hsm.encrypt(key, &SALT, b"m", b"").unwrap();
            assert_eq!(
                &hsm.decrypt(key, Some(&SALT), &sealed.nonce, &sealed.ciphertext, b"")
                    .unwrap()[..],
                b"m"
            );
        }
    }
    assert_eq!(hsm.cache.len(), 2);
}

#[test]
fn fingerprints_and_macs_depend_on_the_domain_key_only() {
    let (a, a2, b) = (hsm(1), hsm(1), hsm(2));
    assert_eq!(a.domain_key_fingerprint(), a2.domain_key_fingerprint());
    assert_ne!(a.domain_key_fingerprint(), b.domain_key_fingerprint());
    assert_ne!(a.domain_key_fingerprint(), [1u8; 32]);
    let mac = a.domain_mac(b"backup", b"data").unwrap();
    assert!(a2.verify_domain_mac(b"backup", b"data", &mac).unwrap());
    assert!(!b.verify_domain_mac(b"backup", b"data", &mac).unwrap());
    assert!(!a.verify_domain_mac(b"other", b"data", &mac).unwrap());
    assert!(!a.verify_domain_mac(b"backup", b"datA", &mac).unwrap());
    assert!(!a.verify_domain_mac(b"backup", b"data", &mac[..31]).unwrap());
    assert_ne!(
        a.domain_mac(b"backup", b"data").unwrap(),
        a.domain_mac(b"backu", b"pdata").unwrap()
    );
}

#[test]
fn the_key_check_value_tells_domain_keys_apart_and_is_not_the_fingerprint() {
    let (a, a2, b) = (hsm(1), hsm(1), hsm(2));
    assert_eq!(a.key_check_value(), a2.key_check_value());
    assert_ne!(a.key_check_value(), b.key_check_value());
    assert_ne!(a.key_check_value(), a.domain_key_fingerprint());
    assert_ne!(a.key_check_value(), [1u8; 32]);
}

#[test]
fn secrets_unwrap_only_under_their_label() {
    let hsm = hsm(1);
    let wrapped = hsm.wrap_secret(b"AKIA1", b"s3cret").unwrap();
    assert_eq!(
        &hsm.unwrap_secret(b"AKIA1", &wrapped).unwrap()[..],
        b"s3cret"
    );
    assert!(hsm.unwrap_secret(b"AKIA2", &wrapped).is_err());
    assert!(hsm.unwrap_secret(b"AKIA1", &wrapped[..5]).is_err());
    assert!(!wrapped.windows(6).any(|w| w == b"s3cret"));
}
