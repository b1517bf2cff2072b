//! The soft backend's wrapping under the domain key: every key's material and every secret
//! the service keeps (SigV4 secrets, import tokens) is stored only as AES-256-GCM under the
//! domain key, bound by its additional data to what it is.
//!
//! Formats (the first byte):
//! - 1: `[1][nonce 12][sealed + tag 16]`: SYMMETRIC_DEFAULT material (32 bytes sealed, the key
//!   id and version bound), or a secret (its label bound);
//! - 2: `[2][nonce 12][sealed + tag 16]`: the material of any other spec, the spec bound too.
//!
//! Guarantees: what is unwrapped comes back zeroizing; a blob unwraps only as what it was
//! wrapped as (another key id, version, spec or label fails authentication); nonces are
//! random and never repeat under the domain key in practice (96 bits from a CSPRNG).

use aes_gcm::aead::{Aead, KeyInit, Payload};
use aes_gcm::{Aes256Gcm, Key, Nonce};
use rand::RngCore;
use trent_model::{KeyId, KeySpec};
use zeroize::Zeroizing;

use crate::{HsmError, MaterialRef, Plaintext, NONCE_LEN};

/// Format byte of a wrapped symmetric key or secret.
const WRAP_FORMAT: u8 = 1;
/// Format byte of a wrapped key of any other spec.
const WRAP_FORMAT_2: u8 = 2;
pub(crate) const TAG_LEN: usize = 16;
const WRAPPED_LEN: usize = 1 + NONCE_LEN + 32 + TAG_LEN;
const MATERIAL_AAD: &[u8] = b"trent/material/v1";
const MATERIAL_AAD_2: &[u8] = b"trent/material/v2";
const SECRET_AAD: &[u8] = b"trent/secret/v1";

/// The domain key as a wrapping cipher.
pub(crate) struct DomainWrap {
    domain: Aes256Gcm,
}

impl DomainWrap {
    pub(crate) fn new(domain_key: &[u8]) -> DomainWrap {
        DomainWrap {
            domain: Aes256Gcm::new(Key::<Aes256Gcm>::from_slice(domain_key)),
        }
    }

    /// Wraps `secret` as `key_id` version `version`'s material of `spec`: format 1 for
    /// symmetric material, format 2 (the spec bound too) for every other spec.
    pub(crate) fn wrap_material(
        &self,
        key_id: KeyId,
        version: u32,
        spec: KeySpec,
        secret: &[u8],
    ) -> Vec<u8> {
        match spec {
            KeySpec::SymmetricDefault => {
                self.seal(WRAP_FORMAT, secret, &material_aad(key_id, version))
            }
            _ => self.seal(
                WRAP_FORMAT_2,
                secret,
                &material_aad_2(key_id, version, spec),
            ),
        }
    }

    /// The SYMMETRIC_DEFAULT material of `key` (format 1).
    pub(crate) fn unwrap_material(&self, key: MaterialRef<'_>) -> Result<Plaintext, HsmError> {
        let w = key.wrapped;
        if w.len() != WRAPPED_LEN || w[0] != WRAP_FORMAT {
            return Err(unwrap_failed(key));
        }
        self.open(w, &material_aad(key.key_id, key.version))
            .ok_or_else(|| unwrap_failed(key))
    }

    /// The material of `key`, of a spec other than SYMMETRIC_DEFAULT (format 2).
    pub(crate) fn unwrap_other(
        &self,
        key: MaterialRef<'_>,
        spec: KeySpec,
    ) -> Result<Plaintext, HsmError> {
        let w = key.wrapped;
        if w.len() < 1 + NONCE_LEN + TAG_LEN || w[0] != WRAP_FORMAT_2 {
            return Err(unwrap_failed(key));
        }
        self.open(w, &material_aad_2(key.key_id, key.version, spec))
            .ok_or_else(|| unwrap_failed(key))
    }

    /// Wraps a secret under `label` (format 1).
    pub(crate) fn wrap_secret(&self, label: &[u8], secret: &[u8]) -> Vec<u8> {
        self.seal(WRAP_FORMAT, secret, &secret_aad(label))
    }

    /// The secret `wrapped` under `label`.
    pub(crate) fn unwrap_secret(
        &self,
        label: &[u8],
        wrapped: &[u8],
    ) -> Result<Plaintext, HsmError> {
        if wrapped.len() < 1 + NONCE_LEN + TAG_LEN || wrapped[0] != WRAP_FORMAT {
            return Err(HsmError::UnwrapSecret);
        }
        self.open(wrapped, &secret_aad(label))
            .ok_or(HsmError::UnwrapSecret)
    }

    fn seal(&self, format: u8, plaintext: &[u8], aad: &[u8]) -> Vec<u8> {
        let nonce = fresh_nonce();
        let sealed = self
            .domain
            .encrypt(
                Nonce::from_slice(&nonce),
                Payload {
                    msg: plaintext,
                    aad,
                },
            )
            .expect("AES-GCM sealing of a short message cannot fail");
        let mut out = Vec::with_capacity(1 + NONCE_LEN + sealed.len());
        out.push(format);
        out.extend_from_slice(&nonce);
        out.extend_from_slice(&sealed);
        out
    }

    /// The plaintext of `wrapped` (format byte, nonce, sealed), its length checked by the
    /// caller; `None` when it does not authenticate.
    fn open(&self, wrapped: &[u8], aad: &[u8]) -> Option<Plaintext> {
        let nonce = Nonce::from_slice(&wrapped[1..1 + NONCE_LEN]);
        let payload = Payload {
            msg: &wrapped[1 + NONCE_LEN..],
            aad,
        };
        self.domain.decrypt(nonce, payload).ok().map(Zeroizing::new)
    }
}

fn unwrap_failed(key: MaterialRef<'_>) -> HsmError {
    HsmError::Unwrap {
        key_id: key.key_id,
        version: key.version,
    }
}

/// Whether `wrapped` (material or a secret) is in one of this backend's formats, 1 or 2.
pub(crate) fn is_soft_blob(wrapped: &[u8]) -> bool {
    matches!(wrapped.first(), Some(&WRAP_FORMAT) | Some(&WRAP_FORMAT_2))
}

/// A random 96-bit nonce. From the thread's CSPRNG (ChaCha12, seeded and periodically
/// reseeded from the OS): a nonce must never repeat under one key, which a CSPRNG gives as
/// well as the OS does, without a system call per message. Key material and data keys
/// still come straight from the OS ([`crate::Hsm::random`]).
pub(crate) fn fresh_nonce() -> [u8; NONCE_LEN] {
    let mut nonce = [0u8; NONCE_LEN];
    rand::thread_rng().fill_bytes(&mut nonce);
    nonce
}

fn material_aad(key_id: KeyId, version: u32) -> Vec<u8> {
    let mut aad = MATERIAL_AAD.to_vec();
    aad.extend_from_slice(key_id.0.as_bytes());
    aad.extend_from_slice(&version.to_be_bytes());
    aad
}

fn material_aad_2(key_id: KeyId, version: u32, spec: KeySpec) -> Vec<u8> {
    let mut aad = MATERIAL_AAD_2.to_vec();
    aad.extend_from_slice(key_id.0.as_bytes());
    aad.extend_from_slice(&version.to_be_bytes());
    aad.extend_from_slice(spec.as_str().as_bytes());
    aad
}

fn secret_aad(label: &[u8]) -> Vec<u8> {
    let mut aad = SECRET_AAD.to_vec();
    aad.extend_from_slice(&(label.len() as u32).to_be_bytes());
    aad.extend_from_slice(label);
    aad
}
