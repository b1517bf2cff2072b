//! The harness run end to end as users run it: the `trent-jepsen` binary, real `trentd`
//! processes in network namespaces, real faults. Needs root (CI runs as root).

mod broken_barrier;
mod late_duplicates;
mod power_loss;
mod smoke;
mod teardown;

use std::path::Path;
use std::process::Command;
use std::sync::{Mutex, MutexGuard};

use serde_json::Value;

/// One harness run at a time in this test binary: runs share the machine's namespaces (the
/// harness itself serializes runs with a lock file, but the teardown test must see its own).
pub fn serial() -> MutexGuard<'static, ()> {
    static ONE_AT_A_TIME: Mutex<()> = Mutex::new(());
    ONE_AT_A_TIME.lock().unwrap_or_else(|e| e.into_inner())
}

/// A finished run: its directory (kept while this lives) and the harness's exit code.
pub struct Run {
    _dir: tempfile::TempDir,
    pub out: std::path::PathBuf,
    pub code: i32,
}

/// One three-node run in a fresh directory, one at a time in this binary; availability is
/// reported, not required (timing never gates a test).
pub fn run_three_nodes(args: &[&str]) -> Run {
    let _one_at_a_time = serial();
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("run");
    let mut all = vec!["--nodes", "3", "--availability-goal", "0"];
    all.extend_from_slice(args);
    let code = run_harness(&out, &all);
    Run {
        _dir: dir,
        out,
        code,
    }
}

/// Runs `trent-jepsen test` with `args` into `out`; answers its exit code.
pub fn run_harness(out: &Path, args: &[&str]) -> i32 {
    let status = Command::new(env!("CARGO_BIN_EXE_trent-jepsen"))
        .arg("test")
        .arg("--out")
        .arg(out)
        .args(args)
        .status()
        .expect("trent-jepsen runs");
    status.code().unwrap_or(-1)
}

/// The verdicts a run wrote, by checker name.
pub fn verdicts(out: &Path) -> Vec<(String, String)> {
    let text = std::fs::read_to_string(out.join("verdicts.json")).expect("verdicts.json");
    let verdicts: Vec<Value> = serde_json::from_str(&text).expect("verdicts are JSON");
    verdicts
        .iter()
        .map(|v| {
            (
                v["checker"].as_str().unwrap().to_owned(),
                v["validity"].as_str().unwrap().to_owned(),
            )
        })
        .collect()
}

/// The history's lines of one type ("op" or "nemesis").
pub fn history_lines(out: &Path, kind: &str) -> Vec<Value> {
    let text = std::fs::read_to_string(out.join("history.jsonl")).expect("history.jsonl");
    text.lines()
        .map(|l| serde_json::from_str::<Value>(l).unwrap())
        .filter(|v| v["type"] == kind)
        .collect()
}

/// Asserts that every checker in `names` gave a verdict, and a valid one.
pub fn assert_valid(verdicts: &[(String, String)], names: &[&str]) {
    for name in names {
        assert!(
            verdicts
                .iter()
                .any(|(checker, validity)| checker == name && validity == "valid"),
            "{name} missing or not valid: {verdicts:?}"
        );
    }
}

/// Asserts that each fault in `faults` started at least once in the run's history.
pub fn assert_faults_started(out: &Path, faults: &[&str]) {
    let events = history_lines(out, "nemesis");
    for fault in faults {
        assert!(
            events
                .iter()
                .any(|f| f["fault"] == *fault && f["phase"] == "start"),
            "no {fault} started: {events:?}"
        );
    }
}
