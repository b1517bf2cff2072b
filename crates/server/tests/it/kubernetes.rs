//! The Kubernetes manifests (deploy/kubernetes, and the PKCS#11 overlay deploy/kubernetes-pkcs11):
//! rendered as kustomize would and validated, strictly, against the Kubernetes schemas bundled
//! in `kubernetes-validate`, inside a network namespace with no network (so it truly works
//! offline); the offline renderer agrees with the real kustomize (kubectl's); and broken
//! copies fail, naming what is wrong, whether the schema, the rendering or one of trent's own
//! invariants is broken.

use std::path::{Path, PathBuf};
use std::process::Command;

use crate::interop::venv_python;

fn repo() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../..")
}

/// The kustomization directories under deploy/: the base and its sibling overlay (kustomize
/// refuses an overlay inside its base).
const KUSTOMIZATIONS: [&str; 2] = ["kubernetes", "kubernetes-pkcs11"];

/// `deploy/validate-kubernetes [extra] <dir>` with no network; returns (success, output).
fn validate_with(dir: &Path, extra: &[&str]) -> (bool, String) {
    let out = Command::new("unshare")
        .arg("--net")
        .arg(venv_python())
        .arg(repo().join("deploy/validate-kubernetes"))
        .args(extra)
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

fn validate(dir: &Path) -> (bool, String) {
    validate_with(dir, &[])
}

/// A copy of deploy/kubernetes and deploy/kubernetes-pkcs11, side by side as in the
/// repository.
fn copy_of_kustomizations() -> tempfile::TempDir {
    let dir = tempfile::tempdir().unwrap();
    for kustomization in KUSTOMIZATIONS {
        let copy = dir.path().join(kustomization);
        std::fs::create_dir(&copy).unwrap();
        for entry in std::fs::read_dir(repo().join("deploy").join(kustomization)).unwrap() {
            let path = entry.unwrap().path();
            std::fs::copy(&path, copy.join(path.file_name().unwrap())).unwrap();
        }
    }
    dir
}

/// A copy of the kustomizations with `from` replaced by `to` in `file` (relative to deploy/,
/// e.g. "kubernetes-pkcs11/statefulset.yaml"); answers the copy and the kustomization to
/// validate (the directory `file` is in).
fn broken(file: &str, from: &str, to: &str) -> (tempfile::TempDir, PathBuf) {
    let dir = copy_of_kustomizations();
    let path = dir.path().join(file);
    let text = std::fs::read_to_string(&path).unwrap();
    assert!(text.contains(from), "{file} has no '{from}'");
    std::fs::write(&path, text.replacen(from, to, 1)).unwrap();
    let kustomization = path.parent().unwrap().to_path_buf();
    (dir, kustomization)
}

fn assert_fails_saying(cases: &[(&str, &str, &str, &str)]) {
    for (file, from, to, says) in cases {
        let (_dir, kustomization) = broken(file, from, to);
        let (ok, text) = validate(&kustomization);
        assert!(!ok, "'{to}' in {file} passed: {text}");
        assert!(
            text.contains(says),
            "'{to}' in {file}: wanted '{says}' in: {text}"
        );
    }
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
    assert_fails_saying(&[
        // A schema violation: a port must be a number.
        (
            "kubernetes/statefulset.yaml",
            "containerPort: 7700",
            "containerPort: \"7700\"",
            "containerPort",
        ),
        // Strict validation: an unknown (misspelt) field is an error.
        (
            "kubernetes/poddisruptionbudget.yaml",
            "maxUnavailable: 1",
            "maxUnavailable: 1\n  maxUnavailabel: 2",
            "maxUnavailabel",
        ),
        // trent's invariants, which no schema knows.
        (
            "kubernetes/statefulset.yaml",
            "podManagementPolicy: Parallel",
            "podManagementPolicy: OrderedReady",
            "podManagementPolicy must be Parallel",
        ),
        (
            "kubernetes/services.yaml",
            "publishNotReadyAddresses: true",
            "publishNotReadyAddresses: false",
            "not-ready addresses",
        ),
        (
            "kubernetes/statefulset.yaml",
            "value: \"3\"",
            "value: \"4\"",
            "TRENT_STATEFULSET_REPLICAS",
        ),
        (
            "kubernetes/statefulset.yaml",
            "readOnlyRootFilesystem: true",
            "readOnlyRootFilesystem: false",
            "read-only root",
        ),
        (
            "kubernetes/statefulset.yaml",
            "defaultMode: 0440",
            "defaultMode: 0444",
            "defaultMode 0444 lets others read it",
        ),
        (
            "kubernetes/statefulset.yaml",
            "                path: secret-access-key",
            "                path: secret-access-key\n                mode: 0644",
            "item secret-access-key mode 0644 lets others read it",
        ),
        (
            "kubernetes/statefulset.yaml",
            "            - name: TRENT_DOMAIN_KEY_FILE\n              value: /etc/trent/domain-key/domain-key\n",
            "",
            "without TRENT_HSM=pkcs11 trentd needs TRENT_DOMAIN_KEY_FILE",
        ),
        (
            "kubernetes/kustomization.yaml",
            "resources:",
            "commonAnnotations: {a: b}\nresources:",
            "commonAnnotations",
        ),
    ]);
}

#[test]
fn the_pkcs11_overlay_validates_offline() {
    let (ok, text) = validate(&repo().join("deploy/kubernetes-pkcs11"));
    assert!(ok, "{text}");
    for kind in [
        "Namespace/trent",
        "Service/trent-peer",
        "Service/trent",
        "StatefulSet/trent",
        "PodDisruptionBudget/trent",
        "ConfigMap/trent-pkcs11-config",
    ] {
        assert!(text.contains(kind), "{kind} not rendered: {text}");
    }
}

/// The offline renderer is only as good as its likeness to kustomize: both kustomizations
/// render exactly as `kubectl kustomize` renders them (the order of a patched list included,
/// on which Kubernetes' $(VAR) expansion depends). kubectl is no Debian package: on a machine
/// without it (or kustomize) this comparison says so and checks nothing more; the offline
/// validation above runs everywhere.
#[test]
fn the_offline_renderer_renders_as_kustomize_does() {
    let on_path = |tool: &str| {
        std::process::Command::new("sh")
            .args(["-c", &format!("command -v {tool}")])
            .output()
            .is_ok_and(|o| o.status.success())
    };
    if !on_path("kubectl") && !on_path("kustomize") {
        eprintln!("neither kubectl nor kustomize is installed: not compared with kustomize");
        return;
    }
    for kustomization in KUSTOMIZATIONS {
        let dir = repo().join("deploy").join(kustomization);
        let (ok, text) = validate_with(&dir, &["--against-kustomize"]);
        assert!(ok, "{kustomization}: {text}");
        assert!(
            text.contains("rendered as kustomize renders them"),
            "{kustomization}: {text}"
        );
    }
}

#[test]
fn a_broken_pkcs11_overlay_fails_naming_the_problem() {
    let set_env = "            - name: TRENT_HSM\n";
    assert_fails_saying(&[
        // The PIN in the environment, literally or from the Secret.
        (
            "kubernetes-pkcs11/statefulset.yaml",
            set_env,
            "            - name: TRENT_PKCS11_PIN\n              value: \"1234\"\n            - name: TRENT_HSM\n",
            "env TRENT_PKCS11_PIN: the PKCS#11 PIN must come from a mounted Secret file",
        ),
        (
            "kubernetes-pkcs11/statefulset.yaml",
            set_env,
            "            - name: HSM_PIN\n              valueFrom: {secretKeyRef: {name: trent-pkcs11, key: pin}}\n            - name: TRENT_HSM\n",
            "env HSM_PIN: the PKCS#11 PIN must come from a mounted Secret file",
        ),
        // The domain key left in: its variable, its Secret volume.
        (
            "kubernetes-pkcs11/statefulset.yaml",
            "            - name: TRENT_DOMAIN_KEY_FILE\n              $patch: delete\n",
            "",
            "with TRENT_HSM=pkcs11 the domain key must go: trentd refuses TRENT_DOMAIN_KEY_FILE",
        ),
        (
            "kubernetes-pkcs11/statefulset.yaml",
            "        - name: domain-key\n          $patch: delete\n",
            "",
            "the domain key's Secret volume domain-key must go",
        ),
        // The PIN's Secret: others may read it, it is writable, the file is elsewhere.
        (
            "kubernetes-pkcs11/statefulset.yaml",
            "            defaultMode: 0440",
            "            defaultMode: 0444",
            "secret volume pkcs11-pin: defaultMode 0444 lets others read it",
        ),
        (
            "kubernetes-pkcs11/statefulset.yaml",
            "              mountPath: /etc/trent/pkcs11\n              readOnly: true\n",
            "              mountPath: /etc/trent/pkcs11\n",
            "the PIN's Secret volume pkcs11-pin must be mounted read-only",
        ),
        (
            "kubernetes-pkcs11/statefulset.yaml",
            "value: /etc/trent/pkcs11/pin",
            "value: /etc/trent/pkcs11-config/pin",
            "TRENT_PKCS11_PIN_FILE /etc/trent/pkcs11-config/pin is in no Secret volume's mount",
        ),
        (
            "kubernetes-pkcs11/statefulset.yaml",
            "value: /etc/trent/pkcs11/pin",
            "value: /etc/trent/pkcs11/user-pin",
            "has no item at 'user-pin'",
        ),
        // No token named, or a label Kubernetes would not expand (a patch's new variables
        // come before the base's).
        (
            "kubernetes-pkcs11/statefulset.yaml",
            "            - name: TRENT_PKCS11_MODULE\n",
            "            - name: TRENT_PKCS11_MODULE_PATH\n",
            "TRENT_HSM=pkcs11 needs TRENT_PKCS11_MODULE",
        ),
        (
            "kubernetes-pkcs11/statefulset.yaml",
            "              valueFrom:\n                fieldRef:\n                  fieldPath: metadata.name\n",
            "              value: $(TRENT_POD_NAME)\n",
            "env TRENT_PKCS11_TOKEN_LABEL refers to $(TRENT_POD_NAME), which is not defined before it",
        ),
        // What the renderer does not know, or kustomize refuses, is an error.
        (
            "kubernetes-pkcs11/kustomization.yaml",
            "    target:",
            "    options: {allowNameChange: true}\n    target:",
            "this renderer knows only entries with `path`",
        ),
        (
            "kubernetes-pkcs11/kustomization.yaml",
            "      name: trent\n",
            "      name: trentd\n",
            "no resource matches",
        ),
        (
            "kubernetes-pkcs11/kustomization.yaml",
            "  - path: statefulset.yaml",
            "  - path: ../kubernetes/statefulset.yaml",
            "is outside the kustomization's directory",
        ),
        (
            "kubernetes-pkcs11/statefulset.yaml",
            "          volumeMounts:\n",
            "          ports:\n            - containerPort: 7702\n          volumeMounts:\n",
            "how kustomize merges the list 'ports' is not known",
        ),
        (
            "kubernetes-pkcs11/statefulset.yaml",
            "              $patch: delete",
            "              $patch: replace",
            "`$patch: replace` is not known",
        ),
    ]);
}

/// Layouts kustomize refuses are refused offline too: an overlay inside its base (kustomize:
/// "cycle detected"), and a JSON 6902 patch, which this renderer does not apply.
#[test]
fn overlay_layouts_kustomize_refuses_are_refused() {
    let dir = copy_of_kustomizations();
    let inside = dir.path().join("kubernetes/pkcs11");
    std::fs::rename(dir.path().join("kubernetes-pkcs11"), &inside).unwrap();
    let kustomization = inside.join("kustomization.yaml");
    let text = std::fs::read_to_string(&kustomization).unwrap();
    std::fs::write(
        &kustomization,
        text.replace("  - ../kubernetes\n", "  - ..\n"),
    )
    .unwrap();
    let (ok, text) = validate(&inside);
    assert!(!ok && text.contains("cycle detected"), "{text}");

    let (_dir, overlay) = broken(
        "kubernetes-pkcs11/kustomization.yaml",
        "  - path: statefulset.yaml",
        "  - path: ops.yaml",
    );
    std::fs::write(
        overlay.join("ops.yaml"),
        "- op: remove\n  path: /spec/template/spec/volumes/0\n",
    )
    .unwrap();
    let (ok, text) = validate(&overlay);
    assert!(!ok && text.contains("not JSON 6902 operations"), "{text}");
}
