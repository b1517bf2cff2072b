//! `State::apply`: the deterministic transition function.

use trent_model::{
    AccountId, AliasName, AliasRecord, Arn, Error, KeyId, KeyLastUsage, KeyMetadata, KeyRecord,
    KeyState, Millis, Tag,
};

use crate::restore::Part;
use crate::{
    Command, NoSealCheck, Outcome, RecordKey, Request, RequestId, Response, SealCheck, State,
    DEDUP_WINDOW_MS,
};

impl State {
    /// [`State::apply_checked`] without an HSM: every restore commit is refused.
    pub fn apply(&mut self, request: &Request, touched: &mut Vec<RecordKey>) -> Response {
        self.apply_checked(request, touched, &NoSealCheck)
    }

    /// Applies one request and returns its response. Every record it changes is pushed onto
    /// `touched`, so the caller can persist exactly those in the same batch as `last_applied`.
    /// `seal` verifies a backup's seal before a restore commits.
    pub fn apply_checked(
        &mut self,
        request: &Request,
        touched: &mut Vec<RecordKey>,
        seal: &dyn SealCheck,
    ) -> Response {
        self.advance_clock(request.time, touched);
        if let Command::Audited { command, event } = &request.command {
            return self.apply_audited(request, command, event, touched, seal);
        }
        self.respond(request.id, &request.command, request.time, touched, seal)
    }

    /// The response to `command` under request id `id`: the remembered one for an id applied
    /// before, else the command's own (remembered, if the command is).
    pub(crate) fn respond(
        &mut self,
        id: RequestId,
        command: &Command,
        now: Millis,
        touched: &mut Vec<RecordKey>,
        seal: &dyn SealCheck,
    ) -> Response {
        if let Some((_, remembered)) = self.applied.get(&id) {
            return self.replay(remembered);
        }
        let response = self.execute(command, now, touched, seal);
        if command.remembered() {
            self.remember(id, &response, touched);
        }
        response
    }

    fn execute(
        &mut self,
        command: &Command,
        now: Millis,
        touched: &mut Vec<RecordKey>,
        seal: &dyn SealCheck,
    ) -> Response {
        match command {
            Command::CreateKey {
                record,
                max_keys_per_account,
            } => self.create_key(record, *max_keys_per_account, touched),
            Command::EnableKey { key_id } => self.set_state(*key_id, KeyState::Enabled, touched),
            Command::DisableKey { key_id } => self.set_state(*key_id, KeyState::Disabled, touched),
            Command::ScheduleKeyDeletion {
                key_id,
                deletion_date,
                pending_window_days,
            } => self.schedule_deletion(*key_id, *deletion_date, *pending_window_days, touched),
            Command::CancelKeyDeletion { key_id } => self.cancel_deletion(*key_id, touched),
            Command::DeleteKey { key_id } => self.delete_key(*key_id, now, touched),
            Command::UpdateKeyDescription {
                key_id,
                description,
            } => self.update_live_key(*key_id, touched, |k| {
                k.metadata.description = description.clone();
            }),
            Command::TagKey {
                key_id,
                tags,
                max_tags_per_key,
            } => self.tag_key(*key_id, tags, *max_tags_per_key, touched),
            Command::UntagKey { key_id, tag_keys } => self.update_live_key(*key_id, touched, |k| {
                k.tags.retain(|t| !tag_keys.contains(&t.key));
            }),
            Command::CreateAlias {
                account,
                name,
                target,
                max_aliases_per_key,
            } => {
                self.check_alias_limit(*target, *max_aliases_per_key)?;
                self.create_alias(account, name, *target, now, touched)
            }
            Command::UpdateAlias {
                account,
                name,
                target,
            } => self.update_alias(account, name, *target, now, touched),
            Command::DeleteAlias { account, name } => self.delete_alias(account, name, touched),
            Command::CreateUser {
                account,
                name,
                max_users_per_account,
            } => self.create_user(account, name, *max_users_per_account, now, touched),
            Command::DeleteUser { account, name } => self.delete_user(account, name, touched),
            Command::CreateAccessKey {
                record,
                max_access_keys_per_user,
            } => self.create_access_key(record, *max_access_keys_per_user, touched),
            Command::Bootstrap { root_access_key } => self.bootstrap(root_access_key, touched),
            Command::RecordKeyUsage { usages } => self.record_usage(usages, touched),
            Command::DeleteAccessKey { access_key_id } => {
                self.delete_access_key(access_key_id, touched)
            }
            Command::RestorePart {
                restore_id,
                part,
                parts,
                data,
                operator,
            } => {
                let part = Part {
                    restore_id: *restore_id,
                    part: *part,
                    parts: *parts,
                    data,
                };
                self.restore_part(part, operator, touched)
            }
            Command::RestoreCommit {
                restore_id,
                operator,
            } => self.restore_commit(*restore_id, operator, touched, seal),
            Command::RestoreAbort { restore_id } => {
                self.restore_abort(*restore_id, touched);
                Ok(Outcome::Done)
            }
            Command::Refuse { error } => Err(error.clone()),
            Command::RecordIncarnation {
                node,
                incarnation,
                replace,
            } => self.record_incarnation(*node, *incarnation, *replace, touched),
            Command::SetClusterIdentity { identity } => self.set_identity(identity, touched),
            Command::SwitchDomainKey {
                from,
                to,
                retired_audit_key,
            } => self.switch_domain_key(from, to, retired_audit_key, touched),
            Command::RewrapBlobs { rewraps } => self.rewrap(rewraps, touched),
            Command::CreateKeyWithPolicy {
                record,
                max_keys_per_account,
                policy,
            } => {
                // Checked before anything changes: a policy that does not compile creates no key.
                trent_policy::Policy::parse(policy)?;
                let created = self.create_key(record, *max_keys_per_account, touched)?;
                self.put_key_policy(record.metadata.key_id, policy, touched)?;
                Ok(created)
            }
            Command::PutKeyPolicy { key_id, policy } => {
                self.put_key_policy(*key_id, policy, touched)
            }
            Command::CreateGrant {
                grant,
                max_grants_per_key,
            } => self.create_grant(grant, *max_grants_per_key, touched),
            Command::RemoveGrant { key_id, grant_id } => {
                self.remove_grant(*key_id, grant_id, touched)
            }
            Command::PutUserPolicy {
                account,
                user,
                name,
                document,
            } => self.put_user_policy(account, user, name, document, touched),
            Command::DeleteUserPolicy {
                account,
                user,
                name,
            } => self.delete_user_policy(account, user, name, touched),
            Command::BeginUserPolicies => self.begin_user_policies(touched),
            Command::SetKeyRotation {
                key_id,
                period_days,
            } => self.set_key_rotation(*key_id, *period_days, now, touched),
            Command::RotateKey {
                key_id,
                material,
                kind,
                max_on_demand,
            } => self.rotate_key(*key_id, material, *kind, *max_on_demand, now, touched),
            Command::ImportKeyMaterial(import) => self.import_key_material(import, now, touched),
            Command::ImportPendingMaterial(import) => {
                self.import_pending_material(import, now, touched)
            }
            Command::RotateToImported {
                key_id,
                max_on_demand,
            } => self.rotate_to_imported(*key_id, *max_on_demand, now, touched),
            Command::DeleteImportedVersion { key_id, version } => {
                self.delete_imported_version(*key_id, *version, touched)
            }
            Command::DeleteImportedKeyMaterial { key_id } => {
                self.remove_imported_material(*key_id, None, touched)
            }
            Command::ExpireKeyMaterial { key_id } => {
                self.remove_imported_material(*key_id, Some(now), touched)
            }
            Command::AppendAudit { events } => self.append_audit(events, touched),
            Command::AppendAuditUnlinked { events } => self.append_audit_unlinked(events, touched),
            Command::AppendAuditPacked { events } => self.append_audit_packed(events, touched),
            Command::AuditExported { before } => self.audit_exported(*before, touched),
            Command::PruneAudit { before, events } => self.prune_audit(*before, *events, touched),
            // A wrapped write is taken apart in `apply_checked`; one nested inside another
            // is not a write the leader proposes.
            Command::Audited { .. } => Err(Error::internal("an audited write inside another")),
        }
    }

    fn create_key(
        &mut self,
        record: &KeyRecord,
        limit: Option<u32>,
        touched: &mut Vec<RecordKey>,
    ) -> Response {
        let id = record.metadata.key_id;
        if self.keys.contains_key(&id) {
            return Err(Error::admin_exists(format!("Key '{id}'")));
        }
        if let Some(limit) = limit {
            if self.key_count(&record.metadata.account) >= limit as usize {
                return Err(limit_exceeded(format!(
                    "The account already has the maximum of {limit} keys"
                )));
            }
        }
        self.insert_key(record.clone());
        touched.push(RecordKey::Key(id));
        Ok(Outcome::Key(Box::new(record.metadata.clone())))
    }

    fn set_state(
        &mut self,
        key_id: KeyId,
        state: KeyState,
        touched: &mut Vec<RecordKey>,
    ) -> Response {
        self.update_live_key(key_id, touched, |k| k.metadata.key_state = state)
    }

    fn schedule_deletion(
        &mut self,
        key_id: KeyId,
        date: Millis,
        days: u32,
        touched: &mut Vec<RecordKey>,
    ) -> Response {
        let key = self.change_live_key(key_id, touched, |k| {
            k.metadata.key_state = KeyState::PendingDeletion;
            k.metadata.deletion_date = Some(date);
            k.metadata.pending_window_days = Some(days);
        })?;
        // Its answer names the deletion date, so the outcome carries the metadata.
        Ok(Outcome::Key(Box::new(key.metadata.clone())))
    }

    fn cancel_deletion(&mut self, key_id: KeyId, touched: &mut Vec<RecordKey>) -> Response {
        let key = self.key_mut(key_id)?;
        if key.metadata.key_state != KeyState::PendingDeletion {
            return Err(Error::key_not_pending_deletion(key.metadata.arn()));
        }
        key.metadata.key_state = KeyState::Disabled;
        key.metadata.deletion_date = None;
        key.metadata.pending_window_days = None;
        let metadata = key.metadata.clone();
        touched.push(RecordKey::Key(key_id));
        Ok(Outcome::Key(Box::new(metadata)))
    }

    fn record_usage(
        &mut self,
        usages: &[(KeyId, KeyLastUsage)],
        touched: &mut Vec<RecordKey>,
    ) -> Response {
        for (key_id, usage) in usages {
            let Some(key) = self.keys.get_mut(key_id) else {
                continue;
            };
            if key
                .last_usage
                .as_ref()
                .is_some_and(|last| last.timestamp > usage.timestamp)
            {
                continue;
            }
            key.last_usage = Some(usage.clone());
            touched.push(RecordKey::Key(*key_id));
        }
        Ok(Outcome::Done)
    }

    fn delete_key(&mut self, key_id: KeyId, now: Millis, touched: &mut Vec<RecordKey>) -> Response {
        let key = self.key_mut(key_id)?;
        let due = key.metadata.deletion_date.is_some_and(|date| date <= now);
        if key.metadata.key_state != KeyState::PendingDeletion || !due {
            return Err(Error::admin_state(format!(
                "Key '{key_id}' is not due for deletion"
            )));
        }
        let account = key.metadata.account.clone();
        self.remove_key(key_id);
        touched.push(RecordKey::Key(key_id));
        self.forget_key_access(key_id, touched);
        self.forget_rotation(key_id, touched);
        self.forget_import(key_id, touched);
        // Aliases live in their key's account: a range of that account, not a full scan.
        let orphaned: Vec<_> = self
            .aliases(&account, Some(key_id))
            .map(|a| a.name.clone())
            .collect();
        for name in orphaned {
            self.remove_alias(&account, &name);
            touched.push(RecordKey::Alias(account.clone(), name));
        }
        Ok(Outcome::Done)
    }

    /// Changes a key that is not pending deletion and answers `Done`: not the metadata, since
    /// the response is remembered for the dedup window with its request id (in memory, on
    /// disk and in every snapshot), and these operations' answers are empty.
    fn update_live_key(
        &mut self,
        key_id: KeyId,
        touched: &mut Vec<RecordKey>,
        change: impl FnOnce(&mut KeyRecord),
    ) -> Response {
        self.change_live_key(key_id, touched, change)?;
        Ok(Outcome::Done)
    }

    /// Changes a key that is not pending deletion (AWS refuses every change but
    /// `CancelKeyDeletion` to such a key) and returns it changed.
    fn change_live_key(
        &mut self,
        key_id: KeyId,
        touched: &mut Vec<RecordKey>,
        change: impl FnOnce(&mut KeyRecord),
    ) -> Result<&KeyRecord, Error> {
        let key = self.key_mut(key_id)?;
        if key.metadata.key_state == KeyState::PendingDeletion {
            return Err(pending_deletion(&key.metadata));
        }
        change(key);
        touched.push(RecordKey::Key(key_id));
        Ok(key)
    }

    fn key_mut(&mut self, key_id: KeyId) -> Result<&mut KeyRecord, Error> {
        self.keys
            .get_mut(&key_id)
            .ok_or_else(|| Error::key_not_found(key_id))
    }

    fn check_alias_limit(&self, target: KeyId, limit: Option<u32>) -> Result<(), Error> {
        match limit {
            Some(limit) if self.alias_count(target) >= limit as usize => Err(limit_exceeded(
                format!("Key '{target}' already has the maximum of {limit} aliases"),
            )),
            _ => Ok(()),
        }
    }

    /// The alias target must exist in the alias's account and not be pending deletion.
    fn check_alias_target(&self, account: &AccountId, target: KeyId) -> Result<(), Error> {
        match self.keys.get(&target) {
            Some(key) if &key.metadata.account == account => match key.metadata.key_state {
                KeyState::PendingDeletion => Err(pending_deletion(&key.metadata)),
                _ => Ok(()),
            },
            _ => Err(Error::key_not_found(target)),
        }
    }

    fn create_alias(
        &mut self,
        account: &AccountId,
        name: &AliasName,
        target: KeyId,
        now: Millis,
        touched: &mut Vec<RecordKey>,
    ) -> Response {
        let slot = (account.clone(), name.clone());
        if self.aliases.contains_key(&slot) {
            let region = self.keys.get(&target).map(|k| k.metadata.region.as_str());
            let arn = Arn::kms(region.unwrap_or_default(), account, name.as_str());
            return Err(Error::alias_exists(arn));
        }
        self.check_alias_target(account, target)?;
        let record = AliasRecord {
            account: account.clone(),
            name: name.clone(),
            target,
            creation_date: now,
            last_updated: now,
        };
        self.insert_alias(record);
        touched.push(RecordKey::Alias(account.clone(), name.clone()));
        Ok(Outcome::Done)
    }

    fn update_alias(
        &mut self,
        account: &AccountId,
        name: &AliasName,
        target: KeyId,
        now: Millis,
        touched: &mut Vec<RecordKey>,
    ) -> Response {
        self.check_alias_target(account, target)?;
        let mut alias = self.alias_mut(account, name)?.clone();
        alias.target = target;
        alias.last_updated = now;
        self.insert_alias(alias);
        touched.push(RecordKey::Alias(account.clone(), name.clone()));
        Ok(Outcome::Done)
    }

    fn delete_alias(
        &mut self,
        account: &AccountId,
        name: &AliasName,
        touched: &mut Vec<RecordKey>,
    ) -> Response {
        self.alias_mut(account, name)?;
        self.remove_alias(account, name);
        touched.push(RecordKey::Alias(account.clone(), name.clone()));
        Ok(Outcome::Done)
    }

    fn alias_mut(
        &mut self,
        account: &AccountId,
        name: &AliasName,
    ) -> Result<&mut AliasRecord, Error> {
        self.aliases
            .get_mut(&(account.clone(), name.clone()))
            .ok_or_else(|| Error::admin_not_found(format!("Alias {name}")))
    }

    /// Moves the replicated clock forward and forgets request ids older than the window.
    fn advance_clock(&mut self, time: Millis, touched: &mut Vec<RecordKey>) {
        if time <= self.clock {
            return;
        }
        self.clock = time;
        touched.push(RecordKey::Clock);
        let horizon = time.saturating_sub(DEDUP_WINDOW_MS);
        while let Some(&(at, id)) = self.applied_by_time.first() {
            if at >= horizon {
                break;
            }
            self.applied_by_time.pop_first();
            self.applied.remove(&id);
            touched.push(RecordKey::Request(id));
        }
    }

    /// Remembers `response` in its compact form: a key's metadata without its description.
    fn remember(&mut self, id: RequestId, response: &Response, touched: &mut Vec<RecordKey>) {
        let compact = match response {
            Ok(Outcome::Key(metadata)) => {
                let mut metadata = metadata.clone();
                metadata.description = String::new();
                Ok(Outcome::Key(metadata))
            }
            other => other.clone(),
        };
        self.applied.insert(id, (self.clock, compact));
        self.applied_by_time.insert((self.clock, id));
        touched.push(RecordKey::Request(id));
    }

    /// A remembered response as it was answered: the description the compact form left out
    /// is the key's current one (empty once the key is gone).
    pub(crate) fn replay(&self, remembered: &Response) -> Response {
        match remembered {
            Ok(Outcome::Key(metadata)) => {
                let mut metadata = metadata.clone();
                if let Some(key) = self.keys.get(&metadata.key_id) {
                    metadata.description = key.metadata.description.clone();
                }
                Ok(Outcome::Key(metadata))
            }
            other => other.clone(),
        }
    }

    /// Merges `tags` into the key's; refused if the key would then hold more than `limit`
    /// tags. Checked here, against the applied state, so that two TagResource calls that
    /// each fit cannot pass the limit together.
    fn tag_key(
        &mut self,
        key_id: KeyId,
        tags: &[Tag],
        limit: Option<u32>,
        touched: &mut Vec<RecordKey>,
    ) -> Response {
        let key = self.key_mut(key_id)?;
        if let Some(limit) = limit {
            let added = tags
                .iter()
                .filter(|t| !key.tags.iter().any(|old| old.key == t.key))
                .count();
            if key.tags.len() + added > limit as usize {
                return Err(Error::too_many_tags());
            }
        }
        self.update_live_key(key_id, touched, |k| merge_tags(&mut k.tags, tags))
    }
}

pub(crate) fn limit_exceeded(message: String) -> Error {
    Error::limit_exceeded(message)
}

pub(crate) fn pending_deletion(key: &KeyMetadata) -> Error {
    Error::key_state(key.arn(), "pending deletion")
}

/// Sets each tag, replacing the value of a tag key that is already present.
fn merge_tags(existing: &mut Vec<Tag>, new: &[Tag]) {
    for tag in new {
        match existing.iter_mut().find(|t| t.key == tag.key) {
            Some(old) => old.value = tag.value.clone(),
            None => existing.push(tag.clone()),
        }
    }
}
