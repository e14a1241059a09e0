//! `provisiond rules test`: the decision for a sample event, printed by the real binary.

use std::process::{Command, Output};

use serde_json::{json, Value};

use crate::helpers::{temp_file, HRIS_SECRET};

const RULES: &str = r#"
[[rules]]
name = "sales"
when = { department = "Sales" }
role = "sales"
groups = ["sales"]
entitlements = { card_limit_usd = 500 }

[[rules]]
name = "london-office"
when = { "/custom_fields/office" = "Lon*" }
role = "uk"
groups = ["uk-staff"]

[default]
role = "employee"
groups = ["all-staff"]
entitlements = { laptop = "standard" }
"#;

fn config(extra: &str) -> tempfile::NamedTempFile {
    temp_file(format!(
        "[[sources]]\nname = \"hris\"\nkind = \"standard-webhooks\"\nsecrets = [\"{HRIS_SECRET}\"]\n\
         [[sources]]\nname = \"merge\"\nkind = \"merge\"\nsecrets = [\"merge-key\"]\n{extra}"
    ))
}

fn rules_test(config: &tempfile::NamedTempFile, body: &str, extra: &[&str]) -> Output {
    let event = temp_file(body);
    Command::new(env!("CARGO_BIN_EXE_provisiond"))
        .arg("--config")
        .arg(config.path())
        .args(["rules", "test", "--event"])
        .arg(event.path())
        .args(extra)
        .env_remove("PROVISIOND_CONFIG")
        .output()
        .expect("provisiond runs")
}

fn json_of(output: &Output) -> Value {
    assert!(
        output.status.success(),
        "rules test failed: {}",
        String::from_utf8_lossy(&output.stderr)
    );
    serde_json::from_slice(&output.stdout).expect("rules test prints JSON")
}

fn hire(data: Value) -> String {
    json!({"type": "employee.created", "timestamp": "2026-03-02T09:15:00Z", "data": data})
        .to_string()
}

#[test]
fn rules_test_prints_the_matching_rule_decision() {
    let config = config(RULES);
    let body = hire(
        json!({"id": "emp_1", "email": "ada@example.com", "department": "sales",
                           "custom_fields": {"office": "London"}}),
    );
    let out = json_of(&rules_test(&config, &body, &[]));
    assert_eq!(out["employee_id"], "emp_1");
    assert_eq!(out["kind"], "created");
    assert_eq!(out["attributes"]["department"], "sales");
    assert_eq!(
        out["attributes"]["data"]["custom_fields"]["office"],
        "London"
    );
    assert_eq!(
        out["decision"],
        json!({"rule": "sales", "role": "sales", "groups": ["sales"],
               "entitlements": {"card_limit_usd": 500}})
    );

    let body = hire(json!({"id": "emp_2", "department": "Ops",
                           "custom_fields": {"office": "london"}}));
    let out = json_of(&rules_test(&config, &body, &["--source", "hris"]));
    assert_eq!(out["decision"]["rule"], "london-office");
    assert_eq!(out["decision"]["groups"], json!(["uk-staff"]));
}

#[test]
fn rules_test_falls_back_to_the_default() {
    let config = config(RULES);
    let body = hire(json!({"id": "emp_3", "department": "Engineering"}));
    let out = json_of(&rules_test(&config, &body, &[]));
    assert_eq!(
        out["decision"],
        json!({"rule": "default", "role": "employee", "groups": ["all-staff"],
               "entitlements": {"laptop": "standard"}})
    );

    let without_default = self::config(&RULES[..RULES.find("[default]").unwrap()]);
    let out = json_of(&rules_test(&without_default, &body, &[]));
    assert_eq!(
        out["decision"],
        json!({"rule": null, "role": null, "groups": [], "entitlements": {}})
    );
}

#[test]
fn rules_test_reports_ignored_and_unparseable_events() {
    let config = config(RULES);
    let ping = json!({"type": "ping", "data": {}}).to_string();
    let out = json_of(&rules_test(&config, &ping, &[]));
    assert_eq!(out, json!({"ignored": "not an employee event"}));

    let broken = rules_test(&config, "<html>", &[]);
    assert!(!broken.status.success());
    assert!(String::from_utf8_lossy(&broken.stderr).contains("not valid JSON"));

    let unknown = rules_test(&config, &ping, &["--source", "nope"]);
    assert!(!unknown.status.success());
    assert!(String::from_utf8_lossy(&unknown.stderr).contains("nope"));
}

#[test]
fn rules_test_asks_for_a_source_when_there_is_no_standard_webhooks_one() {
    let config = temp_file(format!(
        "[[sources]]\nname = \"merge\"\nkind = \"merge\"\nsecrets = [\"merge-key\"]\n{RULES}"
    ));
    let body = hire(json!({"id": "emp_4"}));
    let missing = rules_test(&config, &body, &[]);
    assert!(!missing.status.success());
    assert!(String::from_utf8_lossy(&missing.stderr).contains("--source"));
    let merge = json!({"hook": {"event": "Employee.added"}, "linked_account": {},
                       "data": {"id": "m_1", "work_email": "bo@example.com",
                                "employment_status": "ACTIVE"}});
    let out = json_of(&rules_test(
        &config,
        &merge.to_string(),
        &["--source", "merge"],
    ));
    assert_eq!(out["employee_id"], "m_1");
    assert_eq!(out["decision"]["rule"], "default");
}
