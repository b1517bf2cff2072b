//! Signatures and MACs: Sign, Verify, GetPublicKey, GenerateMac, VerifyMac.
//!
//! Each checks, in AWS's order, that the key is authorized for the action, usable (its
//! state), of the right usage, that the algorithm is one the key's spec offers and the
//! message fits its type; then `DryRun`; then the HSM does the work under the state's read
//! lock. Nothing here changes state: a signature needs no log write, only the read barrier.

use serde_json::{json, Value};
use trent_hsm::MaterialRef;
use trent_model::{Error, KeyRecord, KeyUsage, MacAlgorithm, MessageType, SigningAlgorithm};
use trent_policy::ContextValue;

use crate::authz::Ask;
use crate::crypto::{dry_run, usable};
use crate::resolve::Aliases;
use crate::types::{
    names, GenerateMacRequest, KeyIdRequest, SignRequest, VerifyMacRequest, VerifyRequest,
};
use crate::{required, Action, Blob, Call, OpError, Service};

impl Service {
    pub async fn sign(&self, call: &Call, req: SignRequest) -> Result<Value, OpError> {
        let message = required(req.message, "message")?;
        let algorithm = parse_signing(req.signing_algorithm)?;
        let message_type = parse_message_type(req.message_type)?;
        let ask = signing_ask(algorithm, message_type);
        let (arn, signature) = self
            .with_key(
                call,
                req.key_id,
                Aliases::Accepted,
                Action::Sign,
                ask,
                |_, key, _| {
                    usable(key, KeyUsage::SignVerify, Action::Sign)?;
                    check_signing(key, algorithm, message_type, &message.0)?;
                    dry_run(req.dry_run)?;
                    let signature = self.hsm().sign(
                        current(key)?,
                        key.metadata.key_spec,
                        algorithm,
                        message_type,
                        &message.0,
                    )?;
                    Ok((key.metadata.arn().to_string(), signature))
                },
            )
            .await?;
        self.note_used(call, &arn, "Sign");
        Ok(json!({
            "KeyId": arn,
            "Signature": Blob(signature),
            "SigningAlgorithm": algorithm.as_str(),
        }))
    }

    pub async fn verify(&self, call: &Call, req: VerifyRequest) -> Result<Value, OpError> {
        let message = required(req.message, "message")?;
        let signature = required(req.signature, "signature")?;
        let algorithm = parse_signing(req.signing_algorithm)?;
        let message_type = parse_message_type(req.message_type)?;
        let ask = signing_ask(algorithm, message_type);
        let arn = self
            .with_key(
                call,
                req.key_id,
                Aliases::Accepted,
                Action::Verify,
                ask,
                |_, key, _| {
                    usable(key, KeyUsage::SignVerify, Action::Verify)?;
                    check_signing(key, algorithm, message_type, &message.0)?;
                    dry_run(req.dry_run)?;
                    let valid = self.hsm().verify(
                        current(key)?,
                        key.metadata.key_spec,
                        algorithm,
                        message_type,
                        &message.0,
                        &signature.0,
                    )?;
                    match valid {
                        true => Ok(key.metadata.arn().to_string()),
                        false => Err(Error::invalid_signature().into()),
                    }
                },
            )
            .await?;
        self.note_used(call, &arn, "Verify");
        Ok(json!({
            "KeyId": arn,
            "SignatureValid": true,
            "SigningAlgorithm": algorithm.as_str(),
        }))
    }

    pub async fn get_public_key(&self, call: &Call, req: KeyIdRequest) -> Result<Value, OpError> {
        let ask = Ask::default();
        self.with_key(
            call,
            req.key_id,
            Aliases::Accepted,
            Action::GetPublicKey,
            ask,
            |_, key, _| {
                let m = &key.metadata;
                usable(key, m.key_usage, Action::GetPublicKey)?;
                if !m.key_spec.is_asymmetric() {
                    return Err(
                        Error::invalid_key_usage(m.arn(), m.key_usage, "GetPublicKey").into(),
                    );
                }
                let public = self.hsm().public_key(current(key)?, m.key_spec)?;
                let (spec, usage) = (m.key_spec, m.key_usage);
                let mut answer = json!({
                    "KeyId": m.arn().to_string(),
                    "PublicKey": Blob(public),
                    "KeySpec": spec.as_str(),
                    "KeyUsage": usage.as_str(),
                });
                let lists = [
                    (
                        "EncryptionAlgorithms",
                        names(spec.encryption_algorithms(usage), |a| a.as_str()),
                    ),
                    (
                        "SigningAlgorithms",
                        names(spec.signing_algorithms(usage), |a| a.as_str()),
                    ),
                    (
                        "KeyAgreementAlgorithms",
                        names(spec.key_agreement_algorithms(usage), |a| a.as_str()),
                    ),
                    (
                        "EncapsulationAlgorithms",
                        names(spec.encapsulation_algorithms(usage), |a| a.as_str()),
                    ),
                ];
                for (name, list) in lists {
                    if let Some(list) = list {
                        answer[name] = json!(list);
                    }
                }
                if let Some(cmk) = spec.customer_master_key_spec() {
                    answer["CustomerMasterKeySpec"] = json!(cmk.as_str());
                }
                Ok(answer)
            },
        )
        .await
    }

    pub async fn generate_mac(
        &self,
        call: &Call,
        req: GenerateMacRequest,
    ) -> Result<Value, OpError> {
        let message = required(req.message, "message")?;
        let algorithm = parse_mac(req.mac_algorithm)?;
        let ask = mac_ask(algorithm);
        let (arn, mac) = self
            .with_key(
                call,
                req.key_id,
                Aliases::Accepted,
                Action::GenerateMac,
                ask,
                |_, key, _| {
                    usable(key, KeyUsage::GenerateVerifyMac, Action::GenerateMac)?;
                    check_mac(key, algorithm)?;
                    dry_run(req.dry_run)?;
                    let mac = self.hsm().generate_mac(
                        current(key)?,
                        key.metadata.key_spec,
                        algorithm,
                        &message.0,
                    )?;
                    Ok((key.metadata.arn().to_string(), mac))
                },
            )
            .await?;
        self.note_used(call, &arn, "GenerateMac");
        Ok(json!({ "KeyId": arn, "Mac": Blob(mac), "MacAlgorithm": algorithm.as_str() }))
    }

    pub async fn verify_mac(&self, call: &Call, req: VerifyMacRequest) -> Result<Value, OpError> {
        let message = required(req.message, "message")?;
        let mac = required(req.mac, "mac")?;
        let algorithm = parse_mac(req.mac_algorithm)?;
        let ask = mac_ask(algorithm);
        let arn = self
            .with_key(
                call,
                req.key_id,
                Aliases::Accepted,
                Action::VerifyMac,
                ask,
                |_, key, _| {
                    usable(key, KeyUsage::GenerateVerifyMac, Action::VerifyMac)?;
                    check_mac(key, algorithm)?;
                    dry_run(req.dry_run)?;
                    let valid = self.hsm().verify_mac(
                        current(key)?,
                        key.metadata.key_spec,
                        algorithm,
                        &message.0,
                        &mac.0,
                    )?;
                    match valid {
                        true => Ok(key.metadata.arn().to_string()),
                        false => Err(Error::invalid_mac().into()),
                    }
                },
            )
            .await?;
        self.note_used(call, &arn, "VerifyMac");
        Ok(json!({ "KeyId": arn, "MacValid": true, "MacAlgorithm": algorithm.as_str() }))
    }

    /// Records a successful use of the key `arn` names (GetKeyLastUsage).
    pub(crate) fn note_used(&self, call: &Call, arn: &str, operation: &str) {
        let id = arn.rsplit('/').next().and_then(|id| id.parse().ok());
        if let Some(id) = id {
            self.note_usage(id, operation, call);
        }
    }
}

/// The current material version of `key`.
pub(crate) fn current(key: &KeyRecord) -> Result<MaterialRef<'_>, Error> {
    let material = key
        .material
        .last()
        .ok_or_else(|| Error::internal("key has no material"))?;
    Ok(MaterialRef {
        key_id: key.metadata.key_id,
        version: material.version,
        wrapped: &material.blob,
    })
}

fn parse_signing(algorithm: Option<String>) -> Result<SigningAlgorithm, Error> {
    let text = required(algorithm, "signingAlgorithm")?;
    SigningAlgorithm::parse_field(&text, "signingAlgorithm")
}

fn parse_message_type(message_type: Option<String>) -> Result<MessageType, Error> {
    match message_type {
        None => Ok(MessageType::Raw),
        Some(text) => MessageType::parse_field(&text, "messageType"),
    }
}

fn parse_mac(algorithm: Option<String>) -> Result<MacAlgorithm, Error> {
    let text = required(algorithm, "macAlgorithm")?;
    MacAlgorithm::parse_field(&text, "macAlgorithm")
}

/// The algorithm must be one the key's spec offers, and the message must fit its type.
fn check_signing(
    key: &KeyRecord,
    algorithm: SigningAlgorithm,
    message_type: MessageType,
    message: &[u8],
) -> Result<(), Error> {
    let m = &key.metadata;
    if !m
        .key_spec
        .signing_algorithms(m.key_usage)
        .contains(&algorithm)
    {
        return Err(Error::algorithm_for_spec(algorithm, m.key_spec));
    }
    algorithm.check_message(message_type, message)
}

fn check_mac(key: &KeyRecord, algorithm: MacAlgorithm) -> Result<(), Error> {
    let m = &key.metadata;
    match m.key_spec.mac_algorithms(m.key_usage).contains(&algorithm) {
        true => Ok(()),
        false => Err(Error::algorithm_for_spec(algorithm, m.key_spec)),
    }
}

fn signing_ask(algorithm: SigningAlgorithm, message_type: MessageType) -> Ask<'static> {
    Ask {
        context: vec![
            (
                "kms:SigningAlgorithm",
                ContextValue::Single(algorithm.as_str().into()),
            ),
            (
                "kms:MessageType",
                ContextValue::Single(message_type.as_str().into()),
            ),
        ],
        ..Ask::default()
    }
}

fn mac_ask(algorithm: MacAlgorithm) -> Ask<'static> {
    Ask {
        context: vec![(
            "kms:MacAlgorithm",
            ContextValue::Single(algorithm.as_str().into()),
        )],
        ..Ask::default()
    }
}
