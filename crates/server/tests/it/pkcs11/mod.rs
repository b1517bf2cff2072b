//! trentd with its keys in PKCS#11 tokens (issue 26): SoftHSM2 tokens, one per node, each in
//! a token directory of its own as each host would have its own device, given one domain key
//! by the key ceremony (`trentd hsm init --component-file`, two custodians' components).
//! `clients.rs`: every client through a 3-node cluster; `loss.rs`: a token taken away and
//! brought back; `spy.rs`: every PKCS#11 call trentd makes, logged by OpenSC's pkcs11-spy.

mod clients;
mod loss;
mod migration;
mod spy;

use std::path::{Path, PathBuf};
use std::process::Command;

use crate::harness::*;

pub const MODULE: &str = "/usr/lib/softhsm/libsofthsm2.so";
pub const PIN: &str = "4321";
pub const COMPONENTS: [&str; 2] = [
    "6a0f3c9e1b2d4f5a6c7e8091a2b3c4d5e6f708192a3b4c5d6e7f8091a2b3c4d5",
    "13579bdf02468ace13579bdf02468ace13579bdf02468ace13579bdf02468ace",
];

/// One node's token: its SoftHSM2 configuration (token directory of its own) and label.
pub struct Token {
    pub conf: PathBuf,
    pub label: String,
    /// The token directory (taken away to simulate a pulled device).
    pub dir: PathBuf,
}

impl Token {
    /// A fresh, empty token (softhsm2-util --init-token), not yet holding any key.
    pub fn new(dir: &Path, name: &str) -> Token {
        assert!(
            Path::new(MODULE).exists(),
            "{MODULE} is missing: scripts/test installs softhsm2"
        );
        let tokens = dir.join(format!("{name}-tokens"));
        std::fs::create_dir_all(&tokens).unwrap();
        let conf = dir.join(format!("{name}-softhsm2.conf"));
        std::fs::write(
            &conf,
            format!(
                "directories.tokendir = {}\nobjectstore.backend = file\nlog.level = ERROR\n",
                tokens.display()
            ),
        )
        .unwrap();
        let output = Command::new("softhsm2-util")
            .env("SOFTHSM2_CONF", &conf)
            .args(["--init-token", "--free", "--label", name])
            .args(["--pin", PIN, "--so-pin", "87654321"])
            .output()
            .unwrap();
        assert!(output.status.success(), "softhsm2-util: {output:?}");
        Token {
            conf,
            label: name.into(),
            dir: tokens,
        }
    }

    /// `trentd hsm init` with the given component files; its success and output.
    pub async fn init(&self, pin: &Path, components: &[PathBuf]) -> (bool, String) {
        let mut command = Command::new(env!("CARGO_BIN_EXE_trentd"));
        command
            .args(["hsm", "init", "--pkcs11-module", MODULE])
            .args(["--pkcs11-token-label", &self.label])
            .arg("--pkcs11-pin-file")
            .arg(pin)
            .env("SOFTHSM2_CONF", &self.conf);
        for component in components {
            command.arg("--component-file").arg(component);
        }
        output_of(command).await
    }

    /// Points `node` at this token instead of a domain key.
    pub fn serve(&self, node: &mut TestNode, pin: &Path) {
        node.extra_args = vec![
            "--hsm".into(),
            "pkcs11".into(),
            "--pkcs11-module".into(),
            MODULE.into(),
            "--pkcs11-token-label".into(),
            self.label.clone(),
            "--pkcs11-pin-file".into(),
            pin.display().to_string(),
        ];
        node.extra_env = vec![("SOFTHSM2_CONF".into(), self.conf.display().to_string())];
        node.env_remove = vec!["TRENT_DOMAIN_KEY"];
    }
}

/// A secret file (mode 0600) holding `text`.
pub fn secret_file(dir: &Path, name: &str, text: &str) -> PathBuf {
    use std::os::unix::fs::PermissionsExt;
    let path = dir.join(name);
    std::fs::write(&path, text).unwrap();
    std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o600)).unwrap();
    path
}

/// The key check value `trentd hsm init` printed.
pub fn check_value(output: &str) -> String {
    output
        .lines()
        .find_map(|l| l.strip_prefix("key check value: "))
        .unwrap_or_else(|| panic!("no key check value in: {output}"))
        .trim()
        .to_owned()
}

/// The ceremony's files and tokens: the PIN file, the two components, and `n` tokens, each
/// initialized from the components (their key check values asserted equal).
pub struct Ceremony {
    pub dir: tempfile::TempDir,
    pub pin: PathBuf,
    pub components: Vec<PathBuf>,
    pub tokens: Vec<Token>,
}

impl Ceremony {
    pub async fn run(n: u64) -> Ceremony {
        let dir = tempfile::tempdir().unwrap();
        let pin = secret_file(dir.path(), "pin", PIN);
        let components: Vec<PathBuf> = COMPONENTS
            .iter()
            .enumerate()
            .map(|(i, hex)| secret_file(dir.path(), &format!("component-{i}"), hex))
            .collect();
        let tokens: Vec<Token> = (1..=n)
            .map(|id| Token::new(dir.path(), &format!("trent-{id}")))
            .collect();
        let mut values = vec![];
        for token in &tokens {
            let (ok, output) = token.init(&pin, &components).await;
            assert!(ok, "trentd hsm init: {output}");
            assert!(output.contains("component"), "{output}");
            values.push(check_value(&output));
        }
        assert!(values.iter().all(|v| *v == values[0]), "{values:?}");
        Ceremony {
            dir,
            pin,
            components,
            tokens,
        }
    }

    /// A cluster of one node per token on `subnet`.
    pub fn cluster(&self, subnet: u8) -> TestCluster {
        self.cluster_with(subnet, &[])
    }

    /// [`Ceremony::cluster`] with `args` added to every node's.
    pub fn cluster_with(&self, subnet: u8, args: &[&str]) -> TestCluster {
        TestCluster::start_with(subnet, self.tokens.len() as u64, |node| {
            self.tokens[node.id as usize - 1].serve(node, &self.pin);
            node.extra_args.extend(args.iter().map(|a| a.to_string()));
        })
    }
}
