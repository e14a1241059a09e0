//! The HTML page: self-contained (inline CSS and SVG, no scripts), the JSON's numbers,
//! rendered by the askama template `templates/report/deprovision.html` (every value
//! escaped by the template engine).

use askama::Template;
use chrono::{DateTime, Utc};

use super::chart::{chart, Chart};
use super::percentile::Percentiles;
use super::report::{Report, Stuck};
use super::{human, opt_human, opt_time, stuck_text, time};

/// Text made safe for HTML content and attribute values.
pub fn escape(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for ch in text.chars() {
        match ch {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&#39;"),
            _ => out.push(ch),
        }
    }
    out
}

/// One row of the latency table: `key` is the `data-latency` prefix.
struct LatencyRow {
    key: String,
    label: String,
    count: usize,
    cells: Vec<LatencyCell>,
}

struct LatencyCell {
    name: &'static str,
    /// The exact seconds as the JSON has them (empty when there is no value).
    seconds: String,
    text: String,
}

impl LatencyRow {
    fn new(key: String, label: String, p: &Percentiles) -> Self {
        let cell = |name, v: Option<f64>| LatencyCell {
            name,
            seconds: v.map_or(String::new(), |v| v.to_string()),
            text: opt_human(v),
        };
        LatencyRow {
            key,
            label,
            count: p.count,
            cells: vec![
                cell("p50", p.p50),
                cell("p90", p.p90),
                cell("p95", p.p95),
                cell("p99", p.p99),
                cell("max", p.max),
            ],
        }
    }
}

#[derive(Template)]
#[template(path = "report/deprovision.html")]
struct Page<'a> {
    report: &'a Report,
    /// `(key, label, value)` of every total, each cell carrying `data-count="<key>"`.
    totals: Vec<(&'static str, String, usize)>,
    latency: Vec<LatencyRow>,
    chart: Chart,
}

/// Helpers the template calls (`self.…`): values as the other formats write them.
impl Page<'_> {
    fn time(&self, t: &DateTime<Utc>) -> String {
        time(*t)
    }

    fn opt_time(&self, t: &Option<DateTime<Utc>>) -> String {
        opt_time(*t)
    }

    fn human(&self, seconds: &f64) -> String {
        human(*seconds)
    }

    fn opt_human(&self, seconds: &Option<f64>) -> String {
        opt_human(*seconds)
    }

    fn stuck(&self, stuck: &[Stuck]) -> String {
        stuck_text(stuck)
    }

    fn or_dash<'s>(&self, text: &'s Option<String>) -> &'s str {
        text.as_deref().unwrap_or("-")
    }

    fn or_text<'s>(&self, text: &'s Option<String>, otherwise: &'s str) -> &'s str {
        text.as_deref().unwrap_or(otherwise)
    }

    /// The page's verdict is "clean" only without breaches and without anything not
    /// revoked: stale, ignored or superseded, the leaver may still have access.
    fn clean(&self) -> bool {
        self.report.counts.breaches == 0 && self.report.counts.not_revoked == 0
    }
}

/// A complete, self-contained HTML page with the same numbers as the JSON. Each total
/// carries `data-count="<key>"` and each percentile `data-latency="<name>.<p>"` with the
/// exact seconds in `data-seconds`, so a script can check them against the JSON.
pub fn html(report: &Report) -> String {
    let c = &report.counts;
    let totals = [
        ("terminations", c.terminations),
        ("completed", c.completed),
        ("pending", c.pending),
        ("failed", c.failed),
        ("scheduled", c.scheduled),
        ("breaches", c.breaches),
        ("stale", c.stale),
        ("ignored", c.ignored),
        ("superseded", c.superseded),
        ("held", c.held),
        ("not_revoked", c.not_revoked),
        ("reactivations", c.reactivations),
    ]
    .into_iter()
    .map(|(key, value)| (key, key.replace('_', " "), value))
    .collect();
    let l = &report.latency_seconds;
    let mut latency = vec![
        LatencyRow::new(
            "receipt_to_revoked".into(),
            "receipt → revoked (all targets)".into(),
            &l.receipt_to_revoked,
        ),
        LatencyRow::new(
            "effective_to_revoked".into(),
            "effective / occurred → revoked".into(),
            &l.effective_to_revoked,
        ),
    ];
    for (name, stats) in &report.targets {
        latency.push(LatencyRow::new(
            format!("targets.{name}"),
            format!("target {name}: receipt → revoked"),
            &stats.latency,
        ));
    }
    let page = Page {
        report,
        totals,
        latency,
        chart: chart(report),
    };
    let mut text = page.render().unwrap_or_else(|e| {
        let error = escape(&e.to_string());
        format!("<!DOCTYPE html><p>cannot render the report: {error}</p>")
    });
    text.push('\n');
    text
}
