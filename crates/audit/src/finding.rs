//! What a verification found wrong, and where: the first bad place, never a list.
//!
//! One type serves [`crate::verify_chain`] (batches in memory: `batch` and `index` say
//! where) and [`crate::verify_dir`] (an export: `file` and `record` say where). The
//! classification rule is in `walk.rs` and in docs/ARCHITECTURE.md ("Audit trail").

use std::fmt;

/// What happened to the trail.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Tamper {
    /// Something the trail had is gone: an event (a gap in the positions that nothing later
    /// fills), a log file a digest lists, a digest another digest (or a log file) needs.
    Deleted,
    /// An event is out of its place, and the event that belongs there comes later.
    Reordered,
    /// Bytes changed: an event whose hash no longer matches what follows it, a log file
    /// whose hash is not its digest's, a digest whose signature fails.
    Edited,
    /// Something the chain never wrote: a record with no chain link, a second copy of a
    /// position already seen, batches beyond what the digest covers.
    Inserted,
    /// The pieces are each intact but do not join: a batch header that disagrees with its
    /// events, a digest that does not follow the previous one.
    ChainBroken,
    /// A file or the directory could not be read (not proof of tampering; no proof of its
    /// absence either).
    Unreadable,
}

/// What the finding is about.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Subject {
    /// One event (a record of a log file, or an event of a batch).
    Event,
    /// A whole log file.
    LogFile,
    /// A digest file (or its signature).
    Digest,
}

/// The first bad place. `file`/`record` locate it in an export (`record` is the record's
/// index in the file's `Records`, or the count of records when the finding is at the end of
/// the file); `batch`/`index` locate it among batches; `event_id` is the record's
/// `eventID`, when there is a record to name.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Finding {
    pub what: Tamper,
    pub subject: Subject,
    pub file: Option<String>,
    pub record: Option<usize>,
    pub batch: Option<u64>,
    pub index: Option<u32>,
    pub event_id: Option<String>,
    pub detail: String,
}

impl Finding {
    /// A finding about a whole file (`subject` LogFile or Digest).
    pub(crate) fn file(what: Tamper, subject: Subject, file: Option<&str>, detail: String) -> Self {
        Finding {
            what,
            subject,
            file: file.map(str::to_owned),
            record: None,
            batch: None,
            index: None,
            event_id: None,
            detail,
        }
    }
}

impl fmt::Display for Finding {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{:?} {:?}", self.what, self.subject)?;
        if let Some(file) = &self.file {
            write!(f, " in {file}")?;
        }
        if let Some(record) = self.record {
            write!(f, " at record {record}")?;
        }
        if let Some(batch) = self.batch {
            write!(f, " in batch {batch}")?;
        }
        if let Some(index) = self.index {
            write!(f, " at index {index}")?;
        }
        if let Some(id) = &self.event_id {
            write!(f, " (eventID {id})")?;
        }
        write!(f, ": {}", self.detail)
    }
}

impl std::error::Error for Finding {}
