//! Records the history as it happens: every entry goes to `history.jsonl` at once (so a
//! crashed run still leaves its history) and stays in memory for the checkers.

use std::fs::File;
use std::io::{BufWriter, Write};
use std::path::Path;
use std::sync::Mutex;

use tokio::time::Instant;

use crate::history::{write_entry, Entry, Kind, Nanos, NemesisEvent, Op, OpEvent, Phase};

pub struct Recorder {
    start: Instant,
    inner: Mutex<Inner>,
}

struct Inner {
    out: BufWriter<File>,
    entries: Vec<Entry>,
    next_process: usize,
}

impl Recorder {
    pub fn create(path: &Path) -> std::io::Result<Recorder> {
        Ok(Recorder {
            start: Instant::now(),
            inner: Mutex::new(Inner {
                out: BufWriter::new(File::create(path)?),
                entries: vec![],
                next_process: 0,
            }),
        })
    }

    pub fn now(&self) -> Nanos {
        self.start.elapsed().as_nanos() as Nanos
    }

    /// A fresh client process id (a process that ended `Info` is retired).
    pub fn new_process(&self) -> usize {
        let mut inner = self.inner.lock().unwrap();
        inner.next_process += 1;
        inner.next_process - 1
    }

    pub fn invoke(&self, process: usize, op: &Op) {
        self.record(Entry::Op(OpEvent {
            time: self.now(),
            process,
            kind: Kind::Invoke,
            node: None,
            op: op.clone(),
            error: None,
            request_id: None,
        }));
    }

    pub fn complete(&self, process: usize, done: crate::workload::Done) {
        self.record(Entry::Op(OpEvent {
            time: self.now(),
            process,
            kind: done.kind,
            node: done.node,
            op: done.op,
            error: done.error,
            request_id: done.request_id,
        }));
    }

    pub fn nemesis(
        &self,
        fault: &str,
        phase: Phase,
        nodes: Vec<u64>,
        detail: String,
        majority_healthy: bool,
    ) {
        tracing::info!(fault, ?phase, ?nodes, %detail, "nemesis");
        self.record(Entry::Nemesis(NemesisEvent {
            time: self.now(),
            fault: fault.to_owned(),
            phase,
            nodes,
            detail,
            majority_healthy,
        }));
    }

    pub fn entries(&self) -> Vec<Entry> {
        let mut inner = self.inner.lock().unwrap();
        let _ = inner.out.flush();
        inner.entries.clone()
    }

    fn record(&self, entry: Entry) {
        let mut inner = self.inner.lock().unwrap();
        // The in-memory copy is what the checkers read; a failed write to disk is reported
        // once the run ends (flush), not allowed to stop the run.
        let _ = write_entry(&mut inner.out, &entry);
        inner.entries.push(entry);
    }
}
