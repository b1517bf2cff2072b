//! ML-KEM key pairs with their 64-byte seed, for GenerateDataKeyPair: the seed form of an
//! ML-KEM private key is the PKCS#8 form other tools read (pyca/cryptography and OpenSSL 3.5
//! write and load `seed [0]`). aws-lc keeps the seed of a key it generates; aws-lc-rs's API
//! does not expose it, so this generates through aws-lc-sys, the same library.

use std::ptr;

use aws_lc_sys as lc;
use trent_model::KeySpec;
use zeroize::Zeroizing;

use crate::HsmError;

/// ML-KEM's seed `d || z` (FIPS 203).
pub(crate) const SEED_LEN: usize = 64;

/// A fresh ML-KEM key pair: its seed and its encapsulation key.
pub(crate) struct SeededKey {
    pub seed: Zeroizing<[u8; SEED_LEN]>,
    pub ek: Vec<u8>,
}

/// Frees what aws-lc allocated, whatever path the function leaves by.
struct Owned {
    ctx: *mut lc::EVP_PKEY_CTX,
    pkey: *mut lc::EVP_PKEY,
}

impl Drop for Owned {
    fn drop(&mut self) {
        // SAFETY: both are null or exclusively owned here; the free functions accept null.
        unsafe {
            lc::EVP_PKEY_free(self.pkey);
            lc::EVP_PKEY_CTX_free(self.ctx);
        }
    }
}

pub(crate) fn generate(spec: KeySpec) -> Result<SeededKey, HsmError> {
    let nid = match spec {
        KeySpec::MlKem512 => lc::NID_MLKEM512,
        KeySpec::MlKem768 => lc::NID_MLKEM768,
        KeySpec::MlKem1024 => lc::NID_MLKEM1024,
        _ => return Err(HsmError::Spec(spec.as_str())),
    };
    let fail = || HsmError::Generation(spec.as_str());
    // SAFETY: a fresh context and key, owned by `owned` and freed on every path; every out
    // buffer is passed with its true length, and lengths are checked after each call.
    unsafe {
        let mut owned = Owned {
            ctx: lc::EVP_PKEY_CTX_new_id(lc::EVP_PKEY_KEM, ptr::null_mut()),
            pkey: ptr::null_mut(),
        };
        if owned.ctx.is_null()
            || lc::EVP_PKEY_CTX_kem_set_params(owned.ctx, nid) != 1
            || lc::EVP_PKEY_keygen_init(owned.ctx) != 1
            || lc::EVP_PKEY_keygen(owned.ctx, &mut owned.pkey) != 1
        {
            return Err(fail());
        }
        let mut seed = Zeroizing::new([0u8; SEED_LEN]);
        let mut len = SEED_LEN;
        if lc::EVP_PKEY_get_private_seed(owned.pkey, seed.as_mut_ptr(), &mut len) != 1
            || len != SEED_LEN
        {
            return Err(fail());
        }
        let mut ek = vec![0u8; 1568];
        let mut len = ek.len();
        if lc::EVP_PKEY_get_raw_public_key(owned.pkey, ek.as_mut_ptr(), &mut len) != 1 {
            return Err(fail());
        }
        ek.truncate(len);
        Ok(SeededKey { seed, ek })
    }
}
