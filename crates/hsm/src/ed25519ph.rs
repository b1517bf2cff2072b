//! Ed25519ph (RFC 8032 §5.1, pre-hashed with SHA-512, empty context), which AWS KMS offers
//! as ED25519_PH_SHA_512. aws-lc implements it; aws-lc-rs does not expose it, so this calls
//! aws-lc's `ED25519ph_sign_digest`/`ED25519ph_verify_digest` through aws-lc-sys, the C
//! library aws-lc-rs itself wraps (the same build, no second implementation).

use aws_lc_rs::encoding::AsBigEndian;
use aws_lc_rs::signature::{Ed25519KeyPair, KeyPair};
use zeroize::Zeroizing;

use crate::HsmError;

const SHA512_LEN: usize = 64;
const SIGNATURE_LEN: usize = 64;

/// Signs a SHA-512 digest.
pub(crate) fn sign(key: &Ed25519KeyPair, digest: &[u8]) -> Result<Vec<u8>, HsmError> {
    if digest.len() != SHA512_LEN {
        return Err(HsmError::DigestLength);
    }
    let fail = || HsmError::Algorithm("ED25519_PH_SHA_512");
    let seed = key.seed().map_err(|_| fail())?;
    let seed = seed.as_be_bytes().map_err(|_| fail())?;
    // aws-lc's Ed25519 private key form: the 32-byte seed followed by the public key.
    let mut private = Zeroizing::new([0u8; 64]);
    private[..32].copy_from_slice(seed.as_ref());
    private[32..].copy_from_slice(key.public_key().as_ref());
    let mut signature = vec![0u8; SIGNATURE_LEN];
    // SAFETY: every pointer is to a buffer of the length aws-lc reads or writes (64-byte
    // signature, 64-byte digest, 64-byte private key); the context is empty.
    let ok = unsafe {
        aws_lc_sys::ED25519ph_sign_digest(
            signature.as_mut_ptr(),
            digest.as_ptr(),
            private.as_ptr(),
            std::ptr::null(),
            0,
        )
    };
    match ok {
        1 => Ok(signature),
        _ => Err(fail()),
    }
}

/// Whether `signature` is the key's Ed25519ph signature of the SHA-512 `digest`.
pub(crate) fn verify(key: &Ed25519KeyPair, digest: &[u8], signature: &[u8]) -> bool {
    if digest.len() != SHA512_LEN || signature.len() != SIGNATURE_LEN {
        return false;
    }
    // SAFETY: lengths checked above; the public key is 32 bytes; the context is empty.
    unsafe {
        aws_lc_sys::ED25519ph_verify_digest(
            digest.as_ptr(),
            signature.as_ptr(),
            key.public_key().as_ref().as_ptr(),
            std::ptr::null(),
            0,
        ) == 1
    }
}
