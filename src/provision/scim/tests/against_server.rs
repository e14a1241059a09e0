//! The target against `scim2-server`.

use serde_json::json;

use super::scim2_server::{free_port, ScimServer};
use super::*;
use crate::provision::scim::resource::ENTERPRISE_SCHEMA;
use crate::provision::test_support::{permanent, transient};

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
