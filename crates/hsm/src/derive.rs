//! The per-ciphertext key: derived from a key's material and the blob's random salt, so
//! every ciphertext is sealed under a key of its own and no key nears the 2^32 messages that
//! random 96-bit GCM nonces allow under one key (NIST SP 800-38D, 8.3).
//!
//! `derived = AES-256-ECB(material, "T" | 0x01 | salt || "T" | 0x02 | salt)`: the material
//! used as a pseudo-random function on two distinct blocks, the construction AES-GCM-SIV uses
//! for its per-nonce keys (RFC 8452, 4). A PKCS#11 token computes the same value without the
//! material leaving it: `C_DeriveKey` with `CKM_AES_ECB_ENCRYPT_DATA` over those 32 bytes
//! (SoftHSM2 2.6 offers it; it has neither `CKM_HKDF_DERIVE` nor `CKM_SP800_108_*`). The
//! leading "T" keeps the blocks apart from format-1 GCM counter blocks only by chance
//! (2^-128 per pair), which is all a PRF needs; the counter byte keeps the halves distinct.

use aes::cipher::{BlockEncrypt, KeyInit};
use aes::Aes256;
use aes_gcm::{Aes256Gcm, Key};
use zeroize::{Zeroize, Zeroizing};

use crate::{Salt, CIPHERTEXT_SALT_LEN};

/// First byte of both derivation blocks.
const LABEL: u8 = b'T';

/// The two blocks the material encrypts.
pub(crate) fn derivation_input(salt: &Salt) -> [u8; 32] {
    let mut input = [0u8; 32];
    for (i, block) in input.chunks_exact_mut(16).enumerate() {
        block[0] = LABEL;
        block[1] = i as u8 + 1;
        block[2..2 + CIPHERTEXT_SALT_LEN].copy_from_slice(salt);
    }
    input
}

/// The AES-256-GCM cipher of the key derived from `material` (as a ready block cipher) and
/// `salt`. The derived key and its key schedule are zeroized when dropped.
pub(crate) fn derived_cipher(material: &Aes256, salt: &Salt) -> Aes256Gcm {
    let mut key = Zeroizing::new(derivation_input(salt));
    for block in key.chunks_exact_mut(16) {
        material.encrypt_block(block.into());
    }
    let cipher = Aes256Gcm::new(Key::<Aes256Gcm>::from_slice(key.as_ref()));
    key.zeroize();
    cipher
}

/// A block cipher of `material`, ready to derive keys.
pub(crate) fn kdf_cipher(material: &[u8]) -> Aes256 {
    Aes256::new_from_slice(material).expect("material is 32 bytes")
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The derived key, computed independently with
    /// `openssl enc -aes-256-ecb -nopad -K <material> <<< <input>`: what a PKCS#11 token's
    /// `CKM_AES_ECB_ENCRYPT_DATA` yields for the same material and data.
    #[test]
    fn the_derivation_is_aes_ecb_of_the_two_salt_blocks() {
        let salt: Salt = *b"0123456789abcd";
        let input = derivation_input(&salt);
        assert_eq!(&input[..16], b"T\x010123456789abcd");
        assert_eq!(&input[16..], b"T\x020123456789abcd");
        let material: Vec<u8> = (0u8..32).collect();
        let mut key = input;
        let aes = kdf_cipher(&material);
        for block in key.chunks_exact_mut(16) {
            aes.encrypt_block(block.into());
        }
        assert_eq!(hex(&key), EXPECTED);
    }

    #[test]
    fn fips_197_vector_holds_for_the_block_cipher() {
        let material: Vec<u8> = (0u8..32).collect();
        let mut block = *b"\x00\x11\x22\x33\x44\x55\x66\x77\x88\x99\xaa\xbb\xcc\xdd\xee\xff";
        kdf_cipher(&material).encrypt_block((&mut block).into());
        assert_eq!(hex(&block), "8ea2b7ca516745bfeafc49904b496089");
    }

    const EXPECTED: &str = "811f1cbfbf19fac18fa03568cb8ef2d813202b883695cbc5608fc9631a9c1e2e";

    fn hex(bytes: &[u8]) -> String {
        bytes.iter().map(|b| format!("{b:02x}")).collect()
    }
}
