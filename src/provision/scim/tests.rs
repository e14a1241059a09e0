//! Most tests run against a real SCIM server, `scim2-server` (PyPI), started per test on a
//! free port; the server's state is read back with plain requests, independently of the
//! target's code. A scripted local server covers what a well-behaved server never does.

mod against_server;
mod scim2_server;
mod scripted;

use std::time::Duration;

use serde_json::json;

use super::client::percent_encode;
use super::resource::{eq_filter, user_resource, USER_SCHEMA};
use super::*;
use crate::domain::event::{Attributes, EventKind};
use crate::provision::test_support::{at, options};

const TOKEN: &str = "scim-test-token-7f3a9c";
const SOURCE: &str = "hris";
const MANAGED: [&str; 3] = ["sales", "engineering", "support"];

fn hire(employee_id: &str) -> CanonicalEvent {
    CanonicalEvent {
        kind: EventKind::Created,
        employee_id: employee_id.into(),
        occurred_at: at("2026-03-02T09:15:00Z"),
        effective_at: None,
        attributes: Attributes {
            email: Some(format!("{employee_id}@example.com")),
            given_name: Some("Ada".into()),
            family_name: Some("Lovelace".into()),
            display_name: Some("Ada Lovelace".into()),
            department: Some("Sales".into()),
            title: Some("Account Executive".into()),
            manager_id: Some("emp_7".into()),
            location: Some("London".into()),
            start_date: Some("2026-03-02".into()),
            employment_status: Some("active".into()),
            data: json!({"id": employee_id}),
        },
    }
}

fn moved_to_engineering(employee_id: &str) -> CanonicalEvent {
    let mut event = hire(employee_id);
    event.kind = EventKind::Updated;
    event.occurred_at = at("2026-04-01T08:00:00Z");
    event.attributes.department = Some("Engineering".into());
    event.attributes.title = Some("Software Engineer".into());
    event
}

fn termination(employee_id: &str) -> CanonicalEvent {
    CanonicalEvent {
        kind: EventKind::Terminated,
        occurred_at: at("2026-05-01T17:00:00Z"),
        effective_at: Some(at("2026-05-01T00:00:00Z")),
        ..hire(employee_id)
    }
}

fn rehire(employee_id: &str) -> CanonicalEvent {
    CanonicalEvent {
        kind: EventKind::Created,
        occurred_at: at("2026-09-01T09:00:00Z"),
        ..hire(employee_id)
    }
}

fn external_id(employee_id: &str) -> String {
    format!("{SOURCE}:{employee_id}")
}

fn names(groups: &[&str]) -> Vec<String> {
    groups.iter().map(|g| g.to_string()).collect()
}

fn managed() -> Vec<String> {
    names(&MANAGED)
}

fn scim_target(config: Value) -> ScimTarget {
    ScimTarget::new("app", &options(config)).unwrap()
}

async fn apply(
    target: &ScimTarget,
    event: &CanonicalEvent,
    groups: &[&str],
) -> Result<(), TargetError> {
    target
        .apply(SOURCE, event, &names(groups), &managed())
        .await
}

#[test]
fn filters_escape_quotes_and_backslashes_and_are_percent_encoded() {
    let filter = eq_filter("externalId", r#"hris:a"b\c"#);
    assert_eq!(filter, r#"externalId eq "hris:a\"b\\c""#);
    assert_eq!(
        percent_encode(&filter),
        "externalId%20eq%20%22hris%3Aa%5C%22b%5C%5Cc%22"
    );
    assert_eq!(percent_encode("a+b&c=d é"), "a%2Bb%26c%3Dd%20%C3%A9");
}

#[test]
fn the_user_resource_leaves_out_what_the_employee_does_not_have() {
    let mut event = hire("emp_1");
    event.attributes = Attributes {
        given_name: Some("Ada".into()),
        department: Some("  ".into()),
        ..Attributes::default()
    };
    assert_eq!(
        user_resource("hris:emp_1", &event),
        json!({
            "schemas": [USER_SCHEMA],
            "externalId": "hris:emp_1",
            "userName": "hris:emp_1",
            "name": {"givenName": "Ada", "formatted": "Ada"},
            "displayName": "Ada",
            "active": true,
        })
    );
}

#[test]
fn new_reads_every_key_with_defaults() {
    let target = scim_target(json!({"base_url": "https://app.example.com/scim/v2", "token": "t"}));
    assert_eq!(target.name(), "app");
    assert_eq!(target.deprovision(), Deprovision::Deactivate);
    assert_eq!(target.client.timeout(), Duration::from_secs(10));
    assert_eq!(
        target.client.endpoint(&["Users", "a/b"]).as_str(),
        "https://app.example.com/scim/v2/Users/a%2Fb"
    );
    let target = scim_target(json!({
        "base_url": "http://127.0.0.1:8000/", "token": "t",
        "deprovision": "delete", "timeout": "1m 30s",
    }));
    assert_eq!(target.deprovision(), Deprovision::Delete);
    assert_eq!(target.client.timeout(), Duration::from_secs(90));
    assert_eq!(
        target.client.endpoint(&["Groups"]).as_str(),
        "http://127.0.0.1:8000/Groups"
    );
}

#[test]
fn the_token_can_come_from_a_file_and_debug_never_shows_it() {
    let file = tempfile::NamedTempFile::new().unwrap();
    std::fs::write(file.path(), "token-from-a-file-93b1\n").unwrap();
    let reference = format!("file:{}", file.path().display());
    let target = scim_target(json!({
        "base_url": "https://user:hunter2@app.example.com/scim/v2",
        "token": reference,
    }));
    let shown = format!("{target:?}");
    assert!(shown.contains("app"), "{shown}");
    assert!(shown.contains("Deactivate"), "{shown}");
    assert!(!shown.contains("token-from-a-file-93b1"), "{shown}");
    assert!(!shown.contains("hunter2"), "{shown}");
}
