//! ECDH key agreement (DeriveSharedSecret) with NIST-curve keys in the token:
//! `CKM_ECDH1_DERIVE` with no KDF (`CKD_NULL`), the private key never leaving the token.
//!
//! The one object whose value trent reads: the AWS API answers the raw shared secret to the
//! caller (DeriveSharedSecret's `SharedSecret`), so the token derives it as a generic secret
//! that is extractable and not sensitive ([`shared_secret_template`]), trent reads its
//! `CKA_VALUE` and destroys it at once (a [`Temp`]), whatever happens; the only other use is
//! an imported ECC key's agreement with its curve's generator (`imported_ec.rs`), whose value
//! is the x-coordinate of the key's public point.
//!
//! Guarantees: the soft backend's answers for the same key pair and peer: the same secret
//! (the x-coordinate, as long as a field element, leading zeros kept), and the same refusals.
//! The peer's public key is read and checked by aws-lc exactly as the soft backend's
//! `agreement::agree` reads it (a SubjectPublicKeyInfo or a SEC 1 point, on the key's curve,
//! a valid point), else [`HsmError::PublicKey`]; only then is it handed to the token, as the
//! uncompressed point every token takes (SoftHSM2 announces no compressed points). A spec
//! without key agreement (secp256k1, HMAC, RSA) answers [`HsmError::Algorithm`]. A token that
//! cannot do ECDH on a curve (no `CKM_ECDH1_DERIVE`, or a wrong answer to the start-up
//! trial) is refused by name ([`HsmError::Pkcs11Lacks`]), never served in software.

use aws_lc_rs::agreement::{self, ParsedPublicKey, ParsedPublicKeyFormat, UnparsedPublicKey};
use aws_lc_sys::point_conversion_form_t::POINT_CONVERSION_UNCOMPRESSED;
use cryptoki::error::Error;
use cryptoki::mechanism::elliptic_curve::{EcKdf, Ecdh1DeriveParams};
use cryptoki::mechanism::{Mechanism, MechanismType};
use cryptoki::object::{Attribute, AttributeType, KeyType, ObjectClass, ObjectHandle};
use cryptoki::session::Session;
use trent_model::KeySpec;
use zeroize::Zeroizing;

use super::families::{kind, Curve, Families, Kind};
use super::objects::{self, Temp, Uses};
use super::token::{fail, Needs, Token};
use super::Pkcs11Hsm;
use crate::asymmetric::{family, Family};
use crate::{HsmError, MaterialRef, Plaintext};

/// The specs AWS offers key agreement with.
const AGREEING: [KeySpec; 3] = [
    KeySpec::EccNistP256,
    KeySpec::EccNistP384,
    KeySpec::EccNistP521,
];

/// The aws-lc agreement algorithm of `spec` (the soft backend's) and its curve's NID.
fn algorithm(spec: KeySpec) -> Option<(&'static agreement::Algorithm, i32)> {
    let nid = match spec {
        KeySpec::EccNistP256 => aws_lc_sys::NID_X9_62_prime256v1,
        KeySpec::EccNistP384 => aws_lc_sys::NID_secp384r1,
        KeySpec::EccNistP521 => aws_lc_sys::NID_secp521r1,
        _ => return None,
    };
    match family(spec) {
        Ok(Family::Ec(_, _, Some(algorithm))) => Some((algorithm, nid)),
        _ => None,
    }
}

/// The derived shared secret: a session object of `len` bytes, no use at all, and (the one
/// exception to "sensitive, never extractable", see the module docs) readable, because its
/// value is what DeriveSharedSecret answers. Destroyed as soon as it is read.
fn shared_secret_template(len: usize) -> Vec<Attribute> {
    vec![
        Attribute::Class(ObjectClass::SECRET_KEY),
        Attribute::KeyType(KeyType::GENERIC_SECRET),
        Attribute::Token(false),
        Attribute::Private(true),
        Attribute::Sensitive(false),
        Attribute::Extractable(true),
        Attribute::ValueLen((len as u64).into()),
        Attribute::Derive(false),
        Attribute::Wrap(false),
        Attribute::Unwrap(false),
        Attribute::Encrypt(false),
        Attribute::Decrypt(false),
        Attribute::Sign(false),
        Attribute::Verify(false),
    ]
}

/// `C_DeriveKey(CKM_ECDH1_DERIVE, CKD_NULL, point)` with `private`, read and destroyed.
pub(super) fn derive(
    session: &Session,
    private: ObjectHandle,
    point: &[u8],
    len: usize,
) -> Result<Plaintext, Error> {
    let params = Ecdh1DeriveParams::new(EcKdf::null(), point);
    let template = shared_secret_template(len);
    let secret = session.derive_key(&Mechanism::Ecdh1Derive(params), private, &template)?;
    let secret = Temp::new(session, secret);
    let value = session.get_attributes(secret.handle, &[AttributeType::Value])?;
    match value.into_iter().next() {
        Some(Attribute::Value(v)) => Ok(Zeroizing::new(v)),
        _ => Err(Error::NotSupported),
    }
}

/// The uncompressed form of a SEC 1 point on the curve `nid` (public data), if it is one.
pub(super) fn uncompressed(nid: i32, sec1: &[u8], point_len: usize) -> Option<Vec<u8>> {
    let mut out = vec![0u8; point_len];
    // SAFETY: the group is checked non-null and freed (a no-op for aws-lc's static groups);
    // the point is checked non-null, used only with its group, and freed; every buffer is
    // passed with its own length; no BN_CTX is needed (null is allowed).
    let written = unsafe {
        let group = aws_lc_sys::EC_GROUP_new_by_curve_name(nid);
        if group.is_null() {
            return None;
        }
        let point = aws_lc_sys::EC_POINT_new(group);
        let written = match point.is_null() {
            true => 0,
            false
                if aws_lc_sys::EC_POINT_oct2point(
                    group,
                    point,
                    sec1.as_ptr(),
                    sec1.len(),
                    std::ptr::null_mut(),
                ) != 1 =>
            {
                0
            }
            false => aws_lc_sys::EC_POINT_point2oct(
                group,
                point,
                POINT_CONVERSION_UNCOMPRESSED,
                out.as_mut_ptr(),
                out.len(),
                std::ptr::null_mut(),
            ),
        };
        aws_lc_sys::EC_POINT_free(point);
        aws_lc_sys::EC_GROUP_free(group);
        written
    };
    (written == point_len).then_some(out)
}

/// The generator of the curve `nid`, uncompressed (public data).
pub(super) fn generator(nid: i32, point_len: usize) -> Option<Vec<u8>> {
    let mut out = vec![0u8; point_len];
    // SAFETY: the group is checked non-null and freed (a no-op for aws-lc's static groups);
    // its generator is borrowed from it and not used after; the buffer is passed with its
    // own length; no BN_CTX is needed (null is allowed).
    let written = unsafe {
        let group = aws_lc_sys::EC_GROUP_new_by_curve_name(nid);
        if group.is_null() {
            return None;
        }
        let generator = aws_lc_sys::EC_GROUP_get0_generator(group);
        let written = match generator.is_null() {
            true => 0,
            false => aws_lc_sys::EC_POINT_point2oct(
                group,
                generator,
                POINT_CONVERSION_UNCOMPRESSED,
                out.as_mut_ptr(),
                out.len(),
                std::ptr::null_mut(),
            ),
        };
        aws_lc_sys::EC_GROUP_free(group);
        written
    };
    (written == point_len).then_some(out)
}

/// The uncompressed point of the peer's public key `peer`, if the soft backend accepts it
/// for `spec`: aws-lc parses and validates it as `agreement::agree` does.
fn peer_point(spec: KeySpec, curve: &Curve, peer: &[u8]) -> Option<Vec<u8>> {
    let (algorithm, nid) = algorithm(spec)?;
    let parsed = ParsedPublicKey::try_from(&UnparsedPublicKey::new(algorithm, peer)).ok()?;
    if parsed.alg() != algorithm {
        return None;
    }
    let sec1 = match parsed.format() {
        ParsedPublicKeyFormat::X509 => super::der::spki_key_bits(peer)?,
        _ => peer,
    };
    uncompressed(nid, sec1, curve.point_len())
}

impl Pkcs11Hsm {
    pub(super) fn key_agree(
        &self,
        key: MaterialRef<'_>,
        spec: KeySpec,
        peer: &[u8],
    ) -> Result<Plaintext, HsmError> {
        let (entry, kind) = self.key(key, spec)?;
        let curve = match kind {
            Kind::Ec(curve) if algorithm(spec).is_some() => curve,
            _ => return Err(HsmError::Algorithm("ECDH")),
        };
        self.families.check_agree(spec)?;
        let point = peer_point(spec, &curve, peer).ok_or(HsmError::PublicKey(spec.as_str()))?;
        derive(&self.token.session(), entry.handle, &point, curve.field)
            .map_err(|e| fail(format_args!("deriving an ECDH shared secret ({spec})"), e))
    }
}

/// The curves of `families` (those it serves) on which the token cannot do ECDH, and why:
/// `CKM_ECDH1_DERIVE` must derive on the curve's size, and pass a trial on each curve.
pub(crate) fn probe(
    token: &Token,
    session: &Session,
    families: &Families,
) -> Result<Vec<(KeySpec, String)>, HsmError> {
    let info = token.mechanism_info(MechanismType::ECDH1_DERIVE)?;
    let mut refused = Vec::new();
    for spec in AGREEING {
        let Ok(Kind::Ec(curve)) = families.check(spec) else {
            continue;
        };
        let (min, max) = info.map_or((0, 0), |i| (i.min_key_size(), i.max_key_size()));
        let reason = match info {
            Some(i) if !Needs::Derive.met_by(&i) => {
                Some("CKM_ECDH1_DERIVE with the derive use, needed for ECDH".to_string())
            }
            None => Some("CKM_ECDH1_DERIVE, needed for ECDH".to_string()),
            _ if curve.bits < min || (max != 0 && curve.bits > max) => Some(format!(
                "CKM_ECDH1_DERIVE for {}-bit keys (it takes {min}..{max}), needed for ECDH",
                curve.bits
            )),
            _ => trial(session, spec, &curve).err(),
        };
        if let Some(reason) = reason {
            refused.push((spec, format!("the token lacks {reason}")));
        }
    }
    Ok(refused)
}

/// One ECDH in the token whose answer is known without knowing the key: a fresh key pair
/// (non-extractable, destroyed at once) agrees with the curve's generator `G`, which gives
/// `d·G`, the key's own public point: the secret must be its x-coordinate.
pub(crate) fn trial(session: &Session, spec: KeySpec, curve: &Curve) -> Result<(), String> {
    let (_, nid) = algorithm(spec).expect("an agreeing spec");
    let failed = |e: Error| format!("ECDH on {} (CKM_ECDH1_DERIVE answered {e})", curve.name);
    let mut public = objects::public_key_template(KeyType::EC, Uses::default());
    public.push(Attribute::EcParams(curve.params.to_vec()));
    let private = objects::private_key_template(KeyType::EC, false, Uses::DERIVE);
    let (public, private) = session
        .generate_key_pair(&Mechanism::EccKeyPairGen, &public, &private)
        .map_err(failed)?;
    let (public, private) = (Temp::new(session, public), Temp::new(session, private));
    let point = super::keys::spki_of(session, kind(spec).expect("EC"), public.handle)
        .ok()
        .and_then(|spki| {
            super::der::ec_spki_point(&spki, curve.params, curve.point_len()).map(<[u8]>::to_vec)
        })
        .ok_or_else(|| format!("a readable {} public point", curve.name))?;
    // SAFETY: the group is checked non-null; its generator is a point of it, written into a
    // buffer of its own length; the group is freed (a no-op for aws-lc's static groups).
    let generator = unsafe {
        let group = aws_lc_sys::EC_GROUP_new_by_curve_name(nid);
        let mut out = vec![0u8; curve.point_len()];
        let n = match group.is_null() {
            true => 0,
            false => aws_lc_sys::EC_POINT_point2oct(
                group,
                aws_lc_sys::EC_GROUP_get0_generator(group),
                POINT_CONVERSION_UNCOMPRESSED,
                out.as_mut_ptr(),
                out.len(),
                std::ptr::null_mut(),
            ),
        };
        aws_lc_sys::EC_GROUP_free(group);
        out.truncate(n);
        out
    };
    let secret = derive(session, private.handle, &generator, curve.field).map_err(failed)?;
    match secret[..] == point[1..1 + curve.field] {
        true => Ok(()),
        false => Err(format!(
            "ECDH on {} that is right (its CKM_ECDH1_DERIVE failed a known-answer test)",
            curve.name
        )),
    }
}
