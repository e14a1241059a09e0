//! Finch: `POST {base_url}/employer/employment` with `{"requests": [{"individual_id"}]}`,
//! bearer token and `Finch-API-Version`. The employment says `is_active`,
//! `employment_status` (`active`, `terminated`, `retired`, `deceased`, `leave`, …) and
//! `end_date`.

use serde_json::{json, Value};

use super::{check, date, send_json, text, EnrichError, Enricher, Record};
use crate::domain::event::Attributes;

const API_VERSION: &str = "2020-09-17";
/// Statuses that mean the person no longer works there.
const GONE: [&str; 3] = ["terminated", "retired", "deceased"];

pub(super) async fn fetch(e: &Enricher, id: &str) -> Result<Option<Record>, EnrichError> {
    let what = "Finch employment API";
    let request = e.client.post(e.url("/employer/employment"));
    let request = request
        .bearer_auth(e.api.token.expose())
        .header("Finch-API-Version", API_VERSION)
        .json(&json!({"requests": [{"individual_id": id}]}));
    let Some(body) = send_json(request, what).await? else {
        return Ok(None);
    };
    // One answer per requested individual, each with its own status code.
    let answers = body["responses"].as_array().cloned().unwrap_or_default();
    let Some(answer) = answers.iter().find(|r| r["individual_id"] == id) else {
        return Ok(None);
    };
    let code = answer["code"].as_u64().and_then(|c| u16::try_from(c).ok());
    let status = code.and_then(|c| reqwest::StatusCode::from_u16(c).ok());
    if check(status.unwrap_or(reqwest::StatusCode::OK), what)?.is_none() {
        return Ok(None);
    }
    Ok(Some(record(&answer["body"])))
}

fn record(body: &Value) -> Record {
    let status = text(body, "employment_status")
        .unwrap_or_default()
        .to_ascii_lowercase();
    let inactive = body["is_active"] == Value::Bool(false);
    let end_date = date(body, "end_date");
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
