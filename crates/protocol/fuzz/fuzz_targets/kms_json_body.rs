//! KMS request bodies on arbitrary bytes, for every operation name trent serves and one it
//! does not: never a panic; a refusal is one of the errors AWS gives for a bad body; and a
//! body that parses serializes back into a body that parses to the same operation (the
//! shapes lose nothing they accepted).
#![no_main]

use libfuzzer_sys::fuzz_target;
use trent_model::ErrorKind;
use trent_protocol::Operation;

fuzz_target!(|data: &[u8]| {
    let Some((&pick, body)) = data.split_first() else {
        return;
    };
    // Every operation trent serves, and one name that is none.
    let names = Operation::NAMES;
    let name = names
        .get(pick as usize % (names.len() + 1))
        .copied()
        .unwrap_or("NoSuchOperation");
    match Operation::parse(name, body) {
        Ok(op) => {
            let value = serde_json::to_value(&op).expect("an operation serializes");
            let input = value.get("Input").cloned().unwrap_or_default();
            let again = Operation::from_target(name, input.clone())
                .unwrap_or_else(|e| panic!("{name}: {input} does not parse again: {e}"));
            assert_eq!(
                serde_json::to_value(&again).unwrap(),
                value,
                "{name}: a round trip changed the operation"
            );
        }
        Err(e) => assert!(
            matches!(
                e.kind,
                ErrorKind::Serialization | ErrorKind::Validation | ErrorKind::UnsupportedOperation
            ),
            "{name}: unexpected error kind {:?}: {e}",
            e.kind
        ),
    }
});
