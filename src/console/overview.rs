//! The overview: what came in, what was applied, what failed, what waits, each with a
//! chart of the last 24 hours where PostgreSQL keeps the history. Counters that exist only
//! in this process's metrics (rejected webhooks, retries per tier) are shown as counts
//! since the process started, and the page says so.

use std::collections::BTreeMap;

use askama::Template;
use axum::extract::State;
use axum::response::Response;
use axum::Extension;
use chrono::{DateTime, Duration, DurationRound, Utc};

use super::charts::{self, Bar};
use super::error::{render, ConsoleError};
use super::page::{time, time_opt, Page};
use super::session::Session;
use super::Settings;
use crate::http::AppState;
use crate::services::audit::report::{breaches_since, pending_past_sla};
use crate::store::history::{self, Series};
use crate::store::{holds, reconcile};
use crate::telemetry::hourly;

const HOURS: i64 = 24;

struct Chart {
    id: &'static str,
    title: &'static str,
    legend: &'static str,
    total: i64,
    flagged: i64,
    svg: String,
}

struct Count {
    label: String,
    value: String,
}

struct Run {
    source: String,
    trigger: String,
    started: String,
    finished: String,
    status: String,
    counts: String,
    error: String,
}

/// One queue's depth as the page shows it (`-` when the broker does not know it).
struct Depth {
    role: String,
    queue: String,
    messages: String,
    consumers: String,
}

#[derive(Template)]
#[template(path = "console/overview.html")]
struct OverviewPage {
    page: Page,
    /// `Err` says why the broker could not be asked.
    depths: Result<Vec<Depth>, String>,
    charts: Vec<Chart>,
    dead_by_reason: Vec<Count>,
    rejected: Vec<Count>,
    retries: Vec<Count>,
    past_sla: usize,
    sla: String,
    held: i64,
    runs: Vec<Run>,
}

pub async fn page(
    State(state): State<AppState>,
    Extension(session): Extension<Session>,
    Extension(settings): Extension<Settings>,
) -> Result<Response, ConsoleError> {
    let now = Utc::now();
    let first = now.duration_trunc(Duration::hours(1)).unwrap_or(now) - Duration::hours(HOURS - 1);
    let specs = [
        (
            Series::Received,
            "received",
            "Events received",
            "Processed events by receipt time. Red: not applied (duplicate, stale or ignored).",
        ),
        (
            Series::Applied,
            "applied",
            "Events applied",
            "Red: terminations.",
        ),
        (
            Series::DeadLettered,
            "dead-lettered",
            "Dead-lettered",
            "Red: unauthenticated queue messages.",
        ),
        (
            Series::Held,
            "held",
            "Terminations held by the guard",
            "Red: still held.",
        ),
        (
            Series::ReconcileRuns,
            "reconciles",
            "Reconcile runs",
            "Red: failed runs.",
        ),
    ];
    let mut charts = Vec::new();
    for (series, id, title, legend) in specs {
        let hours = history::hourly(&state.pool, series, first).await?;
        charts.push(chart(id, title, legend, first, &hours));
    }
    // Rejected webhooks leave no row: this process counts them per hour.
    let rejected_hours = in_process(hourly::webhooks_rejected_since(first), |reasons| {
        let total = reasons.values().sum::<u64>();
        let forged = reasons
            .iter()
            .filter(|(reason, _)| reason.ends_with("signature") || *reason == "stale_timestamp")
            .map(|(_, n)| *n)
            .sum();
        (total, forged)
    });
    let retry_hours = in_process(hourly::retries_since(first), |tiers| {
        (tiers.values().sum(), 0)
    });
    let depth_hours = in_process(hourly::queue_depths_since(first), |queues| {
        let work = queues.get("work").copied().unwrap_or(0);
        let dead = queues.get("dead").copied().unwrap_or(0);
        (work, dead)
    });
    charts.insert(
        1,
        chart(
            "rejected",
            "Webhooks rejected",
            "Counted by this process since it started. Red: a signature that is missing, wrong or too old.",
            first,
            &rejected_hours,
        ),
    );
    charts.push(chart(
        "retries",
        "Deliveries parked for a retry",
        "Counted by this process since it started, every retry tier together.",
        first,
        &retry_hours,
    ));
    // Terminations whose SLA ran out before every target revoked, by that hour.
    let mut breaches: BTreeMap<DateTime<Utc>, (i64, i64)> = BTreeMap::new();
    for (ran_out, still_open) in
        breaches_since(&state.pool, settings.deprovision_sla, first, now).await?
    {
        let hour = ran_out
            .duration_trunc(Duration::hours(1))
            .unwrap_or(ran_out);
        let (count, open) = breaches.entry(hour).or_default();
        *count += 1;
        *open += i64::from(still_open);
    }
    let breach_hours: Vec<history::Hour> = breaches
        .into_iter()
        .map(|(hour, (count, flagged))| history::Hour {
            hour,
            count,
            flagged,
        })
        .collect();
    charts.push(chart(
        "breaches",
        "Terminations past their SLA",
        "By the hour their SLA ran out before every target had revoked access. Red: still not revoked.",
        first,
        &breach_hours,
    ));
    let mut depth = chart(
        "depth",
        "Work queue depth, highest each hour",
        "Sampled each minute by this process since it started. Red: the broker's dead queue.",
        first,
        &depth_hours,
    );
    // A depth is a level, not a count: the headline is the day's highest, not a sum.
    depth.total = depth_hours.iter().map(|h| h.count).max().unwrap_or(0);
    depth.flagged = depth_hours.iter().map(|h| h.flagged).max().unwrap_or(0);
    charts.push(depth);
    let dead_by_reason = history::dead_by_reason(&state.pool).await?;
    let metrics = state.metrics.render();
    let page = OverviewPage {
        page: Page::new("Overview", "overview", &session),
        depths: depths(&state).await,
        charts,
        dead_by_reason: dead_by_reason
            .into_iter()
            .map(|(reason, n)| Count {
                label: reason,
                value: n.to_string(),
            })
            .collect(),
        rejected: counter(
            &metrics,
            "provisiond_webhooks_rejected_total",
            &["source", "reason"],
        ),
        retries: counter(&metrics, "provisiond_retries_total", &["tier"]),
        past_sla: pending_past_sla(&state.pool, settings.deprovision_sla, now).await?,
        sla: humantime::format_duration(settings.deprovision_sla).to_string(),
        held: holds::count_held(&state.pool).await?,
        runs: reconcile::history(&state.pool, None, 10)
            .await?
            .into_iter()
            .map(|r| Run {
                counts: format!(
                    "{} listed · {} terminations · {} hires · {} updates · {} published",
                    r.listed, r.terminations, r.hires, r.updates, r.published
                ),
                source: r.source,
                trigger: if r.dry_run {
                    format!("{} (dry run)", r.trigger)
                } else {
                    r.trigger
                },
                started: time(&r.started_at),
                finished: time_opt(r.finished_at.as_ref()),
                status: r.status,
                error: r.error.unwrap_or_default(),
            })
            .collect(),
    };
    Ok(render(&page))
}

/// Every queue's depth now, from the broker; bounded so a stuck broker cannot hold the
/// page.
async fn depths(state: &AppState) -> Result<Vec<Depth>, String> {
    let Some(publisher) = &state.publisher else {
        return Err("this process does not publish (serve --role worker)".to_owned());
    };
    let asked = tokio::time::timeout(std::time::Duration::from_secs(3), publisher.depths());
    let found = match asked.await {
        Ok(Ok(found)) => found,
        Ok(Err(error)) => return Err(error.to_string()),
        Err(_) => return Err("RabbitMQ did not answer within 3 s".to_owned()),
    };
    let shown = |n: Option<u32>| n.map_or_else(|| "-".to_owned(), |n| n.to_string());
    Ok(found
        .into_iter()
        .map(|d| Depth {
            messages: shown(d.messages),
            consumers: shown(d.consumers),
            role: d.role,
            queue: d.queue,
        })
        .collect())
}

/// This process's own hourly figures as chart hours: `figures` gives each hour's count
/// and the part of it drawn in red.
fn in_process(
    hours: Vec<hourly::HourCounts>,
    figures: impl Fn(&BTreeMap<String, u64>) -> (u64, u64),
) -> Vec<history::Hour> {
    hours
        .into_iter()
        .map(|(hour, by_key)| {
            let (count, flagged) = figures(&by_key);
            history::Hour {
                hour,
                count: i64::try_from(count).unwrap_or(i64::MAX),
                flagged: i64::try_from(flagged).unwrap_or(i64::MAX),
            }
        })
        .collect()
}

/// 24 hourly bars from `first`, the hours without rows drawn as zero.
fn chart(
    id: &'static str,
    title: &'static str,
    legend: &'static str,
    first: DateTime<Utc>,
    hours: &[history::Hour],
) -> Chart {
    let bars: Vec<Bar> = (0..HOURS)
        .map(|i| {
            let start = first + Duration::hours(i);
            let found = hours.iter().find(|h| h.hour == start);
            let (count, flagged) = found.map_or((0, 0), |h| (h.count, h.flagged));
            Bar {
                label: start.format("%H:00").to_string(),
                value: count as f64,
                flagged: flagged as f64,
                title: format!(
                    "{} UTC: {count} ({flagged} flagged)",
                    start.format("%Y-%m-%d %H:00")
                ),
            }
        })
        .collect();
    Chart {
        id,
        title,
        legend,
        total: hours.iter().map(|h| h.count).sum(),
        flagged: hours.iter().map(|h| h.flagged).sum(),
        svg: charts::bars(&format!("chart-{id}"), &bars, 6),
    }
}

/// A counter of this process's metrics, per label set (`source=hris reason=…`), summed
/// over the labels not named.
fn counter(metrics: &str, name: &str, labels: &[&str]) -> Vec<Count> {
    let mut sums: BTreeMap<String, f64> = BTreeMap::new();
    for line in metrics.lines() {
        let Some(rest) = line.strip_prefix(name) else {
            continue;
        };
        let (set, value) = match rest.strip_prefix('{') {
            Some(inner) => match inner.split_once("} ") {
                Some((set, value)) => (set, value),
                None => continue,
            },
            None => match rest.strip_prefix(' ') {
                Some(value) => ("", value),
                None => continue,
            },
        };
        let Ok(value) = value.trim().parse::<f64>() else {
            continue;
        };
        let named: Vec<String> = labels
            .iter()
            .map(|label| {
                let prefix = format!("{label}=\"");
                let found = set.split(',').find_map(|pair| pair.strip_prefix(&prefix));
                let text = found.map(|v| v.trim_end_matches('"')).unwrap_or("");
                format!("{label} {text}")
            })
            .collect();
        *sums.entry(named.join(" · ")).or_default() += value;
    }
    let counts = sums.into_iter().map(|(label, value)| Count {
        label,
        value: format!("{value:.0}"),
    });
    counts.collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_counter_is_read_per_label_set() {
        let metrics = "# TYPE provisiond_webhooks_rejected_total counter\n\
            provisiond_webhooks_rejected_total{source=\"hris\",reason=\"invalid_signature\"} 3\n\
            provisiond_webhooks_rejected_total{source=\"hris\",reason=\"stale\"} 1\n\
            provisiond_webhooks_rejected_total_other 9\n";
        let counts = counter(
            metrics,
            "provisiond_webhooks_rejected_total",
            &["source", "reason"],
        );
        let read: Vec<(String, String)> = counts.into_iter().map(|c| (c.label, c.value)).collect();
        assert_eq!(
            read,
            [
                (
                    "source hris · reason invalid_signature".to_owned(),
                    "3".to_owned()
                ),
                ("source hris · reason stale".to_owned(), "1".to_owned()),
            ]
        );
    }
}
