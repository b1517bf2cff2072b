//! `trent kms` commands for key rotation: automatic rotation on and off, its status,
//! on-demand rotation and the list of a key's materials. They go through the AWS SDK for
//! Rust, as the other `trent kms` commands do.

use aws_sdk_kms::types::IncludeKeyMaterial;
use clap::Subcommand;
use serde_json::{json, Value};

use crate::kms::err;

#[derive(Subcommand)]
pub enum RotationCmd {
    /// Turns on automatic rotation of a symmetric encryption key: new key material every
    /// --rotation-period-in-days (90-2560, default 365), the first a period from now.
    EnableKeyRotation {
        /// Key id or key ARN.
        #[arg(long)]
        key_id: String,
        #[arg(long)]
        rotation_period_in_days: Option<i32>,
    },
    /// Turns off automatic rotation; earlier materials still decrypt.
    DisableKeyRotation {
        #[arg(long)]
        key_id: String,
    },
    /// Prints whether automatic rotation is on, its period and next date.
    GetKeyRotationStatus {
        #[arg(long)]
        key_id: String,
    },
    /// Makes new key material current now (at most 25 times per key); earlier materials
    /// still decrypt.
    RotateKeyOnDemand {
        #[arg(long)]
        key_id: String,
    },
    /// Lists a key's rotations, every page (with --all-key-material, its first material too).
    ListKeyRotations {
        #[arg(long)]
        key_id: String,
        #[arg(long)]
        all_key_material: bool,
    },
}

pub async fn run(kms: &aws_sdk_kms::Client, command: RotationCmd) -> Result<Value, String> {
    Ok(match command {
        RotationCmd::EnableKeyRotation {
            key_id,
            rotation_period_in_days,
        } => {
            kms.enable_key_rotation()
                .key_id(key_id)
                .set_rotation_period_in_days(rotation_period_in_days)
                .send()
                .await
                .map_err(err)?;
            json!({})
        }
        RotationCmd::DisableKeyRotation { key_id } => {
            kms.disable_key_rotation()
                .key_id(key_id)
                .send()
                .await
                .map_err(err)?;
            json!({})
        }
        RotationCmd::GetKeyRotationStatus { key_id } => {
            let out = kms
                .get_key_rotation_status()
                .key_id(key_id)
                .send()
                .await
                .map_err(err)?;
            json!({
                "KeyId": out.key_id(),
                "KeyRotationEnabled": out.key_rotation_enabled(),
                "RotationPeriodInDays": out.rotation_period_in_days(),
                "NextRotationDate": out.next_rotation_date().map(|d| d.secs()),
            })
        }
        RotationCmd::RotateKeyOnDemand { key_id } => {
            let out = kms
                .rotate_key_on_demand()
                .key_id(key_id)
                .send()
                .await
                .map_err(err)?;
            json!({"KeyId": out.key_id()})
        }
        RotationCmd::ListKeyRotations {
            key_id,
            all_key_material,
        } => {
            let include = match all_key_material {
                true => IncludeKeyMaterial::AllKeyMaterial,
                false => IncludeKeyMaterial::RotationsOnly,
            };
            let mut rotations = vec![];
            let mut marker = None;
            loop {
                let page = kms
                    .list_key_rotations()
                    .key_id(&key_id)
                    .include_key_material(include.clone())
                    .set_marker(marker)
                    .send()
                    .await
                    .map_err(err)?;
                rotations.extend(page.rotations().iter().map(|r| {
                    json!({
                        "KeyMaterialId": r.key_material_id(),
                        "KeyMaterialState": r.key_material_state().map(|s| s.as_str()),
                        "RotationDate": r.rotation_date().map(|d| d.secs()),
                        "RotationType": r.rotation_type().map(|t| t.as_str()),
                    })
                }));
                match page.next_marker() {
                    Some(next) if page.truncated() => marker = Some(next.to_owned()),
                    _ => break,
                }
            }
            json!({"Rotations": rotations})
        }
    })
}
