//! Material that arrives from the soft backend (the migration soft -> PKCS#11,
//! `crate::migrating`): put into the token once and wrapped there as the token wraps what it
//! generates, so the blob that replaces the soft one is indistinguishable from a token's own.
//!
//! Guarantees: the material crosses into the token under a one-time AES-256 transport key
//! whose bytes are drawn from the token's generator (RFC 3394 for the 32 bytes of symmetric
//! material, RFC 5649 for a secret or a PKCS#8 private key, both in software with aws-lc, then
//! `C_UnwrapKey`); the transport key and the unwrapped object are session objects destroyed
//! before the blob is answered; the unwrapped object is extractable only for its one wrap
//! under its version's KEK. Specs the token cannot serve are refused by name
//! ([`HsmError::Pkcs11Lacks`]), as for generation. The caller (the migrating HSM) held the
//! material in software already, as the soft backend always did; nothing new leaves the HSM
//! crate.

use aws_lc_rs::key_wrap::{AesKek, KeyWrap, KeyWrapPadded, AES_256};
use cryptoki::mechanism::Mechanism;
use cryptoki::object::{Attribute, KeyType};
use cryptoki::session::Session;
use trent_model::{KeyId, KeySpec};
use zeroize::Zeroizing;

use super::families::Kind;
use super::keys::key_type;
use super::objects::WRAP_FORMAT_PKCS11;
use super::objects::{self, Temp, Uses, ValueTemplate, WRAPPED_KEY_LEN, WRAPPED_LEN};
use super::token::fail;
use super::Pkcs11Hsm;
use crate::HsmError;

impl Pkcs11Hsm {
    /// `secret` (material of `spec`, serialized as the soft backend serializes it: 32 bytes
    /// for SYMMETRIC_DEFAULT, the HMAC key, or PKCS#8) as `key_id` version `version`'s blob in
    /// this token's format; `public` is its SubjectPublicKeyInfo (empty for symmetric and
    /// HMAC keys).
    pub(crate) fn adopt(
        &self,
        key_id: KeyId,
        version: u32,
        spec: KeySpec,
        secret: &[u8],
        public: &[u8],
    ) -> Result<Vec<u8>, HsmError> {
        let session = self.token.session();
        if spec == KeySpec::SymmetricDefault {
            if secret.len() != 32 {
                return Err(HsmError::Generation(spec.as_str()));
            }
            let object = self.carry_in(&session, spec, secret, None)?;
            return self.seal_material(&session, key_id, version, &object);
        }
        let kind = self.families.check(spec)?;
        let object = self.carry_in(&session, spec, secret, Some(kind))?;
        self.seal_key(&session, key_id, version, spec, object.handle, public)
    }

    /// `secret` unwrapped into the token as an extractable session object of `kind` (none:
    /// symmetric material), under a transport key made for this one unwrap.
    fn carry_in<'s>(
        &self,
        session: &'s Session,
        spec: KeySpec,
        secret: &[u8],
        kind: Option<Kind>,
    ) -> Result<Temp<'s>, HsmError> {
        let mut transport = Zeroizing::new([0u8; 32]);
        session
            .generate_random_slice(transport.as_mut())
            .map_err(|e| fail("drawing a transport key", e))?;
        let wrapped = wrap_in_software(transport.as_ref(), secret, kind.is_none())
            .ok_or_else(|| HsmError::Generation(spec.as_str()))?;
        // Unwrap only: its value is known in software, so it must never wrap anything out.
        let mut template = objects::secret_key(KeyType::AES, false, false, Uses::default());
        for attribute in &mut template {
            if let Attribute::Unwrap(unwrap) = attribute {
                *unwrap = true;
            }
        }
        let template = ValueTemplate::new(template, transport.as_ref());
        let transport = session
            .create_object(template.attributes())
            .map_err(|e| fail("loading a transport key", e))?;
        let transport = Temp::new(session, transport);
        let (mechanism, template) = match kind {
            None => (
                Mechanism::AesKeyWrap,
                objects::secret_key(KeyType::AES, false, true, Uses::default()),
            ),
            Some(Kind::Hmac { .. }) => (
                self.families.wrap_mechanism(),
                objects::secret_key(KeyType::GENERIC_SECRET, false, true, Uses::default()),
            ),
            Some(kind) => (
                self.families.wrap_mechanism(),
                objects::private_key_template(key_type(kind), true, Uses::default()),
            ),
        };
        let object = session
            .unwrap_key(&mechanism, transport.handle, &wrapped, &template)
            .map_err(|e| fail(format_args!("bringing a {spec} key into the token"), e))?;
        Ok(Temp::new(session, object))
    }

    /// Symmetric material (an extractable object) wrapped under its version's KEK: blob
    /// format 3.
    pub(super) fn seal_material(
        &self,
        session: &Session,
        key_id: KeyId,
        version: u32,
        material: &Temp<'_>,
    ) -> Result<Vec<u8>, HsmError> {
        let kek = self.kek(session, key_id, version)?;
        let wrapped = session
            .wrap_key(&Mechanism::AesKeyWrap, kek.handle, material.handle)
            .map_err(|e| fail("wrapping key material", e))?;
        if wrapped.len() != WRAPPED_KEY_LEN {
            return Err(HsmError::Token(format!(
                "the token wrapped 32 bytes of material into {} bytes, not {WRAPPED_KEY_LEN}",
                wrapped.len()
            )));
        }
        let mut blob = Vec::with_capacity(WRAPPED_LEN);
        blob.push(WRAP_FORMAT_PKCS11);
        blob.extend_from_slice(&wrapped);
        Ok(blob)
    }
}

/// RFC 3394 (`exact`: a multiple of 8 bytes) or RFC 5649 wrap of `secret` under `kek`.
fn wrap_in_software(kek: &[u8], secret: &[u8], exact: bool) -> Option<Vec<u8>> {
    let kek = AesKek::new(&AES_256, kek).ok()?;
    let mut out = vec![0u8; secret.len() + 16];
    let len = match exact {
        true => kek.wrap(secret, &mut out).ok()?.len(),
        false => kek.wrap_with_padding(secret, &mut out).ok()?.len(),
    };
    out.truncate(len);
    Some(out)
}
