//! Backup and restore of the whole replicated state, for the admin target.
//!
//! Export: behind the linearizable read barrier, the leader copies the state (so the copy
//! holds every write acknowledged before the call), encodes its entity records, each labelled
//! with its owner account, seals them with an HMAC under the domain key (made in the HSM) and
//! records the domain key's fingerprint. Import: parts are staged through the log; after the
//! last one the leader checks the whole blob (checksum, format, fingerprint, seal, owners) and
//! proposes the one command that swaps it in, or drops the staging area and says why. The
//! commit's apply checks the seal and owners again (`trent_state::check_backup`), so nothing
//! that reaches the log unchecked can restore a blob the domain key did not seal.
//!
//! Nothing here sees plaintext: key material and secrets stay wrapped under the domain key
//! from the state, through the blob, into the restored state.

use trent_hsm::Hsm;
use trent_model::{AccountId, Error};
use trent_state::backup::{self, BackupBytes, BackupError, BackupHeader, SEAL_PURPOSE};
use trent_state::{Command, SealCheck, State};
use uuid::Uuid;

use crate::{Call, OpError, Service};

/// A finished backup and what it says about itself.
pub struct ExportedBackup {
    pub header: BackupHeader,
    pub blob: Vec<u8>,
}

/// One part of a backup being imported.
pub struct ImportPart {
    pub restore_id: Uuid,
    pub part: u32,
    pub parts: u32,
    pub data: Vec<u8>,
}

/// Where an import stands after a part.
pub enum ImportProgress {
    Staged { received: u32, parts: u32 },
    Restored(Box<BackupHeader>),
}

impl Service {
    /// A point-in-time backup of the whole state. The caller's authority (the operator root)
    /// is the admin front end's to check.
    pub async fn export_backup(&self, call: &Call) -> Result<ExportedBackup, OpError> {
        let node = self.node();
        let (status, state) = self.read_for(call, |s| (node.status(), s.clone())).await?;
        let records = state.backup_records();
        let created = self.now().await?;
        let fingerprint = self.hsm().domain_key_fingerprint();
        let header = BackupHeader {
            cluster: node.cluster_name().to_owned(),
            created,
            created_at: Some(backup::rfc3339(created)),
            term: status.term,
            // Read under the state lock before the copy: the copy holds at least this much.
            last_applied_index: status.last_applied,
            domain_key_fingerprint: hex(&fingerprint),
            records: records.len() as u64,
            ..counted(&state)
        };
        let body = backup::encode_body(&header, &records);
        if let Some(pause) = backup_seal_pause() {
            tokio::time::sleep(pause).await;
        }
        let seal = self.hsm().domain_mac(SEAL_PURPOSE, &body)?;
        // A domain key switch (SwitchDomainKey, one way, once) between the fingerprint and the
        // seal would give a backup naming one key and sealed by the other, which no cluster
        // could restore: the caller asks again instead.
        if self.hsm().domain_key_fingerprint() != fingerprint {
            return Err(Error::unavailable(
                "the cluster switched its domain key while this backup was made: export it again",
            )
            .into());
        }
        Ok(ExportedBackup {
            header,
            blob: backup::finish(body, &seal),
        })
    }

    /// Stages one part; after the last, checks the whole backup and restores it. `operator`
    /// is the account whose root keys a fresh cluster may hold (and keeps).
    pub async fn import_backup(
        &self,
        call: &Call,
        operator: &AccountId,
        part: ImportPart,
    ) -> Result<ImportProgress, OpError> {
        if part.part == 0 {
            self.check_importable(call, operator, &part.data).await?;
        }
        let (restore_id, index, parts) = (part.restore_id, part.part, part.parts);
        let command = Command::RestorePart {
            restore_id,
            part: index,
            parts,
            data: BackupBytes(part.data),
            operator: operator.clone(),
        };
        self.write(call, command).await?;
        if index + 1 < parts {
            return Ok(ImportProgress::Staged {
                received: index + 1,
                parts,
            });
        }
        self.finish_import(call, operator, restore_id).await
    }

    /// Early refusals on part 0, before the rest is uploaded: a cluster that is not fresh,
    /// a blob that is no backup or was made under another domain key.
    async fn check_importable(
        &self,
        call: &Call,
        operator: &AccountId,
        first: &[u8],
    ) -> Result<(), OpError> {
        let blocker = self.read_for(call, |s| s.restore_blocker(operator)).await?;
        if let Some(why) = blocker {
            return Err(Error::admin_state(why).into());
        }
        if let Some(header) = backup::peek_header(first).map_err(invalid)? {
            self.check_fingerprint(&header)?;
        }
        Ok(())
    }

    /// Verifies the staged blob and commits it, or drops it and says why. A retried last
    /// part finds the staging area gone and re-proposes the commit under the same derived
    /// request id, which answers the first commit's response.
    async fn finish_import(
        &self,
        call: &Call,
        operator: &AccountId,
        restore_id: Uuid,
    ) -> Result<ImportProgress, OpError> {
        // This node just applied the last part as leader, so its local state holds it.
        let staged = self.node().read_local(|s| s.staged_backup(restore_id));
        if let Some(pause) = restore_finish_pause() {
            tokio::time::sleep(pause).await;
        }
        let header = match staged.as_deref().map(|blob| self.verify_backup(blob)) {
            Some(Err(refusal)) => {
                let abort = Command::RestoreAbort { restore_id };
                self.write(&derived(call, "abort"), abort).await?;
                return Err(refusal.into());
            }
            Some(Ok(header)) => Some(header),
            None => None,
        };
        let commit = Command::RestoreCommit {
            restore_id,
            operator: operator.clone(),
        };
        self.write(&derived(call, "commit"), commit).await?;
        let header = match header {
            Some(header) => header,
            None => self.read_for(call, summary).await?,
        };
        tracing::info!(
            source_cluster = %header.cluster,
            keys = header.keys,
            aliases = header.aliases,
            "restored a backup"
        );
        Ok(ImportProgress::Restored(Box::new(header)))
    }

    /// Checks a whole blob: checksum and format, then the domain key, then what the restore
    /// commit's apply checks again (the seal, owner labels, records).
    fn verify_backup(&self, blob: &[u8]) -> Result<BackupHeader, Error> {
        let parsed = backup::parse(blob).map_err(invalid)?;
        self.check_fingerprint(&parsed.header)?;
        let (header, _) = trent_state::check_backup(blob, &DomainSeal(self.hsm()))?;
        Ok(header)
    }

    fn check_fingerprint(&self, header: &BackupHeader) -> Result<(), Error> {
        let ours = hex(&self.hsm().domain_key_fingerprint());
        if header.domain_key_fingerprint == ours {
            return Ok(());
        }
        Err(Error::backup_domain_key(
            &header.cluster,
            &header.domain_key_fingerprint,
            ours,
        ))
    }
}

/// Seals checked by the HSM's MAC under the domain key.
struct DomainSeal<'a>(&'a dyn Hsm);

impl SealCheck for DomainSeal<'_> {
    /// Outside `apply` (an import's check before it is proposed): an HSM that cannot tell
    /// refuses the backup, and the operator retries once the node is ready.
    fn verify_seal(&self, purpose: &[u8], data: &[u8], seal: &[u8]) -> bool {
        self.0
            .verify_domain_mac(purpose, data, seal)
            .unwrap_or_else(|e| {
                tracing::error!(error = %e, "the HSM cannot check a backup's seal");
                false
            })
    }
}

/// A header with only the state's counts (for a retried last part, whose blob is gone).
fn summary(state: &State) -> BackupHeader {
    BackupHeader {
        records: state.backup_records().len() as u64,
        ..counted(state)
    }
}

fn counted(state: &State) -> BackupHeader {
    let counts = state.entity_counts();
    BackupHeader {
        cluster: String::new(),
        created: 0,
        created_at: None,
        term: 0,
        last_applied_index: None,
        domain_key_fingerprint: String::new(),
        records: 0,
        keys: counts.keys,
        aliases: counts.aliases,
        users: counts.users,
        access_keys: counts.access_keys,
        user_policies: true,
    }
}

/// The `backup-seal-pause` fail point (`return(MS)`): waits MS milliseconds between reading
/// the domain key's fingerprint into a backup's header and sealing it, so a test can switch
/// the domain key in that window (pkcs11/migration.rs). `None` unless armed in a `failpoints`
/// build.
fn backup_seal_pause() -> Option<std::time::Duration> {
    fail::fail_point!("backup-seal-pause", |ms: Option<String>| {
        let pause = ms
            .and_then(|ms| ms.parse().ok())
            .map(std::time::Duration::from_millis);
        tracing::warn!(
            ?pause,
            "backup-seal-pause: holding a backup before its seal"
        );
        pause
    });
    None
}

/// The `restore-finish-pause` fail point (`return(MS)`): waits MS milliseconds between
/// reading the staged backup and proposing its commit or abort, so a test can put another
/// request's staging in that window (adversarial/crypto.rs: what the commit's apply check is
/// for). `None` unless armed in a `failpoints` build.
fn restore_finish_pause() -> Option<std::time::Duration> {
    fail::fail_point!("restore-finish-pause", |ms: Option<String>| {
        let pause = ms
            .and_then(|ms| ms.parse().ok())
            .map(std::time::Duration::from_millis);
        tracing::warn!(
            ?pause,
            "restore-finish-pause: holding a restore before its commit"
        );
        pause
    });
    None
}

/// The call with a request id derived from its own, for a second command it proposes.
fn derived(call: &Call, what: &str) -> Call {
    Call {
        request_id: Uuid::new_v5(&call.request_id, what.as_bytes()),
        ..call.clone()
    }
}

fn invalid(e: BackupError) -> Error {
    Error::invalid_member("data", e)
}

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}
