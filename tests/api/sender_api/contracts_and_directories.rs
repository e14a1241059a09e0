//! Deel's contracts, Merge's unified employees and WorkOS's directory users: the
//! record an event leaves out, fetched or found.

use super::*;

fn deel_event(event: &str, resource: Value) -> Vec<u8> {
    json!({"data": {"meta": {"event_type": event, "tracking_id": unique("trk"),
                             "organization_id": "org_1"}, "resource": resource},
           "timestamp": "2026-03-02T09:15:00.000Z"})
    .to_string()
    .into_bytes()
}

#[tokio::test]
async fn a_deel_contract_termination_lands_on_the_contracts_worker() {
    let api = SenderApi::start().await;
    let app = spawn(&api).await;
    let (worker, contract) = (unique("w"), unique("c"));
    let hire = json!({"id": worker, "first_name": "Mae", "work_email": "mae@deel.example"});
    DEEL.hire(&app, &deel_event("employee.created.direct", hire), &worker)
        .await;

    // contract.terminated carries only the contract id and its completion date.
    api.set(
        &contract,
        json!({"id": contract, "status": "terminated",
        "termination_date": "2026-03-01", "worker": {"id": worker, "email": "mae@deel.example"}}),
    );
    let ended = json!({"id": contract, "completion_date": "2026-03-01"});
    DEEL.leave(&app, &deel_event("contract.terminated", ended), &worker, 2)
        .await;
    let phantom = app.employee("deel", &format!("contract:{contract}")).await;
    assert!(
        phantom.is_none(),
        "no employee is made up from the contract id"
    );
    app.cleanup().await;
}

#[tokio::test]
async fn a_merge_employee_without_a_status_is_decided_from_merges_employee_api() {
    let api = SenderApi::start().await;
    let app = spawn(&api).await;
    let employee = unique("m");
    let employee_body = |status: Value, modified: &str| {
        json!({"hook": {"id": "h1", "event": "Employee.changed"},
               "linked_account": {"id": "la_1", "integration_slug": "bamboohr"},
               "data": {"id": employee, "first_name": "Grace", "work_email": "g@acme.example",
                        "employment_status": status, "modified_at": modified}})
        .to_string()
        .into_bytes()
    };
    let hire = employee_body(json!("ACTIVE"), "2026-03-01T09:00:00Z");
    MERGE_API.hire(&app, &hire, &employee).await;
    assert_eq!(api.calls(), 0, "a full payload is not fetched");

    // The integration stopped supplying the status: Merge's API has the record.
    api.set(
        &employee,
        json!({"id": employee, "first_name": "Grace", "work_email": "g@acme.example",
               "employment_status": "INACTIVE", "termination_date": "2026-03-02T00:00:00Z"}),
    );
    let thin = employee_body(Value::Null, "2026-03-02T09:00:00Z");
    MERGE_API.leave(&app, &thin, &employee, 2).await;
    assert_eq!(api.calls(), 1);
    app.cleanup().await;
}

#[tokio::test]
async fn a_workos_user_update_without_a_state_is_decided_from_the_directory_users_api() {
    let api = SenderApi::start().await;
    let app = spawn(&api).await;
    let user = unique("directory_user_");
    let event = |state: Value, updated: &str| {
        json!({"object": "event", "id": unique("event_"), "event": "dsync.user.updated",
               "data": {"object": "directory_user", "id": user, "directory_id": "directory_1",
                        "email": "k@acme.example", "state": state, "updated_at": updated},
               "created_at": updated})
        .to_string()
        .into_bytes()
    };
    let hire = event(json!("active"), "2026-03-01T09:00:00.000Z");
    WORKOS_API.hire(&app, &hire, &user).await;

    api.set(
        &user,
        json!({"object": "directory_user", "id": user, "directory_id": "directory_1",
               "email": "k@acme.example", "state": "inactive"}),
    );
    let thin = event(Value::Null, "2026-03-02T09:00:00.000Z");
    WORKOS_API.leave(&app, &thin, &user, 2).await;
    assert_eq!(api.calls(), 1);
    app.cleanup().await;
}

#[tokio::test]
async fn a_workos_user_completed_from_the_api_still_leaves_with_its_directory() {
    let api = SenderApi::start().await;
    let app = spawn(&api).await;
    let (user, directory) = (unique("directory_user_"), unique("directory_"));
    // Neither the webhook's nor the record's `directory_id` may be lost by enrichment.
    api.set(
        &user,
        json!({"object": "directory_user", "id": user, "email": "l@acme.example",
               "state": "active"}),
    );
    let thin = json!({"object": "event", "id": unique("event_"), "event": "dsync.user.created",
        "data": {"object": "directory_user", "id": user, "directory_id": directory,
                 "email": "l@acme.example"},
        "created_at": "2026-03-01T09:00:00.000Z"});
    let body = thin.to_string().into_bytes();
    WORKOS_API.hire(&app, &body, &user).await;
    assert_eq!(api.calls(), 1);

    let deleted = json!({"object": "event", "id": unique("event_"), "event": "dsync.deleted",
        "data": {"object": "directory", "id": directory, "state": "deleting"},
        "created_at": "2026-03-02T09:00:00.000Z"});
    let body = deleted.to_string().into_bytes();
    WORKOS_API.leave(&app, &body, &user, 2).await;
    app.cleanup().await;
}

#[tokio::test]
async fn without_api_a_deel_contract_termination_lands_on_the_worker_its_hire_named() {
    let iso = Isolation::new();
    let extra = format!(
        "[[sources]]\nname = \"deel_plain\"\nkind = \"deel\"\nsecrets = [\"{DEEL_KEY}\"]\n"
    );
    let app = spawn_with(test_config_with(&iso, &amqp_url(), &extra), iso, Role::All).await;
    let post = |event: &'static str, resource: Value| {
        let app = &app;
        async move {
            let body = deel_event(event, resource);
            DEEL_PLAIN.send(app, &body).await;
        }
    };
    // The hire names its contract; the termination names only the contract.
    let (worker, contract) = (unique("w"), unique("c"));
    let hire = json!({"id": worker, "first_name": "Ada", "email": "ada@deel.example",
                      "country": "GB", "contract_id": contract});
    post("employee.created.contractor", hire).await;
    app.employee_after("deel_plain", &worker, 1).await;
    let ended = json!({"id": contract, "completion_date": "2026-03-01"});
    post("contract.terminated", ended).await;
    DEEL_PLAIN.assert_left(&app, &worker, 2).await;

    // A contractor hired under its contract's id is found by that id.
    let contractor = unique("c");
    let hire = json!({"id": contractor, "first_name": "Bo", "email": "bo@deel.example"});
    post("employee.created.contractor", hire).await;
    app.employee_after("deel_plain", &contractor, 1).await;
    post("contract.terminated", json!({"id": contractor})).await;
    let view = app.employee_after("deel_plain", &contractor, 2).await;
    assert_eq!(view["status"], "terminated", "{view}");

    // An unknown contract stays visible as such, recorded `no_api_to_enrich`.
    let unknown = unique("c");
    post("contract.terminated", json!({"id": unknown})).await;
    let view = app
        .employee_after("deel_plain", &format!("contract:{unknown}"), 1)
        .await;
    assert_eq!(view["events"][0]["reason"], "no_api_to_enrich");
    app.cleanup().await;
}
