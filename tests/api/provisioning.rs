//! Rules applied end to end: the directory stores what the first matching rule gives.

use provisiond::Role;
use serde_json::{json, Value};

use crate::helpers::*;

pub const RULES: &str = r#"
[[rules]]
name = "sales"
when = { department = "Sales" }
role = "sales"
groups = ["sales"]
entitlements = { card_limit_usd = 500 }

[[rules]]
name = "engineering"
when = { department = ["Engineering", "Platform*"] }
role = "engineer"
groups = ["engineering", "github"]
entitlements = { card_limit_usd = 100, github = true }

[default]
role = "employee"
groups = ["everyone"]
"#;

pub fn body(kind: &str, employee: &str, department: &str, at: &str) -> Vec<u8> {
    json!({
        "type": format!("employee.{kind}"), "timestamp": at,
        "data": {"id": employee, "email": format!("{employee}@example.com"),
                 "given_name": "Ada", "family_name": "Lovelace", "department": department,
                 "title": "Analyst"}
    })
    .to_string()
    .into_bytes()
}

async fn spawn_with_rules() -> TestApp {
    let iso = Isolation::new();
    let config = test_config_with(&iso, &amqp_url(), RULES);
    spawn_with(config, iso, Role::All).await
}

fn directory(view: &Value) -> &Value {
    let targets = view["targets"].as_array().unwrap();
    targets.iter().find(|t| t["target"] == "directory").unwrap()
}

#[tokio::test]
async fn a_hire_in_sales_gets_the_sales_role_groups_and_entitlements() {
    let app = spawn_with_rules().await;
    let employee = unique("sales");
    let hire = body("created", &employee, "Sales", "2026-03-02T09:00:00Z");
    assert_eq!(
        app.post("hris", &hris_headers(&hire, &unique("m")), &hire)
            .await
            .status(),
        202
    );
    let view = app.employee_after("hris", &employee, 1).await;
    let account = directory(&view);
    assert_eq!(account["role"], "sales");
    assert_eq!(account["groups"], json!(["sales"]));
    assert_eq!(account["entitlements"], json!({"card_limit_usd": 500}));
    app.cleanup().await;
}

#[tokio::test]
async fn a_department_change_moves_role_groups_and_entitlements() {
    let app = spawn_with_rules().await;
    let employee = unique("mover");
    let hire = body("created", &employee, "Sales", "2026-03-02T09:00:00Z");
    app.post("hris", &hris_headers(&hire, &unique("m")), &hire)
        .await;
    app.employee_after("hris", &employee, 1).await;
    let moved = body(
        "updated",
        &employee,
        "Platform Infra",
        "2026-04-01T09:00:00Z",
    );
    app.post("hris", &hris_headers(&moved, &unique("m")), &moved)
        .await;
    let view = app.employee_after("hris", &employee, 2).await;
    let account = directory(&view);
    assert_eq!(account["role"], "engineer");
    assert_eq!(account["groups"], json!(["engineering", "github"]));
    assert_eq!(
        account["entitlements"],
        json!({"card_limit_usd": 100, "github": true})
    );

    let other = body("updated", &employee, "Legal", "2026-05-01T09:00:00Z");
    app.post("hris", &hris_headers(&other, &unique("m")), &other)
        .await;
    let view = app.employee_after("hris", &employee, 3).await;
    assert_eq!(
        directory(&view)["role"],
        "employee",
        "no rule matches: the default"
    );
    assert_eq!(directory(&view)["groups"], json!(["everyone"]));
    app.cleanup().await;
}

#[tokio::test]
async fn a_termination_clears_role_groups_and_entitlements() {
    let app = spawn_with_rules().await;
    let employee = unique("gone");
    let hire = body("created", &employee, "Sales", "2026-03-02T09:00:00Z");
    app.post("hris", &hris_headers(&hire, &unique("m")), &hire)
        .await;
    app.employee_after("hris", &employee, 1).await;
    let leave = body("terminated", &employee, "Sales", "2026-04-02T09:00:00Z");
    app.post("hris", &hris_headers(&leave, &unique("m")), &leave)
        .await;
    let view = app.employee_after("hris", &employee, 2).await;
    let account = directory(&view);
    assert_eq!(account["status"], "deactivated");
    assert!(account["role"].is_null());
    assert_eq!(account["groups"], json!([]));
    assert_eq!(account["entitlements"], json!({}));
    app.cleanup().await;
}
