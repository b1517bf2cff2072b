//! Which key specs beyond SYMMETRIC_DEFAULT this token serves, and which algorithms with
//! them, decided once when it is opened (`probes.rs`): from what the token says of each
//! mechanism (`C_GetMechanismInfo`: present, with the flags and key sizes needed), a
//! known-answer test of its RFC 5649 key wrap, a trial key pair on each curve, and the trials
//! of `agree.rs` (ECDH) and `edwards.rs` (Ed25519 wrap round trip, EdDSA known answers).
//!
//! Guarantees: keys of a spec, or an algorithm with them (ECDH, an OAEP hash, Ed25519ph), are
//! used only if everything they need is there; otherwise [`HsmError::Pkcs11Lacks`] names what
//! is missing and what it is for, never a software fallback; refusals are logged at open.
//! ML-DSA and ML-KEM answer [`HsmError::Pkcs11Unsupported`]; SYMMETRIC_DEFAULT and SM2 answer
//! [`HsmError::Spec`], as the soft backend's `generate` does.

use cryptoki::mechanism::rsa::{PkcsMgfType, PkcsOaepParams, PkcsOaepSource};
use cryptoki::mechanism::vendor_defined::VendorDefinedMechanism;
use cryptoki::mechanism::{Mechanism, MechanismInfo, MechanismType};
use trent_model::{EncryptionAlgorithm, KeySpec, MacAlgorithm, SigningAlgorithm};

use super::probes::Padding;
use super::token::{raw_mechanism, Needs, CKM_AES_KEY_WRAP_KWP};
use crate::HsmError;

/// What a spec's keys are in the token.
#[derive(Clone, Copy, Debug)]
pub(crate) enum Kind {
    /// A generic secret of `len` bytes, for HMAC with `algorithm`.
    Hmac {
        len: usize,
        algorithm: MacAlgorithm,
    },
    Ec(Curve),
    /// An Ed25519 key (`CKK_EC_EDWARDS`, `edwards.rs`).
    Ed25519,
    /// An RSA key of this many bits.
    Rsa(usize),
}

#[derive(Clone, Copy, Debug)]
pub(crate) struct Curve {
    pub(crate) name: &'static str,
    /// The curve's OBJECT IDENTIFIER, DER, as `CKA_EC_PARAMS` holds it.
    pub(crate) params: &'static [u8],
    /// The length of a field element, and of each of `r` and `s`.
    pub(crate) field: usize,
    pub(crate) bits: usize,
    /// Whether AWS offers key agreement (ECDH) on the curve: the NIST curves, not secp256k1.
    pub(crate) agree: bool,
    /// An Edwards curve (`CKM_EC_EDWARDS_KEY_PAIR_GEN`, `CKK_EC_EDWARDS`).
    pub(crate) edwards: bool,
}

impl Curve {
    /// The length of an uncompressed point.
    pub(crate) fn point_len(&self) -> usize {
        1 + 2 * self.field
    }
}

/// The specs this backend implements beyond SYMMETRIC_DEFAULT.
pub(crate) const OFFERED: [KeySpec; 12] = [
    KeySpec::Hmac224,
    KeySpec::Hmac256,
    KeySpec::Hmac384,
    KeySpec::Hmac512,
    KeySpec::EccNistP256,
    KeySpec::EccNistP384,
    KeySpec::EccNistP521,
    KeySpec::EccSecgP256k1,
    KeySpec::EccNistEdwards25519,
    KeySpec::Rsa2048,
    KeySpec::Rsa3072,
    KeySpec::Rsa4096,
];

pub(crate) fn kind(spec: KeySpec) -> Option<Kind> {
    use KeySpec::*;
    let curve = |name, params, field, bits| {
        Kind::Ec(Curve {
            name,
            params,
            field,
            bits,
            agree: params != SECP256K1,
            edwards: false,
        })
    };
    let hmac = |len, algorithm| Kind::Hmac { len, algorithm };
    Some(match spec {
        Hmac224 => hmac(28, MacAlgorithm::HmacSha224),
        Hmac256 => hmac(32, MacAlgorithm::HmacSha256),
        Hmac384 => hmac(48, MacAlgorithm::HmacSha384),
        Hmac512 => hmac(64, MacAlgorithm::HmacSha512),
        EccNistP256 => curve("P-256", P256, 32, 256),
        EccNistP384 => curve("P-384", P384, 48, 384),
        EccNistP521 => curve("P-521", P521, 66, 521),
        EccSecgP256k1 => curve("secp256k1", SECP256K1, 32, 256),
        EccNistEdwards25519 => Kind::Ed25519,
        Rsa2048 => Kind::Rsa(2048),
        Rsa3072 => Kind::Rsa(3072),
        Rsa4096 => Kind::Rsa(4096),
        _ => return None,
    })
}

/// P-256 (prime256v1, 1.2.840.10045.3.1.7) as `CKA_EC_PARAMS` holds it; also the audit key's.
pub(crate) const P256: &[u8] = &[0x06, 0x08, 0x2a, 0x86, 0x48, 0xce, 0x3d, 0x03, 0x01, 0x07];
const P384: &[u8] = &[0x06, 0x05, 0x2b, 0x81, 0x04, 0x00, 0x22];
const P521: &[u8] = &[0x06, 0x05, 0x2b, 0x81, 0x04, 0x00, 0x23];
const SECP256K1: &[u8] = &[0x06, 0x05, 0x2b, 0x81, 0x04, 0x00, 0x0a];

/// Ed25519 as the key pair trial and generation see it: `CKA_EC_PARAMS` is the OBJECT
/// IDENTIFIER id-Ed25519 (1.3.101.112, RFC 8410), the form PKCS#11 3.0 and SoftHSM2 take.
pub(crate) const ED25519: Curve = Curve {
    name: "Ed25519",
    params: &[0x06, 0x03, 0x2b, 0x65, 0x70],
    field: 32,
    bits: 256,
    agree: false,
    edwards: true,
};

/// The HMAC mechanism of `algorithm` and its name.
pub(crate) fn hmac_mechanism(algorithm: MacAlgorithm) -> (Mechanism<'static>, &'static str) {
    match algorithm {
        MacAlgorithm::HmacSha224 => (Mechanism::Sha224Hmac, "CKM_SHA224_HMAC"),
        MacAlgorithm::HmacSha256 => (Mechanism::Sha256Hmac, "CKM_SHA256_HMAC"),
        MacAlgorithm::HmacSha384 => (Mechanism::Sha384Hmac, "CKM_SHA384_HMAC"),
        MacAlgorithm::HmacSha512 => (Mechanism::Sha512Hmac, "CKM_SHA512_HMAC"),
    }
}

/// One mechanism a kind of key needs: with which flags, for what, and (RSA, EC) whether the
/// token's key size range must hold the key's bits.
pub(crate) struct Need {
    pub(crate) mechanism: MechanismType,
    needs: Needs,
    name: &'static str,
    what: &'static str,
    bits: Option<usize>,
}

impl Need {
    /// Why the token's answer for this mechanism does not do, if it does not.
    fn lacking(&self, info: Option<MechanismInfo>) -> Option<String> {
        let Need { name, what, .. } = self;
        let Some(info) = info else {
            return Some(format!("{name}, needed for {what}"));
        };
        if !self.needs.met_by(&info) {
            return Some(format!("{name} with the use needed for {what}"));
        }
        let (min, max) = (info.min_key_size(), info.max_key_size());
        match self.bits {
            // A maximum of 0 is a token saying nothing of sizes.
            Some(bits) if bits < min || (max != 0 && bits > max) => Some(format!(
                "{name} for {bits}-bit keys (it takes {min}..{max}), needed for {what}"
            )),
            _ => None,
        }
    }
}

pub(crate) fn needs(kind: Kind) -> Vec<Need> {
    let need = |mechanism, needs, name, what, bits| Need {
        mechanism,
        needs,
        name,
        what,
        bits,
    };
    match kind {
        Kind::Hmac { algorithm, .. } => {
            let (mechanism, name) = hmac_mechanism(algorithm);
            vec![
                need(
                    MechanismType::GENERIC_SECRET_KEY_GEN,
                    Needs::Generate,
                    "CKM_GENERIC_SECRET_KEY_GEN",
                    "generating HMAC keys",
                    None,
                ),
                // HMAC key sizes are in bytes for some tokens and bits for others, so the
                // range is not checked; a token refusing the size says so at the MAC.
                need(
                    mechanism.mechanism_type(),
                    Needs::SignVerify,
                    name,
                    "computing and verifying MACs",
                    None,
                ),
            ]
        }
        Kind::Ec(curve) => vec![
            need(
                MechanismType::ECC_KEY_PAIR_GEN,
                Needs::GenerateKeyPair,
                "CKM_EC_KEY_PAIR_GEN",
                "generating ECC key pairs",
                Some(curve.bits),
            ),
            need(
                MechanismType::ECDSA,
                Needs::SignVerify,
                "CKM_ECDSA",
                "ECDSA signatures",
                Some(curve.bits),
            ),
        ],
        Kind::Ed25519 => vec![
            need(
                MechanismType::ECC_EDWARDS_KEY_PAIR_GEN,
                Needs::GenerateKeyPair,
                "CKM_EC_EDWARDS_KEY_PAIR_GEN",
                "generating Ed25519 key pairs",
                Some(ED25519.bits),
            ),
            need(
                MechanismType::EDDSA,
                Needs::SignVerify,
                "CKM_EDDSA",
                "Ed25519 signatures",
                Some(ED25519.bits),
            ),
        ],
        Kind::Rsa(bits) => vec![
            need(
                MechanismType::RSA_PKCS_KEY_PAIR_GEN,
                Needs::GenerateKeyPair,
                "CKM_RSA_PKCS_KEY_PAIR_GEN",
                "generating RSA key pairs",
                Some(bits),
            ),
            need(
                MechanismType::RSA_PKCS,
                Needs::SignVerify,
                "CKM_RSA_PKCS",
                "RSASSA_PKCS1_V1_5 signatures",
                Some(bits),
            ),
            need(
                MechanismType::RSA_PKCS_PSS,
                Needs::SignVerify,
                "CKM_RSA_PKCS_PSS",
                "RSASSA_PSS signatures",
                Some(bits),
            ),
            need(
                MechanismType::RSA_PKCS_OAEP,
                Needs::EncryptDecrypt,
                "CKM_RSA_PKCS_OAEP",
                "RSAES_OAEP encryption",
                Some(bits),
            ),
        ],
    }
}

/// What the token can hold, found at open.
pub(crate) struct Families {
    /// The mechanism that computes RFC 5649 (KWP) in this token, if any, and how.
    pub(crate) wrap: Option<(MechanismType, Padding)>,
    pub(crate) refused: Vec<(KeySpec, String)>,
    /// Curves on which the token cannot do ECDH (`agree.rs`), and why: key agreement with
    /// their keys is refused, their signatures still served.
    pub(crate) agree_refused: Vec<(KeySpec, String)>,
    /// Signing algorithms the token cannot do with keys it otherwise serves (SoftHSM2 2.6
    /// has no Ed25519ph), and why.
    pub(crate) signing_refused: Vec<(SigningAlgorithm, String)>,
    /// OAEP hashes the token's `CKM_RSA_PKCS_OAEP` refuses (SoftHSM2 2.6 takes SHA-1 only),
    /// and why: the algorithm is refused, the key's other algorithms still served.
    pub(crate) oaep_refused: Vec<(EncryptionAlgorithm, String)>,
}

/// The RFC 5649 mechanisms to try, best first: `CKM_AES_KEY_WRAP_KWP` is RFC 5649 by
/// definition; `CKM_AES_KEY_WRAP_PAD` is RFC 5649 in SoftHSM2 but RFC 3394 over PKCS#7
/// padding in PKCS#11 2.40, so it is used only if it passes the known-answer test.
pub(crate) fn wrap_candidates() -> [(MechanismType, &'static str); 2] {
    [
        (raw_mechanism(CKM_AES_KEY_WRAP_KWP), "CKM_AES_KEY_WRAP_KWP"),
        (MechanismType::AES_KEY_WRAP_PAD, "CKM_AES_KEY_WRAP_PAD"),
    ]
}

impl Families {
    /// Which specs the token serves, given its mechanisms (`info`), its RFC 5649 mechanism,
    /// and whether it generates keys on a curve.
    pub(crate) fn assess(
        info: impl Fn(MechanismType) -> Option<MechanismInfo>,
        wrap: Option<(MechanismType, Padding)>,
        mut curve_ok: impl FnMut(&Curve) -> Result<(), String>,
    ) -> Families {
        let mut refused = Vec::new();
        for spec in OFFERED {
            let kind = kind(spec).expect("offered");
            let mut missing: Vec<String> = needs(kind)
                .iter()
                .filter_map(|need| need.lacking(info(need.mechanism)))
                .collect();
            if wrap.is_none() {
                missing.push(
                    "CKM_AES_KEY_WRAP_KWP (RFC 5649; its CKM_AES_KEY_WRAP_PAD is absent or not \
                     RFC 5649), needed for wrapping the key out of the token"
                        .into(),
                );
            }
            let curve = match kind {
                Kind::Ec(curve) => Some(curve),
                Kind::Ed25519 => Some(ED25519),
                _ => None,
            };
            if let (true, Some(curve)) = (missing.is_empty(), curve) {
                if let Err(e) = curve_ok(&curve) {
                    missing.push(e);
                }
            }
            if !missing.is_empty() {
                refused.push((spec, format!("the token lacks {}", missing.join("; "))));
            }
        }
        Families {
            wrap,
            refused,
            agree_refused: Vec::new(),
            signing_refused: Vec::new(),
            oaep_refused: Vec::new(),
        }
    }

    /// What keys of `spec` are in the token, if it serves them.
    pub(crate) fn check(&self, spec: KeySpec) -> Result<Kind, HsmError> {
        let Some(kind) = kind(spec) else {
            return Err(match spec {
                KeySpec::SymmetricDefault | KeySpec::Sm2 => HsmError::Spec(spec.as_str()),
                _ => HsmError::Pkcs11Unsupported("ML-DSA or ML-KEM keys"),
            });
        };
        match self.refused.iter().find(|(refused, _)| *refused == spec) {
            Some((_, reason)) => Err(HsmError::Pkcs11Lacks {
                what: format!("{spec} keys"),
                reason: reason.clone(),
            }),
            None => Ok(kind),
        }
    }

    /// Whether the token signs with `algorithm` (with keys of `spec`, which it serves).
    pub(crate) fn check_signing(
        &self,
        spec: KeySpec,
        algorithm: SigningAlgorithm,
    ) -> Result<(), HsmError> {
        match self.signing_refused.iter().find(|(a, _)| *a == algorithm) {
            Some((_, reason)) => Err(HsmError::Pkcs11Lacks {
                what: format!("{algorithm} with {spec} keys"),
                reason: reason.clone(),
            }),
            None => Ok(()),
        }
    }

    /// Whether the token does ECDH with keys of `spec`.
    pub(crate) fn check_agree(&self, spec: KeySpec) -> Result<(), HsmError> {
        match self.agree_refused.iter().find(|(s, _)| *s == spec) {
            Some((_, reason)) => Err(HsmError::Pkcs11Lacks {
                what: format!("key agreement (ECDH) with {spec} keys"),
                reason: reason.clone(),
            }),
            None => Ok(()),
        }
    }

    /// Whether the token does RSA-OAEP with the hash of `algorithm` (for keys of `spec`).
    pub(crate) fn check_oaep(
        &self,
        spec: KeySpec,
        algorithm: EncryptionAlgorithm,
    ) -> Result<(), HsmError> {
        match self.oaep_refused.iter().find(|(a, _)| *a == algorithm) {
            Some((_, reason)) => Err(HsmError::Pkcs11Lacks {
                what: format!("{algorithm} with {spec} keys"),
                reason: reason.clone(),
            }),
            None => Ok(()),
        }
    }

    /// The mechanism chosen for RFC 5649, if any.
    #[cfg(test)]
    pub(crate) fn wrap(&self) -> Option<(MechanismType, Padding)> {
        self.wrap
    }

    /// The RFC 5649 wrap (only called for a spec [`Families::check`] let through).
    pub(crate) fn wrap_mechanism(&self) -> Mechanism<'static> {
        let (mechanism, _) = self.wrap.expect("a checked spec has an RFC 5649 wrap");
        Mechanism::VendorDefined(VendorDefinedMechanism::new::<()>(mechanism, None))
    }
}

/// The token mechanism of RSA-OAEP `algorithm` (no label, MGF1 with the same hash, as
/// aws-lc's `OAEP_SHA1_MGF1SHA1` and `OAEP_SHA256_MGF1SHA256`).
pub(crate) fn oaep_mechanism(algorithm: EncryptionAlgorithm) -> Option<Mechanism<'static>> {
    let (hash, mgf) = match algorithm {
        EncryptionAlgorithm::RsaesOaepSha1 => (MechanismType::SHA1, PkcsMgfType::MGF1_SHA1),
        EncryptionAlgorithm::RsaesOaepSha256 => (MechanismType::SHA256, PkcsMgfType::MGF1_SHA256),
        _ => return None,
    };
    let params = PkcsOaepParams::new(hash, mgf, PkcsOaepSource::empty());
    Some(Mechanism::RsaPkcsOaep(params))
}
