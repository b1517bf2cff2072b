//! Requests and responses of the KMS operations, with the member names and shapes of the AWS
//! KMS API (`../shared/aws/kms-2014-11-01.service.json`), so the JSON front end (de)serializes
//! them directly. Unknown members are refused; members AWS defines that trent does not
//! support yet are accepted by name and refused with a clear error when set.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};
use trent_model::{
    key_material_id, ExpirationModel, KeyImportRecord, KeyMetadata, KeyRecord, Millis, Tag,
};

use crate::Blob;

/// An AWS timestamp: epoch seconds (fractional).
pub fn epoch_seconds(ms: Millis) -> f64 {
    ms as f64 / 1000.0
}

pub type Context = BTreeMap<String, String>;

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct TagEntry {
    pub tag_key: String,
    pub tag_value: String,
}

impl From<&Tag> for TagEntry {
    fn from(t: &Tag) -> Self {
        TagEntry {
            tag_key: t.key.clone(),
            tag_value: t.value.clone(),
        }
    }
}

/// `KeyMetadata` as DescribeKey returns it: every member AWS sends for a symmetric key, in
/// the model's order.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(rename_all = "PascalCase")]
pub struct KeyMetadataOut {
    #[serde(rename = "AWSAccountId")]
    pub aws_account_id: String,
    pub arn: String,
    pub creation_date: f64,
    /// The id of the key's current material version (absent for a key without material).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub current_key_material_id: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub customer_master_key_spec: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub deletion_date: Option<f64>,
    pub description: String,
    pub enabled: bool,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub encapsulation_algorithms: Option<Vec<String>>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub encryption_algorithms: Option<Vec<String>>,
    /// EXTERNAL keys whose material is imported: whether it expires.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub expiration_model: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub key_agreement_algorithms: Option<Vec<String>>,
    pub key_id: String,
    pub key_manager: String,
    pub key_spec: String,
    pub key_state: String,
    pub key_usage: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub mac_algorithms: Option<Vec<String>>,
    pub multi_region: bool,
    pub origin: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub pending_deletion_window_in_days: Option<u32>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub signing_algorithms: Option<Vec<String>>,
    /// When the imported material expires (`KEY_MATERIAL_EXPIRES`).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub valid_to: Option<f64>,
}

/// A list member AWS sends only when it has entries.
pub fn names<T: Copy>(items: &[T], name: impl Fn(T) -> &'static str) -> Option<Vec<String>> {
    match items.is_empty() {
        true => None,
        false => Some(items.iter().map(|&i| name(i).to_owned()).collect()),
    }
}

impl From<&KeyRecord> for KeyMetadataOut {
    fn from(key: &KeyRecord) -> Self {
        let current = key.material.last().map(|m| m.version);
        KeyMetadataOut::new(&key.metadata, current)
    }
}

impl KeyMetadataOut {
    /// The metadata `m` of a key whose current material version is `current_material`.
    pub fn new(m: &KeyMetadata, current_material: Option<u32>) -> Self {
        KeyMetadataOut {
            aws_account_id: m.account.to_string(),
            arn: m.arn().to_string(),
            creation_date: epoch_seconds(m.creation_date),
            // AWS names the material of symmetric encryption keys only.
            current_key_material_id: current_material
                .filter(|_| m.key_spec == trent_model::KeySpec::SymmetricDefault)
                .map(|v| key_material_id(m.key_id, v)),
            customer_master_key_spec: m
                .key_spec
                .customer_master_key_spec()
                .map(|s| s.as_str().into()),
            deletion_date: m.deletion_date.map(epoch_seconds),
            description: m.description.clone(),
            enabled: m.enabled(),
            encapsulation_algorithms: names(
                m.key_spec.encapsulation_algorithms(m.key_usage),
                |a| a.as_str(),
            ),
            encryption_algorithms: names(m.key_spec.encryption_algorithms(m.key_usage), |a| {
                a.as_str()
            }),
            expiration_model: None,
            key_agreement_algorithms: names(
                m.key_spec.key_agreement_algorithms(m.key_usage),
                |a| a.as_str(),
            ),
            key_id: m.key_id.to_string(),
            key_manager: m.key_manager.as_str().into(),
            key_spec: m.key_spec.as_str().into(),
            key_state: m.key_state.as_str().into(),
            key_usage: m.key_usage.as_str().into(),
            mac_algorithms: names(m.key_spec.mac_algorithms(m.key_usage), |a| a.as_str()),
            multi_region: false,
            origin: m.origin.as_str().into(),
            pending_deletion_window_in_days: m.pending_window_days,
            signing_algorithms: names(m.key_spec.signing_algorithms(m.key_usage), |a| a.as_str()),
            valid_to: None,
        }
    }

    /// Adds what an EXTERNAL key's imports say: its expiration model and date while material
    /// is imported, and the id of its material even while it is not (AWS keeps
    /// `CurrentKeyMaterialId` after the material is deleted).
    pub fn with_imports(mut self, m: &KeyMetadata, imports: Option<&KeyImportRecord>) -> Self {
        let Some(imports) = imports else { return self };
        if imports.imported() {
            let valid_to = imports.valid_to();
            self.expiration_model = Some(
                match valid_to {
                    Some(_) => ExpirationModel::KeyMaterialExpires,
                    None => ExpirationModel::KeyMaterialDoesNotExpire,
                }
                .as_str()
                .into(),
            );
            self.valid_to = valid_to.map(epoch_seconds);
        }
        // The latest version associated with the key is current, even while its material is
        // out of it (and the key's latest material in it is an older version's).
        if m.key_spec == trent_model::KeySpec::SymmetricDefault {
            self.current_key_material_id = imports.current().map(|v| key_material_id(m.key_id, v));
        }
        self
    }
}

macro_rules! request {
    ($(#[$doc:meta])* $name:ident { $($field:ident : $ty:ty),* $(,)? }) => {
        $(#[$doc])*
        #[derive(Debug, Clone, Default, Deserialize, Serialize)]
        #[serde(rename_all = "PascalCase", deny_unknown_fields)]
        pub struct $name {
            $(#[serde(default)] pub $field: $ty,)*
        }
    };
}

request!(CreateKeyRequest {
    description: Option<String>,
    key_usage: Option<String>,
    key_spec: Option<String>,
    customer_master_key_spec: Option<String>,
    origin: Option<String>,
    tags: Option<Vec<TagEntry>>,
    policy: Option<String>,
    bypass_policy_lockout_safety_check: Option<bool>,
    custom_key_store_id: Option<String>,
    multi_region: Option<bool>,
    xks_key_id: Option<String>,
});
request!(KeyIdRequest {
    key_id: Option<String>,
    grant_tokens: Option<Vec<String>>,
});
request!(ListRequest {
    key_id: Option<String>,
    limit: Option<i64>,
    marker: Option<String>,
});
request!(EnableKeyRotationRequest {
    key_id: Option<String>,
    rotation_period_in_days: Option<i64>,
});
request!(GetParametersForImportRequest {
    key_id: Option<String>,
    wrapping_algorithm: Option<String>,
    wrapping_key_spec: Option<String>,
});
request!(ImportKeyMaterialRequest {
    key_id: Option<String>,
    import_token: Option<Blob>,
    encrypted_key_material: Option<Blob>,
    valid_to: Option<f64>,
    expiration_model: Option<String>,
    import_type: Option<String>,
    key_material_description: Option<String>,
    key_material_id: Option<String>,
});
request!(DeleteImportedKeyMaterialRequest {
    key_id: Option<String>,
    key_material_id: Option<String>,
});
request!(ListKeyRotationsRequest {
    key_id: Option<String>,
    include_key_material: Option<String>,
    limit: Option<i64>,
    marker: Option<String>,
});
request!(ScheduleKeyDeletionRequest {
    key_id: Option<String>,
    pending_window_in_days: Option<i64>,
});
request!(UpdateKeyDescriptionRequest {
    key_id: Option<String>,
    description: Option<String>,
});
request!(AliasRequest {
    alias_name: Option<String>,
    target_key_id: Option<String>,
});
request!(TagResourceRequest {
    key_id: Option<String>,
    tags: Option<Vec<TagEntry>>,
});
request!(UntagResourceRequest {
    key_id: Option<String>,
    tag_keys: Option<Vec<String>>,
});
request!(EncryptRequest {
    key_id: Option<String>,
    plaintext: Option<Blob>,
    encryption_context: Option<Context>,
    grant_tokens: Option<Vec<String>>,
    encryption_algorithm: Option<String>,
    dry_run: Option<bool>,
});
request!(DecryptRequest {
    ciphertext_blob: Option<Blob>,
    encryption_context: Option<Context>,
    grant_tokens: Option<Vec<String>>,
    key_id: Option<String>,
    encryption_algorithm: Option<String>,
    recipient: Option<serde_json::Value>,
    dry_run: Option<bool>,
});
request!(ReEncryptRequest {
    ciphertext_blob: Option<Blob>,
    source_encryption_context: Option<Context>,
    source_key_id: Option<String>,
    destination_key_id: Option<String>,
    destination_encryption_context: Option<Context>,
    source_encryption_algorithm: Option<String>,
    destination_encryption_algorithm: Option<String>,
    grant_tokens: Option<Vec<String>>,
    dry_run: Option<bool>,
});
request!(GenerateDataKeyRequest {
    key_id: Option<String>,
    encryption_context: Option<Context>,
    number_of_bytes: Option<i64>,
    key_spec: Option<String>,
    grant_tokens: Option<Vec<String>>,
    recipient: Option<serde_json::Value>,
    dry_run: Option<bool>,
});
request!(GenerateRandomRequest {
    number_of_bytes: Option<i64>,
    custom_key_store_id: Option<String>,
    recipient: Option<serde_json::Value>,
});
request!(PutKeyPolicyRequest {
    key_id: Option<String>,
    policy: Option<String>,
    policy_name: Option<String>,
    bypass_policy_lockout_safety_check: Option<bool>,
});
request!(GetKeyPolicyRequest {
    key_id: Option<String>,
    policy_name: Option<String>,
});
request!(GrantConstraintsEntry {
    encryption_context_subset: Option<Context>,
    encryption_context_equals: Option<Context>,
    source_arn: Option<String>,
});
request!(CreateGrantRequest {
    key_id: Option<String>,
    grantee_principal: Option<String>,
    grantee_service_principal: Option<String>,
    retiring_principal: Option<String>,
    retiring_service_principal: Option<String>,
    operations: Option<Vec<String>>,
    constraints: Option<GrantConstraintsEntry>,
    grant_tokens: Option<Vec<String>>,
    name: Option<String>,
    dry_run: Option<bool>,
});
request!(ListGrantsRequest {
    key_id: Option<String>,
    grant_id: Option<String>,
    grantee_principal: Option<String>,
    grantee_service_principal: Option<String>,
    limit: Option<i64>,
    marker: Option<String>,
});
request!(ListRetirableGrantsRequest {
    retiring_principal: Option<String>,
    retiring_service_principal: Option<String>,
    limit: Option<i64>,
    marker: Option<String>,
});
request!(GrantRequest {
    key_id: Option<String>,
    grant_id: Option<String>,
    grant_token: Option<String>,
    dry_run: Option<bool>,
});
request!(SignRequest {
    key_id: Option<String>,
    message: Option<Blob>,
    message_type: Option<String>,
    grant_tokens: Option<Vec<String>>,
    signing_algorithm: Option<String>,
    dry_run: Option<bool>,
});
request!(VerifyRequest {
    key_id: Option<String>,
    message: Option<Blob>,
    message_type: Option<String>,
    signature: Option<Blob>,
    signing_algorithm: Option<String>,
    grant_tokens: Option<Vec<String>>,
    dry_run: Option<bool>,
});
request!(GenerateMacRequest {
    message: Option<Blob>,
    key_id: Option<String>,
    mac_algorithm: Option<String>,
    grant_tokens: Option<Vec<String>>,
    dry_run: Option<bool>,
});
request!(VerifyMacRequest {
    message: Option<Blob>,
    key_id: Option<String>,
    mac_algorithm: Option<String>,
    mac: Option<Blob>,
    grant_tokens: Option<Vec<String>>,
    dry_run: Option<bool>,
});
request!(DeriveSharedSecretRequest {
    key_id: Option<String>,
    key_agreement_algorithm: Option<String>,
    public_key: Option<Blob>,
    grant_tokens: Option<Vec<String>>,
    dry_run: Option<bool>,
    recipient: Option<serde_json::Value>,
});
request!(GenerateDataKeyPairRequest {
    encryption_context: Option<Context>,
    key_id: Option<String>,
    key_pair_spec: Option<String>,
    grant_tokens: Option<Vec<String>>,
    recipient: Option<serde_json::Value>,
    dry_run: Option<bool>,
});
request!(EncapsulateRequest {
    key_id: Option<String>,
    encapsulation_algorithm: Option<String>,
    grant_tokens: Option<Vec<String>>,
    dry_run: Option<bool>,
});
request!(DecapsulateRequest {
    key_id: Option<String>,
    shared_secret_ciphertext_blob: Option<Blob>,
    encapsulation_algorithm: Option<String>,
    grant_tokens: Option<Vec<String>>,
    dry_run: Option<bool>,
});
