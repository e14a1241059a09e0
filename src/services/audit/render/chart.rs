//! The HTML page's chart: completed terminations by latency bucket, as inline SVG.

use std::fmt::Write as _;

use super::report::Report;
use super::{escape, human};

/// Upper bounds (seconds) of the chart's latency buckets; the last bucket is open.
const BUCKETS: [(f64, &str); 9] = [
    (0.1, "≤ 100 ms"),
    (1.0, "≤ 1 s"),
    (10.0, "≤ 10 s"),
    (60.0, "≤ 1 min"),
    (300.0, "≤ 5 min"),
    (900.0, "≤ 15 min"),
    (3600.0, "≤ 1 h"),
    (14_400.0, "≤ 4 h"),
    (86_400.0, "≤ 1 day"),
];

/// How many completed terminations fall in each bucket (the last: over a day).
pub fn distribution(report: &Report) -> Vec<(String, usize)> {
    let mut counts = vec![0_usize; BUCKETS.len() + 1];
    for t in &report.terminations {
        if let Some(latency) = t.receipt_to_revoked_seconds {
            let index = BUCKETS
                .iter()
                .position(|(upper, _)| latency <= *upper)
                .unwrap_or(BUCKETS.len());
            counts[index] += 1;
        }
    }
    let mut labels: Vec<String> = BUCKETS.iter().map(|(_, l)| (*l).to_owned()).collect();
    labels.push("> 1 day".to_owned());
    labels.into_iter().zip(counts).collect()
}

pub(super) fn svg_chart(report: &Report) -> String {
    let buckets = distribution(report);
    let (width, height, left, bottom, top) = (760.0, 260.0, 40.0, 50.0, 20.0);
    let plot_h = height - bottom - top;
    let slot = (width - left - 10.0) / buckets.len() as f64;
    let max = buckets.iter().map(|(_, n)| *n).max().unwrap_or(0).max(1) as f64;
    let sla = report.sla_seconds;
    let mut svg = String::new();
    let _ = write!(
        svg,
        r#"<svg xmlns="http://www.w3.org/2000/svg" role="img" width="{width}" height="{height}" viewBox="0 0 {width} {height}" aria-labelledby="chart-title"><title id="chart-title">Receipt to revoked latency distribution of completed terminations</title>"#
    );
    let axis_y = height - bottom;
    let _ = write!(
        svg,
        r##"<line x1="{left}" y1="{axis_y}" x2="{}" y2="{axis_y}" stroke="#333"/>"##,
        width - 10.0
    );
    for (n, (label, count)) in buckets.iter().enumerate() {
        let x = left + n as f64 * slot + slot * 0.15;
        let w = slot * 0.7;
        let h = (*count as f64 / max) * plot_h;
        let y = axis_y - h;
        // Buckets entirely above the SLA are drawn red.
        let lower = if n == 0 { 0.0 } else { BUCKETS[n - 1].0 };
        let over = lower >= sla;
        let fill = if over { "#c0392b" } else { "#2e86c1" };
        let _ = write!(
            svg,
            r#"<rect class="bar" data-bucket="{}" data-count="{count}" x="{x:.1}" y="{y:.1}" width="{w:.1}" height="{h:.1}" fill="{fill}"><title>{}: {count}</title></rect>"#,
            escape(label),
            escape(label)
        );
        let cx = x + w / 2.0;
        let _ = write!(
            svg,
            r#"<text x="{cx:.1}" y="{:.1}" font-size="12" text-anchor="middle">{count}</text>"#,
            y - 4.0
        );
        let _ = write!(
            svg,
            r#"<text x="{cx:.1}" y="{:.1}" font-size="11" text-anchor="middle">{}</text>"#,
            axis_y + 16.0,
            escape(label)
        );
    }
    let _ = write!(
        svg,
        r#"<text x="{left}" y="{:.1}" font-size="11">receipt → revoked (red: entirely over the SLA of {})</text></svg>"#,
        height - 8.0,
        escape(&human(sla))
    );
    svg
}
