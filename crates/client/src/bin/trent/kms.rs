//! `trent kms ...`: AWS KMS operations through `aws-sdk-kms`, pointed at the trent endpoint.
//! Binary values are read from files or base64 and printed as base64.

use std::path::PathBuf;

use aws_sdk_kms::primitives::Blob;
use aws_sdk_kms::types::DataKeySpec;
use base64::Engine as _;
use clap::Subcommand;
use serde_json::{json, Value};

use crate::Context;

#[derive(Subcommand)]
pub enum KmsCmd {
    /// Creates a key in the caller's account: a symmetric encryption key (AES-256-GCM) by
    /// default, or any other --key-spec with its --key-usage.
    CreateKey {
        /// A description of the key, for people.
        #[arg(long)]
        description: Option<String>,
        /// SYMMETRIC_DEFAULT, RSA_2048, ECC_NIST_P256, ECC_NIST_EDWARDS25519, HMAC_256,
        /// ML_DSA_65, ML_KEM_768, ...
        #[arg(long)]
        key_spec: Option<String>,
        /// ENCRYPT_DECRYPT (default), SIGN_VERIFY, GENERATE_VERIFY_MAC, KEY_AGREEMENT or
        /// ENCAPSULATE_DECAPSULATE.
        #[arg(long)]
        key_usage: Option<String>,
        /// AWS_KMS (default: trent makes the material) or EXTERNAL (a key without material,
        /// for importing your own: `trent kms get-parameters-for-import`).
        #[arg(long)]
        origin: Option<String>,
    },
    /// Shows a key's metadata: id, ARN, state, description, deletion date.
    DescribeKey {
        /// Key id, key ARN, alias name (alias/...) or alias ARN.
        #[arg(long)]
        key_id: String,
    },
    /// Lists the keys of the caller's account.
    ListKeys,
    /// Enables a disabled key.
    EnableKey {
        /// Key id, key ARN, alias name or alias ARN.
        #[arg(long)]
        key_id: String,
    },
    /// Disables a key: it cannot be used until enabled again.
    DisableKey {
        /// Key id, key ARN, alias name or alias ARN.
        #[arg(long)]
        key_id: String,
    },
    /// Schedules a key's deletion after a waiting period; until then it can be cancelled.
    ScheduleKeyDeletion {
        /// Key id, key ARN, alias name or alias ARN.
        #[arg(long)]
        key_id: String,
        /// Waiting period, 7..30 days.
        #[arg(long, default_value_t = 30)]
        days: i32,
    },
    /// Cancels a scheduled deletion; the key comes back disabled.
    CancelKeyDeletion {
        /// Key id or key ARN.
        #[arg(long)]
        key_id: String,
    },
    /// Creates an alias (alias/NAME) that points at a key.
    CreateAlias {
        /// The alias, starting with alias/.
        #[arg(long)]
        alias_name: String,
        /// The key it points at: key id or key ARN.
        #[arg(long)]
        target_key_id: String,
    },
    /// Lists the aliases of the caller's account, or of one key.
    ListAliases {
        /// Only the aliases of this key (key id or key ARN).
        #[arg(long)]
        key_id: Option<String>,
    },
    /// Encrypts the contents of --plaintext-file (at most 4096 bytes).
    Encrypt {
        /// Key id, key ARN, alias name or alias ARN.
        #[arg(long)]
        key_id: String,
        /// The file to encrypt; the ciphertext blob is printed as base64.
        #[arg(long)]
        plaintext_file: PathBuf,
    },
    /// Decrypts the ciphertext blob in --ciphertext-file; prints the plaintext as base64.
    Decrypt {
        /// A file holding the ciphertext blob (raw bytes, as Encrypt made it).
        #[arg(long)]
        ciphertext_file: PathBuf,
    },
    /// Makes a 256-bit data key: prints it in plaintext and encrypted under the key (base64).
    GenerateDataKey {
        /// Key id, key ARN, alias name or alias ARN.
        #[arg(long)]
        key_id: String,
    },
    /// Prints random bytes from the service's generator (base64).
    GenerateRandom {
        /// How many bytes, 1..1024.
        #[arg(long, default_value_t = 32)]
        bytes: i32,
    },
    #[command(flatten)]
    Keys(crate::kms_keys::KeyCmd),
    #[command(flatten)]
    Rotation(crate::kms_rotation::RotationCmd),
    #[command(flatten)]
    Import(crate::kms_import::ImportCmd),
}

pub(crate) fn b64(bytes: &[u8]) -> String {
    base64::engine::general_purpose::STANDARD.encode(bytes)
}

pub(crate) fn read(path: &PathBuf) -> Result<Blob, String> {
    std::fs::read(path)
        .map(Blob::new)
        .map_err(|e| format!("{}: {e}", path.display()))
}

fn metadata(m: Option<&aws_sdk_kms::types::KeyMetadata>) -> Value {
    m.map(|m| {
        json!({
            "KeyId": m.key_id(),
            "Arn": m.arn(),
            "KeyState": m.key_state().map(|s| s.as_str()),
            "KeySpec": m.key_spec().map(|s| s.as_str()),
            "KeyUsage": m.key_usage().map(|u| u.as_str()),
            "Description": m.description(),
            "DeletionDate": m.deletion_date().map(|d| d.secs()),
            "Origin": m.origin().map(|o| o.as_str()),
            "CurrentKeyMaterialId": m.current_key_material_id(),
        })
    })
    .unwrap_or(Value::Null)
}

/// The AWS error code and message of a failed call, or the transport failure.
pub(crate) fn err<E, R>(e: aws_sdk_kms::error::SdkError<E, R>) -> String
where
    E: aws_sdk_kms::error::ProvideErrorMetadata + std::error::Error + 'static,
    R: std::fmt::Debug + 'static,
{
    match e.as_service_error() {
        Some(s) => format!(
            "{}: {}",
            s.code().unwrap_or("Error"),
            s.message().unwrap_or_default()
        ),
        None => trent_client::tls::describe(&e),
    }
}

pub async fn run(ctx: &Context, command: KmsCmd) -> Result<Value, String> {
    let kms = aws_sdk_kms::Client::new(&ctx.sdk);
    Ok(match command {
        KmsCmd::CreateKey {
            description,
            key_spec,
            key_usage,
            origin,
        } => {
            let out = kms
                .create_key()
                .set_description(description)
                .set_origin(origin.map(|o| aws_sdk_kms::types::OriginType::from(o.as_str())))
                .set_key_spec(key_spec.map(|s| aws_sdk_kms::types::KeySpec::from(s.as_str())))
                .set_key_usage(
                    key_usage.map(|u| aws_sdk_kms::types::KeyUsageType::from(u.as_str())),
                )
                .send()
                .await
                .map_err(err)?;
            json!({"KeyMetadata": metadata(out.key_metadata())})
        }
        KmsCmd::DescribeKey { key_id } => {
            let out = kms
                .describe_key()
                .key_id(key_id)
                .send()
                .await
                .map_err(err)?;
            json!({"KeyMetadata": metadata(out.key_metadata())})
        }
        KmsCmd::ListKeys => {
            let mut keys = vec![];
            let mut pages = kms.list_keys().into_paginator().send();
            while let Some(page) = pages.next().await {
                for k in page.map_err(err)?.keys() {
                    keys.push(json!({"KeyId": k.key_id(), "KeyArn": k.key_arn()}));
                }
            }
            json!({ "Keys": keys })
        }
        KmsCmd::EnableKey { key_id } => {
            kms.enable_key().key_id(key_id).send().await.map_err(err)?;
            json!({})
        }
        KmsCmd::DisableKey { key_id } => {
            kms.disable_key().key_id(key_id).send().await.map_err(err)?;
            json!({})
        }
        KmsCmd::ScheduleKeyDeletion { key_id, days } => {
            let out = kms
                .schedule_key_deletion()
                .key_id(key_id)
                .pending_window_in_days(days)
                .send()
                .await
                .map_err(err)?;
            json!({"KeyId": out.key_id(), "DeletionDate": out.deletion_date().map(|d| d.secs())})
        }
        KmsCmd::CancelKeyDeletion { key_id } => {
            let out = kms
                .cancel_key_deletion()
                .key_id(key_id)
                .send()
                .await
                .map_err(err)?;
            json!({"KeyId": out.key_id()})
        }
        KmsCmd::CreateAlias {
            alias_name,
            target_key_id,
        } => {
            kms.create_alias()
                .alias_name(alias_name)
                .target_key_id(target_key_id)
                .send()
                .await
                .map_err(err)?;
            json!({})
        }
        KmsCmd::ListAliases { key_id } => {
            let mut aliases = vec![];
            let mut pages = kms
                .list_aliases()
                .set_key_id(key_id)
                .into_paginator()
                .send();
            while let Some(page) = pages.next().await {
                for a in page.map_err(err)?.aliases() {
                    aliases.push(
                        json!({"AliasName": a.alias_name(), "TargetKeyId": a.target_key_id()}),
                    );
                }
            }
            json!({ "Aliases": aliases })
        }
        KmsCmd::Encrypt {
            key_id,
            plaintext_file,
        } => {
            let out = kms
                .encrypt()
                .key_id(key_id)
                .plaintext(read(&plaintext_file)?)
                .send()
                .await
                .map_err(err)?;
            json!({
                "KeyId": out.key_id(),
                "CiphertextBlob": out.ciphertext_blob().map(|b| b64(b.as_ref())),
            })
        }
        KmsCmd::Decrypt { ciphertext_file } => {
            let out = kms
                .decrypt()
                .ciphertext_blob(read(&ciphertext_file)?)
                .send()
                .await
                .map_err(err)?;
            json!({
                "KeyId": out.key_id(),
                "Plaintext": out.plaintext().map(|b| b64(b.as_ref())),
            })
        }
        KmsCmd::GenerateDataKey { key_id } => {
            let out = kms
                .generate_data_key()
                .key_id(key_id)
                .key_spec(DataKeySpec::Aes256)
                .send()
                .await
                .map_err(err)?;
            json!({
                "KeyId": out.key_id(),
                "CiphertextBlob": out.ciphertext_blob().map(|b| b64(b.as_ref())),
                "Plaintext": out.plaintext().map(|b| b64(b.as_ref())),
            })
        }
        KmsCmd::GenerateRandom { bytes } => {
            let out = kms
                .generate_random()
                .number_of_bytes(bytes)
                .send()
                .await
                .map_err(err)?;
            json!({"Plaintext": out.plaintext().map(|b| b64(b.as_ref()))})
        }
        KmsCmd::Keys(command) => crate::kms_keys::run(&kms, command).await?,
        KmsCmd::Rotation(command) => crate::kms_rotation::run(&kms, command).await?,
        KmsCmd::Import(command) => crate::kms_import::run(&kms, command).await?,
    })
}
