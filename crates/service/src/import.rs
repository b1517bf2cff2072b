//! Imported key material (BYOK): GetParametersForImport, ImportKeyMaterial,
//! DeleteImportedKeyMaterial, and the leader's expiry of imported material.
//!
//! The wrapping key pair is made by the HSM and its private half travels only inside the
//! import token, sealed under the domain key: no state holds wrapping keys, any leader opens
//! any token, and the token binds the key, the wrapping algorithm and its 24-hour lifetime.
//! The user's wrapped material is unwrapped, checked and wrapped again under the domain key
//! inside the HSM; the service sees only the new wrapped blob and a keyed fingerprint. The
//! state refuses a token used before (it keeps spent token ids until they expire) and a
//! re-import of material other than the first (the fingerprints differ). Expiry is a timed
//! action due by the cluster's trusted time, as deletion and rotation are.

use serde_json::{json, Value};
use trent_hsm::{HsmError, ImportedMaterial};
use trent_model::{
    importable, key_material_id, Error, ExpirationModel, ImportType, KeyId, KeyRecord, KeySpec,
    KeyState, Millis, Origin, UsedToken, WrappedMaterial, WrappingAlgorithm, WrappingKeySpec,
    FIRST_MATERIAL_VERSION, IMPORT_PARAMETERS_VALID_MS, MAX_VALID_TO_MS,
};
use trent_protocol::types::{
    epoch_seconds, DeleteImportedKeyMaterialRequest, GetParametersForImportRequest,
    ImportKeyMaterialRequest,
};
use trent_state::{Command, MaterialImport, Outcome, State, IMPORTED_ROTATION_COMMANDS};

use crate::deletion::{every_second, system_call};
use crate::{required, Action, Call, OpError, Service};

impl Service {
    pub async fn get_parameters_for_import(
        &self,
        call: &Call,
        req: GetParametersForImportRequest,
    ) -> Result<Value, OpError> {
        let algorithm = WrappingAlgorithm::parse_field(
            &required(req.wrapping_algorithm, "wrappingAlgorithm")?,
            "wrappingAlgorithm",
        )?;
        let wrapping_spec = WrappingKeySpec::parse_field(
            &required(req.wrapping_key_spec, "wrappingKeySpec")?,
            "wrappingKeySpec",
        )?;
        let action = Action::GetParametersForImport;
        let (key_id, spec, arn) = self
            .with_key_id(call, req.key_id, action, |_, key, _| {
                external_live(key)?;
                let m = &key.metadata;
                Ok((m.key_id, m.key_spec, m.arn().to_string()))
            })
            .await?;
        check_wrapping(spec, algorithm, wrapping_spec)?;
        let valid_to = self.now().await? + IMPORT_PARAMETERS_VALID_MS;
        let hsm = self.hsm_shared();
        // RSA-4096 generation takes up to seconds: off the request path.
        let made = tokio::task::spawn_blocking(move || {
            hsm.import_parameters(key_id, algorithm, wrapping_spec, valid_to)
        })
        .await
        .map_err(|_| Error::internal("wrapping key generation stopped"))??;
        Ok(json!({
            "KeyId": arn,
            "ImportToken": b64(&made.token),
            "PublicKey": b64(&made.public_key),
            "ParametersValidTo": epoch_seconds(valid_to),
        }))
    }

    pub async fn import_key_material(
        &self,
        call: &Call,
        req: ImportKeyMaterialRequest,
    ) -> Result<Value, OpError> {
        // Neither is secret (the material is wrapped): out of their zeroizing blobs.
        let token = std::mem::take(&mut required(req.import_token, "importToken")?.0);
        let encrypted =
            std::mem::take(&mut required(req.encrypted_key_material, "encryptedKeyMaterial")?.0);
        let expiration = req
            .expiration_model
            .as_deref()
            .map(|t| ExpirationModel::parse_field(t, "expirationModel"))
            .transpose()?
            .unwrap_or(ExpirationModel::KeyMaterialExpires);
        let import_type = req
            .import_type
            .as_deref()
            .map(|t| ImportType::parse_field(t, "importType"))
            .transpose()?;
        let now = self.now().await?;
        let valid_to = valid_to(expiration, req.valid_to, now)?;
        let action = Action::ImportKeyMaterial;
        let (key_id, spec, versions) = self
            .with_key_id(call, req.key_id, action, |s, key, _| {
                external_live(key)?;
                let m = &key.metadata;
                Ok((m.key_id, m.key_spec, Versions::of(s, &m.key_id)))
            })
            .await?;
        let target = import_target(
            key_id,
            spec,
            import_type,
            req.key_material_id.as_deref(),
            &versions,
        )?;
        let facts = self.hsm().read_import_token(&token).map_err(import_error)?;
        if facts.key_id != key_id {
            return Err(Error::import_token_invalid().into());
        }
        if facts.valid_to < now {
            return Err(Error::import_token_expired().into());
        }
        let (version, imported) = self
            .unwrap_import(&token, &encrypted, key_id, spec, target, &versions)
            .await?;
        let import = MaterialImport {
            key_id,
            material: WrappedMaterial {
                version,
                created: 0, // the state stamps the import's time
                blob: imported.blob,
            },
            fingerprint: imported.fingerprint,
            token: UsedToken {
                id: facts.token_id,
                valid_to: facts.valid_to,
            },
            valid_to,
            description: req.key_material_description,
        };
        let command = match target {
            Target::Pending(_) => {
                self.require_commands(IMPORTED_ROTATION_COMMANDS).await?;
                Command::ImportPendingMaterial(import)
            }
            _ => Command::ImportKeyMaterial(import),
        };
        material_answer(self.write(call, command).await?)
    }

    /// Unwraps and rewraps the imported material under the version it goes to. A re-import
    /// that names no version is first taken for the current one; if its fingerprint is
    /// another version's, it is wrapped again for that one.
    async fn unwrap_import(
        &self,
        token: &[u8],
        encrypted: &[u8],
        key_id: KeyId,
        spec: KeySpec,
        target: Target,
        versions: &Versions,
    ) -> Result<(u32, ImportedMaterial), OpError> {
        let version = target.version();
        let mut imported = self
            .import_material(token, encrypted, key_id, version, spec)
            .await?;
        // Material a version holds goes with the fingerprint recorded for it (which may be
        // the soft backend's earlier kind), so the state's comparisons see the same bytes.
        let recorded = versions.with_material(&imported);
        if let Some((_, fingerprint)) = recorded {
            imported.fingerprint = fingerprint;
        }
        if target != Target::Existing(version, false) {
            return Ok((version, imported));
        }
        match recorded {
            None => Err(Error::import_different_material().into()),
            Some((v, _)) if v == version => Ok((version, imported)),
            Some((v, fingerprint)) => {
                let mut again = self
                    .import_material(token, encrypted, key_id, v, spec)
                    .await?;
                again.fingerprint = fingerprint;
                Ok((v, again))
            }
        }
    }

    async fn import_material(
        &self,
        token: &[u8],
        encrypted: &[u8],
        key_id: KeyId,
        version: u32,
        spec: KeySpec,
    ) -> Result<ImportedMaterial, OpError> {
        let hsm = self.hsm_shared();
        let (token, encrypted) = (token.to_vec(), encrypted.to_vec());
        tokio::task::spawn_blocking(move || {
            hsm.import_material(&token, &encrypted, key_id, version, spec)
        })
        .await
        .map_err(|_| Error::internal("key material import stopped"))?
        .map_err(import_error)
    }

    pub async fn delete_imported_key_material(
        &self,
        call: &Call,
        req: DeleteImportedKeyMaterialRequest,
    ) -> Result<Value, OpError> {
        let action = Action::DeleteImportedKeyMaterial;
        let (key_id, versions) = self
            .with_key_id(call, req.key_id, action, |s, key, _| {
                let m = &key.metadata;
                if m.origin != Origin::External {
                    return Err(Error::origin_not_valid(m.arn(), m.origin).into());
                }
                Ok((m.key_id, Versions::of(s, &m.key_id)))
            })
            .await?;
        let version = match &req.key_material_id {
            Some(id) => versions
                .named(key_id, id)
                .ok_or_else(|| Error::import_material_id(id))?,
            None => versions.current.unwrap_or(FIRST_MATERIAL_VERSION),
        };
        // One version and nothing pending: the command every build since set 3 applies.
        let command = match versions.all.len() <= 1 && versions.pending.is_none() {
            true => Command::DeleteImportedKeyMaterial { key_id },
            false => {
                self.require_commands(IMPORTED_ROTATION_COMMANDS).await?;
                Command::DeleteImportedVersion { key_id, version }
            }
        };
        material_answer(self.write(call, command).await?)
    }

    /// Removes every imported material whose `ValidTo` has passed by the cluster's trusted
    /// time; answers how many keys lost theirs. Only the leader does anything.
    pub async fn expire_due_material(&self) -> Result<usize, OpError> {
        if !self.node().is_leader() {
            return Ok(0);
        }
        let now = self.node().timed_action_time().await?;
        let due = self.read(|s| s.keys_with_expired_material(now)).await?;
        let mut expired = 0;
        for key_id in due {
            let command = Command::ExpireKeyMaterial { key_id };
            match self.write(&system_call(), command).await {
                Ok(_) => {
                    tracing::info!(%key_id, "imported key material expired and was deleted");
                    expired += 1;
                }
                Err(OpError::Api(e)) => tracing::warn!(%key_id, error = %e, "expiry refused"),
                Err(e) => return Err(e),
            }
        }
        Ok(expired)
    }

    /// Runs [`Service::expire_due_material`] every second until the node shuts down.
    pub fn spawn_expiry_task(&self) -> tokio::task::JoinHandle<()> {
        every_second(
            self,
            "expiry",
            |s| async move { s.expire_due_material().await },
        )
    }
}

/// CreateKey with `Origin=EXTERNAL`: a key of a spec that imports, with no material, waiting
/// for its import.
pub(crate) fn check_external_spec(spec: KeySpec) -> Result<(), Error> {
    match importable(spec) {
        true => Ok(()),
        false => Err(Error::import_spec(spec)),
    }
}

/// An EXTERNAL key that is not pending deletion.
fn external_live(key: &KeyRecord) -> Result<(), Error> {
    let m = &key.metadata;
    if m.origin != Origin::External {
        return Err(Error::origin_not_valid(m.arn(), m.origin));
    }
    match m.key_state {
        KeyState::PendingDeletion => Err(Error::key_state(m.arn(), "pending deletion")),
        _ => Ok(()),
    }
}

/// The wrapping AWS offers outside China, and for RSA private keys only the RSA_AES
/// algorithms (RSA-OAEP cannot carry a key that long).
fn check_wrapping(
    spec: KeySpec,
    algorithm: WrappingAlgorithm,
    wrapping_spec: WrappingKeySpec,
) -> Result<(), Error> {
    use WrappingAlgorithm as A;
    match algorithm {
        A::RsaesPkcs1V15 => {
            return Err(Error::import_wrapping(
                "WrappingAlgorithm RSAES_PKCS1_V1_5 (retired by AWS KMS in 2023)",
            ))
        }
        A::Sm2Pke => return Err(Error::key_spec_china_only("SM2PKE")),
        _ => {}
    }
    if wrapping_spec == WrappingKeySpec::Sm2 {
        return Err(Error::key_spec_china_only("SM2"));
    }
    let rsa = matches!(spec, KeySpec::Rsa2048 | KeySpec::Rsa3072 | KeySpec::Rsa4096);
    let aes_wrap = matches!(algorithm, A::RsaAesKeyWrapSha1 | A::RsaAesKeyWrapSha256);
    match rsa && !aes_wrap {
        true => Err(Error::import_rsa_needs_aes_wrap()),
        false => Ok(()),
    }
}

/// `ValidTo` as the expiration model asks: required and within 365 days for
/// KEY_MATERIAL_EXPIRES, absent otherwise.
fn valid_to(
    expiration: ExpirationModel,
    valid_to: Option<f64>,
    now: Millis,
) -> Result<Option<Millis>, Error> {
    match (expiration, valid_to) {
        (ExpirationModel::KeyMaterialExpires, None) => Err(Error::import_valid_to_required()),
        (ExpirationModel::KeyMaterialDoesNotExpire, Some(_)) => {
            Err(Error::import_valid_to_forbidden())
        }
        (ExpirationModel::KeyMaterialDoesNotExpire, None) => Ok(None),
        (ExpirationModel::KeyMaterialExpires, Some(seconds)) => {
            let at = (seconds * 1000.0) as Millis;
            match at > now && at <= now + MAX_VALID_TO_MS {
                true => Ok(Some(at)),
                false => Err(Error::import_valid_to_range(epoch_seconds(now))),
            }
        }
    }
}

/// What a key's imports hold, read before an import or a deletion: every version with its
/// fingerprint, the current one, and the version of material waiting for its rotation.
#[derive(Default)]
struct Versions {
    all: Vec<(u32, [u8; 32])>,
    current: Option<u32>,
    pending: Option<u32>,
}

impl Versions {
    fn of(state: &State, key_id: &KeyId) -> Versions {
        let pending = state.pending_material(key_id).map(|p| p.material.version);
        let Some(r) = state.key_import(key_id) else {
            return Versions {
                pending,
                ..Versions::default()
            };
        };
        Versions {
            all: r
                .materials
                .iter()
                .map(|m| (m.version, m.fingerprint))
                .collect(),
            current: r.current(),
            pending,
        }
    }

    /// The version a `KeyMaterialId` names, among the key's and its pending one.
    fn named(&self, key_id: KeyId, id: &str) -> Option<u32> {
        let mut versions = self.all.iter().map(|(v, _)| *v).chain(self.pending);
        versions.find(|v| key_material_id(key_id, *v) == id)
    }

    /// The version holding `imported`'s material, and the fingerprint recorded for it.
    fn with_material(&self, imported: &ImportedMaterial) -> Option<(u32, [u8; 32])> {
        self.all.iter().copied().find(|(_, f)| imported.matches(f))
    }
}

/// Where imported material goes.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Target {
    /// The key's first material (version 1).
    First,
    /// New material for a rotation, under the next version.
    Pending(u32),
    /// A version the key has: named by `KeyMaterialId` (`true`), or taken to be the current
    /// one until the material's fingerprint says which (`false`).
    Existing(u32, bool),
}

impl Target {
    fn version(self) -> u32 {
        match self {
            Target::First => FIRST_MATERIAL_VERSION,
            Target::Pending(v) | Target::Existing(v, _) => v,
        }
    }
}

/// Where an import goes, as AWS decides it: `ImportType` is for symmetric encryption keys
/// only and defaults to NEW_KEY_MATERIAL for a key that never had material, to
/// EXISTING_KEY_MATERIAL after; a `KeyMaterialId` names a version the key has, and never goes
/// with NEW_KEY_MATERIAL.
fn import_target(
    key_id: KeyId,
    spec: KeySpec,
    import_type: Option<ImportType>,
    material_id: Option<&str>,
    versions: &Versions,
) -> Result<Target, Error> {
    if import_type.is_some() && spec != KeySpec::SymmetricDefault {
        return Err(Error::import_type_for_spec(spec));
    }
    let had_material = versions.current.is_some();
    let new = match import_type {
        Some(t) => t == ImportType::NewKeyMaterial,
        None => !had_material,
    };
    match (new, material_id) {
        (true, Some(_)) if import_type.is_some() => Err(Error::import_material_id_with_new()),
        (_, Some(id)) if !had_material => Err(Error::import_material_id(id)),
        (true, _) if !had_material => Ok(Target::First),
        (true, _) => Ok(Target::Pending(versions.current.unwrap_or(0) + 1)),
        (false, _) if !had_material => Err(Error::incorrect_key_material(
            "No key material was imported into this KMS key before: use ImportType NEW_KEY_MATERIAL",
        )),
        (false, Some(id)) => match versions.named(key_id, id) {
            Some(v) if Some(v) != versions.pending => Ok(Target::Existing(v, true)),
            _ => Err(Error::import_material_id(id)),
        },
        (false, None) => Ok(Target::Existing(versions.current.unwrap_or(1), false)),
    }
}

/// The HSM's refusals of an import, as AWS names them.
fn import_error(e: HsmError) -> OpError {
    match e {
        HsmError::InvalidImportToken => Error::import_token_invalid().into(),
        HsmError::ImportUnwrap => Error::import_unwrap().into(),
        HsmError::IncorrectKeyMaterial(why) => Error::incorrect_key_material(why).into(),
        HsmError::ImportUnsupported(what) => Error::import_wrapping(what).into(),
        other => other.into(),
    }
}

/// ImportKeyMaterial's and DeleteImportedKeyMaterial's answer (a retry's too), from what
/// applying it produced: the key ARN, and the id of the version imported or deleted where AWS
/// names material (symmetric encryption keys).
pub(crate) fn material_answer(outcome: Outcome) -> Result<Value, OpError> {
    let (m, version) = match outcome {
        Outcome::Key(m) => (m, FIRST_MATERIAL_VERSION),
        Outcome::Material(m, version) => (m, version),
        other => return Err(Error::internal(format!("an import answered {other:?}")).into()),
    };
    let mut out = json!({ "KeyId": m.arn().to_string() });
    if m.key_spec == KeySpec::SymmetricDefault {
        out["KeyMaterialId"] = json!(key_material_id(m.key_id, version));
    }
    Ok(out)
}

fn b64(bytes: &[u8]) -> String {
    use base64::Engine as _;
    base64::engine::general_purpose::STANDARD.encode(bytes)
}
