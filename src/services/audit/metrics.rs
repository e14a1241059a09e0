//! Metrics to alert on: how long deprovisioning takes, and how many terminations left a
//! leaver with access past the SLA.
//!
//! - `provisiond_deprovision_latency_seconds` (histogram): SLA clock start (receipt, or due
//!   time for a scheduled termination) → the last target revoked, one sample per
//!   completed termination.
//! - `provisiond_terminations_pending_past_sla` (gauge): terminations whose clock started
//!   more than the SLA ago and that did not revoke every access — pending, failed,
//!   dead-lettered (even discarded), superseded, stale, ignored or scheduled past due: the
//!   report's `not_revoked` over every source and age — refreshed by [`run_gauges`].

use std::time::Duration;

use chrono::{DateTime, Utc};
use sqlx::PgPool;
use tokio_util::sync::CancellationToken;

use super::report::{self, Status};
use crate::telemetry::DEPROVISION_LATENCY;

pub const PENDING_PAST_SLA: &str = "provisiond_terminations_pending_past_sla";

/// Record one completed termination: `received_at` is when its SLA clock started.
pub fn termination_completed(received_at: DateTime<Utc>, completed_at: DateTime<Utc>) {
    let micros = (completed_at - received_at)
        .num_microseconds()
        .unwrap_or(i64::MAX);
    metrics::histogram!(DEPROVISION_LATENCY).record(micros as f64 / 1_000_000.0);
}

/// Look the termination `(source, event_id)` up and, if every target is now revoked,
/// record its latency exactly as the report computes it (a scheduled termination's
/// clock starts at its due time, not at the original receipt). Returns whether it was
/// recorded. Call it once the event's targets have all run.
pub async fn record_completion(
    pool: &PgPool,
    source: &str,
    event_id: &str,
) -> Result<bool, sqlx::Error> {
    let Some(timeline) = report::timeline(pool, source, event_id, Utc::now()).await? else {
        return Ok(false);
    };
    match (timeline.status, timeline.completed_at) {
        (Status::Completed, Some(completed_at)) => {
            termination_completed(timeline.clock_started_at, completed_at);
            Ok(true)
        }
        _ => Ok(false),
    }
}

/// Set the gauge now, then every `interval` until `shutdown`.
pub async fn run_gauges(
    pool: PgPool,
    sla: Duration,
    interval: Duration,
    shutdown: CancellationToken,
) {
    loop {
        match report::pending_past_sla(&pool, sla, Utc::now()).await {
            Ok(n) => metrics::gauge!(PENDING_PAST_SLA).set(n as f64),
            Err(error) => tracing::warn!(%error, "cannot count terminations pending past the SLA"),
        }
        match crate::store::holds::count_held(&pool).await {
            Ok(n) => metrics::gauge!("provisiond_terminations_held").set(n as f64),
            Err(error) => tracing::warn!(%error, "cannot count held terminations"),
        }
        tokio::select! {
            _ = shutdown.cancelled() => return,
            _ = tokio::time::sleep(interval) => {}
        }
    }
}
