//! WorkOS: `GET {base_url}/directory_users/{id}` with the API key as a bearer token. The
//! webhooks carry the whole directory user, so only an event without `state` is completed
//! from here: `active`, or `inactive` (WorkOS folded `suspended` into it) for a leaver.

use serde_json::Value;

use super::{page_of, send_json, text, EnrichError, Enricher, Page, Record, PAGE_SIZE};

pub(super) async fn fetch(e: &Enricher, id: &str) -> Result<Option<Record>, EnrichError> {
    let request = e.client.get(e.url(&format!("/directory_users/{id}")));
    let request = request.bearer_auth(e.api.token.expose());
    let body = send_json(request, "WorkOS directory users API").await?;
    Ok(body.as_ref().map(record))
}

/// `GET /directory_users?directory=…&after=…`: `{data, list_metadata: {after}}`.
pub(super) async fn list(e: &Enricher, cursor: Option<&str>) -> Result<Page, EnrichError> {
    let directory = e.api.directory.as_deref().unwrap_or_default();
    let mut request = e.client.get(e.url("/directory_users"));
    request = request.query(&[("directory", directory), ("limit", &PAGE_SIZE.to_string())]);
    if let Some(after) = cursor {
        request = request.query(&[("after", after)]);
    }
    let request = request.bearer_auth(e.api.token.expose());
    let body = send_json(request, "WorkOS directory users API").await?;
    let body = body.ok_or_else(|| EnrichError::Permanent("WorkOS directory not found".into()))?;
    Ok(Page {
        records: page_of(
            body["data"].as_array(),
            "WorkOS directory users",
            &["id"],
            record,
        )?,
        next: text(&body["list_metadata"], "after"),
    })
}

fn record(body: &Value) -> Record {
    let state = text(body, "state").unwrap_or_default().to_ascii_lowercase();
    Record {
        left: state == "inactive" || state == "suspended",
        active: state == "active",
        attributes: crate::normalize::workos::attributes(body),
        ..Record::default()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn the_state_says_whether_the_user_left() {
        let gone = record(&json!({"id": "directory_user_1", "state": "inactive"}));
        assert!(gone.left && !gone.active);
        let here = record(&json!({"id": "directory_user_1", "state": "active",
            "email": "ada@example.com", "directory_id": "directory_1"}));
        assert!(here.active && !here.left);
        assert_eq!(here.attributes.email.as_deref(), Some("ada@example.com"));
        assert_eq!(here.attributes.data["directory_id"], "directory_1");
    }
}
