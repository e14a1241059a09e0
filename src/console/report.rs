//! The deprovision report (`services::audit::report`, read-only) with two charts: the
//! distribution of receipt → revoked latencies, and terminations per day with the SLA
//! breaches marked. Each termination links to the employee's timeline.

use std::time::Duration;

use askama::Template;
use axum::extract::{Path, Query, State};
use axum::http::header::{CONTENT_DISPOSITION, CONTENT_TYPE};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
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
use crate::services::audit::{pdf, render};

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
    /// The window's query string, for the evidence pack's download links.
    query: String,
    organisation: String,
    prepared_by: String,
    /// `audit verify`'s verdict at generation time, in words, and the chain's head hash.
    log_verdict: String,
    log_intact: bool,
    log_head: String,
}

pub async fn page(
    State(state): State<AppState>,
    Extension(session): Extension<Session>,
    Extension(settings): Extension<Settings>,
    Query(params): Query<ReportParams>,
) -> Result<Response, ConsoleError> {
    let report = build(&state, &params, &settings, &session).await?;
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
        query: [
            ("since", &params.since),
            ("until", &params.until),
            ("source", &params.source),
            ("sla", &params.sla),
        ]
        .into_iter()
        .filter_map(|(key, value)| {
            let value = value.as_deref().filter(|v| !v.is_empty())?;
            Some(format!("{key}={}", encode(value)))
        })
        .collect::<Vec<_>>()
        .join("&"),
        organisation: report.organisation.clone().unwrap_or_default(),
        prepared_by: report.prepared_by.clone().unwrap_or_default(),
        log_verdict: log_verdict(&report),
        log_intact: report.audit_log.as_ref().is_some_and(|log| log.intact),
        log_head: report
            .audit_log
            .as_ref()
            .and_then(|log| log.chain.head.as_ref())
            .map(|head| head.hash.clone())
            .unwrap_or_default(),
        report,
    };
    Ok(render(&page))
}

/// The report as the evidence pack states it: this window, the organisation, the signed-in
/// token's name as its preparer.
async fn build(
    state: &AppState,
    params: &ReportParams,
    settings: &Settings,
    session: &Session,
) -> Result<Report, ConsoleError> {
    let parsed = report::Params::parse(
        params.since.as_deref(),
        params.until.as_deref(),
        params.source.as_deref(),
        params.sla.as_deref(),
        settings.deprovision_sla,
        Utc::now(),
    )
    .map_err(ConsoleError::bad_request)?
    .organisation(settings.audit.organisation.as_deref())
    .prepared_by(Some(&session.name))
    .time_zone(settings.audit.time_zone);
    Ok(report::build(&state.pool, &parsed).await?)
}

/// `/console/report/deprovision.{html,pdf,csv}`: the evidence pack of the page's window,
/// as a download (the same renderings as `audit deprovision --format …`).
pub async fn evidence(
    State(state): State<AppState>,
    Extension(session): Extension<Session>,
    Extension(settings): Extension<Settings>,
    Path(file): Path<String>,
    Query(params): Query<ReportParams>,
) -> Result<Response, ConsoleError> {
    let kind = match file.as_str() {
        "deprovision.html" => "text/html; charset=utf-8",
        "deprovision.pdf" => "application/pdf",
        "deprovision.csv" => "text/csv; charset=utf-8",
        _ => return Err(ConsoleError::not_found("No such report file.")),
    };
    let report = build(&state, &params, &settings, &session).await?;
    let body = match file.as_str() {
        "deprovision.html" => render::html(&report).into_bytes(),
        "deprovision.csv" => render::csv(&report).into_bytes(),
        _ => {
            let printed = async {
                let browser = pdf::find_chromium(settings.audit.chromium.as_deref())?;
                pdf::print(&render::html(&report), &browser, pdf::PRINT_TIMEOUT).await
            };
            printed.await.map_err(|error| {
                tracing::error!(%error, "console: the evidence pack could not be printed");
                ConsoleError::new(
                    StatusCode::INTERNAL_SERVER_ERROR,
                    "The PDF could not be printed (see the service log); the HTML download \
                     is the same report.",
                )
            })?
        }
    };
    let disposition = format!("attachment; filename=\"{file}\"");
    let headers = [
        (CONTENT_TYPE, kind.to_owned()),
        (CONTENT_DISPOSITION, disposition),
    ];
    Ok((headers, body).into_response())
}

fn log_verdict(report: &Report) -> String {
    let Some(log) = &report.audit_log else {
        return "not checked".to_owned();
    };
    let chain = &log.chain;
    let coverage = &log.coverage;
    match (&chain.broken, log.intact) {
        (Some(broken), _) => format!("BROKEN at row {}: {}", broken.id, broken.message),
        (None, true) => format!(
            "intact: {} rows chained ({} not sealed yet), every applied termination covered",
            chain.rows, chain.unsealed
        ),
        (None, false) => format!(
            "NOT INTACT: {} of {} applied terminations have no row in the chain",
            coverage.uncovered_total, coverage.terminations
        ),
    }
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
