//! Data key pairs (GenerateDataKeyPair) from the token: the pair is generated there, by the
//! token's generator, and its private key leaves the token once, as the PKCS#8 DER that
//! GenerateDataKeyPair answers (AWS: `PrivateKeyPlaintext`; the service then seals it under
//! the caller's symmetric key, in the token too).
//!
//! Guarantees: the private key leaves through `C_WrapKey` under a one-time AES-256 transport
//! key whose bytes trentd draws from the token's generator, and is unwrapped in software
//! (RFC 5649, aws-lc) into a zeroized buffer; the transport key and both halves of the pair
//! are session objects destroyed before the answer. The PKCS#8 is checked before it is
//! answered: it must parse as a key of the spec whose public key is the token's. EC and RSA
//! pairs, and Ed25519 where the token wraps Ed25519 keys; what the token lacks is refused by
//! name ([`HsmError::Pkcs11Lacks`]), ML-KEM pairs as not offered, never made in software.

use aws_lc_rs::key_wrap::{AesKek, KeyWrapPadded, AES_256};
use cryptoki::object::{Attribute, KeyType};
use cryptoki::session::Session;
use trent_model::KeySpec;
use zeroize::Zeroizing;

use super::families::Kind;
use super::objects::{self, Temp, Uses, ValueTemplate};
use super::token::fail;
use super::Pkcs11Hsm;
use crate::{DataKeyPair, HsmError};

impl Pkcs11Hsm {
    pub(super) fn data_key_pair(&self, spec: KeySpec) -> Result<DataKeyPair, HsmError> {
        let kind = self.families.check(spec)?;
        if matches!(kind, Kind::Hmac { .. }) {
            return Err(HsmError::Spec(spec.as_str()));
        }
        let session = self.token.session();
        let (private, public_der) = self.generate_extractable(&session, spec, kind)?;
        let private_pkcs8 = self.export_once(&session, spec, &private)?;
        drop(private);
        let loaded = crate::asymmetric::load(spec, &private_pkcs8)?;
        if loaded.public_key_der(spec)? != public_der {
            return Err(HsmError::Token(format!(
                "the token's {spec} private key does not match its public key"
            )));
        }
        Ok(DataKeyPair {
            private_pkcs8,
            public_der,
        })
    }

    /// `private`'s PKCS#8, wrapped by the token under a transport key made for this one wrap.
    fn export_once(
        &self,
        session: &Session,
        spec: KeySpec,
        private: &Temp<'_>,
    ) -> Result<Zeroizing<Vec<u8>>, HsmError> {
        let mut transport = Zeroizing::new([0u8; 32]);
        session
            .generate_random_slice(transport.as_mut())
            .map_err(|e| fail("drawing a transport key", e))?;
        // Wrap only: its value is known in software, so it must never bring a key in.
        let wrap_only = Uses {
            wrap: true,
            ..Uses::default()
        };
        let mut template = objects::secret_key(KeyType::AES, false, false, wrap_only);
        for attribute in &mut template {
            if let Attribute::Unwrap(unwrap) = attribute {
                *unwrap = false;
            }
        }
        let template = ValueTemplate::new(template, transport.as_ref());
        let kek = session
            .create_object(template.attributes())
            .map_err(|e| fail("loading a transport key", e))?;
        let kek = Temp::new(session, kek);
        let wrapped = session
            .wrap_key(&self.families.wrap_mechanism(), kek.handle, private.handle)
            .map_err(|e| fail(format_args!("wrapping a {spec} data key pair"), e))?;
        let mut pkcs8 = Zeroizing::new(vec![0u8; wrapped.len()]);
        let len = AesKek::new(&AES_256, transport.as_ref())
            .and_then(|kek| {
                kek.unwrap_with_padding(&wrapped, &mut pkcs8)
                    .map(|k| k.len())
            })
            .map_err(|_| HsmError::Token(format!("the token's wrap of a {spec} key pair")))?;
        // SoftHSM2 2.6 pads what it wraps with zeros to 8 bytes (probes.rs): the DER says
        // where the key ends.
        let end = der_sequence_len(&pkcs8[..len])
            .ok_or_else(|| HsmError::Token(format!("the token's {spec} PKCS#8 is not DER")))?;
        pkcs8.truncate(end);
        Ok(pkcs8)
    }
}

/// The length of the DER SEQUENCE at the start of `der`, header included, if it fits.
fn der_sequence_len(der: &[u8]) -> Option<usize> {
    let (&tag, rest) = der.split_first()?;
    let (&first, rest) = rest.split_first()?;
    if tag != 0x30 {
        return None;
    }
    let (len, header) = match first {
        n if n < 0x80 => (n as usize, 2),
        0x81..=0x84 => {
            let n = (first & 0x7f) as usize;
            let bytes = rest.get(..n)?;
            (
                bytes.iter().fold(0usize, |l, b| l << 8 | *b as usize),
                2 + n,
            )
        }
        _ => return None,
    };
    let total = header.checked_add(len)?;
    (total <= der.len()).then_some(total)
}

#[cfg(test)]
mod tests {
    use super::der_sequence_len;

    #[test]
    fn the_der_length_ignores_padding_and_refuses_what_does_not_fit() {
        assert_eq!(der_sequence_len(&[0x30, 2, 1, 2, 0, 0, 0]), Some(4));
        assert_eq!(der_sequence_len(&[0x30, 0x81, 1, 9, 0]), Some(4));
        assert_eq!(der_sequence_len(&[0x30, 0x82, 0, 2, 7, 7]), Some(6));
        assert_eq!(der_sequence_len(&[0x30, 5, 1]), None);
        assert_eq!(der_sequence_len(&[0x04, 1, 1]), None);
        assert_eq!(der_sequence_len(&[0x30, 0x85, 0, 0, 0, 0, 1]), None);
        assert_eq!(der_sequence_len(&[]), None);
    }
}
