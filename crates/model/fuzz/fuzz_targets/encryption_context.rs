//! The canonical encoding of an encryption context (`count | (len key, key, len value,
//! value)*`, lengths as big-endian u32, pairs sorted by key). It is bound into every
//! ciphertext's additional data, so it must be unambiguous: no two contexts may share an
//! encoding. trent has no decoder, so this target carries a reference one and checks both
//! ways round:
//!
//! - the fuzz input read as an encoding: if it decodes to a context, encoding that context
//!   gives back exactly the input (one encoding per context, no slack in the format);
//! - the fuzz input read as a list of pairs: encoding never panics, decoding the encoding
//!   gives back the context, and `EncryptionContext::new` accepts exactly the contexts with
//!   no empty key whose encoding fits in 8192 bytes.
#![no_main]

use std::collections::BTreeMap;

use libfuzzer_sys::arbitrary::{Arbitrary, Unstructured};
use libfuzzer_sys::fuzz_target;
use trent_model::{EncryptionContext, ErrorKind, MAX_ENCRYPTION_CONTEXT};

fn take<'a>(bytes: &mut &'a [u8], n: usize) -> Option<&'a [u8]> {
    if bytes.len() < n {
        return None;
    }
    let (head, tail) = bytes.split_at(n);
    *bytes = tail;
    Some(head)
}

fn take_u32(bytes: &mut &[u8]) -> Option<usize> {
    let raw = take(bytes, 4)?;
    Some(u32::from_be_bytes(raw.try_into().unwrap()) as usize)
}

fn take_str(bytes: &mut &[u8]) -> Option<String> {
    let len = take_u32(bytes)?;
    let raw = take(bytes, len)?;
    String::from_utf8(raw.to_vec()).ok()
}

/// The reference decoder: `None` unless `bytes` is a complete encoding, keys strictly
/// ascending, with nothing left over.
fn decode(mut bytes: &[u8]) -> Option<EncryptionContext> {
    let count = take_u32(&mut bytes)?;
    let mut pairs = BTreeMap::new();
    let mut last: Option<String> = None;
    // Every pair takes at least 8 bytes, so a huge count runs out of input quickly.
    for _ in 0..count {
        let key = take_str(&mut bytes)?;
        let value = take_str(&mut bytes)?;
        if last.as_ref().is_some_and(|last| *last >= key) {
            return None;
        }
        last = Some(key.clone());
        pairs.insert(key, value);
    }
    bytes.is_empty().then_some(EncryptionContext(pairs))
}

fuzz_target!(|data: &[u8]| {
    if let Some(context) = decode(data) {
        assert_eq!(context.encode(), data, "a second encoding of {context:?}");
    }

    let mut input = Unstructured::new(data);
    let Ok(pairs) = <Vec<(String, String)>>::arbitrary(&mut input) else {
        return;
    };
    let pairs: BTreeMap<String, String> = pairs.into_iter().collect();
    let context = EncryptionContext(pairs.clone());
    let encoded = context.encode();
    assert_eq!(
        decode(&encoded).as_ref(),
        Some(&context),
        "encoding is not reversible"
    );

    let valid = !pairs.keys().any(String::is_empty) && encoded.len() <= MAX_ENCRYPTION_CONTEXT;
    match EncryptionContext::new(pairs, "EncryptionContext") {
        Ok(accepted) => {
            assert!(valid, "accepted {context:?}");
            assert_eq!(accepted, context);
        }
        Err(e) => {
            assert!(!valid, "refused {context:?}: {}", e.message);
            assert_eq!(e.kind, ErrorKind::Validation, "{}", e.message);
        }
    }
});
