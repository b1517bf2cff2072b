//! The run's report: `report.html`, one self-contained page (inline CSS and SVG, nothing
//! fetched: the machines that run the harness have no internet) with the run's metadata, the
//! checkers' verdicts, latency and throughput over time with the faults shaded, the fault
//! events and every checker's anomalies; and `verdicts.json`, the verdicts for machines.

mod plots;
mod svg;

use std::fmt::Write;
use std::path::Path;

use serde::{Deserialize, Serialize};

use crate::check::availability::{fault_intervals, FaultInterval};
use crate::check::{fmt_time, Validity, Verdict};
use crate::history::{completed, Entry};

/// What was run, for the report's header.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct RunMeta {
    pub command: String,
    pub nodes: usize,
    pub nemeses: Vec<String>,
    pub time_limit_secs: u64,
    /// RFC 3339.
    pub started_at: String,
}

/// Writes `dir/report.html` and `dir/verdicts.json`.
pub fn write_report(
    dir: &Path,
    entries: &[Entry],
    verdicts: &[Verdict],
    meta: &RunMeta,
) -> std::io::Result<()> {
    std::fs::create_dir_all(dir)?;
    let json = serde_json::to_vec_pretty(verdicts).map_err(std::io::Error::other)?;
    std::fs::write(dir.join("verdicts.json"), json)?;
    std::fs::write(dir.join("report.html"), render(entries, verdicts, meta))
}

/// The whole page.
pub fn render(entries: &[Entry], verdicts: &[Verdict], meta: &RunMeta) -> String {
    let ops = completed(entries);
    let faults = fault_intervals(entries);
    let end = end_seconds(entries);
    let overall = overall(verdicts);
    let mut page = String::with_capacity(1 << 20);
    let _ = write!(
        page,
        r#"<!doctype html><html lang="en"><head><meta charset="utf-8"><meta name="viewport" content="width=device-width, initial-scale=1"><title>trent chaos run: {}</title><style>{STYLE}</style></head><body>"#,
        validity_word(overall)
    );
    let _ = write!(page, r#"<h1>trent chaos run {}</h1>"#, badge(overall));
    metadata(&mut page, meta, ops.len(), faults.len(), end);
    verdict_table(&mut page, verdicts);
    page.push_str("<h2>Latency</h2><p class=\"note\">Each completed operation at its invocation time. Shaded: faults.</p>");
    page.push_str(&plots::latency(&ops, &faults, end));
    page.push_str("<h2>Throughput</h2><p class=\"note\">Operations completed per second, stacked by outcome. Shaded: faults.</p>");
    page.push_str(&plots::throughput(&ops, &faults, end));
    fault_table(&mut page, &faults);
    anomalies(&mut page, verdicts);
    statistics(&mut page, verdicts);
    page.push_str("</body></html>\n");
    page
}

/// The last instant in the history, in seconds (at least one).
fn end_seconds(entries: &[Entry]) -> f64 {
    let last = entries
        .iter()
        .map(|e| match e {
            Entry::Op(o) => o.time,
            Entry::Nemesis(n) => n.time,
        })
        .max()
        .unwrap_or(0);
    (last as f64 / 1e9).max(1.0)
}

/// Invalid if any checker says so, else Unknown if any cannot tell, else Valid.
fn overall(verdicts: &[Verdict]) -> Validity {
    let any = |v: Validity| verdicts.iter().any(|x| x.validity == v);
    if any(Validity::Invalid) {
        Validity::Invalid
    } else if any(Validity::Unknown) {
        Validity::Unknown
    } else {
        Validity::Valid
    }
}

fn validity_word(v: Validity) -> &'static str {
    match v {
        Validity::Valid => "valid",
        Validity::Invalid => "invalid",
        Validity::Unknown => "unknown",
    }
}

fn badge(v: Validity) -> String {
    let word = validity_word(v);
    format!(
        r#"<span class="badge {word}">{}</span>"#,
        word.to_uppercase()
    )
}

fn metadata(page: &mut String, meta: &RunMeta, ops: usize, faults: usize, end: f64) {
    let nemeses = if meta.nemeses.is_empty() {
        "none".to_string()
    } else {
        meta.nemeses.join(", ")
    };
    let rows = [
        ("command", format!("<code>{}</code>", escape(&meta.command))),
        ("started at", escape(&meta.started_at)),
        ("nodes", meta.nodes.to_string()),
        ("nemeses", escape(&nemeses)),
        ("time limit", format!("{} s", meta.time_limit_secs)),
        (
            "history",
            format!("{ops} operations, {faults} faults over {end:.1} s"),
        ),
    ];
    page.push_str(r#"<table class="meta">"#);
    for (k, v) in rows {
        let _ = write!(page, "<tr><th>{k}</th><td>{v}</td></tr>");
    }
    page.push_str("</table>");
}

fn verdict_table(page: &mut String, verdicts: &[Verdict]) {
    page.push_str(r#"<h2>Verdicts</h2><table class="verdicts"><tr><th>checker</th><th>verdict</th><th>summary</th><th>anomalies</th></tr>"#);
    for v in verdicts {
        let count = v
            .stats
            .get("anomalies")
            .and_then(|a| a.as_u64())
            .unwrap_or(v.anomalies.len() as u64);
        let _ = write!(
            page,
            r##"<tr class="{}"><td><a href="#{}">{}</a></td><td>{}</td><td>{}</td><td class="num">{count}</td></tr>"##,
            validity_word(v.validity),
            anchor(&v.checker),
            escape(&v.checker),
            badge(v.validity),
            escape(&v.summary)
        );
    }
    page.push_str("</table>");
}

fn fault_table(page: &mut String, faults: &[FaultInterval]) {
    page.push_str("<h2>Faults</h2>");
    if faults.is_empty() {
        page.push_str("<p>No faults were injected.</p>");
        return;
    }
    page.push_str(r#"<table class="faults"><tr><th>#</th><th>fault</th><th>nodes</th><th>what</th><th>start</th><th>stop</th><th>duration</th><th>majority healthy</th></tr>"#);
    for (i, f) in faults.iter().enumerate() {
        let nodes: Vec<String> = f.nodes.iter().map(u64::to_string).collect();
        let (stop, duration) = match f.stop {
            Some(s) => (fmt_time(s), fmt_time(s.saturating_sub(f.start))),
            None => ("(still active)".into(), "".into()),
        };
        let _ = write!(
            page,
            r#"<tr><td class="num">{}</td><td><span class="swatch {}"></span>{}</td><td>{}</td><td>{}</td><td class="num">{}</td><td class="num">{stop}</td><td class="num">{duration}</td><td>{}</td></tr>"#,
            i + 1,
            svg::fault_class(&f.fault),
            escape(&f.fault),
            nodes.join(", "),
            escape(&f.detail),
            fmt_time(f.start),
            if f.majority_healthy { "yes" } else { "no" }
        );
    }
    page.push_str("</table>");
}

fn anomalies(page: &mut String, verdicts: &[Verdict]) {
    page.push_str("<h2>Anomalies</h2>");
    for v in verdicts {
        let _ = write!(
            page,
            r#"<h3 id="{}">{} {}</h3>"#,
            anchor(&v.checker),
            escape(&v.checker),
            badge(v.validity)
        );
        if v.anomalies.is_empty() {
            page.push_str(r#"<p class="note">None.</p>"#);
            continue;
        }
        page.push_str(r#"<ol class="anomalies">"#);
        for a in &v.anomalies {
            let _ = write!(page, "<li>{}</li>", escape(a));
        }
        page.push_str("</ol>");
        let total = v
            .stats
            .get("anomalies")
            .and_then(|a| a.as_u64())
            .unwrap_or(0);
        if total > v.anomalies.len() as u64 {
            let _ = write!(
                page,
                r#"<p class="note">… and {} more.</p>"#,
                total - v.anomalies.len() as u64
            );
        }
    }
}

fn statistics(page: &mut String, verdicts: &[Verdict]) {
    page.push_str("<h2>Statistics</h2>");
    for v in verdicts {
        let stats = serde_json::to_string_pretty(&v.stats).unwrap_or_default();
        let _ = write!(
            page,
            "<details><summary>{}</summary><pre>{}</pre></details>",
            escape(&v.checker),
            escape(&stats)
        );
    }
}

fn anchor(checker: &str) -> String {
    let slug: String = checker
        .chars()
        .map(|c| if c.is_ascii_alphanumeric() { c } else { '-' })
        .collect();
    format!("checker-{slug}")
}

/// Escapes text for HTML content and attribute values.
pub(crate) fn escape(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for c in s.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&#39;"),
            c => out.push(c),
        }
    }
    out
}

const STYLE: &str = r#"
body{font:14px/1.45 system-ui,-apple-system,"Segoe UI",Roboto,Helvetica,Arial,sans-serif;color:#1d2433;margin:24px auto;max-width:1020px;padding:0 16px;background:#fafbfc}
h1{font-size:24px;margin:0 0 12px}h2{font-size:18px;margin:28px 0 8px;border-bottom:1px solid #e3e6ea;padding-bottom:4px}h3{font-size:15px;margin:16px 0 6px}
table{border-collapse:collapse;background:#fff;margin:6px 0}th,td{border:1px solid #e3e6ea;padding:4px 8px;text-align:left;vertical-align:top}th{background:#f2f4f7;font-weight:600}
td.num{text-align:right;font-variant-numeric:tabular-nums;white-space:nowrap}.meta th{width:110px}
code,pre{font:12px/1.4 ui-monospace,SFMono-Regular,Menlo,Consolas,monospace}pre{background:#fff;border:1px solid #e3e6ea;padding:8px;overflow:auto}
.badge{display:inline-block;padding:1px 8px;border-radius:10px;font-size:12px;font-weight:700;color:#fff;vertical-align:middle}
.badge.valid{background:#2a9d4b}.badge.invalid{background:#d1352b}.badge.unknown{background:#8a94a3}
tr.valid td:first-child{border-left:4px solid #2a9d4b}tr.invalid td:first-child{border-left:4px solid #d1352b}tr.unknown td:first-child{border-left:4px solid #8a94a3}
tr.invalid{background:#fff4f3}.note{color:#5b6577;margin:4px 0}ol.anomalies li{margin:3px 0;font-size:13px}
svg.chart{display:block;background:#fff;border:1px solid #e3e6ea;max-width:100%;height:auto;font-family:system-ui,-apple-system,"Segoe UI",Roboto,Helvetica,Arial,sans-serif}
.swatch{display:inline-block;width:10px;height:10px;border-radius:2px;margin-right:6px;opacity:.7}
"#;

#[cfg(test)]
mod tests;
