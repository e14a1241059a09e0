//! The receiver: signatures per source kind, status codes and error bodies.

mod senders;
mod standard_webhooks;
mod untrusted_input;

use provisiond::Role;
use serde_json::{json, Value};

use crate::helpers::*;

fn merge_body(employee: &str, status: &str, modified: &str) -> Vec<u8> {
    json!({
        "hook": {"id": "hook-config-1", "event": "Employee.changed", "target": "https://x"},
        "linked_account": {"id": "la-1", "integration": "BambooHR"},
        "data": {"id": employee, "work_email": format!("{employee}@acme.example"),
                 "first_name": "Grace", "last_name": "Hopper",
                 "employment_status": status, "modified_at": modified}
    })
    .to_string()
    .into_bytes()
}

fn workos_body(event_id: &str, employee: &str, event: &str, state: &str) -> Vec<u8> {
    json!({
        "object": "event", "id": event_id, "event": event,
        "data": {"object": "directory_user", "id": employee, "first_name": "Alan",
                 "last_name": "Turing", "email": format!("{employee}@acme.example"),
                 "state": state, "custom_attributes": {"department": "Engineering"},
                 "updated_at": "2026-03-31T06:12:44.000Z"},
        "created_at": "2026-03-31T06:12:45.000Z"
    })
    .to_string()
    .into_bytes()
}

async fn assert_error(response: reqwest::Response, status: u16, code: &str) {
    assert_eq!(response.status(), status);
    let body: Value = response.json().await.expect("json error body");
    assert_eq!(body["error"], code, "body: {body}");
    assert!(body["message"].as_str().is_some_and(|m| !m.is_empty()));
}
