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
    CreateKey {
        #[arg(long)]
        description: Option<String>,
    },
    DescribeKey {
        #[arg(long)]
        key_id: String,
    },
    ListKeys,
    EnableKey {
        #[arg(long)]
        key_id: String,
    },
    DisableKey {
        #[arg(long)]
        key_id: String,
    },
    ScheduleKeyDeletion {
        #[arg(long)]
        key_id: String,
        /// Waiting period, 7..30 days.
        #[arg(long, default_value_t = 30)]
        days: i32,
    },
    CancelKeyDeletion {
        #[arg(long)]
        key_id: String,
    },
    CreateAlias {
        #[arg(long)]
        alias_name: String,
        #[arg(long)]
        target_key_id: String,
    },
    ListAliases {
        #[arg(long)]
        key_id: Option<String>,
    },
    /// Encrypts the contents of --plaintext-file (at most 4096 bytes).
    Encrypt {
        #[arg(long)]
        key_id: String,
        #[arg(long)]
        plaintext_file: PathBuf,
    },
    /// Decrypts the ciphertext blob in --ciphertext-file; prints the plaintext as base64.
    Decrypt {
        #[arg(long)]
        ciphertext_file: PathBuf,
    },
    GenerateDataKey {
        #[arg(long)]
        key_id: String,
    },
    GenerateRandom {
        #[arg(long, default_value_t = 32)]
        bytes: i32,
    },
}

fn b64(bytes: &[u8]) -> String {
    base64::engine::general_purpose::STANDARD.encode(bytes)
}

fn read(path: &PathBuf) -> Result<Blob, String> {
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
            "Description": m.description(),
            "DeletionDate": m.deletion_date().map(|d| d.secs()),
        })
    })
    .unwrap_or(Value::Null)
}

/// The AWS error code and message of a failed call, or the transport failure.
fn err<E, R>(e: aws_sdk_kms::error::SdkError<E, R>) -> String
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
        KmsCmd::CreateKey { description } => {
            let out = kms
                .create_key()
                .set_description(description)
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
    })
}
