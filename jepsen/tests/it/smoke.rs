//! The smoke run the test command includes: three nemeses, three nodes, about a minute.

use crate::*;

#[test]
fn a_short_run_under_partitions_kills_wipes_and_leader_moves_passes_every_checker() {
    // Four faults of 6 s, each after 3 s of health, fit in 45 s whichever comes first.
    let run = run_three_nodes(&[
        "--nemesis",
        "partition,kill,wipe,transfer-leader",
        "--time-limit",
        "45",
        "--interval",
        "3",
        "--fault-duration",
        "6",
        // Snapshots every 200 entries, 50 kept: a wiped or killed node that falls behind
        // catches up by snapshot and fetches the audit trail before it from its peers, which
        // the audit-trail checker then covers.
        "--trentd-arg=--snapshot-after-logs=200",
        "--trentd-arg=--logs-to-keep=50",
    ]);
    let (out, code) = (&run.out, run.code);
    let verdicts = verdicts(out);
    assert_eq!(
        code,
        0,
        "a checker failed: {verdicts:?} (see {})",
        out.display()
    );
    assert_valid(
        &verdicts,
        &[
            "key-state",
            "alias",
            "use-after-disable",
            "creation-set",
            "ciphertext-durability",
            "acknowledged-writes",
            "authorization",
            "signatures",
            "availability",
            "node-crashes",
            "wiped-stays-out",
            "audit-trail",
        ],
    );
    // Every nemesis really acted, and every workload really ran.
    assert_faults_started(out, &["partition", "kill", "wipe", "transfer-leader"]);
    let ops = history_lines(out, "op");
    for f in [
        "key-write",
        "key-read",
        "key-use",
        "alias-write",
        "alias-read",
        "encrypt",
        "generate-data-key",
        "rotate-key",
        "decrypt",
        "create-key",
        "list-keys",
        "create-grant",
        "revoke-grant",
        "put-key-policy",
        "grantee-encrypt",
        "sign",
        "verify",
        "get-public-key",
    ] {
        assert!(
            ops.iter().any(|o| o["op"]["f"] == f && o["kind"] == "ok"),
            "no successful {f} in the history"
        );
    }
    // Tampered signatures were tried, and refused.
    assert!(
        ops.iter().any(|o| o["op"]["f"] == "verify"
            && o["op"]["tampered"] == true
            && o["op"]["valid"]["Err"] == "KMSInvalidSignatureException"),
        "no refused tampered signature in the history"
    );
    // The durable keys were rotated under the faults: the ciphertexts decrypted at the end
    // were sealed under more than one material version.
    let text = std::fs::read_to_string(out.join("verdicts.json")).unwrap();
    let verdicts: Vec<serde_json::Value> = serde_json::from_str(&text).unwrap();
    let durability = verdicts
        .iter()
        .find(|v| v["checker"] == "ciphertext-durability")
        .unwrap();
    let versions = &durability["stats"]["ciphertexts_by_material_version"];
    assert!(
        versions.as_object().is_some_and(|v| v.len() > 1),
        "every ciphertext under one material version: {durability}"
    );
    // Whether a node fetched the trail this run (which fault hits when decides it).
    let fetched: Vec<String> = std::fs::read_dir(out)
        .unwrap()
        .filter_map(|e| std::fs::read_to_string(e.ok()?.path().join("trentd.log")).ok())
        .flat_map(|log| {
            let lines = log.lines().filter(|l| l.contains("audit trail complete"));
            lines.map(str::to_owned).collect::<Vec<_>>()
        })
        .collect();
    eprintln!("audit backfills in this run: {fetched:?}");
    let report = std::fs::read_to_string(out.join("report.html")).unwrap();
    assert!(report.contains("<svg"), "the report has plots");
}
