//! Nothing is left behind: a run stopped by SIGTERM tears its hosts down itself; after a
//! `kill -9` of the harness its nodes die with it and `trent-jepsen clean` removes the rest.

use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

/// Our namespaces, bridge and veths, as `ip` lists them.
fn leftovers() -> Vec<String> {
    let netns = Command::new("ip").args(["netns", "list"]).output().unwrap();
    let links = Command::new("ip")
        .args(["-o", "link", "show"])
        .output()
        .unwrap();
    let mut found: Vec<String> = String::from_utf8_lossy(&netns.stdout)
        .lines()
        .filter_map(|l| l.split_whitespace().next())
        .filter(|ns| ns.starts_with("tj"))
        .map(str::to_owned)
        .collect();
    found.extend(
        String::from_utf8_lossy(&links.stdout)
            .lines()
            .filter_map(|l| l.split(": ").nth(1))
            .filter(|name| name.starts_with("tj"))
            .map(str::to_owned),
    );
    found
}

fn wait_until(what: &str, timeout: Duration, mut done: impl FnMut() -> bool) {
    let deadline = Instant::now() + timeout;
    while !done() {
        assert!(Instant::now() < deadline, "timed out waiting for {what}");
        std::thread::sleep(Duration::from_millis(100));
    }
}

/// Starts a long run and waits until its nodes are up in their namespaces.
fn start_run(out: &std::path::Path) -> Child {
    let child = Command::new(env!("CARGO_BIN_EXE_trent-jepsen"))
        .args([
            "test",
            "--nodes",
            "3",
            "--nemesis",
            "pause",
            "--time-limit",
            "300",
        ])
        .arg("--out")
        .arg(out)
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    wait_until("the run's hosts", Duration::from_secs(60), || {
        leftovers().iter().any(|l| l == "tj3")
            && std::fs::read_to_string(out.join("n3/trentd.log")).is_ok()
    });
    child
}

fn exit_within(child: &mut Child, timeout: Duration) {
    wait_until("the harness to exit", timeout, || {
        child.try_wait().unwrap().is_some()
    });
}

#[test]
fn a_stopped_or_killed_run_leaves_nothing_behind() {
    let _one_at_a_time = crate::serial();
    let dir = tempfile::tempdir().unwrap();

    let mut run = start_run(&dir.path().join("term"));
    // SAFETY: kill(2) on our own child.
    unsafe { libc::kill(run.id() as i32, libc::SIGTERM) };
    exit_within(&mut run, Duration::from_secs(60));
    assert_eq!(
        leftovers(),
        Vec::<String>::new(),
        "SIGTERM left these behind"
    );

    let mut run = start_run(&dir.path().join("kill"));
    run.kill().unwrap();
    run.wait().unwrap();
    let clean = Command::new(env!("CARGO_BIN_EXE_trent-jepsen"))
        .arg("clean")
        .status()
        .unwrap();
    assert!(clean.success());
    assert_eq!(leftovers(), Vec::<String>::new(), "clean left these behind");
    let trentd = Command::new("pgrep")
        .args(["-f", &dir.path().to_string_lossy()])
        .output()
        .unwrap();
    assert!(
        trentd.stdout.is_empty(),
        "trentd processes outlived the harness: {}",
        String::from_utf8_lossy(&trentd.stdout)
    );
}
