//! The DER this backend writes and reads itself, because a token speaks raw values where AWS
//! speaks DER: SubjectPublicKeyInfo of EC and RSA public keys (RFC 5280 4.1.2.7 with RFC 5480
//! and RFC 8017 A.1.1), ECDSA signatures (`Ecdsa-Sig-Value`, RFC 3279 2.2.3) to and from the
//! token's `r || s`, and the `CKA_EC_POINT` octet string.
//!
//! Guarantees: what is written is DER (minimal lengths, minimal non-negative integers), byte
//! for byte what aws-lc writes for the same key (tested against the soft backend); what is
//! read is accepted only if it is DER of the expected shape with nothing after it. aws-lc
//! accepts an ECDSA signature only in DER, so a signature the soft backend would refuse to
//! parse is refused here too, before the token sees it.

/// `id-ecPublicKey` (1.2.840.10045.2.1), as a DER OBJECT IDENTIFIER.
const ID_EC_PUBLIC_KEY: &[u8] = &[0x06, 0x07, 0x2a, 0x86, 0x48, 0xce, 0x3d, 0x02, 0x01];
/// `rsaEncryption` (1.2.840.113549.1.1.1) with NULL parameters, as aws-lc writes it.
const RSA_ENCRYPTION: &[u8] = &[
    0x30, 0x0d, 0x06, 0x09, 0x2a, 0x86, 0x48, 0x86, 0xf7, 0x0d, 0x01, 0x01, 0x01, 0x05, 0x00,
];

/// One DER tag-length-value (contents up to 64 KiB, ample for keys up to RSA-16384).
pub(crate) fn tlv(tag: u8, content: &[u8]) -> Vec<u8> {
    let len = content.len();
    let mut out = Vec::with_capacity(content.len() + 4);
    out.push(tag);
    match len {
        0..=0x7f => out.push(len as u8),
        0x80..=0xff => out.extend_from_slice(&[0x81, len as u8]),
        _ => out.extend_from_slice(&[0x82, (len >> 8) as u8, len as u8]),
    }
    out.extend_from_slice(content);
    out
}

/// A reader of consecutive DER elements.
struct Reader<'a>(&'a [u8]);

impl<'a> Reader<'a> {
    /// The contents of the next element if it has tag `tag` and a minimal definite length.
    fn read(&mut self, tag: u8) -> Option<&'a [u8]> {
        let (&first, rest) = self.0.split_first()?;
        let (&len, rest) = rest.split_first()?;
        if first != tag {
            return None;
        }
        let (len, rest) = match len {
            0..=0x7f => (len as usize, rest),
            0x81 if *rest.first()? >= 0x80 => (rest[0] as usize, &rest[1..]),
            0x82 if rest.len() >= 2 && rest[0] != 0 => {
                ((rest[0] as usize) << 8 | rest[1] as usize, &rest[2..])
            }
            _ => return None,
        };
        if rest.len() < len {
            return None;
        }
        let (content, rest) = rest.split_at(len);
        self.0 = rest;
        Some(content)
    }

    /// The magnitude (big-endian, no leading zeros) of the next INTEGER if it is a minimal
    /// encoding of a non-negative number.
    fn unsigned(&mut self) -> Option<&'a [u8]> {
        let content = self.read(0x02)?;
        match content {
            [] => None,
            [b, ..] if b & 0x80 != 0 => None,
            [0, b, ..] if b & 0x80 == 0 => None,
            [0, rest @ ..] => Some(rest),
            _ => Some(content),
        }
    }

    fn done(&self) -> bool {
        self.0.is_empty()
    }
}

/// The contents of `der` if it is one element of tag `tag` and nothing more.
fn only(der: &[u8], tag: u8) -> Option<&[u8]> {
    let mut reader = Reader(der);
    let content = reader.read(tag)?;
    reader.done().then_some(content)
}

/// A DER INTEGER of the unsigned big-endian `magnitude`.
fn integer(magnitude: &[u8]) -> Vec<u8> {
    let start = magnitude
        .iter()
        .position(|&b| b != 0)
        .unwrap_or(magnitude.len());
    let trimmed = &magnitude[start..];
    let mut content = Vec::with_capacity(trimmed.len() + 1);
    if trimmed.first().is_none_or(|b| b & 0x80 != 0) {
        content.push(0);
    }
    content.extend_from_slice(trimmed);
    tlv(0x02, &content)
}

/// The DER `Ecdsa-Sig-Value` of a token's `r || s` (two halves of equal length).
pub(crate) fn ecdsa_signature(raw: &[u8]) -> Option<Vec<u8>> {
    if raw.is_empty() || !raw.len().is_multiple_of(2) {
        return None;
    }
    let (r, s) = raw.split_at(raw.len() / 2);
    let mut body = integer(r);
    body.extend_from_slice(&integer(s));
    Some(tlv(0x30, &body))
}

/// The token's `r || s` (each `half` bytes) of a DER `Ecdsa-Sig-Value`; `None` if it is not
/// one, or a value does not fit.
pub(crate) fn ecdsa_raw(der: &[u8], half: usize) -> Option<Vec<u8>> {
    let mut body = Reader(only(der, 0x30)?);
    let (r, s) = (body.unsigned()?, body.unsigned()?);
    if !body.done() || r.len() > half || s.len() > half {
        return None;
    }
    let mut raw = vec![0u8; 2 * half];
    raw[half - r.len()..half].copy_from_slice(r);
    raw[2 * half - s.len()..].copy_from_slice(s);
    Some(raw)
}

/// The SubjectPublicKeyInfo of an EC public key: `curve` is the curve's OBJECT IDENTIFIER
/// (DER, as `CKA_EC_PARAMS` holds it) and `point` the uncompressed point.
pub(crate) fn ec_spki(curve: &[u8], point: &[u8]) -> Vec<u8> {
    let mut algorithm = ID_EC_PUBLIC_KEY.to_vec();
    algorithm.extend_from_slice(curve);
    let mut bits = vec![0u8];
    bits.extend_from_slice(point);
    let mut body = tlv(0x30, &algorithm);
    body.extend_from_slice(&tlv(0x03, &bits));
    tlv(0x30, &body)
}

/// The uncompressed point of an EC SubjectPublicKeyInfo on `curve` whose points are
/// `point_len` bytes; `None` unless it is exactly what [`ec_spki`] writes.
pub(crate) fn ec_spki_point<'a>(
    spki: &'a [u8],
    curve: &[u8],
    point_len: usize,
) -> Option<&'a [u8]> {
    let point = spki.get(spki.len().checked_sub(point_len)?..)?;
    (point[0] == 0x04 && ec_spki(curve, point) == spki).then_some(point)
}

/// The `subjectPublicKey` bits of a SubjectPublicKeyInfo (whole bytes), whatever its
/// algorithm; `None` unless it starts with DER of that shape. Bytes after it are ignored, as
/// aws-lc's `EVP_parse_public_key` (the soft backend's reader of a peer's key) ignores them.
pub(crate) fn spki_key_bits(spki: &[u8]) -> Option<&[u8]> {
    let mut body = Reader(Reader(spki).read(0x30)?);
    body.read(0x30)?;
    let bits = body.read(0x03)?;
    body.done().then_some(bits.strip_prefix(&[0])?)
}

/// The uncompressed point of a `CKA_EC_POINT`: a DER OCTET STRING as PKCS#11 says, or the
/// raw point, which some tokens answer.
pub(crate) fn ec_point(attribute: &[u8], point_len: usize) -> Option<&[u8]> {
    let point = if attribute.len() == point_len {
        attribute
    } else {
        only(attribute, 0x04)?
    };
    (point.len() == point_len && point[0] == 0x04).then_some(point)
}

/// `point` as the DER OCTET STRING a `CKA_EC_POINT` holds.
pub(crate) fn octet_string(point: &[u8]) -> Vec<u8> {
    tlv(0x04, point)
}

/// The SubjectPublicKeyInfo of an RSA public key of modulus `n` and exponent `e`
/// (big-endian).
pub(crate) fn rsa_spki(n: &[u8], e: &[u8]) -> Vec<u8> {
    let mut key = integer(n);
    key.extend_from_slice(&integer(e));
    let mut bits = vec![0u8];
    bits.extend_from_slice(&tlv(0x30, &key));
    let mut body = RSA_ENCRYPTION.to_vec();
    body.extend_from_slice(&tlv(0x03, &bits));
    tlv(0x30, &body)
}

/// The modulus and exponent (big-endian, no leading zeros) of an RSA SubjectPublicKeyInfo.
pub(crate) fn rsa_spki_parts(spki: &[u8]) -> Option<(&[u8], &[u8])> {
    let body = only(spki, 0x30)?;
    let bits = body.strip_prefix(RSA_ENCRYPTION)?;
    let key = only(bits, 0x03)?.strip_prefix(&[0])?;
    let mut key = Reader(only(key, 0x30)?);
    let (n, e) = (key.unsigned()?, key.unsigned()?);
    key.done().then_some((n, e))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ecdsa_signatures_round_trip_and_stay_minimal() {
        // r with its top bit set (a sign byte), s with leading zeros (trimmed).
        let mut raw = vec![0x80u8; 32];
        raw.extend_from_slice(&[0, 0, 0x01]);
        raw.extend_from_slice(&[0x55; 29]);
        let der = ecdsa_signature(&raw).unwrap();
        assert_eq!(&der[..5], &[0x30, 0x43, 0x02, 0x21, 0x00]);
        assert_eq!(ecdsa_raw(&der, 32).unwrap(), raw);
        // Trailing bytes, a non-minimal integer, a negative one, a long form for a short
        // length, or a value too long for the curve: not DER of a signature.
        let mut trailing = der.clone();
        trailing.push(0);
        assert!(ecdsa_raw(&trailing, 32).is_none());
        let padded = [0x30, 0x07, 0x02, 0x02, 0x00, 0x01, 0x02, 0x01, 0x01];
        assert!(ecdsa_raw(&padded, 32).is_none());
        let negative = [0x30, 0x06, 0x02, 0x01, 0x81, 0x02, 0x01, 0x01];
        assert!(ecdsa_raw(&negative, 32).is_none());
        let long_form = [0x30, 0x81, 0x06, 0x02, 0x01, 0x01, 0x02, 0x01, 0x01];
        assert!(ecdsa_raw(&long_form, 32).is_none());
        assert!(ecdsa_raw(&der, 31).is_none());
        let small = [0x30, 0x06, 0x02, 0x01, 0x01, 0x02, 0x01, 0x02];
        let raw = ecdsa_raw(&small, 32).unwrap();
        assert_eq!((raw[31], raw[63]), (1, 2));
    }

    #[test]
    fn ec_points_are_read_as_octet_strings_or_raw() {
        let point = [&[4u8][..], &[7; 132]].concat();
        assert_eq!(ec_point(&octet_string(&point), 133), Some(&point[..]));
        assert_eq!(ec_point(&point, 133), Some(&point[..]));
        assert!(ec_point(&point[1..], 132).is_none());
        let curve = [0x06, 0x05, 0x2b, 0x81, 0x04, 0x00, 0x23];
        let spki = ec_spki(&curve, &point);
        assert_eq!(&spki[..3], &[0x30, 0x81, 0x9b]);
        assert_eq!(ec_spki_point(&spki, &curve, 133), Some(&point[..]));
        assert!(ec_spki_point(&spki, &[0x06, 0x01, 0x00], 133).is_none());
        // A peer's key bits: read as aws-lc reads them, trailing bytes ignored.
        assert_eq!(spki_key_bits(&spki), Some(&point[..]));
        assert_eq!(
            spki_key_bits(&[&spki[..], &[0, 1]].concat()),
            Some(&point[..])
        );
        assert!(spki_key_bits(&spki[..spki.len() - 1]).is_none());
        assert!(spki_key_bits(&point).is_none());
    }

    #[test]
    fn rsa_spki_round_trips() {
        let n = [0xc5u8; 256];
        let spki = rsa_spki(&n, &[1, 0, 1]);
        assert_eq!(rsa_spki_parts(&spki), Some((&n[..], &[1u8, 0, 1][..])));
        assert!(rsa_spki_parts(&spki[..spki.len() - 1]).is_none());
    }
}
