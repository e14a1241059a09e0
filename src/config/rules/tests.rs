//! The rules as data: what loads, and that every error names its key.

use figment::providers::Serialized;
use figment::Figment;
use serde_json::{json, Value};

use super::*;
use crate::config::{Config, ConfigError};

/// Loads `{"rules": rules, "default": default}` as a whole configuration.
fn load(rules: Value, default: Option<Value>) -> Result<Config, ConfigError> {
    let mut table = json!({ "rules": rules });
    if let Some(default) = default {
        table["default"] = default;
    }
    Config::from_figment(Figment::from(Serialized::defaults(table)))
}

fn error(rules: Value, default: Option<Value>) -> (String, String) {
    match load(rules, default) {
        Err(ConfigError::Invalid { key, message }) => (key, message),
        other => panic!("expected an invalid key, got {other:?}"),
    }
}

#[test]
fn every_error_names_its_key() {
    let cases = [
        (
            json!([{"role": "a"}, {"colour": "red"}]),
            None,
            "rules[1].colour",
        ),
        (
            json!([{"when": {"department": {"eq": "Sales"}}}]),
            None,
            "rules[0].when.department",
        ),
        (
            json!([{"when": {"title": ["a", ["b"]]}}]),
            None,
            "rules[0].when.title[1]",
        ),
        (
            json!([{"when": {"title": []}}]),
            None,
            "rules[0].when.title",
        ),
        (json!([{"when": {"team": "x"}}]), None, "rules[0].when.team"),
        (
            json!([{"when": "department = Sales"}]),
            None,
            "rules[0].when",
        ),
        (json!([{"groups": "sales"}]), None, "rules[0].groups"),
        (
            json!([{"groups": ["sales", 3]}]),
            None,
            "rules[0].groups[1]",
        ),
        (json!([{"role": ["a"]}]), None, "rules[0].role"),
        (json!([{"entitlements": 5}]), None, "rules[0].entitlements"),
        (json!([{"name": 1}]), None, "rules[0].name"),
        (json!([{"name": "default"}]), None, "rules[0].name"),
        (json!([{"name": "a"}, {"name": "a"}]), None, "rules[1].name"),
        (json!(["sales"]), None, "rules[0]"),
        (
            json!([{"when": {"/a/~2": "x"}}]),
            None,
            "rules[0].when.\"/a/~2\"",
        ),
        (json!([]), Some(json!({"groups": "all"})), "default.groups"),
        (json!([]), Some(json!({"when": {}})), "default.when"),
        (json!([]), Some(json!({"name": "x"})), "default.name"),
        (json!([]), Some(json!("employee")), "default"),
    ];
    for (rules, default, key) in cases {
        let (got, message) = error(rules.clone(), default);
        assert_eq!(got, key, "{rules}: {message}");
        assert!(!message.is_empty());
    }
    let (_, message) = error(json!([{"colour": "red"}]), None);
    assert!(
        message.contains("colour") && message.contains("when"),
        "{message}"
    );
    let (_, message) = error(json!([{"when": {"/a~": 1}}]), None);
    assert!(message.contains("pointer"), "{message}");
}

#[test]
fn rules_load_as_typed_data() {
    let config = load(
        json!([{"name": "eu", "when": {"employment_type": "full*", "/office": ["Paris", 3, true]},
                "role": "staff", "groups": ["eu"], "entitlements": {"tier": "gold"}},
               {"groups": ["all"]}]),
        Some(json!({"role": "employee"})),
    )
    .expect("valid rules");
    let eu = &config.rules[0];
    assert_eq!(eu.label(0), "eu");
    assert_eq!(config.rules[1].label(1), "rules[1]");
    let pointer = Condition {
        field: Field::Pointer("/office".into()),
        accepted: vec![
            Expected::Text("paris".into()),
            Expected::Number(3.0),
            Expected::Bool(true),
        ],
    };
    let status = Condition {
        field: Field::Attribute(Attribute::EmploymentStatus),
        accepted: vec![Expected::Glob("full*".into())],
    };
    assert_eq!(eu.when, [pointer, status]);
    assert_eq!(eu.grant.role.as_deref(), Some("staff"));
    assert_eq!(eu.grant.entitlements["tier"], "gold");
    let default = config.default.expect("a default");
    assert_eq!(default.role.as_deref(), Some("employee"));
}

#[test]
fn every_listed_attribute_name_is_accepted() {
    for name in Attribute::NAMES {
        let when: serde_json::Map<String, Value> =
            [(name.to_string(), json!("x"))].into_iter().collect();
        let rules = json!([{ "when": when }]);
        assert!(load(rules, None).is_ok(), "{name}");
    }
    let (_, message) = error(json!([{"when": {"team": "x"}}]), None);
    assert!(
        message.contains("start_date") && message.contains("pointer"),
        "{message}"
    );
}

#[test]
fn an_unnamed_rule_may_not_be_called_like_an_earlier_named_one() {
    let (key, message) = error(json!([{"name": "rules[1]"}, {"role": "a"}]), None);
    assert_eq!(key, "rules[1]");
    assert!(message.contains("rules[0]"), "{message}");
    let (key, _) = error(json!([{"role": "a"}, {"name": "rules[0]"}]), None);
    assert_eq!(key, "rules[1].name");
}

#[test]
fn a_figment_path_becomes_the_key_as_written_only_within_the_rules() {
    let key_of = |path: &[&str]| key(&path.iter().map(|s| s.to_string()).collect::<Vec<_>>());
    assert_eq!(
        key_of(&["rules", "2", "groups", "0"]).unwrap(),
        "rules[2].groups[0]"
    );
    assert_eq!(
        key_of(&["default", "entitlements", "7"]).unwrap(),
        "default.entitlements.7"
    );
    assert_eq!(
        key_of(&["rules", "0", "when", "/a b"]).unwrap(),
        "rules[0].when.\"/a b\""
    );
    assert_eq!(key_of(&["server", "listen"]), None);
    assert_eq!(key_of(&[]), None);
}
