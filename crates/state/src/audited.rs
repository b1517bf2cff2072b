//! A write that carries its own audit event ([`Command::Audited`], command set 9).
//!
//! A write's event records the write's outcome, so a leader that proposed the event after the
//! write committed paid two quorum rounds per write, and could commit the write and lose its
//! record in between. Proposed together, the write's entry holds the event as a success, and
//! `apply`, which every replica runs alike, completes it from the response.
//!
//! Guarantees:
//! - The write applies exactly as it would alone (`State::respond`: a request id applied
//!   before replays its first response), and the response is the write's own.
//! - Its event is sealed right after it, as a batch of one, whatever the response: a refusal
//!   gets the response's error code and message (what the API answers, `Event::failed`),
//!   and a replayed request id gets the first attempt's outcome, which its caller hears.
//! - The event's bytes depend on the log and on this build's wording of the command's
//!   refusals: a build that rewords one must not seal alongside the build before it
//!   (docs/ARCHITECTURE.md, "A write carries its own event").
//! - The event is sealed as cut, without a parse (`trent_audit::Unlinked`): a refusal's
//!   members are written into the cut ([`Unlinked::failed`]), the bytes a parse, `failed`
//!   and a new cut would give.
//! - An event not cut at its link, or with no place for a refusal, changes nothing, the
//!   write included (the leader built it: a bad one is a bug, refused whole rather than half
//!   recorded).

use std::borrow::Cow;

use trent_audit::Unlinked;
use trent_model::Error;

use crate::{Command, RecordKey, Request, Response, SealCheck, State};

impl State {
    pub(crate) fn apply_audited(
        &mut self,
        request: &Request,
        command: &Command,
        event: &Unlinked,
        touched: &mut Vec<RecordKey>,
        seal: &dyn SealCheck,
    ) -> Response {
        let bad = |e: String| Error::internal(format!("an audited write's event: {e}"));
        event.check().map_err(bad)?;
        event.refusal_at().map_err(bad)?;
        let response = self.respond(request.id, command, request.time, touched, seal);
        let event = match &response {
            Ok(_) => Cow::Borrowed(event),
            Err(e) => Cow::Owned(event.failed(e.aws_code(), &e.message).map_err(bad)?),
        };
        let tip = self.audit_tip;
        let (sealed, hash) = Unlinked::seal(tip.next_seq, tip.hash, std::slice::from_ref(&event));
        self.store_sealed(sealed, hash, touched)?;
        response
    }
}

#[cfg(test)]
mod tests {
    use trent_audit::Event;
    use trent_model::{ErrorKind, KeyId};
    use uuid::Uuid;

    use crate::audit::tests::event_of;
    use crate::tests::Harness;
    use crate::{Command, RequestId, State, StoredBatch};

    use super::*;

    fn event() -> Event {
        event_of("UpdateKeyDescription")
    }

    fn audited(key: u128, description: &str, event: Unlinked) -> Command {
        Command::Audited {
            command: Box::new(Command::UpdateKeyDescription {
                key_id: KeyId(Uuid::from_u128(key)),
                description: description.into(),
            }),
            event,
        }
    }

    fn cut(event: &Event) -> Unlinked {
        Unlinked::new(event.clone())
    }

    /// A state holding key 1, its sealed batches taken.
    fn with_key() -> State {
        let mut state = Harness::with_key(1).state;
        state.take_sealed_audit();
        state
    }

    /// Applies `command` under request id `id` at a later time than the last.
    fn run(state: &mut State, id: u128, command: Command) -> Response {
        let request = Request {
            id: RequestId(Uuid::from_u128(id)),
            time: state.audit_tip().time.max(10_000) + 1,
            command,
        };
        state.apply(&request, &mut Vec::new())
    }

    fn description(state: &State) -> &str {
        &state
            .key(&KeyId(Uuid::from_u128(1)))
            .unwrap()
            .metadata
            .description
    }

    /// The events of the batches sealed since the last call.
    fn sealed(state: &mut State) -> Vec<Event> {
        let batches = state.take_sealed_audit();
        batches
            .iter()
            .flat_map(|(seq, bytes)| {
                StoredBatch::decode(bytes)
                    .unwrap()
                    .to_batch(*seq)
                    .unwrap()
                    .events
            })
            .collect()
    }

    #[test]
    fn a_write_and_its_event_apply_together() {
        let mut state = with_key();
        let before = state.audit_tip();
        run(&mut state, 10, audited(1, "new", cut(&event()))).unwrap();
        assert_eq!(description(&state), "new");
        let events = sealed(&mut state);
        assert_eq!(events.len(), 1);
        assert_eq!(events[0].error_code, None);
        assert_eq!(events[0].event_name, "UpdateKeyDescription");
        assert_eq!(state.audit_tip().next_seq, before.next_seq + 1);
        assert_eq!(state.audit_tip().events, before.events + 1);
    }

    #[test]
    fn a_refused_write_is_recorded_with_its_error() {
        let mut state = with_key();
        let e = run(&mut state, 10, audited(2, "new", cut(&event()))).unwrap_err();
        assert_eq!(e.kind, ErrorKind::NotFound);
        let events = sealed(&mut state);
        assert_eq!(events.len(), 1);
        assert_eq!(events[0].error_code.as_deref(), Some(e.aws_code()));
        assert_eq!(events[0].error_message.as_deref(), Some(e.message.as_str()));
    }

    #[test]
    fn a_replayed_request_id_records_the_first_outcome() {
        let mut state = with_key();
        run(&mut state, 77, audited(1, "first", cut(&event()))).unwrap();
        state.take_sealed_audit();
        // The same id again, naming a key that does not exist: the first answer stands.
        run(&mut state, 77, audited(2, "second", cut(&event()))).unwrap();
        let events = sealed(&mut state);
        assert_eq!(events.len(), 1);
        assert_eq!(events[0].error_code, None);
        assert_eq!(description(&state), "first");
    }

    #[test]
    fn a_bad_event_changes_nothing() {
        let good = cut(&event());
        let not_cut = Unlinked {
            head: "{\"eventVersion\":".into(),
            ..good.clone()
        };
        let refused = good.failed("X", "y").unwrap();
        for bad in [not_cut, refused] {
            let mut state = with_key();
            let before = state.audit_tip();
            let e = run(&mut state, 10, audited(1, "new", bad)).unwrap_err();
            assert_eq!(e.kind, ErrorKind::Internal);
            assert!(sealed(&mut state).is_empty());
            assert_eq!(description(&state), "");
            assert_eq!(state.audit_tip(), before);
            assert!(state
                .applied_response(RequestId(Uuid::from_u128(10)))
                .is_none());
        }
    }

    #[test]
    fn the_sealed_refusal_is_the_one_a_parse_would_make() {
        let mut state = with_key();
        let e = run(&mut state, 10, audited(2, "new", cut(&event()))).unwrap_err();
        let made = Unlinked::new(event().failed(e.aws_code(), &e.message));
        let tip = with_key().audit_tip();
        let (expected, _) = Unlinked::seal(tip.next_seq, tip.hash, &[made]);
        let (_, stored) = &state.take_sealed_audit()[0];
        let stored = StoredBatch::decode(stored).unwrap();
        assert_eq!(stored.events[0].as_bytes(), expected[0]);
    }
}
