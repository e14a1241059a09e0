//! Gusto: `GET {base_url}/v1/employees/{employee_uuid}` with a bearer token. The employee
//! says `terminated` (and `terminations[].effective_date`), names, `email`, `department`
//! and `jobs[].title`. Gusto's webhooks carry no attribute at all, so every event of a
//! source with `api` is completed from here.

use serde_json::Value;

use super::{date, page_of, send_json, text, EnrichError, Enricher, Page, Record, PAGE_SIZE};
use crate::domain::event::Attributes;

pub(super) async fn fetch(e: &Enricher, id: &str) -> Result<Option<Record>, EnrichError> {
    let request = e.client.get(e.url(&format!("/v1/employees/{id}")));
    let request = request.bearer_auth(e.api.token.expose());
    let body = send_json(request, "Gusto employee API").await?;
    Ok(body.as_ref().map(record))
}

/// `GET /v1/companies/{company}/employees?page=…&per=…`: an array; a short page is the last.
pub(super) async fn list(e: &Enricher, cursor: Option<&str>) -> Result<Page, EnrichError> {
    let company = e.api.company.as_deref().unwrap_or_default();
    let page: u64 = cursor.and_then(|c| c.parse().ok()).unwrap_or(1);
    let url = e.url(&format!("/v1/companies/{company}/employees"));
    let request = e
        .client
        .get(url)
        .query(&[("page", page), ("per", PAGE_SIZE as u64)]);
    let request = request.bearer_auth(e.api.token.expose());
    let body = send_json(request, "Gusto employees API").await?;
    let body = body.ok_or_else(|| EnrichError::Permanent("Gusto company not found".into()))?;
    // Gusto's webhooks name employees by `uuid` (`entity_uuid`), not the legacy `id`.
    let items = body.as_array();
    let full = items.is_some_and(|items| items.len() >= PAGE_SIZE);
    let records = page_of(items, "Gusto employees API", &["uuid", "id"], record)?;
    let next = full.then(|| (page + 1).to_string());
    Ok(Page { records, next })
}

fn record(body: &Value) -> Record {
    let terminated = body["terminated"] == Value::Bool(true);
    // The termination that counts: the active one, else the latest.
    let terminations = body["terminations"].as_array().cloned().unwrap_or_default();
    let termination = terminations
        .iter()
        .find(|t| t["active"] == Value::Bool(true))
        .or(terminations.last());
    let termination_date = termination.and_then(|t| date(t, "effective_date"));
    let jobs = body["jobs"].as_array().cloned().unwrap_or_default();
    let job = jobs
        .iter()
        .find(|j| j["primary"] == Value::Bool(true))
        .or(jobs.first());
    Record {
        left: terminated,
        active: !terminated && termination.is_none(),
        termination_date,
        attributes: Attributes {
            email: text(body, "work_email").or_else(|| text(body, "email")),
            given_name: text(body, "first_name"),
            family_name: text(body, "last_name"),
            department: text(body, "department"),
            title: job.and_then(|j| text(j, "title")),
            manager_id: text(body, "manager_uuid"),
            data: body.clone(),
            ..Attributes::default()
        },
        ..Record::default()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn a_terminated_employee_has_left_with_the_active_termination_date() {
        let r = record(&json!({"uuid": "e1", "terminated": true,
            "terminations": [{"active": true, "effective_date": "2026-03-31"}]}));
        assert!(r.left && !r.active);
        assert!(r.termination_date.is_some());
        let future = record(&json!({"terminated": false,
            "terminations": [{"active": true, "effective_date": "2026-12-31"}]}));
        assert!(
            !future.left && !future.active,
            "a termination is coming: not an active signal"
        );
        assert!(future.termination_date.is_some(), "scheduled from its date");
        let here = record(
            &json!({"terminated": false, "first_name": "Ada", "department": "Sales",
            "jobs": [{"title": "AE", "primary": true}]}),
        );
        assert!(here.active);
        assert_eq!(here.attributes.title.as_deref(), Some("AE"));
    }
}
