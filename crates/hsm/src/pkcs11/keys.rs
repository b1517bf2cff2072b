//! Keys of the specs beyond SYMMETRIC_DEFAULT (HMAC, ECC, Ed25519, RSA): generated in the token,
//! wrapped out of it, and unwrapped into it for use.
//!
//! Wrapped material of these keys (blob format 4):
//! `[4][n: u16 BE][n bytes: RFC 5649 wrap of the secret under KEK(key id, version)][public][tag]`
//! - the secret is what the token's `C_WrapKey` wraps: the HMAC key's bytes, or the private
//!   key as PKCS#8 (the token's encoding; RFC 8410's for Ed25519);
//! - `public` is the SubjectPublicKeyInfo DER (what GetPublicKey answers), empty for HMAC;
//! - `tag` (32 bytes) is HMAC-SHA256 under the domain-derived MAC key (purpose
//!   `trent/pkcs11/material/v4`) of the key id, the version, the spec and everything before it.
//!
//! Guarantees: the secret unwraps only under its own key version's KEK (the one format 3
//! uses), so under no other id or version; the tag binds the spec and the public key, which
//! RFC 5649 cannot (it has no additional data), so a blob presented as another spec's, or with
//! another public key, is refused ([`HsmError::Unwrap`]) before the token unwraps anything. A
//! generated secret or private key is extractable only until its one wrap and is destroyed
//! right after (with its public key object); unwrapped keys are never extractable, and live
//! in the cache with a public key object made from the authenticated SubjectPublicKeyInfo.

use std::sync::Arc;

use cryptoki::mechanism::Mechanism;
use cryptoki::object::{Attribute, AttributeType, KeyType, ObjectHandle};
use cryptoki::session::Session;
use trent_model::{KeyId, KeySpec};

use super::cache::Unwrapped;
use super::der;
use super::edwards;
use super::families::{Kind, ED25519};
use super::objects::{self, Temp, Uses};
use super::ops::refused_input;
use super::token::fail;
use super::Pkcs11Hsm;
use crate::{HsmError, MaterialRef};

/// First byte of a format-4 blob.
pub(crate) const WRAP_FORMAT_4: u8 = 4;
const TAG_PURPOSE: &[u8] = b"trent/pkcs11/material/v4";
const TAG_LEN: usize = 32;

/// A format-4 blob's parts: the wrapped secret, the public key, everything the tag covers,
/// and the tag.
pub(super) struct Parts<'a> {
    pub(super) wrapped: &'a [u8],
    public: &'a [u8],
    body: &'a [u8],
    tag: &'a [u8],
}

pub(super) fn parse(blob: &[u8]) -> Option<Parts<'_>> {
    let body = blob.get(..blob.len().checked_sub(TAG_LEN)?)?;
    let tag = &blob[body.len()..];
    let [WRAP_FORMAT_4, hi, lo, rest @ ..] = body else {
        return None;
    };
    let n = u16::from_be_bytes([*hi, *lo]) as usize;
    let wrapped = rest.get(..n)?;
    Some(Parts {
        wrapped,
        public: &rest[n..],
        body,
        tag,
    })
}

/// The uses of each object of a kind of key: the secret or private key, the public key.
pub(super) fn uses(kind: Kind) -> (Uses, Uses) {
    let sign = Uses {
        sign: true,
        ..Uses::default()
    };
    match kind {
        // A NIST-curve key may sign or agree (ECDH): its key usage, which the HSM is not
        // told, decides; the service refuses the other before asking.
        Kind::Ec(curve) if curve.agree => (
            Uses {
                derive: true,
                ..sign
            },
            sign,
        ),
        Kind::Hmac { .. } | Kind::Ec(_) | Kind::Ed25519 => (sign, sign),
        // One RSA key may sign or decrypt: its key usage, which the HSM is not told, decides.
        Kind::Rsa(_) => (
            Uses {
                decrypt: true,
                ..sign
            },
            Uses {
                encrypt: true,
                ..sign
            },
        ),
    }
}

impl Pkcs11Hsm {
    /// The tag of a format-4 blob's `body` as `key_id` version `version` of `spec`.
    fn tag(
        &self,
        session: &Session,
        key_id: KeyId,
        version: u32,
        spec: KeySpec,
        body: &[u8],
    ) -> Result<[u8; 32], HsmError> {
        let name = spec.as_str().as_bytes();
        let mut data = Vec::with_capacity(16 + 4 + 1 + name.len() + body.len());
        data.extend_from_slice(key_id.0.as_bytes());
        data.extend_from_slice(&version.to_be_bytes());
        data.push(name.len() as u8);
        data.extend_from_slice(name);
        data.extend_from_slice(body);
        self.mac_with(session, TAG_PURPOSE, &data)
    }

    /// Generates a key of `spec` in the token and answers it wrapped (format 4).
    pub(super) fn generate_key(
        &self,
        key_id: KeyId,
        version: u32,
        spec: KeySpec,
    ) -> Result<Vec<u8>, HsmError> {
        let kind = self.families.check(spec)?;
        let session = self.token.session();
        let (secret, public) = self.generate_extractable(&session, spec, kind)?;
        self.seal_key(&session, key_id, version, spec, secret.handle, &public)
    }

    /// A fresh secret or private key of `spec` (of `kind`) in the token, extractable for its
    /// one wrap, and its SubjectPublicKeyInfo (empty for HMAC).
    pub(super) fn generate_extractable<'s>(
        &self,
        session: &'s Session,
        spec: KeySpec,
        kind: Kind,
    ) -> Result<(Temp<'s>, Vec<u8>), HsmError> {
        let generated = |e| fail(format_args!("generating a {spec} key"), e);
        Ok(match kind {
            Kind::Hmac { len, .. } => {
                let template = objects::generated_secret_template(len);
                let secret = session
                    .generate_key(&Mechanism::GenericSecretKeyGen, &template)
                    .map_err(generated)?;
                (Temp::new(session, secret), Vec::new())
            }
            Kind::Ec(_) | Kind::Ed25519 => {
                let (mechanism, curve) = match kind {
                    Kind::Ec(curve) => (Mechanism::EccKeyPairGen, curve),
                    _ => (Mechanism::EccEdwardsKeyPairGen, ED25519),
                };
                let key_type = key_type(kind);
                let mut public = objects::public_key_template(key_type, Uses::default());
                public.push(Attribute::EcParams(curve.params.to_vec()));
                let private = objects::private_key_template(key_type, true, Uses::default());
                let (public, private) = session
                    .generate_key_pair(&mechanism, &public, &private)
                    .map_err(generated)?;
                let (public, private) = (Temp::new(session, public), Temp::new(session, private));
                (private, spki_of(session, kind, public.handle)?)
            }
            Kind::Rsa(bits) => {
                let mut public = objects::public_key_template(KeyType::RSA, Uses::default());
                public.push(Attribute::ModulusBits((bits as u64).into()));
                public.push(Attribute::PublicExponent(vec![1, 0, 1]));
                let private = objects::private_key_template(KeyType::RSA, true, Uses::default());
                let (public, private) = session
                    .generate_key_pair(&Mechanism::RsaPkcsKeyPairGen, &public, &private)
                    .map_err(generated)?;
                let (public, private) = (Temp::new(session, public), Temp::new(session, private));
                (private, spki_of(session, kind, public.handle)?)
            }
        })
    }

    /// Wraps `secret` (a just-generated, extractable object) as `key_id` version `version`'s
    /// key of `spec` with public key `public` (SubjectPublicKeyInfo, empty for HMAC).
    pub(super) fn seal_key(
        &self,
        session: &Session,
        key_id: KeyId,
        version: u32,
        spec: KeySpec,
        secret: ObjectHandle,
        public: &[u8],
    ) -> Result<Vec<u8>, HsmError> {
        let kek = self.kek(session, key_id, version)?;
        let wrapped = session
            .wrap_key(&self.families.wrap_mechanism(), kek.handle, secret)
            .map_err(|e| fail(format_args!("wrapping a {spec} key"), e))?;
        let n = u16::try_from(wrapped.len())
            .map_err(|_| HsmError::Token(format!("a wrapped {spec} key is over 64 KiB")))?;
        let mut blob = Vec::with_capacity(3 + wrapped.len() + public.len() + TAG_LEN);
        blob.push(WRAP_FORMAT_4);
        blob.extend_from_slice(&n.to_be_bytes());
        blob.extend_from_slice(&wrapped);
        blob.extend_from_slice(public);
        let tag = self.tag(session, key_id, version, spec, &blob)?;
        blob.extend_from_slice(&tag);
        Ok(blob)
    }

    /// The cached token objects of `key` (of `spec`), unwrapping them on a miss, and what
    /// the key is.
    pub(super) fn key(
        &self,
        key: MaterialRef<'_>,
        spec: KeySpec,
    ) -> Result<(Arc<Unwrapped>, Kind), HsmError> {
        let kind = self.families.check(spec)?;
        let refused = || HsmError::Unwrap {
            key_id: key.key_id,
            version: key.version,
        };
        let parts = parse(key.wrapped).ok_or_else(refused)?;
        if let Some(entry) = self.cache.get(key.key_id, key.version, key.wrapped) {
            // The same blob under another spec fails its tag: refused alike.
            return match entry.spec == Some(spec) {
                true => Ok((entry, kind)),
                false => Err(refused()),
            };
        }
        let entry = {
            let session = self.token.session();
            let tag = self.tag(&session, key.key_id, key.version, spec, parts.body)?;
            if aws_lc_rs::constant_time::verify_slices_are_equal(&tag, parts.tag).is_err() {
                return Err(refused());
            }
            let (secret_uses, public_uses) = uses(kind);
            let template = match kind {
                Kind::Hmac { .. } => objects::unwrapped_secret_template(),
                _ => objects::private_key_template(key_type(kind), false, secret_uses),
            };
            let kek = self.kek(&session, key.key_id, key.version)?;
            let mechanism = self.families.wrap_mechanism();
            let secret = match session.unwrap_key(&mechanism, kek.handle, parts.wrapped, &template)
            {
                Ok(handle) => Temp::new(&session, handle),
                Err(e) if refused_input(&session, &e) => return Err(refused()),
                Err(e) => return Err(fail(format_args!("unwrapping a {spec} key"), e)),
            };
            let public = match public_template(kind, public_uses, parts.public) {
                Some(template) => Some(Temp::new(
                    &session,
                    session
                        .create_object(&template)
                        .map_err(|e| fail(format_args!("loading a {spec} public key"), e))?,
                )),
                None if matches!(kind, Kind::Hmac { .. }) && parts.public.is_empty() => None,
                None => return Err(refused()),
            };
            Arc::new(Unwrapped::of_spec(
                key.wrapped,
                spec,
                secret.keep(),
                public.map(Temp::keep),
                self.token.clone(),
            ))
        };
        self.cache.put(key.key_id, key.version, entry.clone());
        Ok((entry, kind))
    }

    /// The SubjectPublicKeyInfo of an asymmetric `key` of `spec`, authenticated.
    pub(super) fn key_public(
        &self,
        key: MaterialRef<'_>,
        spec: KeySpec,
    ) -> Result<Vec<u8>, HsmError> {
        let (_, kind) = self.key(key, spec)?;
        match (kind, parse(key.wrapped)) {
            (Kind::Hmac { .. }, _) => Err(HsmError::NoPublicKey),
            (_, Some(parts)) => Ok(parts.public.to_vec()),
            (_, None) => Err(HsmError::Unwrap {
                key_id: key.key_id,
                version: key.version,
            }),
        }
    }
}

/// The SubjectPublicKeyInfo of the public key object `public` of a key of `kind`.
pub(super) fn spki_of(
    session: &Session,
    kind: Kind,
    public: ObjectHandle,
) -> Result<Vec<u8>, HsmError> {
    match kind {
        Kind::Hmac { .. } => Err(HsmError::NoPublicKey),
        Kind::Ec(curve) => {
            let point = read(session, public, AttributeType::EcPoint)?;
            let point = der::ec_point(&point, curve.point_len()).ok_or_else(|| {
                HsmError::Token(format!("the token's {} point is not one", curve.name))
            })?;
            Ok(der::ec_spki(curve.params, point))
        }
        Kind::Ed25519 => {
            let point = read(session, public, AttributeType::EcPoint)?;
            let point = edwards::point(&point)
                .ok_or_else(|| HsmError::Token("the token's Ed25519 point is not one".into()))?;
            Ok(edwards::spki(point))
        }
        Kind::Rsa(_) => {
            let n = read(session, public, AttributeType::Modulus)?;
            let e = read(session, public, AttributeType::PublicExponent)?;
            Ok(der::rsa_spki(&n, &e))
        }
    }
}

/// The template of the public key object of a key of `kind` whose SubjectPublicKeyInfo is
/// `spki`; `None` for HMAC or a SubjectPublicKeyInfo that is not one of the kind.
pub(super) fn public_template(kind: Kind, uses: Uses, spki: &[u8]) -> Option<Vec<Attribute>> {
    match kind {
        Kind::Hmac { .. } => None,
        Kind::Ec(curve) => {
            let point = der::ec_spki_point(spki, curve.params, curve.point_len())?;
            let mut t = objects::public_key_template(KeyType::EC, uses);
            t.push(Attribute::EcParams(curve.params.to_vec()));
            t.push(Attribute::EcPoint(der::octet_string(point)));
            Some(t)
        }
        Kind::Ed25519 => {
            let point = edwards::spki_point(spki)?;
            let mut t = objects::public_key_template(KeyType::EC_EDWARDS, uses);
            t.push(Attribute::EcParams(ED25519.params.to_vec()));
            t.push(Attribute::EcPoint(der::octet_string(point)));
            Some(t)
        }
        Kind::Rsa(_) => {
            let (n, e) = der::rsa_spki_parts(spki)?;
            let mut t = objects::public_key_template(KeyType::RSA, uses);
            t.push(Attribute::Modulus(n.to_vec()));
            t.push(Attribute::PublicExponent(e.to_vec()));
            Some(t)
        }
    }
}

/// The `CKA_KEY_TYPE` of a private key of `kind` (HMAC keys are generic secrets).
pub(super) fn key_type(kind: Kind) -> KeyType {
    match kind {
        Kind::Hmac { .. } => KeyType::GENERIC_SECRET,
        Kind::Ec(_) => KeyType::EC,
        Kind::Ed25519 => KeyType::EC_EDWARDS,
        Kind::Rsa(_) => KeyType::RSA,
    }
}

/// One byte-string attribute of an object.
fn read(
    session: &Session,
    object: ObjectHandle,
    attribute: AttributeType,
) -> Result<Vec<u8>, HsmError> {
    let found = session
        .get_attributes(object, &[attribute])
        .map_err(|e| fail(format_args!("reading {attribute:?} of a new key"), e))?;
    match found.into_iter().next() {
        Some(Attribute::EcPoint(v) | Attribute::Modulus(v) | Attribute::PublicExponent(v)) => Ok(v),
        _ => Err(HsmError::Token(format!("the token gave no {attribute:?}"))),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn format_4_parses_only_whole_blobs() {
        let mut blob = vec![WRAP_FORMAT_4, 0, 3, 1, 2, 3, 9, 9];
        blob.extend_from_slice(&[7; TAG_LEN]);
        let parts = parse(&blob).unwrap();
        assert_eq!(parts.wrapped, &[1, 2, 3]);
        assert_eq!(parts.public, &[9, 9]);
        assert_eq!(parts.body.len(), 8);
        assert_eq!(parts.tag, &[7; TAG_LEN]);
        assert!(parse(&blob[..blob.len() - 1]).is_some_and(|p| p.public == [9]));
        assert!(parse(&blob[..TAG_LEN + 4]).is_none());
        blob[0] = 3;
        assert!(parse(&blob).is_none());
    }
}
