//! Executing an [`Operation`] on the leader. Operations are parsed on the leader from the
//! request its caller signed (trent-protocol); no operation travels between nodes already
//! parsed or with a caller attached: followers forward the raw signed request (crates/api),
//! and the leader authenticates it, so the peer port carries nothing a client did not sign.

use serde_json::Value;
use trent_model::{Error, ErrorKind};
use trent_protocol::Operation;
use trent_state::Outcome;

use crate::once::Answer;
use crate::{Call, OpError, Output, Service};

impl Service {
    /// Executes `op` on this node, which must be the leader.
    pub async fn execute(&self, call: &Call, op: Operation) -> Result<Output, OpError> {
        // Before any read or write: a throttled request costs no barrier, no HSM, no log.
        self.quotas().admit(&call.caller.account, op.name())?;
        crate::authz::check_grant_tokens(grant_tokens(&op))?;
        let declares_invalid_arn = op.declares_invalid_arn();
        match self.run(call, op).await {
            // AWS answers a malformed ARN with NotFoundException where the operation does
            // not declare InvalidArnException (Encrypt, Decrypt, the alias operations...).
            Err(OpError::Api(e)) if e.kind == ErrorKind::InvalidArn && !declares_invalid_arn => {
                Err(Error::new(ErrorKind::NotFound, e.message).into())
            }
            other => other,
        }
    }

    /// Runs `op`; a write goes through [`Service::once`], so its request id gets one answer.
    async fn run(&self, call: &Call, op: Operation) -> Result<Output, OpError> {
        match write_answer(&op) {
            Some(answer) => self.once(call, answer, self.dispatch(call, op)).await,
            None => self.dispatch(call, op).await,
        }
    }

    async fn dispatch(&self, call: &Call, op: Operation) -> Result<Output, OpError> {
        use Operation::*;
        let json = match op {
            CreateKey(r) => self.create_key(call, r).await,
            DescribeKey(r) => self.describe_key(call, r).await,
            ListKeys(r) => self.list_keys(call, r).await,
            EnableKey(r) => self.enable_key(call, r).await,
            DisableKey(r) => self.disable_key(call, r).await,
            ScheduleKeyDeletion(r) => self.schedule_key_deletion(call, r).await,
            CancelKeyDeletion(r) => self.cancel_key_deletion(call, r).await,
            UpdateKeyDescription(r) => self.update_key_description(call, r).await,
            GetKeyLastUsage(r) => self.get_key_last_usage(call, r).await,
            CreateAlias(r) => self.create_alias(call, r).await,
            UpdateAlias(r) => self.update_alias(call, r).await,
            DeleteAlias(r) => self.delete_alias(call, r).await,
            ListAliases(r) => self.list_aliases(call, r).await,
            TagResource(r) => self.tag_resource(call, r).await,
            UntagResource(r) => self.untag_resource(call, r).await,
            ListResourceTags(r) => self.list_resource_tags(call, r).await,
            Encrypt(r) => return self.encrypt(call, r).await,
            Decrypt(r) => return self.decrypt(call, r).await,
            ReEncrypt(r) => return self.re_encrypt(call, r).await,
            GenerateDataKey(r) => return self.generate_data_key(call, r, true).await,
            GenerateDataKeyWithoutPlaintext(r) => {
                return self.generate_data_key(call, r, false).await
            }
            GenerateRandom(r) => return self.generate_random(r).await,
            PutKeyPolicy(r) => self.put_key_policy(call, r).await,
            GetKeyPolicy(r) => self.get_key_policy(call, r).await,
            ListKeyPolicies(r) => self.list_key_policies(call, r).await,
            CreateGrant(r) => self.create_grant(call, r).await,
            ListGrants(r) => self.list_grants(call, r).await,
            ListRetirableGrants(r) => self.list_retirable_grants(call, r).await,
            RetireGrant(r) => self.retire_grant(call, r).await,
            RevokeGrant(r) => self.revoke_grant(call, r).await,
            Sign(r) => self.sign(call, r).await,
            Verify(r) => self.verify(call, r).await,
            GetPublicKey(r) => self.get_public_key(call, r).await,
            GenerateMac(r) => self.generate_mac(call, r).await,
            VerifyMac(r) => self.verify_mac(call, r).await,
            DeriveSharedSecret(r) => return self.derive_shared_secret(call, r).await,
            GenerateDataKeyPair(r) => return self.generate_data_key_pair(call, r, true).await,
            GenerateDataKeyPairWithoutPlaintext(r) => {
                return self.generate_data_key_pair(call, r, false).await
            }
            Encapsulate(r) => return self.encapsulate(call, r).await,
            Decapsulate(r) => return self.decapsulate(call, r).await,
            EnableKeyRotation(r) => self.enable_key_rotation(call, r).await,
            DisableKeyRotation(r) => self.disable_key_rotation(call, r).await,
            GetKeyRotationStatus(r) => self.get_key_rotation_status(call, r).await,
            RotateKeyOnDemand(r) => self.rotate_key_on_demand(call, r).await,
            ListKeyRotations(r) => self.list_key_rotations(call, r).await,
            GetParametersForImport(r) => self.get_parameters_for_import(call, r).await,
            ImportKeyMaterial(r) => self.import_key_material(call, r).await,
            DeleteImportedKeyMaterial(r) => self.delete_imported_key_material(call, r).await,
        };
        json.map(Output::Json)
    }
}

/// For a write, how the state machine's outcome of its request id becomes its answer (a
/// replayed retry answers from it); `None` for operations that change nothing. The request
/// id binds the caller's access key, the operation and the SDK's invocation id.
fn write_answer(op: &Operation) -> Option<Answer> {
    use Operation::*;
    fn json(
        answer: fn(Outcome) -> Result<Value, OpError>,
        outcome: Outcome,
    ) -> Result<Output, OpError> {
        answer(outcome).map(Output::Json)
    }
    Some(match op {
        CreateKey(_) => |o| json(crate::keys::created, o),
        ScheduleKeyDeletion(_) => |o| json(crate::keys::scheduled, o),
        CancelKeyDeletion(_) => |o| json(crate::keys::cancelled, o),
        CreateGrant(_) => |o| json(crate::grants::granted, o),
        RotateKeyOnDemand(_) => |o| json(crate::rotation::rotated, o),
        ImportKeyMaterial(_) | DeleteImportedKeyMaterial(_) => {
            |o| json(crate::import::material_answer, o)
        }
        op if answers_with_response(op) => |_| Ok(Output::Json(serde_json::json!({}))),
        _ => return None,
    })
}

/// Whether `op` is a write answered by its response alone: `{}` for any outcome, or the
/// response's refusal. Its audit event can ride its write's log entry (`audit_note.rs`):
/// `apply` knows all the event records of its outcome.
pub fn answers_with_response(op: &Operation) -> bool {
    use Operation::*;
    matches!(
        op,
        EnableKey(_)
            | DisableKey(_)
            | UpdateKeyDescription(_)
            | CreateAlias(_)
            | UpdateAlias(_)
            | DeleteAlias(_)
            | TagResource(_)
            | UntagResource(_)
            | PutKeyPolicy(_)
            | RetireGrant(_)
            | RevokeGrant(_)
            | EnableKeyRotation(_)
            | DisableKeyRotation(_)
    )
}

/// The grant tokens a request carries, where the operation takes them.
fn grant_tokens(op: &Operation) -> Option<&[String]> {
    use Operation::*;
    match op {
        DescribeKey(r) => r.grant_tokens.as_deref(),
        Encrypt(r) => r.grant_tokens.as_deref(),
        Decrypt(r) => r.grant_tokens.as_deref(),
        ReEncrypt(r) => r.grant_tokens.as_deref(),
        GenerateDataKey(r) | GenerateDataKeyWithoutPlaintext(r) => r.grant_tokens.as_deref(),
        CreateGrant(r) => r.grant_tokens.as_deref(),
        Sign(r) => r.grant_tokens.as_deref(),
        Verify(r) => r.grant_tokens.as_deref(),
        GetPublicKey(r) => r.grant_tokens.as_deref(),
        GenerateMac(r) => r.grant_tokens.as_deref(),
        VerifyMac(r) => r.grant_tokens.as_deref(),
        DeriveSharedSecret(r) => r.grant_tokens.as_deref(),
        GenerateDataKeyPair(r) | GenerateDataKeyPairWithoutPlaintext(r) => {
            r.grant_tokens.as_deref()
        }
        Encapsulate(r) => r.grant_tokens.as_deref(),
        Decapsulate(r) => r.grant_tokens.as_deref(),
        _ => None,
    }
}
