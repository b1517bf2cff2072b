//! The audit event: one API call, in the shape of a CloudTrail record for AWS KMS.
//!
//! Guarantees:
//! - Serialization gives CloudTrail's member names in CloudTrail's order, as the AWS KMS
//!   developer guide prints its log entries ("Examples of AWS KMS log entries": `ct-encrypt`,
//!   `ct-put-key-policy`, `ct-creategrant`, `ct-decapsulate`) and as "CloudTrail record
//!   contents for management, data, and network activity events" defines them:
//!   `eventVersion`, `userIdentity`, `eventTime`, `eventSource`, `eventName`, `awsRegion`,
//!   `sourceIPAddress`, `userAgent`, `errorCode`, `errorMessage`, `requestParameters`,
//!   `responseElements`, `additionalEventData`, `requestID`, `eventID`, `readOnly`,
//!   `resources`, `eventType`, `managementEvent`, `recipientAccountId`, `eventCategory`,
//!   `tlsDetails`.
//! - Optional members are omitted, not null (`errorCode`/`errorMessage` on success,
//!   `tlsDetails` over plain HTTP, `resources` when no key is involved, identity members that
//!   are unknown), except `requestParameters` and `responseElements`, which CloudTrail writes
//!   as `null` when there are none (the Encrypt example's `"responseElements": null`).
//! - `eventTime` is ISO 8601 UTC to the second with `Z` (`2025-05-20T20:46:16Z`); sub-seconds
//!   are dropped when the event is made, so an event read back from its JSON serializes to
//!   the same bytes (the chain hashes those bytes, `chain.rs`).
//! - A record with a member this type does not know is refused when read back
//!   (`deny_unknown_fields`), so an added member shows as an edit rather than vanishing.
//!
//! Not matched to AWS: `additionalEventData.auditChain` (the event's place in trent's hash
//! chain, `chain.rs`) is trent's own member; `userIdentity` has no `sessionContext` or
//! `invokedBy` (trent has no roles or service principals yet).

use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};
use time::OffsetDateTime;

/// `eventVersion` of the records trent writes (the current KMS examples' version).
pub const EVENT_VERSION: &str = "1.11";
/// `eventSource` of KMS events.
pub const KMS_EVENT_SOURCE: &str = "kms.amazonaws.com";
/// `eventType` of an API call.
pub const API_CALL: &str = "AwsApiCall";
/// `eventCategory` of every KMS event.
pub const MANAGEMENT: &str = "Management";
/// `resources[].type` of a KMS key.
pub const KMS_KEY_TYPE: &str = "AWS::KMS::Key";

/// One API call, as CloudTrail records it. Fields are public: the request path fills them
/// once the outcome is known; [`Event::kms`] fills the constants.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Event {
    #[serde(rename = "eventVersion")]
    pub event_version: String,
    #[serde(rename = "userIdentity")]
    pub user_identity: UserIdentity,
    #[serde(rename = "eventTime", with = "utc_seconds")]
    pub event_time: OffsetDateTime,
    #[serde(rename = "eventSource")]
    pub event_source: String,
    #[serde(rename = "eventName")]
    pub event_name: String,
    #[serde(rename = "awsRegion")]
    pub aws_region: String,
    #[serde(rename = "sourceIPAddress")]
    pub source_ip_address: String,
    #[serde(rename = "userAgent")]
    pub user_agent: String,
    #[serde(rename = "errorCode", default, skip_serializing_if = "Option::is_none")]
    pub error_code: Option<String>,
    #[serde(
        rename = "errorMessage",
        default,
        skip_serializing_if = "Option::is_none"
    )]
    pub error_message: Option<String>,
    /// What [`crate::request_parameters`] kept, or `null`.
    #[serde(rename = "requestParameters")]
    pub request_parameters: Option<Value>,
    /// What [`crate::response_elements`] kept, or `null`.
    #[serde(rename = "responseElements")]
    pub response_elements: Option<Value>,
    #[serde(
        rename = "additionalEventData",
        default,
        skip_serializing_if = "Option::is_none"
    )]
    pub additional_event_data: Option<AdditionalEventData>,
    /// The `x-amzn-RequestId` the caller was answered with.
    #[serde(rename = "requestID")]
    pub request_id: String,
    /// A UUID the leader chose for this event.
    #[serde(rename = "eventID")]
    pub event_id: String,
    #[serde(rename = "readOnly")]
    pub read_only: bool,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub resources: Vec<Resource>,
    #[serde(rename = "eventType")]
    pub event_type: String,
    #[serde(rename = "managementEvent")]
    pub management_event: bool,
    #[serde(rename = "recipientAccountId")]
    pub recipient_account_id: String,
    #[serde(rename = "eventCategory")]
    pub event_category: String,
    #[serde(
        rename = "tlsDetails",
        default,
        skip_serializing_if = "Option::is_none"
    )]
    pub tls_details: Option<TlsDetails>,
}

/// Who called. Members trent cannot know (an unauthenticated caller's ARN) are omitted.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct UserIdentity {
    #[serde(rename = "type")]
    pub kind: IdentityType,
    #[serde(
        rename = "principalId",
        default,
        skip_serializing_if = "Option::is_none"
    )]
    pub principal_id: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub arn: Option<String>,
    #[serde(rename = "accountId", default, skip_serializing_if = "Option::is_none")]
    pub account_id: Option<String>,
    #[serde(
        rename = "accessKeyId",
        default,
        skip_serializing_if = "Option::is_none"
    )]
    pub access_key_id: Option<String>,
    #[serde(rename = "userName", default, skip_serializing_if = "Option::is_none")]
    pub user_name: Option<String>,
}

/// `userIdentity.type`, CloudTrail's names for the identities trent has. `Unknown` is a
/// caller whose signature did not authenticate (CloudTrail's value for an identity it could
/// not determine).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum IdentityType {
    #[serde(rename = "IAMUser")]
    IamUser,
    Root,
    #[serde(rename = "AWSAccount")]
    AwsAccount,
    Unknown,
}

/// One key the call used (`resources[]`), in the member order of the PutKeyPolicy example.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Resource {
    #[serde(rename = "accountId")]
    pub account_id: String,
    #[serde(rename = "type")]
    pub kind: String,
    #[serde(rename = "ARN")]
    pub arn: String,
}

impl Resource {
    /// A KMS key resource.
    pub fn key(account_id: &str, key_arn: &str) -> Resource {
        Resource {
            account_id: account_id.to_owned(),
            kind: KMS_KEY_TYPE.to_owned(),
            arn: key_arn.to_owned(),
        }
    }
}

/// The TLS session of an HTTPS call; absent over plain HTTP.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TlsDetails {
    #[serde(rename = "tlsVersion")]
    pub tls_version: String,
    #[serde(rename = "cipherSuite")]
    pub cipher_suite: String,
    #[serde(rename = "clientProvidedHostHeader")]
    pub client_provided_host_header: String,
}

/// `additionalEventData`: what the service adds (AWS KMS puts `keyMaterialId` here) and
/// trent's chain link. The link is written last, after the service's members.
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
pub struct AdditionalEventData {
    /// The service's members, as given.
    #[serde(flatten)]
    pub service: Map<String, Value>,
    /// The event's place in the chain, stamped by [`crate::Batch::seal`].
    #[serde(
        rename = "auditChain",
        default,
        skip_serializing_if = "Option::is_none"
    )]
    pub chain: Option<ChainLink>,
}

/// Where an event sits in the chain: batch `batch`, position `index` of `count`, and `prev`,
/// the hex SHA-256 of what comes before it (the previous event's hash, or for `index` 0 the
/// previous batch's hash). Part of the event's hashed bytes, so it cannot be changed unseen.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ChainLink {
    pub batch: u64,
    pub index: u32,
    pub count: u32,
    #[serde(with = "hex32")]
    pub prev: [u8; 32],
}

/// What [`Event::kms`] needs besides the constants.
#[derive(Debug, Clone)]
pub struct Call {
    pub identity: UserIdentity,
    pub time: OffsetDateTime,
    pub operation: String,
    pub region: String,
    pub source_ip: String,
    pub user_agent: String,
    pub request_id: String,
    pub event_id: String,
    pub read_only: bool,
    pub recipient_account_id: String,
}

impl Event {
    /// A successful KMS call with no parameters, no key and no TLS: the caller sets the rest
    /// (`request_parameters`, `resources`, `tls_details`, or [`Event::failed`]).
    pub fn kms(call: Call) -> Event {
        Event {
            event_version: EVENT_VERSION.to_owned(),
            user_identity: call.identity,
            event_time: whole_seconds(call.time),
            event_source: KMS_EVENT_SOURCE.to_owned(),
            event_name: call.operation,
            aws_region: call.region,
            source_ip_address: call.source_ip,
            user_agent: call.user_agent,
            error_code: None,
            error_message: None,
            request_parameters: None,
            response_elements: None,
            additional_event_data: None,
            request_id: call.request_id,
            event_id: call.event_id,
            read_only: call.read_only,
            resources: Vec::new(),
            event_type: API_CALL.to_owned(),
            management_event: true,
            recipient_account_id: call.recipient_account_id,
            event_category: MANAGEMENT.to_owned(),
            tls_details: None,
        }
    }

    /// The same event about `resources`, the keys the call acted on: the first key's owner
    /// receives it (`recipientAccountId`, CloudTrail's resource owner); with none, the
    /// recipient stays the caller's account.
    pub fn on_resources(mut self, resources: Vec<Resource>) -> Event {
        if let Some(first) = resources.first() {
            self.recipient_account_id = first.account_id.clone();
        }
        self.resources = resources;
        self
    }

    /// The same event, refused with `code` (the AWS exception name) and `message`. A refused
    /// call has no response elements.
    pub fn failed(mut self, code: &str, message: &str) -> Event {
        self.error_code = Some(code.to_owned());
        self.error_message = Some(message.to_owned());
        self.response_elements = None;
        self
    }

    /// The chain link stamped on this event, if any.
    pub fn chain_link(&self) -> Option<&ChainLink> {
        self.additional_event_data.as_ref()?.chain.as_ref()
    }

    /// The exact bytes the chain hashes and the log file holds: the compact JSON of the record.
    pub fn canonical_bytes(&self) -> Vec<u8> {
        serde_json::to_vec(self).expect("an event always serializes")
    }
}

/// `t` in UTC without its sub-seconds: what `eventTime` can say.
pub fn whole_seconds(t: OffsetDateTime) -> OffsetDateTime {
    let t = t.to_offset(time::UtcOffset::UTC);
    t.replace_nanosecond(0).expect("0 is a valid nanosecond")
}

/// `2025-05-20T20:46:16Z`: CloudTrail's time format (records and digests).
pub(crate) mod utc_seconds {
    use serde::{de::Error as _, Deserialize, Deserializer, Serializer};
    use time::{format_description::FormatItem, macros::format_description};
    use time::{OffsetDateTime, PrimitiveDateTime};

    const FORMAT: &[FormatItem<'static>] =
        format_description!("[year]-[month]-[day]T[hour]:[minute]:[second]Z");

    pub fn format(t: &OffsetDateTime) -> String {
        super::whole_seconds(*t)
            .format(FORMAT)
            .expect("UTC times format")
    }

    pub fn parse(s: &str) -> Result<OffsetDateTime, time::error::Parse> {
        Ok(PrimitiveDateTime::parse(s, FORMAT)?.assume_utc())
    }

    pub fn serialize<S: Serializer>(t: &OffsetDateTime, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(&format(t))
    }

    pub fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<OffsetDateTime, D::Error> {
        parse(&String::deserialize(d)?).map_err(D::Error::custom)
    }
}

/// A 32-byte hash as 64 lowercase hex digits.
pub(crate) mod hex32 {
    use serde::{de::Error as _, Deserialize, Deserializer, Serializer};

    pub fn serialize<S: Serializer>(h: &[u8; 32], s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(&crate::hex(h))
    }

    pub fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<[u8; 32], D::Error> {
        let s = String::deserialize(d)?;
        crate::unhex32(&s).ok_or_else(|| D::Error::custom("not 64 lowercase hex digits"))
    }
}
