//! LookupEvents (issue 25): the trail queried in CloudTrail's shape, newest first.
//!
//! Guarantees:
//! - A caller sees the events of its own account only (`recipientAccountId`); the operator
//!   account also sees the events of callers who did not authenticate, recorded under it.
//!   Allowed to an account's root and to its users whose identity policies allow
//!   `cloudtrail:LookupEvents` on the account's trail resource.
//! - Read from the leader's stored trail after the read barrier, so every event of a call
//!   answered before this one is found.
//! - One call scans at most [`MAX_SCAN`] events; past that it answers what it found and a
//!   `NextToken` to go on, so no request can hold the leader for long.
//! - A `ResourceName` lookup reads only the events that name the resource, through the
//!   trail's resource index (`trent_cluster::store::audit_index`), so a key's events are
//!   found as fast among ten million others as among ten; batches stored before the index
//!   existed are scanned. Either way each event is checked in full before it is answered.
//! - A `NextToken` names a place in the chain (batch, index); one that does not parse is
//!   refused with CloudTrail's `InvalidNextTokenException`.

use serde_json::{json, Value};
use trent_audit::{Event, IdentityType};
use trent_model::{Arn, Error, Millis};

use crate::{Call, OpError, Service};

/// Events one call looks at, at most.
pub const MAX_SCAN: usize = 200_000;
/// Batches are stamped when they apply, events when their call was answered: an event may be
/// older than its batch by the time a request can wait, never by more.
const SLACK_MS: Millis = 5 * 60 * 1000;
/// CloudTrail's default and largest page.
const MAX_RESULTS: u32 = 50;
/// CloudTrail's default window: 90 days.
const DEFAULT_WINDOW_MS: Millis = 90 * 24 * 3600 * 1000;

/// What LookupEvents asks, parsed by the front end.
#[derive(Debug, Clone, Default)]
pub struct LookupQuery {
    pub start_ms: Option<Millis>,
    pub end_ms: Option<Millis>,
    /// `(AttributeKey, AttributeValue)`: at most one, as CloudTrail allows.
    pub attribute: Option<(String, String)>,
    pub max_results: Option<u32>,
    pub next_token: Option<String>,
}

/// The attribute keys CloudTrail accepts.
pub const ATTRIBUTE_KEYS: &[&str] = &[
    "EventId",
    "EventName",
    "ReadOnly",
    "Username",
    "ResourceType",
    "ResourceName",
    "EventSource",
    "AccessKeyId",
];

impl Service {
    /// LookupEvents for `call`; `operator`: the caller's account is the operator's, which
    /// also sees the events of unauthenticated callers.
    pub async fn lookup_events(
        &self,
        call: &Call,
        q: LookupQuery,
        operator: bool,
    ) -> Result<Value, OpError> {
        let account = call.caller.account.clone();
        let trail = Arn {
            partition: "aws".into(),
            service: "cloudtrail".into(),
            region: self.region().into(),
            account: account.as_str().into(),
            resource: "trail/trent".into(),
        };
        self.authorize_admin(call, "cloudtrail:LookupEvents", &trail)
            .await?;
        check(&q)?;
        let tip = self.read_for(call, |s| s.audit_tip()).await?;
        let now = self.now().await?;
        let end = q.end_ms.unwrap_or(now);
        let start = q.start_ms.unwrap_or(end.saturating_sub(DEFAULT_WINDOW_MS));
        let limit = q.max_results.unwrap_or(MAX_RESULTS) as usize;
        let store = self.node().audit_store();
        if let Some(below) = store.missing_below(&tip) {
            return Err(crate::audit_export::trail_incomplete(below).into());
        }
        let (mut seq, mut index) = match &q.next_token {
            Some(token) => parse_token(token)?,
            None => {
                let after = store
                    .first_at_or_after(end.saturating_add(SLACK_MS), tip.next_seq)
                    .map_err(Error::internal)?;
                (after.min(tip.next_seq), u32::MAX)
            }
        };
        let filter = Filter::new(&q, account.as_str(), operator);
        let mut walk = Walk {
            store,
            filter,
            start,
            end,
            limit,
            found: Vec::new(),
            scanned: 0,
        };
        if let Some(name) = indexed_name(&q) {
            let floor = store.indexed_from();
            if seq >= floor {
                if let Some(done) = walk.through_index(name, seq, index, floor)? {
                    return Ok(done);
                }
                (seq, index) = (floor, u32::MAX);
            }
        }
        walk.scan(seq, index)
    }
}

/// The resource name to look up through the index, if the query asks for one it holds.
fn indexed_name(q: &LookupQuery) -> Option<&str> {
    match &q.attribute {
        Some((key, value)) if key == "ResourceName" => {
            let name = trent_cluster::store::audit_index_name(value);
            (name.len() <= trent_cluster::store::MAX_INDEXED_NAME).then_some(name)
        }
        _ => None,
    }
}

/// One LookupEvents walk back through the trail from a place (seq, index), exclusive: a
/// batch's events below `index`, then the batches before it; `index` 0 or `u32::MAX`: none of
/// batch `seq`'s.
struct Walk<'a> {
    store: &'a trent_cluster::store::AuditStore,
    filter: Filter<'a>,
    start: Millis,
    end: Millis,
    limit: usize,
    found: Vec<Event>,
    scanned: usize,
}

impl Walk<'_> {
    /// Walks the index entries of `name` from (seq, index) down to batch `floor`: the
    /// page, when the walk ended it; `None` when the batches below `floor` remain.
    fn through_index(
        &mut self,
        name: &str,
        seq: u64,
        index: u32,
        floor: u64,
    ) -> Result<Option<Value>, OpError> {
        // The last event at or before the place, inclusive.
        let (top_seq, top_index) = match (seq, index) {
            (0, 0 | u32::MAX) => return Ok(Some(page(std::mem::take(&mut self.found), None))),
            (s, 0 | u32::MAX) => (s - 1, u32::MAX),
            (s, i) => (s, i - 1),
        };
        let mut answer = None;
        let store = self.store;
        store
            .resource_entries(name, top_seq, top_index, |entry| {
                if entry.seq < floor {
                    return Ok(false);
                }
                if entry.time.saturating_add(SLACK_MS) < self.start {
                    answer = Some(page(std::mem::take(&mut self.found), None));
                    return Ok(false);
                }
                // None: pruned by retention after the entry was written.
                let Some(json) = store.event(entry.seq, entry.index)? else {
                    return Ok(true);
                };
                answer = self.visit(&json, entry.seq, entry.index);
                Ok(answer.is_none())
            })
            .map_err(Error::internal)?;
        if answer.is_none() && floor == 0 {
            answer = Some(page(std::mem::take(&mut self.found), None));
        }
        Ok(answer)
    }

    /// Scans every event from (seq, index) back, batch by batch.
    fn scan(mut self, mut seq: u64, mut index: u32) -> Result<Value, OpError> {
        let store = self.store;
        loop {
            if index == 0 || index == u32::MAX {
                if seq == 0 {
                    return Ok(page(self.found, None));
                }
                seq -= 1;
                index = u32::MAX;
            }
            let Some(batch) = store.batch(seq).map_err(Error::internal)? else {
                return Ok(page(self.found, None));
            };
            if batch.time.saturating_add(SLACK_MS) < self.start {
                return Ok(page(self.found, None));
            }
            let top = (batch.events.len() as u32).min(index);
            for i in (0..top).rev() {
                if let Some(done) = self.visit(&batch.events[i as usize], seq, i) {
                    return Ok(done);
                }
            }
            index = 0;
        }
    }

    /// Looks at event `index` of batch `seq`: the page, when this event ends it.
    fn visit(&mut self, json: &str, seq: u64, index: u32) -> Option<Value> {
        self.scanned += 1;
        if let Some(event) = self.filter.admit(json, self.start, self.end) {
            self.found.push(event);
            if self.found.len() == self.limit {
                return Some(page(
                    std::mem::take(&mut self.found),
                    Some(token(seq, index)),
                ));
            }
        }
        (self.scanned >= MAX_SCAN)
            .then(|| page(std::mem::take(&mut self.found), Some(token(seq, index))))
    }
}

fn check(q: &LookupQuery) -> Result<(), Error> {
    if let (Some(s), Some(e)) = (q.start_ms, q.end_ms) {
        if s > e {
            return Err(Error::invalid_member(
                "startTime",
                "StartTime must not be after EndTime",
            ));
        }
    }
    if let Some(n) = q.max_results {
        if !(1..=MAX_RESULTS).contains(&n) {
            return Err(Error::invalid_member(
                "maxResults",
                format_args!("MaxResults must be between 1 and {MAX_RESULTS}"),
            ));
        }
    }
    if let Some((key, _)) = &q.attribute {
        if !ATTRIBUTE_KEYS.contains(&key.as_str()) {
            return Err(Error::invalid_member(
                "lookupAttributes",
                format_args!("AttributeKey {key:?} is not one of {ATTRIBUTE_KEYS:?}"),
            ));
        }
    }
    Ok(())
}

fn token(seq: u64, index: u32) -> String {
    format!("{seq}.{index}")
}

fn parse_token(token: &str) -> Result<(u64, u32), Error> {
    let bad = Error::invalid_next_token;
    let (seq, index) = token.split_once('.').ok_or_else(bad)?;
    Ok((
        seq.parse().map_err(|_| bad())?,
        index.parse().map_err(|_| bad())?,
    ))
}

struct Filter<'q> {
    account: &'q str,
    operator: bool,
    attribute: Option<(&'q str, &'q str)>,
}

impl<'q> Filter<'q> {
    fn new(q: &'q LookupQuery, account: &'q str, operator: bool) -> Filter<'q> {
        Filter {
            account,
            operator,
            attribute: q.attribute.as_ref().map(|(k, v)| (k.as_str(), v.as_str())),
        }
    }

    /// The event, if it is the caller's, in the window and matches the attribute.
    fn admit(&self, json: &str, start: Millis, end: Millis) -> Option<Event> {
        // Cheap: a value the record does not contain cannot match (ReadOnly's is a bool).
        if let Some((key, value)) = self.attribute {
            if key != "ReadOnly" && !json.contains(value.rsplit('/').next().unwrap_or(value)) {
                return None;
            }
        }
        let event: Event = serde_json::from_str(json).ok()?;
        let own = event.recipient_account_id == self.account
            || (self.operator && event.user_identity.kind == IdentityType::Unknown);
        let at = (event.event_time.unix_timestamp() as Millis).saturating_mul(1000);
        if !own || at < start || at > end {
            return None;
        }
        self.matches(&event).then_some(event)
    }

    fn matches(&self, e: &Event) -> bool {
        let Some((key, v)) = self.attribute else {
            return true;
        };
        let identity = &e.user_identity;
        match key {
            "EventId" => e.event_id == v,
            "EventName" => e.event_name == v,
            "ReadOnly" => e.read_only.to_string() == v,
            "Username" => username(e).as_deref() == Some(v),
            "ResourceType" => e.resources.iter().any(|r| r.kind == v),
            "ResourceName" => e
                .resources
                .iter()
                .any(|r| r.arn == v || r.arn.rsplit_once("key/").map(|(_, id)| id) == Some(v)),
            "EventSource" => e.event_source == v,
            "AccessKeyId" => identity.access_key_id.as_deref() == Some(v),
            _ => false,
        }
    }
}

/// CloudTrail's `Username`: the user's name, or `root`.
fn username(e: &Event) -> Option<String> {
    match e.user_identity.kind {
        IdentityType::Root => Some("root".into()),
        _ => e.user_identity.user_name.clone(),
    }
}

fn page(events: Vec<Event>, next: Option<String>) -> Value {
    let events: Vec<Value> = events.iter().map(summary).collect();
    let mut out = json!({ "Events": events });
    if let Some(next) = next {
        out["NextToken"] = Value::from(next);
    }
    out
}

/// One event as LookupEvents lists it: a summary and the whole record as a string.
fn summary(e: &Event) -> Value {
    let resources: Vec<Value> = e
        .resources
        .iter()
        .map(|r| json!({"ResourceType": r.kind, "ResourceName": r.arn}))
        .collect();
    let mut v = json!({
        "EventId": e.event_id,
        "EventName": e.event_name,
        "ReadOnly": e.read_only.to_string(),
        "EventTime": e.event_time.unix_timestamp(),
        "EventSource": e.event_source,
        "Resources": resources,
        "CloudTrailEvent": String::from_utf8(e.canonical_bytes()).expect("JSON is UTF-8"),
    });
    if let Some(id) = &e.user_identity.access_key_id {
        v["AccessKeyId"] = Value::from(id.clone());
    }
    if let Some(name) = username(e) {
        v["Username"] = Value::from(name);
    }
    v
}
