//! The Kubernetes manifests (deploy/kubernetes): rendered as kustomize would and validated,
//! strictly, against the Kubernetes schemas bundled in `kubernetes-validate`, inside a
//! network namespace with no network (so it truly works offline); and broken copies fail,
//! naming what is wrong, whether the schema or one of trent's own invariants is broken.

use std::path::{Path, PathBuf};
use std::process::Command;

use crate::interop::venv_python;

fn repo() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../..")
}

/// `deploy/validate-kubernetes <dir>` with no network; returns (success, output).
fn validate(dir: &Path) -> (bool, String) {
    let out = Command::new("unshare")
        .arg("--net")
        .arg(venv_python())
        .arg(repo().join("deploy/validate-kubernetes"))
        .arg(dir)
        .output()
        .expect("unshare (util-linux) and root");
    let text = format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    (out.status.success(), text)
}

/// A copy of deploy/kubernetes with `from` replaced by `to` in `file`.
fn broken(file: &str, from: &str, to: &str) -> tempfile::TempDir {
    let dir = tempfile::tempdir().unwrap();
    for entry in std::fs::read_dir(repo().join("deploy/kubernetes")).unwrap() {
        let path = entry.unwrap().path();
        std::fs::copy(&path, dir.path().join(path.file_name().unwrap())).unwrap();
    }
    let path = dir.path().join(file);
    let text = std::fs::read_to_string(&path).unwrap();
    assert!(text.contains(from), "{file} has no '{from}'");
    std::fs::write(&path, text.replacen(from, to, 1)).unwrap();
    dir
}

#[test]
fn the_kubernetes_manifests_validate_offline() {
    let (ok, text) = validate(&repo().join("deploy/kubernetes"));
    assert!(ok, "{text}");
    for kind in [
        "Namespace/trent",
        "Service/trent-peer",
        "Service/trent",
        "StatefulSet/trent",
        "PodDisruptionBudget/trent",
    ] {
        assert!(text.contains(kind), "{kind} not rendered: {text}");
    }
}

#[test]
fn broken_manifests_fail_naming_the_problem() {
    for (file, from, to, says) in [
        // A schema violation: a port must be a number.
        (
            "statefulset.yaml",
            "containerPort: 7700",
            "containerPort: \"7700\"",
            "containerPort",
        ),
        // Strict validation: an unknown (misspelt) field is an error.
        (
            "poddisruptionbudget.yaml",
            "maxUnavailable: 1",
            "maxUnavailable: 1\n  maxUnavailabel: 2",
            "maxUnavailabel",
        ),
        // trent's invariants, which no schema knows.
        (
            "statefulset.yaml",
            "podManagementPolicy: Parallel",
            "podManagementPolicy: OrderedReady",
            "podManagementPolicy must be Parallel",
        ),
        (
            "services.yaml",
            "publishNotReadyAddresses: true",
            "publishNotReadyAddresses: false",
            "not-ready addresses",
        ),
        (
            "statefulset.yaml",
            "value: \"3\"",
            "value: \"4\"",
            "TRENT_STATEFULSET_REPLICAS",
        ),
        (
            "statefulset.yaml",
            "readOnlyRootFilesystem: true",
            "readOnlyRootFilesystem: false",
            "read-only root",
        ),
        (
            "statefulset.yaml",
            "defaultMode: 0440",
            "defaultMode: 0444",
            "defaultMode 0444 lets others read it",
        ),
        (
            "kustomization.yaml",
            "resources:",
            "commonAnnotations: {a: b}\nresources:",
            "commonAnnotations",
        ),
    ] {
        let dir = broken(file, from, to);
        let (ok, text) = validate(dir.path());
        assert!(!ok, "'{to}' in {file} passed: {text}");
        assert!(
            text.contains(says),
            "'{to}' in {file}: wanted '{says}' in: {text}"
        );
    }
}
