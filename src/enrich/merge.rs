//! Merge: `GET {base_url}/api/hris/v1/employees/{id}` with the API key as a bearer token
//! and the linked account's `X-Account-Token`. Merge's webhooks carry the whole Employee,
//! so only an event without `employment_status` (a field the integration did not supply)
//! is completed from here. The Employee says `employment_status` (ACTIVE, PENDING,
//! INACTIVE), `termination_date`, `start_date` and `remote_was_deleted`.

use serde_json::Value;

use super::{date, page_of, send_json, text, EnrichError, Enricher, Page, Record, PAGE_SIZE};

pub(super) async fn fetch(e: &Enricher, id: &str) -> Result<Option<Record>, EnrichError> {
    let request = e.client.get(e.url(&format!("/api/hris/v1/employees/{id}")));
    let account = e.api.account_token.as_ref().map_or("", |t| t.expose());
    let request = request
        .bearer_auth(e.api.token.expose())
        .header("X-Account-Token", account);
    let body = send_json(request, "Merge employees API").await?;
    Ok(body.as_ref().map(record))
}

/// `GET /api/hris/v1/employees?cursor=…`: `{next, previous, results}`.
pub(super) async fn list(e: &Enricher, cursor: Option<&str>) -> Result<Page, EnrichError> {
    let mut request = e.client.get(e.url("/api/hris/v1/employees"));
    request = request.query(&[("page_size", PAGE_SIZE.to_string())]);
    if let Some(cursor) = cursor {
        request = request.query(&[("cursor", cursor)]);
    }
    let account = e.api.account_token.as_ref().map_or("", |t| t.expose());
    let request = request
        .bearer_auth(e.api.token.expose())
        .header("X-Account-Token", account);
    let body = send_json(request, "Merge employees API").await?;
    let body =
        body.ok_or_else(|| EnrichError::Permanent("Merge employees API answered 404".into()))?;
    Ok(Page {
        records: page_of(
            body["results"].as_array(),
            "Merge employees API",
            &["id"],
            record,
        )?,
        next: text(&body, "next"),
    })
}

fn record(body: &Value) -> Record {
    let status = text(body, "employment_status").unwrap_or_default();
    let deleted = body["remote_was_deleted"] == Value::Bool(true);
    // A past termination date before a later start is a rehire's history, not a leave; a
    // future one is kept whatever the start (a pre-hire who will not stay).
    let start = date(body, "start_date");
    let now = chrono::Utc::now();
    let termination_date = date(body, "termination_date")
        .filter(|t| *t > now || start.is_none_or(|start| start <= *t));
    Record {
        left: status.eq_ignore_ascii_case("inactive") || deleted,
        active: status.eq_ignore_ascii_case("active") && !deleted,
        termination_date,
        attributes: crate::normalize::merge::attributes(body),
        ..Record::default()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn an_inactive_or_deleted_employee_has_left_and_a_pending_one_is_not_active() {
        let gone = record(&json!({"id": "e1", "employment_status": "INACTIVE",
            "termination_date": "2026-03-31T00:00:00Z"}));
        assert!(gone.left && !gone.active);
        assert!(gone.termination_date.is_some());
        let deleted = record(&json!({"id": "e1", "employment_status": "ACTIVE",
            "remote_was_deleted": true}));
        assert!(deleted.left && !deleted.active);
        let pending = record(&json!({"id": "e1", "employment_status": "PENDING",
            "start_date": "2030-01-01T00:00:00Z"}));
        assert!(!pending.left && !pending.active);
        assert_eq!(
            pending.attributes.employment_status.as_deref(),
            Some("PENDING")
        );
    }

    #[test]
    fn a_rehire_s_old_termination_date_is_not_a_leave() {
        let back = record(&json!({"id": "e1", "employment_status": "ACTIVE",
            "termination_date": "2025-01-31", "start_date": "2026-02-01"}));
        assert!(back.active && !back.left);
        assert_eq!(back.termination_date, None);
    }
}
