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

/// The subcommands a `--help` text lists, each with its description (empty if it has none).
fn subcommands(help: &str) -> Vec<(String, String)> {
    let Some((_, listed)) = help.split_once("Commands:\n") else {
        return vec![];
    };
    listed
        .lines()
        .take_while(|line| !line.trim().is_empty())
        .filter(|line| line.starts_with("  ") && !line.starts_with("    "))
        .map(|line| {
            let line = line.trim();
            let (name, description) = line.split_once(' ').unwrap_or((line, ""));
            (name.to_owned(), description.trim().to_owned())
        })
        .collect()
}

#[test]
fn every_subcommand_has_a_description() {
    let mut undescribed = vec![];
    let mut seen = 0;
    let mut queue: Vec<Vec<String>> = vec![vec![]];
    while let Some(path) = queue.pop() {
        let mut args: Vec<&str> = path.iter().map(String::as_str).collect();
        args.push("--help");
        let (code, text) = trent(&args);
        assert_eq!(code, 0, "{args:?}: {text}");
        for (name, description) in subcommands(&text) {
            if name == "help" {
                continue;
            }
            seen += 1;
            let mut sub = path.clone();
            sub.push(name.clone());
            if description.is_empty() {
                undescribed.push(sub.join(" "));
            }
            queue.push(sub);
        }
    }
    assert!(seen >= 30, "only {seen} subcommands found");
    assert!(undescribed.is_empty(), "no help text: {undescribed:?}");
}

#[test]
fn a_policy_document_file_that_cannot_be_read_is_a_clear_error() {
    let (code, text) = trent(&[
        "--endpoint",
        "http://127.0.0.1:9",
        "admin",
        "put-user-policy",
        "--user-name",
        "alice",
        "--policy-name",
        "p",
        "--policy-document",
        "file:///nonexistent/policy.json",
    ]);
    assert_eq!(code, 1, "{text}");
    assert!(
        text.starts_with("trent: /nonexistent/policy.json: "),
        "{text}"
    );
    let (code, text) = trent(&["admin", "--help"]);
    assert_eq!(code, 0, "{text}");
    for command in [
        "put-user-policy",
        "get-user-policy",
        "delete-user-policy",
        "list-user-policies",
        "make-admin",
    ] {
        assert!(text.contains(command), "{command}: {text}");
    }
}
