//! Enrichment over real HTTP: a local server answering as BambooHR's and Finch's APIs do
//! (paths, auth, response shapes), and provisiond fetching the record of thin events.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::SystemTime;

use axum::extract::{Path, State};
use axum::http::{HeaderMap, StatusCode};
use axum::routing::{get, post};
use axum::{Json, Router};
use provisiond::domain::SourceKind;
use provisiond::signing::{self, SigningKey};
use provisiond::Role;
use serde_json::{json, Value};

use crate::helpers::*;

pub(crate) const API_TOKEN: &str = "sender-api-token";
pub(crate) const BAMBOO_KEY: &str = "bamboo-webhook-key";
pub(crate) const GUSTO_TOKEN: &str = "gusto-verification-token";
pub(crate) const BOB_SECRET: &str = "bob-webhook-secret";
pub(crate) const DEEL_KEY: &str = "deel-signing-key";
pub(crate) const MERGE_ACCOUNT_TOKEN: &str = "merge-linked-account-token";

#[derive(Default)]
struct Records {
    /// By employee id: the record the API answers.
    people: HashMap<String, Value>,
    /// Answer 503 this many times first.
    failures: usize,
    calls: usize,
}

#[derive(Clone)]
pub(crate) struct SenderApi {
    base: String,
    records: Arc<Mutex<Records>>,
}

impl SenderApi {
    pub(crate) async fn start() -> SenderApi {
        let records = Arc::new(Mutex::new(Records::default()));
        let app = Router::new()
            .route("/api/gateway.php/{company}/v1/employees/{id}", get(bamboo))
            .route("/employer/employment", post(finch))
            .route("/v1/employees/{id}", get(gusto))
            .route("/v1/people/{id}", get(hibob))
            .route("/rest/v2/contracts/{id}", get(deel))
            .route("/api/hris/v1/employees/{id}", get(merge))
            .route("/directory_users/{id}", get(workos))
            .with_state(records.clone());
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let base = format!("http://{}", listener.local_addr().unwrap());
        tokio::spawn(async move { axum::serve(listener, app).await });
        SenderApi { base, records }
    }

    pub(crate) fn set(&self, id: &str, record: Value) {
        self.records
            .lock()
            .unwrap()
            .people
            .insert(id.into(), record);
    }

    fn fail_next(&self, n: usize) {
        self.records.lock().unwrap().failures = n;
    }

    pub(crate) fn calls(&self) -> usize {
        self.records.lock().unwrap().calls
    }
}

/// The shared part of every endpoint: count the call, answer 503 while failures are
/// scripted, 401 unless `authorization` is exactly `expected`.
fn admit(records: &Mutex<Records>, headers: &HeaderMap, expected: &str) -> Result<(), StatusCode> {
    let mut r = records.lock().unwrap();
    r.calls += 1;
    if r.failures > 0 {
        r.failures -= 1;
        return Err(StatusCode::SERVICE_UNAVAILABLE);
    }
    let auth = headers.get("authorization").and_then(|v| v.to_str().ok());
    if auth != Some(expected) {
        return Err(StatusCode::UNAUTHORIZED);
    }
    Ok(())
}

/// The record of `id`, or 404.
fn record_of(records: &Mutex<Records>, id: &str) -> Result<Value, StatusCode> {
    let found = records.lock().unwrap().people.get(id).cloned();
    found.ok_or(StatusCode::NOT_FOUND)
}

fn basic(user: &str, password: &str) -> String {
    use base64::Engine;
    let pair = base64::engine::general_purpose::STANDARD.encode(format!("{user}:{password}"));
    format!("Basic {pair}")
}

fn bearer() -> String {
    format!("Bearer {API_TOKEN}")
}

type Shared = State<Arc<Mutex<Records>>>;

/// BambooHR: HTTP Basic, the API key as user name.
async fn bamboo(
    State(records): Shared,
    Path((company, id)): Path<(String, String)>,
    headers: HeaderMap,
) -> Result<Json<Value>, StatusCode> {
    admit(&records, &headers, &basic(API_TOKEN, "x"))?;
    if company != "acme" {
        return Err(StatusCode::NOT_FOUND);
    }
    record_of(&records, &id).map(Json)
}

/// Finch: one answer per requested individual, each with its own code.
async fn finch(
    State(records): Shared,
    headers: HeaderMap,
    Json(body): Json<Value>,
) -> Result<Json<Value>, StatusCode> {
    admit(&records, &headers, &bearer())?;
    if headers.get("finch-api-version").is_none() {
        return Err(StatusCode::BAD_REQUEST);
    }
    let requests = body["requests"].as_array().cloned().unwrap_or_default();
    let responses: Vec<Value> = requests
        .iter()
        .map(|r| {
            let id = r["individual_id"].as_str().unwrap_or_default();
            match record_of(&records, id) {
                Ok(record) => json!({"individual_id": id, "code": 200, "body": record}),
                Err(_) => json!({"individual_id": id, "code": 404, "body": {}}),
            }
        })
        .collect();
    Ok(Json(json!({ "responses": responses })))
}

/// Gusto: bearer token.
async fn gusto(
    State(records): Shared,
    Path(id): Path<String>,
    headers: HeaderMap,
) -> Result<Json<Value>, StatusCode> {
    admit(&records, &headers, &bearer())?;
    record_of(&records, &id).map(Json)
}

/// HiBob: HTTP Basic, service user id and token.
async fn hibob(
    State(records): Shared,
    Path(id): Path<String>,
    headers: HeaderMap,
) -> Result<Json<Value>, StatusCode> {
    admit(&records, &headers, &basic("SERVICE-1", API_TOKEN))?;
    record_of(&records, &id).map(Json)
}

/// Deel: bearer token, the contract under `data`.
async fn deel(
    State(records): Shared,
    Path(id): Path<String>,
    headers: HeaderMap,
) -> Result<Json<Value>, StatusCode> {
    admit(&records, &headers, &bearer())?;
    record_of(&records, &id).map(|contract| Json(json!({ "data": contract })))
}

/// Merge: the API key as a bearer token, and the linked account's token.
async fn merge(
    State(records): Shared,
    Path(id): Path<String>,
    headers: HeaderMap,
) -> Result<Json<Value>, StatusCode> {
    admit(&records, &headers, &bearer())?;
    let account = headers.get("x-account-token").and_then(|v| v.to_str().ok());
    if account != Some(MERGE_ACCOUNT_TOKEN) {
        return Err(StatusCode::UNAUTHORIZED);
    }
    record_of(&records, &id).map(Json)
}

/// WorkOS: the API key as a bearer token; the directory user itself.
async fn workos(
    State(records): Shared,
    Path(id): Path<String>,
    headers: HeaderMap,
) -> Result<Json<Value>, StatusCode> {
    admit(&records, &headers, &bearer())?;
    record_of(&records, &id).map(Json)
}

pub(crate) fn sources(api: &SenderApi) -> String {
    format!(
        "[[sources]]\nname = \"bamboo\"\nkind = \"bamboohr\"\nsecrets = [\"{BAMBOO_KEY}\"]\n\
         api = {{ base_url = \"{base}\", token = \"{API_TOKEN}\", company = \"acme\", timeout = \"2s\" }}\n\n\
         [[sources]]\nname = \"finch_api\"\nkind = \"finch\"\nsecrets = [\"{FINCH_SECRET}\"]\n\
         api = {{ base_url = \"{base}\", token = \"{API_TOKEN}\" }}\n\n\
         [[sources]]\nname = \"gusto_api\"\nkind = \"gusto\"\nsecrets = [\"{GUSTO_TOKEN}\"]\n\
         api = {{ base_url = \"{base}\", token = \"{API_TOKEN}\" }}\n\n\
         [[sources]]\nname = \"bob\"\nkind = \"hibob\"\nsecrets = [\"{BOB_SECRET}\"]\n\
         api = {{ base_url = \"{base}\", token = \"{API_TOKEN}\", user = \"SERVICE-1\" }}\n\n\
         [[sources]]\nname = \"deel\"\nkind = \"deel\"\nsecrets = [\"{DEEL_KEY}\"]\n\
         api = {{ base_url = \"{base}\", token = \"{API_TOKEN}\" }}\n\n\
         [[sources]]\nname = \"merge_api\"\nkind = \"merge\"\nsecrets = [\"{MERGE_SECRET}\"]\n\
         api = {{ base_url = \"{base}\", token = \"{API_TOKEN}\", account_token = \"{MERGE_ACCOUNT_TOKEN}\" }}\n\n\
         [[sources]]\nname = \"workos_api\"\nkind = \"workos\"\nsecrets = [\"{WORKOS_SECRET}\"]\n\
         api = {{ base_url = \"{base}\", token = \"{API_TOKEN}\" }}\n",
        base = api.base
    )
}

async fn spawn(api: &SenderApi) -> TestApp {
    let iso = Isolation::new();
    let config = test_config_with(&iso, &amqp_url(), &sources(api));
    spawn_with(config, iso, Role::All).await
}

/// A source of `sources` (or of the plain test config) and how its sender signs.
struct Sender {
    source: &'static str,
    kind: SourceKind,
    secret: &'static str,
}

const BAMBOO: Sender = Sender::new("bamboo", SourceKind::Bamboohr, BAMBOO_KEY);
const FINCH_API: Sender = Sender::new("finch_api", SourceKind::Finch, FINCH_SECRET);
const FINCH_PLAIN: Sender = Sender::new("finch", SourceKind::Finch, FINCH_SECRET);
const GUSTO_API: Sender = Sender::new("gusto_api", SourceKind::Gusto, GUSTO_TOKEN);
const BOB: Sender = Sender::new("bob", SourceKind::Hibob, BOB_SECRET);
const DEEL: Sender = Sender::new("deel", SourceKind::Deel, DEEL_KEY);
const DEEL_PLAIN: Sender = Sender::new("deel_plain", SourceKind::Deel, DEEL_KEY);
const MERGE_API: Sender = Sender::new("merge_api", SourceKind::Merge, MERGE_SECRET);
const WORKOS_API: Sender = Sender::new("workos_api", SourceKind::Workos, WORKOS_SECRET);

impl Sender {
    const fn new(source: &'static str, kind: SourceKind, secret: &'static str) -> Sender {
        Sender {
            source,
            kind,
            secret,
        }
    }

    /// Signed as the sender would (the signature is not what these tests are about).
    async fn send(&self, app: &TestApp, body: &[u8]) {
        let key = SigningKey::from_secret(self.kind, self.secret).unwrap();
        let signed = signing::sign(self.kind, &key, body, SystemTime::now(), &unique("msg"));
        let headers: serde_json::Map<String, Value> = signed
            .into_iter()
            .map(|(name, value)| (name.to_owned(), Value::String(value)))
            .collect();
        let response = app.post(self.source, &Value::Object(headers), body).await;
        assert_eq!(response.status(), 202);
    }

    /// Send a hire of `employee`: its first event leaves it active.
    async fn hire(&self, app: &TestApp, body: &[u8], employee: &str) -> Value {
        self.send(app, body).await;
        let view = app.employee_after(self.source, employee, 1).await;
        assert_eq!(view["status"], "active", "{view}");
        view
    }

    /// Send the `n`th event of `employee`, which makes a leaver of it.
    async fn leave(&self, app: &TestApp, body: &[u8], employee: &str, n: usize) -> Value {
        self.send(app, body).await;
        self.assert_left(app, employee, n).await
    }

    /// Wait for the employee's `n`th event; the employee has left and lost its account.
    async fn assert_left(&self, app: &TestApp, employee: &str, n: usize) -> Value {
        let view = app.employee_after(self.source, employee, n).await;
        assert_eq!(view["status"], "terminated", "{view}");
        assert_eq!(view["targets"][0]["status"], "deactivated");
        view
    }
}

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
