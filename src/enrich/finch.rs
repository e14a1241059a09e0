//! Finch: `POST {base_url}/employer/employment` with `{"requests": [{"individual_id"}]}`,
//! bearer token and `Finch-API-Version`. The employment says `is_active`,
//! `employment_status` (`active`, `terminated`, `retired`, `deceased`, `leave`, …) and
//! `end_date`.

use serde_json::{json, Value};

use super::{check, transport, EnrichError, Enricher, Record};
use crate::event::Attributes;

const API_VERSION: &str = "2020-09-17";
/// Statuses that mean the person no longer works there.
const GONE: [&str; 3] = ["terminated", "retired", "deceased"];

pub(super) async fn fetch(e: &Enricher, id: &str) -> Result<Option<Record>, EnrichError> {
    let base = e.api.base_url.trim_end_matches('/');
    let what = "Finch employment API";
    let response = e
        .client
        .post(format!("{base}/employer/employment"))
        .bearer_auth(e.api.token.expose())
        .header("Finch-API-Version", API_VERSION)
        .json(&json!({"requests": [{"individual_id": id}]}))
        .send()
        .await
        .map_err(|err| transport(what, err))?;
    if check(response.status(), what)?.is_none() {
        return Ok(None);
    }
    let body: Value = response.json().await.map_err(|err| transport(what, err))?;
    let answers = body["responses"].as_array().cloned().unwrap_or_default();
    let Some(answer) = answers.iter().find(|r| r["individual_id"] == id) else {
        return Ok(None);
    };
    let code = answer["code"].as_u64().unwrap_or(200);
    let status = reqwest::StatusCode::from_u16(code as u16).unwrap_or(reqwest::StatusCode::OK);
    if check(status, what)?.is_none() {
        return Ok(None);
    }
    Ok(Some(record(&answer["body"])))
}

fn text(v: &Value, key: &str) -> Option<String> {
    let s = v.get(key)?.as_str()?.trim();
    (!s.is_empty()).then(|| s.to_owned())
}

fn record(body: &Value) -> Record {
    let status = text(body, "employment_status")
        .unwrap_or_default()
        .to_ascii_lowercase();
    let inactive = body["is_active"] == Value::Bool(false);
    let end_date = text(body, "end_date")
        .and_then(|d| chrono::NaiveDate::parse_from_str(&d, "%Y-%m-%d").ok())
        .and_then(|d| d.and_hms_opt(0, 0, 0))
        .map(|d| d.and_utc());
    Record {
        left: GONE.contains(&status.as_str()) || (inactive && status != "leave"),
        active: body["is_active"] == Value::Bool(true) && status != "leave",
        termination_date: end_date,
        attributes: Attributes {
            given_name: text(body, "first_name"),
            family_name: text(body, "last_name"),
            title: text(body, "title"),
            department: text(&body["department"], "name"),
            manager_id: text(&body["manager"], "id"),
            start_date: text(body, "start_date"),
            employment_status: text(body, "employment_status"),
            data: body.clone(),
            ..Attributes::default()
        },
        ..Record::default()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_terminated_or_inactive_employment_has_left_but_a_leave_has_not() {
        let r = record(
            &json!({"is_active": false, "employment_status": "terminated", "end_date": "2026-03-30"}),
        );
        assert!(r.left && !r.active);
        assert!(r.termination_date.is_some());
        let leave = record(&json!({"is_active": false, "employment_status": "leave"}));
        assert!(!leave.left && !leave.active);
        let here = record(
            &json!({"is_active": true, "employment_status": "active", "department": {"name": "Sales"}}),
        );
        assert!(here.active && !here.left);
        assert_eq!(here.attributes.department.as_deref(), Some("Sales"));
    }
}
