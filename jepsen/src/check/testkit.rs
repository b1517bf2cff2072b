//! Hand-made histories for the checkers' and the report's tests. Times are in milliseconds.

use std::collections::BTreeMap;

use crate::history::*;

pub fn ms(t: u64) -> Nanos {
    t * 1_000_000
}

/// Builds a history from whole operations; `build` interleaves their events by time.
#[derive(Default)]
pub struct History {
    events: Vec<(Nanos, u8, usize, Entry)>,
}

impl History {
    pub fn new() -> Self {
        Self::default()
    }

    /// An operation answered at `done` (ms) with `op` (outputs filled).
    pub fn ok(&mut self, process: usize, invoke: u64, done: u64, op: Op) -> &mut Self {
        self.op(process, invoke, Some((done, Kind::Ok)), op, Some(1))
    }

    /// An operation that certainly took no effect.
    pub fn fail(&mut self, process: usize, invoke: u64, done: u64, op: Op) -> &mut Self {
        self.op(process, invoke, Some((done, Kind::Fail)), op, None)
    }

    /// An operation of unknown outcome, timed out at `done` or never completed.
    pub fn info(&mut self, process: usize, invoke: u64, done: Option<u64>, op: Op) -> &mut Self {
        self.op(process, invoke, done.map(|d| (d, Kind::Info)), op, None)
    }

    /// Like `ok`, answered by `node`.
    pub fn ok_on(
        &mut self,
        node: u64,
        process: usize,
        invoke: u64,
        done: u64,
        op: Op,
    ) -> &mut Self {
        self.op(process, invoke, Some((done, Kind::Ok)), op, Some(node))
    }

    fn op(
        &mut self,
        process: usize,
        invoke: u64,
        end: Option<(u64, Kind)>,
        op: Op,
        node: Option<u64>,
    ) -> &mut Self {
        let event = |time, kind, node| {
            Entry::Op(OpEvent {
                time: ms(time),
                process,
                kind,
                node,
                op: op.clone(),
                error: None,
                request_id: None,
            })
        };
        let seq = self.events.len();
        self.events
            .push((ms(invoke), 1, seq, event(invoke, Kind::Invoke, None)));
        if let Some((done, kind)) = end {
            self.events
                .push((ms(done), 0, seq, event(done, kind, node)));
        }
        self
    }

    pub fn fault(
        &mut self,
        start: u64,
        stop: Option<u64>,
        fault: &str,
        nodes: &[u64],
        healthy: bool,
    ) -> &mut Self {
        let event = |time, phase| {
            Entry::Nemesis(NemesisEvent {
                time: ms(time),
                fault: fault.into(),
                phase,
                nodes: nodes.to_vec(),
                detail: format!("{fault} {nodes:?}"),
                majority_healthy: healthy,
            })
        };
        let seq = self.events.len();
        self.events
            .push((ms(start), 0, seq, event(start, Phase::Start)));
        if let Some(stop) = stop {
            self.events
                .push((ms(stop), 0, seq, event(stop, Phase::Stop)));
        }
        self
    }

    /// Completions before invocations at the same instant, so a process's next operation
    /// never starts before its previous one ended.
    pub fn build(&self) -> Vec<Entry> {
        let mut events = self.events.clone();
        events.sort_by_key(|(time, rank, seq, _)| (*time, *rank, *seq));
        events.into_iter().map(|(_, _, _, e)| e).collect()
    }
}

pub fn key_write(key: &str, action: KeyAction, result: Option<Answer<()>>) -> Op {
    Op::KeyWrite {
        key: key.into(),
        action,
        result,
    }
}

pub fn key_read(key: &str, state: Option<Answer<KeyState>>) -> Op {
    Op::KeyRead {
        key: key.into(),
        state,
    }
}

pub fn key_use(key: &str, result: Option<Answer<()>>) -> Op {
    Op::KeyUse {
        key: key.into(),
        result,
    }
}

pub fn alias_write(
    alias: &str,
    action: AliasAction,
    target: Option<&str>,
    result: Option<Answer<()>>,
) -> Op {
    Op::AliasWrite {
        alias: alias.into(),
        action,
        target: target.map(Into::into),
        result,
    }
}

pub fn alias_read(alias: &str, target: Option<Answer<&str>>) -> Op {
    Op::AliasRead {
        alias: alias.into(),
        target: target.map(|t| t.map(Into::into)),
    }
}

pub fn encrypt(key: &str, plaintext: &str, ciphertext: Option<Answer<&str>>) -> Op {
    Op::Encrypt {
        key: key.into(),
        context: BTreeMap::new(),
        plaintext: plaintext.into(),
        ciphertext: ciphertext.map(|c| c.map(Into::into)),
    }
}

pub fn data_key(key: &str, plaintext: &str, ciphertext: &str) -> Op {
    Op::GenerateDataKey {
        key: key.into(),
        context: BTreeMap::new(),
        data_key: Some(Ok(DataKey {
            plaintext: plaintext.into(),
            ciphertext: ciphertext.into(),
        })),
    }
}

pub fn decrypt(ciphertext: &str, plaintext: Option<Answer<&str>>) -> Op {
    Op::Decrypt {
        ciphertext: ciphertext.into(),
        context: BTreeMap::new(),
        plaintext: plaintext.map(|p| p.map(Into::into)),
    }
}

pub fn create_key(key: Option<Answer<&str>>) -> Op {
    Op::CreateKey {
        key: key.map(|k| k.map(Into::into)),
    }
}

pub fn list_keys(final_read: bool, keys: &[&str]) -> Op {
    Op::ListKeys {
        final_read,
        keys: Some(Ok(keys.iter().map(|k| k.to_string()).collect())),
    }
}

pub fn err<T>(code: &str) -> Option<Answer<T>> {
    Some(Err(code.to_string()))
}

pub fn done() -> Option<Answer<()>> {
    Some(Ok(()))
}

pub fn schedule_deletion(key: &str, days: u32, at_ms: u64, date: Option<Answer<u64>>) -> Op {
    Op::ScheduleDeletion {
        key: key.into(),
        days,
        at_ms,
        deletion_date: date,
    }
}

pub fn deletion_read(key: &str, at_ms: u64, state: Option<Answer<KeyState>>) -> Op {
    Op::DeletionRead {
        key: key.into(),
        at_ms,
        final_read: false,
        state,
    }
}

pub fn create_grant(key: &str, name: &str, id: Option<Answer<&str>>) -> Op {
    Op::CreateGrant {
        key: key.into(),
        name: name.into(),
        grant_id: id.map(|i| i.map(Into::into)),
    }
}

pub fn revoke_grant(key: &str, name: &str, result: Option<Answer<()>>) -> Op {
    Op::RevokeGrant {
        key: key.into(),
        name: name.into(),
        grant_id: format!("id-of-{name}"),
        result,
    }
}

pub fn put_policy(key: &str, policy: GranteePolicy, result: Option<Answer<()>>) -> Op {
    Op::PutKeyPolicy {
        key: key.into(),
        policy,
        result,
    }
}

pub fn grantee_encrypt(key: &str, result: Option<Answer<()>>) -> Op {
    Op::GranteeEncrypt {
        key: key.into(),
        result,
    }
}

pub fn sign(key: &str, message: &str, signature: Option<Answer<&str>>) -> Op {
    Op::Sign {
        key: key.into(),
        algorithm: "ECDSA_SHA_256".into(),
        message: message.into(),
        signature: signature.map(|s| s.map(Into::into)),
    }
}

pub fn verify(
    key: &str,
    message: &str,
    signature: &str,
    tampered: bool,
    valid: Option<Answer<bool>>,
) -> Op {
    Op::Verify {
        key: key.into(),
        algorithm: "ECDSA_SHA_256".into(),
        message: message.into(),
        signature: signature.into(),
        tampered,
        valid,
    }
}

pub fn get_public_key(key: &str, public_key: &str) -> Op {
    Op::GetPublicKey {
        key: key.into(),
        final_read: true,
        public_key: Some(Ok(public_key.into())),
    }
}
