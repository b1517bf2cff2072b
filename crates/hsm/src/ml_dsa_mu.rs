//! ML-DSA signing and verification of an external μ (FIPS 204 §6.2, AWS's MessageType
//! EXTERNAL_MU): aws-lc signs a 64-byte μ through `EVP_PKEY_sign` (its "digest path"), but
//! aws-lc-rs's API signs only whole messages, so this holds the key as aws-lc's own
//! `EVP_PKEY`, parsed from the same PKCS#8, and calls aws-lc-sys (the same library).

use std::ptr;

use aws_lc_sys as lc;

use crate::HsmError;

/// ML-DSA's μ length.
const MU_LEN: usize = 64;

/// An aws-lc private key, freed (and cleared: aws-lc's `OPENSSL_free`) on drop.
pub(crate) struct MuKey(*mut lc::EVP_PKEY);

// SAFETY: aws-lc allows concurrent use of an `EVP_PKEY` by non-mutating functions; every
// operation here makes its own `EVP_PKEY_CTX` and never mutates the key.
unsafe impl Send for MuKey {}
unsafe impl Sync for MuKey {}

impl Drop for MuKey {
    fn drop(&mut self) {
        // SAFETY: the key is exclusively owned here.
        unsafe { lc::EVP_PKEY_free(self.0) }
    }
}

/// A context over the key, freed on drop.
struct Ctx(*mut lc::EVP_PKEY_CTX);

impl Drop for Ctx {
    fn drop(&mut self) {
        // SAFETY: exclusively owned; free accepts null.
        unsafe { lc::EVP_PKEY_CTX_free(self.0) }
    }
}

impl MuKey {
    /// Parses an ML-DSA PKCS#8 private key.
    pub(crate) fn parse(pkcs8: &[u8]) -> Result<MuKey, HsmError> {
        // SAFETY: the CBS borrows `pkcs8` for the duration of the parse only.
        let key = unsafe {
            let mut cbs = lc::CBS {
                data: ptr::null(),
                len: 0,
            };
            lc::CBS_init(&mut cbs, pkcs8.as_ptr(), pkcs8.len());
            lc::EVP_parse_private_key(&mut cbs)
        };
        match key.is_null() {
            true => Err(HsmError::Generation("ML_DSA")),
            false => Ok(MuKey(key)),
        }
    }

    fn ctx(&self) -> Result<Ctx, HsmError> {
        // SAFETY: the key outlives the context (both are dropped by their owners; the
        // context is dropped at the end of the caller's operation).
        let ctx = Ctx(unsafe { lc::EVP_PKEY_CTX_new(self.0, ptr::null_mut()) });
        match ctx.0.is_null() {
            true => Err(HsmError::Algorithm("ML_DSA_SHAKE_256")),
            false => Ok(ctx),
        }
    }

    /// Signs the 64-byte μ.
    pub(crate) fn sign(&self, mu: &[u8], signature_len: usize) -> Result<Vec<u8>, HsmError> {
        if mu.len() != MU_LEN {
            return Err(HsmError::DigestLength);
        }
        let fail = || HsmError::Algorithm("ML_DSA_SHAKE_256");
        let ctx = self.ctx()?;
        let mut signature = vec![0u8; signature_len];
        let mut len = signature.len();
        // SAFETY: the buffers have the lengths passed with them.
        let ok = unsafe {
            lc::EVP_PKEY_sign_init(ctx.0) == 1
                && lc::EVP_PKEY_sign(ctx.0, signature.as_mut_ptr(), &mut len, mu.as_ptr(), MU_LEN)
                    == 1
        };
        if !ok || len > signature.len() {
            return Err(fail());
        }
        signature.truncate(len);
        Ok(signature)
    }

    /// Whether `signature` is the key's signature of the 64-byte μ.
    pub(crate) fn verify(&self, mu: &[u8], signature: &[u8]) -> Result<bool, HsmError> {
        if mu.len() != MU_LEN {
            return Err(HsmError::DigestLength);
        }
        let ctx = self.ctx()?;
        // SAFETY: the buffers have the lengths passed with them.
        Ok(unsafe {
            lc::EVP_PKEY_verify_init(ctx.0) == 1
                && lc::EVP_PKEY_verify(
                    ctx.0,
                    signature.as_ptr(),
                    signature.len(),
                    mu.as_ptr(),
                    MU_LEN,
                ) == 1
        })
    }
}
