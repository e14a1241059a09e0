//! The target against a scripted local server: what a well-behaved server never does.

use std::sync::{Arc, Mutex};

use axum::body::Bytes;
use axum::extract::State;
use axum::http::{HeaderMap as AxumHeaders, Method as AxumMethod, StatusCode as AxumStatus, Uri};
use axum::response::{IntoResponse, Response as AxumResponse};
use axum::Router;
use serde_json::json;

use super::*;
use crate::provision::test_support::{permanent, transient};

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
