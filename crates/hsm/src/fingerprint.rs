//! The fingerprint of imported key material, which a re-import is compared with: the same
//! material must give the same fingerprint under either backend and under any domain key (a
//! cluster migrated from the soft backend to a token has a new one), without the material
//! leaving a token.
//!
//! Fingerprint (v2): `SHA-256(len | "trent/import-fingerprint/v2" | key id | check)`, where
//! the check is a value of the material that reveals nothing of it (the kind a key ceremony
//! publishes) and that a token computes with an ordinary operation:
//! - SYMMETRIC_DEFAULT: `AES-256-ECB(material, "F"|1|"fingerprint/v2" || "F"|2|...)`, a key
//!   check value (`C_Encrypt` with `CKM_AES_ECB` in a token);
//! - HMAC: HMAC of `"trent/import-fingerprint/v2"` with the spec's hash (`C_Sign`);
//! - RSA and ECC: the SubjectPublicKeyInfo, which determines the private key.
//!
//! Unkeyed, it lets whoever holds it confirm a guess of the material, as a key check value
//! does; imported material is at least 224 random bits (AWS's requirement), which no guess
//! reaches. The soft backend fingerprinted the material itself before, under a domain MAC
//! (v1: `domain_mac("trent/import-fingerprint/v1", key id || material)`); versions recorded
//! with it are still matched through [`crate::ImportedMaterial::earlier_fingerprint`].

use aes::cipher::{BlockEncrypt, KeyInit};
use aes::Aes256;
use aws_lc_rs::{digest, hmac};
use trent_model::{KeyId, KeySpec};

use crate::asymmetric::{self, family, Family};
use crate::HsmError;

/// What the fingerprint's hash begins with.
const PURPOSE: &[u8] = b"trent/import-fingerprint/v2";
/// The message an HMAC key MACs for its check value.
pub(crate) const HMAC_CHECK_MESSAGE: &[u8] = PURPOSE;

/// The two blocks a SYMMETRIC_DEFAULT key encrypts for its check value: label "F" (no other
/// derivation uses it), counters 1 and 2, and the text, zero padded.
pub(crate) fn symmetric_check_input() -> [u8; 32] {
    const TEXT: &[u8] = b"fingerprint/v2";
    let mut input = [0u8; 32];
    for (i, block) in input.chunks_exact_mut(16).enumerate() {
        block[0] = b'F';
        block[1] = i as u8 + 1;
        block[2..2 + TEXT.len()].copy_from_slice(TEXT);
    }
    input
}

/// The fingerprint of `key_id`'s material whose check value is `check`.
pub(crate) fn of(key_id: KeyId, check: &[u8]) -> [u8; 32] {
    let mut hash = digest::Context::new(&digest::SHA256);
    hash.update(&[PURPOSE.len() as u8]);
    hash.update(PURPOSE);
    hash.update(key_id.as_bytes());
    hash.update(check);
    hash.finish()
        .as_ref()
        .try_into()
        .expect("SHA-256 is 32 bytes")
}

/// The check value of `secret` (as the soft backend stores material of `spec`).
pub(crate) fn soft_check(spec: KeySpec, secret: &[u8]) -> Result<Vec<u8>, HsmError> {
    if spec == KeySpec::SymmetricDefault {
        let cipher = Aes256::new_from_slice(secret).map_err(|_| HsmError::Spec(spec.as_str()))?;
        let mut check = symmetric_check_input();
        for block in check.chunks_exact_mut(16) {
            cipher.encrypt_block(block.into());
        }
        return Ok(check.to_vec());
    }
    match family(spec)? {
        Family::Hmac(algorithm, _) => {
            let key = hmac::Key::new(algorithm, secret);
            Ok(hmac::sign(&key, HMAC_CHECK_MESSAGE).as_ref().to_vec())
        }
        _ => asymmetric::load(spec, secret)?.public_key_der(spec),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Computed independently: `openssl enc -aes-256-ecb -nopad -K 00..1f` of the input.
    #[test]
    fn the_symmetric_check_is_aes_ecb_of_the_two_blocks() {
        let input = symmetric_check_input();
        assert_eq!(&input[..16], b"F\x01fingerprint/v2");
        assert_eq!(&input[16..], b"F\x02fingerprint/v2");
        let material: Vec<u8> = (0..32).collect();
        let check = soft_check(KeySpec::SymmetricDefault, &material).unwrap();
        let expected = "f65aed4350ddaa9d28b0fb83a302ab6b6fd89d6a4ba51af75b1070aed8961081";
        let hex: String = check.iter().map(|b| format!("{b:02x}")).collect();
        assert_eq!(hex, expected);
    }
}
