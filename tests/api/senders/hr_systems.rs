//! HR systems sending their own webhooks: BambooHR, Gusto, HiBob and Deel.

use super::*;

// ---------------------------------------------------------------------------------------
// BambooHR: legacy field-based webhooks (display names or aliases) and event-based thin
// ones decided from the employee API.

fn bamboo_timestamp(at: DateTime<Utc>) -> String {
    at.format("%Y-%m-%dT%H:%M:%S+00:00").to_string()
}

fn bamboo_fields(id: &str, action: &str, at: DateTime<Utc>, fields: Value) -> Value {
    let changed: Vec<String> = fields.as_object().unwrap().keys().cloned().collect();
    json!({"employees": [{"id": id, "action": action, "timestamp": bamboo_timestamp(at),
                          "changedFields": changed, "fields": fields}]})
}

/// The field names a field-based payload uses: BambooHR's display names or aliases.
struct BambooNames {
    first_name: &'static str,
    last_name: &'static str,
    work_email: &'static str,
    department: &'static str,
    job_title: &'static str,
    hire_date: &'static str,
    status: &'static str,
    termination_date: &'static str,
}

/// A field-based hire (`Status` Active), then a leave (Inactive, terminated yesterday),
/// both named as `names` says.
async fn bamboohr_field_based_hire_and_leave(names: BambooNames) {
    let rig = Rig::start().await;
    let id = unique("bamboo");
    let email = format!("{id}@acme.example");
    let fields = |status: &str| {
        let mut fields = serde_json::Map::new();
        for (name, value) in [
            (names.first_name, "Mary"),
            (names.last_name, "Jackson"),
            (names.work_email, email.as_str()),
            (names.department, "Engineering"),
            (names.job_title, "Aerospace Engineer"),
            (names.hire_date, "2021-04-12"),
            (names.status, status),
        ] {
            fields.insert(name.to_owned(), json!(value));
        }
        Value::Object(fields)
    };
    let hire = bamboo_fields(&id, "Created", ago(10), fields("Active"));
    rig.send(&BAMBOO, &hire).await;
    let view = rig.assert_hired("bamboo", &id, Some(&email)).await;
    assert_eq!(target(&view, "directory")["title"], "Aerospace Engineer");
    assert_eq!(target(&view, "directory")["department"], "Engineering");

    let mut leaver = fields("Inactive");
    leaver[names.termination_date] = json!(yesterday());
    let leave = bamboo_fields(&id, "Updated", ago(1), leaver);
    rig.leave(&BAMBOO, &id, &leave).await;
    rig.cleanup().await;
}

#[tokio::test]
async fn bamboohr_field_based_with_default_names_from_active_to_inactive_reaches_every_target() {
    bamboohr_field_based_hire_and_leave(BambooNames {
        first_name: "First Name",
        last_name: "Last Name",
        work_email: "Work Email",
        department: "Department",
        job_title: "Job Title",
        hire_date: "Hire Date",
        status: "Status",
        termination_date: "Termination Date",
    })
    .await;
}

#[tokio::test]
async fn bamboohr_field_based_with_aliases_from_active_to_inactive_reaches_every_target() {
    bamboohr_field_based_hire_and_leave(BambooNames {
        first_name: "firstName",
        last_name: "lastName",
        work_email: "workEmail",
        department: "department",
        job_title: "jobTitle",
        hire_date: "hireDate",
        status: "status",
        termination_date: "terminationDate",
    })
    .await;
}

#[tokio::test]
async fn bamboohr_event_based_status_change_is_decided_from_the_api_and_reaches_every_target() {
    let rig = Rig::start().await;
    let id = unique("bamboo");
    let email = format!("{id}@acme.example");
    let thin = |event: &str, at: DateTime<Utc>| {
        json!({"type": event, "timestamp": bamboo_timestamp(at),
               "data": {"companyId": "12345", "employeeId": id, "changedFields": ["status"]}})
    };
    rig.api.set(
        &id,
        json!({"id": id, "firstName": "Mary", "lastName": "Jackson", "workEmail": email,
               "department": "Engineering", "jobTitle": "Aerospace Engineer",
               "status": "Active", "terminationDate": "0000-00-00"}),
    );
    rig.send(&BAMBOO, &thin("employee.created", ago(10))).await;
    rig.assert_hired("bamboo", &id, Some(&email)).await;

    // The webhook says only that `status` changed; the API says Inactive.
    rig.api.set(
        &id,
        json!({"id": id, "firstName": "Mary", "lastName": "Jackson", "workEmail": email,
               "status": "Inactive", "terminationDate": yesterday()}),
    );
    let calls = rig.api.calls();
    rig.leave(&BAMBOO, &id, &thin("employee.updated", ago(1)))
        .await;
    assert!(rig.api.calls() > calls, "the record was fetched");
    rig.cleanup().await;
}

// ---------------------------------------------------------------------------------------
// Gusto: thin `{uuid, event_type, entity_type, entity_uuid, timestamp}`, signed with the
// subscription's verification token.

fn gusto_event(event: &str, employee: &str, at: DateTime<Utc>) -> Value {
    json!({"uuid": uuid::Uuid::new_v4().to_string(), "event_type": event,
           "resource_type": "Company", "resource_uuid": "7b1d4c4e-0000-4000-8000-00000000c0de",
           "entity_type": "Employee", "entity_uuid": employee, "timestamp": at.timestamp()})
}

fn gusto_record(id: &str, terminated: bool) -> Value {
    let terminations = if terminated {
        json!([{"uuid": "t-1", "active": true, "effective_date": yesterday(),
                "run_termination_payroll": false}])
    } else {
        json!([])
    };
    json!({"uuid": id, "first_name": "Ada", "last_name": "Lovelace",
           "email": format!("{id}@acme.example"), "department": "Sales",
           "jobs": [{"title": "Account Executive", "primary": true}],
           "terminated": terminated, "terminations": terminations})
}

async fn gusto_hire(rig: &Rig) -> String {
    let id = unique("gusto");
    rig.api.set(&id, gusto_record(&id, false));
    let created = gusto_event("employee.created", &id, ago(10));
    rig.send(&GUSTO, &created).await;
    let email = format!("{id}@acme.example");
    let view = rig.assert_hired("gusto_api", &id, Some(&email)).await;
    assert_eq!(target(&view, "directory")["title"], "Account Executive");
    id
}

/// A Gusto hire, then `event` while the employee record says terminated.
async fn gusto_leave(event: &str) {
    let rig = Rig::start().await;
    let id = gusto_hire(&rig).await;
    rig.api.set(&id, gusto_record(&id, true));
    let leave = gusto_event(event, &id, ago(1));
    rig.leave(&GUSTO, &id, &leave).await;
    rig.cleanup().await;
}

#[tokio::test]
async fn gusto_old_style_employee_terminated_is_decided_from_the_record_on_every_target() {
    // Up to API v2024-04-01 only `employee.terminated`; the record says it has happened.
    gusto_leave("employee.terminated").await;
}

#[tokio::test]
async fn gusto_terminated_effective_reaches_every_target() {
    gusto_leave("employee.terminated_effective").await;
}

#[tokio::test]
async fn gusto_termination_effective_reaches_every_target() {
    gusto_leave("employee.termination_effective").await;
}

// ---------------------------------------------------------------------------------------
// HiBob: v2 thin `{companyId, type, triggeredAt, version, data: {employeeId}}`.

fn bob_event(event: &str, id: &str, at: DateTime<Utc>) -> Value {
    json!({"companyId": 636192, "type": event, "triggeredBy": "3332883884017713238",
           "triggeredAt": at.format("%Y-%m-%dT%H:%M:%S%.6f").to_string(), "version": "v2",
           "data": {"employeeId": id}})
}

fn bob_person(id: &str, status: &str, lifecycle: &str) -> Value {
    json!({"id": id, "email": format!("{id}@bob.example"), "firstName": "Annie",
           "surname": "Easley", "displayName": "Annie Easley",
           "work": {"department": "R&D", "title": "Programmer",
                    "reportsTo": {"id": "3332883884017713200"}},
           "internal": {"status": status, "lifecycleStatus": lifecycle}})
}

async fn bob_hire(rig: &Rig) -> String {
    let id = unique("bob");
    rig.api.set(&id, bob_person(&id, "Active", "Employed"));
    let created = bob_event("employee.created", &id, ago(10));
    rig.send(&BOB, &created).await;
    let email = format!("{id}@bob.example");
    let view = rig.assert_hired("bob", &id, Some(&email)).await;
    assert_eq!(target(&view, "directory")["department"], "R&D");
    id
}

#[tokio::test]
async fn hibob_access_revoked_immediately_reaches_every_target() {
    let rig = Rig::start().await;
    let id = bob_hire(&rig).await;
    let revoked = bob_event("employee.access.revoked.immediately", &id, ago(1));
    rig.leave(&BOB, &id, &revoked).await;
    rig.cleanup().await;
}

#[tokio::test]
async fn hibob_inactivated_with_a_terminated_record_reaches_every_target() {
    let rig = Rig::start().await;
    let id = bob_hire(&rig).await;
    let mut person = bob_person(&id, "Inactive", "Terminated");
    person["internal"]["terminationDate"] = json!(yesterday());
    rig.api.set(&id, person);
    let inactivated = bob_event("employee.inactivated", &id, ago(1));
    rig.leave(&BOB, &id, &inactivated).await;
    rig.cleanup().await;
}

// ---------------------------------------------------------------------------------------
// Deel: `{data: {meta: {event_type, …}, resource}, timestamp}`; contracts end, not people.

fn deel_event(event: &str, resource: Value, at: DateTime<Utc>) -> Value {
    json!({"data": {"meta": {"event_type": event, "event_type_id": 42,
                             "tracking_id": uuid::Uuid::new_v4().to_string(),
                             "organization_id": "b1d2e3f4-0000-4000-8000-0000000000aa",
                             "organization_name": "Acme"},
                    "resource": resource},
           "timestamp": rfc3339(at)})
}

async fn deel_hire(rig: &Rig) -> String {
    let worker = unique("worker");
    let profile = json!({"id": worker, "first_name": "Mae", "last_name": "Jemison",
        "full_name": "Mae Jemison", "work_email": format!("{worker}@deel.example"),
        "job_title": "Flight Engineer", "department": "Operations",
        "start_date": "2025-02-03", "hiring_type": "direct", "country": "US"});
    let created = deel_event("employee.created.direct", profile, ago(10));
    rig.send(&DEEL, &created).await;
    let email = format!("{worker}@deel.example");
    let view = rig.assert_hired("deel", &worker, Some(&email)).await;
    assert_eq!(target(&view, "directory")["title"], "Flight Engineer");
    worker
}

#[tokio::test]
async fn deel_contract_terminated_naming_the_worker_reaches_every_target() {
    let rig = Rig::start().await;
    let worker = deel_hire(&rig).await;
    let contract = json!({"id": unique("contract"), "worker_id": worker,
        "type": "ongoing_time_based", "status": "terminated",
        "completion_date": yesterday()});
    let ended = deel_event("contract.terminated", contract, ago(1));
    rig.leave(&DEEL, &worker, &ended).await;
    rig.cleanup().await;
}

#[tokio::test]
async fn deel_contract_terminated_with_only_the_contract_id_is_resolved_through_the_api() {
    let rig = Rig::start().await;
    let worker = deel_hire(&rig).await;
    let contract = unique("contract");
    rig.api.set(
        &contract,
        json!({"id": contract, "type": "ongoing_time_based", "status": "terminated",
               "termination_date": yesterday(),
               "worker": {"id": worker, "email": format!("{worker}@deel.example"),
                          "full_name": "Mae Jemison"}}),
    );
    let only_id = json!({"id": contract, "completion_date": yesterday()});
    let ended = deel_event("contract.terminated", only_id, ago(1));
    rig.leave(&DEEL, &worker, &ended).await;
    let phantom = rig
        .app
        .employee("deel", &format!("contract:{contract}"))
        .await;
    assert!(phantom.is_none(), "no employee made up from the contract");
    rig.cleanup().await;
}
