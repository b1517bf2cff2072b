//! Aliases (CreateAlias, UpdateAlias, DeleteAlias, ListAliases) and tags (TagResource,
//! UntagResource, ListResourceTags).

use serde_json::{json, Value};
use trent_model::{AliasName, Arn, Error};
use trent_state::Command;

use crate::keys::{page_limit, validate_tags};
use crate::resolve::Aliases;
use crate::types::{
    epoch_seconds, AliasRequest, ListRequest, TagEntry, TagResourceRequest, UntagResourceRequest,
};
use crate::{required, Action, Call, OpError, Service};

impl Service {
    pub async fn create_alias(&self, call: &Call, req: AliasRequest) -> Result<Value, OpError> {
        let name = alias_name(req.alias_name)?;
        let key = self
            .key_for(
                call,
                alias_target(req.target_key_id)?,
                Aliases::Refused,
                Action::CreateAlias,
            )
            .await?;
        let command = Command::CreateAlias {
            account: call.caller.account.clone(),
            name,
            target: key.metadata.key_id,
            max_aliases_per_key: Some(self.limits().aliases_per_key),
        };
        self.write(call, command).await?;
        Ok(json!({}))
    }

    pub async fn update_alias(&self, call: &Call, req: AliasRequest) -> Result<Value, OpError> {
        let name = alias_name(req.alias_name)?;
        // The caller needs UpdateAlias on both the old and the new target.
        self.key_for(
            call,
            Some(name.to_string()),
            Aliases::Accepted,
            Action::UpdateAlias,
        )
        .await?;
        let key = self
            .key_for(
                call,
                alias_target(req.target_key_id)?,
                Aliases::Refused,
                Action::UpdateAlias,
            )
            .await?;
        let command = Command::UpdateAlias {
            account: call.caller.account.clone(),
            name,
            target: key.metadata.key_id,
        };
        self.write(call, command).await?;
        Ok(json!({}))
    }

    pub async fn delete_alias(&self, call: &Call, req: AliasRequest) -> Result<Value, OpError> {
        let name = alias_name(req.alias_name)?;
        self.key_for(
            call,
            Some(name.to_string()),
            Aliases::Accepted,
            Action::DeleteAlias,
        )
        .await?;
        let command = Command::DeleteAlias {
            account: call.caller.account.clone(),
            name,
        };
        self.write(call, command).await?;
        Ok(json!({}))
    }

    pub async fn list_aliases(&self, call: &Call, req: ListRequest) -> Result<Value, OpError> {
        // AWS answers at most 100 aliases a page, whatever the Limit.
        let limit = page_limit(req.limit, 50).min(100);
        let target = match req.key_id {
            None => None,
            Some(id) => Some(
                self.key_for(call, Some(id), Aliases::Refused, Action::ListAliases)
                    .await?
                    .metadata
                    .key_id,
            ),
        };
        let after = req.marker;
        let account = &call.caller.account;
        let region = self.region().to_owned();
        let (page, more) = self
            .read_for(call, |s| {
                if target.is_none() {
                    self.authorize_account(s, call, Action::ListAliases)?;
                }
                let mut page: Vec<_> = s
                    .aliases(account, target)
                    .filter(|a| after.as_deref().is_none_or(|m| a.name.as_str() > m))
                    .take(limit + 1)
                    .cloned()
                    .collect();
                let more = page.len() > limit;
                page.truncate(limit);
                Ok::<_, trent_model::Error>((page, more))
            })
            .await??;
        let aliases: Vec<Value> = page
            .iter()
            .map(|a| {
                json!({
                    "AliasName": a.name.as_str(),
                    "AliasArn": Arn::kms(&region, &a.account, a.name.as_str()).to_string(),
                    "TargetKeyId": a.target.to_string(),
                    "CreationDate": epoch_seconds(a.creation_date),
                    "LastUpdatedDate": epoch_seconds(a.last_updated),
                })
            })
            .collect();
        let mut out = json!({ "Aliases": aliases, "Truncated": more });
        if more {
            out["NextMarker"] = json!(page.last().expect("a full page").name.as_str());
        }
        Ok(out)
    }

    pub async fn tag_resource(
        &self,
        call: &Call,
        req: TagResourceRequest,
    ) -> Result<Value, OpError> {
        let tags = validate_tags(required(req.tags, "tags")?)?;
        let key = self
            .key_for(call, req.key_id, Aliases::Refused, Action::TagResource)
            .await?;
        let existing = key
            .tags
            .iter()
            .filter(|t| !tags.iter().any(|n| n.key == t.key));
        // Checked again by apply, against the state concurrent calls leave.
        let limit = self.limits().tags_per_key;
        if existing.count() + tags.len() > limit as usize {
            return Err(Error::too_many_tags().into());
        }
        let command = Command::TagKey {
            key_id: key.metadata.key_id,
            tags,
            max_tags_per_key: Some(limit),
        };
        self.write(call, command).await?;
        Ok(json!({}))
    }

    pub async fn untag_resource(
        &self,
        call: &Call,
        req: UntagResourceRequest,
    ) -> Result<Value, OpError> {
        let tag_keys = required(req.tag_keys, "tagKeys")?;
        // A key holds at most this many tags, so naming more is only work for apply: refused
        // in the words AWS uses for a list over its size (the model sets none here).
        let limit = self.limits().tags_per_key;
        if tag_keys.len() > limit as usize {
            let shown = format!("[{}]", tag_keys.join(", "));
            return Err(Error::validation(
                "tagKeys",
                Some(&shown),
                format_args!("Member must have length less than or equal to {limit}"),
            )
            .into());
        }
        let key = self
            .key_for(call, req.key_id, Aliases::Refused, Action::UntagResource)
            .await?;
        let command = Command::UntagKey {
            key_id: key.metadata.key_id,
            tag_keys,
        };
        self.write(call, command).await?;
        Ok(json!({}))
    }

    pub async fn list_resource_tags(
        &self,
        call: &Call,
        req: ListRequest,
    ) -> Result<Value, OpError> {
        // AWS answers at most 50 tags a page, whatever the Limit.
        let limit = page_limit(req.limit, 50).min(50);
        let key = self
            .key_for(call, req.key_id, Aliases::Refused, Action::ListResourceTags)
            .await?;
        let mut tags: Vec<TagEntry> = key.tags.iter().map(TagEntry::from).collect();
        tags.sort_by(|a, b| a.tag_key.cmp(&b.tag_key));
        let start = match &req.marker {
            None => 0,
            Some(m) => tags
                .iter()
                .position(|t| &t.tag_key > m)
                .unwrap_or(tags.len()),
        };
        let page: Vec<_> = tags.iter().skip(start).take(limit).cloned().collect();
        let more = start + page.len() < tags.len();
        let mut out = json!({ "Tags": page, "Truncated": more });
        if more {
            out["NextMarker"] = json!(page.last().map(|t| t.tag_key.clone()));
        }
        Ok(out)
    }
}

/// A valid customer alias name (`alias/aws/` is reserved for AWS managed keys).
fn alias_name(name: Option<String>) -> Result<AliasName, Error> {
    let name: AliasName = required(name, "aliasName")?.parse()?;
    if name.is_reserved() {
        return Err(Error::alias_reserved());
    }
    Ok(name)
}

/// The target of an alias must name a key, not another alias.
fn alias_target(target: Option<String>) -> Result<Option<String>, Error> {
    if let Some(t) = &target {
        let resource = t.rsplit(':').next().unwrap_or(t);
        if resource.starts_with("alias/") {
            return Err(Error::alias_to_alias());
        }
    }
    Ok(target)
}
