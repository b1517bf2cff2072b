//! Tests of trentd's configuration (`config.rs`): precedence, defaults and the errors that
//! name each setting.

use super::*;

fn flags() -> Flags {
    Flags {
        node_id: Some(1),
        data_dir: Some("/tmp/x".into()),
        domain_key_file: Some("/tmp/x/domain-key".into()),
        plain_http: true,
        peer_plain: true,
        ..Flags::default()
    }
}

#[test]
fn defaults_fill_what_is_not_given() {
    let c = ServerConfig::resolve(flags()).unwrap();
    assert_eq!(c.cluster.cluster_name, "trent");
    assert_eq!(c.cluster.peer_advertise, "127.0.0.1:7701");
    assert_eq!(c.api_listen.to_string(), "127.0.0.1:7700");
}

#[test]
fn errors_name_the_setting() {
    for (f, says) in [
        (
            Flags {
                node_id: None,
                ..flags()
            },
            "node_id",
        ),
        (
            Flags {
                initial_cluster: Some("1=a".into()),
                ..flags()
            },
            "initial_cluster",
        ),
        (
            Flags {
                initial_cluster: Some("2=127.0.0.1:7701".into()),
                ..flags()
            },
            "not in the member set",
        ),
        (
            Flags {
                initial_cluster: Some("1=127.0.0.9:7701".into()),
                ..flags()
            },
            "advertises",
        ),
        (
            Flags {
                plain_http: false,
                ..flags()
            },
            "tls_cert_file: required",
        ),
        (
            Flags {
                tls_key_file: Some("/k.pem".into()),
                plain_http: false,
                ..flags()
            },
            "tls_cert_file: required with",
        ),
        (
            Flags {
                peer_plain: false,
                ..flags()
            },
            "peer_tls_ca_file: required (with",
        ),
        (
            Flags {
                peer_tls_ca_file: Some("/ca.pem".into()),
                peer_tls_key_file: Some("/k.pem".into()),
                peer_plain: false,
                ..flags()
            },
            "peer_tls_cert_file: required with",
        ),
        (
            Flags {
                peer_tls_ca_file: Some("/ca.pem".into()),
                ..flags()
            },
            "peer_plain: set together",
        ),
        (
            Flags {
                peer_tls_ca_file: Some("/nonexistent/ca.pem".into()),
                peer_tls_cert_file: Some("/nonexistent/cert.pem".into()),
                peer_tls_key_file: Some("/nonexistent/key.pem".into()),
                peer_plain: false,
                ..flags()
            },
            "peer_tls_ca_file /nonexistent/ca.pem",
        ),
        (
            Flags {
                log_format: Some("xml".into()),
                ..flags()
            },
            "log_format",
        ),
        (
            Flags {
                domain_key_file: None,
                ..flags()
            },
            "domain_key_file",
        ),
        (
            Flags {
                region: Some("EU West".into()),
                ..flags()
            },
            "region",
        ),
        (
            Flags {
                root_account: Some("12".into()),
                ..flags()
            },
            "root_account",
        ),
    ] {
        let err = ServerConfig::resolve(f).unwrap_err();
        assert!(err.contains(says), "{says}: {err}");
    }
}

#[test]
fn file_settings_apply_and_unknown_keys_are_refused() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("trent.toml");
    std::fs::write(
        &path,
        "node_id = 3\ncluster_name = \"c\"\n[raft]\nlogs_to_keep = 7\n[limits]\naliases_per_key = 2\n",
    )
    .unwrap();
    let c = ServerConfig::resolve(Flags {
        config: Some(path.clone()),
        domain_key_file: Some("/k".into()),
        plain_http: true,
        peer_plain: true,
        ..Flags::default()
    })
    .unwrap();
    assert_eq!(
        (
            c.cluster.node_id,
            c.cluster.cluster_name.as_str(),
            c.cluster.raft.logs_to_keep
        ),
        (3, "c", 7)
    );
    assert_eq!(c.kms.limits.aliases_per_key, 2);
    assert_eq!(
        c.kms.hsm,
        HsmChoice::Soft(DomainKeySource::File("/k".into()))
    );
    std::fs::write(&path, "node_id = 3\nnode_idd = 4\n").unwrap();
    let err = ServerConfig::resolve(Flags {
        config: Some(path),
        ..Flags::default()
    })
    .unwrap_err();
    assert!(err.contains("node_idd"), "{err}");
}
