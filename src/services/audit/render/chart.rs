//! The HTML page's chart: completed terminations by latency bucket, drawn as inline SVG by
//! the page's template (`templates/report/chart.html`) from the geometry computed here.

use super::human;
use super::report::Report;

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

/// One bar, its coordinates already formatted (one decimal).
pub(super) struct Bar {
    pub(super) label: String,
    pub(super) count: usize,
    pub(super) x: String,
    pub(super) y: String,
    pub(super) width: String,
    pub(super) height: String,
    /// Red for buckets entirely above the SLA.
    pub(super) fill: &'static str,
    /// The bar's centre, and where its count and label are written.
    pub(super) cx: String,
    pub(super) count_y: String,
    pub(super) label_y: String,
}

/// The chart's frame and bars.
pub(super) struct Chart {
    pub(super) width: f64,
    pub(super) height: f64,
    pub(super) left: f64,
    pub(super) axis_y: f64,
    pub(super) axis_end: f64,
    pub(super) caption_y: f64,
    pub(super) sla: String,
    pub(super) bars: Vec<Bar>,
}

pub(super) fn chart(report: &Report) -> Chart {
    let buckets = distribution(report);
    let (width, height, left, bottom, top) = (760.0, 260.0, 40.0, 50.0, 20.0);
    let plot_h = height - bottom - top;
    let slot = (width - left - 10.0) / buckets.len() as f64;
    let max = buckets.iter().map(|(_, n)| *n).max().unwrap_or(0).max(1) as f64;
    let sla = report.sla_seconds;
    let axis_y = height - bottom;
    let bars = buckets
        .into_iter()
        .enumerate()
        .map(|(n, (label, count))| {
            let x = left + n as f64 * slot + slot * 0.15;
            let w = slot * 0.7;
            let h = (count as f64 / max) * plot_h;
            let y = axis_y - h;
            let lower = if n == 0 { 0.0 } else { BUCKETS[n - 1].0 };
            Bar {
                label,
                count,
                x: format!("{x:.1}"),
                y: format!("{y:.1}"),
                width: format!("{w:.1}"),
                height: format!("{h:.1}"),
                fill: if lower >= sla { "#c0392b" } else { "#2e86c1" },
                cx: format!("{:.1}", x + w / 2.0),
                count_y: format!("{:.1}", y - 4.0),
                label_y: format!("{:.1}", axis_y + 16.0),
            }
        })
        .collect();
    Chart {
        width,
        height,
        left,
        axis_y,
        axis_end: width - 10.0,
        caption_y: height - 8.0,
        sla: human(sla),
        bars,
    }
}
