//! `trentd certs`: a development CA and per-node certificates (PEM), for the peer transport's
//! mutual TLS (`peer_tls_*`) and the client API's TLS (`tls_*`) alike.
//!
//! Every node certificate is valid for server and client authentication, for its name (a DNS
//! name, or an IP address if the name is one), its own IP (`name=ip`) and every `--ips`
//! address. A node given with its id (`ID:name[=ip]`) also gets the name that binds it to
//! node ID of `--cluster-name` (`node-ID.CLUSTER.trent.invalid`): peers accept only that
//! certificate for that node (docs/ARCHITECTURE.md, "Peer security"). Files holding private keys are created 0600 and never overwritten; an existing
//! CA in the output directory is reused, so nodes can be added to a cluster later.
//!
//! This is a convenience for development and tests. A production cluster should take its
//! certificates from its own PKI (cert-manager, Vault, ...): any CA works.

use std::io::Write;
use std::net::IpAddr;
use std::os::unix::fs::{DirBuilderExt, OpenOptionsExt};
use std::path::{Path, PathBuf};

use rcgen::{
    BasicConstraints, CertificateParams, DistinguishedName, DnType, ExtendedKeyUsagePurpose, IsCa,
    Issuer, KeyPair, KeyUsagePurpose, SanType,
};
use time::{Duration, OffsetDateTime};

const CA_NAME: &str = "trent development CA";
const CA_CERT: &str = "ca.pem";
const CA_KEY: &str = "ca-key.pem";

#[derive(clap::Args, Debug)]
pub struct CertsArgs {
    /// Directory for ca.pem, ca-key.pem, <name>.pem and <name>-key.pem (created 0700).
    #[arg(long)]
    pub out: PathBuf,
    /// Certificates, `[ID:]name[=ip]`, comma separated: one each, for that DNS name (or IP,
    /// if the name is one) and that IP. With `ID:` the certificate names node ID of the
    /// cluster, as a peer certificate must (e.g. `1:n1=10.0.0.1`); without, it serves only
    /// the client API's TLS.
    #[arg(long, value_delimiter = ',', required = true)]
    pub nodes: Vec<String>,
    /// The cluster whose node ids the certificates bind (trentd's `cluster_name`).
    #[arg(long, default_value = "trent")]
    pub cluster_name: String,
    /// IP addresses added to every node's certificate, comma separated (e.g. 127.0.0.1).
    #[arg(long, value_delimiter = ',')]
    pub ips: Vec<IpAddr>,
    /// Validity of node certificates, in days [default: 365].
    #[arg(long, default_value_t = 365)]
    pub days: i64,
}

/// Writes the CA (unless one is there) and a certificate and key per node; prints the files.
pub fn run(args: &CertsArgs) -> Result<(), String> {
    if !trent_cluster::valid_cluster_name(&args.cluster_name) {
        return Err(format!(
            "--cluster-name: '{}' is not one DNS label",
            args.cluster_name
        ));
    }
    let nodes = args
        .nodes
        .iter()
        .map(|n| parse_node(n))
        .collect::<Result<Vec<_>, _>>()?;
    std::fs::DirBuilder::new()
        .recursive(true)
        .mode(0o700)
        .create(&args.out)
        .map_err(|e| format!("--out {}: {e}", args.out.display()))?;
    let ca = certificate_authority(&args.out)?;
    for node in &nodes {
        let mut sans = subject_alt_names(&node.name, node.ip, &args.ips)?;
        if let Some(id) = node.id {
            let bound = trent_cluster::peer_name(&args.cluster_name, id);
            sans.push(SanType::DnsName(
                bound.try_into().map_err(|e| format!("--nodes: {e}"))?,
            ));
        }
        issue(&args.out, &ca, &node.name, sans, args.days)?;
    }
    println!(
        "CA: {}\nnodes: {}",
        args.out.join(CA_CERT).display(),
        nodes
            .iter()
            .map(|n| match n.id {
                Some(id) => format!("{} (node {id} of {})", n.name, args.cluster_name),
                None => n.name.clone(),
            })
            .collect::<Vec<_>>()
            .join(", ")
    );
    Ok(())
}

/// One certificate to issue.
#[derive(Debug, PartialEq)]
struct NodeSpec {
    /// The node id it binds, for a peer certificate.
    id: Option<u64>,
    name: String,
    ip: Option<IpAddr>,
}

/// `[ID:]name[=ip]`. Names become file names and DNS names: letters, digits, `.`, `-`.
fn parse_node(spec: &str) -> Result<NodeSpec, String> {
    let (id, rest) = match spec.split_once(':') {
        Some((id, rest)) if !id.is_empty() && id.bytes().all(|b| b.is_ascii_digit()) => {
            match id.parse::<u64>() {
                Ok(id) if id > 0 => (Some(id), rest),
                _ => {
                    return Err(format!(
                        "--nodes: '{id}' in '{spec}' is not a node id (1 or more)"
                    ))
                }
            }
        }
        _ => (None, spec),
    };
    let (name, ip) = parse_name(rest, spec)?;
    Ok(NodeSpec { id, name, ip })
}

fn parse_name(rest: &str, spec: &str) -> Result<(String, Option<IpAddr>), String> {
    let (name, ip) = match rest.split_once('=') {
        Some((name, ip)) => {
            let ip = ip
                .parse()
                .map_err(|_| format!("--nodes: '{ip}' in '{spec}' is not an IP address"))?;
            (name, Some(ip))
        }
        None => (rest, None),
    };
    let valid = !name.is_empty()
        && !name.starts_with(['.', '-'])
        && name
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'.' || b == b'-');
    match valid {
        true => Ok((name.to_owned(), ip)),
        false => Err(format!(
            "--nodes: '{name}' is not a node name (letters, digits, '.', '-')"
        )),
    }
}

fn subject_alt_names(
    name: &str,
    own: Option<IpAddr>,
    shared: &[IpAddr],
) -> Result<Vec<SanType>, String> {
    let mut sans = vec![match name.parse::<IpAddr>() {
        Ok(ip) => SanType::IpAddress(ip),
        Err(_) => SanType::DnsName(
            name.try_into()
                .map_err(|e| format!("--nodes: '{name}': {e}"))?,
        ),
    }];
    for ip in own.iter().chain(shared) {
        let san = SanType::IpAddress(*ip);
        if !sans.contains(&san) {
            sans.push(san);
        }
    }
    Ok(sans)
}

/// The CA's fixed parameters: a reused CA key signs with the same issuer name, so new node
/// certificates chain to the existing `ca.pem`.
fn ca_params() -> CertificateParams {
    let mut params = CertificateParams::default();
    params.distinguished_name = distinguished_name(CA_NAME);
    params.is_ca = IsCa::Ca(BasicConstraints::Constrained(0));
    params.key_usages = vec![
        KeyUsagePurpose::KeyCertSign,
        KeyUsagePurpose::CrlSign,
        KeyUsagePurpose::DigitalSignature,
    ];
    params.not_before = OffsetDateTime::now_utc() - Duration::hours(1);
    params.not_after = OffsetDateTime::now_utc() + Duration::days(3650);
    params
}

/// The CA in `dir`, or a new one written there.
fn certificate_authority(dir: &Path) -> Result<Issuer<'static, KeyPair>, String> {
    let (cert, key) = (dir.join(CA_CERT), dir.join(CA_KEY));
    match (cert.exists(), key.exists()) {
        (true, true) => {
            let pem =
                std::fs::read_to_string(&key).map_err(|e| format!("{}: {e}", key.display()))?;
            let key_pair =
                KeyPair::from_pem(&pem).map_err(|e| format!("{}: {e}", key.display()))?;
            Ok(Issuer::new(ca_params(), key_pair))
        }
        (false, false) => {
            let key_pair = KeyPair::generate().map_err(|e| format!("CA key: {e}"))?;
            let params = ca_params();
            let ca = params
                .self_signed(&key_pair)
                .map_err(|e| format!("CA certificate: {e}"))?;
            write_new(&key, key_pair.serialize_pem().as_bytes(), 0o600)?;
            write_new(&cert, ca.pem().as_bytes(), 0o644)?;
            Ok(Issuer::new(params, key_pair))
        }
        _ => Err(format!(
            "{}: holds only one of {CA_CERT} and {CA_KEY}; give both or neither",
            dir.display()
        )),
    }
}

/// A certificate for server and client authentication, signed by `ca`.
fn issue(
    dir: &Path,
    ca: &Issuer<'_, KeyPair>,
    name: &str,
    sans: Vec<SanType>,
    days: i64,
) -> Result<(), String> {
    let mut params = CertificateParams::default();
    params.distinguished_name = distinguished_name(name);
    params.subject_alt_names = sans;
    params.key_usages = vec![KeyUsagePurpose::DigitalSignature];
    params.extended_key_usages = vec![
        ExtendedKeyUsagePurpose::ServerAuth,
        ExtendedKeyUsagePurpose::ClientAuth,
    ];
    params.use_authority_key_identifier_extension = true;
    params.not_before = OffsetDateTime::now_utc() - Duration::hours(1);
    params.not_after = OffsetDateTime::now_utc() + Duration::days(days.max(1));
    let key_pair = KeyPair::generate().map_err(|e| format!("{name}: key: {e}"))?;
    let cert = params
        .signed_by(&key_pair, ca)
        .map_err(|e| format!("{name}: certificate: {e}"))?;
    write_new(
        &dir.join(format!("{name}-key.pem")),
        key_pair.serialize_pem().as_bytes(),
        0o600,
    )?;
    write_new(
        &dir.join(format!("{name}.pem")),
        cert.pem().as_bytes(),
        0o644,
    )
}

fn distinguished_name(common_name: &str) -> DistinguishedName {
    let mut dn = DistinguishedName::new();
    dn.push(DnType::OrganizationName, "trent");
    dn.push(DnType::CommonName, common_name);
    dn
}

/// Creates `path` with `mode` from the start (a key is never readable by others, not even
/// for a moment) and refuses to overwrite an existing file.
/// Writes a new file (never replacing one) with `mode`, synced to disk with its directory
/// entry (a new name is durable only once its directory is synced).
pub(crate) fn write_new(path: &Path, contents: &[u8], mode: u32) -> Result<(), String> {
    let mut file = std::fs::OpenOptions::new()
        .write(true)
        .create_new(true)
        .mode(mode)
        .open(path)
        .map_err(|e| format!("{}: {e}", path.display()))?;
    let dir = path.parent().filter(|d| !d.as_os_str().is_empty());
    file.write_all(contents)
        .and_then(|_| file.sync_all())
        .and_then(|_| std::fs::File::open(dir.unwrap_or(Path::new(".")))?.sync_all())
        .map_err(|e| format!("{}: {e}", path.display()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn node_specs_are_checked() {
        let n1 = parse_node("n1").unwrap();
        assert_eq!((n1.id, n1.name.as_str(), n1.ip), (None, "n1", None));
        assert_eq!(
            parse_node("n1=10.0.0.1").unwrap().ip,
            Some("10.0.0.1".parse().unwrap())
        );
        let bound = parse_node("7:n7=::1").unwrap();
        assert_eq!(
            (bound.id, bound.ip),
            (Some(7), Some("::1".parse().unwrap()))
        );
        for bad in ["", "../x", "a/b", "-x", "n1=nope", "0:n0", ":n1"] {
            assert!(parse_node(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn keys_are_private_and_a_second_run_reuses_the_ca() {
        use std::os::unix::fs::PermissionsExt;
        let dir = tempfile::tempdir().unwrap();
        let out = dir.path().join("certs");
        let args = |nodes: &[&str]| CertsArgs {
            out: out.clone(),
            nodes: nodes.iter().map(|s| s.to_string()).collect(),
            ips: vec!["127.0.0.1".parse().unwrap()],
            days: 1,
            cluster_name: "trent".into(),
        };
        run(&args(&["n1=127.0.0.2", "n2"])).unwrap();
        let ca = std::fs::read(out.join(CA_CERT)).unwrap();
        run(&args(&["n3"])).unwrap();
        assert_eq!(std::fs::read(out.join(CA_CERT)).unwrap(), ca, "CA kept");
        for key in ["ca-key.pem", "n1-key.pem", "n3-key.pem"] {
            let mode = std::fs::metadata(out.join(key))
                .unwrap()
                .permissions()
                .mode();
            assert_eq!(mode & 0o777, 0o600, "{key}: {mode:o}");
        }
        // Existing files are never overwritten.
        assert!(run(&args(&["n1"])).unwrap_err().contains("n1-key.pem"));
        // A node issued by the reused CA is accepted as the CA's (peer TLS checks the chain).
        let tls = trent_cluster::PeerTls::load(
            &out.join(CA_CERT),
            &out.join("n3.pem"),
            &out.join("n3-key.pem"),
        );
        assert!(tls.is_ok(), "{tls:?}");
    }
}
