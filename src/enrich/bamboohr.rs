//! BambooHR: `GET {base_url}/api/gateway.php/{company}/v1/employees/{id}?fields=…`, HTTP
//! Basic with the API key as user name and any password.

use serde_json::Value;

use super::{date, page_of, send_json, text, EnrichError, Enricher, Page, Record};
use crate::domain::event::Attributes;

const FIELDS: &str = "firstName,lastName,displayName,workEmail,department,jobTitle,location,\
                      supervisorEId,hireDate,status,employmentHistoryStatus,terminationDate";

pub(super) async fn fetch(e: &Enricher, id: &str) -> Result<Option<Record>, EnrichError> {
    let company = e.api.company.as_deref().unwrap_or_default();
    let url = e.url(&format!("/api/gateway.php/{company}/v1/employees/{id}"));
    let request = e.client.get(url).query(&[("fields", FIELDS)]);
    let request = request.basic_auth(e.api.token.expose(), Some("x"));
    let body = send_json(request, "BambooHR employee API").await?;
    Ok(body.as_ref().map(record))
}

/// `GET /api/gateway.php/{company}/v1/employees/directory`: `{fields, employees}`, one
/// answer. The directory lists the current employees: each is active unless its own
/// status says otherwise; an employee missing from it has left.
pub(super) async fn list(e: &Enricher) -> Result<Page, EnrichError> {
    let company = e.api.company.as_deref().unwrap_or_default();
    let url = e.url(&format!(
        "/api/gateway.php/{company}/v1/employees/directory"
    ));
    let request = e
        .client
        .get(url)
        .basic_auth(e.api.token.expose(), Some("x"));
    let body = send_json(request, "BambooHR employee directory").await?;
    let body = body.ok_or_else(|| EnrichError::Permanent("BambooHR directory not found".into()))?;
    let what = "BambooHR employee directory";
    let records = page_of(body["employees"].as_array(), what, &["id"], directory_entry)?;
    Ok(Page {
        records,
        next: None,
    })
}

fn directory_entry(body: &Value) -> Record {
    let mut record = record(body);
    if text(body, "status").is_none() {
        record.active = true;
    }
    record
}

fn record(body: &Value) -> Record {
    let status = text(body, "status").unwrap_or_default();
    let history = text(body, "employmentHistoryStatus").unwrap_or_default();
    let left = status.eq_ignore_ascii_case("inactive")
        || status.eq_ignore_ascii_case("terminated")
        || history.eq_ignore_ascii_case("terminated");
    let termination_date = date(body, "terminationDate");
    Record {
        left,
        active: status.eq_ignore_ascii_case("active"),
        termination_date,
        attributes: Attributes {
            email: text(body, "workEmail"),
            given_name: text(body, "firstName"),
            family_name: text(body, "lastName"),
            display_name: text(body, "displayName"),
            department: text(body, "department"),
            title: text(body, "jobTitle"),
            manager_id: text(body, "supervisorEId"),
            location: text(body, "location"),
            start_date: text(body, "hireDate"),
            employment_status: text(body, "status"),
            data: body.clone(),
        },
        ..Record::default()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn an_inactive_record_has_left_and_an_empty_date_is_none() {
        let r = record(&json!({"id": "7", "status": "Inactive", "terminationDate": "0000-00-00"}));
        assert!(r.left && !r.active);
        assert_eq!(r.termination_date, None);
        let r = record(
            &json!({"status": "Active", "firstName": "Ada", "terminationDate": "2026-06-30"}),
        );
        assert!(r.active && !r.left);
        assert_eq!(r.attributes.given_name.as_deref(), Some("Ada"));
        assert!(r.termination_date.is_some());
    }
}
