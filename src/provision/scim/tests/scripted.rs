//! The target against a scripted local server: what a well-behaved server never does.

use axum::http::Method as AxumMethod;
use serde_json::json;

use super::*;
use crate::provision::test_support::{permanent, scripted, transient, Scripted};

const BASE_PATH: &str = "/scim/v2";

fn target_of(server: &Scripted) -> ScimTarget {
    scim_target(json!({"base_url": server.url, "token": TOKEN, "timeout": "5s"}))
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

#[tokio::test]
async fn requests_carry_the_bearer_token_and_scim_media_types_and_an_encoded_filter() {
    let server = scripted(BASE_PATH, |r| match r.method {
        AxumMethod::GET => (200, vec![], no_users()),
        _ => (201, vec![], json!({"id": "u-1"}).to_string()),
    })
    .await;
    target_of(&server)
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
        assert_eq!(request.header("authorization"), format!("Bearer {TOKEN}"));
        assert_eq!(request.header("accept"), "application/scim+json");
    }
    assert_eq!(create.header("content-type"), "application/scim+json");
    assert!(lookup.headers.get("content-type").is_none());
    let body: Value = serde_json::from_slice(&create.body).unwrap();
    assert_eq!(body, user_resource("hris:emp_1", &hire("emp_1")));
}

#[tokio::test]
async fn a_server_refusing_a_path_patch_gets_the_whole_value_form() {
    let server = scripted(BASE_PATH, |r| match r.method {
        AxumMethod::GET => (200, vec![], one_user(true)),
        _ if String::from_utf8_lossy(&r.body).contains("\"path\"") => {
            let error = json!({"status": "400", "scimType": "invalidPath"});
            (400, vec![], error.to_string())
        }
        _ => (204, vec![], String::new()),
    })
    .await;
    apply(&target_of(&server), &termination("emp_1"), &[])
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
    let server = scripted(BASE_PATH, |_| (200, vec![], one_user(false))).await;
    apply(&target_of(&server), &termination("emp_1"), &[])
        .await
        .unwrap();
    assert_eq!(server.requests().len(), 1);
}

#[tokio::test]
async fn a_503_with_retry_after_is_transient_with_that_delay() {
    let server = scripted(BASE_PATH, |_| {
        (503, vec![("retry-after", "7".into())], String::new())
    })
    .await;
    let (message, retry_after) = transient(apply(&target_of(&server), &hire("emp_1"), &[]).await);
    assert!(message.contains("503 Service Unavailable"), "{message}");
    assert!(message.contains("(empty body)"), "{message}");
    assert_eq!(retry_after, Some(Duration::from_secs(7)));
}

#[tokio::test]
async fn a_400_on_create_is_permanent_and_names_target_method_path_status_and_body() {
    let server = scripted(BASE_PATH, |r| match r.method {
        AxumMethod::GET => (200, vec![], no_users()),
        _ => (
            400,
            vec![],
            format!("{{\"detail\": \"bad title\"}}{}", "x".repeat(5000)),
        ),
    })
    .await;
    let message = permanent(apply(&target_of(&server), &hire("emp_1"), &[]).await);
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
    let server = scripted(BASE_PATH, |r| match r.method {
        AxumMethod::GET => (200, vec![], no_users()),
        _ => (409, vec![], json!({"scimType": "uniqueness"}).to_string()),
    })
    .await;
    let (message, _) = transient(apply(&target_of(&server), &hire("emp_1"), &[]).await);
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
    let server = scripted(BASE_PATH, |r| match (&r.method, r.target.as_str()) {
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
    let target = target_of(&server);
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
