//! HMAC, ECC and RSA keys in a real SoftHSM2 token (one fresh token per test, see
//! `tests.rs`): HMAC against the soft backend on the same material, the binding of format-4
//! blobs, and the refusal of specs whose mechanisms a token lacks; the helpers that put known
//! material into the token for `sign_tests.rs`.

use aws_lc_rs::key_wrap::{AesKek, KeyWrapPadded, AES_256};
use cryptoki::mechanism::MechanismType;
use cryptoki::object::{Attribute, KeyType};
use trent_model::{
    EncryptionAlgorithm, KeyId, KeySpec, KeyUsage, MacAlgorithm, MessageType, SigningAlgorithm,
};

use super::families::{Families, Kind};
use super::objects::{self, Temp, Uses};
use super::probes::Padding;
use super::tests::{error_of, key_id, TestToken};
use super::{keys, Pkcs11Hsm};
use crate::{DomainKey, Hsm, HsmError, MaterialRef, SoftHsm};

impl Pkcs11Hsm {
    /// Test only: `secret` (an HMAC key's bytes, or a PKCS#8 private key) as `key_id` version
    /// `version`'s key of `spec` with public key `spki`, as if the token had generated it, so
    /// a test can compare this backend with the soft one on the same material. It enters the
    /// token by `C_UnwrapKey` under a known AES key. (Production code never does this.)
    pub(super) fn wrap_known_key(
        &self,
        key_id: KeyId,
        version: u32,
        spec: KeySpec,
        secret: &[u8],
        spki: &[u8],
    ) -> Vec<u8> {
        const KNOWN: [u8; 32] = [5; 32];
        let kind = self.families.check(spec).unwrap();
        let session = self.token.session();
        let wrap = Uses {
            wrap: true,
            ..Uses::default()
        };
        let template = objects::known_value_template(KeyType::AES, false, wrap, &KNOWN);
        let kek = Temp::new(&session, session.create_object(&template).unwrap());
        let mut out = vec![0u8; secret.len() + 16];
        let wrapped = AesKek::new(&AES_256, &KNOWN)
            .unwrap()
            .wrap_with_padding(secret, &mut out)
            .unwrap();
        let template = match kind {
            Kind::Hmac { .. } => {
                let mut t = objects::generated_secret_template(0);
                t.retain(|a| !matches!(a, Attribute::ValueLen(_)));
                t
            }
            _ => objects::private_key_template(keys::key_type(kind), true, Uses::default()),
        };
        let mechanism = self.families.wrap_mechanism();
        let object = session
            .unwrap_key(&mechanism, kek.handle, wrapped, &template)
            .unwrap();
        let object = Temp::new(&session, object);
        self.seal_key(&session, key_id, version, spec, object.handle, spki)
            .unwrap()
    }

    /// Test only: the SubjectPublicKeyInfo this backend writes for the public key in `spki`,
    /// after a trip through the token (a public key object made from it, its point or
    /// modulus read back).
    pub(super) fn token_spki(&self, spec: KeySpec, spki: &[u8]) -> Vec<u8> {
        let kind = self.families.check(spec).unwrap();
        let session = self.token.session();
        let template = keys::public_template(kind, keys::uses(kind).1, spki)
            .expect("aws-lc's SubjectPublicKeyInfo is what this backend writes");
        let object = Temp::new(&session, session.create_object(&template).unwrap());
        keys::spki_of(&session, kind, object.handle).unwrap()
    }
}

pub(super) fn at(key_id: KeyId, wrapped: &[u8]) -> MaterialRef<'_> {
    MaterialRef {
        key_id,
        version: 1,
        wrapped,
    }
}

pub(super) fn soft() -> SoftHsm {
    SoftHsm::new(DomainKey::from_bytes([9; 32]), 16)
}

/// Generates and uses one key of each family (HMAC_256, ECC_NIST_P256, RSA_2048), and
/// answers how many token objects they leave in the cache (a secret, two key pairs).
pub(super) fn use_one_key_of_each_family(hsm: &Pkcs11Hsm) -> usize {
    let message = b"every family";
    let id = key_id();
    let wrapped = hsm.generate(id, 1, KeySpec::Hmac256).unwrap();
    let (spec, mac) = (KeySpec::Hmac256, MacAlgorithm::HmacSha256);
    let tag = hsm
        .generate_mac(at(id, &wrapped), spec, mac, message)
        .unwrap();
    assert!(hsm
        .verify_mac(at(id, &wrapped), spec, mac, message, &tag)
        .unwrap());
    for (spec, algorithm) in [
        (KeySpec::EccNistP256, SigningAlgorithm::EcdsaSha256),
        (KeySpec::Rsa2048, SigningAlgorithm::RsassaPssSha256),
    ] {
        let id = key_id();
        let wrapped = hsm.generate(id, 1, spec).unwrap();
        let key = at(id, &wrapped);
        let signature = hsm
            .sign(key, spec, algorithm, MessageType::Raw, message)
            .unwrap();
        assert!(hsm
            .verify(key, spec, algorithm, MessageType::Raw, message, &signature)
            .unwrap());
        if spec == KeySpec::EccNistP256 {
            // ECDH too: the derived secret object is read and destroyed at once.
            let peer = aws_lc_rs::agreement::PrivateKey::generate(&aws_lc_rs::agreement::ECDH_P256)
                .unwrap();
            let peer = peer.compute_public_key().unwrap();
            let secret = hsm.derive_shared_secret(key, spec, peer.as_ref()).unwrap();
            assert_eq!(secret.len(), 32);
        }
        if spec == KeySpec::Rsa2048 {
            let oaep = EncryptionAlgorithm::RsaesOaepSha1;
            let ciphertext = hsm.encrypt_asymmetric(key, spec, oaep, message).unwrap();
            let opened = hsm
                .decrypt_asymmetric(key, spec, oaep, &ciphertext)
                .unwrap();
            assert_eq!(&opened[..], message);
        }
    }
    5
}

#[test]
fn hmac_keys_mac_in_the_token_as_the_soft_backend_does() {
    let (_token, hsm) = TestToken::initialized();
    let soft = soft();
    let message = b"the same MAC under either backend";
    for spec in [
        KeySpec::Hmac224,
        KeySpec::Hmac256,
        KeySpec::Hmac384,
        KeySpec::Hmac512,
    ] {
        let algorithm = spec.mac_algorithms(KeyUsage::GenerateVerifyMac)[0];
        let Some(Kind::Hmac { len, .. }) = super::families::kind(spec) else {
            panic!("{spec} is HMAC");
        };
        let id = key_id();
        let material: Vec<u8> = (0..len).map(|i| i as u8 * 3 + 1).collect();
        let p11_blob = hsm.wrap_known_key(id, 1, spec, &material, &[]);
        let soft_blob = soft.wrap.wrap_material(id, 1, spec, &material);
        let (p11, sw) = (at(id, &p11_blob), at(id, &soft_blob));
        let mac = hsm.generate_mac(p11, spec, algorithm, message).unwrap();
        assert_eq!(
            mac,
            soft.generate_mac(sw, spec, algorithm, message).unwrap()
        );
        assert!(hsm.verify_mac(p11, spec, algorithm, message, &mac).unwrap());
        let mut flipped = mac.clone();
        flipped[0] ^= 1;
        for wrong in [&flipped[..], &mac[..mac.len() - 1], &[]] {
            assert!(!hsm
                .verify_mac(p11, spec, algorithm, message, wrong)
                .unwrap());
            assert!(!soft
                .verify_mac(sw, spec, algorithm, message, wrong)
                .unwrap());
        }
        assert!(!hsm
            .verify_mac(p11, spec, algorithm, b"other", &mac)
            .unwrap());
        let other = if algorithm == MacAlgorithm::HmacSha256 {
            MacAlgorithm::HmacSha512
        } else {
            MacAlgorithm::HmacSha256
        };
        assert!(matches!(
            hsm.generate_mac(p11, spec, other, message),
            Err(HsmError::Algorithm(_))
        ));
    }
}

#[test]
fn format_4_blobs_are_bound_to_their_key_version_spec_and_bytes() {
    let (_token, hsm) = TestToken::initialized();
    let (spec, algorithm) = (KeySpec::Hmac256, MacAlgorithm::HmacSha256);
    let id = key_id();
    let wrapped = hsm.generate(id, 1, spec).unwrap();
    assert_eq!(wrapped[0], keys::WRAP_FORMAT_4);
    // RFC 5649 of 32 bytes is 40; a 3-byte header and a 32-byte tag.
    assert_eq!(wrapped.len(), 3 + 40 + 32);
    let key = at(id, &wrapped);
    let mac = hsm.generate_mac(key, spec, algorithm, b"m").unwrap();
    assert_eq!(mac.len(), 32);
    assert!(matches!(
        hsm.public_key(key, spec),
        Err(HsmError::NoPublicKey)
    ));
    // Cached or not, another version, id or spec, or any changed byte: refused.
    for cold in [false, true] {
        if cold {
            hsm.forget_key(id);
        }
        for (key_id, version, spec) in [
            (id, 2, spec),
            (key_id(), 1, spec),
            (id, 1, KeySpec::Hmac512),
        ] {
            let moved = MaterialRef {
                key_id,
                version,
                wrapped: &wrapped,
            };
            let algorithm = spec.mac_algorithms(KeyUsage::GenerateVerifyMac)[0];
            assert!(matches!(
                hsm.generate_mac(moved, spec, algorithm, b"m"),
                Err(HsmError::Unwrap { .. })
            ));
        }
        for i in [0, 2, 10, wrapped.len() - 40, wrapped.len() - 1] {
            let mut changed = wrapped.clone();
            changed[i] ^= 1;
            assert!(matches!(
                hsm.generate_mac(at(id, &changed), spec, algorithm, b"m"),
                Err(HsmError::Unwrap { .. })
            ));
        }
        // Not a symmetric key, and a symmetric key is not an HMAC key.
        assert!(matches!(
            hsm.encrypt(key, &hsm.salt().unwrap(), b"x", b""),
            Err(HsmError::Unwrap { .. })
        ));
    }
    let symmetric = hsm.generate_symmetric(id, 1).unwrap();
    assert!(matches!(
        hsm.generate_mac(at(id, &symmetric), spec, algorithm, b"m"),
        Err(HsmError::Unwrap { .. })
    ));
    assert_ne!(hsm.generate(id, 1, spec).unwrap(), wrapped);
    assert_eq!(
        hsm.generate_mac(key, spec, algorithm, b"m").unwrap(),
        mac,
        "the same key after all that"
    );
}

/// What `hsm`'s token would serve if it lacked the mechanisms `drop`, had `wrap` for RFC 5649,
/// and could not make keys on the curve named `bad_curve`.
fn families(
    hsm: &Pkcs11Hsm,
    drop: &[MechanismType],
    wrap: Option<(MechanismType, Padding)>,
    bad_curve: &str,
) -> Families {
    let ctx = hsm.token.context();
    let slot = hsm.token.slot();
    Families::assess(
        |m| {
            let lacking = drop.iter().any(|d| **d == *m);
            (!lacking)
                .then(|| ctx.get_mechanism_info(slot, m).ok())
                .flatten()
        },
        wrap,
        |curve| match curve.name == bad_curve {
            true => Err(format!("curve {bad_curve} (test)")),
            false => Ok(()),
        },
    )
}

#[test]
fn a_token_lacking_a_familys_mechanisms_refuses_those_keys_by_name() {
    let (_token, mut hsm) = TestToken::initialized();
    // SoftHSM2 2.6.1: no CKM_AES_KEY_WRAP_KWP; its CKM_AES_KEY_WRAP_PAD is RFC 5649 after
    // padding with zeros to 8 bytes.
    let (wrap, padding) = hsm.families.wrap().unwrap();
    assert_eq!(*wrap, *MechanismType::AES_KEY_WRAP_PAD);
    assert_eq!(padding, Padding::ZerosTo8);
    let id = key_id();
    let hmac = hsm.generate(id, 1, KeySpec::Hmac384).unwrap();
    let pad = hsm.families.wrap();
    let lacking = families(
        &hsm,
        &[MechanismType::SHA384_HMAC, MechanismType::RSA_PKCS_OAEP],
        pad,
        "P-521",
    );
    hsm.families = lacking;
    let e = error_of(hsm.generate(id, 2, KeySpec::Hmac384));
    assert!(
        e.contains("cannot serve HMAC_384 keys: the token lacks CKM_SHA384_HMAC, needed for computing and verifying MACs"),
        "{e}"
    );
    assert!(e.contains("does not fall back to software"), "{e}");
    // A key made before is refused too: the token cannot use it.
    let e = error_of(hsm.generate_mac(
        at(id, &hmac),
        KeySpec::Hmac384,
        MacAlgorithm::HmacSha384,
        b"m",
    ));
    assert!(e.contains("CKM_SHA384_HMAC"), "{e}");
    let e = error_of(hsm.generate(id, 2, KeySpec::Rsa3072));
    assert!(
        e.contains("RSA_3072 keys: the token lacks CKM_RSA_PKCS_OAEP, needed for RSAES_OAEP"),
        "{e}"
    );
    let e = error_of(hsm.generate(id, 2, KeySpec::EccNistP521));
    assert!(
        e.contains("ECC_NIST_P521 keys: the token lacks curve P-521"),
        "{e}"
    );
    // Other families are served.
    hsm.generate(id, 2, KeySpec::Hmac256).unwrap();
    hsm.generate(id, 2, KeySpec::EccNistP384).unwrap();
    // Without an RFC 5649 wrap, nothing beyond SYMMETRIC_DEFAULT.
    hsm.families = families(&hsm, &[], None, "");
    let e = error_of(hsm.generate(id, 2, KeySpec::Hmac256));
    assert!(e.contains("CKM_AES_KEY_WRAP_KWP (RFC 5649"), "{e}");
    hsm.generate_symmetric(id, 2).unwrap();
    // What SoftHSM2 has: every offered spec.
    hsm.families = families(&hsm, &[], pad, "");
    for spec in super::families::OFFERED {
        hsm.families.check(spec).unwrap();
    }
    // Specs this backend does not implement, and those no generate makes.
    assert!(matches!(
        hsm.generate(id, 2, KeySpec::MlDsa44),
        Err(HsmError::Pkcs11Unsupported(_))
    ));
    assert!(matches!(
        hsm.generate(id, 2, KeySpec::SymmetricDefault),
        Err(HsmError::Spec(_))
    ));
}
