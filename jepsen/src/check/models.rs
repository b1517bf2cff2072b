//! The sequential specifications the linearizability checker holds trent to: a key's state
//! and an alias's target, with exactly the answers AWS KMS (and trent) give.

use crate::history::{AliasAction, KeyAction, KeyState};

use super::linearizable::Model;

pub const INVALID_STATE: &str = "KMSInvalidStateException";
pub const DISABLED: &str = "DisabledException";
pub const NOT_FOUND: &str = "NotFoundException";
pub const ALREADY_EXISTS: &str = "AlreadyExistsException";

/// The answer of a register operation.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Reply<T> {
    /// Succeeded without a value (`Ok(())`).
    Done,
    Value(T),
    /// The AWS error code.
    Error(&'static str),
}

/// A key's state; every key starts `Enabled` (created before the run).
#[derive(Debug, Clone, Copy, Default)]
pub struct KeyStateModel;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum KeyInput {
    Write(KeyAction),
    /// DescribeKey.
    Read,
    /// Encrypt.
    Use,
}

impl Model for KeyStateModel {
    type State = KeyState;
    type Input = KeyInput;
    type Output = Reply<KeyState>;

    fn init(&self) -> KeyState {
        KeyState::Enabled
    }

    fn step(&self, state: &KeyState, input: &KeyInput) -> (Reply<KeyState>, KeyState) {
        use KeyState::*;
        let s = *state;
        match (input, s) {
            (KeyInput::Read, _) => (Reply::Value(s), s),
            (KeyInput::Use, Enabled) => (Reply::Done, s),
            (KeyInput::Use, Disabled) => (Reply::Error(DISABLED), s),
            (KeyInput::Use, PendingDeletion) => (Reply::Error(INVALID_STATE), s),
            (KeyInput::Write(KeyAction::CancelDeletion), PendingDeletion) => {
                (Reply::Done, Disabled)
            }
            (KeyInput::Write(KeyAction::CancelDeletion), _) => (Reply::Error(INVALID_STATE), s),
            (KeyInput::Write(_), PendingDeletion) => (Reply::Error(INVALID_STATE), s),
            (KeyInput::Write(KeyAction::Enable), _) => (Reply::Done, Enabled),
            (KeyInput::Write(KeyAction::Disable), _) => (Reply::Done, Disabled),
            (KeyInput::Write(KeyAction::ScheduleDeletion), _) => (Reply::Done, PendingDeletion),
        }
    }

    fn is_read_only(&self, input: &KeyInput) -> bool {
        !matches!(input, KeyInput::Write(_))
    }

    /// Reads, uses, and writes refused with an error leave the state as it was.
    fn is_pure(&self, input: &KeyInput, output: &Reply<KeyState>) -> bool {
        self.is_read_only(input) || matches!(output, Reply::Error(_))
    }
}

/// An alias's target key id; every alias starts absent.
#[derive(Debug, Clone, Copy, Default)]
pub struct AliasModel;

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum AliasInput {
    Create(String),
    Update(String),
    Delete,
    /// Encrypt through the alias.
    Read,
}

impl Model for AliasModel {
    type State = Option<String>;
    type Input = AliasInput;
    type Output = Reply<String>;

    fn init(&self) -> Option<String> {
        None
    }

    fn step(&self, state: &Option<String>, input: &AliasInput) -> (Reply<String>, Option<String>) {
        match (input, state) {
            (AliasInput::Read, Some(k)) => (Reply::Value(k.clone()), state.clone()),
            (AliasInput::Create(t), None) => (Reply::Done, Some(t.clone())),
            (AliasInput::Create(_), Some(_)) => (Reply::Error(ALREADY_EXISTS), state.clone()),
            (AliasInput::Update(t), Some(_)) => (Reply::Done, Some(t.clone())),
            (AliasInput::Delete, Some(_)) => (Reply::Done, None),
            (AliasInput::Read | AliasInput::Update(_) | AliasInput::Delete, None) => {
                (Reply::Error(NOT_FOUND), None)
            }
        }
    }

    fn is_read_only(&self, input: &AliasInput) -> bool {
        *input == AliasInput::Read
    }

    /// Reads, and writes refused with an error, leave the alias as it was.
    fn is_pure(&self, input: &AliasInput, output: &Reply<String>) -> bool {
        self.is_read_only(input) || matches!(output, Reply::Error(_))
    }
}

/// The input of an alias write as recorded (`Create`/`Update` carry their target).
pub fn alias_input(action: AliasAction, target: Option<&str>) -> Option<AliasInput> {
    match (action, target) {
        (AliasAction::Create, Some(t)) => Some(AliasInput::Create(t.to_string())),
        (AliasAction::Update, Some(t)) => Some(AliasInput::Update(t.to_string())),
        (AliasAction::Delete, _) => Some(AliasInput::Delete),
        _ => None,
    }
}

/// The error codes a model can answer, as `'static` names; any other code is not an
/// observation of the register (e.g. `ServiceUnavailable`).
pub fn known_error(code: &str) -> Option<&'static str> {
    [INVALID_STATE, DISABLED, NOT_FOUND, ALREADY_EXISTS]
        .into_iter()
        .find(|known| *known == code)
}

#[cfg(test)]
mod tests {
    use super::*;
    use KeyState::*;

    #[test]
    fn key_state_transitions_follow_aws() {
        let m = KeyStateModel;
        let w = |a| KeyInput::Write(a);
        let err = Reply::Error(INVALID_STATE);
        assert_eq!(
            m.step(&Enabled, &w(KeyAction::Disable)),
            (Reply::Done, Disabled)
        );
        assert_eq!(
            m.step(&Disabled, &w(KeyAction::Enable)),
            (Reply::Done, Enabled)
        );
        assert_eq!(
            m.step(&Disabled, &w(KeyAction::ScheduleDeletion)),
            (Reply::Done, PendingDeletion)
        );
        assert_eq!(
            m.step(&PendingDeletion, &w(KeyAction::Enable)),
            (err.clone(), PendingDeletion)
        );
        assert_eq!(
            m.step(&PendingDeletion, &w(KeyAction::Disable)),
            (err.clone(), PendingDeletion)
        );
        assert_eq!(
            m.step(&PendingDeletion, &w(KeyAction::CancelDeletion)),
            (Reply::Done, Disabled)
        );
        assert_eq!(
            m.step(&Enabled, &w(KeyAction::CancelDeletion)),
            (err.clone(), Enabled)
        );
        assert_eq!(
            m.step(&Disabled, &KeyInput::Use),
            (Reply::Error(DISABLED), Disabled)
        );
        assert_eq!(
            m.step(&PendingDeletion, &KeyInput::Use),
            (err, PendingDeletion)
        );
        assert_eq!(m.step(&Enabled, &KeyInput::Use), (Reply::Done, Enabled));
        assert_eq!(
            m.step(&Disabled, &KeyInput::Read),
            (Reply::Value(Disabled), Disabled)
        );
    }

    #[test]
    fn alias_transitions_follow_aws() {
        let m = AliasModel;
        let some = |k: &str| Some(k.to_string());
        assert_eq!(
            m.step(&None, &AliasInput::Create("a".into())),
            (Reply::Done, some("a"))
        );
        let exists = Reply::Error(ALREADY_EXISTS);
        assert_eq!(
            m.step(&some("a"), &AliasInput::Create("b".into())),
            (exists, some("a"))
        );
        assert_eq!(
            m.step(&some("a"), &AliasInput::Update("b".into())),
            (Reply::Done, some("b"))
        );
        let missing = Reply::Error(NOT_FOUND);
        assert_eq!(
            m.step(&None, &AliasInput::Update("b".into())),
            (missing.clone(), None)
        );
        assert_eq!(m.step(&some("a"), &AliasInput::Delete), (Reply::Done, None));
        assert_eq!(m.step(&None, &AliasInput::Delete), (missing.clone(), None));
        assert_eq!(m.step(&None, &AliasInput::Read), (missing, None));
        assert_eq!(
            m.step(&some("a"), &AliasInput::Read),
            (Reply::Value("a".into()), some("a"))
        );
    }
}
