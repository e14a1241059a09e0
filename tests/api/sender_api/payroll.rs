//! BambooHR, Finch, Gusto and HiBob: thin events decided from the sender's employee record.

use super::*;

fn bamboo_event(kind: &str, employee: &str) -> Vec<u8> {
    json!({"type": format!("employee.{kind}"), "timestamp": "2026-03-02T09:15:00+0000",
           "data": {"companyId": "12345", "employeeId": employee, "changedFields": ["status"]}})
    .to_string()
    .into_bytes()
}

fn finch_event(kind: &str, individual: &str) -> Vec<u8> {
    json!({"company_id": "c", "connection_id": "k", "entity_id": null,
           "event_type": format!("employment.{kind}"), "data": {"individual_id": individual}})
    .to_string()
    .into_bytes()
}

#[tokio::test]
async fn a_thin_bamboohr_status_change_is_decided_from_the_employee_api() {
    let api = SenderApi::start().await;
    let app = spawn(&api).await;
    let employee = unique("b");
    api.set(
        &employee,
        json!({"id": employee, "firstName": "Mary", "workEmail": "m@acme.example",
                               "status": "Active", "terminationDate": "0000-00-00"}),
    );
    let view = BAMBOO
        .hire(&app, &bamboo_event("created", &employee), &employee)
        .await;
    assert_eq!(
        view["targets"][0]["email"], "m@acme.example",
        "attributes from the API"
    );

    // The leaver: BambooHR says only that `status` changed; the API says Inactive.
    api.set(
        &employee,
        json!({"id": employee, "status": "Inactive", "terminationDate": "2026-03-01"}),
    );
    BAMBOO.send(&app, &bamboo_event("updated", &employee)).await;
    let view = app.employee_after("bamboo", &employee, 2).await;
    assert_eq!(view["status"], "terminated", "{view}");
    assert_eq!(view["events"][1]["kind"], "terminated");
    assert_eq!(view["targets"][0]["status"], "deactivated");
    app.cleanup().await;
}

#[tokio::test]
async fn a_finch_employment_update_terminates_when_the_employment_says_so_and_retries_a_503() {
    let api = SenderApi::start().await;
    let app = spawn(&api).await;
    let person = unique("f");
    api.set(
        &person,
        json!({"id": person, "first_name": "Ada", "is_active": true,
                             "employment_status": "active", "department": {"name": "Sales"}}),
    );
    let view = FINCH_API
        .hire(&app, &finch_event("created", &person), &person)
        .await;
    assert_eq!(view["targets"][0]["department"], "Sales");

    api.set(
        &person,
        json!({"id": person, "is_active": false, "employment_status": "terminated",
                             "end_date": "2026-03-01"}),
    );
    api.fail_next(1);
    let calls = api.calls();
    FINCH_API.send(&app, &finch_event("updated", &person)).await;
    let view = app.employee_after("finch_api", &person, 2).await;
    assert_eq!(view["status"], "terminated", "{view}");
    assert!(api.calls() >= calls + 2, "the 503 was retried");
    app.cleanup().await;
}

#[tokio::test]
async fn without_api_a_thin_event_is_applied_as_far_as_it_goes_and_says_so() {
    let app = spawn_app(Role::All).await;
    let person = unique("thin");
    FINCH_PLAIN
        .send(&app, &finch_event("created", &person))
        .await;
    let view = app.employee_after("finch", &person, 1).await;
    assert_eq!(view["events"][0]["reason"], "no_api_to_enrich");
    assert_eq!(view["status"], "active");
    app.cleanup().await;
}

fn gusto_event(event: &str, uuid: &str) -> Vec<u8> {
    json!({"uuid": unique("evt"), "event_type": event, "resource_type": "Company",
           "resource_uuid": "c1", "entity_type": "Employee", "entity_uuid": uuid,
           "timestamp": 1772442900})
    .to_string()
    .into_bytes()
}

#[tokio::test]
async fn gustos_old_employee_terminated_is_decided_from_the_employee_record() {
    let api = SenderApi::start().await;
    let app = spawn(&api).await;
    let uuid = unique("g");
    api.set(
        &uuid,
        json!({"uuid": uuid, "first_name": "Ada", "email": "ada@acme.example",
                           "terminated": false, "terminations": []}),
    );
    let view = GUSTO_API
        .hire(&app, &gusto_event("employee.created", &uuid), &uuid)
        .await;
    assert_eq!(view["targets"][0]["email"], "ada@acme.example");

    // API versions up to v2024-04-01 send only `employee.terminated`; the record decides.
    api.set(
        &uuid,
        json!({"uuid": uuid, "terminated": true,
                           "terminations": [{"active": true, "effective_date": "2026-03-01"}]}),
    );
    GUSTO_API
        .send(&app, &gusto_event("employee.terminated", &uuid))
        .await;
    let view = app.employee_after("gusto_api", &uuid, 2).await;
    assert_eq!(view["status"], "terminated", "{view}");
    app.cleanup().await;
}

fn bob_event(event: &str, id: &str) -> Vec<u8> {
    json!({"companyId": 636192, "type": event, "triggeredBy": "system",
           "triggeredAt": "2026-03-02T09:15:00.123456", "version": "v2",
           "data": {"employeeId": id}})
    .to_string()
    .into_bytes()
}

#[tokio::test]
async fn hibob_inactivated_is_a_termination_only_when_the_person_record_says_terminated() {
    let api = SenderApi::start().await;
    let app = spawn(&api).await;
    let (on_leave, leaver) = (unique("leave"), unique("gone"));
    for id in [&on_leave, &leaver] {
        api.set(
            id,
            json!({"id": id, "email": format!("{id}@bob.example"),
                           "internal": {"status": "Active", "lifecycleStatus": "Employed"}}),
        );
        BOB.hire(&app, &bob_event("employee.created", id), id).await;
    }
    api.set(
        &on_leave,
        json!({"id": on_leave, "internal": {"status": "Inactive", "lifecycleStatus": "On leave"}}),
    );
    api.set(
        &leaver,
        json!({"id": leaver, "internal": {"status": "Inactive",
        "lifecycleStatus": "Terminated", "terminationDate": "2026-03-01"}}),
    );
    for id in [&on_leave, &leaver] {
        BOB.send(&app, &bob_event("employee.inactivated", id)).await;
    }
    assert_eq!(
        app.employee_after("bob", &leaver, 2).await["status"],
        "terminated"
    );
    assert_eq!(
        app.employee_after("bob", &on_leave, 2).await["status"],
        "active",
        "a leave keeps the account"
    );
    app.cleanup().await;
}
