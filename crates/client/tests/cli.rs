//! The `trent` CLI as a user meets it: its help names the command groups, and a node that
//! does not answer is a clear error, not a panic. (This test also makes `cargo test
//! --workspace` build the `trent` binary, which the container image tests package.)

use std::process::Command;

fn trent(args: &[&str]) -> (i32, String) {
    let out = Command::new(env!("CARGO_BIN_EXE_trent"))
        .args(args)
        .env("AWS_ACCESS_KEY_ID", "TKIAEXAMPLE000000001")
        .env("AWS_SECRET_ACCESS_KEY", "not-a-real-secret")
        .env("AWS_DEFAULT_REGION", "us-east-1")
        .env_remove("AWS_PROFILE")
        .env_remove("TRENT_ENDPOINT")
        .output()
        .unwrap();
    let text = format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    (out.status.code().unwrap_or(-1), text)
}

#[test]
fn help_names_the_command_groups() {
    let (code, text) = trent(&["--help"]);
    assert_eq!(code, 0, "{text}");
    for group in ["kms", "admin", "bench"] {
        assert!(text.contains(group), "{group}: {text}");
    }
}

#[test]
fn an_unreachable_node_is_a_clear_error() {
    // Port 9 (discard) on loopback: nothing listens there.
    let (code, text) = trent(&[
        "--endpoint",
        "http://127.0.0.1:9",
        "admin",
        "cluster",
        "status",
    ]);
    assert_eq!(code, 1, "{text}");
    assert!(text.starts_with("trent: "), "{text}");
    assert!(!text.contains("panicked"), "{text}");
}
