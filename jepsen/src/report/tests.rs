use crate::check::testkit::*;
use crate::check::{check_all, CheckConfig, Verdict};
use crate::history::{KeyAction, KeyState};

use super::{write_report, RunMeta};

fn meta() -> RunMeta {
    RunMeta {
        command: "trent-jepsen test --nodes 5 --nemesis partition,kill".into(),
        nodes: 5,
        nemeses: vec!["partition".into(), "kill".into()],
        time_limit_secs: 60,
        started_at: "2026-05-01T12:00:00Z".into(),
    }
}

/// Ten seconds of reads and writes, a partition from 2 s to 5 s and a kill never healed, and
/// a stale read so that one verdict is Invalid.
fn history() -> History {
    let mut h = History::new();
    h.fault(2000, Some(5000), "partition", &[1, 2], true);
    h.fault(7000, None, "kill", &[3], false);
    for i in 0..100u64 {
        let t = i * 100;
        match i % 4 {
            0 => h.ok(1, t, t + 7, key_read("k1", Some(Ok(KeyState::Enabled)))),
            1 => h.fail(2, t, t + 3, key_read("k1", None)),
            2 => h.info(3, t, Some(t + 90), key_write("k2", KeyAction::Enable, None)),
            _ => h.ok(4, t, t + 20, create_key(Some(Ok("new")))),
        };
    }
    h.ok(5, 9_000, 9_010, key_write("k1", KeyAction::Disable, done()));
    h.ok(5, 9_100, 9_110, key_read("k1", Some(Ok(KeyState::Enabled))));
    h
}

#[test]
fn the_report_is_one_self_contained_page_with_plots_faults_and_verdicts() {
    let entries = history().build();
    let verdicts = check_all(&entries, &CheckConfig::default());
    let dir = tempfile::tempdir().unwrap();
    write_report(dir.path(), &entries, &verdicts, &meta()).unwrap();
    let html = std::fs::read_to_string(dir.path().join("report.html")).unwrap();

    assert_eq!(
        html.matches("<svg").count(),
        2,
        "a latency and a throughput plot"
    );
    for v in &verdicts {
        assert!(
            html.contains(&format!(">{}</a>", v.checker)),
            "verdict row for {}",
            v.checker
        );
    }
    assert!(
        html.contains(r#"<span class="badge invalid">INVALID</span>"#),
        "the stale read is flagged"
    );
    assert!(
        html.contains("DescribeKey k1 -&gt; Enabled"),
        "the anomaly is listed, escaped"
    );
    // Both faults shaded in both plots, the partition from 2 s to 5 s.
    assert_eq!(html.matches(r#"class="band""#).count(), 4);
    assert!(html.contains(r#"<g class="fault f-partition"><title>partition on nodes [1, 2]"#));
    assert!(html.contains("(2.0s to 5.0s)"));
    assert!(html.contains("latency (ms, log scale)") && html.contains("completed ops/s"));
    assert!(html.contains("trent-jepsen test --nodes 5"));
    assert!(!html.contains("<script") && !html.contains("<link") && !html.contains("@import"));
    assert_eq!(
        html.matches("http").count(),
        html.matches("http://www.w3.org/2000/svg").count()
    );

    let json = std::fs::read(dir.path().join("verdicts.json")).unwrap();
    let back: Vec<Verdict> = serde_json::from_slice(&json).unwrap();
    assert_eq!(back.len(), verdicts.len());
    assert_eq!(back[0].validity, verdicts[0].validity);
}

#[test]
fn text_from_the_history_is_escaped() {
    let mut h = History::new();
    h.fault(0, Some(10), "<script>", &[1], true);
    let entries = h.build();
    let html = super::render(
        &entries,
        &check_all(&entries, &CheckConfig::default()),
        &meta(),
    );
    assert!(!html.contains("<script>"));
    assert!(html.contains("&lt;script&gt;"));
}

#[test]
fn an_empty_history_still_renders() {
    let html = super::render(&[], &[], &meta());
    assert_eq!(html.matches("<svg").count(), 2);
    assert!(html.contains("No faults were injected."));
}
