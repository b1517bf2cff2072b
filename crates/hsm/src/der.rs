//! The few DER structures aws-lc-rs does not write for us: ML-KEM public keys as X.509
//! SubjectPublicKeyInfo (RFC 5280 §4.1, with the NIST algorithm identifiers of
//! draft-ietf-lamps-kyber-certificates: parameters absent).

use trent_model::KeySpec;

/// The NIST arc `2.16.840.1.101.3.4.4`, DER content bytes, before the last arc.
const ML_KEM_ARC: [u8; 8] = [0x60, 0x86, 0x48, 0x01, 0x65, 0x03, 0x04, 0x04];

/// `SubjectPublicKeyInfo { AlgorithmIdentifier { id-alg-ml-kem-* }, BIT STRING ek }`.
pub(crate) fn ml_kem_spki(spec: KeySpec, ek: &[u8]) -> Vec<u8> {
    let algorithm = tlv(0x30, &tlv(0x06, &ml_kem_oid(spec)));
    let mut bits = vec![0u8];
    bits.extend_from_slice(ek);
    let mut body = algorithm;
    body.extend_from_slice(&tlv(0x03, &bits));
    tlv(0x30, &body)
}

/// `PrivateKeyInfo { 0, AlgorithmIdentifier { id-alg-ml-kem-* }, seed [0] }`: the PKCS#8
/// form of an ML-KEM private key that GenerateDataKeyPair answers (the seed form, which
/// pyca/cryptography and OpenSSL read).
pub(crate) fn ml_kem_pkcs8(spec: KeySpec, seed: &[u8]) -> zeroize::Zeroizing<Vec<u8>> {
    let mut body = vec![0x02, 0x01, 0x00];
    body.extend_from_slice(&tlv(0x30, &tlv(0x06, &ml_kem_oid(spec))));
    let seed = zeroize::Zeroizing::new(tlv(0x80, seed));
    let wrapped = zeroize::Zeroizing::new(tlv(0x04, &seed));
    body.extend_from_slice(&wrapped);
    let body = zeroize::Zeroizing::new(body);
    zeroize::Zeroizing::new(tlv(0x30, &body))
}

fn ml_kem_oid(spec: KeySpec) -> Vec<u8> {
    let last = match spec {
        KeySpec::MlKem512 => 1,
        KeySpec::MlKem768 => 2,
        _ => 3,
    };
    let mut oid = ML_KEM_ARC.to_vec();
    oid.push(last);
    oid
}

/// One DER tag-length-value.
fn tlv(tag: u8, content: &[u8]) -> Vec<u8> {
    let mut out = vec![tag];
    let len = content.len();
    match len {
        0..=0x7f => out.push(len as u8),
        0x80..=0xff => out.extend_from_slice(&[0x81, len as u8]),
        _ => out.extend_from_slice(&[0x82, (len >> 8) as u8, len as u8]),
    }
    out.extend_from_slice(content);
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ml_kem_768_spki_has_the_nist_oid_and_long_lengths() {
        let der = ml_kem_spki(KeySpec::MlKem768, &[7u8; 1184]);
        // SEQUENCE, 2-byte length; AlgorithmIdentifier with the OID ending in .4.4.2.
        assert_eq!(&der[..4], &[0x30, 0x82, 0x04, 0xb2]);
        assert_eq!(
            &der[4..17],
            &[0x30, 0x0b, 0x06, 0x09, 0x60, 0x86, 0x48, 0x01, 0x65, 0x03, 0x04, 0x04, 0x02]
        );
        assert_eq!(&der[17..22], &[0x03, 0x82, 0x04, 0xa1, 0x00]);
        assert_eq!(der.len(), 22 + 1184);
    }
}
