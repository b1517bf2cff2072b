//! The report's two plots over the run's timeline, fault intervals shaded: latency of every
//! completed operation (log scale, colour = outcome, shape = workload) and completions per
//! second (stacked by outcome).

use std::fmt::Write;

use crate::check::availability::FaultInterval;
use crate::history::{Completed, Kind, Op};

use super::svg::{fault_lanes, nice_ceiling, Frame};

const WIDTH: f64 = 980.0;
const HEIGHT: f64 = 340.0;
/// Above this many successful operations the latency plot shows an even sample of them
/// (failures and unknown outcomes are always all shown).
const MAX_OK_POINTS: usize = 20_000;

const WORKLOADS: [&str; 7] = [
    "key state",
    "alias",
    "ciphertexts",
    "creation set",
    "deletion schedule",
    "authorization",
    "signing",
];
const OUTCOMES: [(&str, &str); 3] = [
    ("ok", "ok"),
    ("fail", "failed"),
    ("info", "unknown (timeout)"),
];

fn workload(op: &Op) -> usize {
    match op {
        Op::KeyWrite { .. } | Op::KeyRead { .. } | Op::KeyUse { .. } => 0,
        Op::AliasWrite { .. } | Op::AliasRead { .. } => 1,
        Op::Encrypt { .. }
        | Op::GenerateDataKey { .. }
        | Op::Decrypt { .. }
        | Op::RotateKey { .. } => 2,
        Op::CreateKey { .. } | Op::ListKeys { .. } => 3,
        Op::ScheduleDeletion { .. } | Op::DeletionRead { .. } => 4,
        Op::CreateGrant { .. }
        | Op::RevokeGrant { .. }
        | Op::PutKeyPolicy { .. }
        | Op::GranteeEncrypt { .. } => 5,
        Op::Sign { .. } | Op::Verify { .. } | Op::GetPublicKey { .. } => 6,
    }
}

fn outcome(kind: Kind) -> usize {
    match kind {
        Kind::Ok => 0,
        Kind::Fail => 1,
        Kind::Info | Kind::Invoke => 2,
    }
}

/// The marker of each workload, centred on the origin.
fn marker(workload: usize) -> &'static str {
    [
        r#"<circle r="2.4"/>"#,
        r#"<rect x="-2.2" y="-2.2" width="4.4" height="4.4"/>"#,
        r#"<polygon points="0,-2.9 2.7,2 -2.7,2"/>"#,
        r#"<polygon points="0,-3.1 3.1,0 0,3.1 -3.1,0"/>"#,
        r#"<polygon points="0,2.9 2.7,-2 -2.7,-2"/>"#,
        r#"<polygon points="-3,0 -1.5,-2.6 1.5,-2.6 3,0 1.5,2.6 -1.5,2.6"/>"#,
        r#"<path d="M-3,-1 H3 V1 H-3 Z M-1,-3 H1 V3 H-1 Z"/>"#,
    ][workload]
}

fn seconds(t: u64) -> f64 {
    t as f64 / 1e9
}

/// Latency (ms, log scale) of each completed operation at its invocation time.
pub fn latency(ops: &[Completed], faults: &[FaultInterval], end: f64) -> String {
    let done: Vec<(&Completed, f64)> = ops
        .iter()
        .filter_map(|c| {
            c.complete
                .map(|t| (c, (t.saturating_sub(c.invoke)) as f64 / 1e6))
        })
        .collect();
    let oks = done.iter().filter(|(c, _)| c.kind == Kind::Ok).count();
    let every = oks.div_ceil(MAX_OK_POINTS).max(1);
    let (lo, hi) = done.iter().fold((f64::MAX, 0f64), |(lo, hi), (_, ms)| {
        (lo.min(*ms), hi.max(*ms))
    });
    let (lo, hi) = if done.is_empty() {
        (1.0, 1000.0)
    } else {
        (lo.max(0.01), hi.max(0.01))
    };
    // Headroom above the slowest, so that timeouts do not sit on the frame.
    let y = (
        10f64.powf(lo.log10().floor()),
        nice_ceiling(hi * 1.3).max(10.0 * lo),
    );
    let rows = label_rows(faults, end);
    let frame = Frame::new("latency", (WIDTH, HEIGHT), (0.0, end), (y, true), rows);
    let mut out = String::new();
    frame.open(&mut out, "latency of each operation over time");
    out.push_str("<defs>");
    for w in 0..WORKLOADS.len() {
        let _ = write!(out, r#"<g id="m{w}">{}</g>"#, marker(w));
    }
    out.push_str("</defs>");
    frame.fault_bands(&mut out, faults, end);
    frame.axes(&mut out, "time since start (s)", "latency (ms, log scale)");
    frame.clipped(&mut out);
    let mut ok_seen = 0;
    // Successes first so that failures and timeouts are drawn on top.
    for (c, ms) in done
        .iter()
        .filter(|(c, _)| c.kind == Kind::Ok)
        .chain(done.iter().filter(|(c, _)| c.kind != Kind::Ok))
    {
        if c.kind == Kind::Ok {
            ok_seen += 1;
            if ok_seen % every != 0 {
                continue;
            }
        }
        let (px, py) = (frame.x.map(seconds(c.invoke)), frame.y.map(*ms));
        let class = OUTCOMES[outcome(c.kind)].0;
        let _ = write!(
            out,
            r##"<use href="#m{}" x="{px:.1}" y="{py:.1}" class="pt {class}"/>"##,
            workload(&c.op)
        );
    }
    out.push_str("</g>");
    let mut legend = outcome_legend("pt");
    let present: Vec<usize> = (0..WORKLOADS.len())
        .filter(|w| done.iter().any(|(c, _)| workload(&c.op) == *w))
        .collect();
    for w in present {
        legend.push((
            format!(
                r#"<g class="pt shape" transform="scale(1.4)">{}</g>"#,
                marker(w)
            ),
            WORKLOADS[w].to_string(),
        ));
    }
    if every > 1 {
        legend.push((String::new(), format!("(1 in {every} successes shown)")));
    }
    frame.legend(&mut out, &legend);
    frame.close(&mut out);
    out
}

fn outcome_legend(class: &str) -> Vec<(String, String)> {
    OUTCOMES
        .iter()
        .map(|(c, text)| {
            (
                format!(r#"<rect class="{class} {c}" x="-4" y="-4" width="8" height="8"/>"#),
                text.to_string(),
            )
        })
        .collect()
}

fn label_rows(faults: &[FaultInterval], end: f64) -> usize {
    fault_lanes(faults, end)
        .into_iter()
        .max()
        .map_or(0, |l| l + 1)
}

/// A bucket width (s) giving at most about 300 buckets over `end` seconds.
fn bucket_width(end: f64) -> f64 {
    [1.0, 2.0, 5.0, 10.0, 30.0, 60.0, 300.0]
        .into_iter()
        .find(|w| end / w <= 300.0)
        .unwrap_or(600.0)
}

/// Operations completed per second, stacked by outcome.
pub fn throughput(ops: &[Completed], faults: &[FaultInterval], end: f64) -> String {
    let width = bucket_width(end);
    let buckets = ((end / width).ceil() as usize).max(1);
    let mut counts = vec![[0usize; 3]; buckets];
    for c in ops {
        if let Some(t) = c.complete {
            let b = ((seconds(t) / width) as usize).min(buckets - 1);
            counts[b][outcome(c.kind)] += 1;
        }
    }
    let peak = counts
        .iter()
        .map(|c| c.iter().sum::<usize>())
        .max()
        .unwrap_or(0) as f64
        / width;
    let top = nice_ceiling(peak.max(1.0) * 1.05);
    let rows = label_rows(faults, end);
    let frame = Frame::new(
        "throughput",
        (WIDTH, HEIGHT),
        (0.0, end),
        ((0.0, top), false),
        rows,
    );
    let mut out = String::new();
    frame.open(&mut out, "operations completed per second over time");
    frame.fault_bands(&mut out, faults, end);
    frame.axes(
        &mut out,
        "time since start (s)",
        &format!("completed ops/s ({width} s buckets)"),
    );
    frame.clipped(&mut out);
    let mut below = vec![0.0; buckets];
    for (layer, (class, _)) in OUTCOMES.iter().enumerate() {
        let above: Vec<f64> = (0..buckets)
            .map(|b| below[b] + counts[b][layer] as f64 / width)
            .collect();
        let _ = write!(
            out,
            r#"<polygon class="area {class}" points="{}"/>"#,
            stacked_area(&frame, width, &below, &above)
        );
        below = above;
    }
    out.push_str("</g>");
    frame.legend(&mut out, &outcome_legend("area"));
    frame.close(&mut out);
    out
}

/// The polygon between two step functions (one value per bucket), as SVG points.
fn stacked_area(frame: &Frame, width: f64, below: &[f64], above: &[f64]) -> String {
    let mut points = String::new();
    let mut step = |b: usize, v: f64, forward: bool| {
        let (t0, t1) = (b as f64 * width, (b + 1) as f64 * width);
        let (first, second) = if forward { (t0, t1) } else { (t1, t0) };
        for t in [first, second] {
            let _ = write!(points, "{:.1},{:.1} ", frame.x.map(t), frame.y.map(v));
        }
    };
    for (b, v) in above.iter().enumerate() {
        step(b, *v, true);
    }
    for (b, v) in below.iter().enumerate().rev() {
        step(b, *v, false);
    }
    points.trim_end().to_string()
}
