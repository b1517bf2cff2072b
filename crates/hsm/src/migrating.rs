//! The HSM of a node during the migration from the soft backend to a PKCS#11 token
//! (`trentd run --hsm pkcs11 ... --migrate-from-domain-key-file F`): both domain keys, the
//! old one in software, the new one in the token.
//!
//! Guarantees:
//! - **Reads follow the blob.** Material and secrets in the soft formats (1, 2) open in
//!   software, the token's (3, 4) in the token, so a node serves every blob either key wrote.
//!   Ciphertexts are the same under both backends for the same material.
//! - **Writes follow the cluster.** Until the cluster's state records the token's key check
//!   value, everything new (material, secrets, salts, MACs, the key check value, the audit
//!   signature) is the soft backend's, so nodes not yet restarted, which hold only the soft
//!   key, read it; from the log index that records the token's (`SwitchDomainKey`), the
//!   token's. [`Hsm::follow_recorded_key`] is how the node tells it; every node applies the
//!   switch at the same index.
//! - **Rewrapping.** After the switch, [`Hsm::rewrap_material`] and [`Hsm::rewrap_secret`]
//!   put a soft blob's material into the token (`pkcs11/adopt.rs`) and answer the token's
//!   blob; a leader task replaces every soft blob through Raft. The soft key stays in this
//!   process only as long as the node runs with the flag; once no soft blob is left, nodes
//!   restart without it.
//! - A backup's seal verifies under either key (replicas must judge a restore alike, whatever
//!   their batches); the fingerprint the leader checks first is the writing key's.

use std::sync::atomic::{AtomicBool, Ordering};

use trent_model::{
    KeyId, KeySpec, KeyUsage, MacAlgorithm, MessageType, Millis, WrappingAlgorithm, WrappingKeySpec,
};

use crate::soft_wrap::is_soft_blob;
use crate::{
    DataKeyPair, Hsm, HsmError, ImportParameters, ImportTokenFacts, ImportedMaterial, MaterialRef,
    Plaintext, ReopeningPkcs11, Salt, SoftHsm,
};

/// Both domain keys of a node being migrated to a PKCS#11 token.
pub struct MigratingHsm {
    soft: SoftHsm,
    token: ReopeningPkcs11,
    /// The cluster records the token's key check value: new blobs are the token's.
    token_writes: AtomicBool,
    token_check: [u8; 32],
}

impl MigratingHsm {
    /// A node holding the soft backend's key `soft` and the token's; it writes with the soft
    /// key until told the cluster switched.
    pub fn new(soft: SoftHsm, token: ReopeningPkcs11) -> MigratingHsm {
        MigratingHsm {
            token_check: token.key_check_value(),
            soft,
            token,
            token_writes: AtomicBool::new(false),
        }
    }

    /// Whether the cluster switched to the token's key (as far as this node has applied).
    pub fn switched(&self) -> bool {
        self.token_writes.load(Ordering::Acquire)
    }

    fn writer(&self) -> &dyn Hsm {
        match self.switched() {
            true => &self.token,
            false => &self.soft,
        }
    }

    fn other(&self) -> &dyn Hsm {
        match self.switched() {
            true => &self.soft,
            false => &self.token,
        }
    }

    /// The backend that wrote `wrapped`.
    fn reader(&self, wrapped: &[u8]) -> &dyn Hsm {
        match is_soft_blob(wrapped) {
            true => &self.soft,
            false => &self.token,
        }
    }

    fn not_switched() -> HsmError {
        HsmError::Token(
            "the cluster still writes under the soft domain key: nothing to rewrap until \
             SwitchDomainKey"
                .into(),
        )
    }
}

impl Hsm for MigratingHsm {
    fn generate_symmetric(&self, key_id: KeyId, version: u32) -> Result<Vec<u8>, HsmError> {
        self.writer().generate_symmetric(key_id, version)
    }

    crate::delegate::delegate_material_ops!(self, key => self.reader(key.wrapped));

    fn generate(&self, key_id: KeyId, version: u32, spec: KeySpec) -> Result<Vec<u8>, HsmError> {
        self.writer().generate(key_id, version, spec)
    }

    fn generate_data_key_pair(&self, spec: KeySpec) -> Result<DataKeyPair, HsmError> {
        self.writer().generate_data_key_pair(spec)
    }

    fn import_parameters(
        &self,
        key_id: KeyId,
        algorithm: WrappingAlgorithm,
        wrapping_spec: WrappingKeySpec,
        valid_to: Millis,
    ) -> Result<ImportParameters, HsmError> {
        self.writer()
            .import_parameters(key_id, algorithm, wrapping_spec, valid_to)
    }

    fn read_import_token(&self, token: &[u8]) -> Result<ImportTokenFacts, HsmError> {
        self.writer()
            .read_import_token(token)
            .or_else(|_| self.other().read_import_token(token))
    }

    fn import_material(
        &self,
        token: &[u8],
        encrypted: &[u8],
        key_id: KeyId,
        version: u32,
        spec: KeySpec,
    ) -> Result<ImportedMaterial, HsmError> {
        // The backend that issued the token imports. Once the cluster switched, a token the
        // soft key issued is refused: its material would land under the outgoing key, perhaps
        // after the rewrap finished, on a cluster about to drop that key.
        match self.soft.read_import_token(token) {
            Ok(_) if self.switched() => Err(HsmError::Pkcs11Unsupported(
                "importing with parameters issued before the domain key switch (ask \
                 GetParametersForImport again)",
            )),
            Ok(_) => self
                .soft
                .import_material(token, encrypted, key_id, version, spec),
            Err(_) => self
                .token
                .import_material(token, encrypted, key_id, version, spec),
        }
    }

    fn salt(&self) -> Result<Salt, HsmError> {
        self.writer().salt()
    }

    fn forget_key(&self, key_id: KeyId) {
        self.soft.forget_key(key_id);
        self.token.forget_key(key_id);
    }

    fn cached_keys(&self) -> usize {
        self.soft.cached_keys() + self.token.cached_keys()
    }

    fn random(&self, n: usize) -> Result<Plaintext, HsmError> {
        self.writer().random(n)
    }

    fn wrap_secret(&self, label: &[u8], secret: &[u8]) -> Result<Vec<u8>, HsmError> {
        self.writer().wrap_secret(label, secret)
    }

    fn unwrap_secret(&self, label: &[u8], wrapped: &[u8]) -> Result<Plaintext, HsmError> {
        self.reader(wrapped).unwrap_secret(label, wrapped)
    }

    fn domain_key_fingerprint(&self) -> [u8; 32] {
        self.writer().domain_key_fingerprint()
    }

    fn domain_mac(&self, purpose: &[u8], data: &[u8]) -> Result<[u8; 32], HsmError> {
        self.writer().domain_mac(purpose, data)
    }

    fn verify_domain_mac(&self, purpose: &[u8], data: &[u8], mac: &[u8]) -> Result<bool, HsmError> {
        if self.soft.verify_domain_mac(purpose, data, mac)? {
            return Ok(true);
        }
        self.token.verify_domain_mac(purpose, data, mac)
    }

    fn audit_public_key(&self) -> Result<Vec<u8>, HsmError> {
        self.writer().audit_public_key()
    }

    fn audit_sign(&self, data: &[u8]) -> Result<Vec<u8>, HsmError> {
        self.writer().audit_sign(data)
    }

    fn key_check_value(&self) -> [u8; 32] {
        self.writer().key_check_value()
    }

    fn health(&self) -> Result<(), HsmError> {
        self.token.health()
    }

    fn follow_recorded_key(&self, recorded: &[u8]) {
        let token = recorded == self.token_check;
        if self.token_writes.swap(token, Ordering::AcqRel) != token {
            tracing::info!(
                writes_under = if token {
                    "the token's key"
                } else {
                    "the soft key"
                },
                "the cluster's recorded domain key changed"
            );
        }
    }

    fn holds_key_check(&self, key_check: &[u8]) -> bool {
        key_check == self.token_check || key_check == self.soft.key_check_value()
    }

    fn next_key_check_value(&self) -> Option<[u8; 32]> {
        Some(self.token_check)
    }

    fn is_outgoing(&self, wrapped: &[u8]) -> bool {
        is_soft_blob(wrapped)
    }

    fn rewrap_material(&self, key: MaterialRef<'_>, spec: KeySpec) -> Result<Vec<u8>, HsmError> {
        if !self.switched() {
            return Err(Self::not_switched());
        }
        if !is_soft_blob(key.wrapped) {
            return Ok(key.wrapped.to_vec());
        }
        let secret = self.soft.unwrap_any(key, spec)?;
        let public = match spec {
            KeySpec::SymmetricDefault
            | KeySpec::Hmac224
            | KeySpec::Hmac256
            | KeySpec::Hmac384
            | KeySpec::Hmac512 => Vec::new(),
            _ => self.soft.public_key(key, spec)?,
        };
        let blob = self
            .token
            .adopt(key.key_id, key.version, spec, &secret, &public)?;
        self.check_same_material(key, spec, &blob)?;
        Ok(blob)
    }

    fn rewrap_secret(&self, label: &[u8], wrapped: &[u8]) -> Result<Vec<u8>, HsmError> {
        if !self.switched() {
            return Err(Self::not_switched());
        }
        if !is_soft_blob(wrapped) {
            return Ok(wrapped.to_vec());
        }
        let secret = self.soft.unwrap_secret(label, wrapped)?;
        self.token.wrap_secret(label, &secret)
    }
}

impl MigratingHsm {
    /// Proves the token's blob holds the soft blob's material before it replaces it: a
    /// symmetric key's ciphertext sealed in the token opens in software, an HMAC key's MAC is
    /// the same in both, a signature the token's private key makes verifies under the soft
    /// key's public key.
    fn check_same_material(
        &self,
        old: MaterialRef<'_>,
        spec: KeySpec,
        blob: &[u8],
    ) -> Result<(), HsmError> {
        let new = MaterialRef {
            wrapped: blob,
            ..old
        };
        let differs = || {
            HsmError::Token(format!(
                "the token's rewrap of key {} version {} does not hold the same material",
                old.key_id, old.version
            ))
        };
        let same = match spec {
            KeySpec::SymmetricDefault => {
                let salt = self.token.salt()?;
                let sealed = self.token.encrypt(new, &salt, b"rewrap", b"check")?;
                let opened = self.soft.decrypt(
                    old,
                    Some(&salt),
                    &sealed.nonce,
                    &sealed.ciphertext,
                    b"check",
                )?;
                opened.as_slice() == b"rewrap"
            }
            KeySpec::Hmac224 | KeySpec::Hmac256 | KeySpec::Hmac384 | KeySpec::Hmac512 => {
                let algorithm = hmac_algorithm(spec);
                let ours = self.token.generate_mac(new, spec, algorithm, b"rewrap")?;
                ours == self.soft.generate_mac(old, spec, algorithm, b"rewrap")?
            }
            _ => match spec.signing_algorithms(KeyUsage::SignVerify).first() {
                // The token's private key signs, the soft key's public key verifies.
                Some(&algorithm) => {
                    let raw = MessageType::Raw;
                    let signature = self.token.sign(new, spec, algorithm, raw, b"rewrap")?;
                    self.soft
                        .verify(old, spec, algorithm, raw, b"rewrap", &signature)?
                }
                None => self.token.public_key(new, spec)? == self.soft.public_key(old, spec)?,
            },
        };
        same.then_some(()).ok_or_else(differs)
    }
}

fn hmac_algorithm(spec: KeySpec) -> MacAlgorithm {
    match spec {
        KeySpec::Hmac224 => MacAlgorithm::HmacSha224,
        KeySpec::Hmac384 => MacAlgorithm::HmacSha384,
        KeySpec::Hmac512 => MacAlgorithm::HmacSha512,
        _ => MacAlgorithm::HmacSha256,
    }
}
