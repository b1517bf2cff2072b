//! The signing workload: a few asymmetric SIGN_VERIFY keys made at the start (ECC_NIST_P256
//! signing with ECDSA_SHA_256, RSA_2048 with RSASSA_PSS_SHA_256); each client Signs random
//! messages, remembers every signature trent acknowledged, and Verifies them again later
//! (so across the leader changes, crashes and partitions in between), now and then with
//! one bit of the signature flipped, which must be refused. GetPublicKey now and then, and
//! once after the faults healed: its keys verify every acknowledged signature outside trent.

use base64::engine::general_purpose::STANDARD as B64;
use base64::Engine;
use rand::seq::SliceRandom;
use rand::Rng;
use serde_json::{json, Value};

use crate::history::Op;

pub const ECDSA_SHA_256: &str = "ECDSA_SHA_256";
pub const RSASSA_PSS_SHA_256: &str = "RSASSA_PSS_SHA_256";

/// The keys one unit of scale makes: (KeySpec, the SigningAlgorithm used with it).
pub const KEY_SPECS: [(&str, &str); 4] = [
    ("ECC_NIST_P256", ECDSA_SHA_256),
    ("ECC_NIST_P256", ECDSA_SHA_256),
    ("ECC_NIST_P256", ECDSA_SHA_256),
    ("RSA_2048", RSASSA_PSS_SHA_256),
];

/// A signing key of the run and the algorithm the workload signs with under it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SigningKey {
    pub key: String,
    pub algorithm: String,
}

/// An acknowledged signature.
#[derive(Debug, Clone, PartialEq, Eq)]
struct Signed {
    key: String,
    algorithm: String,
    message: String,
    signature: String,
}

/// How many signatures one client remembers; past that, a new one replaces a random one.
const REMEMBERED: usize = 2_000;

/// The signatures one client made and trent acknowledged.
#[derive(Debug, Default)]
pub struct Signatures {
    made: Vec<Signed>,
}

impl Signatures {
    /// Remembers the signature of an acknowledged Sign.
    pub fn observe(&mut self, op: &Op) {
        let Op::Sign {
            key,
            algorithm,
            message,
            signature: Some(Ok(signature)),
        } = op
        else {
            return;
        };
        let signed = Signed {
            key: key.clone(),
            algorithm: algorithm.clone(),
            message: message.clone(),
            signature: signature.clone(),
        };
        if self.made.len() < REMEMBERED {
            self.made.push(signed);
        } else {
            let i = rand::thread_rng().gen_range(0..self.made.len());
            self.made[i] = signed;
        }
    }
}

/// Sign 45%, Verify of a remembered signature 40% (any of them, so old ones too), of a
/// tampered one 10%, GetPublicKey 5%; Sign while nothing is remembered yet.
pub fn next_op(keys: &[SigningKey], signatures: &Signatures, rng: &mut impl Rng) -> Op {
    let roll = rng.gen_range(0..100);
    if let (Some(s), 45..=94) = (signatures.made.choose(rng), roll) {
        let tampered = roll >= 85;
        let signature = if tampered {
            tamper(&s.signature)
        } else {
            s.signature.clone()
        };
        return Op::Verify {
            key: s.key.clone(),
            algorithm: s.algorithm.clone(),
            message: s.message.clone(),
            signature,
            tampered,
            valid: None,
        };
    }
    let k = keys.choose(rng).expect("signing keys");
    if roll >= 95 {
        return Op::GetPublicKey {
            key: k.key.clone(),
            final_read: false,
            public_key: None,
        };
    }
    let message: Vec<u8> = (0..rng.gen_range(1..=256)).map(|_| rng.gen()).collect();
    Op::Sign {
        key: k.key.clone(),
        algorithm: k.algorithm.clone(),
        message: B64.encode(message),
        signature: None,
    }
}

/// `signature` (base64) with the lowest bit of its last byte flipped: for ECDSA the last
/// byte of `s` (the DER stays well formed), for RSA-PSS the signature integer's.
pub fn tamper(signature: &str) -> String {
    let mut bytes = B64.decode(signature).unwrap_or_default();
    if let Some(last) = bytes.last_mut() {
        *last ^= 1;
    }
    B64.encode(bytes)
}

/// The KMS operation and input of a signing workload's op.
pub fn request(op: &Op) -> Option<(&'static str, Value)> {
    Some(match op {
        Op::Sign {
            key,
            algorithm,
            message,
            ..
        } => (
            "Sign",
            json!({ "KeyId": key, "Message": message, "MessageType": "RAW",
                    "SigningAlgorithm": algorithm }),
        ),
        Op::Verify {
            key,
            algorithm,
            message,
            signature,
            ..
        } => (
            "Verify",
            json!({ "KeyId": key, "Message": message, "MessageType": "RAW",
                    "Signature": signature, "SigningAlgorithm": algorithm }),
        ),
        Op::GetPublicKey { key, .. } => ("GetPublicKey", json!({ "KeyId": key })),
        _ => return None,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_tampered_signature_differs_in_one_bit_and_clients_verify_what_they_signed() {
        let signature = B64.encode([0x30, 0x44, 0x02, 0x20, 0x7f]);
        let tampered = B64.decode(tamper(&signature)).unwrap();
        assert_eq!(tampered, [0x30, 0x44, 0x02, 0x20, 0x7e]);

        let keys = vec![SigningKey {
            key: "k1".into(),
            algorithm: ECDSA_SHA_256.into(),
        }];
        let (mut rng, mut signatures) = (rand::thread_rng(), Signatures::default());
        for _ in 0..50 {
            let op = next_op(&keys, &signatures, &mut rng);
            assert!(
                !matches!(op, Op::Verify { .. }),
                "nothing signed yet: {op:?}"
            );
        }
        signatures.observe(&Op::Sign {
            key: "k1".into(),
            algorithm: ECDSA_SHA_256.into(),
            message: "bQ==".into(),
            signature: Some(Ok(signature.clone())),
        });
        let verifies: Vec<Op> = (0..400)
            .map(|_| next_op(&keys, &signatures, &mut rng))
            .filter(|op| matches!(op, Op::Verify { .. }))
            .collect();
        let good = |op: &&Op| {
            matches!(
                op,
                Op::Verify {
                    tampered: false,
                    ..
                }
            )
        };
        assert!(verifies.iter().filter(good).all(|op| matches!(op,
            Op::Verify { message, signature: s, .. } if message == "bQ==" && *s == signature)));
        assert!(verifies.iter().any(|op| !good(&op)), "some tampered");
        assert!(verifies.iter().any(|op| good(&op)), "some good");
    }
}
