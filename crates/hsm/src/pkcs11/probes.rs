//! The start-up probe of [`Families`] and its trials: what a token's mechanism information
//! cannot say. Whether its RFC 5649 mechanism is RFC 5649 (a known-answer test),
//! which curves it generates keys on, which hashes its RSA-OAEP takes.
//!
//! Guarantees: every trial uses fixed, public values or a fresh, non-extractable key pair, and
//! destroys every object it creates before it returns, whatever the outcome; a trial that
//! fails says what the token answered.

use std::collections::HashMap;

use aws_lc_rs::key_wrap::{AesKek, KeyWrapPadded, AES_256};
use cryptoki::error::Error;
use cryptoki::mechanism::vendor_defined::VendorDefinedMechanism;
use cryptoki::mechanism::{Mechanism, MechanismType};
use cryptoki::object::{Attribute, KeyType};
use cryptoki::session::Session;
use trent_model::{EncryptionAlgorithm, KeySpec};

use super::families::{kind, needs, oaep_mechanism, wrap_candidates, Curve, Families, OFFERED};
use super::objects::{self, Temp, Uses};
use super::token::{Needs, Token};
use crate::HsmError;

/// What the token answered, as PKCS#11 names it where it can.
pub(crate) fn answer(e: Error) -> String {
    match e {
        Error::Pkcs11(rv, _) => format!("{rv:?}"),
        other => other.to_string(),
    }
}

/// How a token's RFC 5649 mechanism treats a secret whose length is not a multiple of 8.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Padding {
    /// As RFC 5649 says: the exact secret, padded inside the algorithm.
    Exact,
    /// SoftHSM2 before 2.7 (`SoftHSM::WrapKeySym`) first appends zeros up to a multiple of 8,
    /// then applies RFC 5649: the blob is RFC 5649 of the secret followed by up to 7 zero
    /// bytes, which unwrap with it. A PKCS#8 key parses the same with them (DER says its
    /// length), and an HMAC key gives the same MACs (HMAC pads a key to its block with
    /// zeros), so blobs still move between tokens.
    ZerosTo8,
}

/// How `mechanism` wraps, if as RFC 5649 does: a fixed, public 20-byte secret (not a
/// multiple of 8, so the padding shows) under a fixed, public AES-256 key, compared with
/// aws-lc's RFC 5649 of the secret and of the secret with 4 zeros appended. A PKCS#11 2.40
/// `CKM_AES_KEY_WRAP_PAD` (RFC 3394 over PKCS#7 padding) matches neither. Both objects are
/// destroyed after the one wrap.
pub(crate) fn rfc5649_known_answer(
    session: &Session,
    mechanism: MechanismType,
) -> Result<Option<Padding>, Error> {
    const KEK: [u8; 32] = *b"trent/pkcs11/rfc5649-kat/kek/v1!";
    const SECRET: [u8; 20] = *b"trent-kat-secret-v1!";
    let wrap = Uses {
        wrap: true,
        ..Uses::default()
    };
    let kek = objects::known_value_template(KeyType::AES, false, wrap, &KEK);
    let kek = Temp::new(session, session.create_object(&kek)?);
    let secret =
        objects::known_value_template(KeyType::GENERIC_SECRET, true, Uses::default(), &SECRET);
    let secret = Temp::new(session, session.create_object(&secret)?);
    let mechanism = Mechanism::VendorDefined(VendorDefinedMechanism::new::<()>(mechanism, None));
    let wrapped = session.wrap_key(&mechanism, kek.handle, secret.handle)?;
    let rfc5649 = |secret: &[u8]| {
        let mut out = [0u8; 40];
        let len = AesKek::new(&AES_256, &KEK)
            .and_then(|kek| kek.wrap_with_padding(secret, &mut out))
            .expect("aws-lc wraps 24 bytes")
            .len();
        out[..len].to_vec()
    };
    let mut zeros_to_8 = SECRET.to_vec();
    zeros_to_8.resize(24, 0);
    Ok(if wrapped == rfc5649(&SECRET) {
        Some(Padding::Exact)
    } else if wrapped == rfc5649(&zeros_to_8) {
        Some(Padding::ZerosTo8)
    } else {
        None
    })
}

/// Whether the token's `CKM_RSA_PKCS_OAEP` takes `algorithm`'s hash: one encryption under a
/// public key object of a fixed, public 2048-bit modulus (no key pair to generate), destroyed
/// at once. Mechanism information cannot say which hashes a token takes.
pub(crate) fn trial_oaep(session: &Session, algorithm: EncryptionAlgorithm) -> Result<(), String> {
    let mechanism = oaep_mechanism(algorithm).expect("an OAEP algorithm");
    let encrypt = Uses {
        encrypt: true,
        ..Uses::default()
    };
    let mut template = objects::public_key_template(KeyType::RSA, encrypt);
    template.push(Attribute::Modulus(vec![0xc3; 256]));
    template.push(Attribute::PublicExponent(vec![1, 0, 1]));
    let refused = |e: Error| {
        format!(
            "CKM_RSA_PKCS_OAEP with {algorithm}'s hash (the token answered {}), needed for \
             {algorithm}",
            answer(e)
        )
    };
    let key = session.create_object(&template).map_err(refused)?;
    let key = Temp::new(session, key);
    session
        .encrypt(&mechanism, key.handle, b"trent")
        .map(drop)
        .map_err(refused)
}

/// Whether the token generates a key pair on `curve` (a session pair, destroyed at once).
pub(crate) fn trial_key_pair(session: &Session, curve: &Curve) -> Result<(), String> {
    let sign = Uses {
        sign: true,
        ..Uses::default()
    };
    let (mechanism, key_type, name) = match curve.edwards {
        true => (
            Mechanism::EccEdwardsKeyPairGen,
            KeyType::EC_EDWARDS,
            "CKM_EC_EDWARDS_KEY_PAIR_GEN",
        ),
        false => (Mechanism::EccKeyPairGen, KeyType::EC, "CKM_EC_KEY_PAIR_GEN"),
    };
    let mut public = objects::public_key_template(key_type, sign);
    public.push(Attribute::EcParams(curve.params.to_vec()));
    let private = objects::private_key_template(key_type, false, sign);
    match session.generate_key_pair(&mechanism, &public, &private) {
        Ok((public, private)) => {
            drop((Temp::new(session, public), Temp::new(session, private)));
            Ok(())
        }
        Err(e) => Err(format!(
            "curve {} ({name} answered {}), needed for its keys",
            curve.name,
            answer(e)
        )),
    }
}

impl Families {
    /// Asks the token: its mechanisms, its RFC 5649 wrap (by a known-answer test), its curves
    /// (by a trial key pair each, destroyed at once).
    pub(crate) fn probe(token: &Token) -> Result<Families, HsmError> {
        let session = token.session();
        let mut wrap = None;
        for (mechanism, name) in wrap_candidates() {
            let offered = token.mechanism_info(mechanism)?;
            if !offered.is_some_and(|info| Needs::WrapUnwrap.met_by(&info)) {
                continue;
            }
            let label = &token.label;
            match rfc5649_known_answer(&session, mechanism) {
                Ok(Some(padding)) => {
                    if padding == Padding::ZerosTo8 {
                        tracing::warn!(
                            token = %label,
                            "{name} appends zeros to a secret up to a multiple of 8 bytes \
                             before RFC 5649 (SoftHSM2 before 2.7); wrapped keys carry them"
                        );
                    }
                    wrap = Some((mechanism, padding));
                    break;
                }
                Ok(None) => tracing::warn!(token = %label, "{name} is not RFC 5649"),
                Err(e) => tracing::warn!(token = %label, error = %e, "{name} failed its test"),
            }
        }
        let mut infos = HashMap::new();
        for spec in OFFERED {
            for need in needs(kind(spec).expect("offered")) {
                if let std::collections::hash_map::Entry::Vacant(slot) =
                    infos.entry(*need.mechanism)
                {
                    slot.insert(token.mechanism_info(need.mechanism)?);
                }
            }
        }
        let families = Families::assess(
            |mechanism| infos.get(&*mechanism).copied().flatten(),
            wrap,
            |curve| trial_key_pair(&session, curve),
        );
        let mut families = families;
        if families.check(KeySpec::Rsa2048).is_ok() {
            for algorithm in [
                EncryptionAlgorithm::RsaesOaepSha1,
                EncryptionAlgorithm::RsaesOaepSha256,
            ] {
                if let Err(reason) = trial_oaep(&session, algorithm) {
                    families.oaep_refused.push((algorithm, reason));
                }
            }
        }
        super::edwards::probe(&session, &mut families);
        for (algorithm, reason) in &families.signing_refused {
            tracing::warn!(token = %token.label, %algorithm, "{algorithm} refused: {reason}");
        }
        families.agree_refused = super::agree::probe(token, &session, &families)?;
        for (spec, reason) in &families.agree_refused {
            tracing::warn!(token = %token.label, %spec, "ECDH with {spec} keys refused: {reason}");
        }
        for (spec, reason) in &families.refused {
            tracing::warn!(token = %token.label, %spec, "{spec} keys refused: {reason}");
        }
        for (algorithm, reason) in &families.oaep_refused {
            tracing::warn!(token = %token.label, %algorithm, "{algorithm} refused: {reason}");
        }
        Ok(families)
    }
}
