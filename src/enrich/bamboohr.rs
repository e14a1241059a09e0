//! BambooHR: `GET {base_url}/api/gateway.php/{company}/v1/employees/{id}?fields=…`, HTTP
//! Basic with the API key as user name and any password.

use serde_json::Value;

use super::{check, transport, EnrichError, Enricher, Record};
use crate::event::Attributes;

const FIELDS: &str = "firstName,lastName,displayName,workEmail,department,jobTitle,location,\
                      supervisorEId,hireDate,status,employmentHistoryStatus,terminationDate";

pub(super) async fn fetch(e: &Enricher, id: &str) -> Result<Option<Record>, EnrichError> {
    let company = e.api.company.as_deref().unwrap_or_default();
    let base = e.api.base_url.trim_end_matches('/');
    let url = format!("{base}/api/gateway.php/{company}/v1/employees/{id}");
    let what = "BambooHR employee API";
    let response = e
        .client
        .get(url)
        .query(&[("fields", FIELDS)])
        .basic_auth(e.api.token.expose(), Some("x"))
        .header("Accept", "application/json")
        .send()
        .await
        .map_err(|err| transport(what, err))?;
    if check(response.status(), what)?.is_none() {
        return Ok(None);
    }
    let body: Value = response.json().await.map_err(|err| transport(what, err))?;
    Ok(Some(record(&body)))
}

fn text(v: &Value, key: &str) -> Option<String> {
    let s = v.get(key)?.as_str()?.trim();
    // BambooHR writes an empty date as 0000-00-00.
    (!s.is_empty() && s != "0000-00-00").then(|| s.to_owned())
}

fn record(body: &Value) -> Record {
    let status = text(body, "status").unwrap_or_default();
    let history = text(body, "employmentHistoryStatus").unwrap_or_default();
    let left = status.eq_ignore_ascii_case("inactive")
        || status.eq_ignore_ascii_case("terminated")
        || history.eq_ignore_ascii_case("terminated");
    let termination_date = text(body, "terminationDate")
        .and_then(|d| chrono::NaiveDate::parse_from_str(&d, "%Y-%m-%d").ok())
        .and_then(|d| d.and_hms_opt(0, 0, 0))
        .map(|d| d.and_utc());
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
