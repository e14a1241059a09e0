//! provisiond's own envelope, and the unified APIs in front of many HR systems: Merge,
//! WorkOS Directory Sync and Finch.

use super::*;

// ---------------------------------------------------------------------------------------
// standard-webhooks: provisiond's own envelope.

#[tokio::test]
async fn standard_webhooks_created_then_terminated_reaches_every_target() {
    let rig = Rig::start().await;
    let id = unique("emp");
    let envelope = |kind: &str, at: DateTime<Utc>| {
        json!({"type": format!("employee.{kind}"), "timestamp": rfc3339(at),
               "data": {"id": id, "email": format!("{id}@example.com"), "given_name": "Ada",
                        "family_name": "Lovelace", "department": "Sales",
                        "title": "Account Executive", "status": "active"}})
    };
    let hire = envelope("created", ago(10));
    rig.send(&HRIS, &hire).await;
    let view = rig
        .assert_hired("hris", &id, Some(&format!("{id}@example.com")))
        .await;
    assert_eq!(target(&view, "directory")["department"], "Sales");

    let mut leave = envelope("terminated", ago(1));
    leave["data"]["status"] = json!("terminated");
    leave["data"]["termination_date"] = json!(yesterday());
    rig.leave(&HRIS, &id, &leave).await;
    rig.cleanup().await;
}

// ---------------------------------------------------------------------------------------
// Merge: `{hook, linked_account, data: <Employee>}`, no termination event.

fn merge_employee(id: &str, status: &str, at: DateTime<Utc>) -> Value {
    json!({"id": id, "remote_id": "4821", "employee_number": "4821",
           "first_name": "Katherine", "last_name": "Johnson",
           "display_full_name": "Katherine Johnson", "work_email": format!("{id}@orbit.example"),
           "personal_email": "kj@home.example", "mobile_phone_number": "+1 757 555 0142",
           "employment_status": status, "start_date": "2023-05-02T00:00:00Z",
           "termination_date": null, "remote_was_deleted": false,
           "created_at": "2023-05-02T08:00:00Z", "modified_at": rfc3339(at)})
}

fn merge_hook(event: &str, data: Value) -> Value {
    json!({"hook": {"id": "0b6e1c2a-7c3f-4d0e-9a55-3d2f5f1b9e01", "event": event,
                    "target": "https://provisiond.acme.example/webhooks/merge"},
           "linked_account": {"id": "a7b5e9c1-3e0c-4e8e-8a6e-0f1f0c2d3e4f",
                              "integration": "BambooHR", "integration_slug": "bamboohr",
                              "category": "hris", "end_user_origin_id": "acme-1",
                              "end_user_organization_name": "Acme",
                              "end_user_email_address": "it@acme.example",
                              "status": "COMPLETE", "account_type": "PRODUCTION"},
           "data": data})
}

async fn merge_hire(rig: &Rig) -> String {
    let id = unique("merge");
    let hire = merge_hook("Employee.added", merge_employee(&id, "ACTIVE", ago(10)));
    rig.send(&MERGE, &hire).await;
    let email = format!("{id}@orbit.example");
    rig.assert_hired("merge", &id, Some(&email)).await;
    id
}

#[tokio::test]
async fn merge_employee_changed_to_inactive_with_a_past_termination_date_reaches_every_target() {
    let rig = Rig::start().await;
    let id = merge_hire(&rig).await;
    let mut leaver = merge_employee(&id, "INACTIVE", ago(1));
    leaver["termination_date"] = json!(format!("{}T00:00:00Z", yesterday()));
    rig.leave(&MERGE, &id, &merge_hook("Employee.changed", leaver))
        .await;
    rig.cleanup().await;
}

#[tokio::test]
async fn merge_employee_removed_reaches_every_target() {
    let rig = Rig::start().await;
    let id = merge_hire(&rig).await;
    // The last record Merge had, still ACTIVE: the event alone says the person is gone.
    let removed = merge_hook("Employee.removed", merge_employee(&id, "ACTIVE", ago(1)));
    rig.leave(&MERGE, &id, &removed).await;
    rig.cleanup().await;
}

#[tokio::test]
async fn merge_pending_hire_has_no_access_anywhere_and_a_termination_before_the_start_cancels_it() {
    let rig = Rig::start().await;
    let id = unique("merge");
    let mut pending = merge_employee(&id, "PENDING", ago(10));
    let start = (Utc::now() + Span::days(30)).date_naive();
    pending["start_date"] = json!(format!("{start}T00:00:00Z"));
    let hire = merge_hook("Employee.added", pending.clone());
    rig.send(&MERGE, &hire).await;
    let view = rig.app.employee_after("merge", &id, 1).await;
    assert_eq!(view["status"], "pending", "{view}");
    assert_eq!(target(&view, "directory")["status"], "pending");
    assert!(view["scheduled_activation"].is_object(), "{view}");
    assert_eq!(view["targets"].as_array().unwrap().len(), 1, "{view}");
    assert!(rig.scim.users_of("merge", &id).await.is_empty());
    assert!(rig.product_calls("merge", &id).is_empty());

    // The hire falls through before the first day.
    let mut leaver = pending;
    leaver["employment_status"] = json!("INACTIVE");
    leaver["termination_date"] = json!(format!("{}T00:00:00Z", yesterday()));
    leaver["modified_at"] = json!(rfc3339(ago(1)));
    rig.send(&MERGE, &merge_hook("Employee.changed", leaver))
        .await;
    let view = rig.wait_all("merge", &id, "deactivated").await;
    assert_eq!(view["status"], "terminated");
    assert!(view["scheduled_activation"].is_null(), "{view}");
    assert!(rig.scim.users_of("merge", &id).await.is_empty());
    let calls = rig.product_calls("merge", &id);
    assert!(
        calls.iter().all(|(_, status)| status == "terminated"),
        "{calls:?}"
    );
    rig.cleanup().await;
}

// ---------------------------------------------------------------------------------------
// WorkOS Directory Sync: `{object: "event", id, event, data: <directory user>, created_at}`.

fn workos_user(id: &str, directory: &str, state: &str, at: DateTime<Utc>) -> Value {
    json!({"object": "directory_user", "id": id, "directory_id": directory,
           "organization_id": "org_01EHZNVPK3SFK441A1RGBFSHRT", "idp_id": "00u1a0ufowBJlzPlk357",
           "email": format!("{id}@langley.example"), "first_name": "Dorothy",
           "last_name": "Vaughan", "state": state, "role": {"slug": "member"},
           "custom_attributes": {"department": "Computing", "job_title": "Supervisor"},
           "raw_attributes": {}, "created_at": "2024-01-08T10:00:00.000Z",
           "updated_at": rfc3339(at)})
}

fn workos_event(event: &str, data: Value, at: DateTime<Utc>) -> Value {
    json!({"object": "event", "id": unique("event"), "event": event, "data": data,
           "created_at": rfc3339(at)})
}

async fn workos_hire(rig: &Rig, directory: &str) -> String {
    let id = unique("directory_user");
    let user = workos_user(&id, directory, "active", ago(10));
    let created = workos_event("dsync.user.created", user, ago(10));
    rig.send(&WORKOS, &created).await;
    let email = format!("{id}@langley.example");
    let view = rig.assert_hired("workos", &id, Some(&email)).await;
    assert_eq!(target(&view, "directory")["department"], "Computing");
    id
}

/// A WorkOS hire, then `event` carrying the user with `state`.
async fn workos_leave(event: &str, state: &str) {
    let rig = Rig::start().await;
    let directory = unique("directory");
    let id = workos_hire(&rig, &directory).await;
    let user = workos_user(&id, &directory, state, ago(1));
    let leave = workos_event(event, user, ago(1));
    rig.leave(&WORKOS, &id, &leave).await;
    rig.cleanup().await;
}

#[tokio::test]
async fn workos_user_updated_to_inactive_reaches_every_target() {
    workos_leave("dsync.user.updated", "inactive").await;
}

#[tokio::test]
async fn workos_user_deleted_reaches_every_target() {
    // "Secure flow": the deletion carries the user's last state.
    workos_leave("dsync.user.deleted", "active").await;
}

#[tokio::test]
async fn workos_directory_deleted_deactivates_each_of_its_users_on_every_target() {
    let rig = Rig::start().await;
    let (directory, other) = (unique("directory"), unique("directory"));
    let first = workos_hire(&rig, &directory).await;
    let second = workos_hire(&rig, &directory).await;
    let elsewhere = workos_hire(&rig, &other).await;

    // WorkOS sends no per-user deletions when a whole directory goes.
    let gone = json!({"object": "directory", "id": directory,
                      "organization_id": "org_01EHZNVPK3SFK441A1RGBFSHRT",
                      "state": "deleting", "type": "okta scim v2.0", "name": "Okta",
                      "domain": "langley.example", "created_at": "2024-01-08T09:00:00.000Z",
                      "updated_at": rfc3339(ago(1))});
    let deleted = workos_event("dsync.deleted", gone, ago(1));
    rig.send(&WORKOS, &deleted).await;
    for id in [&first, &second] {
        rig.assert_left("workos", id).await;
    }
    // Both leavers are done; the user of another directory was not touched.
    let view = rig.app.employee("workos", &elsewhere).await.unwrap();
    assert_eq!(view["status"], "active", "{view}");
    for name in TARGETS {
        assert_eq!(target(&view, name)["status"], "active", "{name}: {view}");
    }
    assert_eq!(rig.scim_user("workos", &elsewhere).await["active"], true);
    assert_eq!(rig.product_calls("workos", &elsewhere).len(), 1);
    rig.cleanup().await;
}

// ---------------------------------------------------------------------------------------
// Finch: thin `{company_id, connection_id, event_type, data: {individual_id}}`, decided
// from the employment record of Finch's API.

fn finch_event(event: &str, individual: &str) -> Value {
    json!({"company_id": "6f0b5e1c-2d3a-4b4c-8d5e-6f7a8b9c0d1e",
           "account_id": "1a2b3c4d-5e6f-4a7b-8c9d-0e1f2a3b4c5d",
           "connection_id": "c0ffee00-1234-4abc-8def-000000000001", "entity_id": null,
           "event_type": event, "data": {"individual_id": individual}})
}

#[tokio::test]
async fn finch_employment_created_then_updated_to_terminated_reaches_every_target() {
    let rig = Rig::start().await;
    let id = unique("finch");
    let employment = json!({"id": id, "first_name": "Ada", "middle_name": null,
        "last_name": "Lovelace", "title": "Account Executive", "department": {"name": "Sales"},
        "manager": {"id": "5e6f7a8b-0000-4000-8000-000000000001"},
        "employment": {"type": "employee", "subtype": "full_time"},
        "is_active": true, "employment_status": "active", "start_date": "2024-01-15",
        "end_date": null});
    rig.api.set(&id, employment.clone());
    rig.send(&FINCH, &finch_event("employment.created", &id))
        .await;
    // Finch's employment record carries no email: the SCIM user is named by its id.
    let view = rig.assert_hired("finch_api", &id, None).await;
    assert_eq!(target(&view, "directory")["department"], "Sales");

    let mut ended = employment;
    ended["is_active"] = json!(false);
    ended["employment_status"] = json!("terminated");
    ended["end_date"] = json!(yesterday());
    rig.api.set(&id, ended);
    rig.leave(&FINCH, &id, &finch_event("employment.updated", &id))
        .await;
    rig.cleanup().await;
}
