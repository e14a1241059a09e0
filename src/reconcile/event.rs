//! The synthetic events of a reconcile run: provisiond's canonical envelope, published
//! under the source's name (`source_kind` `standard-webhooks`, trigger `reconcile`).

use chrono::{DateTime, SecondsFormat, Utc};
use serde_json::{json, Map, Value};
use sha2::{Digest, Sha256};

use super::{DiffKind, Difference};
use crate::domain::access::Access;
use crate::domain::event::{Attributes, CanonicalEvent, EventKind};
use crate::domain::message::QueueMessage;
use crate::domain::SourceKind;
use crate::domain::Trigger;
use crate::enrich::Record;
use crate::normalize::parse_time;
use crate::store::reconcile::Here;

/// The record's own modification time, where the sender gives one.
pub(super) fn record_time(record: &Record) -> Option<DateTime<Utc>> {
    let data = &record.attributes.data;
    [
        "modified_at",
        "updated_at",
        "updatedAt",
        "lastChanged",
        "modifiedAt",
    ]
    .iter()
    .find_map(|key| data.get(*key)?.as_str().and_then(parse_time))
}

/// The record as a canonical update (what the rules decide from).
pub(super) fn canonical(id: &str, record: &Record, at: DateTime<Utc>) -> CanonicalEvent {
    CanonicalEvent {
        kind: EventKind::Updated,
        employee_id: id.to_owned(),
        occurred_at: at,
        effective_at: None,
        attributes: record.attributes.clone(),
    }
}

/// Whether the directory account already has what the rules decide.
pub(super) fn same_decision(decision: &Access, here: &Here) -> bool {
    let mut want = decision.groups.clone();
    want.sort();
    let mut have = here.groups.clone().unwrap_or_default();
    have.sort();
    let entitlements = here
        .entitlements
        .as_ref()
        .and_then(Value::as_object)
        .cloned()
        .unwrap_or_default();
    decision.role == here.role && want == have && decision.entitlements == entitlements
}

/// The event for `diff`. Its id is derived from the employee, the difference, the sender's
/// record and provisiond's state, so a rerun that finds the same difference before the
/// first event was applied derives the same id (and publishes nothing new), while the
/// same difference after a change here (a rehire, then a leave again) gets a new one.
pub(super) fn message(
    source: &str,
    diff: &Difference,
    record: Option<&Record>,
    here: Option<&Here>,
) -> QueueMessage {
    // An update says nothing about status: it must not read as an activation signal.
    let (kind, status) = match diff.kind {
        DiffKind::Termination => ("terminated", Some("terminated")),
        DiffKind::Hire => ("created", Some("active")),
        DiffKind::Update => ("updated", None),
    };
    let attributes = record.map(|r| r.attributes.clone()).unwrap_or_default();
    let mut data = match &attributes.data {
        Value::Object(raw) => raw.clone(),
        _ => Map::new(),
    };
    data.remove("webhook");
    for (key, value) in canonical_fields(&diff.employee_id, &attributes, status) {
        data.insert(key.into(), value);
    }
    if diff.kind == DiffKind::Termination {
        let date = record
            .and_then(|r| r.termination_date)
            .filter(|d| *d <= diff.at);
        data.insert("termination_date".into(), json!(date.map(rfc3339)));
    }
    // Only a record with its own time can prove a rehire (the worker checks this flag).
    let timed = record.and_then(record_time);
    data.insert("record_timed".into(), json!(timed.is_some()));
    // The event is what the run saw: as of the record's own time where it has one (a
    // webhook newer than that record wins), else as of when the run read the list (not
    // the termination date: a date-only one is midnight, older than that day's events).
    let at = rfc3339(timed.unwrap_or(diff.seen_at));
    let body = json!({ "type": format!("employee.{kind}"), "timestamp": at, "data": data });
    let fingerprint = json!({
        "source": source, "employee": diff.employee_id, "kind": kind,
        "record": record.map(|r| &r.attributes.data),
        "here": here.map(|h| (&h.status, h.last_occurred_at, &h.account)),
    });
    let digest = Sha256::digest(fingerprint.to_string().as_bytes());
    let event_id = format!("reconcile:{}", hex::encode(&digest[..16]));
    // A termination is clocked from the sender's termination time (else when the run saw
    // it): a missed webhook shows as the long latency it was.
    let received_at = match diff.kind {
        DiffKind::Termination => diff.at,
        _ => Utc::now(),
    };
    QueueMessage {
        source: source.to_owned(),
        source_kind: SourceKind::StandardWebhooks,
        event_id,
        received_at,
        published_at: None,
        attempt: 0,
        first_failed_at: None,
        trigger: Trigger::Reconcile,
        body: body.to_string().into_bytes().into(),
    }
}

fn canonical_fields(id: &str, a: &Attributes, status: Option<&str>) -> [(&'static str, Value); 11] {
    [
        ("id", json!(id)),
        ("email", json!(a.email)),
        ("given_name", json!(a.given_name)),
        ("family_name", json!(a.family_name)),
        ("display_name", json!(a.display_name)),
        ("department", json!(a.department)),
        ("title", json!(a.title)),
        ("manager_id", json!(a.manager_id)),
        ("location", json!(a.location)),
        ("start_date", json!(a.start_date)),
        ("status", json!(status)),
    ]
}

fn rfc3339(at: DateTime<Utc>) -> String {
    at.to_rfc3339_opts(SecondsFormat::Micros, true)
}
