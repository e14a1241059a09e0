//! The deprovision report (`services::audit::report`, read-only) with two charts: the
//! distribution of receipt → revoked latencies, and terminations per day with the SLA
//! breaches marked. Each termination links to the employee's timeline.

use std::time::Duration;

use askama::Template;
use axum::extract::{Query, State};
use axum::response::Response;
use axum::Extension;
use chrono::Utc;
use serde::Deserialize;

use super::charts::{self, Bar};
use super::error::{render, ConsoleError};
use super::page::{encode, seconds, seconds_opt, time, time_opt, Page};
use super::session::Session;
use super::Settings;
use crate::http::AppState;
use crate::services::audit::report::{self, Report, Timeline};

/// Terminations listed on the page at most (newest first); the CSV has them all.
const LISTED: usize = 200;

/// Latency buckets: upper bounds in seconds and their labels.
const BUCKETS: [(f64, &str); 9] = [
    (1.0, "<1s"),
    (10.0, "<10s"),
    (60.0, "<1m"),
    (300.0, "<5m"),
    (900.0, "<15m"),
    (3600.0, "<1h"),
    (14_400.0, "<4h"),
    (86_400.0, "<1d"),
    (f64::INFINITY, "≥1d"),
];

#[derive(Debug, Default, Deserialize)]
pub struct ReportParams {
    since: Option<String>,
    until: Option<String>,
    source: Option<String>,
    sla: Option<String>,
}

struct Row {
    employee: String,
    link: Option<String>,
    source: String,
    event_id: String,
    status: &'static str,
    received: String,
    completed: String,
    latency: String,
    breach: bool,
    why: String,
}

struct Percentile {
    name: &'static str,
    receipt: String,
    effective: String,
}

#[derive(Template)]
#[template(path = "console/report.html")]
struct ReportPage {
    page: Page,
    since: String,
    until: String,
    source: String,
    sla: String,
    report: Report,
    window: String,
    sla_text: String,
    generated: String,
    latency_chart: String,
    daily_chart: String,
    percentiles: Vec<Percentile>,
    rows: Vec<Row>,
    more: usize,
}

pub async fn page(
    State(state): State<AppState>,
    Extension(session): Extension<Session>,
    Extension(settings): Extension<Settings>,
    Query(params): Query<ReportParams>,
) -> Result<Response, ConsoleError> {
    let parsed = report::Params::parse(
        params.since.as_deref(),
        params.until.as_deref(),
        params.source.as_deref(),
        params.sla.as_deref(),
        settings.deprovision_sla,
        Utc::now(),
    )
    .map_err(ConsoleError::bad_request)?;
    let report = report::build(&state.pool, &parsed).await?;
    let p = &report.latency_seconds;
    let percentiles = [
        ("p50", p.receipt_to_revoked.p50, p.effective_to_revoked.p50),
        ("p90", p.receipt_to_revoked.p90, p.effective_to_revoked.p90),
        ("p95", p.receipt_to_revoked.p95, p.effective_to_revoked.p95),
        ("p99", p.receipt_to_revoked.p99, p.effective_to_revoked.p99),
        ("max", p.receipt_to_revoked.max, p.effective_to_revoked.max),
    ];
    let percentiles = percentiles.map(|(name, receipt, effective)| Percentile {
        name,
        receipt: seconds_opt(receipt),
        effective: seconds_opt(effective),
    });
    let newest: Vec<&Timeline> = report.terminations.iter().rev().collect();
    let page = ReportPage {
        page: Page::new("Deprovision report", "report", &session),
        since: params.since.clone().unwrap_or_default(),
        until: params.until.clone().unwrap_or_default(),
        source: params.source.clone().unwrap_or_default(),
        sla: params.sla.clone().unwrap_or_default(),
        window: format!(
            "{} → {}",
            time(&report.window.since),
            time(&report.window.until)
        ),
        sla_text: sla_text(report.sla_seconds),
        generated: time(&report.generated_at),
        latency_chart: latency_chart(&report),
        daily_chart: daily_chart(&report),
        percentiles: percentiles.into_iter().collect(),
        rows: newest.iter().take(LISTED).map(|t| row(t)).collect(),
        more: newest.len().saturating_sub(LISTED),
        report,
    };
    Ok(render(&page))
}

fn row(t: &Timeline) -> Row {
    let link = t.employee_id.as_ref().map(|employee| {
        format!(
            "/console/employees/{}/{}",
            encode(&t.source),
            encode(employee)
        )
    });
    let latency = t.receipt_to_revoked_seconds.or(t.age_seconds);
    Row {
        employee: t.employee_id.clone().unwrap_or_else(|| "—".into()),
        link,
        source: t.source.clone(),
        event_id: t.event_id.clone(),
        status: t.status.as_str(),
        received: time(&t.clock_started_at),
        completed: time_opt(t.completed_at.as_ref()),
        latency: match (t.receipt_to_revoked_seconds, latency) {
            (Some(done), _) => seconds(done),
            (None, Some(age)) => format!("{} so far", seconds(age)),
            (None, None) => "—".into(),
        },
        breach: t.breach,
        why: t
            .not_revoked_reason
            .map(|r| r.as_str())
            .unwrap_or("")
            .to_owned(),
    }
}

/// How many revoked terminations took how long, receipt → revoked; buckets past the
/// SLA are drawn as breaches.
fn latency_chart(report: &Report) -> String {
    let latencies: Vec<f64> = report
        .terminations
        .iter()
        .filter_map(|t| t.receipt_to_revoked_seconds)
        .collect();
    let mut lower = 0.0;
    let bars: Vec<Bar> = BUCKETS
        .iter()
        .map(|&(upper, label)| {
            let count = latencies
                .iter()
                .filter(|&&l| l >= lower && l < upper)
                .count() as f64;
            let over = latencies
                .iter()
                .filter(|&&l| l >= lower && l < upper && l > report.sla_seconds)
                .count() as f64;
            lower = upper;
            Bar {
                label: label.to_owned(),
                value: count,
                flagged: over,
                title: format!("{label}: {count} terminations, {over} past the SLA"),
            }
        })
        .collect();
    charts::bars("latency-title", &bars, 1)
}

/// Terminations per day of the window (by when their clock started), breaches marked.
fn daily_chart(report: &Report) -> String {
    let first = report.window.since.date_naive();
    let last = report.window.until.date_naive();
    let days = (last - first).num_days().clamp(0, 366) as usize + 1;
    let mut counts = vec![(0.0, 0.0); days];
    for t in &report.terminations {
        let day = (t.clock_started_at.date_naive() - first).num_days();
        if let Some(slot) = usize::try_from(day).ok().and_then(|d| counts.get_mut(d)) {
            slot.0 += 1.0;
            if t.breach {
                slot.1 += 1.0;
            }
        }
    }
    let bars: Vec<Bar> = counts
        .iter()
        .enumerate()
        .map(|(i, &(count, breaches))| {
            let day = first + chrono::Days::new(i as u64);
            Bar {
                label: day.format("%m-%d").to_string(),
                value: count,
                flagged: breaches,
                title: format!("{day}: {count} terminations, {breaches} SLA breaches"),
            }
        })
        .collect();
    charts::bars("daily-title", &bars, days.div_ceil(8).max(1))
}

/// The SLA of the report as people write it.
fn sla_text(seconds: f64) -> String {
    humantime::format_duration(Duration::from_secs_f64(seconds.max(0.0))).to_string()
}
