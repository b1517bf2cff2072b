//! The cluster's domain key: the 256-bit key every node's HSM holds and every key's material
//! is wrapped under. It comes from a key file (a mounted Kubernetes Secret is a file), an
//! environment variable, or, in development only, a file generated into the data dir. A key
//! file that another local user could read is refused (see `secret_file`).

use std::io::Write;
use std::path::{Path, PathBuf};

use rand::RngCore;
use zeroize::{Zeroize, Zeroizing};

use crate::HsmError;

/// Where the domain key comes from.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum DomainKeySource {
    /// A file holding the key as 64 hex digits (surrounding whitespace ignored).
    File(PathBuf),
    /// An environment variable holding the key as 64 hex digits.
    Env(String),
    /// Development only: the file at this path, generated on first use.
    Dev(PathBuf),
}

/// The domain key. Not `Debug`, not `Clone`; zeroized on drop.
pub struct DomainKey(pub(crate) Zeroizing<[u8; 32]>);

impl DomainKey {
    pub fn load(source: &DomainKeySource) -> Result<DomainKey, HsmError> {
        match source {
            DomainKeySource::File(path) => Self::from_file(path, "domain_key_file"),
            DomainKeySource::Env(var) => {
                let text = Zeroizing::new(std::env::var(var).map_err(|_| {
                    HsmError::DomainKey(format!("environment variable {var} is not set"))
                })?);
                parse_hex(&text).map_err(|e| HsmError::DomainKey(format!("{var}: {e}")))
            }
            DomainKeySource::Dev(path) if path.exists() => {
                Self::from_file(path, "the development domain key")
            }
            DomainKeySource::Dev(path) => Self::generate_dev(path),
        }
    }

    /// A key from raw bytes (tests and tools).
    pub fn from_bytes(bytes: [u8; 32]) -> DomainKey {
        DomainKey(Zeroizing::new(bytes))
    }

    /// The key in the file at `path`, configured by `setting` (named in errors).
    pub(crate) fn from_file(path: &Path, setting: &str) -> Result<DomainKey, HsmError> {
        let text = crate::read_secret_file(path, setting).map_err(HsmError::DomainKey)?;
        parse_hex(&text)
            .map_err(|e| HsmError::DomainKey(format!("{setting}: {}: {e}", path.display())))
    }

    fn generate_dev(path: &Path) -> Result<DomainKey, HsmError> {
        let mut key = Zeroizing::new([0u8; 32]);
        rand::rngs::OsRng.fill_bytes(key.as_mut());
        let mut hex = Zeroizing::new(to_hex(key.as_ref()));
        hex.push('\n');
        write_private(path, hex.as_bytes())
            .map_err(|e| HsmError::DomainKey(format!("{}: {e}", path.display())))?;
        tracing::warn!(
            path = %path.display(),
            "generated a DEVELOPMENT domain key; anyone who can read this file can unwrap every key"
        );
        Ok(DomainKey(key))
    }
}

fn write_private(path: &Path, bytes: &[u8]) -> std::io::Result<()> {
    use std::os::unix::fs::OpenOptionsExt;
    if let Some(dir) = path.parent() {
        std::fs::create_dir_all(dir)?;
    }
    let mut file = std::fs::OpenOptions::new()
        .write(true)
        .create_new(true)
        .mode(0o600)
        .open(path)?;
    file.write_all(bytes)?;
    file.sync_all()?;
    // The new name survives a power loss only once its directory is synced too.
    let dir = path.parent().filter(|d| !d.as_os_str().is_empty());
    std::fs::File::open(dir.unwrap_or(Path::new(".")))?.sync_all()
}

fn parse_hex(text: &str) -> Result<DomainKey, String> {
    let text = text.trim();
    if text.len() != 64 {
        return Err(format!(
            "a domain key is 64 hex digits (256 bits); found {} characters",
            text.len()
        ));
    }
    let mut key = Zeroizing::new([0u8; 32]);
    for (i, pair) in text.as_bytes().chunks(2).enumerate() {
        let digits = std::str::from_utf8(pair).map_err(|_| "not hex digits".to_string())?;
        key[i] = u8::from_str_radix(digits, 16).map_err(|_| "not hex digits".to_string())?;
    }
    Ok(DomainKey(key))
}

fn to_hex(bytes: &[u8]) -> String {
    let mut s = String::with_capacity(bytes.len() * 2);
    for b in bytes {
        s.push_str(&format!("{b:02x}"));
    }
    s
}

impl Drop for DomainKey {
    fn drop(&mut self) {
        self.0.zeroize();
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn dev_key_is_generated_once_then_reused() {
        let dir = tempfile::tempdir().unwrap();
        let source = DomainKeySource::Dev(dir.path().join("dev-domain-key"));
        let first = DomainKey::load(&source).unwrap();
        let second = DomainKey::load(&source).unwrap();
        assert_eq!(*first.0, *second.0);
        let mode = std::fs::metadata(dir.path().join("dev-domain-key"))
            .unwrap()
            .permissions();
        assert_eq!(
            std::os::unix::fs::PermissionsExt::mode(&mode) & 0o777,
            0o600
        );
    }

    fn private() -> std::fs::Permissions {
        std::os::unix::fs::PermissionsExt::from_mode(0o600)
    }

    #[test]
    fn a_key_file_others_can_read_is_refused_naming_the_setting() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("key");
        std::fs::write(&path, "ab".repeat(32)).unwrap();
        let source = DomainKeySource::File(path.clone());
        std::fs::set_permissions(&path, std::os::unix::fs::PermissionsExt::from_mode(0o644))
            .unwrap();
        let Err(e) = DomainKey::load(&source) else {
            panic!("a 0644 key file was accepted")
        };
        let e = e.to_string();
        assert!(e.contains("domain_key_file") && e.contains("0644"), "{e}");
        assert!(!e.contains("abab"), "{e}");
        std::fs::set_permissions(&path, private()).unwrap();
        assert!(DomainKey::load(&source).is_ok());
    }

    #[test]
    fn malformed_keys_are_refused_with_the_reason() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("key");
        for (content, expect) in [
            ("abcd", "64 hex digits"),
            (&"zz".repeat(32)[..], "not hex digits"),
        ] {
            std::fs::write(&path, content).unwrap();
            std::fs::set_permissions(&path, private()).unwrap();
            let Err(e) = DomainKey::load(&DomainKeySource::File(path.clone())) else {
                panic!("{content} accepted")
            };
            assert!(e.to_string().contains(expect), "{e}");
        }
        let missing = DomainKey::load(&DomainKeySource::File(dir.path().join("nope")));
        assert!(missing.is_err());
        let unset = DomainKey::load(&DomainKeySource::Env("TRENT_TEST_UNSET_VAR".into()));
        assert!(unset.err().unwrap().to_string().contains("not set"));
    }
}
