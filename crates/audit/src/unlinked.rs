//! An event as the leader proposes it: its canonical bytes cut where its chain link goes.
//!
//! Every node seals every batch (`trent_state`'s `audit.rs`), so sealing is the trail's hot
//! path, paid three times per event on a 3-node cluster. Parsing each event's JSON back into
//! an [`Event`] there only to stamp its link and serialize it again cost more than the rest of
//! the seal; an [`Unlinked`] is serialized once, on the leader, and sealing writes the link
//! into the cut.
//!
//! Guarantees:
//! - `head ‖ "auditChain":<link> ‖ tail` is exactly [`Event::canonical_bytes`] of the event
//!   stamped with that link: what the chain hashes, an export holds and a verifier
//!   re-serializes (tested below for events with and without service members, refusals and
//!   hostile strings).
//! - The cut is found by the last occurrence of a sentinel link's serialization. Nothing
//!   after `additionalEventData` in CloudTrail's member order can hold an object, and every
//!   string's quotes are escaped, so the last occurrence is the link itself.
//! - [`Unlinked::check`] refuses parts that cannot be an event's (apply refuses such a batch
//!   whole, as it refused events that did not parse).

use serde::{Deserialize, Serialize};

use crate::chain::{hash_event_bytes, BatchHasher};
use crate::event::{AdditionalEventData, ChainLink, Event};

/// The member name of the link inside `additionalEventData`.
const LINK_MEMBER: &str = "\"auditChain\":";
/// The member a refusal's `errorCode` and `errorMessage` come just before, in CloudTrail's
/// member order. Everything before it is fixed members and escaped strings (no map a caller
/// fills), so its first occurrence is the member.
const REFUSAL_BEFORE: &str = ",\"requestParameters\":";
/// The link every event is serialized with before it is cut.
const SENTINEL: ChainLink = ChainLink {
    batch: u64::MAX,
    index: u32::MAX,
    count: u32::MAX,
    prev: [0xee; 32],
};

/// An event's canonical JSON without its chain link: `head` ends where the link's member
/// starts, `tail` starts where it ends.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Unlinked {
    pub head: String,
    pub tail: String,
}

impl Unlinked {
    /// `event` serialized once, cut at its link (any link it carried is replaced).
    pub fn new(mut event: Event) -> Unlinked {
        event
            .additional_event_data
            .get_or_insert_with(AdditionalEventData::default)
            .chain = Some(SENTINEL);
        let json = String::from_utf8(event.canonical_bytes()).expect("JSON is UTF-8");
        // The sentinel's text, and the searcher for it, never change: made once, not per event.
        static CUT: std::sync::LazyLock<memchr::memmem::FinderRev<'static>> =
            std::sync::LazyLock::new(|| {
                let text = format!("{LINK_MEMBER}{}", link_json(&SENTINEL));
                memchr::memmem::FinderRev::new(text.as_bytes()).into_owned()
            });
        let at = CUT
            .rfind(json.as_bytes())
            .expect("a serialized event holds its link");
        let end = at + CUT.needle().len();
        Unlinked {
            head: json[..at].to_owned(),
            tail: json[end..].to_owned(),
        }
    }

    /// Whether the parts can be an event's: a JSON object whose link closes
    /// `additionalEventData` (the link is its last member).
    pub fn check(&self) -> Result<(), String> {
        let head_ok = self.head.starts_with("{\"eventVersion\":")
            && (self.head.ends_with('{') || self.head.ends_with(','));
        let tail_ok = self.tail.starts_with('}') && self.tail.ends_with('}');
        if head_ok && tail_ok {
            Ok(())
        } else {
            Err("an audit event is not cut at its chain link".into())
        }
    }

    /// The canonical bytes of the event stamped with `link`.
    pub fn linked(&self, link: &ChainLink) -> Vec<u8> {
        let link = link_json(link);
        let mut out =
            Vec::with_capacity(self.head.len() + LINK_MEMBER.len() + link.len() + self.tail.len());
        out.extend_from_slice(self.head.as_bytes());
        out.extend_from_slice(LINK_MEMBER.as_bytes());
        out.extend_from_slice(link.as_bytes());
        out.extend_from_slice(self.tail.as_bytes());
        out
    }

    /// The same event refused with `code` and `message`: the bytes of
    /// `Unlinked::new(event.failed(code, message))`, written into the cut without a parse. For
    /// a success whose `responseElements` is `null` (a refusal's is), as the writes that carry
    /// their event in their own log entry are (`trent_state`'s `audited.rs`).
    pub fn failed(&self, code: &str, message: &str) -> Result<Unlinked, String> {
        let at = self.refusal_at()?;
        let (code, message) = (json_string(code), json_string(message));
        let mut head = String::with_capacity(self.head.len() + code.len() + message.len() + 32);
        head.push_str(&self.head[..at]);
        head.push_str(",\"errorCode\":");
        head.push_str(&code);
        head.push_str(",\"errorMessage\":");
        head.push_str(&message);
        head.push_str(&self.head[at..]);
        Ok(Unlinked {
            head,
            tail: self.tail.clone(),
        })
    }

    /// Where [`Unlinked::failed`] writes a refusal: before `requestParameters`, in a head
    /// that holds no refusal yet.
    pub fn refusal_at(&self) -> Result<usize, String> {
        let at =
            (self.head.find(REFUSAL_BEFORE)).ok_or("an audit event without requestParameters")?;
        if self.head[..at].contains("\"errorCode\":") {
            return Err("an audit event refused already".into());
        }
        Ok(at)
    }

    /// The whole event with a placeholder link (sealing replaces any link): the form of
    /// `AppendAudit`, for clusters with voters that do not apply the cut form yet.
    pub fn whole(&self) -> String {
        String::from_utf8(self.linked(&SENTINEL)).expect("JSON is UTF-8")
    }

    /// Batch `seq` after `prev` of `events`, sealed: each event's canonical bytes with its
    /// link, and the batch's hash (the same as [`crate::Batch::seal`] of the events).
    pub fn seal(seq: u64, prev: [u8; 32], events: &[Unlinked]) -> (Vec<Vec<u8>>, [u8; 32]) {
        let count = u32::try_from(events.len()).expect("a batch holds fewer than 2^32 events");
        let mut batch = BatchHasher::new(seq, &prev);
        let mut before = prev;
        let mut out = Vec::with_capacity(events.len());
        for (index, event) in (0u32..).zip(events) {
            let bytes = event.linked(&ChainLink {
                batch: seq,
                index,
                count,
                prev: before,
            });
            before = hash_event_bytes(&bytes);
            batch.add(&bytes);
            out.push(bytes);
        }
        (out, batch.finish())
    }
}

fn link_json(link: &ChainLink) -> String {
    serde_json::to_string(link).expect("a link serializes")
}

fn json_string(s: &str) -> String {
    serde_json::to_string(s).expect("a string serializes")
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::event::{Call, IdentityType, Resource, TlsDetails, UserIdentity};
    use crate::Batch;
    use serde_json::json;

    fn event(name: &str) -> Event {
        Event::kms(Call {
            identity: UserIdentity {
                kind: IdentityType::IamUser,
                principal_id: None,
                arn: Some("arn:aws:iam::111122223333:user/\"auditChain\":{}".into()),
                account_id: Some("111122223333".into()),
                access_key_id: Some("TKIAEXAMPLE".into()),
                user_name: Some("alice".into()),
            },
            time: time::OffsetDateTime::UNIX_EPOCH,
            operation: name.into(),
            region: "us-east-1".into(),
            source_ip: "127.0.0.1".into(),
            user_agent: "ua \"auditChain\":{\"batch\":1}".into(),
            request_id: "req".into(),
            event_id: "evt".into(),
            read_only: true,
            recipient_account_id: "111122223333".into(),
        })
    }

    fn variety() -> Vec<Event> {
        let plain = event("Encrypt");
        let mut with_members = event("Decrypt");
        let mut data = AdditionalEventData::default();
        data.service.insert("keyMaterialId".into(), json!("abc"));
        with_members.additional_event_data = Some(data);
        // A caller can put anything in a parameter the allowlist keeps, even a link.
        with_members.request_parameters = Some(json!({
            "encryptionContext": {"auditChain": "{\"batch\":0}"},
            "keyId": "\"auditChain\":{\"batch\":18446744073709551615}",
        }));
        with_members.resources = vec![Resource::key("111122223333", "arn:aws:kms:k")];
        with_members.tls_details = Some(TlsDetails {
            tls_version: "TLSv1.3".into(),
            cipher_suite: "TLS_AES_128_GCM_SHA256".into(),
            client_provided_host_header: "h\"auditChain\":".into(),
        });
        let refused = event("Sign").failed("AccessDeniedException", "no \"auditChain\": here");
        vec![plain, with_members, refused]
    }

    #[test]
    fn sealing_cut_events_gives_the_bytes_and_hash_of_sealing_whole_ones() {
        let events = variety();
        let unlinked: Vec<Unlinked> = events.iter().cloned().map(Unlinked::new).collect();
        for u in &unlinked {
            u.check().unwrap();
        }
        let prev = [7; 32];
        let (bytes, hash) = Unlinked::seal(42, prev, &unlinked);
        let (whole_bytes, whole_hash) = Batch::seal_to_bytes(42, prev, events.clone());
        assert_eq!(bytes, whole_bytes);
        assert_eq!(hash, whole_hash);
        let sealed = Batch::seal(42, prev, events);
        assert_eq!(sealed.hash(), hash);
        for (b, e) in bytes.iter().zip(&sealed.events) {
            let parsed: Event = serde_json::from_slice(b).unwrap();
            assert_eq!(&parsed, e, "read back, the event is the one sealed");
        }
    }

    #[test]
    fn a_cut_success_marked_refused_is_the_cut_refusal() {
        let hostile = "no \"errorCode\":\"x\", ,\"requestParameters\": \u{1} é \\";
        // A caller chooses its user agent and its user name, which come before the refusal.
        let mut sneaky = event("Encrypt");
        sneaky.user_agent = hostile.into();
        sneaky.user_identity.user_name = Some("\"errorCode\":\"y\"".into());
        let successes = variety().into_iter().filter(|e| e.error_code.is_none());
        for event in successes.chain([sneaky]) {
            for (code, message) in [
                ("NotFoundException", "Key 'k' does not exist"),
                ("X", hostile),
            ] {
                let marked = Unlinked::new(event.clone()).failed(code, message).unwrap();
                assert_eq!(marked, Unlinked::new(event.clone().failed(code, message)));
                assert!(marked.failed(code, message).is_err(), "refused twice");
            }
        }
        let cut = Unlinked::new(event("Encrypt"));
        let at = cut.head.find(REFUSAL_BEFORE).unwrap();
        let without = Unlinked {
            head: cut.head[..at].to_owned(),
            ..cut
        };
        assert!(without.failed("X", "y").is_err());
    }

    #[test]
    fn parts_that_are_not_an_events_are_refused() {
        let good = Unlinked::new(event("Encrypt"));
        let bad = [
            Unlinked {
                head: "{not".into(),
                ..good.clone()
            },
            Unlinked {
                tail: "]".into(),
                ..good.clone()
            },
            Unlinked {
                head: good.head.trim_end_matches(['{', ',']).into(),
                ..good.clone()
            },
        ];
        for b in bad {
            assert!(b.check().is_err(), "{b:?}");
        }
    }
}
