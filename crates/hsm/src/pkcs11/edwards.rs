//! Ed25519 keys (ECC_NIST_EDWARDS25519) in the token: ED25519_SHA_512 and ED25519_PH_SHA_512
//! with `CKM_EDDSA` on a `CKK_EC_EDWARDS` key, and the SubjectPublicKeyInfo around the
//! token's point.
//!
//! Guarantees: the soft backend's semantics: ED25519_SHA_512 signs a RAW message (pure
//! Ed25519), ED25519_PH_SHA_512 signs a DIGEST message as Ed25519ph (RFC 8032, empty context)
//! of that message, i.e. over SHA-512 of the caller's SHA-512 digest, as the soft backend
//! (`crate::ed25519ph`) and AWS do; any other pairing answers [`HsmError::Algorithm`]; a
//! signature that does not verify is `Ok(false)`. Signing and verifying are the token's
//! (`C_Sign` with the private key, `C_Verify` with the public key object). The public key is
//! RFC 8410's SubjectPublicKeyInfo, byte for byte aws-lc's. Whether the token's `CKM_EDDSA`
//! computes each scheme is decided at open by known-answer tests ([`known_answers`]): a
//! token may ignore `CK_EDDSA_PARAMS` and sign pure Ed25519 when asked for Ed25519ph, so
//! asking is not enough. A scheme that fails is refused by name ([`HsmError::Pkcs11Lacks`]),
//! never computed in software.

use aws_lc_rs::digest;
use aws_lc_rs::signature::Ed25519KeyPair;
use cryptoki::mechanism::eddsa::{EddsaParams, EddsaSignatureScheme};
use cryptoki::mechanism::Mechanism;
use cryptoki::object::{Attribute, KeyType};
use cryptoki::session::Session;
use trent_model::{KeySpec, MessageType, SigningAlgorithm};

use super::families::{Families, ED25519};
use super::objects::{self, Temp, Uses};
use super::probes::answer;
use super::sign::not_verified;
use super::token::fail;
use super::Pkcs11Hsm;
use crate::{HsmError, MaterialRef};

/// RFC 8410's SubjectPublicKeyInfo of an Ed25519 key, up to the 32-byte point.
const SPKI_PREFIX: [u8; 12] = [
    0x30, 0x2a, 0x30, 0x05, 0x06, 0x03, 0x2b, 0x65, 0x70, 0x03, 0x21, 0x00,
];
const POINT_LEN: usize = 32;
const SIGNATURE_LEN: usize = 64;

/// The SubjectPublicKeyInfo of the Ed25519 public key `point` (32 bytes).
pub(crate) fn spki(point: &[u8]) -> Vec<u8> {
    [&SPKI_PREFIX[..], point].concat()
}

/// The point of an Ed25519 SubjectPublicKeyInfo, if it is exactly what [`spki`] writes.
pub(crate) fn spki_point(spki: &[u8]) -> Option<&[u8]> {
    let point = spki.strip_prefix(&SPKI_PREFIX)?;
    (point.len() == POINT_LEN).then_some(point)
}

/// The point of an Ed25519 `CKA_EC_POINT`: a DER OCTET STRING as PKCS#11 3.0 says (and
/// SoftHSM2 answers), or the raw 32 bytes, which some tokens answer.
pub(crate) fn point(attribute: &[u8]) -> Option<&[u8]> {
    match attribute {
        [0x04, 0x20, point @ ..] if point.len() == POINT_LEN => Some(point),
        point if point.len() == POINT_LEN => Some(point),
        _ => None,
    }
}

/// The `CKM_EDDSA` of `algorithm` for a `message_type` message, if they go together.
fn mechanism(
    algorithm: SigningAlgorithm,
    message_type: MessageType,
) -> Result<Mechanism<'static>, HsmError> {
    let scheme = match (algorithm, message_type) {
        (SigningAlgorithm::Ed25519Sha512, MessageType::Raw) => EddsaSignatureScheme::Ed25519,
        // The token hashes its input (PKCS#11 3.0 Ed25519ph): the caller's digest is
        // Ed25519ph's message, as in the soft backend.
        (SigningAlgorithm::Ed25519PhSha512, MessageType::Digest) => {
            EddsaSignatureScheme::Ed25519ph(&[])
        }
        _ => return Err(HsmError::Algorithm(algorithm.as_str())),
    };
    Ok(Mechanism::Eddsa(EddsaParams::new(scheme)))
}

impl Pkcs11Hsm {
    pub(super) fn eddsa_sign(
        &self,
        key: MaterialRef<'_>,
        spec: KeySpec,
        algorithm: SigningAlgorithm,
        message_type: MessageType,
        message: &[u8],
    ) -> Result<Vec<u8>, HsmError> {
        let mechanism = mechanism(algorithm, message_type)?;
        let (entry, _) = self.key(key, spec)?;
        self.families.check_signing(spec, algorithm)?;
        self.token
            .session()
            .sign(&mechanism, entry.handle, message)
            .map_err(|e| fail(format_args!("signing with {algorithm}"), e))
    }

    pub(super) fn eddsa_verify(
        &self,
        key: MaterialRef<'_>,
        spec: KeySpec,
        algorithm: SigningAlgorithm,
        message_type: MessageType,
        message: &[u8],
        signature: &[u8],
    ) -> Result<bool, HsmError> {
        let mechanism = mechanism(algorithm, message_type)?;
        let (entry, _) = self.key(key, spec)?;
        self.families.check_signing(spec, algorithm)?;
        let public = entry.public.ok_or(HsmError::NoPublicKey)?;
        // aws-lc takes 64 bytes only; what is not that long does not verify.
        if signature.len() != SIGNATURE_LEN {
            return Ok(false);
        }
        match self
            .token
            .session()
            .verify(&mechanism, public, message, signature)
        {
            Ok(()) => Ok(true),
            Err(e) if not_verified(&e) => Ok(false),
            Err(e) => Err(fail(format_args!("verifying with {algorithm}"), e)),
        }
    }
}

/// What the token's Ed25519 lacks, into `families` (if it has the mechanisms and the
/// curve): a scheme failing its known-answer test is refused by name; keys the token cannot
/// wrap out and back are refused altogether.
pub(crate) fn probe(session: &Session, families: &mut Families) {
    let spec = KeySpec::EccNistEdwards25519;
    if families.check(spec).is_err() {
        return;
    }
    let (pure, prehashed) = known_answers(session);
    for (algorithm, answer) in [
        (SigningAlgorithm::Ed25519Sha512, pure),
        (SigningAlgorithm::Ed25519PhSha512, prehashed),
    ] {
        if let Err(reason) = answer {
            let reason = format!("the token lacks {reason}");
            families.signing_refused.push((algorithm, reason));
        }
    }
    if let Err(reason) = trial_wrap(session, &families.wrap_mechanism()) {
        let reason = format!("the token lacks {reason}");
        families.refused.push((spec, reason));
    }
}

/// Whether an Ed25519 private key leaves the token under `wrap` (the RFC 5649 mechanism) and
/// comes back usable: a fresh key pair and AES-256 wrapping key (session objects, destroyed
/// at once), the private key wrapped, unwrapped (not extractable), and a signature of the
/// unwrapped key verified by the generated public key, all in the token. SoftHSM2 2.6.1's
/// `C_WrapKey` answers `CKR_KEY_NOT_WRAPPABLE` for `CKK_EC_EDWARDS` keys, so it cannot keep
/// Ed25519 keys outside the token, the only place trent keeps them.
pub(crate) fn trial_wrap(session: &Session, wrap: &Mechanism) -> Result<(), String> {
    let sign = Uses {
        sign: true,
        ..Uses::default()
    };
    let lacks = |step: &str, e| {
        format!(
            "{step} of Ed25519 private keys (the token answered {}), needed for keeping them \
             wrapped outside the token",
            answer(e)
        )
    };
    let mut public = objects::public_key_template(KeyType::EC_EDWARDS, sign);
    public.push(Attribute::EcParams(ED25519.params.to_vec()));
    let private = objects::private_key_template(KeyType::EC_EDWARDS, true, Uses::default());
    let (public, private) = session
        .generate_key_pair(&Mechanism::EccEdwardsKeyPairGen, &public, &private)
        .map_err(|e| lacks("CKM_EC_EDWARDS_KEY_PAIR_GEN", e))?;
    let (public, private) = (Temp::new(session, public), Temp::new(session, private));
    let kek = objects::derived_aes_template(Uses {
        wrap: true,
        ..Uses::default()
    });
    let kek = session
        .generate_key(&Mechanism::AesKeyGen, &kek)
        .map_err(|e| lacks("CKM_AES_KEY_GEN", e))?;
    let kek = Temp::new(session, kek);
    let wrapped = session
        .wrap_key(wrap, kek.handle, private.handle)
        .map_err(|e| lacks("C_WrapKey", e))?;
    let template = objects::private_key_template(KeyType::EC_EDWARDS, false, sign);
    let unwrapped = session
        .unwrap_key(wrap, kek.handle, &wrapped, &template)
        .map_err(|e| lacks("C_UnwrapKey", e))?;
    let unwrapped = Temp::new(session, unwrapped);
    let eddsa = Mechanism::Eddsa(EddsaParams::new(EddsaSignatureScheme::Ed25519));
    let message = b"trent/pkcs11/ed25519-wrap-trial";
    let signature = session
        .sign(&eddsa, unwrapped.handle, message)
        .map_err(|e| lacks("signing with an unwrapped key", e))?;
    session
        .verify(&eddsa, public.handle, message, &signature)
        .map_err(|e| lacks("the same key after C_UnwrapKey", e))
}

/// Whether the token's `CKM_EDDSA` computes pure Ed25519 and Ed25519ph (each `Err` says what
/// the token lacks and what for): a fixed, public Ed25519 key (a session object, sensitive,
/// not extractable, destroyed after the two signatures) signs a fixed message both ways,
/// compared with aws-lc's signatures (Ed25519 is deterministic). Like the RFC 5649
/// known-answer test, the only known bytes trent puts into a token, and public.
pub(crate) fn known_answers(session: &Session) -> (Result<(), String>, Result<(), String>) {
    const SEED: [u8; 32] = *b"trent/pkcs11/ed25519-kat/seed/v1";
    const MESSAGE: &[u8] = b"trent/pkcs11/ed25519-kat/message";
    const PURE: &str = "ED25519_SHA_512";
    const PREHASHED: &str = "ED25519_PH_SHA_512";
    let key = Ed25519KeyPair::from_seed_unchecked(&SEED).expect("a 32-byte seed");
    let sign = Uses {
        sign: true,
        ..Uses::default()
    };
    let mut template = objects::private_key_template(KeyType::EC_EDWARDS, false, sign);
    template.push(Attribute::EcParams(ED25519.params.to_vec()));
    template.push(Attribute::Value(SEED.to_vec()));
    let object = match session.create_object(&template) {
        Ok(handle) => Temp::new(session, handle),
        Err(e) => {
            let e = answer(e);
            let lacks = |what| {
                format!("Ed25519 private keys (C_CreateObject answered {e}), needed for {what}")
            };
            return (Err(lacks(PURE)), Err(lacks(PREHASHED)));
        }
    };
    let run = |scheme, expected: &[u8], name: &str, what: &str| {
        let mechanism = Mechanism::Eddsa(EddsaParams::new(scheme));
        match session.sign(&mechanism, object.handle, MESSAGE) {
            Ok(signature) if signature == expected => Ok(()),
            Ok(_) => Err(format!(
                "{name} (its signature with a known key is not {what}'s), needed for {what}"
            )),
            Err(e) => Err(format!(
                "{name} (the token answered {}), needed for {what}",
                answer(e)
            )),
        }
    };
    let pure = run(
        EddsaSignatureScheme::Ed25519,
        key.sign(MESSAGE).as_ref(),
        "CKM_EDDSA",
        PURE,
    );
    let prehash = digest::digest(&digest::SHA512, MESSAGE);
    let expected = crate::ed25519ph::sign(&key, prehash.as_ref()).expect("a 64-byte digest");
    let prehashed = run(
        EddsaSignatureScheme::Ed25519ph(&[]),
        &expected,
        "CKM_EDDSA with CK_EDDSA_PARAMS phFlag set (Ed25519ph)",
        PREHASHED,
    );
    (pure, prehashed)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ed25519_points_and_spki_round_trip() {
        let key = Ed25519KeyPair::from_seed_unchecked(&[3; 32]).unwrap();
        use aws_lc_rs::encoding::{AsDer, PublicKeyX509Der};
        use aws_lc_rs::signature::KeyPair;
        let ours: PublicKeyX509Der = key.public_key().as_der().unwrap();
        let raw = key.public_key().as_ref().to_vec();
        assert_eq!(spki(&raw), ours.as_ref());
        assert_eq!(spki_point(ours.as_ref()), Some(&raw[..]));
        assert!(spki_point(&ours.as_ref()[1..]).is_none());
        let attribute = [&[0x04, 0x20][..], &raw].concat();
        assert_eq!(point(&attribute), Some(&raw[..]));
        assert_eq!(point(&raw), Some(&raw[..]));
        assert!(point(&attribute[..33]).is_none());
    }
}
