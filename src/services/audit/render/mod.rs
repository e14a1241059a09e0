//! The report for people and spreadsheets, and what its three formats share.
//!
//! A text table, CSV (one row per termination, then one per reactivation) and a
//! self-contained HTML page (inline CSS and SVG, no scripts, nothing fetched).

use chrono::{DateTime, SecondsFormat, Utc};

use super::report::Stuck;
// The sibling modules by their names here too, so that the children's paths do not
// depend on where `audit` sits in the crate.
use super::{not_revoked, percentile, report};

mod chart;
mod csv;
mod html;
#[cfg(test)]
mod tests;
mod text;

pub use self::csv::{csv, CSV_COLUMNS, CSV_PERSON_COLUMNS, CSV_TRAILING_COLUMNS};
pub use chart::distribution;
pub use html::{escape, html};
pub use text::table;

/// Times as the JSON has them (RFC 3339, UTC, as many fraction digits as needed).
pub fn time(t: DateTime<Utc>) -> String {
    t.to_rfc3339_opts(SecondsFormat::AutoSi, true)
}

fn opt_time(t: Option<DateTime<Utc>>) -> String {
    t.map(time).unwrap_or_default()
}

fn opt_num(v: Option<f64>) -> String {
    v.map(|v| v.to_string()).unwrap_or_default()
}

/// A duration in seconds, for people: `0.042s`, `12.5s`, `14m 3s`, `2h 5m`, `3d 4h`.
pub fn human(seconds: f64) -> String {
    let sign = if seconds < 0.0 { "-" } else { "" };
    let s = seconds.abs();
    if s < 60.0 {
        let text = format!("{s:.3}");
        let text = text.trim_end_matches('0').trim_end_matches('.');
        return format!("{sign}{text}s");
    }
    let total = s.round() as u64;
    let (d, h, m, sec) = (
        total / 86_400,
        total % 86_400 / 3600,
        total % 3600 / 60,
        total % 60,
    );
    let pair = |big: u64, big_unit: &str, small: u64, small_unit: &str| match small {
        0 => format!("{big}{big_unit}"),
        _ => format!("{big}{big_unit} {small}{small_unit}"),
    };
    let text = if d > 0 {
        pair(d, "d", h, "h")
    } else if h > 0 {
        pair(h, "h", m, "m")
    } else {
        pair(m, "m", sec, "s")
    };
    format!("{sign}{text}")
}

fn opt_human(v: Option<f64>) -> String {
    v.map_or_else(|| "-".to_owned(), human)
}

fn stuck_text(t: &[Stuck]) -> String {
    let parts: Vec<String> = t.iter().map(Stuck::describe).collect();
    parts.join("; ")
}
