//! A minimal SVG chart frame: linear or log scales, "nice" ticks, grid, axis labels, fault
//! intervals as translucent labelled bands, and a legend. Self-contained: text uses the
//! page's generic sans-serif font, nothing is fetched.

use std::fmt::Write;

use crate::check::availability::FaultInterval;

use super::escape;

/// Maps data values on one axis to pixels.
#[derive(Debug, Clone, Copy)]
pub struct Scale {
    pub lo: f64,
    pub hi: f64,
    pub log: bool,
    px_lo: f64,
    px_hi: f64,
}

impl Scale {
    pub fn map(&self, v: f64) -> f64 {
        let (lo, hi, v) = if self.log {
            (self.lo.log10(), self.hi.log10(), v.max(self.lo).log10())
        } else {
            (self.lo, self.hi, v)
        };
        let f = if hi > lo { (v - lo) / (hi - lo) } else { 0.0 };
        self.px_lo + f.clamp(0.0, 1.0) * (self.px_hi - self.px_lo)
    }

    fn ticks(&self) -> Vec<f64> {
        if self.log {
            log_ticks(self.lo, self.hi)
        } else {
            nice_ticks(self.lo, self.hi, 8)
        }
    }
}

/// A chart: the SVG canvas with its plot area and scales.
pub struct Frame {
    pub width: f64,
    pub height: f64,
    pub x: Scale,
    pub y: Scale,
    id: String,
}

const LEFT: f64 = 64.0;
const RIGHT: f64 = 16.0;
const TOP: f64 = 36.0;
const BOTTOM: f64 = 44.0;
/// Height of one row of fault labels at the top of the plot area.
const LANE: f64 = 13.0;

impl Frame {
    /// `x` and `y` are data ranges; `id` must be unique in the page (clip path). The top
    /// `label_rows` rows of the plot area hold fault labels and no data.
    pub fn new(
        id: &str,
        (width, height): (f64, f64),
        x: (f64, f64),
        (y, y_log): ((f64, f64), bool),
        label_rows: usize,
    ) -> Self {
        let data_top = TOP + label_rows as f64 * LANE + if label_rows > 0 { 6.0 } else { 0.0 };
        let x = Scale {
            lo: x.0,
            hi: x.1.max(x.0 + 1e-9),
            log: false,
            px_lo: LEFT,
            px_hi: width - RIGHT,
        };
        let y = Scale {
            lo: y.0,
            hi: y.1.max(y.0 + 1e-9),
            log: y_log,
            px_lo: height - BOTTOM,
            px_hi: data_top,
        };
        Frame {
            width,
            height,
            x,
            y,
            id: id.into(),
        }
    }

    pub fn plot_width(&self) -> f64 {
        self.width - LEFT - RIGHT
    }

    /// Opens the `<svg>` with a clip path for the plot area; close with `close`.
    pub fn open(&self, out: &mut String, title: &str) {
        let (w, h) = (self.width, self.height);
        let _ = write!(
            out,
            r#"<svg xmlns="http://www.w3.org/2000/svg" class="chart" viewBox="0 0 {w} {h}" width="{w}" height="{h}" role="img" aria-label="{}">"#,
            escape(title)
        );
        let _ = write!(out, "<style>{CHART_STYLE}</style>");
        let _ = write!(
            out,
            r#"<defs><clipPath id="{}-clip"><rect x="{LEFT}" y="{TOP}" width="{:.1}" height="{:.1}"/></clipPath></defs>"#,
            self.id,
            self.plot_width(),
            h - TOP - BOTTOM
        );
        let _ = write!(
            out,
            r#"<rect class="plot-bg" x="{LEFT}" y="{TOP}" width="{:.1}" height="{:.1}"/>"#,
            self.plot_width(),
            h - TOP - BOTTOM
        );
    }

    /// Opens a group clipped to the plot area; close with `</g>`.
    pub fn clipped(&self, out: &mut String) {
        let _ = write!(out, r#"<g clip-path="url(#{}-clip)">"#, self.id);
    }

    pub fn close(&self, out: &mut String) {
        out.push_str("</svg>");
    }

    /// Grid lines, tick labels, axis lines and titles.
    pub fn axes(&self, out: &mut String, x_label: &str, y_label: &str) {
        let (bottom, top) = (self.height - BOTTOM, TOP);
        for t in self.x.ticks() {
            let px = self.x.map(t);
            let _ = write!(
                out,
                r#"<line class="grid" x1="{px:.1}" y1="{top}" x2="{px:.1}" y2="{bottom}"/>"#
            );
            let _ = write!(
                out,
                r#"<text class="tick" x="{px:.1}" y="{:.1}" text-anchor="middle">{}</text>"#,
                bottom + 15.0,
                fmt_tick(t)
            );
        }
        for t in self.y.ticks() {
            let py = self.y.map(t);
            let _ = write!(
                out,
                r#"<line class="grid" x1="{LEFT}" y1="{py:.1}" x2="{:.1}" y2="{py:.1}"/>"#,
                self.width - RIGHT
            );
            let _ = write!(
                out,
                r#"<text class="tick" x="{:.1}" y="{:.1}" text-anchor="end">{}</text>"#,
                LEFT - 6.0,
                py + 4.0,
                fmt_tick(t)
            );
        }
        let _ = write!(
            out,
            r#"<line class="axis" x1="{LEFT}" y1="{bottom}" x2="{:.1}" y2="{bottom}"/>"#,
            self.width - RIGHT
        );
        let _ = write!(
            out,
            r#"<line class="axis" x1="{LEFT}" y1="{top}" x2="{LEFT}" y2="{bottom}"/>"#
        );
        let _ = write!(
            out,
            r#"<text class="label" x="{:.1}" y="{:.1}" text-anchor="middle">{}</text>"#,
            LEFT + self.plot_width() / 2.0,
            self.height - 6.0,
            escape(x_label)
        );
        let mid = (top + bottom) / 2.0;
        let _ = write!(
            out,
            r#"<text class="label" x="14" y="{mid:.1}" text-anchor="middle" transform="rotate(-90 14 {mid:.1})">{}</text>"#,
            escape(y_label)
        );
    }

    /// Each fault as a translucent band over its interval, with a labelled strip at the top
    /// of the plot area; overlapping faults get separate label rows. `end` closes faults
    /// still active when the history ends (seconds).
    pub fn fault_bands(&self, out: &mut String, faults: &[FaultInterval], end: f64) {
        for (f, lane) in faults.iter().zip(fault_lanes(faults, end)) {
            let (start, stop) = span(f, end);
            let (x0, x1) = (
                self.x.map(start),
                self.x.map(stop).max(self.x.map(start) + 1.5),
            );
            let class = fault_class(&f.fault);
            let tip = format!(
                "{} on nodes {:?}: {} ({:.1}s to {:.1}s)",
                f.fault, f.nodes, f.detail, start, stop
            );
            let (top, bottom) = (TOP, self.height - BOTTOM);
            let strip_y = top + lane as f64 * LANE;
            let _ = write!(
                out,
                r#"<g class="fault {class}"><title>{}</title><rect class="band" x="{x0:.1}" y="{top}" width="{:.1}" height="{:.1}"/><rect class="strip" x="{x0:.1}" y="{strip_y:.1}" width="{:.1}" height="{LANE}"/><text class="fault-label" x="{:.1}" y="{:.1}">{}</text></g>"#,
                escape(&tip),
                x1 - x0,
                bottom - top,
                x1 - x0,
                x0 + 2.0,
                strip_y + LANE - 3.0,
                escape(&f.fault)
            );
        }
    }

    /// A row of legend entries above the plot area: (marker SVG at the origin, text).
    pub fn legend(&self, out: &mut String, items: &[(String, String)]) {
        let mut x = LEFT;
        for (marker, text) in items {
            let _ = write!(
                out,
                r#"<g transform="translate({x:.1} 16)">{marker}<text class="legend" x="10" y="4">{}</text></g>"#,
                escape(text)
            );
            x += 24.0 + 6.5 * text.chars().count() as f64;
        }
    }
}

/// A fault's interval in seconds, `end` when it never stopped.
fn span(f: &FaultInterval, end: f64) -> (f64, f64) {
    (f.start as f64 / 1e9, f.stop.map_or(end, |s| s as f64 / 1e9))
}

/// The label row of each fault: the first row free since the fault started.
pub fn fault_lanes(faults: &[FaultInterval], end: f64) -> Vec<usize> {
    let mut free_from: Vec<f64> = vec![];
    let mut lanes = vec![];
    for f in faults {
        let (start, stop) = span(f, end);
        let lane = free_from
            .iter()
            .position(|t| *t <= start)
            .unwrap_or(free_from.len());
        if lane == free_from.len() {
            free_from.push(stop);
        }
        free_from[lane] = stop;
        lanes.push(lane);
    }
    lanes
}

/// The smallest round number (1, 1.2, 1.5, 2, 2.5, 3, 4, 5, 6, 8 × 10^k) at least `v`.
pub fn nice_ceiling(v: f64) -> f64 {
    if v <= 0.0 {
        return 1.0;
    }
    let magnitude = 10f64.powf(v.log10().floor());
    [1.0, 1.2, 1.5, 2.0, 2.5, 3.0, 4.0, 5.0, 6.0, 8.0, 10.0]
        .iter()
        .map(|m| m * magnitude)
        .find(|c| *c >= v * (1.0 - 1e-12))
        .unwrap_or(10.0 * magnitude)
}

/// Each chart carries its style, so that it also renders on its own (saved from the page,
/// or through an SVG renderer). Inline in the page, it also colours the fault table's
/// swatches (the `background` of the fault classes).
const CHART_STYLE: &str = r#"
.plot-bg{fill:#fff}.grid{stroke:#edf0f3;stroke-width:1}.axis{stroke:#5b6577;stroke-width:1}
.tick{font-size:11px;fill:#5b6577}.label{font-size:12px;fill:#1d2433}.legend{font-size:12px;fill:#1d2433}
.pt.ok{fill:#2a9d4b;fill-opacity:.55}.pt.fail{fill:#d1352b}.pt.info{fill:#f29e1f}.pt.shape{fill:#5b6577}
.area.ok{fill:#2a9d4b;fill-opacity:.75}.area.fail{fill:#d1352b;fill-opacity:.85}.area.info{fill:#f29e1f;fill-opacity:.85}
.fault .band{fill-opacity:.13}.fault .strip{fill-opacity:.55}.fault-label{font-size:10px;fill:#1d2433}
.f-partition{fill:#3b82c4;background:#3b82c4}.f-kill{fill:#c2418c;background:#c2418c}.f-pause{fill:#7d5bbd;background:#7d5bbd}
.f-clock{fill:#8c6d3f;background:#8c6d3f}.f-membership{fill:#1aa5b5;background:#1aa5b5}.f-netem{fill:#a8a020;background:#a8a020}.f-other{fill:#777;background:#777}
"#;

/// The CSS class of a fault type (colours are in the page's style sheet).
pub fn fault_class(fault: &str) -> &'static str {
    match fault {
        "partition" => "f-partition",
        "kill" => "f-kill",
        "pause" => "f-pause",
        "clock" => "f-clock",
        "membership" => "f-membership",
        "netem" => "f-netem",
        _ => "f-other",
    }
}

/// Round-numbered ticks (1, 2, 5 × 10^k apart) covering `lo..=hi`, about `target` of them.
pub fn nice_ticks(lo: f64, hi: f64, target: usize) -> Vec<f64> {
    let span = (hi - lo).max(1e-9);
    let raw = span / target.max(1) as f64;
    let magnitude = 10f64.powf(raw.log10().floor());
    let step = [1.0, 2.0, 5.0, 10.0]
        .iter()
        .map(|m| m * magnitude)
        .find(|s| *s >= raw)
        .unwrap_or(10.0 * magnitude);
    let first = (lo / step).ceil() as i64;
    let last = (hi / step).floor() as i64;
    (first..=last).map(|i| i as f64 * step).collect()
}

/// Powers of ten within `lo..=hi`.
pub fn log_ticks(lo: f64, hi: f64) -> Vec<f64> {
    let (a, b) = (
        lo.max(1e-9).log10().ceil() as i32,
        hi.max(1e-9).log10().floor() as i32,
    );
    (a..=b).map(|e| 10f64.powi(e)).collect()
}

/// Up to three decimals, without trailing zeros (ticks are multiples of 1, 2 or 5 × 10^k).
fn fmt_tick(v: f64) -> String {
    let s = format!("{v:.3}");
    s.trim_end_matches('0').trim_end_matches('.').to_string()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn nice_ticks_are_round_and_cover_the_range() {
        assert_eq!(
            nice_ticks(0.0, 60.0, 8),
            [0.0, 10.0, 20.0, 30.0, 40.0, 50.0, 60.0]
        );
        assert_eq!(nice_ticks(0.0, 1.0, 4), [0.0, 0.5, 1.0]);
        assert_eq!(log_ticks(0.5, 2000.0), [1.0, 10.0, 100.0, 1000.0]);
        assert_eq!(nice_ceiling(1043.0), 1200.0);
        assert_eq!(nice_ceiling(3.0), 3.0);
    }

    #[test]
    fn log_scale_maps_decades_evenly() {
        let f = Frame::new(
            "t",
            (200.0 + LEFT + RIGHT, 300.0),
            (0.0, 1.0),
            ((1.0, 100.0), true),
            0,
        );
        let (a, b, c) = (f.y.map(1.0), f.y.map(10.0), f.y.map(100.0));
        assert!((a - b - (b - c)).abs() < 1e-6, "{a} {b} {c}");
        assert!(a > c, "larger values are higher up");
    }
}
