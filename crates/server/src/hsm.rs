//! `trentd hsm init`: the key ceremony of a PKCS#11 token (docs/OPERATIONS.md, "PKCS#11
//! HSM"). It creates the domain key and the audit signing key in the token, either generated
//! inside it (one token, or hardware tokens the vendor's cloning copies) or as the XOR of key
//! components that custodians bring, so that every node's token holds the same key while no
//! one person knows it.
//!
//! Guarantees: it never overwrites a key (a label that exists is refused: it may wrap every
//! key of a cluster); it prints only check values (the whole key's, to compare across nodes,
//! and each component's, for its custodian), never a key or a component; component files
//! pass the domain key file's permission checks.

use std::path::PathBuf;
use std::process::ExitCode;

use clap::{Args, Subcommand};
use trent_hsm::Pkcs11Hsm;

use crate::hsm_config::{Pkcs11Flags, Pkcs11Settings};
use crate::kms::hex_prefix;

#[derive(Subcommand)]
pub enum HsmCmd {
    /// Creates the domain key and the audit signing key in a PKCS#11 token: generated inside
    /// it, or, with --component-file (once per custodian), the XOR of the components, so that
    /// every node's token gets the same key. Prints the key check value to compare across
    /// nodes. Refuses a token that already holds a key with the label.
    Init(InitArgs),
}

#[derive(Args)]
pub struct InitArgs {
    /// TOML configuration file whose [pkcs11] table names the token (flags win).
    #[arg(long, env = "TRENT_CONFIG")]
    config: Option<PathBuf>,
    #[command(flatten)]
    pkcs11: Pkcs11Flags,
    /// A key component: a file of 64 hex digits (e.g. `openssl rand -hex 32`), mode 0600.
    /// Give one per custodian; the domain key is their XOR. Without any, the key is
    /// generated inside the token.
    #[arg(long = "component-file")]
    components: Vec<PathBuf>,
    /// Accept a single component: its custodian then knows the whole domain key (split
    /// knowledge needs two or more).
    #[arg(long)]
    single_custodian: bool,
}

pub fn run(command: HsmCmd) -> ExitCode {
    let HsmCmd::Init(args) = command;
    match init(args) {
        Ok(report) => {
            println!("{report}");
            ExitCode::SUCCESS
        }
        Err(e) => {
            eprintln!("trentd hsm init: {e}");
            ExitCode::from(2)
        }
    }
}

fn init(args: InitArgs) -> Result<String, String> {
    let table = match &args.config {
        Some(path) => crate::config::pkcs11_table(path)?,
        None => None,
    };
    if args.components.len() == 1 && !args.single_custodian {
        return Err(
            "component_file: one component gives its custodian the whole domain key; give two \
             or more (one per custodian), or --single-custodian to accept that"
                .into(),
        );
    }
    let settings = Pkcs11Settings::resolve(args.pkcs11, table)?;
    let config = settings.open_config()?;
    let report = match args.components.is_empty() {
        true => Pkcs11Hsm::init(&config),
        false => Pkcs11Hsm::init_from_component_files(&config, &args.components),
    }
    .map_err(|e| e.to_string())?;
    let mut out = format!(
        "created the domain key {:?} and its audit signing key in token {:?}\nkey check value: {}",
        settings.key_label,
        settings.token_label,
        hex_prefix(&report.key_check_value)
    );
    for (path, kcv) in args.components.iter().zip(&report.component_check_values) {
        out.push_str(&format!(
            "\ncomponent {}: check value {}",
            path.display(),
            hex_prefix(kcv)
        ));
    }
    out.push_str(&format!(
        "\naudit signing key (publish it for `trent audit verify --public-key`):\n{}",
        trent_audit::public_key_pem(&report.audit_public_key).trim_end()
    ));
    Ok(out)
}
