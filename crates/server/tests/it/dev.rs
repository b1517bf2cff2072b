//! `trentd dev` generates a domain key and root credentials once, prints the credentials,
//! and keeps both across restarts; `trentd run` refuses a missing or malformed domain key by
//! name.

use std::io::{BufRead, BufReader};
use std::os::unix::fs::PermissionsExt;
use std::process::{Child, Command, Stdio};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use crate::harness::*;

/// A running `trentd dev` whose stderr is collected as it comes.
struct Dev {
    child: Child,
    stderr: Arc<Mutex<String>>,
}

impl Dev {
    fn start(data_dir: &std::path::Path) -> Dev {
        let mut child = Command::new(env!("CARGO_BIN_EXE_trentd"))
            .arg("dev")
            .args(["--data-dir", data_dir.to_str().unwrap()])
            .args(["--api-listen", "127.55.0.1:7700"])
            .env_remove("TRENT_DOMAIN_KEY")
            .stdout(Stdio::null())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap();
        let stderr = Arc::new(Mutex::new(String::new()));
        let pipe = child.stderr.take().unwrap();
        let sink = stderr.clone();
        std::thread::spawn(move || {
            for line in BufReader::new(pipe).lines().map_while(Result::ok) {
                let mut s = sink.lock().unwrap();
                s.push_str(&line);
                s.push('\n');
            }
        });
        Dev { child, stderr }
    }

    /// The `export NAME=value` the banner printed.
    async fn printed(&self, name: &str) -> String {
        let prefix = format!("export {name}=");
        wait_for(name, Duration::from_secs(30), || {
            let text = self.stderr.lock().unwrap().clone();
            let found = text
                .lines()
                .find_map(|l| l.trim().strip_prefix(&prefix).map(str::to_owned));
            async move { found }
        })
        .await
    }

    /// SIGTERM, and waits for a clean exit.
    async fn stop(mut self) {
        let pid = self.child.id().to_string();
        Command::new("kill").args(["-TERM", &pid]).status().unwrap();
        let status = wait_for("trentd dev to exit", Duration::from_secs(30), || {
            let status = self.child.try_wait().unwrap();
            async move { status }
        })
        .await;
        assert!(status.success(), "{status:?}");
    }
}

impl Drop for Dev {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn dev_mode_prints_root_credentials_and_keeps_them_across_restarts() {
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("dev");
    let dev = Dev::start(&data);
    let id = dev.printed("AWS_ACCESS_KEY_ID").await;
    let secret = dev.printed("AWS_SECRET_ACCESS_KEY").await;
    assert_eq!((id.len(), secret.len()), (20, 40), "{id} {secret}");
    assert_eq!(dev.printed("AWS_DEFAULT_REGION").await, "us-east-1");
    for file in ["dev-domain-key", "dev-credentials"] {
        let mode = std::fs::metadata(data.join(file))
            .unwrap()
            .permissions()
            .mode();
        assert_eq!(mode & 0o077, 0, "{file} is readable by others: {mode:o}");
    }
    dev.stop().await;

    let again = Dev::start(&data);
    assert_eq!(again.printed("AWS_ACCESS_KEY_ID").await, id);
    assert_eq!(again.printed("AWS_SECRET_ACCESS_KEY").await, secret);
    again.stop().await;
}

/// Runs `trentd run` for a one-node cluster with `env` set; returns its exit code and stderr.
async fn run_with_env(data: &std::path::Path, env: &[(&str, &str)]) -> (i32, String) {
    let mut command = Command::new(env!("CARGO_BIN_EXE_trentd"));
    command
        .args([
            "run",
            "--node-id",
            "1",
            "--data-dir",
            data.to_str().unwrap(),
        ])
        .args([
            "--api-listen",
            "127.56.0.1:7700",
            "--peer-listen",
            "127.56.0.1:7701",
        ])
        .args(["--initial-cluster", "1=127.56.0.1:7701", "--plain-http"])
        .arg("--peer-plain")
        .env_remove("TRENT_DOMAIN_KEY")
        .env_remove("TRENT_DOMAIN_KEY_FILE")
        .envs(env.iter().copied());
    exit_of(command).await
}

#[tokio::test(flavor = "multi_thread")]
async fn missing_or_malformed_domain_keys_and_half_root_credentials_are_refused() {
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("n1");
    let key_file = dir.path().join("domain-key");
    std::fs::write(&key_file, "abc\n").unwrap();
    std::fs::set_permissions(
        &key_file,
        std::os::unix::fs::PermissionsExt::from_mode(0o600),
    )
    .unwrap();
    let key_file = key_file.to_str().unwrap();
    for (env, says) in [
        (vec![], "domain_key_file: required"),
        (vec![("TRENT_DOMAIN_KEY", "00zz")], "TRENT_DOMAIN_KEY"),
        (vec![("TRENT_DOMAIN_KEY_FILE", key_file)], "64 hex digits"),
        (
            vec![
                ("TRENT_DOMAIN_KEY", DOMAIN_KEY),
                ("TRENT_ROOT_ACCESS_KEY_ID", "TKIAAAAAAAAAAAAAAAAA"),
            ],
            "set both or neither",
        ),
    ] {
        let (code, stderr) = run_with_env(&data, &env).await;
        assert_eq!(code, 2, "{env:?}: {stderr}");
        assert!(stderr.contains(says), "expected {says:?} in: {stderr}");
        assert!(
            !stderr.contains("00zz"),
            "the key itself must not be echoed"
        );
    }
}
