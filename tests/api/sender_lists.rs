//! A local server answering the senders' employee-list endpoints as they document them
//! (paths, auth, envelopes, pagination), over one roster the test sets: Merge (`cursor`),
//! WorkOS (`after`), BambooHR's directory and HiBob's people search (one answer each),
//! Gusto (`page` / `per`) and Deel (`limit` / `offset`).

use std::collections::BTreeMap;
use std::sync::{Arc, Mutex};

use axum::extract::{Path, Query, State};
use axum::http::{HeaderMap, StatusCode};
use axum::routing::{get, post};
use axum::{Json, Router};
use serde_json::{json, Value};

pub(crate) const LIST_TOKEN: &str = "sender-list-token";
pub(crate) const MERGE_ACCOUNT: &str = "merge-account-token";
pub(crate) const WORKOS_DIRECTORY: &str = "directory_01RECONCILE";
pub(crate) const GUSTO_COMPANY: &str = "c0ffee00-1111-4222-8333-444455556666";

#[derive(Default)]
struct Roster {
    /// By employee id (sorted, so pages are stable): the sender's record.
    people: BTreeMap<String, Value>,
    /// How many list requests were answered.
    requests: usize,
}

type Shared = State<Arc<Mutex<Roster>>>;
type Params = Query<BTreeMap<String, String>>;

#[derive(Clone)]
pub(crate) struct SenderLists {
    pub(crate) base: String,
    roster: Arc<Mutex<Roster>>,
}

impl SenderLists {
    pub(crate) async fn start() -> SenderLists {
        let roster = Arc::new(Mutex::new(Roster::default()));
        let app = Router::new()
            .route("/api/hris/v1/employees", get(merge))
            .route("/directory_users", get(workos))
            .route(
                "/api/gateway.php/{company}/v1/employees/directory",
                get(bamboo),
            )
            .route("/v1/people/search", post(hibob))
            .route("/v1/companies/{company}/employees", get(gusto))
            .route("/rest/v2/people", get(deel))
            .with_state(roster.clone());
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let base = format!("http://{}", listener.local_addr().unwrap());
        tokio::spawn(async move { axum::serve(listener, app).await });
        SenderLists { base, roster }
    }

    pub(crate) fn set(&self, id: &str, record: Value) {
        self.roster.lock().unwrap().people.insert(id.into(), record);
    }

    pub(crate) fn remove(&self, id: &str) {
        self.roster.lock().unwrap().people.remove(id);
    }

    pub(crate) fn requests(&self) -> usize {
        self.roster.lock().unwrap().requests
    }

    /// The `api = {…}` of a source of `kind` listed by this server.
    pub(crate) fn api(&self, kind: &str) -> String {
        let extra = match kind {
            "merge" => format!(", account_token = \"{MERGE_ACCOUNT}\""),
            "workos" => format!(", directory = \"{WORKOS_DIRECTORY}\""),
            "bamboohr" => ", company = \"acme\"".to_owned(),
            "hibob" => ", user = \"SERVICE-1\"".to_owned(),
            "gusto" => format!(", company = \"{GUSTO_COMPANY}\""),
            _ => String::new(),
        };
        format!(
            "api = {{ base_url = \"{}\", token = \"{LIST_TOKEN}\"{extra} }}",
            self.base
        )
    }
}

fn bearer_ok(headers: &HeaderMap) -> bool {
    let auth = headers.get("authorization").and_then(|v| v.to_str().ok());
    auth == Some(&format!("Bearer {LIST_TOKEN}"))
}

fn basic_ok(headers: &HeaderMap, user: &str, password: &str) -> bool {
    use base64::Engine;
    let pair = base64::engine::general_purpose::STANDARD.encode(format!("{user}:{password}"));
    let auth = headers.get("authorization").and_then(|v| v.to_str().ok());
    auth == Some(&format!("Basic {pair}"))
}

/// The roster from `start` (an index), `size` records; counts the request.
fn slice(roster: &Mutex<Roster>, start: usize, size: usize) -> (Vec<Value>, usize) {
    let mut roster = roster.lock().unwrap();
    roster.requests += 1;
    let total = roster.people.len();
    let page = roster.people.values().skip(start).take(size).cloned();
    (page.collect(), total)
}

fn number(params: &BTreeMap<String, String>, key: &str, default: usize) -> usize {
    params
        .get(key)
        .and_then(|v| v.parse().ok())
        .unwrap_or(default)
}

fn all(roster: &Mutex<Roster>) -> Vec<Value> {
    slice(roster, 0, usize::MAX).0
}

/// Merge: `{next, previous, results}`; the cursor is opaque (here the next index).
async fn merge(
    State(roster): Shared,
    Query(p): Params,
    headers: HeaderMap,
) -> Result<Json<Value>, StatusCode> {
    let account = headers.get("x-account-token").and_then(|v| v.to_str().ok());
    if !bearer_ok(&headers) || account != Some(MERGE_ACCOUNT) {
        return Err(StatusCode::UNAUTHORIZED);
    }
    let start = p
        .get("cursor")
        .map_or(0, |c| c.trim_start_matches("cD0").parse().unwrap_or(0));
    let size = number(&p, "page_size", 100);
    let (results, total) = slice(&roster, start, size);
    let next = (start + size < total).then(|| format!("cD0{}", start + size));
    Ok(Json(
        json!({"next": next, "previous": null, "results": results}),
    ))
}

/// WorkOS: `{data, list_metadata: {before, after}}`; `after` is the last user's id.
async fn workos(
    State(roster): Shared,
    Query(p): Params,
    headers: HeaderMap,
) -> Result<Json<Value>, StatusCode> {
    if !bearer_ok(&headers) {
        return Err(StatusCode::UNAUTHORIZED);
    }
    if p.get("directory").map(String::as_str) != Some(WORKOS_DIRECTORY) {
        return Err(StatusCode::NOT_FOUND);
    }
    let size = number(&p, "limit", 10);
    let people = all(&roster);
    let start = match p.get("after") {
        Some(after) => people
            .iter()
            .position(|u| u["id"] == after.as_str())
            .map_or(0, |i| i + 1),
        None => 0,
    };
    let data: Vec<Value> = people.iter().skip(start).take(size).cloned().collect();
    let after = (start + size < people.len()).then(|| data.last().map(|u| u["id"].clone()));
    Ok(Json(
        json!({"data": data, "list_metadata": {"before": null, "after": after.flatten()}}),
    ))
}

/// BambooHR: the employee directory, `{fields, employees}`, in one answer.
async fn bamboo(
    State(roster): Shared,
    Path(company): Path<String>,
    headers: HeaderMap,
) -> Result<Json<Value>, StatusCode> {
    if !basic_ok(&headers, LIST_TOKEN, "x") {
        return Err(StatusCode::UNAUTHORIZED);
    }
    if company != "acme" {
        return Err(StatusCode::NOT_FOUND);
    }
    let fields = json!([{"id": "displayName", "type": "text", "name": "Display name"}]);
    Ok(Json(json!({"fields": fields, "employees": all(&roster)})))
}

/// HiBob: `POST /v1/people/search` → `{employees}`, inactive ones only when asked.
async fn hibob(
    State(roster): Shared,
    headers: HeaderMap,
    Json(body): Json<Value>,
) -> Result<Json<Value>, StatusCode> {
    if !basic_ok(&headers, "SERVICE-1", LIST_TOKEN) {
        return Err(StatusCode::UNAUTHORIZED);
    }
    let inactive = body["showInactive"] == Value::Bool(true);
    let people = all(&roster).into_iter();
    let shown: Vec<Value> = people
        .filter(|p| inactive || p["internal"]["status"] == "Active")
        .collect();
    Ok(Json(json!({"employees": shown})))
}

/// Gusto: a plain array, `page` (from 1) and `per`.
async fn gusto(
    State(roster): Shared,
    Path(company): Path<String>,
    Query(p): Params,
    headers: HeaderMap,
) -> Result<Json<Value>, StatusCode> {
    if !bearer_ok(&headers) {
        return Err(StatusCode::UNAUTHORIZED);
    }
    if company != GUSTO_COMPANY {
        return Err(StatusCode::NOT_FOUND);
    }
    let (page, per) = (number(&p, "page", 1).max(1), number(&p, "per", 25));
    Ok(Json(Value::Array(slice(&roster, (page - 1) * per, per).0)))
}

/// Deel: `{data, page: {total_rows, offset, items_per_page}}`, `limit` and `offset`.
async fn deel(
    State(roster): Shared,
    Query(p): Params,
    headers: HeaderMap,
) -> Result<Json<Value>, StatusCode> {
    if !bearer_ok(&headers) {
        return Err(StatusCode::UNAUTHORIZED);
    }
    let (limit, offset) = (number(&p, "limit", 50), number(&p, "offset", 0));
    let (data, total) = slice(&roster, offset, limit);
    Ok(Json(
        json!({"data": data, "page": {"total_rows": total, "offset": offset, "items_per_page": limit}}),
    ))
}
