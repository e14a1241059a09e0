//! The text table printed by `audit deprovision` (the default format): a heading with the
//! totals, then one comfy-table per section.

use comfy_table::presets::ASCII_BORDERS_ONLY_CONDENSED;
use comfy_table::{Cell, CellAlignment, Table};

use super::percentile::Percentiles;
use super::report::Report;
use super::{human, opt_human, stuck_text, time};

/// A table of `header` and `rows`, never wrapped (a terminal or a file keeps whole lines),
/// each cell one line: sender-controlled text cannot break the layout.
fn grid(header: &[&str], rows: Vec<Vec<String>>, right: &[usize]) -> String {
    let mut table = Table::new();
    table
        .load_style(ASCII_BORDERS_ONLY_CONDENSED)
        .force_no_tty()
        .set_header(header.to_vec());
    for row in rows {
        let cells = row.into_iter().enumerate().map(|(n, text)| {
            let cell = Cell::new(one_line(&text));
            if right.contains(&n) {
                cell.set_alignment(CellAlignment::Right)
            } else {
                cell
            }
        });
        table.add_row(cells.collect::<Vec<Cell>>());
    }
    table.to_string()
}

/// Control characters (newlines, escapes) shown as spaces.
fn one_line(text: &str) -> String {
    text.chars()
        .map(|c| if c.is_control() { ' ' } else { c })
        .collect()
}

/// A list's title and count, then its table indented, or `none`.
fn section(
    out: &mut String,
    title: &str,
    header: &[&str],
    rows: Vec<Vec<String>>,
    right: &[usize],
) {
    out.push_str(&format!("\n{title} ({})\n", rows.len()));
    if rows.is_empty() {
        out.push_str("  none\n");
        return;
    }
    for line in grid(header, rows, right).lines() {
        out.push_str("  ");
        out.push_str(line);
        out.push('\n');
    }
}

fn dash(text: Option<&str>) -> String {
    text.unwrap_or("-").to_owned()
}

/// The human summary printed by `audit deprovision`.
pub fn table(report: &Report) -> String {
    let mut out = String::new();
    heading(&mut out, report);
    latency(&mut out, report);
    terminations(&mut out, report);
    let breaches = report
        .breaches
        .iter()
        .map(|b| {
            vec![
                dash(b.employee_id.as_deref()),
                b.source.clone(),
                b.event_id.clone(),
                human(b.latency_seconds),
                b.status.as_str().to_owned(),
            ]
        })
        .collect();
    let who = ["EMPLOYEE", "SOURCE", "EVENT"];
    let header = [&who[..], &["LATENCY", "STATUS"]].concat();
    section(&mut out, "SLA BREACHES", &header, breaches, &[3]);
    let incomplete = report
        .incomplete
        .iter()
        .map(|i| {
            vec![
                dash(i.employee_id.as_deref()),
                i.source.clone(),
                i.event_id.clone(),
                i.status.as_str().to_owned(),
                human(i.age_seconds),
                stuck_text(&i.stuck_at),
            ]
        })
        .collect();
    let header = [&who[..], &["STATUS", "AGE", "STUCK AT"]].concat();
    section(&mut out, "INCOMPLETE", &header, incomplete, &[4]);
    let not_revoked = report
        .not_revoked
        .iter()
        .map(|n| {
            vec![
                dash(n.employee_id.as_deref()),
                n.source.clone(),
                n.event_id.clone(),
                n.reason.as_str().to_owned(),
                human(n.age_seconds),
                n.detail.clone(),
            ]
        })
        .collect();
    let header = [&who[..], &["REASON", "AGE", "DETAIL"]].concat();
    section(&mut out, "NOT REVOKED", &header, not_revoked, &[4]);
    let reactivations = report
        .reactivations
        .iter()
        .map(|r| {
            vec![
                dash(r.employee_id.as_deref()),
                r.source.clone(),
                r.event_id.clone(),
                dash(r.kind.as_deref()),
                time(r.received_at),
                format!(
                    "after termination {}",
                    r.previous_termination_event_id.as_deref().unwrap_or("-")
                ),
            ]
        })
        .collect();
    let header = [&who[..], &["KIND", "RECEIVED", "AFTER"]].concat();
    section(&mut out, "REACTIVATIONS", &header, reactivations, &[]);
    if !report.scheduled.is_empty() {
        let scheduled = report
            .scheduled
            .iter()
            .map(|s| {
                vec![
                    s.employee_id.clone(),
                    s.source.clone(),
                    s.event_id.clone(),
                    time(s.due_at),
                ]
            })
            .collect();
        let header = [&who[..], &["DUE"]].concat();
        section(&mut out, "SCHEDULED, NOT DUE YET", &header, scheduled, &[]);
    }
    out
}

/// Every termination, who it is about, and each target's revocation against the SLA.
fn terminations(out: &mut String, report: &Report) {
    let rows = report
        .terminations
        .iter()
        .map(|t| {
            let targets: Vec<String> = t
                .targets
                .iter()
                .map(|r| {
                    let latency = r
                        .latency_seconds
                        .map_or(String::new(), |s| format!(" {}", human(s)));
                    format!("{} {}{latency} {}", r.target, r.status, r.sla_status)
                })
                .collect();
            vec![
                dash(t.employee_id.as_deref()),
                dash(t.employee_name.as_deref()),
                dash(t.employee_email.as_deref()),
                t.source.clone(),
                t.event_id.clone(),
                t.status.as_str().to_owned(),
                opt_human(t.receipt_to_revoked_seconds),
                t.sla_status().to_owned(),
                targets.join("; "),
            ]
        })
        .collect();
    let header = [
        "EMPLOYEE", "NAME", "EMAIL", "SOURCE", "EVENT", "STATUS", "LATENCY", "SLA", "TARGETS",
    ];
    section(out, "TERMINATIONS", &header, rows, &[6]);
}

fn heading(out: &mut String, report: &Report) {
    let c = &report.counts;
    out.push_str(&format!(
        "Deprovision report {} .. {}{}  (SLA {})\n",
        report.window.since.format("%Y-%m-%d %H:%M:%SZ"),
        report.window.until.format("%Y-%m-%d %H:%M:%SZ"),
        report
            .source
            .as_deref()
            .map_or(String::new(), |s| format!("  source {}", one_line(s))),
        human(report.sla_seconds)
    ));
    let org = report
        .organisation
        .as_deref()
        .unwrap_or("(audit.organisation not set)");
    out.push_str(&format!(
        "Organisation {}   prepared by {}   generated {}   time zone {}\n",
        one_line(org),
        one_line(report.prepared_by.as_deref().unwrap_or("-")),
        time(report.generated_at),
        report.time_zone
    ));
    match &report.audit_log {
        Some(log) => {
            let head = log.chain.head.as_ref().map_or("none", |h| h.hash.as_str());
            let verdict = if log.intact {
                "verified"
            } else {
                "NOT VERIFIED"
            };
            out.push_str(&format!(
                "Audit log {verdict}: {}\nAudit log head {head}\n",
                log.summary()
            ));
        }
        None => out.push_str("Audit log not checked\n"),
    }
    out.push_str(&format!(
        "\nterminations {}   completed {}   pending {}   failed {}   scheduled {}   breaches {}\
         \nstale {}   ignored {}   superseded {}   held {}   not revoked {}   reactivations {}\n",
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
    ));
}

fn latency(out: &mut String, report: &Report) {
    let row = |name: &str, p: &Percentiles| {
        vec![
            name.to_owned(),
            p.count.to_string(),
            opt_human(p.p50),
            opt_human(p.p90),
            opt_human(p.p95),
            opt_human(p.p99),
            opt_human(p.max),
        ]
    };
    let latency = &report.latency_seconds;
    let mut rows = vec![
        row("receipt → revoked", &latency.receipt_to_revoked),
        row("effective → revoked", &latency.effective_to_revoked),
    ];
    for (name, stats) in &report.targets {
        rows.push(row(&format!("target {name}"), &stats.latency));
    }
    let header = ["LATENCY", "COUNT", "P50", "P90", "P95", "P99", "MAX"];
    out.push('\n');
    out.push_str(&grid(&header, rows, &[1, 2, 3, 4, 5, 6]));
    out.push('\n');
}
