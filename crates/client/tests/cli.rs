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

/// `trent audit verify` on a real export (trent-audit's, signed with an RSA key made here):
/// the whole trail verifies without credentials or a cluster; a deleted log file and another
/// signing key are each named, with a non-zero exit.
#[test]
fn audit_verify_checks_an_exported_directory() {
    use aws_lc_rs::encoding::AsDer;
    use aws_lc_rs::rsa::KeySize;
    use aws_lc_rs::signature::{KeyPair, RsaKeyPair, RSA_PKCS1_SHA256};
    use trent_audit::{Batch, Call, DigestSigner, Event, IdentityType, SignError, UserIdentity};

    struct Signer(RsaKeyPair);
    impl DigestSigner for Signer {
        fn sign(&self, bytes: &[u8]) -> Result<Vec<u8>, SignError> {
            let mut sig = vec![0; self.0.public_modulus_len()];
            let rng = aws_lc_rs::rand::SystemRandom::new();
            let signed = self.0.sign(&RSA_PKCS1_SHA256, &rng, bytes, &mut sig);
            signed.map_err(|e| SignError(e.to_string()))?;
            Ok(sig)
        }
        fn public_key_der(&self) -> Vec<u8> {
            self.0.public_key().as_der().unwrap().as_ref().to_vec()
        }
        fn algorithm(&self) -> &str {
            trent_audit::SHA256_WITH_RSA
        }
    }
    let t0 = time::OffsetDateTime::from_unix_timestamp(1_750_000_000).unwrap();
    let event = |n: u64| {
        Event::kms(Call {
            identity: UserIdentity {
                kind: IdentityType::Root,
                principal_id: Some("111122223333".into()),
                arn: Some("arn:aws:iam::111122223333:root".into()),
                account_id: Some("111122223333".into()),
                access_key_id: None,
                user_name: None,
            },
            time: t0 + time::Duration::seconds(n as i64),
            operation: "GenerateRandom".into(),
            region: "us-east-1".into(),
            source_ip: "192.0.2.1".into(),
            user_agent: "trent-test".into(),
            request_id: format!("00000000-0000-4000-8000-{n:012}"),
            event_id: format!("e0000000-0000-4000-8000-{n:012}"),
            read_only: true,
            recipient_account_id: "111122223333".into(),
        })
    };
    let first = Batch::seal(0, trent_audit::GENESIS, vec![event(1), event(2)]);
    let second = Batch::seal(1, first.hash(), vec![event(3)]);
    let trail = trent_audit::Trail {
        account: "111122223333".into(),
        region: "us-east-1".into(),
        bucket: "trent-audit".into(),
        name: "trent".into(),
    };
    let signer = Signer(RsaKeyPair::generate(KeySize::Rsa2048).unwrap());
    let dir = tempfile::tempdir().unwrap();
    let batches = [first, second];
    let end = t0 + time::Duration::seconds(60);
    trent_audit::export(dir.path(), &trail, &signer, None, &[&batches], t0, end).unwrap();
    let key = dir.path().join("audit-public-key.der");
    std::fs::write(&key, signer.public_key_der()).unwrap();
    let export = dir.path().join("export");
    std::fs::create_dir(&export).unwrap();
    for entry in std::fs::read_dir(dir.path()).unwrap() {
        let path = entry.unwrap().path();
        if path.to_str().unwrap().ends_with(".gz") || path.to_str().unwrap().ends_with(".sig") {
            std::fs::rename(&path, export.join(path.file_name().unwrap())).unwrap();
        }
    }
    let (export_arg, key_arg) = (export.to_str().unwrap(), key.to_str().unwrap());

    let (code, text) = trent(&["audit", "verify", export_arg, "--public-key", key_arg]);
    assert_eq!(code, 0, "{text}");
    let report: serde_json::Value = serde_json::from_str(&text).unwrap();
    assert_eq!(
        (report["Events"].as_u64(), report["LastBatchSeq"].as_u64()),
        (Some(3), Some(1))
    );

    // Another key signed nothing here.
    let other = Signer(RsaKeyPair::generate(KeySize::Rsa2048).unwrap());
    let other_key = dir.path().join("other.der");
    std::fs::write(&other_key, other.public_key_der()).unwrap();
    let (code, text) = trent(&[
        "audit",
        "verify",
        export_arg,
        "--public-key",
        other_key.to_str().unwrap(),
    ]);
    assert_ne!(code, 0, "{text}");
    assert!(text.contains("Digest"), "{text}");

    // A log file deleted.
    let log = std::fs::read_dir(&export)
        .unwrap()
        .map(|e| e.unwrap().path())
        .find(|p| {
            let name = p.file_name().unwrap().to_str().unwrap();
            name.contains("_CloudTrail_") && !name.contains("Digest")
        })
        .unwrap();
    std::fs::remove_file(&log).unwrap();
    let (code, text) = trent(&["audit", "verify", export_arg, "--public-key", key_arg]);
    assert_ne!(code, 0, "{text}");
    assert!(
        text.contains("Deleted") && text.contains("LogFile"),
        "{text}"
    );
}
