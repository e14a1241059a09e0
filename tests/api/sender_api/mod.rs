//! Enrichment over real HTTP: a local server answering as BambooHR's and Finch's APIs do
//! (paths, auth, response shapes), and provisiond fetching the record of thin events.

mod contracts_and_directories;
mod payroll;

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
            .route("/v1/employees/{id}", get(bearer_record))
            .route("/v1/people/{id}", get(hibob))
            .route("/rest/v2/contracts/{id}", get(deel))
            .route("/api/hris/v1/employees/{id}", get(merge))
            .route("/directory_users/{id}", get(bearer_record))
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

/// Gusto and WorkOS: the API key as a bearer token; the record itself.
async fn bearer_record(
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
