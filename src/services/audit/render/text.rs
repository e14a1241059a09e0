//! The text table printed by `audit deprovision` (the default format).

use std::fmt::Write as _;

use super::not_revoked::Reactivation;
use super::percentile::Percentiles;
use super::report::Report;
use super::{human, opt_human, stuck_text, time};

/// The human summary printed by `audit deprovision`.
pub fn table(report: &Report) -> String {
    let mut out = String::new();
    heading(&mut out, report);
    latency(&mut out, report);
    let breaches: Vec<String> = report
        .breaches
        .iter()
        .map(|b| {
            format!(
                "{} {:>10}  {}",
                who(b.employee_id.as_deref(), &b.source, &b.event_id),
                human(b.latency_seconds),
                b.status.as_str()
            )
        })
        .collect();
    section(&mut out, "SLA BREACHES", &breaches);
    let incomplete: Vec<String> = report
        .incomplete
        .iter()
        .map(|i| {
            format!(
                "{} {:<8} age {:>9}  {}",
                who(i.employee_id.as_deref(), &i.source, &i.event_id),
                i.status.as_str(),
                human(i.age_seconds),
                stuck_text(&i.stuck_at)
            )
        })
        .collect();
    section(&mut out, "INCOMPLETE", &incomplete);
    not_revoked(&mut out, report);
    reactivations(&mut out, &report.reactivations);
    scheduled(&mut out, report);
    out
}

fn heading(out: &mut String, report: &Report) {
    let c = &report.counts;
    let _ = writeln!(
        out,
        "Deprovision report {} .. {}{}  (SLA {})",
        report.window.since.format("%Y-%m-%d %H:%M:%SZ"),
        report.window.until.format("%Y-%m-%d %H:%M:%SZ"),
        report
            .source
            .as_deref()
            .map_or(String::new(), |s| format!("  source {s}")),
        human(report.sla_seconds)
    );
    let _ = writeln!(
        out,
        "\nterminations {}   completed {}   pending {}   failed {}   scheduled {}   breaches {}\
         \nstale {}   ignored {}   superseded {}   held {}   not revoked {}   reactivations {}",
        c.terminations,
        c.completed,
        c.pending,
        c.failed,
        c.scheduled,
        c.breaches,
        c.stale,
        c.ignored,
        c.superseded,
        c.held,
        c.not_revoked,
        c.reactivations
    );
}

fn latency(out: &mut String, report: &Report) {
    let _ = writeln!(
        out,
        "\n{:<24} {:>6} {:>10} {:>10} {:>10} {:>10} {:>10}",
        "LATENCY", "COUNT", "P50", "P90", "P95", "P99", "MAX"
    );
    let row = |out: &mut String, name: &str, p: &Percentiles| {
        let _ = writeln!(
            out,
            "{:<24} {:>6} {:>10} {:>10} {:>10} {:>10} {:>10}",
            name,
            p.count,
            opt_human(p.p50),
            opt_human(p.p90),
            opt_human(p.p95),
            opt_human(p.p99),
            opt_human(p.max)
        );
    };
    let latency = &report.latency_seconds;
    row(out, "receipt → revoked", &latency.receipt_to_revoked);
    row(out, "effective → revoked", &latency.effective_to_revoked);
    for (name, stats) in &report.targets {
        let label = format!("target {name}");
        row(out, &label, &stats.latency);
    }
}

/// The columns every list starts with: employee, source, event.
fn who(employee_id: Option<&str>, source: &str, event_id: &str) -> String {
    format!(
        "{:<20} {:<10} {:<34}",
        employee_id.unwrap_or("-"),
        source,
        event_id
    )
}

/// A list's title and count, then one indented line an entry, or `none`.
fn section(out: &mut String, title: &str, lines: &[String]) {
    let _ = writeln!(out, "\n{title} ({})", lines.len());
    if lines.is_empty() {
        let _ = writeln!(out, "  none");
    }
    for line in lines {
        let _ = writeln!(out, "  {line}");
    }
}

fn not_revoked(out: &mut String, report: &Report) {
    let lines: Vec<String> = report
        .not_revoked
        .iter()
        .map(|n| {
            format!(
                "{} {:<18} age {:>9}  {}",
                who(n.employee_id.as_deref(), &n.source, &n.event_id),
                n.reason.as_str(),
                human(n.age_seconds),
                n.detail
            )
        })
        .collect();
    section(out, "NOT REVOKED", &lines);
}

fn reactivations(out: &mut String, reactivations: &[Reactivation]) {
    let lines: Vec<String> = reactivations
        .iter()
        .map(|r| {
            format!(
                "{} {:<8} received {}  after termination {}",
                who(r.employee_id.as_deref(), &r.source, &r.event_id),
                r.kind.as_deref().unwrap_or("-"),
                time(r.received_at),
                r.previous_termination_event_id.as_deref().unwrap_or("-")
            )
        })
        .collect();
    section(out, "REACTIVATIONS", &lines);
}

/// Listed only when there are some.
fn scheduled(out: &mut String, report: &Report) {
    if report.scheduled.is_empty() {
        return;
    }
    let lines: Vec<String> = report
        .scheduled
        .iter()
        .map(|s| {
            format!(
                "{} due {}",
                who(Some(&s.employee_id), &s.source, &s.event_id),
                time(s.due_at)
            )
        })
        .collect();
    section(out, "SCHEDULED, NOT DUE YET", &lines);
}
