//! The CSV rendering: one row per termination, then one per reactivation.

use std::borrow::Cow;
use std::collections::BTreeSet;

use super::not_revoked::Reactivation;
use super::report::{Report, Timeline};
use super::{opt_num, opt_time, stuck_text, time};

/// The fixed CSV columns; then `revoked_at:<target>` per target, then `stuck_at`, then
/// [`CSV_TRAILING_COLUMNS`].
pub const CSV_COLUMNS: [&str; 17] = [
    "source",
    "employee_id",
    "event_id",
    "trigger",
    "status",
    "occurred_at",
    "effective_at",
    "received_at",
    "due_at",
    "clock_started_at",
    "published_at",
    "processed_at",
    "completed_at",
    "receipt_to_revoked_seconds",
    "effective_to_revoked_seconds",
    "age_seconds",
    "breach",
];

/// The last columns, added after the others so that existing readers keep their places:
/// why a termination did not revoke everything (empty once completed), and what the row
/// is (`termination` or `reactivation`).
pub const CSV_TRAILING_COLUMNS: [&str; 2] = ["not_revoked_reason", "record"];

/// Right after [`CSV_COLUMNS`]: who the row is about. After the `revoked_at:<target>`
/// columns come as many `sla:<target>` (`met`, `breached`, `open`), then `stuck_at`.
pub const CSV_PERSON_COLUMNS: [&str; 2] = ["employee_name", "employee_email"];

/// One row per termination, then one per reactivation (RFC 4180 by the `csv` crate: CRLF
/// line ends, quotes where needed), every cell through [`neutralise`].
pub fn csv(report: &Report) -> String {
    let targets: BTreeSet<&str> = report
        .terminations
        .iter()
        .flat_map(|t| t.targets.iter().map(|r| r.target.as_str()))
        .collect();
    let mut header: Vec<String> = CSV_COLUMNS.iter().map(|c| (*c).to_owned()).collect();
    header.extend(CSV_PERSON_COLUMNS.iter().map(|c| (*c).to_owned()));
    header.extend(targets.iter().map(|t| format!("revoked_at:{t}")));
    header.extend(targets.iter().map(|t| format!("sla:{t}")));
    header.push("stuck_at".to_owned());
    header.extend(CSV_TRAILING_COLUMNS.iter().map(|c| (*c).to_owned()));
    let mut rows = vec![header];
    for t in &report.terminations {
        let mut fields = timeline_fields(t);
        fields.push(t.employee_name.clone().unwrap_or_default());
        fields.push(t.employee_email.clone().unwrap_or_default());
        for target in &targets {
            let revoked = t.targets.iter().find(|r| r.target == *target);
            fields.push(opt_time(revoked.and_then(|r| r.revoked_at)));
        }
        for target in &targets {
            let revocation = t.targets.iter().find(|r| r.target == *target);
            fields.push(revocation.map_or("", |r| r.sla_status).to_owned());
        }
        fields.push(stuck_text(&t.stuck_at));
        let reason = t.not_revoked_reason.map(|r| r.as_str());
        fields.push(reason.unwrap_or_default().to_owned());
        fields.push("termination".to_owned());
        rows.push(fields);
    }
    let width = rows[0].len();
    for r in &report.reactivations {
        rows.push(reactivation_fields(r, width));
    }
    write_rows(&rows)
}

/// The rows as CSV text.
pub(super) fn write_rows(rows: &[Vec<String>]) -> String {
    let mut writer = ::csv::WriterBuilder::new()
        .terminator(::csv::Terminator::CRLF)
        .from_writer(Vec::new());
    for row in rows {
        // Writing to memory cannot fail.
        let _ = writer.write_record(row.iter().map(|f| neutralise(f).into_owned()));
    }
    let bytes = writer.into_inner().unwrap_or_default();
    String::from_utf8(bytes).unwrap_or_default()
}

/// A reactivation in the termination columns that apply to it; the others empty.
fn reactivation_fields(r: &Reactivation, width: usize) -> Vec<String> {
    let mut fields = vec![String::new(); width];
    let mut set = |column: &str, value: String| {
        if let Some(i) = CSV_COLUMNS.iter().position(|c| *c == column) {
            fields[i] = value;
        }
    };
    set("source", r.source.clone());
    set("employee_id", r.employee_id.clone().unwrap_or_default());
    set("event_id", r.event_id.clone());
    set("trigger", r.trigger.clone());
    set("status", "reactivated".to_owned());
    set("occurred_at", opt_time(r.occurred_at));
    set("received_at", time(r.received_at));
    set("processed_at", opt_time(r.processed_at));
    fields[width - 1] = "reactivation".to_owned();
    fields
}

fn timeline_fields(t: &Timeline) -> Vec<String> {
    vec![
        t.source.clone(),
        t.employee_id.clone().unwrap_or_default(),
        t.event_id.clone(),
        t.trigger.clone(),
        t.status.as_str().to_owned(),
        opt_time(t.occurred_at),
        opt_time(t.effective_at),
        time(t.received_at),
        opt_time(t.due_at),
        time(t.clock_started_at),
        opt_time(t.published_at),
        opt_time(t.processed_at),
        opt_time(t.completed_at),
        opt_num(t.receipt_to_revoked_seconds),
        opt_num(t.effective_to_revoked_seconds),
        opt_num(t.age_seconds),
        t.breach.to_string(),
    ]
}

/// A cell a spreadsheet would run as a formula (sender-controlled ids, target errors:
/// starting with `=`, `+`, `-`, `@`, tab or CR) is kept as text with a leading `'`;
/// numbers such as a negative latency stay numbers.
pub(super) fn neutralise(field: &str) -> Cow<'_, str> {
    let formula = field.starts_with(['=', '+', '-', '@', '\t', '\r']);
    if formula && field.parse::<f64>().is_err() {
        Cow::Owned(format!("'{field}"))
    } else {
        Cow::Borrowed(field)
    }
}
