//! TLS for clients of trent's HTTPS API: rustls on the aws-lc-rs provider (as everywhere in
//! trent), trusting the system's root certificates plus an optional extra CA bundle, a PEM
//! file (`trent --ca-bundle FILE`, else `AWS_CA_BUNDLE`, the AWS CLI's name for it), so a
//! cluster whose certificates come from a private CA (`trentd certs`) needs no change to the
//! system trust store. A bundle that cannot be read or holds no usable certificate is an
//! error naming the file, before anything is sent.

use std::path::{Path, PathBuf};
use std::sync::{Arc, OnceLock};

use rustls::pki_types::pem::PemObject;
use rustls::pki_types::CertificateDer;
use rustls::{ClientConfig, RootCertStore};

/// The environment variable naming an extra CA bundle, as the AWS CLI and SDKs read it.
pub const CA_BUNDLE_ENV: &str = "AWS_CA_BUNDLE";

/// Extra CA certificates to trust, from a PEM file.
#[derive(Clone, Debug)]
pub struct CaBundle {
    path: PathBuf,
    pem: Vec<u8>,
    certs: Vec<CertificateDer<'static>>,
}

impl CaBundle {
    /// The bundle at `path`, given by `setting` (named in errors with the path).
    pub fn load(path: &Path, setting: &str) -> Result<CaBundle, String> {
        let what = || format!("CA bundle {} ({setting})", path.display());
        let pem = std::fs::read(path).map_err(|e| format!("{}: {e}", what()))?;
        let certs = CertificateDer::pem_slice_iter(&pem)
            .collect::<Result<Vec<_>, _>>()
            .map_err(|e| format!("{}: not PEM: {e}", what()))?;
        if certs.is_empty() {
            return Err(format!("{}: holds no PEM certificate", what()));
        }
        let mut roots = RootCertStore::empty();
        for cert in &certs {
            roots
                .add(cert.clone())
                .map_err(|e| format!("{}: {e}", what()))?;
        }
        Ok(CaBundle {
            path: path.to_owned(),
            pem,
            certs,
        })
    }

    /// `flag` (`--ca-bundle`) if given, else the file `AWS_CA_BUNDLE` names, if set.
    pub fn from_flag_or_env(flag: Option<&Path>) -> Result<Option<CaBundle>, String> {
        match (flag, std::env::var_os(CA_BUNDLE_ENV)) {
            (Some(path), _) => Self::load(path, "--ca-bundle").map(Some),
            (None, Some(path)) if !path.is_empty() => {
                Self::load(Path::new(&path), CA_BUNDLE_ENV).map(Some)
            }
            (None, _) => Ok(None),
        }
    }

    pub fn path(&self) -> &Path {
        &self.path
    }

    /// The file's contents (validated PEM).
    pub fn pem(&self) -> &[u8] {
        &self.pem
    }
}

/// The system's root certificates, read once per process. Unreadable or unparsable entries
/// are skipped: a system without a trust store still trusts an explicit bundle.
fn system_roots() -> &'static [CertificateDer<'static>] {
    static ROOTS: OnceLock<Vec<CertificateDer<'static>>> = OnceLock::new();
    ROOTS.get_or_init(|| rustls_native_certs::load_native_certs().certs)
}

/// A client configuration trusting the system roots and `extra`, on aws-lc-rs.
pub fn client_config(extra: Option<&CaBundle>) -> Result<ClientConfig, String> {
    let mut roots = RootCertStore::empty();
    roots.add_parsable_certificates(system_roots().iter().cloned());
    for cert in extra.iter().flat_map(|b| &b.certs) {
        roots.add(cert.clone()).map_err(|e| e.to_string())?;
    }
    let provider = Arc::new(rustls::crypto::aws_lc_rs::default_provider());
    let config = ClientConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .map_err(|e| format!("TLS: {e}"))?
        .with_root_certificates(roots)
        .with_no_client_auth();
    Ok(config)
}

/// Makes aws-lc-rs the process's default rustls provider (once; later calls do nothing).
/// reqwest is built without a provider of its own, so a `reqwest::Client` made without
/// [`client_config`] (a probe in a test, an HTTP call of `trent bench`) needs this first;
/// [`crate::Client`] calls it.
pub fn install_default_provider() {
    let _ = rustls::crypto::aws_lc_rs::default_provider().install_default();
}

/// The message of `error` and of each error under it, joined by ": ", with a hint when a
/// server's certificate was not trusted.
pub fn describe(error: &(dyn std::error::Error + 'static)) -> String {
    let mut text = error.to_string();
    let mut source = error.source();
    while let Some(e) = source {
        let line = e.to_string();
        if !text.contains(&line) {
            text.push_str(": ");
            text.push_str(&line);
        }
        source = e.source();
    }
    if text.contains("certificate") {
        text.push_str(
            " (if the server's certificate comes from a private CA, trust it with --ca-bundle FILE or AWS_CA_BUNDLE)",
        );
    }
    text
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bundles_that_are_missing_or_not_pem_are_refused_by_name() {
        let dir = tempfile::tempdir().unwrap();
        let missing = dir.path().join("missing.pem");
        let e = CaBundle::load(&missing, "--ca-bundle").unwrap_err();
        assert!(
            e.contains("missing.pem") && e.contains("--ca-bundle"),
            "{e}"
        );
        let junk = dir.path().join("junk.pem");
        std::fs::write(&junk, "not a certificate").unwrap();
        let e = CaBundle::load(&junk, "AWS_CA_BUNDLE").unwrap_err();
        assert!(
            e.contains("junk.pem") && e.contains("no PEM certificate"),
            "{e}"
        );
        let bad = dir.path().join("bad.pem");
        std::fs::write(
            &bad,
            "-----BEGIN CERTIFICATE-----\nAAAA\n-----END CERTIFICATE-----\n",
        )
        .unwrap();
        let e = CaBundle::load(&bad, "AWS_CA_BUNDLE").unwrap_err();
        assert!(e.contains("bad.pem"), "{e}");
    }
}
