//! StatefulSet mode: a node's identity and its founding peers derived from its pod name, so
//! a Kubernetes StatefulSet forms and grows a cluster with no manual step.
//!
//! Pod `<sts>-<ordinal>` is node `ordinal + 1` and advertises
//! `<sts>-<ordinal>.<service>[.<namespace>.svc]:<peer port>` (the pod's DNS name under the
//! headless service). Pods with an ordinal below the initial replica count are the founding
//! members: they start with the same initial member set (those pods) and form the cluster as
//! `--initial-cluster` does. A pod with a higher ordinal starts empty and asks a founding
//! member to add it (see `join.rs`); `trentd leave` removes it again before it stops.

use std::path::PathBuf;

use clap::Args;
use serde::Deserialize;

/// StatefulSet mode settings, as flags or environment variables.
#[derive(Args, Debug, Default)]
pub struct StatefulSetFlags {
    /// Derive the node id, the advertised peer address and the founding members from the pod
    /// name (`<statefulset>-<ordinal>`), for a Kubernetes StatefulSet.
    #[arg(long, env = "TRENT_STATEFULSET")]
    pub statefulset: bool,
    /// The pod's name [default: $HOSTNAME, which Kubernetes sets to the pod name].
    #[arg(long, env = "TRENT_POD_NAME")]
    pub pod_name: Option<String>,
    /// The headless Service that gives the StatefulSet's pods their DNS names.
    #[arg(long, env = "TRENT_STATEFULSET_SERVICE")]
    pub statefulset_service: Option<String>,
    /// The pods' namespace; when set, peer names are `<pod>.<service>.<namespace>.svc`.
    #[arg(long, env = "TRENT_STATEFULSET_NAMESPACE")]
    pub statefulset_namespace: Option<String>,
    /// How many pods found the cluster (ordinals 0..N-1); higher ordinals join it.
    #[arg(long, env = "TRENT_STATEFULSET_REPLICAS")]
    pub statefulset_replicas: Option<u64>,
    /// PEM CA certificate(s) that verify the members' client API certificates, for joining
    /// and leaving over TLS.
    #[arg(long, env = "TRENT_JOIN_CA_FILE")]
    pub join_ca_file: Option<PathBuf>,
}

/// The `[statefulset]` table of the configuration file; its presence turns the mode on.
#[derive(Deserialize, Debug, Default)]
#[serde(deny_unknown_fields)]
pub struct StatefulSetFile {
    pod_name: Option<String>,
    service: Option<String>,
    namespace: Option<String>,
    replicas: Option<u64>,
    join_ca_file: Option<PathBuf>,
}

/// A pod of a StatefulSet, resolved.
#[derive(Debug, Clone, PartialEq)]
pub struct StatefulSet {
    /// The StatefulSet's name: the pod name without `-<ordinal>`.
    pub name: String,
    pub ordinal: u64,
    pub service: String,
    pub namespace: Option<String>,
    /// The founding replica count.
    pub replicas: u64,
    pub join_ca_file: Option<PathBuf>,
}

/// What a node's identity settings become: node id, initial cluster, advertised address.
pub type Identity = (Option<u64>, Option<String>, Option<String>);

impl StatefulSet {
    /// The mode's settings from flags (over the file); `None` when the mode is off.
    /// `hostname` is `$HOSTNAME`, the pod name's fallback.
    pub fn resolve(
        flags: StatefulSetFlags,
        file: Option<StatefulSetFile>,
        hostname: Option<String>,
    ) -> Result<Option<StatefulSet>, String> {
        if !flags.statefulset && file.is_none() {
            return Ok(None);
        }
        let file = file.unwrap_or_default();
        let pod = flags.pod_name.or(file.pod_name).or(hostname).ok_or(
            "statefulset: the pod name is unknown (set TRENT_POD_NAME, or HOSTNAME as Kubernetes does)",
        )?;
        let (name, ordinal) = split_pod_name(&pod)?;
        let service = flags.statefulset_service.or(file.service).ok_or(
            "statefulset_service: required in statefulset mode (the headless Service's name)",
        )?;
        check_dns_label("statefulset_service", &service)?;
        let namespace = flags.statefulset_namespace.or(file.namespace);
        if let Some(ns) = &namespace {
            check_dns_label("statefulset_namespace", ns)?;
        }
        let replicas = flags.statefulset_replicas.or(file.replicas).ok_or(
            "statefulset_replicas: required in statefulset mode (how many pods found the cluster)",
        )?;
        if replicas == 0 {
            return Err("statefulset_replicas: must be at least 1".into());
        }
        Ok(Some(StatefulSet {
            name,
            ordinal,
            service,
            namespace,
            replicas,
            join_ca_file: flags.join_ca_file.or(file.join_ca_file),
        }))
    }

    /// Joining and leaving call the members' client API: over TLS that needs the CA.
    pub fn check_tls(&self, api_tls: bool) -> Result<(), String> {
        match (api_tls, &self.join_ca_file) {
            (true, None) => Err("join_ca_file: required in statefulset mode when the API serves TLS (the CA that issued the members' API certificates)".into()),
            _ => Ok(()),
        }
    }

    pub fn node_id(&self) -> u64 {
        self.ordinal + 1
    }

    /// Founding members form the cluster; the others join it.
    pub fn is_founding(&self) -> bool {
        self.ordinal < self.replicas
    }

    /// The DNS name of the pod with `ordinal`.
    pub fn host(&self, ordinal: u64) -> String {
        let pod = format!("{}-{ordinal}.{}", self.name, self.service);
        match &self.namespace {
            Some(ns) => format!("{pod}.{ns}.svc"),
            None => pod,
        }
    }

    /// The founding members' DNS names, ordinal 0 first.
    pub fn founding_hosts(&self) -> Vec<String> {
        (0..self.replicas).map(|i| self.host(i)).collect()
    }

    /// Fills in the node id, initial cluster and advertised peer address, refusing any that
    /// was also configured by hand (two sources of identity are a mistake waiting to
    /// happen). A joining pod gets no initial cluster.
    pub fn identity(&self, peer_port: u16, configured: Identity) -> Result<Identity, String> {
        let (node_id, initial, advertise) = configured;
        for (set, setting) in [
            (node_id.is_some(), "node_id"),
            (initial.is_some(), "initial_cluster"),
            (advertise.is_some(), "peer_advertise"),
        ] {
            if set {
                return Err(format!(
                    "{setting}: not allowed in statefulset mode, which derives it from the pod name"
                ));
            }
        }
        let initial = self.is_founding().then(|| {
            (0..self.replicas)
                .map(|i| format!("{}={}:{peer_port}", i + 1, self.host(i)))
                .collect::<Vec<_>>()
                .join(",")
        });
        let advertise = format!("{}:{peer_port}", self.host(self.ordinal));
        Ok((Some(self.node_id()), initial, Some(advertise)))
    }
}

/// `trent-2` -> (`trent`, 2).
fn split_pod_name(pod: &str) -> Result<(String, u64), String> {
    let bad = || format!("statefulset: pod name '{pod}' is not <statefulset>-<ordinal>");
    let (name, ordinal) = pod.rsplit_once('-').ok_or_else(bad)?;
    let ordinal: u64 = ordinal.parse().map_err(|_| bad())?;
    if name.is_empty() {
        return Err(bad());
    }
    check_dns_label("statefulset: pod name", pod)?;
    Ok((name.to_owned(), ordinal))
}

/// Kubernetes object names used in DNS: lowercase letters, digits and dashes, at most 63.
fn check_dns_label(setting: &str, value: &str) -> Result<(), String> {
    let ok = !value.is_empty()
        && value.len() <= 63
        && value
            .bytes()
            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-')
        && !value.starts_with('-')
        && !value.ends_with('-');
    match ok {
        true => Ok(()),
        false => Err(format!(
            "{setting}: '{value}' is not a DNS label (lowercase letters, digits, dashes)"
        )),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn flags(pod: &str) -> StatefulSetFlags {
        StatefulSetFlags {
            statefulset: true,
            pod_name: Some(pod.into()),
            statefulset_service: Some("trent-peer".into()),
            statefulset_replicas: Some(3),
            ..StatefulSetFlags::default()
        }
    }

    fn resolve(f: StatefulSetFlags) -> Result<StatefulSet, String> {
        StatefulSet::resolve(f, None, None).map(Option::unwrap)
    }

    #[test]
    fn founding_pods_share_one_member_set_and_joiners_get_none() {
        let a = resolve(flags("trent-0")).unwrap();
        let c = resolve(flags("trent-2")).unwrap();
        let (id, initial, advertise) = c.identity(7701, (None, None, None)).unwrap();
        assert_eq!(id, Some(3));
        assert_eq!(advertise.as_deref(), Some("trent-2.trent-peer:7701"));
        let want = "1=trent-0.trent-peer:7701,2=trent-1.trent-peer:7701,3=trent-2.trent-peer:7701";
        assert_eq!(initial.as_deref(), Some(want));
        assert_eq!(a.identity(7701, (None, None, None)).unwrap().1, initial);
        let joiner = resolve(flags("trent-3")).unwrap();
        assert!(!joiner.is_founding());
        assert_eq!(
            joiner.identity(7701, (None, None, None)).unwrap(),
            (Some(4), None, Some("trent-3.trent-peer:7701".into()))
        );
    }

    #[test]
    fn the_namespace_qualifies_peer_names() {
        let s = resolve(StatefulSetFlags {
            statefulset_namespace: Some("kms".into()),
            ..flags("my-trent-1")
        })
        .unwrap();
        assert_eq!(s.name, "my-trent");
        assert_eq!(s.host(0), "my-trent-0.trent-peer.kms.svc");
    }

    #[test]
    fn the_mode_is_off_unless_asked_and_hostname_is_the_fallback() {
        let off = StatefulSet::resolve(StatefulSetFlags::default(), None, Some("x-1".into()));
        assert_eq!(off, Ok(None));
        let s = resolve(StatefulSetFlags {
            pod_name: None,
            ..flags("")
        });
        assert!(s.unwrap_err().contains("pod name is unknown"));
        let s = StatefulSet::resolve(
            StatefulSetFlags {
                pod_name: None,
                ..flags("")
            },
            None,
            Some("trent-1".into()),
        );
        assert_eq!(s.unwrap().unwrap().ordinal, 1);
    }

    #[test]
    fn errors_name_the_setting() {
        for (f, says) in [
            (flags("trent"), "is not <statefulset>-<ordinal>"),
            (flags("-1"), "is not <statefulset>-<ordinal>"),
            (flags("Trent-1"), "not a DNS label"),
            (
                StatefulSetFlags {
                    statefulset_service: None,
                    ..flags("trent-0")
                },
                "statefulset_service: required",
            ),
            (
                StatefulSetFlags {
                    statefulset_replicas: Some(0),
                    ..flags("trent-0")
                },
                "statefulset_replicas: must be",
            ),
            (
                StatefulSetFlags {
                    statefulset_namespace: Some("a.b".into()),
                    ..flags("trent-0")
                },
                "statefulset_namespace",
            ),
        ] {
            let err = resolve(f).unwrap_err();
            assert!(err.contains(says), "{says}: {err}");
        }
        let s = resolve(flags("trent-0")).unwrap();
        let err = s.identity(7701, (Some(1), None, None)).unwrap_err();
        assert!(err.starts_with("node_id: not allowed"), "{err}");
        let err = s
            .identity(7701, (None, None, Some("x:1".into())))
            .unwrap_err();
        assert!(err.starts_with("peer_advertise"), "{err}");
    }
}
