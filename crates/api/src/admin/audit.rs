//! `LookupEvents`: the audit trail queried in CloudTrail's request and answer shape
//! (trent_service's `audit_lookup.rs` decides who sees what).

use serde::Deserialize;
use serde_json::Value;
use trent_model::{Error, Millis};
use trent_service::{Call, LookupQuery, OpError};

use super::{input, Admin};

#[derive(Deserialize, Default)]
#[serde(rename_all = "PascalCase", deny_unknown_fields)]
struct LookupRequest {
    /// Seconds since the epoch (the JSON 1.1 timestamp form the SDKs send).
    start_time: Option<f64>,
    end_time: Option<f64>,
    lookup_attributes: Option<Vec<Attribute>>,
    max_results: Option<u32>,
    next_token: Option<String>,
    /// CloudTrail's; trent records management events only.
    event_category: Option<String>,
}

#[derive(Deserialize)]
#[serde(rename_all = "PascalCase", deny_unknown_fields)]
struct Attribute {
    attribute_key: String,
    attribute_value: String,
}

impl Admin {
    pub(super) async fn lookup_events(&self, call: &Call, body: Value) -> Result<Value, OpError> {
        let r = input::<LookupRequest>("LookupEvents", body)?;
        if r.event_category.is_some() {
            return Err(Error::invalid_member(
                "eventCategory",
                "trent records management events only: leave EventCategory out",
            )
            .into());
        }
        let attribute = match r.lookup_attributes.unwrap_or_default().as_slice() {
            [] => None,
            [a] => Some((a.attribute_key.clone(), a.attribute_value.clone())),
            _ => {
                return Err(Error::invalid_member(
                    "lookupAttributes",
                    "at most one lookup attribute may be given",
                )
                .into())
            }
        };
        let query = LookupQuery {
            start_ms: r.start_time.map(|t| millis(t, "startTime")).transpose()?,
            end_ms: r.end_time.map(|t| millis(t, "endTime")).transpose()?,
            attribute,
            max_results: r.max_results,
            next_token: r.next_token,
        };
        let operator = call.caller.account == self.operator;
        self.service.lookup_events(call, query, operator).await
    }
}

fn millis(seconds: f64, field: &str) -> Result<Millis, Error> {
    if !(0.0..=1e11).contains(&seconds) {
        return Err(Error::invalid_member(
            field,
            "a time must be seconds since 1970 and before the year 5000",
        ));
    }
    Ok((seconds * 1000.0) as Millis)
}
