//! Most tests run against a real SCIM server, `scim2-server` (PyPI), started per test on a
//! free port; the server's state is read back with plain requests, independently of the
//! target's code. A scripted local server covers what a well-behaved server never does.

use std::process::Stdio;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use axum::body::Bytes;
use axum::extract::State;
use axum::http::{HeaderMap as AxumHeaders, Method as AxumMethod, StatusCode as AxumStatus, Uri};
use axum::response::{IntoResponse, Response as AxumResponse};
use axum::Router;
use chrono::{DateTime, Utc};
use serde_json::json;
use tokio::process::{Child, Command};

use super::client::percent_encode;
use super::resource::{eq_filter, user_resource, ENTERPRISE_SCHEMA, USER_SCHEMA};
use super::*;
use crate::domain::event::{Attributes, EventKind};

const TOKEN: &str = "scim-test-token-7f3a9c";
const SOURCE: &str = "hris";
const MANAGED: [&str; 3] = ["sales", "engineering", "support"];

// ---------------------------------------------------------------------------------------
// scim2-server as a child process

/// A `scim2-server` child on a free local port, killed when dropped.
struct ScimServer {
    _child: Child,
    url: String,
    http: reqwest::Client,
}

impl ScimServer {
    async fn start() -> ScimServer {
        // Picking a port and handing it over can race with another test: try a few ports.
        for _ in 0..5 {
            let port = free_port();
            let mut child = spawn_scim2_server(port);
            let url = format!("http://127.0.0.1:{port}");
            let http = reqwest::Client::new();
            if wait_until_answering(&http, &url, &mut child).await {
                return ScimServer {
                    _child: child,
                    url,
                    http,
                };
            }
        }
        panic!("scim2-server did not start on any of 5 ports");
    }

    fn options(&self) -> Value {
        json!({"base_url": self.url, "token": TOKEN})
    }

    fn target(&self) -> ScimTarget {
        scim_target(self.options())
    }

    fn target_with(&self, key: &str, value: &str) -> ScimTarget {
        let mut options = self.options();
        options[key] = value.into();
        scim_target(options)
    }

    async fn get(&self, path: &str, filter: Option<String>) -> Value {
        let mut request = self
            .http
            .get(format!("{}{path}", self.url))
            .bearer_auth(TOKEN);
        if let Some(filter) = filter {
            request = request.query(&[("filter", filter)]);
        }
        let response = request.send().await.unwrap();
        assert_eq!(response.status(), 200, "GET {path}");
        response.json().await.unwrap()
    }

    async fn post(&self, path: &str, body: Value) -> Value {
        let response = self
            .http
            .post(format!("{}{path}", self.url))
            .bearer_auth(TOKEN)
            .header("content-type", "application/scim+json")
            .body(body.to_string())
            .send()
            .await
            .unwrap();
        assert_eq!(response.status(), 201, "POST {path}");
        response.json().await.unwrap()
    }

    async fn users(&self) -> Vec<Value> {
        let list = self.get("/Users", None).await;
        list["Resources"].as_array().cloned().unwrap_or_default()
    }

    /// Every user with this externalId (one, if all went well).
    async fn users_with_external_id(&self, external_id: &str) -> Vec<Value> {
        let filter = format!("externalId eq {}", json!(external_id));
        let list = self.get("/Users", Some(filter)).await;
        list["Resources"].as_array().cloned().unwrap_or_default()
    }

    async fn user(&self, external_id: &str) -> Value {
        let mut users = self.users_with_external_id(external_id).await;
        assert_eq!(
            users.len(),
            1,
            "users with externalId {external_id}: {users:?}"
        );
        users.remove(0)
    }

    async fn group(&self, name: &str) -> Option<Value> {
        let filter = format!("displayName eq {}", json!(name));
        let list = self.get("/Groups", Some(filter)).await;
        let mut groups = list["Resources"].as_array().cloned().unwrap_or_default();
        assert!(groups.len() <= 1, "groups named {name}: {groups:?}");
        groups.pop()
    }

    /// Member ids of a group (none when the group does not exist).
    async fn members(&self, name: &str) -> Vec<String> {
        let Some(group) = self.group(name).await else {
            return Vec::new();
        };
        let members = group["members"].as_array().cloned().unwrap_or_default();
        members
            .iter()
            .map(|m| m["value"].as_str().unwrap().to_string())
            .collect()
    }

    /// The names of the groups that list `user_id` as a member.
    async fn groups_of(&self, user_id: &str) -> Vec<String> {
        let list = self.get("/Groups", None).await;
        let mut names: Vec<String> = list["Resources"]
            .as_array()
            .cloned()
            .unwrap_or_default()
            .into_iter()
            .filter(|g| {
                let members = g["members"].as_array().cloned().unwrap_or_default();
                members.iter().any(|m| m["value"] == user_id)
            })
            .map(|g| g["displayName"].as_str().unwrap().to_string())
            .collect();
        names.sort();
        names
    }
}

fn free_port() -> u16 {
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    listener.local_addr().unwrap().port()
}

/// `scim2-server` from PATH, else the same program through `python3 -m`.
fn spawn_scim2_server(port: u16) -> Child {
    let args = [
        "--hostname".to_string(),
        "127.0.0.1".to_string(),
        "--port".to_string(),
        port.to_string(),
        "--bearer-token".to_string(),
        TOKEN.to_string(),
    ];
    let spawn = |program: &str, prefix: &[&str]| {
        Command::new(program)
            .args(prefix)
            .args(&args)
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .kill_on_drop(true)
            .spawn()
    };
    match spawn("scim2-server", &[]) {
        Ok(child) => child,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
            spawn("python3", &["-m", "scim2_server.testserver.cli"]).expect(
                "neither scim2-server nor python3 could be started (pip install scim2-server)",
            )
        }
        Err(e) => panic!("cannot start scim2-server: {e}"),
    }
}

/// Poll until the server answers an authenticated request; false if it exited (its port was
/// taken) or did not answer within 30 s.
async fn wait_until_answering(http: &reqwest::Client, url: &str, child: &mut Child) -> bool {
    let deadline = Instant::now() + Duration::from_secs(30);
    let probe = format!("{url}/ServiceProviderConfig");
    while Instant::now() < deadline {
        if child.try_wait().unwrap().is_some() {
            return false;
        }
        let answer = http.get(&probe).bearer_auth(TOKEN).send().await;
        if answer.is_ok_and(|r| r.status().is_success()) {
            return true;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    let _ = child.kill().await;
    false
}

// ---------------------------------------------------------------------------------------
// events and targets

fn at(s: &str) -> DateTime<Utc> {
    s.parse().unwrap()
}

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

fn config(options: Value) -> TargetConfig {
    TargetConfig {
        name: "app".into(),
        kind: TargetKind::Scim,
        options: options.as_object().cloned().unwrap(),
    }
}

fn scim_target(options: Value) -> ScimTarget {
    ScimTarget::from_config(&config(options)).unwrap()
}

fn config_error(options: Value) -> String {
    ScimTarget::from_config(&config(options)).unwrap_err()
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

fn transient(result: Result<(), TargetError>) -> (String, Option<Duration>) {
    match result {
        Err(TargetError::Transient {
            message,
            retry_after,
        }) => (message, retry_after),
        other => panic!("expected a transient error, got {other:?}"),
    }
}

fn permanent(result: Result<(), TargetError>) -> String {
    match result {
        Err(TargetError::Permanent { message }) => message,
        other => panic!("expected a permanent error, got {other:?}"),
    }
}

// ---------------------------------------------------------------------------------------
// against scim2-server

#[tokio::test]
async fn a_hire_creates_one_active_user_with_the_employee_attributes_and_groups() {
    let server = ScimServer::start().await;
    let target = server.target();
    apply(&target, &hire("emp_1"), &["sales"]).await.unwrap();

    let user = server.user("hris:emp_1").await;
    assert_eq!(user["externalId"], "hris:emp_1");
    assert_eq!(user["userName"], "emp_1@example.com");
    assert_eq!(user["active"], true);
    assert_eq!(user["displayName"], "Ada Lovelace");
    assert_eq!(user["title"], "Account Executive");
    assert_eq!(
        user["name"],
        json!({"givenName": "Ada", "familyName": "Lovelace", "formatted": "Ada Lovelace"})
    );
    assert_eq!(
        user["emails"],
        json!([{"value": "emp_1@example.com", "type": "work", "primary": true}])
    );
    assert_eq!(user[ENTERPRISE_SCHEMA]["department"], "Sales");
    assert_eq!(user[ENTERPRISE_SCHEMA]["manager"]["value"], "emp_7");
    let schemas = user["schemas"].as_array().unwrap();
    assert!(schemas.contains(&json!(USER_SCHEMA)), "{schemas:?}");
    assert!(schemas.contains(&json!(ENTERPRISE_SCHEMA)), "{schemas:?}");

    let id = user["id"].as_str().unwrap();
    assert_eq!(server.groups_of(id).await, ["sales"]);
    assert_eq!(server.users().await.len(), 1);
}

#[tokio::test]
async fn the_same_hire_applied_three_times_leaves_one_user_listed_once_per_group() {
    let server = ScimServer::start().await;
    let target = server.target();
    for _ in 0..3 {
        apply(&target, &hire("emp_1"), &["sales", "support"])
            .await
            .unwrap();
    }
    assert_eq!(server.users().await.len(), 1);
    let user = server.user("hris:emp_1").await;
    let id = user["id"].as_str().unwrap();
    assert_eq!(server.members("sales").await, [id]);
    assert_eq!(server.members("support").await, [id]);
}

#[tokio::test]
async fn an_update_changes_title_and_department_and_moves_only_managed_groups() {
    let server = ScimServer::start().await;
    let target = server.target();
    apply(&target, &hire("emp_1"), &["sales"]).await.unwrap();
    let id = server.user("hris:emp_1").await["id"]
        .as_str()
        .unwrap()
        .to_string();
    // A group provisiond does not manage, with the user in it, made by someone else.
    let all_hands = json!({
        "schemas": ["urn:ietf:params:scim:schemas:core:2.0:Group"],
        "displayName": "all-hands",
        "members": [{"value": id}],
    });
    server.post("/Groups", all_hands).await;

    apply(&target, &moved_to_engineering("emp_1"), &["engineering"])
        .await
        .unwrap();

    let user = server.user("hris:emp_1").await;
    assert_eq!(user["id"], id.as_str());
    assert_eq!(user["title"], "Software Engineer");
    assert_eq!(user[ENTERPRISE_SCHEMA]["department"], "Engineering");
    assert_eq!(user["active"], true);
    assert_eq!(server.groups_of(&id).await, ["all-hands", "engineering"]);
    assert!(server.members("sales").await.is_empty());
    assert_eq!(server.users().await.len(), 1);
}

#[tokio::test]
async fn a_second_employee_leaving_a_group_leaves_the_other_members_in_it() {
    let server = ScimServer::start().await;
    let target = server.target();
    apply(&target, &hire("emp_1"), &["sales"]).await.unwrap();
    apply(&target, &hire("emp_2"), &["sales"]).await.unwrap();
    apply(&target, &moved_to_engineering("emp_2"), &["engineering"])
        .await
        .unwrap();
    let first = server.user("hris:emp_1").await;
    assert_eq!(
        server.members("sales").await,
        [first["id"].as_str().unwrap()]
    );
}

#[tokio::test]
async fn a_termination_deactivates_the_user_and_a_second_termination_is_a_no_op() {
    let server = ScimServer::start().await;
    let target = server.target();
    apply(&target, &hire("emp_1"), &["sales"]).await.unwrap();
    apply(&target, &termination("emp_1"), &[]).await.unwrap();
    let user = server.user("hris:emp_1").await;
    assert_eq!(user["active"], false);
    let version = user["meta"]["version"].clone();

    apply(&target, &termination("emp_1"), &[]).await.unwrap();
    let user = server.user("hris:emp_1").await;
    assert_eq!(user["active"], false);
    assert_eq!(user["meta"]["version"], version, "nothing was written");
    assert_eq!(server.users().await.len(), 1);
}

#[tokio::test]
async fn with_deprovision_delete_a_termination_removes_the_user_and_a_repeat_is_fine() {
    let server = ScimServer::start().await;
    let target = server.target_with("deprovision", "delete");
    assert_eq!(target.deprovision(), Deprovision::Delete);
    apply(&target, &hire("emp_1"), &["sales"]).await.unwrap();
    apply(&target, &hire("emp_2"), &[]).await.unwrap();

    apply(&target, &termination("emp_1"), &[]).await.unwrap();
    assert!(server.users_with_external_id("hris:emp_1").await.is_empty());
    assert_eq!(server.users().await.len(), 1, "the other user stays");
    apply(&target, &termination("emp_1"), &[]).await.unwrap();
}

#[tokio::test]
async fn terminating_an_employee_the_app_never_had_is_ok() {
    let server = ScimServer::start().await;
    apply(&server.target(), &termination("emp_404"), &[])
        .await
        .unwrap();
    assert!(server.users().await.is_empty());
}

#[tokio::test]
async fn a_rehire_after_a_termination_reactivates_the_same_user() {
    let server = ScimServer::start().await;
    let target = server.target();
    apply(&target, &hire("emp_1"), &["sales"]).await.unwrap();
    let id = server.user("hris:emp_1").await["id"].clone();
    apply(&target, &termination("emp_1"), &[]).await.unwrap();
    assert_eq!(server.user("hris:emp_1").await["active"], false);

    apply(&target, &rehire("emp_1"), &["support"])
        .await
        .unwrap();
    let user = server.user("hris:emp_1").await;
    assert_eq!(user["active"], true);
    assert_eq!(user["id"], id);
    assert_eq!(server.users().await.len(), 1);
    assert_eq!(server.groups_of(id.as_str().unwrap()).await, ["support"]);
}

#[tokio::test]
async fn a_user_with_the_same_user_name_and_no_external_id_is_taken_over_not_duplicated() {
    let server = ScimServer::start().await;
    let existing = json!({
        "schemas": [USER_SCHEMA],
        "userName": "emp_1@example.com",
        "displayName": "Ada (made by hand)",
        "active": false,
    });
    let existing = server.post("/Users", existing).await;

    apply(&server.target(), &hire("emp_1"), &["sales"])
        .await
        .unwrap();

    let users = server.users().await;
    assert_eq!(users.len(), 1, "{users:?}");
    let user = server.user("hris:emp_1").await;
    assert_eq!(user["id"], existing["id"]);
    assert_eq!(user["displayName"], "Ada Lovelace");
    assert_eq!(user["active"], true);
    assert_eq!(
        server.members("sales").await,
        [user["id"].as_str().unwrap()]
    );
}

#[tokio::test]
async fn a_user_name_held_under_another_external_id_is_a_permanent_error() {
    let server = ScimServer::start().await;
    let other = json!({
        "schemas": [USER_SCHEMA],
        "userName": "emp_1@example.com",
        "externalId": "okta:00u1",
    });
    server.post("/Users", other).await;

    let message = permanent(apply(&server.target(), &hire("emp_1"), &[]).await);
    assert!(message.contains("`app`"), "{message}");
    assert!(message.contains("okta:00u1"), "{message}");
    let users = server.users().await;
    assert_eq!(users.len(), 1);
    assert_eq!(users[0]["externalId"], "okta:00u1");
}

#[tokio::test]
async fn a_hire_without_email_gets_the_external_id_as_user_name() {
    let server = ScimServer::start().await;
    let mut event = hire("emp_1");
    event.attributes.email = None;
    apply(&server.target(), &event, &[]).await.unwrap();
    let user = server.user("hris:emp_1").await;
    assert_eq!(user["userName"], "hris:emp_1");
    assert!(user.get("emails").is_none(), "{user}");
}

#[tokio::test]
async fn an_employee_id_with_quotes_backslashes_and_spaces_is_found_again() {
    let server = ScimServer::start().await;
    let target = server.target();
    let employee_id = r#"emp "7" \ a+b&c=d"#;
    let mut event = hire(employee_id);
    event.attributes.email = Some("odd@example.com".into());
    apply(&target, &event, &["sales"]).await.unwrap();
    apply(&target, &event, &["sales"]).await.unwrap();
    apply(&target, &termination(employee_id), &[])
        .await
        .unwrap();

    assert_eq!(server.users().await.len(), 1);
    let user = server.user(&external_id(employee_id)).await;
    assert_eq!(user["active"], false);
}

#[tokio::test]
async fn a_base_url_with_a_path_and_a_trailing_slash_works() {
    let server = ScimServer::start().await;
    let target = server.target_with("base_url", &format!("{}/v2/", server.url));
    apply(&target, &hire("emp_1"), &["sales"]).await.unwrap();
    apply(&target, &termination("emp_1"), &[]).await.unwrap();
    assert_eq!(server.user("hris:emp_1").await["active"], false);
}

#[tokio::test]
async fn without_managed_groups_no_group_is_created_or_changed() {
    let server = ScimServer::start().await;
    server
        .target()
        .apply(SOURCE, &hire("emp_1"), &names(&["sales"]), &[])
        .await
        .unwrap();
    server.user("hris:emp_1").await;
    assert!(server.group("sales").await.is_none());
}

#[tokio::test]
async fn a_wrong_token_is_permanent_and_names_method_path_and_status_but_not_the_token() {
    let server = ScimServer::start().await;
    let target = server.target_with("token", "not-the-right-token");
    let message = permanent(apply(&target, &hire("emp_1"), &[]).await);
    assert!(message.contains("`app`"), "{message}");
    assert!(message.contains("GET /Users"), "{message}");
    assert!(message.contains("401 Unauthorized"), "{message}");
    assert!(!message.contains("not-the-right-token"), "{message}");
    assert!(server.users().await.is_empty());
}

#[tokio::test]
async fn a_server_that_is_down_is_transient() {
    let url = format!("http://127.0.0.1:{}", free_port());
    let target = scim_target(json!({"base_url": url, "token": TOKEN, "timeout": "5s"}));
    for event in [hire("emp_1"), termination("emp_1")] {
        let (message, retry_after) = transient(apply(&target, &event, &["sales"]).await);
        assert!(message.contains("`app`"), "{message}");
        assert!(message.contains("GET /Users"), "{message}");
        assert!(!message.contains(TOKEN), "{message}");
        assert_eq!(retry_after, None);
    }
}

// ---------------------------------------------------------------------------------------
// against a scripted server

#[derive(Debug, Clone)]
struct Recorded {
    method: AxumMethod,
    /// Path and query, as sent.
    target: String,
    headers: AxumHeaders,
    body: Bytes,
}

type Script = Arc<dyn Fn(&Recorded) -> (u16, Vec<(&'static str, String)>, String) + Send + Sync>;

#[derive(Clone)]
struct ScriptState {
    script: Script,
    requests: Arc<Mutex<Vec<Recorded>>>,
}

struct Scripted {
    url: String,
    requests: Arc<Mutex<Vec<Recorded>>>,
}

impl Scripted {
    fn requests(&self) -> Vec<Recorded> {
        self.requests.lock().unwrap().clone()
    }

    fn target(&self) -> ScimTarget {
        scim_target(json!({"base_url": self.url, "token": TOKEN, "timeout": "5s"}))
    }
}

/// A local server that records each request and answers what `script` says.
async fn scripted(
    script: impl Fn(&Recorded) -> (u16, Vec<(&'static str, String)>, String) + Send + Sync + 'static,
) -> Scripted {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!("http://{}/scim/v2", listener.local_addr().unwrap());
    let requests = Arc::new(Mutex::new(Vec::new()));
    let state = ScriptState {
        script: Arc::new(script),
        requests: requests.clone(),
    };
    let app = Router::new().fallback(answer_scripted).with_state(state);
    tokio::spawn(async move { axum::serve(listener, app).await });
    Scripted { url, requests }
}

async fn answer_scripted(
    State(state): State<ScriptState>,
    method: AxumMethod,
    uri: Uri,
    headers: AxumHeaders,
    body: Bytes,
) -> AxumResponse {
    let recorded = Recorded {
        method,
        target: uri.path_and_query().unwrap().to_string(),
        headers,
        body,
    };
    let (status, headers, body) = (state.script)(&recorded);
    state.requests.lock().unwrap().push(recorded);
    let status = AxumStatus::from_u16(status).unwrap();
    (status, axum::response::AppendHeaders(headers), body).into_response()
}

fn one_user(active: bool) -> String {
    json!({
        "schemas": ["urn:ietf:params:scim:api:messages:2.0:ListResponse"],
        "totalResults": 1,
        "Resources": [{"id": "u-1", "externalId": "hris:emp_1", "userName": "a", "active": active}],
    })
    .to_string()
}

fn no_users() -> String {
    json!({"schemas": ["urn:ietf:params:scim:api:messages:2.0:ListResponse"], "totalResults": 0})
        .to_string()
}

fn header<'a>(request: &'a Recorded, name: &str) -> &'a str {
    request.headers.get(name).unwrap().to_str().unwrap()
}

#[tokio::test]
async fn requests_carry_the_bearer_token_and_scim_media_types_and_an_encoded_filter() {
    let server = scripted(|r| match r.method {
        AxumMethod::GET => (200, vec![], no_users()),
        _ => (201, vec![], json!({"id": "u-1"}).to_string()),
    })
    .await;
    server
        .target()
        .apply(SOURCE, &hire("emp_1"), &[], &[])
        .await
        .unwrap();
    let requests = server.requests();
    assert_eq!(requests.len(), 2, "{requests:?}");
    let (lookup, create) = (&requests[0], &requests[1]);
    assert_eq!(
        lookup.target,
        "/scim/v2/Users?filter=externalId%20eq%20%22hris%3Aemp_1%22"
    );
    assert_eq!(create.method, AxumMethod::POST);
    assert_eq!(create.target, "/scim/v2/Users");
    for request in [lookup, create] {
        assert_eq!(header(request, "authorization"), format!("Bearer {TOKEN}"));
        assert_eq!(header(request, "accept"), "application/scim+json");
    }
    assert_eq!(header(create, "content-type"), "application/scim+json");
    assert!(lookup.headers.get("content-type").is_none());
    let body: Value = serde_json::from_slice(&create.body).unwrap();
    assert_eq!(body, user_resource("hris:emp_1", &hire("emp_1")));
}

#[tokio::test]
async fn a_server_refusing_a_path_patch_gets_the_whole_value_form() {
    let server = scripted(|r| match r.method {
        AxumMethod::GET => (200, vec![], one_user(true)),
        _ if String::from_utf8_lossy(&r.body).contains("\"path\"") => {
            let error = json!({"status": "400", "scimType": "invalidPath"});
            (400, vec![], error.to_string())
        }
        _ => (204, vec![], String::new()),
    })
    .await;
    apply(&server.target(), &termination("emp_1"), &[])
        .await
        .unwrap();
    let requests = server.requests();
    assert_eq!(requests.len(), 3, "{requests:?}");
    assert_eq!(requests[2].method, AxumMethod::PATCH);
    assert_eq!(requests[2].target, "/scim/v2/Users/u-1");
    let body: Value = serde_json::from_slice(&requests[2].body).unwrap();
    assert_eq!(
        body["Operations"],
        json!([{"op": "replace", "value": {"active": false}}])
    );
}

#[tokio::test]
async fn a_user_found_inactive_is_not_patched_again() {
    let server = scripted(|_| (200, vec![], one_user(false))).await;
    apply(&server.target(), &termination("emp_1"), &[])
        .await
        .unwrap();
    assert_eq!(server.requests().len(), 1);
}

#[tokio::test]
async fn a_503_with_retry_after_is_transient_with_that_delay() {
    let server = scripted(|_| (503, vec![("retry-after", "7".into())], String::new())).await;
    let (message, retry_after) = transient(apply(&server.target(), &hire("emp_1"), &[]).await);
    assert!(message.contains("503 Service Unavailable"), "{message}");
    assert!(message.contains("(empty body)"), "{message}");
    assert_eq!(retry_after, Some(Duration::from_secs(7)));
}

#[tokio::test]
async fn a_400_on_create_is_permanent_and_names_target_method_path_status_and_body() {
    let server = scripted(|r| match r.method {
        AxumMethod::GET => (200, vec![], no_users()),
        _ => (
            400,
            vec![],
            format!("{{\"detail\": \"bad title\"}}{}", "x".repeat(5000)),
        ),
    })
    .await;
    let message = permanent(apply(&server.target(), &hire("emp_1"), &[]).await);
    assert!(
        message.starts_with("scim target `app`: POST /scim/v2/Users answered 400 Bad Request: "),
        "{message}"
    );
    assert!(message.contains("bad title"), "{message}");
    let excerpt = message.rsplit(": ").next().unwrap();
    assert!(excerpt.chars().count() <= 200, "{}", excerpt.len());
    assert!(!message.contains(TOKEN));
}

#[tokio::test]
async fn a_409_on_create_that_no_lookup_explains_is_transient() {
    let server = scripted(|r| match r.method {
        AxumMethod::GET => (200, vec![], no_users()),
        _ => (409, vec![], json!({"scimType": "uniqueness"}).to_string()),
    })
    .await;
    let (message, _) = transient(apply(&server.target(), &hire("emp_1"), &[]).await);
    assert!(
        message.contains("POST /scim/v2/Users answered 409 Conflict"),
        "{message}"
    );
    let lookups: Vec<String> = server
        .requests()
        .into_iter()
        .filter(|r| r.method == AxumMethod::GET)
        .map(|r| r.target)
        .collect();
    assert_eq!(lookups.len(), 3, "{lookups:?}");
    assert!(lookups[2].contains("userName%20eq%20%22emp_1%40example.com%22"));
}

#[tokio::test]
async fn a_group_that_does_not_list_members_gets_a_remove_and_no_target_is_fine() {
    let server = scripted(|r| match (&r.method, r.target.as_str()) {
        (&AxumMethod::GET, t) if t.contains("/Users") => (200, vec![], one_user(true)),
        (&AxumMethod::GET, _) => {
            let list =
                json!({"totalResults": 1, "Resources": [{"id": "g-1", "displayName": "sales"}]});
            (200, vec![], list.to_string())
        }
        (&AxumMethod::PUT, _) => (200, vec![], json!({"id": "u-1"}).to_string()),
        _ => (
            400,
            vec![],
            json!({"status": "400", "scimType": "noTarget"}).to_string(),
        ),
    })
    .await;
    let target = server.target();
    target
        .apply(SOURCE, &hire("emp_1"), &[], &names(&["sales"]))
        .await
        .unwrap();
    let requests = server.requests();
    let patch = requests.last().unwrap();
    assert_eq!(patch.method, AxumMethod::PATCH);
    assert_eq!(patch.target, "/scim/v2/Groups/g-1");
    let body: Value = serde_json::from_slice(&patch.body).unwrap();
    assert_eq!(
        body["Operations"],
        json!([{"op": "remove", "path": "members[value eq \"u-1\"]"}])
    );
}

#[tokio::test]
async fn a_server_slower_than_the_timeout_is_transient() {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!("http://{}", listener.local_addr().unwrap());
    // Accepts connections (the kernel's backlog) but never answers.
    let target = scim_target(json!({"base_url": url, "token": TOKEN, "timeout": "200ms"}));
    let (message, _) = transient(apply(&target, &hire("emp_1"), &[]).await);
    assert!(message.contains("no answer within 200ms"), "{message}");
    drop(listener);
}

// ---------------------------------------------------------------------------------------
// pieces

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
fn from_config_reads_every_key_with_defaults() {
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
fn from_config_errors_name_the_base_url_key() {
    for base_url in [
        json!(null),
        json!("ftp://example.com/scim"),
        json!("not a url"),
        json!(42),
        json!("https://app.example.com/scim?tenant=1"),
    ] {
        let mut options = json!({"token": "t"});
        if !base_url.is_null() {
            options["base_url"] = base_url.clone();
        }
        let error = config_error(options);
        assert!(error.starts_with("base_url: "), "{base_url}: {error}");
    }
}

#[test]
fn from_config_errors_name_the_token_key_without_showing_it() {
    let base_url = "https://app.example.com/scim/v2";
    for token in [
        json!(null),
        json!(""),
        json!(7),
        json!("env:PROVISIOND_TEST_SCIM_TOKEN_THAT_IS_NEVER_SET"),
        json!("file:/nonexistent/provisiond/scim-token"),
        json!("secret\nwith a newline"),
    ] {
        let mut options = json!({"base_url": base_url});
        if !token.is_null() {
            options["token"] = token.clone();
        }
        let error = config_error(options);
        assert!(error.starts_with("token: "), "{token}: {error}");
        assert!(!error.contains("with a newline"), "{error}");
    }
}

#[test]
fn from_config_errors_name_deprovision_timeout_unknown_keys_and_the_kind() {
    let base = || json!({"base_url": "https://app.example.com", "token": "t"});
    let with = |key: &str, value: Value| {
        let mut options = base();
        options[key] = value;
        config_error(options)
    };
    assert!(with("deprovision", json!("suspend")).starts_with("deprovision: "));
    assert!(with("deprovision", json!(true)).starts_with("deprovision: "));
    for timeout in [json!("soon"), json!("0s"), json!(10)] {
        assert!(with("timeout", timeout).starts_with("timeout: "));
    }
    assert!(with("url", json!("https://x")).starts_with("url: "));
    let mut http = config(base());
    http.kind = TargetKind::Http;
    assert!(ScimTarget::from_config(&http)
        .unwrap_err()
        .starts_with("kind: "));
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
