//! Every sender end to end: a hire, then a leaver, each sent as the sender would (its
//! payload shape, its signature made by `tests/sign.py`, not by provisiond), through
//! RabbitMQ and PostgreSQL to every kind of target at once: the directory, a real SCIM 2.0
//! app (scim2-server) and a product's HTTP endpoint. Thin senders are enriched from a
//! local server speaking their APIs (`sender_api.rs`).

use chrono::{DateTime, Duration as Span, SecondsFormat, Utc};
use provisiond::Role;
use serde_json::{json, Value};

use crate::helpers::*;
use crate::scim::{scim_target, ScimServer};
use crate::sender_api::{sources, SenderApi, BAMBOO_KEY, BOB_SECRET, DEEL_KEY, GUSTO_TOKEN};
use crate::target_server::TargetServer;

/// The targets every employee is provisioned to: provisiond's own directory, the SCIM app
/// (`scim_target` names it `apps`) and the product's HTTP endpoint.
const TARGETS: [&str; 3] = ["directory", "apps", "product"];

/// A source of the rig and how its sender signs (`tests/sign.py`'s name for it).
struct Sender {
    source: &'static str,
    kind: &'static str,
    secret: &'static str,
}

const HRIS: Sender = Sender::new("hris", "standard-webhooks", HRIS_SECRET);
const MERGE: Sender = Sender::new("merge", "merge", MERGE_SECRET);
const WORKOS: Sender = Sender::new("workos", "workos", WORKOS_SECRET);
const FINCH: Sender = Sender::new("finch_api", "finch", FINCH_SECRET);
const BAMBOO: Sender = Sender::new("bamboo", "bamboohr", BAMBOO_KEY);
const GUSTO: Sender = Sender::new("gusto_api", "gusto", GUSTO_TOKEN);
const BOB: Sender = Sender::new("bob", "hibob", BOB_SECRET);
const DEEL: Sender = Sender::new("deel", "deel", DEEL_KEY);

impl Sender {
    const fn new(source: &'static str, kind: &'static str, secret: &'static str) -> Sender {
        Sender {
            source,
            kind,
            secret,
        }
    }
}

/// One app with every source of `test_config` and `sources()`, a SCIM target and an HTTP
/// target, plus the sender API server the thin sources fetch records from.
struct Rig {
    app: TestApp,
    api: SenderApi,
    scim: ScimServer,
    product: TargetServer,
}

impl Rig {
    async fn start() -> Rig {
        let api = SenderApi::start().await;
        let scim = ScimServer::start().await;
        let product = TargetServer::start(&[], 200).await;
        let scim_base = format!("http://127.0.0.1:{}", scim.port);
        let extra = format!(
            "{}\n{}\n{}",
            sources(&api),
            scim_target(&scim_base, "deactivate"),
            product.config("product")
        );
        let iso = Isolation::new();
        let config = test_config_with(&iso, &amqp_url(), &extra);
        let app = spawn_with(config, iso, Role::All).await;
        Rig {
            app,
            api,
            scim,
            product,
        }
    }

    /// POST `body` to the sender's source, signed by `tests/sign.py` as the sender would.
    async fn send(&self, sender: &Sender, body: &Value) {
        let Sender {
            source,
            kind,
            secret,
        } = sender;
        let body = body.to_string().into_bytes();
        let headers = python_sign(kind, secret, now_secs(), &unique("msg"), &body);
        let response = self.app.post(source, &headers, &body).await;
        assert_eq!(
            response.status(),
            202,
            "{source}: {}",
            response.text().await.unwrap()
        );
    }

    /// Wait until the employee is `status` on every target; the employee view then.
    async fn wait_all(&self, source: &str, id: &str, status: &str) -> Value {
        let what = format!("{source}/{id} to be {status} on {TARGETS:?}");
        wait_for(&what, || async {
            let view = self.app.employee(source, id).await?;
            let targets = view["targets"].as_array()?;
            let on = |name: &str| {
                let entry = targets.iter().find(|t| t["target"] == name);
                entry.is_some_and(|t| t["status"] == status)
            };
            TARGETS.iter().all(|name| on(name)).then_some(view)
        })
        .await
    }

    /// The one SCIM user provisiond knows as `{source}:{id}`.
    async fn scim_user(&self, source: &str, id: &str) -> Value {
        let users = self.scim.users_of(source, id).await;
        assert_eq!(users.len(), 1, "one SCIM user for {source}:{id}: {users:?}");
        users[0].clone()
    }

    /// What the product was sent about the employee, in order: (envelope type, status).
    fn product_calls(&self, source: &str, id: &str) -> Vec<(String, String)> {
        let requests = self.product.requests().into_iter();
        let mine = requests.filter(|r| r.body["data"]["source"] == source);
        let mine = mine.filter(|r| r.body["data"]["id"] == id);
        let field = |v: &Value| v.as_str().unwrap_or("?").to_owned();
        mine.map(|r| (field(&r.body["type"]), field(&r.body["data"]["status"])))
            .collect()
    }

    /// The hire reached every target: an active directory account, an active SCIM user
    /// named `email` (the external id when the sender has no email), one activation sent
    /// to the product. Returns the employee view.
    async fn assert_hired(&self, source: &str, id: &str, email: Option<&str>) -> Value {
        let view = self.wait_all(source, id, "active").await;
        assert_eq!(view["status"], "active", "{view}");
        let user = self.scim_user(source, id).await;
        assert_eq!(user["active"], true, "{user}");
        let external_id = format!("{source}:{id}");
        assert_eq!(user["userName"], email.unwrap_or(&external_id), "{user}");
        let directory = target(&view, "directory");
        assert_eq!(directory["email"], json!(email), "{view}");
        let calls = self.product_calls(source, id);
        assert_eq!(calls.len(), 1, "one activation: {calls:?}");
        let (kind, status) = &calls[0];
        assert!(
            kind == "employee.created" || kind == "employee.updated",
            "{calls:?}"
        );
        assert_eq!(status, "active");
        view
    }

    /// The leaver reached every target: the directory account deactivated, the SCIM user
    /// inactive (still there: `deprovision = "deactivate"`), a deactivation sent to the
    /// product after the one activation. Returns the employee view.
    async fn assert_left(&self, source: &str, id: &str) -> Value {
        let view = self.wait_all(source, id, "deactivated").await;
        assert_eq!(view["status"], "terminated", "{view}");
        let events = view["events"].as_array().unwrap();
        assert_eq!(events.last().unwrap()["kind"], "terminated", "{view}");
        assert!(target(&view, "directory")["deactivated_at"].is_string());
        let user = self.scim_user(source, id).await;
        assert_eq!(user["active"], false, "{user}");
        let calls = self.product_calls(source, id);
        let statuses: Vec<&str> = calls.iter().map(|(_, s)| s.as_str()).collect();
        assert_eq!(statuses, ["active", "terminated"], "{calls:?}");
        assert_eq!(calls[1].0, "employee.terminated");
        view
    }

    /// Send `body`, which makes a leaver of `id`; it must reach every target.
    async fn leave(&self, sender: &Sender, id: &str, body: &Value) -> Value {
        self.send(sender, body).await;
        self.assert_left(sender.source, id).await
    }

    async fn cleanup(self) {
        self.app.cleanup().await;
    }
}

fn target<'a>(view: &'a Value, name: &str) -> &'a Value {
    let targets = view["targets"].as_array().expect("targets");
    let found = targets.iter().find(|t| t["target"] == name);
    found.unwrap_or_else(|| panic!("{name} in {view}"))
}

/// `minutes` ago: hires are sent as 10 minutes old, leavers as 1 (the sender's clock may
/// not be ahead of ours).
fn ago(minutes: i64) -> DateTime<Utc> {
    Utc::now() - Span::minutes(minutes)
}

fn rfc3339(t: DateTime<Utc>) -> String {
    t.to_rfc3339_opts(SecondsFormat::Millis, true)
}

/// Yesterday's date, `YYYY-MM-DD`: a termination date that has passed.
fn yesterday() -> String {
    (Utc::now() - Span::days(1)).format("%Y-%m-%d").to_string()
}

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
