//! Tests of the classification of terminations, the assembled report and its parameters.

use std::time::Duration;

use serde_json::Value;

use super::classify::classify;
use super::fixture::*;
use super::not_revoked::{self, Reason};
use super::{Params, Status, Stuck};

#[test]
fn audit_a_directory_only_termination_completes_when_processed() {
    let c = applied("2026-03-01T09:00:00Z", "2026-03-01T09:00:00.25Z");
    let t = classify(&c, &[], None, at("2026-03-02T00:00:00Z"), SLA);
    assert_eq!(t.status, Status::Completed);
    assert_eq!(t.completed_at, Some(at("2026-03-01T09:00:00.25Z")));
    assert_eq!(t.receipt_to_revoked_seconds, Some(0.25));
    // From occurred_at (no effective date): one hour and a quarter second.
    assert_eq!(t.effective_to_revoked_seconds, Some(3600.25));
    assert!(!t.breach);
    assert!(t.stuck_at.is_empty());
}

#[test]
fn audit_completion_waits_for_the_last_target() {
    let c = applied("2026-03-01T09:00:00Z", "2026-03-01T09:00:01Z");
    let done = action("succeeded", Some("2026-03-01T09:20:00Z"), None);
    let t = classify(&c, &[&done], None, at("2026-03-02T00:00:00Z"), SLA);
    assert_eq!(t.status, Status::Completed);
    assert_eq!(t.completed_at, Some(at("2026-03-01T09:20:00Z")));
    assert_eq!(t.receipt_to_revoked_seconds, Some(1200.0));
    assert!(t.breach, "20 minutes is over a 15 minute SLA");
}

#[test]
fn audit_a_failed_target_or_dead_letter_makes_it_failed_and_says_where() {
    let c = applied("2026-03-01T09:00:00Z", "2026-03-01T09:00:01Z");
    let failed = action("failed", Some("2026-03-01T09:00:02Z"), Some("http 400"));
    let dead = letter(7, "dead");
    let now = at("2026-03-01T09:10:00Z");
    let t = classify(&c, &[&failed], Some(&dead), now, SLA);
    assert_eq!(t.status, Status::Failed);
    assert_eq!(t.completed_at, None);
    assert_eq!(t.age_seconds, Some(600.0));
    assert!(!t.breach, "10 minutes old, under the SLA");
    assert_eq!(
        t.stuck_at,
        vec![
            Stuck {
                target: Some("product".into()),
                status: "failed".into(),
                error: Some("http 400".into())
            },
            Stuck {
                target: None,
                status: "dead_lettered".into(),
                error: Some("dead-lettered: permanent_error (dead letter 7)".into())
            },
        ]
    );
    let later = classify(&c, &[&failed], Some(&dead), at("2026-03-01T10:00:00Z"), SLA);
    assert!(later.breach, "still incomplete after an hour");
}

#[test]
fn audit_a_pending_target_is_pending() {
    let c = applied("2026-03-01T09:00:00Z", "2026-03-01T09:00:01Z");
    let pending = action("pending", None, None);
    let t = classify(&c, &[&pending], None, at("2026-03-01T09:01:00Z"), SLA);
    assert_eq!(t.status, Status::Pending);
    assert_eq!(t.stuck_at[0].target.as_deref(), Some("product"));
}

#[test]
fn audit_a_scheduled_termination_starts_its_clock_when_due() {
    let mut c = applied("2026-03-01T09:00:00Z", "2026-03-05T00:00:02Z");
    c.trigger = "scheduled".into();
    c.due_at = Some(at("2026-03-05T00:00:00Z"));
    c.effective_at = Some(at("2026-03-04T00:00:00Z"));
    let t = classify(&c, &[], None, at("2026-03-06T00:00:00Z"), SLA);
    assert_eq!(t.clock_started_at, at("2026-03-05T00:00:00Z"));
    assert_eq!(t.receipt_to_revoked_seconds, Some(2.0));
    assert_eq!(t.effective_to_revoked_seconds, Some(86_402.0));
    assert!(!t.breach);
}

#[test]
fn audit_a_stale_termination_revoked_nothing_and_says_why() {
    let why = "older than the employee's re-activation";
    let c = unrevoked("stale", "2026-03-01T09:00:00Z", why);
    let t = classify(&c, &[], None, at("2026-03-01T09:10:00Z"), SLA);
    assert_eq!(t.status, Status::Stale);
    assert_eq!(t.not_revoked_reason, Some(Reason::Stale));
    assert_eq!(t.completed_at, None);
    assert_eq!(t.receipt_to_revoked_seconds, None);
    assert_eq!(t.age_seconds, Some(600.0));
    assert!(!t.breach, "10 minutes old, under the SLA");
    assert_eq!(t.targets[0].status, "stale");
    assert_eq!(t.targets[0].revoked_at, None);
    assert_eq!(
        t.stuck_at,
        vec![Stuck {
            target: Some("directory".into()),
            status: "stale".into(),
            error: Some(why.into()),
        }]
    );
    assert_eq!(
        not_revoked::detail(Reason::Stale, &t),
        "Stale, nothing was deactivated: older than the employee's re-activation."
    );
    let later = classify(&c, &[], None, at("2026-03-01T10:00:00Z"), SLA);
    assert!(later.breach, "an hour later the leaver still has access");
}

#[test]
fn audit_an_ignored_termination_is_not_revoked_either() {
    let c = unrevoked("ignored", "2026-03-01T09:00:00Z", "unknown employee");
    let t = classify(&c, &[], None, at("2026-03-01T09:01:00Z"), SLA);
    assert_eq!(t.status, Status::Ignored);
    assert_eq!(t.not_revoked_reason, Some(Reason::Ignored));
    assert_eq!(t.stuck_at[0].error.as_deref(), Some("unknown employee"));
}

#[test]
fn audit_a_superseded_target_is_neither_revoked_nor_open() {
    let c = applied("2026-03-01T09:00:00Z", "2026-03-01T09:00:01Z");
    let done = action_on("crm", "succeeded", Some("2026-03-01T09:00:02Z"), None);
    let not_sent = action("superseded", None, Some("rehired since"));
    let t = classify(
        &c,
        &[&done, &not_sent],
        None,
        at("2026-03-01T09:05:00Z"),
        SLA,
    );
    assert_eq!(t.status, Status::Superseded);
    assert_eq!(t.not_revoked_reason, Some(Reason::Superseded));
    assert_eq!(t.completed_at, None, "not every target was revoked");
    assert_eq!(t.receipt_to_revoked_seconds, None);
    assert_eq!(t.age_seconds, Some(300.0));
    assert_eq!(
        t.stuck_at,
        vec![Stuck {
            target: Some("product".into()),
            status: "superseded".into(),
            error: Some("rehired since".into()),
        }]
    );
    assert_eq!(
        not_revoked::detail(Reason::Superseded, &t),
        "Not sent: product: superseded: rehired since."
    );
}

#[test]
fn audit_a_failed_or_pending_target_outranks_a_superseded_one() {
    let c = applied("2026-03-01T09:00:00Z", "2026-03-01T09:00:01Z");
    let not_sent = action("superseded", None, Some("rehired since"));
    let now = at("2026-03-01T09:05:00Z");
    let pending = action_on("crm", "pending", None, None);
    let t = classify(&c, &[&pending, &not_sent], None, now, SLA);
    assert_eq!(t.status, Status::Pending);
    assert_eq!(t.not_revoked_reason, Some(Reason::Pending));
    let failed = action_on("crm", "failed", None, Some("http 500"));
    let t = classify(&c, &[&failed, &not_sent], None, now, SLA);
    assert_eq!(t.status, Status::Failed);
    assert_eq!(t.not_revoked_reason, Some(Reason::Failed));
    assert_eq!(t.stuck_at.len(), 2, "{:?}", t.stuck_at);
}

#[test]
fn audit_a_discarded_dead_letter_stays_failed_and_a_replayed_one_pending() {
    let now = at("2026-03-01T09:05:00Z");
    let discarded = unapplied("2026-03-01T09:00:00Z", "discarded");
    let t = classify(&discarded, &[], None, now, SLA);
    assert_eq!(t.status, Status::Failed);
    assert_eq!(t.not_revoked_reason, Some(Reason::DeadLettered));
    assert_eq!(
        t.stuck_at[1].error.as_deref(),
        Some("dead letter 7 discarded (permanent_error); it will not be retried")
    );
    assert_eq!(
        not_revoked::detail(Reason::DeadLettered, &t),
        "Dead letter 7, discarded (permanent_error): payload has no employee id."
    );
    let replayed = unapplied("2026-03-01T09:00:00Z", "replayed");
    let t = classify(&replayed, &[], None, now, SLA);
    assert_eq!(t.status, Status::Pending);
    assert_eq!(t.not_revoked_reason, Some(Reason::Pending));
    assert_eq!(t.stuck_at[1].status, "dead_letter_replayed");
}

#[test]
fn audit_an_applied_termination_with_a_discarded_letter_is_dead_lettered() {
    let c = applied("2026-03-01T09:00:00Z", "2026-03-01T09:00:01Z");
    let failed = action("failed", None, Some("http 400"));
    let letter = letter(3, "discarded");
    let now = at("2026-03-01T09:05:00Z");
    let t = classify(&c, &[&failed], Some(&letter), now, SLA);
    assert_eq!(t.status, Status::Failed);
    assert_eq!(t.not_revoked_reason, Some(Reason::DeadLettered));
    // A discarded letter alone does not hold back targets that are all revoked.
    let done = action("succeeded", Some("2026-03-01T09:01:00Z"), None);
    let t = classify(&c, &[&done], Some(&letter), now, SLA);
    assert_eq!(t.status, Status::Completed);
    assert_eq!(t.not_revoked_reason, None);
}

#[test]
fn audit_a_scheduled_termination_past_due_is_not_revoked_as_such() {
    let mut c = applied("2026-03-01T09:00:00Z", "2026-03-01T09:00:00Z");
    c.origin = "scheduler".into();
    c.processed_at = None;
    c.due_at = Some(at("2026-03-02T00:00:00Z"));
    c.scheduler_status = Some("scheduled".into());
    let t = classify(&c, &[], None, at("2026-03-02T01:00:00Z"), SLA);
    assert_eq!(t.status, Status::Pending);
    assert_eq!(t.not_revoked_reason, Some(Reason::ScheduledPastDue));
    assert!(t.breach);
    assert_eq!(
        not_revoked::detail(Reason::ScheduledPastDue, &t),
        "Past due: directory: pending; \
         due at 2026-03-02T00:00:00+00:00; not yet enqueued by the scheduler."
    );
}

#[test]
fn audit_the_report_lists_every_termination_not_revoked_and_the_rehires() {
    let r = report();
    let c = &r.counts;
    assert_eq!(c.terminations, 4);
    assert_eq!(
        (c.completed, c.pending, c.failed),
        (1, 0, 1),
        "the discarded dead letter is failed"
    );
    assert_eq!((c.stale, c.superseded, c.ignored), (1, 1, 0));
    assert_eq!((c.not_revoked, c.reactivations), (3, 1));
    let reasons: Vec<(&str, Reason)> = r
        .not_revoked
        .iter()
        .map(|n| (n.event_id.as_str(), n.reason))
        .collect();
    assert_eq!(
        reasons,
        vec![
            ("ev_stale", Reason::Stale),
            ("ev_dead", Reason::DeadLettered),
            ("ev_back", Reason::Superseded),
        ]
    );
    let incomplete: Vec<&str> = r.incomplete.iter().map(|i| i.event_id.as_str()).collect();
    assert_eq!(
        incomplete,
        ["ev_dead"],
        "incomplete keeps pending and failed only"
    );
    assert_eq!(r.targets["product"].superseded, 1);
    // Every one is over the SLA a day later: breaches, whatever the reason.
    assert_eq!(c.breaches, 3);

    let json = serde_json::to_value(&r).unwrap();
    let item = json["not_revoked"][0].as_object().unwrap();
    let mut keys: Vec<&str> = item.keys().map(String::as_str).collect();
    keys.sort_unstable();
    let mut expected = vec![
        "source",
        "employee_id",
        "event_id",
        "reason",
        "status",
        "detail",
        "received_at",
        "clock_started_at",
        "age_seconds",
        "breach",
        "stuck_at",
    ];
    expected.sort_unstable();
    assert_eq!(keys, expected);
    assert_eq!(item["reason"], "stale");
    assert_eq!(item["status"], "stale");
    assert_eq!(json["not_revoked"][1]["reason"], "dead_lettered");
    assert_eq!(json["terminations"][1]["not_revoked_reason"], "stale");
    assert_eq!(json["terminations"][0]["not_revoked_reason"], Value::Null);
    assert_eq!(
        json["reactivations"][0]["previous_termination_event_id"],
        "ev_back"
    );
    assert_eq!(json["reactivations"][0]["reason"], "rehire");
    for key in [
        "stale",
        "superseded",
        "ignored",
        "not_revoked",
        "reactivations",
    ] {
        assert!(json["counts"][key].is_u64(), "counts.{key}");
    }
}

#[test]
fn audit_params_parse_defaults_and_reject_nonsense() {
    let now = at("2026-03-31T00:00:00Z");
    let sla = Duration::from_secs(900);
    let p = Params::parse(None, None, None, None, sla, now).unwrap();
    assert_eq!(p.since, at("2026-03-01T00:00:00Z"));
    assert_eq!(p.until, now);
    assert_eq!(p.sla, sla);
    let p = Params::parse(Some("2h"), Some(""), Some("hris"), Some("4h"), sla, now).unwrap();
    assert_eq!(p.since, at("2026-03-30T22:00:00Z"));
    assert_eq!(p.source.as_deref(), Some("hris"));
    assert_eq!(p.sla, Duration::from_secs(4 * 3600));
    assert!(Params::parse(Some("1h"), Some("2h"), None, None, sla, now).is_err());
    assert!(Params::parse(None, None, None, Some("soon"), sla, now).is_err());
    assert!(Params::parse(None, None, None, Some("0s"), sla, now).is_err());
}
