//! The cryptographic operations: Encrypt, Decrypt, ReEncrypt, GenerateDataKey,
//! GenerateDataKeyWithoutPlaintext, GenerateRandom.
//!
//! Every ciphertext is a [`CiphertextBlob`] whose header (key id, material version, salt) and
//! the canonical encryption context are the AEAD's additional data; the HSM seals each under a
//! key derived from the material and the blob's salt. Key state is checked on the
//! state read behind the barrier, so a key disabled before the request is refused.

use trent_hsm::{HsmError, MaterialRef};
use trent_model::{
    key_material_id, CiphertextBlob, EncryptionAlgorithm, EncryptionContext, Error, KeyRecord,
    KeyUsage,
};
use trent_policy::ContextValue;

use crate::authz::Ask;
use crate::output::{
    DecryptResponse, EncryptResponse, GenerateDataKeyResponse, GenerateRandomResponse, Output,
    ReEncryptResponse,
};
use crate::resolve::{find_key, parse_key_ref, Aliases};
use crate::signing::current;
use crate::types::{
    Context, DecryptRequest, EncryptRequest, GenerateDataKeyRequest, GenerateRandomRequest,
    ReEncryptRequest,
};
use crate::{required, Action, Blob, Call, OpError, Service};

impl Service {
    pub async fn encrypt(&self, call: &Call, req: EncryptRequest) -> Result<Output, OpError> {
        // Its length is the model's to check.
        let plaintext = required(req.plaintext, "plaintext")?;
        let algorithm = algorithm(req.encryption_algorithm.as_deref(), "encryptionAlgorithm")?;
        let context = context(req.encryption_context, "encryptionContext")?;
        let sealed = self
            .seal_for(
                call,
                req.key_id,
                Action::Encrypt,
                req.dry_run,
                &plaintext.0,
                &context,
                algorithm,
            )
            .await?;
        self.note_usage(sealed.key_id, "Encrypt", call);
        Ok(Output::Encrypt(EncryptResponse {
            ciphertext_blob: Blob(sealed.blob),
            key_id: sealed.arn,
            encryption_algorithm: sealed.algorithm.as_str(),
        }))
    }

    pub async fn decrypt(&self, call: &Call, req: DecryptRequest) -> Result<Output, OpError> {
        if req.recipient.is_some() {
            return Err(Error::unsupported("Recipient (Nitro Enclaves attestation)").into());
        }
        let algorithm = algorithm(req.encryption_algorithm.as_deref(), "encryptionAlgorithm")?;
        let blob_bytes = required(req.ciphertext_blob, "ciphertextBlob")?;
        let context = context(req.encryption_context, "encryptionContext")?;
        let mut opened = self
            .open(
                call,
                &blob_bytes.0,
                req.key_id,
                &context,
                Action::Decrypt,
                algorithm,
            )
            .await?;
        dry_run(req.dry_run)?;
        self.note_usage(opened.key_id, "Decrypt", call);
        let key_material_id = opened.symmetric_material_id();
        Ok(Output::Decrypt(DecryptResponse {
            // Moved, not copied: the Blob zeroizes it when the answer is dropped.
            plaintext: Blob(std::mem::take(&mut *opened.blob)),
            key_id: opened.arn,
            encryption_algorithm: opened.algorithm.as_str(),
            key_material_id,
        }))
    }

    pub async fn re_encrypt(&self, call: &Call, req: ReEncryptRequest) -> Result<Output, OpError> {
        let source_algorithm = algorithm(
            req.source_encryption_algorithm.as_deref(),
            "sourceEncryptionAlgorithm",
        )?;
        let destination_algorithm = algorithm(
            req.destination_encryption_algorithm.as_deref(),
            "destinationEncryptionAlgorithm",
        )?;
        let blob_bytes = required(req.ciphertext_blob, "ciphertextBlob")?;
        let source_context = context(req.source_encryption_context, "sourceEncryptionContext")?;
        let dest_context = context(
            req.destination_encryption_context,
            "destinationEncryptionContext",
        )?;
        let destination_id = required(req.destination_key_id, "destinationKeyId")?;
        let source = self
            .open(
                call,
                &blob_bytes.0,
                req.source_key_id,
                &source_context,
                Action::ReEncryptFrom,
                source_algorithm,
            )
            .await?;
        let destination = self
            .seal_for(
                call,
                Some(destination_id),
                Action::ReEncryptTo,
                req.dry_run,
                &source.blob,
                &dest_context,
                destination_algorithm,
            )
            .await?;
        self.note_usage(source.key_id, "ReEncrypt", call);
        self.note_usage(destination.key_id, "ReEncrypt", call);
        let source_key_material_id = source.symmetric_material_id();
        let destination_key_material_id = destination.symmetric_material_id();
        Ok(Output::ReEncrypt(ReEncryptResponse {
            ciphertext_blob: Blob(destination.blob),
            source_key_id: source.arn,
            key_id: destination.arn,
            source_encryption_algorithm: source.algorithm.as_str(),
            destination_encryption_algorithm: destination.algorithm.as_str(),
            source_key_material_id,
            destination_key_material_id,
        }))
    }

    /// GenerateDataKey, and GenerateDataKeyWithoutPlaintext when `with_plaintext` is false.
    pub async fn generate_data_key(
        &self,
        call: &Call,
        req: GenerateDataKeyRequest,
        with_plaintext: bool,
    ) -> Result<Output, OpError> {
        if req.recipient.is_some() {
            return Err(Error::unsupported("Recipient (Nitro Enclaves attestation)").into());
        }
        let size = data_key_size(req.key_spec.as_deref(), req.number_of_bytes)?;
        let context = context(req.encryption_context, "encryptionContext")?;
        let action = match with_plaintext {
            true => Action::GenerateDataKey,
            false => Action::GenerateDataKeyWithoutPlaintext,
        };
        let mut data_key = self.hsm().random(size)?;
        let sealed = self
            .seal_for(
                call,
                req.key_id,
                action,
                req.dry_run,
                &data_key,
                &context,
                None,
            )
            .await?;
        let operation = match with_plaintext {
            true => "GenerateDataKey",
            false => "GenerateDataKeyWithoutPlaintext",
        };
        self.note_usage(sealed.key_id, operation, call);
        Ok(Output::DataKey(GenerateDataKeyResponse {
            ciphertext_blob: Blob(sealed.blob),
            key_id: sealed.arn,
            key_material_id: sealed.material_id,
            plaintext: with_plaintext.then(|| Blob(std::mem::take(&mut *data_key))),
        }))
    }

    pub async fn generate_random(&self, req: GenerateRandomRequest) -> Result<Output, OpError> {
        if req.custom_key_store_id.is_some() || req.recipient.is_some() {
            return Err(Error::unsupported("CustomKeyStoreId and Recipient").into());
        }
        // Its range is the model's to check; only its absence is left.
        let n = req
            .number_of_bytes
            .ok_or_else(Error::number_of_bytes_required)? as usize;
        let mut random = self.hsm().random(n)?;
        Ok(Output::Random(GenerateRandomResponse {
            plaintext: Blob(std::mem::take(&mut *random)),
        }))
    }

    /// Seals `plaintext` under the current material of the key `key_id` names, once the key
    /// is authorized for `action`, usable, offers `algorithm` (SYMMETRIC_DEFAULT when absent),
    /// and `dry_run` is not set (in that order, each a refusal of its own). An RSA key
    /// encrypts with RSAES-OAEP (no header, no context: AWS's asymmetric ciphertext). The
    /// record is used under the state's read lock, not copied.
    #[allow(clippy::too_many_arguments)]
    pub(crate) async fn seal_for(
        &self,
        call: &Call,
        key_id: Option<String>,
        action: Action,
        dry_run_flag: Option<bool>,
        plaintext: &[u8],
        context: &EncryptionContext,
        algorithm: Option<EncryptionAlgorithm>,
    ) -> Result<KeyUse<Vec<u8>>, OpError> {
        let ask = encryption_ask(context, algorithm);
        self.with_key(call, key_id, Aliases::Accepted, action, ask, |_, key, _| {
            usable(key, KeyUsage::EncryptDecrypt, action)?;
            let algorithm = offered(key, algorithm)?;
            if algorithm != EncryptionAlgorithm::SymmetricDefault {
                check_rsa_request(key, algorithm, plaintext.len(), context)?;
                dry_run(dry_run_flag)?;
                let sealed = self.hsm().encrypt_asymmetric(
                    current(key)?,
                    key.metadata.key_spec,
                    algorithm,
                    plaintext,
                )?;
                return Ok(KeyUse::of(key, current(key)?.version, sealed, algorithm));
            }
            dry_run(dry_run_flag)?;
            let (version, blob) = self.seal(key, plaintext, context)?;
            Ok(KeyUse::of(key, version, blob, algorithm))
        })
        .await
    }

    /// What [`Service::seal_for`] would refuse before it seals with a symmetric key, without
    /// the plaintext: for callers that must do costly work to make it.
    pub(crate) async fn check_seal_for(
        &self,
        call: &Call,
        key_id: Option<String>,
        action: Action,
        dry_run_flag: Option<bool>,
        context: &EncryptionContext,
    ) -> Result<(), OpError> {
        let ask = encryption_ask(context, None);
        self.with_key(call, key_id, Aliases::Accepted, action, ask, |_, key, _| {
            usable(key, KeyUsage::EncryptDecrypt, action)?;
            offered(key, None)?;
            dry_run(dry_run_flag)?;
            Ok(())
        })
        .await
    }

    /// Seals `plaintext` under the key's current material: its version and the blob.
    fn seal(
        &self,
        key: &KeyRecord,
        plaintext: &[u8],
        context: &EncryptionContext,
    ) -> Result<(u32, Vec<u8>), OpError> {
        let material = key
            .material
            .last()
            .ok_or_else(|| Error::internal("key has no material"))?;
        // A fresh salt per blob: the HSM seals under a key derived from it, so each blob has a
        // key of its own.
        let salt = self.hsm().salt()?;
        let header = CiphertextBlob::header_for(key.metadata.key_id, material.version, &salt);
        let aad = CiphertextBlob::aad(&header, context);
        let material_ref = MaterialRef {
            key_id: key.metadata.key_id,
            version: material.version,
            wrapped: &material.blob,
        };
        // The blob is the header followed by what the HSM seals, built in one buffer.
        let mut blob = header;
        self.hsm()
            .encrypt_append(material_ref, &salt, plaintext, &aad, &mut blob)?;
        Ok((material.version, blob))
    }

    /// Parses and opens a blob: the key it names (checked against `expected` if given, and
    /// authorized for `action`), and the plaintext.
    async fn open(
        &self,
        call: &Call,
        bytes: &[u8],
        expected: Option<String>,
        context: &EncryptionContext,
        action: Action,
        algorithm: Option<EncryptionAlgorithm>,
    ) -> Result<KeyUse<trent_hsm::Plaintext>, OpError> {
        if let Some(algorithm) = algorithm.filter(|a| *a != EncryptionAlgorithm::SymmetricDefault) {
            return self
                .open_asymmetric(call, bytes, expected, context, action, algorithm)
                .await;
        }
        let expected = match expected {
            Some(text) => Some(parse_key_ref(&text, self.region(), Aliases::Accepted)?),
            None => None,
        };
        let ask = Ask {
            encryption_context: Some(&context.0),
            ..Ask::default()
        };
        // Everything happens while the state is read: the record is used, not copied.
        self.read_for(call, |s| -> Result<KeyUse<trent_hsm::Plaintext>, OpError> {
            let named = match &expected {
                Some(expected) => Some(find_key(s, &call.caller, self.region(), expected)?),
                None => None,
            };
            if let Some(named) = named.filter(|k| k.metadata.key_spec.is_asymmetric()) {
                // An RSA key's ciphertext needs its algorithm named: a caller allowed to
                // decrypt with the key is told so, before the bytes are read as a blob.
                self.authorize(s, call, named, action, &ask)?;
                usable(named, KeyUsage::EncryptDecrypt, action)?;
                return Err(Error::algorithm_for_spec(
                    EncryptionAlgorithm::SymmetricDefault,
                    named.metadata.key_spec,
                )
                .into());
            }
            let blob = CiphertextBlob::parse(bytes)?;
            if let Some(named) = named {
                if named.metadata.key_id != blob.key_id {
                    return Err(Error::incorrect_key().into());
                }
            }
            let key = s
                .key(&blob.key_id)
                .ok_or_else(Error::ciphertext_key_unknown)?;
            self.authorize(s, call, key, action, &ask)?;
            usable(key, KeyUsage::EncryptDecrypt, action)?;
            let material = key
                .material
                .iter()
                .find(|m| m.version == blob.material_version)
                .ok_or_else(Error::invalid_ciphertext)?;
            let material_ref = MaterialRef {
                key_id: key.metadata.key_id,
                version: material.version,
                wrapped: &material.blob,
            };
            let aad = CiphertextBlob::aad(blob.header, context);
            let plaintext =
                match self
                    .hsm()
                    .decrypt(material_ref, blob.salt, blob.nonce, blob.sealed, &aad)
                {
                    Ok(plaintext) => plaintext,
                    Err(HsmError::Authentication) => return Err(Error::invalid_ciphertext().into()),
                    Err(e) => return Err(e.into()),
                };
            Ok(KeyUse::of(
                key,
                material.version,
                plaintext,
                EncryptionAlgorithm::SymmetricDefault,
            ))
        })
        .await?
    }

    /// Decrypt of an RSAES-OAEP ciphertext: the key must be named (the ciphertext carries no
    /// header), offer `algorithm`, and open it.
    async fn open_asymmetric(
        &self,
        call: &Call,
        bytes: &[u8],
        expected: Option<String>,
        context: &EncryptionContext,
        action: Action,
        algorithm: EncryptionAlgorithm,
    ) -> Result<KeyUse<trent_hsm::Plaintext>, OpError> {
        let Some(key_id) = expected else {
            return Err(Error::key_id_for_asymmetric().into());
        };
        let ask = encryption_ask(context, Some(algorithm));
        self.with_key(
            call,
            Some(key_id),
            Aliases::Accepted,
            action,
            ask,
            |_, key, _| {
                usable(key, KeyUsage::EncryptDecrypt, action)?;
                offered(key, Some(algorithm))?;
                if !context.0.is_empty() {
                    return Err(Error::context_for_asymmetric().into());
                }
                let material = current(key)?;
                match self.hsm().decrypt_asymmetric(
                    material,
                    key.metadata.key_spec,
                    algorithm,
                    bytes,
                ) {
                    Ok(plaintext) => Ok(KeyUse::of(key, material.version, plaintext, algorithm)),
                    Err(HsmError::Authentication) => Err(Error::invalid_ciphertext().into()),
                    Err(e) => Err(e.into()),
                }
            },
        )
        .await
    }
}

/// What a use of a key yields (a ciphertext, a plaintext), with the key, the material
/// version and the algorithm used as answers name them.
pub(crate) struct KeyUse<T> {
    pub(crate) key_id: trent_model::KeyId,
    pub(crate) arn: String,
    pub(crate) material_id: String,
    pub(crate) blob: T,
    pub(crate) algorithm: EncryptionAlgorithm,
}

impl<T> KeyUse<T> {
    /// The material id, where AWS names it: for symmetric encryption only.
    fn symmetric_material_id(&self) -> Option<String> {
        (self.algorithm == EncryptionAlgorithm::SymmetricDefault).then(|| self.material_id.clone())
    }

    fn of(key: &KeyRecord, version: u32, blob: T, algorithm: EncryptionAlgorithm) -> KeyUse<T> {
        KeyUse {
            key_id: key.metadata.key_id,
            arn: key.metadata.arn().to_string(),
            material_id: key_material_id(key.metadata.key_id, version),
            blob,
            algorithm,
        }
    }
}

/// The key must be enabled and of `usage`, for `action`.
pub(crate) fn usable(key: &KeyRecord, usage: KeyUsage, action: Action) -> Result<(), Error> {
    let m = &key.metadata;
    m.require_enabled()?;
    if m.key_usage != usage {
        return Err(Error::invalid_key_usage(
            m.arn(),
            m.key_usage,
            action.operation(),
        ));
    }
    Ok(())
}

/// The encryption algorithm a request names, if any.
fn algorithm(text: Option<&str>, field: &str) -> Result<Option<EncryptionAlgorithm>, Error> {
    text.map(|t| EncryptionAlgorithm::parse_field(t, field))
        .transpose()
}

/// The algorithm to use with `key`: the one named (SYMMETRIC_DEFAULT when none is), which
/// the key's spec must offer.
fn offered(
    key: &KeyRecord,
    algorithm: Option<EncryptionAlgorithm>,
) -> Result<EncryptionAlgorithm, Error> {
    let m = &key.metadata;
    let algorithm = algorithm.unwrap_or(EncryptionAlgorithm::SymmetricDefault);
    match m
        .key_spec
        .encryption_algorithms(m.key_usage)
        .contains(&algorithm)
    {
        true => Ok(algorithm),
        false => Err(Error::algorithm_for_spec(algorithm, m.key_spec)),
    }
}

/// What RSA encryption refuses: an encryption context, a plaintext longer than OAEP takes.
/// (Data keys never get here: they are sealed with SYMMETRIC_DEFAULT, which RSA keys do not
/// offer.)
fn check_rsa_request(
    key: &KeyRecord,
    algorithm: EncryptionAlgorithm,
    plaintext_len: usize,
    context: &EncryptionContext,
) -> Result<(), Error> {
    let m = &key.metadata;
    if !context.0.is_empty() {
        return Err(Error::context_for_asymmetric());
    }
    let max = algorithm.max_oaep_plaintext(m.key_spec.rsa_modulus_len().unwrap_or(0));
    match plaintext_len <= max {
        true => Ok(()),
        false => Err(Error::rsa_plaintext_too_long(algorithm, m.key_spec, max)),
    }
}

/// What a request encrypting or decrypting under `context` with `algorithm` asks the
/// evaluator (`kms:EncryptionContext:*`, `kms:EncryptionAlgorithm`).
fn encryption_ask(context: &EncryptionContext, algorithm: Option<EncryptionAlgorithm>) -> Ask<'_> {
    Ask {
        encryption_context: Some(&context.0),
        context: algorithm_context(algorithm),
        ..Ask::default()
    }
}

fn algorithm_context(algorithm: Option<EncryptionAlgorithm>) -> Vec<(&'static str, ContextValue)> {
    let algorithm = algorithm.unwrap_or(EncryptionAlgorithm::SymmetricDefault);
    vec![(
        "kms:EncryptionAlgorithm",
        ContextValue::Single(algorithm.as_str().into()),
    )]
}

fn context(pairs: Option<Context>, field: &str) -> Result<EncryptionContext, Error> {
    EncryptionContext::new(pairs.unwrap_or_default(), field)
}

pub(crate) fn dry_run(flag: Option<bool>) -> Result<(), Error> {
    match flag {
        Some(true) => Err(Error::dry_run()),
        _ => Ok(()),
    }
}

/// Exactly one of `KeySpec` and `NumberOfBytes` (their values are the model's to check).
fn data_key_size(spec: Option<&str>, bytes: Option<i64>) -> Result<usize, Error> {
    match (spec, bytes) {
        (Some(_), Some(_)) => Err(Error::key_spec_and_bytes()),
        (None, None) => Err(Error::key_spec_or_bytes()),
        (Some("AES_128"), None) => Ok(16),
        (Some(_), None) => Ok(32),
        (None, Some(n)) => Ok(n as usize),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn data_key_size_takes_exactly_one_of_spec_and_bytes() {
        assert_eq!(data_key_size(Some("AES_256"), None).unwrap(), 32);
        assert_eq!(data_key_size(Some("AES_128"), None).unwrap(), 16);
        assert_eq!(data_key_size(None, Some(1)).unwrap(), 1);
        assert_eq!(
            data_key_size(None, None).unwrap_err().message,
            "Please specify either number of bytes or key spec."
        );
        let both = data_key_size(Some("AES_256"), Some(32)).unwrap_err();
        assert_eq!(both.kind, trent_model::ErrorKind::Validation);
    }
}
