//! Counts, exact percentiles, SLA breaches and per-target figures from the timelines.

use std::collections::BTreeMap;

use super::not_revoked::{self, Reactivation};
use super::percentile::{seconds, Percentiles};
use super::{
    Breach, Counts, Incomplete, Latency, Params, Report, Scheduled, Status, TargetStats, Timeline,
    Window,
};

pub(super) fn assemble(
    params: &Params,
    terminations: Vec<Timeline>,
    scheduled: Vec<Scheduled>,
    reactivations: Vec<Reactivation>,
) -> Report {
    let count = |status| terminations.iter().filter(|t| t.status == status).count();
    let receipt: Vec<i64> = terminations
        .iter()
        .filter_map(|t| t.micros.receipt_to_revoked)
        .collect();
    let effective: Vec<i64> = terminations
        .iter()
        .filter_map(|t| t.micros.effective_to_revoked)
        .collect();
    let breaches = breaches(&terminations);
    // Compatibility: `incomplete` is what provisiond is still working on or failed at.
    let incomplete: Vec<Incomplete> = terminations
        .iter()
        .filter(|t| matches!(t.status, Status::Pending | Status::Failed))
        .map(|t| Incomplete {
            employee_id: t.employee_id.clone(),
            source: t.source.clone(),
            event_id: t.event_id.clone(),
            status: t.status,
            received_at: t.received_at,
            clock_started_at: t.clock_started_at,
            age_seconds: t.age_seconds.unwrap_or_default(),
            stuck_at: t.stuck_at.clone(),
        })
        .collect();
    let not_revoked = not_revoked::list(&terminations);

    Report {
        generated_at: params.now,
        window: Window {
            since: params.since,
            until: params.until,
        },
        source: params.source.clone(),
        sla_seconds: params.sla.as_secs_f64(),
        counts: Counts {
            terminations: terminations.len(),
            completed: count(Status::Completed),
            pending: count(Status::Pending),
            failed: count(Status::Failed),
            scheduled: scheduled.len(),
            breaches: breaches.len(),
            stale: count(Status::Stale),
            superseded: count(Status::Superseded),
            held: count(Status::Held),
            ignored: count(Status::Ignored),
            not_revoked: not_revoked.len(),
            reactivations: reactivations.len(),
        },
        latency_seconds: Latency {
            receipt_to_revoked: Percentiles::from_micros(&receipt),
            effective_to_revoked: Percentiles::from_micros(&effective),
        },
        breaches,
        incomplete,
        targets: target_stats(&terminations),
        scheduled,
        terminations,
        not_revoked,
        reactivations,
        organisation: params.organisation.clone(),
        prepared_by: params.prepared_by.clone(),
        time_zone: params.time_zone.name().to_owned(),
        audit_log: None,
    }
}

/// Worst first.
fn breaches(terminations: &[Timeline]) -> Vec<Breach> {
    let mut breaches: Vec<Breach> = terminations
        .iter()
        .filter(|t| t.breach)
        .map(|t| Breach {
            employee_id: t.employee_id.clone(),
            source: t.source.clone(),
            event_id: t.event_id.clone(),
            latency_seconds: seconds(t.micros.sla_latency),
            status: t.status,
            clock_started_at: t.clock_started_at,
            completed_at: t.completed_at,
        })
        .collect();
    breaches.sort_by(|a, b| {
        b.latency_seconds
            .total_cmp(&a.latency_seconds)
            .then_with(|| a.event_id.cmp(&b.event_id))
    });
    breaches
}

#[derive(Default)]
struct Tally {
    latencies: Vec<i64>,
    pending: usize,
    failed: usize,
    superseded: usize,
}

fn target_stats(terminations: &[Timeline]) -> BTreeMap<String, TargetStats> {
    let mut per_target: BTreeMap<String, Tally> = BTreeMap::new();
    for t in terminations {
        for (target, latency) in &t.micros.targets {
            let tally = per_target.entry(target.clone()).or_default();
            tally.latencies.push(*latency);
        }
        for r in &t.targets {
            let tally = per_target.entry(r.target.clone()).or_default();
            match r.status.as_str() {
                "pending" | "not_applied" => tally.pending += 1,
                "failed" => tally.failed += 1,
                "superseded" => tally.superseded += 1,
                _ => {}
            }
        }
    }
    per_target
        .into_iter()
        .map(|(name, tally)| {
            let stats = TargetStats {
                latency: Percentiles::from_micros(&tally.latencies),
                pending: tally.pending,
                failed: tally.failed,
                superseded: tally.superseded,
            };
            (name, stats)
        })
        .collect()
}
