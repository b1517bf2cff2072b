//! The AWS KMS service model (`aws/kms.json`: botocore's model without its documentation,
//! written by `scripts/aws-model`): every operation's input, output and errors, every shape's
//! members in the model's order and its constraints. Requests are validated against it
//! ([`crate::validate`]) and tests check every response shape against it
//! ([`crate::shape_check`]), so trent's idea of the API is AWS's, read from one file.

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
    /// The operation `name` (`"Encrypt"`), if the API has it.
    pub fn operation(&self, name: &str) -> Option<&OperationModel> {
        self.operations.get(name)
    }

    /// The shape `name` (`"EncryptRequest"`, `"KeyIdType"`).
    pub fn shape(&self, name: &str) -> Option<&Shape> {
        self.shapes.get(name)
    }

    /// The names of every operation of the API.
    pub fn operation_names(&self) -> impl Iterator<Item = &str> {
        self.operations.keys().map(String::as_str)
    }

    /// Every shape, with its name.
    pub fn shapes(&self) -> impl Iterator<Item = (&str, &Shape)> {
        self.shapes.iter().map(|(n, s)| (n.as_str(), s))
    }
}

#[derive(Debug, Deserialize)]
pub struct OperationModel {
    /// The request shape.
    pub input: Option<String>,
    /// The response shape; `None` when the operation answers nothing (EnableKey, CreateAlias).
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
    /// A structure's members as `(name, shape)`, in the model's order.
    #[serde(default)]
    pub members: Vec<(String, String)>,
    /// The members a structure must have.
    #[serde(default)]
    pub required: Vec<String>,
    pub min: Option<i64>,
    pub max: Option<i64>,
    pub pattern: Option<String>,
    /// The values an enum-like string may take.
    #[serde(rename = "enum")]
    pub enum_values: Option<Vec<String>>,
    /// Never logged by AWS SDKs (plaintexts, private keys).
    #[serde(default)]
    pub sensitive: bool,
    /// An error shape.
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
    /// The member `name`'s place in the model's order and its shape name.
    pub fn member(&self, name: &str) -> Option<(usize, &str)> {
        self.members
            .iter()
            .position(|(n, _)| n == name)
            .map(|i| (i, self.members[i].1.as_str()))
    }

    /// Whether the structure requires the member `name`.
    pub fn requires(&self, name: &str) -> bool {
        self.required.iter().any(|r| r == name)
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
        assert_eq!(encrypt.output.as_deref(), Some("EncryptResponse"));
        assert!(m.operation("EnableKey").unwrap().output.is_none());
        let input = m.shape(encrypt.input.as_deref().unwrap()).unwrap();
        assert_eq!(input.kind, ShapeType::Structure);
        assert_eq!(input.required, ["KeyId", "Plaintext"]);
        assert!(input.requires("KeyId"));
        let (_, plaintext) = input.member("Plaintext").unwrap();
        let plaintext = m.shape(plaintext).unwrap();
        assert!(plaintext.sensitive);
        assert_eq!((plaintext.min, plaintext.max), (Some(1), Some(4096)));
        let state = m.shape("KeyState").unwrap();
        assert!(state
            .enum_values
            .as_ref()
            .unwrap()
            .iter()
            .any(|v| v == "PendingDeletion"));
        let context = m.shape("EncryptionContextType").unwrap();
        assert_eq!(context.kind, ShapeType::Map);
        assert!(context.key.is_some() && context.value.is_some());
        for (name, shape) in m.shapes() {
            let refs = shape.members.iter().map(|(_, s)| s.as_str());
            let parts = [&shape.member, &shape.key, &shape.value];
            for r in refs.chain(parts.into_iter().flatten().map(String::as_str)) {
                assert!(m.shape(r).is_some(), "{name} refers to {r}, not a shape");
            }
        }
        for name in m.operation_names() {
            let op = m.operation(name).unwrap();
            for s in op.input.iter().chain(&op.output).chain(&op.errors) {
                assert!(m.shape(s).is_some(), "{name} refers to {s}, not a shape");
            }
        }
    }
}
