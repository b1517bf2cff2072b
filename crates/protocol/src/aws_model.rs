//! The AWS KMS service model (`aws/kms.json`: botocore's model without its documentation,
//! written by `scripts/aws-model`): every operation's input, output and errors, every shape's
//! members in the model's order and its constraints. Requests are validated against it
//! ([`crate::validate`]) and tests check every response shape against it, so trent's idea of
//! the API is AWS's, read from one file.

use std::collections::HashMap;
use std::sync::LazyLock;

use serde::Deserialize;

static MODEL: LazyLock<Model> = LazyLock::new(|| {
    serde_json::from_str(include_str!("../aws/kms.json")).expect("aws/kms.json is the model")
});

/// The model, parsed once.
pub fn model() -> &'static Model {
    &MODEL
}

#[derive(Debug, Deserialize)]
pub struct Model {
    operations: HashMap<String, OperationModel>,
    shapes: HashMap<String, Shape>,
}

impl Model {
    pub fn operation(&self, name: &str) -> Option<&OperationModel> {
        self.operations.get(name)
    }

    pub fn shape(&self, name: &str) -> Option<&Shape> {
        self.shapes.get(name)
    }

    /// The names of every operation of the API.
    pub fn operation_names(&self) -> impl Iterator<Item = &str> {
        self.operations.keys().map(String::as_str)
    }
}

#[derive(Debug, Deserialize)]
pub struct OperationModel {
    pub input: Option<String>,
    pub output: Option<String>,
    /// The exception shapes the operation declares.
    pub errors: Vec<String>,
}

/// A shape: its type and constraints. `min`/`max` bound a string's or blob's length, a list's
/// size or a number's value, as the type says.
#[derive(Debug, Deserialize)]
pub struct Shape {
    #[serde(rename = "type")]
    pub kind: ShapeType,
    /// Members as `[name, shape]`, in the model's order.
    #[serde(default)]
    pub members: Vec<(String, String)>,
    #[serde(default)]
    pub required: Vec<String>,
    pub min: Option<i64>,
    pub max: Option<i64>,
    pub pattern: Option<String>,
    #[serde(rename = "enum")]
    pub enum_values: Option<Vec<String>>,
    #[serde(default)]
    pub sensitive: bool,
    #[serde(default)]
    pub exception: bool,
    /// A list's element shape.
    pub member: Option<String>,
    /// A map's key and value shapes.
    pub key: Option<String>,
    pub value: Option<String>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum ShapeType {
    String,
    Integer,
    Long,
    Boolean,
    Blob,
    Timestamp,
    List,
    Map,
    Structure,
}

impl Shape {
    /// The member `name`'s shape name and its place in the model's order.
    pub fn member(&self, name: &str) -> Option<(usize, &str)> {
        self.members
            .iter()
            .position(|(n, _)| n == name)
            .map(|i| (i, self.members[i].1.as_str()))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_model_names_every_operation_and_resolves_every_shape() {
        let m = model();
        assert_eq!(m.operation_names().count(), 56);
        let encrypt = m.operation("Encrypt").unwrap();
        let input = m.shape(encrypt.input.as_deref().unwrap()).unwrap();
        assert_eq!(input.required, ["KeyId", "Plaintext"]);
        let (_, plaintext) = input.member("Plaintext").unwrap();
        let plaintext = m.shape(plaintext).unwrap();
        assert!(plaintext.sensitive);
        assert_eq!((plaintext.min, plaintext.max), (Some(1), Some(4096)));
        for shape in m.shapes.values() {
            let refs = shape.members.iter().map(|(_, s)| s.as_str());
            let parts = [&shape.member, &shape.key, &shape.value];
            for name in refs.chain(parts.into_iter().flatten().map(String::as_str)) {
                assert!(m.shape(name).is_some(), "{name} is not a shape");
            }
        }
    }
}
