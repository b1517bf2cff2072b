//! Which HSM backend holds the domain key (issue 26): the soft backend, with the key in a file
//! or `TRENT_DOMAIN_KEY`, or a PKCS#11 token, where the key never leaves the device. Flags,
//! `TRENT_HSM` / `TRENT_PKCS11_*` variables and the configuration file's `hsm` key and
//! `[pkcs11]` table: flags win over variables, and both over the file.
//!
//! Guarantees: a PKCS#11 configuration names its module, token and PIN file, or is refused
//! naming the missing setting; a domain key given beside `hsm = "pkcs11"` is refused, since a
//! node of a token-backed cluster must not hold the key in a file as well; the PIN is read
//! from a file (mounted Secret) with the domain key file's permission checks, never from a
//! flag or the environment, which leak, and an empty one is refused naming the file; PKCS#11
//! settings given to a soft-backend node are refused, since the operator meant a token.

use std::path::PathBuf;

use clap::Args;
use serde::Deserialize;
use trent_hsm::{DomainKeySource, Pkcs11Config};

/// The domain key's label in the token when none is configured.
pub const DEFAULT_KEY_LABEL: &str = "trent-domain-key";

/// Flags and environment variables choosing and reaching the HSM (flags win).
#[derive(Args, Debug, Default, Clone)]
pub struct HsmFlags {
    /// The HSM backend: `soft` (the domain key from --domain-key-file or TRENT_DOMAIN_KEY) or
    /// `pkcs11` (the domain key inside a PKCS#11 token) [default: soft].
    #[arg(long = "hsm", env = "TRENT_HSM")]
    pub backend: Option<String>,
    /// How often the node checks that its HSM answers, in ms; a failed check turns it unready
    /// (a network HSM whose calls are costly may want it rarer) [default: 1000].
    #[arg(long, env = "TRENT_HSM_CHECK_INTERVAL_MS")]
    pub hsm_check_interval_ms: Option<u64>,
    #[command(flatten)]
    pub pkcs11: Pkcs11Flags,
}

/// Where the PKCS#11 token and its domain key are.
#[derive(Args, Debug, Default, Clone)]
pub struct Pkcs11Flags {
    /// The token's PKCS#11 module (shared library), e.g. /usr/lib/softhsm/libsofthsm2.so.
    #[arg(long, env = "TRENT_PKCS11_MODULE")]
    pub pkcs11_module: Option<PathBuf>,
    /// The token's label.
    #[arg(long, env = "TRENT_PKCS11_TOKEN_LABEL")]
    pub pkcs11_token_label: Option<String>,
    /// File holding the token's user PIN (a mounted Secret; same permission rule as the
    /// domain key file).
    #[arg(long, env = "TRENT_PKCS11_PIN_FILE")]
    pub pkcs11_pin_file: Option<PathBuf>,
    /// The domain key's label in the token [default: trent-domain-key].
    #[arg(long, env = "TRENT_PKCS11_KEY_LABEL")]
    pub pkcs11_key_label: Option<String>,
    /// During a migration from the soft backend: the cluster's old domain key file. The node
    /// reads what either key wrapped and writes under the one the cluster records, until
    /// `trent admin cluster switch-domain-key` and the rewrap are done (docs/OPERATIONS.md).
    #[arg(long, env = "TRENT_MIGRATE_FROM_DOMAIN_KEY_FILE")]
    pub migrate_from_domain_key_file: Option<PathBuf>,
    /// Reopen the token after this many destroyed session objects, to free those the module
    /// keeps until it is finalized (0: never) [default: 1000000 on SoftHSM2, never on others].
    #[arg(long, env = "TRENT_PKCS11_REOPEN_AFTER_OBJECTS")]
    pub pkcs11_reopen_after_objects: Option<u64>,
}

/// The `[pkcs11]` table of the configuration file.
#[derive(Deserialize, Debug, Default, Clone)]
#[serde(deny_unknown_fields)]
pub struct Pkcs11File {
    module: Option<PathBuf>,
    token_label: Option<String>,
    pin_file: Option<PathBuf>,
    key_label: Option<String>,
    migrate_from_domain_key_file: Option<PathBuf>,
    reopen_after_objects: Option<u64>,
}

/// The resolved choice.
#[derive(Debug, Clone, PartialEq)]
pub enum HsmChoice {
    Soft(DomainKeySource),
    Pkcs11(Pkcs11Settings),
}

/// A PKCS#11 token's settings; the PIN is read only when the token is opened.
#[derive(Debug, Clone, PartialEq)]
pub struct Pkcs11Settings {
    pub module: PathBuf,
    pub token_label: String,
    pub pin_file: PathBuf,
    pub key_label: String,
    /// The soft backend's domain key file, while the cluster migrates from it.
    pub migrate_from: Option<PathBuf>,
    /// Destroyed session objects after which the token is reopened (`None`: the backend's
    /// default for the module, trent_hsm's `REOPEN_AFTER_OBJECTS` on SoftHSM2).
    pub reopen_after_objects: Option<u64>,
}

impl Pkcs11Settings {
    /// Resolves the PKCS#11 settings of flags over the file's table; every one but the key
    /// label is required.
    pub fn resolve(flags: Pkcs11Flags, file: Option<Pkcs11File>) -> Result<Pkcs11Settings, String> {
        let file = file.unwrap_or_default();
        Ok(Pkcs11Settings {
            module: required(
                flags.pkcs11_module.or(file.module),
                "pkcs11-module",
                "TRENT_PKCS11_MODULE",
                "pkcs11.module",
            )?,
            token_label: required(
                flags.pkcs11_token_label.or(file.token_label),
                "pkcs11-token-label",
                "TRENT_PKCS11_TOKEN_LABEL",
                "pkcs11.token_label",
            )?,
            pin_file: required(
                flags.pkcs11_pin_file.or(file.pin_file),
                "pkcs11-pin-file",
                "TRENT_PKCS11_PIN_FILE",
                "pkcs11.pin_file",
            )?,
            key_label: flags
                .pkcs11_key_label
                .or(file.key_label)
                .unwrap_or_else(|| DEFAULT_KEY_LABEL.into()),
            migrate_from: flags
                .migrate_from_domain_key_file
                .or(file.migrate_from_domain_key_file),
            reopen_after_objects: flags
                .pkcs11_reopen_after_objects
                .or(file.reopen_after_objects),
        })
    }

    /// The backend's configuration, with the PIN read from its file.
    pub fn open_config(&self) -> Result<Pkcs11Config, String> {
        let pin = trent_hsm::read_secret_file(&self.pin_file, "pkcs11.pin_file")?;
        let pin = zeroize::Zeroizing::new(pin.trim().to_owned());
        if pin.is_empty() {
            return Err(format!(
                "pkcs11.pin_file: {} holds no PIN",
                self.pin_file.display()
            ));
        }
        Ok(Pkcs11Config {
            module: self.module.clone(),
            token_label: self.token_label.clone(),
            pin,
            key_label: self.key_label.clone(),
        })
    }
}

/// `value`, or an error naming every way to give it.
fn required<T>(value: Option<T>, flag: &str, var: &str, key: &str) -> Result<T, String> {
    value.ok_or_else(|| {
        format!(
            "{key}: required with hsm = pkcs11 (--{flag}, {var} or {key} in the [pkcs11] table)"
        )
    })
}

impl HsmChoice {
    /// The backend named by flags over the file's `hsm` key; `domain_key` is the soft
    /// backend's key source as `run` found it (`None`: none was given).
    pub fn resolve(
        flags: HsmFlags,
        file_backend: Option<String>,
        file_pkcs11: Option<Pkcs11File>,
        domain_key: Option<DomainKeySource>,
    ) -> Result<HsmChoice, String> {
        let backend = flags.backend.or(file_backend);
        if backend.as_deref() != Some("pkcs11") {
            let p = &flags.pkcs11;
            let given = p.pkcs11_module.is_some()
                || p.pkcs11_token_label.is_some()
                || p.pkcs11_pin_file.is_some()
                || p.pkcs11_key_label.is_some()
                || p.migrate_from_domain_key_file.is_some()
                || p.pkcs11_reopen_after_objects.is_some()
                || file_pkcs11.is_some();
            if given {
                return Err(format!(
                    "hsm: PKCS#11 settings are given but the backend is {}; set hsm = pkcs11 \
                     (--hsm pkcs11, TRENT_HSM) or remove them",
                    backend.as_deref().unwrap_or("soft (the default)")
                ));
            }
        }
        match backend.as_deref() {
            None | Some("soft") => domain_key.map(HsmChoice::Soft).ok_or_else(|| format!(
                "domain_key_file: required (--domain-key-file, TRENT_DOMAIN_KEY_FILE, domain_key_file in the config file, or the key itself in {}), or hsm = pkcs11",
                crate::config::DOMAIN_KEY_ENV
            )),
            Some("pkcs11") => {
                if let Some(source) = domain_key {
                    return Err(format!(
                        "domain_key_file: {} is given with hsm = pkcs11, whose domain key is in the token; remove it (a token-backed node must not hold the key outside the token)",
                        match source {
                            DomainKeySource::Env(var) => var,
                            DomainKeySource::File(path) | DomainKeySource::Dev(path) =>
                                path.display().to_string(),
                        }
                    ));
                }
                Pkcs11Settings::resolve(flags.pkcs11, file_pkcs11).map(HsmChoice::Pkcs11)
            }
            Some(other) => Err(format!("hsm: '{other}' is neither soft nor pkcs11")),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn pkcs11_flags() -> HsmFlags {
        HsmFlags {
            backend: Some("pkcs11".into()),
            hsm_check_interval_ms: None,
            pkcs11: Pkcs11Flags {
                pkcs11_module: Some("/m.so".into()),
                pkcs11_token_label: Some("t".into()),
                pkcs11_pin_file: Some("/pin".into()),
                pkcs11_key_label: None,
                migrate_from_domain_key_file: None,
                pkcs11_reopen_after_objects: None,
            },
        }
    }

    #[test]
    fn pkcs11_takes_flags_over_the_file_and_defaults_the_key_label() {
        let file: Pkcs11File = toml::from_str(
            "module = \"/file.so\"\ntoken_label = \"ft\"\nkey_label = \"k\"\n\
             migrate_from_domain_key_file = \"/old.key\"\nreopen_after_objects = 5000",
        )
        .unwrap();
        let mut flags = pkcs11_flags();
        flags.pkcs11.pkcs11_module = None;
        let choice = HsmChoice::resolve(flags, None, Some(file), None).unwrap();
        assert_eq!(
            choice,
            HsmChoice::Pkcs11(Pkcs11Settings {
                module: "/file.so".into(),
                token_label: "t".into(),
                pin_file: "/pin".into(),
                key_label: "k".into(),
                migrate_from: Some("/old.key".into()),
                reopen_after_objects: Some(5000),
            })
        );
        let HsmChoice::Pkcs11(s) = HsmChoice::resolve(pkcs11_flags(), None, None, None).unwrap()
        else {
            panic!("pkcs11 expected")
        };
        assert_eq!(s.key_label, DEFAULT_KEY_LABEL);
        assert_eq!(s.migrate_from, None);
        assert_eq!(s.reopen_after_objects, None);
    }

    #[test]
    fn a_missing_setting_a_domain_key_beside_a_token_and_an_unknown_backend_are_named() {
        let mut flags = pkcs11_flags();
        flags.pkcs11.pkcs11_pin_file = None;
        let e = HsmChoice::resolve(flags, None, None, None).unwrap_err();
        assert!(
            e.contains("pkcs11.pin_file") && e.contains("TRENT_PKCS11_PIN_FILE"),
            "{e}"
        );
        let e = HsmChoice::resolve(
            pkcs11_flags(),
            None,
            None,
            Some(DomainKeySource::Env("TRENT_DOMAIN_KEY".into())),
        )
        .unwrap_err();
        assert!(
            e.contains("TRENT_DOMAIN_KEY") && e.contains("remove it"),
            "{e}"
        );
        let e = HsmChoice::resolve(HsmFlags::default(), Some("cloudhsm".into()), None, None)
            .unwrap_err();
        assert!(e.contains("'cloudhsm'"), "{e}");
        let e = HsmChoice::resolve(HsmFlags::default(), None, None, None).unwrap_err();
        assert!(e.contains("domain_key_file: required"), "{e}");
        let mut soft = pkcs11_flags();
        soft.backend = None;
        let key = Some(DomainKeySource::File("/k".into()));
        let e = HsmChoice::resolve(soft, None, None, key.clone()).unwrap_err();
        assert!(
            e.contains("hsm: PKCS#11 settings") && e.contains("soft"),
            "{e}"
        );
        let mut migrating = HsmFlags::default();
        migrating.pkcs11.migrate_from_domain_key_file = Some("/old.key".into());
        let e = HsmChoice::resolve(migrating, None, None, key.clone()).unwrap_err();
        assert!(e.contains("hsm: PKCS#11 settings"), "{e}");
        let table = Some(Pkcs11File::default());
        let e = HsmChoice::resolve(HsmFlags::default(), None, table, key).unwrap_err();
        assert!(e.contains("hsm: PKCS#11 settings"), "{e}");
    }

    #[test]
    fn an_empty_pin_file_is_refused_naming_it() {
        use std::os::unix::fs::PermissionsExt;
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("pin");
        std::fs::write(&path, " \n").unwrap();
        std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o600)).unwrap();
        let settings = Pkcs11Settings {
            module: "/m.so".into(),
            token_label: "t".into(),
            pin_file: path,
            key_label: DEFAULT_KEY_LABEL.into(),
            migrate_from: None,
            reopen_after_objects: None,
        };
        let e = settings.open_config().unwrap_err();
        assert!(
            e.contains("pkcs11.pin_file") && e.contains("holds no PIN"),
            "{e}"
        );
    }

    #[test]
    fn the_file_chooses_the_backend_when_no_flag_does() {
        let file: Pkcs11File =
            toml::from_str("module = \"/m.so\"\ntoken_label = \"t\"\npin_file = \"/p\"").unwrap();
        let choice =
            HsmChoice::resolve(HsmFlags::default(), Some("pkcs11".into()), Some(file), None)
                .unwrap();
        assert!(matches!(choice, HsmChoice::Pkcs11(_)));
        let soft = HsmChoice::resolve(
            HsmFlags::default(),
            None,
            None,
            Some(DomainKeySource::File("/k".into())),
        )
        .unwrap();
        assert_eq!(soft, HsmChoice::Soft(DomainKeySource::File("/k".into())));
    }
}
