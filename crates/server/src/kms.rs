//! The key service on this node: the HSM loaded with the cluster's domain key, the service
//! installed as the node's handler for forwarded requests, its leader-side background tasks
//! (scheduled deletion, usage recording) and the root principal's access key.
//!
//! Every node holds the same domain key; a node with another key could not unwrap the
//! material its peers wrapped, so startup checks that the key opens the root access key's
//! wrapped secret when one is already replicated (see `ensure_root_access_key`).

use std::path::Path;
use std::sync::Arc;

use anyhow::Context;
use trent_cluster::ClusterNode;
use trent_hsm::{DomainKey, DomainKeySource, Hsm, MigratingHsm, ReopeningPkcs11, SoftHsm};
use trent_service::{Service, ServiceConfig};
use zeroize::Zeroizing;

use crate::config::{KmsConfig, RootCredentials};
use crate::hsm_config::HsmChoice;

/// Unwrapped keys kept ready in the HSM.
const HSM_CACHE_ENTRIES: usize = 10_000;

/// Root credentials that trentd was given or generated.
pub struct Credentials {
    pub access_key_id: String,
    pub secret_access_key: Zeroizing<String>,
}

/// The HSM with the configured domain key; loaded before anything else starts, so a bad
/// key, token or PIN stops trentd before it touches its data dir.
pub fn load_hsm(config: &KmsConfig) -> anyhow::Result<Arc<dyn Hsm>> {
    match &config.hsm {
        HsmChoice::Soft(source) => {
            let domain = DomainKey::load(source).map_err(|e| anyhow::anyhow!("{e}"))?;
            Ok(Arc::new(SoftHsm::new(domain, HSM_CACHE_ENTRIES)))
        }
        HsmChoice::Pkcs11(settings) => {
            let reload = settings.clone();
            let hsm =
                ReopeningPkcs11::open(Box::new(move || reload.open_config()), HSM_CACHE_ENTRIES)
                    .map_err(|e| anyhow::anyhow!("hsm = pkcs11: {e}"))?;
            let hsm = match settings.reopen_after_objects {
                Some(objects) => hsm.reopen_after_objects(objects),
                None => hsm,
            };
            tracing::info!(
                module = %settings.module.display(),
                token = %settings.token_label,
                key = %settings.key_label,
                key_check_value = %hex_prefix(&hsm.key_check_value()),
                "HSM: PKCS#11 token opened; key material stays in the token"
            );
            match &settings.migrate_from {
                None => Ok(Arc::new(hsm)),
                Some(path) => {
                    let source = DomainKeySource::File(path.clone());
                    let old = DomainKey::load(&source)
                        .map_err(|e| anyhow::anyhow!("migrate_from_domain_key_file: {e}"))?;
                    let soft = SoftHsm::new(old, HSM_CACHE_ENTRIES);
                    tracing::warn!(
                        old_key_check_value = %hex_prefix(&soft.key_check_value()),
                        "HSM: migrating from the soft domain key; remove \
                         --migrate-from-domain-key-file once DescribeDomainKey shows nothing \
                         under it"
                    );
                    Ok(Arc::new(MigratingHsm::new(soft, hsm)))
                }
            }
        }
    }
}

/// The first bytes of a check value, as operators compare them across nodes.
pub fn hex_prefix(bytes: &[u8]) -> String {
    bytes.iter().take(6).map(|b| format!("{b:02x}")).collect()
}

/// Installs the service on `node` and starts its background tasks.
pub fn start(node: &ClusterNode, hsm: Arc<dyn Hsm>, config: &KmsConfig) -> Service {
    let service = Service::install(
        node.clone(),
        hsm,
        ServiceConfig {
            region: config.region.clone(),
            limits: config.limits,
            quotas: config.quotas,
            audit_trail: config.audit_trail,
            audit_retention: config.audit_retention,
        },
    );
    service.spawn_audit_retention_task();
    if !config.audit_trail {
        tracing::warn!(
            "the audit trail is OFF (--audit-trail=false): calls are answered without a \
             record; turn it on again for anything but measuring its cost"
        );
    }
    service.spawn_deletion_task();
    service.spawn_rotation_task();
    service.spawn_expiry_task();
    service.spawn_usage_task();
    service.spawn_user_policies_migration();
    service.spawn_rewrap_task();
    service
}

/// The root credentials, as far as they can be known before the data dir is opened: read
/// (and their secret file checked) in `run`, so a bad file stops trentd before it writes
/// anything; in `dev` they live in the data dir.
pub enum Root {
    Given(Option<Credentials>),
    Dev(std::path::PathBuf),
}

pub fn load_root(source: &RootCredentials) -> anyhow::Result<Root> {
    match source {
        RootCredentials::FromEnv => root_from_env().map(Root::Given),
        RootCredentials::Dev(path) => Ok(Root::Dev(path.clone())),
    }
}

/// The root credentials to bootstrap, if any: those `run` was given, or in `dev` those in
/// (or generated into) the data dir.
pub fn root_credentials(service: &Service, root: Root) -> anyhow::Result<Option<Credentials>> {
    match root {
        Root::Given(credentials) => Ok(credentials),
        Root::Dev(path) if path.exists() => read_dev(&path).map(Some),
        Root::Dev(path) => {
            let (access_key_id, secret_access_key) = service
                .generate_credentials()
                .map_err(|e| anyhow::anyhow!("generating the development credentials: {e}"))?;
            write_dev(&path, &access_key_id, &secret_access_key)?;
            Ok(Some(Credentials {
                access_key_id,
                secret_access_key,
            }))
        }
    }
}

/// The root credentials of `run`: `TRENT_ROOT_ACCESS_KEY_ID` with the secret in the file
/// that `TRENT_ROOT_SECRET_ACCESS_KEY_FILE` names (a mounted Secret: not in the process
/// environment, which leaks to /proc/<pid>/environ, crash dumps and child processes; the
/// file is refused when other users can read it) or in `TRENT_ROOT_SECRET_ACCESS_KEY`.
pub fn root_from_env() -> anyhow::Result<Option<Credentials>> {
    let id = std::env::var("TRENT_ROOT_ACCESS_KEY_ID").ok();
    let secret = match (
        std::env::var("TRENT_ROOT_SECRET_ACCESS_KEY").ok(),
        std::env::var_os("TRENT_ROOT_SECRET_ACCESS_KEY_FILE"),
    ) {
        (Some(_), Some(_)) => anyhow::bail!(
            "TRENT_ROOT_SECRET_ACCESS_KEY and TRENT_ROOT_SECRET_ACCESS_KEY_FILE: set one, not both"
        ),
        (Some(secret), None) => Some(Zeroizing::new(secret)),
        (None, Some(path)) => {
            let text =
                trent_hsm::read_secret_file(Path::new(&path), "TRENT_ROOT_SECRET_ACCESS_KEY_FILE")
                    .map_err(anyhow::Error::msg)?;
            Some(Zeroizing::new(text.trim().to_owned()))
        }
        (None, None) => None,
    };
    match (id, secret) {
        (None, None) => Ok(None),
        (Some(access_key_id), Some(secret_access_key)) => Ok(Some(Credentials {
            access_key_id,
            secret_access_key,
        })),
        _ => anyhow::bail!(
            "TRENT_ROOT_ACCESS_KEY_ID and TRENT_ROOT_SECRET_ACCESS_KEY(_FILE): set both or neither"
        ),
    }
}

fn read_dev(path: &Path) -> anyhow::Result<Credentials> {
    let text = Zeroizing::new(
        std::fs::read_to_string(path).with_context(|| format!("{}", path.display()))?,
    );
    let mut lines = text.lines();
    match (lines.next(), lines.next()) {
        (Some(id), Some(secret)) => Ok(Credentials {
            access_key_id: id.trim().into(),
            secret_access_key: Zeroizing::new(secret.trim().into()),
        }),
        _ => anyhow::bail!(
            "{}: expected the access key id and the secret on two lines",
            path.display()
        ),
    }
}

fn write_dev(path: &Path, id: &str, secret: &str) -> anyhow::Result<()> {
    if let Some(dir) = path.parent() {
        std::fs::create_dir_all(dir)?;
    }
    let text = Zeroizing::new(format!("{id}\n{secret}\n"));
    crate::certs::write_new(path, text.as_bytes(), 0o600).map_err(anyhow::Error::msg)
}
