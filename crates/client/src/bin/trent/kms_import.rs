//! `trent kms` commands for imported key material (BYOK): get the wrapping public key and
//! import token into files, import material wrapped outside trent (with `openssl`, see
//! docs/OPERATIONS.md), and delete it. They go through the AWS SDK for Rust.

use std::path::PathBuf;

use aws_sdk_kms::primitives::DateTime;
use aws_sdk_kms::types::{AlgorithmSpec, ExpirationModelType, ImportType, WrappingKeySpec};
use clap::Subcommand;
use serde_json::{json, Value};

use crate::kms::{err, read};

#[derive(Subcommand)]
pub enum ImportCmd {
    /// Writes a wrapping public key (DER) and an import token, valid 24 hours, for an
    /// EXTERNAL key into the files given.
    GetParametersForImport {
        /// Key id or key ARN of a key created with `--origin EXTERNAL`.
        #[arg(long)]
        key_id: String,
        /// RSAES_OAEP_SHA_256 (default), RSAES_OAEP_SHA_1, RSA_AES_KEY_WRAP_SHA_256 or
        /// RSA_AES_KEY_WRAP_SHA_1 (required for RSA private keys).
        #[arg(long, default_value = "RSAES_OAEP_SHA_256")]
        wrapping_algorithm: String,
        /// RSA_2048, RSA_3072 or RSA_4096 (default).
        #[arg(long, default_value = "RSA_4096")]
        wrapping_key_spec: String,
        #[arg(long)]
        public_key_file: PathBuf,
        #[arg(long)]
        import_token_file: PathBuf,
    },
    /// Imports key material wrapped under the public key of --import-token-file's parameters.
    ImportKeyMaterial {
        #[arg(long)]
        key_id: String,
        #[arg(long)]
        import_token_file: PathBuf,
        #[arg(long)]
        encrypted_key_material_file: PathBuf,
        /// When the material expires (Unix seconds, at most 365 days ahead); without it the
        /// material does not expire.
        #[arg(long)]
        valid_to: Option<i64>,
        #[arg(long)]
        description: Option<String>,
        /// NEW_KEY_MATERIAL: new material for a symmetric key that has material, made current
        /// by `trent kms rotate-key-on-demand`; EXISTING_KEY_MATERIAL: a re-import. Without
        /// it, a key's first import is new material and a later one a re-import.
        #[arg(long)]
        import_type: Option<String>,
        /// The version being re-imported (`trent kms list-key-rotations --include-key-material
        /// ALL_KEY_MATERIAL` lists them); without it, the material says which.
        #[arg(long)]
        key_material_id: Option<String>,
    },
    /// Deletes a key's imported material (its current material, or the one named): the key is
    /// unusable until the same material is imported again. Material waiting for its rotation
    /// is simply removed.
    DeleteImportedKeyMaterial {
        #[arg(long)]
        key_id: String,
        #[arg(long)]
        key_material_id: Option<String>,
    },
}

pub async fn run(kms: &aws_sdk_kms::Client, command: ImportCmd) -> Result<Value, String> {
    Ok(match command {
        ImportCmd::GetParametersForImport {
            key_id,
            wrapping_algorithm,
            wrapping_key_spec,
            public_key_file,
            import_token_file,
        } => {
            let out = kms
                .get_parameters_for_import()
                .key_id(key_id)
                .wrapping_algorithm(AlgorithmSpec::from(wrapping_algorithm.as_str()))
                .wrapping_key_spec(WrappingKeySpec::from(wrapping_key_spec.as_str()))
                .send()
                .await
                .map_err(err)?;
            let write = |path: &PathBuf, bytes: Option<&[u8]>| {
                std::fs::write(path, bytes.unwrap_or_default())
                    .map_err(|e| format!("{}: {e}", path.display()))
            };
            write(&public_key_file, out.public_key().map(|b| b.as_ref()))?;
            write(&import_token_file, out.import_token().map(|b| b.as_ref()))?;
            json!({
                "KeyId": out.key_id(),
                "ParametersValidTo": out.parameters_valid_to().map(|d| d.secs()),
                "PublicKeyFile": public_key_file,
                "ImportTokenFile": import_token_file,
            })
        }
        ImportCmd::ImportKeyMaterial {
            key_id,
            import_token_file,
            encrypted_key_material_file,
            valid_to,
            description,
            import_type,
            key_material_id,
        } => {
            let expiration = match valid_to {
                Some(_) => ExpirationModelType::KeyMaterialExpires,
                None => ExpirationModelType::KeyMaterialDoesNotExpire,
            };
            let out = kms
                .import_key_material()
                .key_id(key_id)
                .import_token(read(&import_token_file)?)
                .encrypted_key_material(read(&encrypted_key_material_file)?)
                .expiration_model(expiration)
                .set_valid_to(valid_to.map(DateTime::from_secs))
                .set_key_material_description(description)
                .set_import_type(import_type.as_deref().map(ImportType::from))
                .set_key_material_id(key_material_id)
                .send()
                .await
                .map_err(err)?;
            json!({"KeyId": out.key_id(), "KeyMaterialId": out.key_material_id()})
        }
        ImportCmd::DeleteImportedKeyMaterial {
            key_id,
            key_material_id,
        } => {
            let out = kms
                .delete_imported_key_material()
                .key_id(key_id)
                .set_key_material_id(key_material_id)
                .send()
                .await
                .map_err(err)?;
            json!({"KeyId": out.key_id(), "KeyMaterialId": out.key_material_id()})
        }
    })
}
