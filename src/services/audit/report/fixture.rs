//! Rows and a report for the tests of the report and of the renderings.

use std::time::Duration;

use chrono::{DateTime, Utc};

use super::aggregate::assemble;
use super::classify::classify;
use super::not_revoked::Reactivation;
use super::query::{ActionRow, Candidate, DeadRow};
use super::{Params, Report};

pub(crate) fn at(text: &str) -> DateTime<Utc> {
    DateTime::parse_from_rfc3339(text)
        .unwrap()
        .with_timezone(&Utc)
}

pub(super) fn applied(received: &str, processed: &str) -> Candidate {
    Candidate {
        origin: "applied".into(),
        source: "hris".into(),
        employee_id: Some("emp".into()),
        event_id: "ev".into(),
        trigger: "webhook".into(),
        occurred_at: Some(at("2026-03-01T08:00:00Z")),
        effective_at: None,
        received_at: at(received),
        due_at: None,
        published_at: None,
        processed_at: Some(at(processed)),
        directory: "directory".into(),
        scheduler_status: None,
        dead_letter_id: None,
        dead_letter_reason: None,
        dead_letter_error: None,
        dead_letter_status: None,
        event_reason: None,
    }
}

/// A termination processed without effect: `outcome` `stale` or `ignored`.
pub(super) fn unrevoked(outcome: &str, received: &str, reason: &str) -> Candidate {
    let mut c = applied(received, received);
    c.origin = outcome.into();
    c.event_reason = Some(reason.into());
    c
}

/// A termination dead-lettered before it was applied, its letter in `status`.
pub(super) fn unapplied(received: &str, letter_status: &str) -> Candidate {
    let mut c = applied(received, received);
    c.origin = "dead_lettered".into();
    c.occurred_at = None;
    c.processed_at = None;
    c.dead_letter_id = Some(7);
    c.dead_letter_reason = Some("permanent_error".into());
    c.dead_letter_error = Some("payload has no employee id".into());
    c.dead_letter_status = Some(letter_status.into());
    c
}

pub(super) fn action(status: &str, finished: Option<&str>, error: Option<&str>) -> ActionRow {
    action_on("product", status, finished, error)
}

pub(super) fn action_on(
    target: &str,
    status: &str,
    finished: Option<&str>,
    error: Option<&str>,
) -> ActionRow {
    ActionRow {
        source: "hris".into(),
        event_id: "ev".into(),
        target: target.into(),
        status: status.into(),
        error: error.map(str::to_owned),
        attempts: 1,
        finished_at: finished.map(at),
    }
}

/// The dead letter of an applied termination that failed with `http 400`.
pub(super) fn letter(id: i64, status: &str) -> DeadRow {
    DeadRow {
        source: "hris".into(),
        event_id: "ev".into(),
        id,
        reason: "permanent_error".into(),
        last_error: "http 400".into(),
        status: status.into(),
    }
}

pub(super) const SLA: i64 = 15 * 60 * 1_000_000;

fn named(mut c: Candidate, employee: &str, event_id: &str) -> Candidate {
    c.employee_id = Some(employee.into());
    c.event_id = event_id.into();
    c
}

/// A day's report: one completed, one stale (its employee id needs escaping), one
/// dead-lettered and discarded, one superseded, and a rehire.
pub(crate) fn report() -> Report {
    let now = at("2026-03-02T00:00:00Z");
    let done = named(
        applied("2026-03-01T09:00:00Z", "2026-03-01T09:00:01Z"),
        "ok",
        "ev_ok",
    );
    let stale = named(
        unrevoked(
            "stale",
            "2026-03-01T10:00:00Z",
            "older than the employee's re-activation",
        ),
        "<b>stale, \"one\"</b>",
        "ev_stale",
    );
    let dead = named(
        unapplied("2026-03-01T11:00:00Z", "discarded"),
        "dead",
        "ev_dead",
    );
    let superseded = named(
        applied("2026-03-01T12:00:00Z", "2026-03-01T12:00:01Z"),
        "back",
        "ev_back",
    );
    let not_sent = action("superseded", None, Some("rehired since: not sent"));
    let terminations = vec![
        classify(&done, &[], None, now, SLA),
        classify(&stale, &[], None, now, SLA),
        classify(&dead, &[], None, now, SLA),
        classify(&superseded, &[&not_sent], None, now, SLA),
    ];
    let rehire = Reactivation {
        source: "hris".into(),
        employee_id: Some("back".into()),
        event_id: "ev_rehire".into(),
        kind: Some("created".into()),
        trigger: "webhook".into(),
        reason: "rehire".into(),
        occurred_at: Some(at("2026-03-01T12:30:00Z")),
        received_at: at("2026-03-01T12:30:01Z"),
        processed_at: Some(at("2026-03-01T12:30:02Z")),
        previous_termination_event_id: Some("ev_back".into()),
    };
    let params = Params {
        since: at("2026-03-01T00:00:00Z"),
        until: now,
        source: None,
        sla: Duration::from_secs(900),
        now,
        organisation: Some("Example <Corp>".into()),
        prepared_by: Some("auditor".into()),
        time_zone: chrono_tz::Europe::Paris,
    };
    assemble(&params, terminations, Vec::new(), vec![rehire])
}
