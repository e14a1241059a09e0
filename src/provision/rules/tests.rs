//! The engine: which rule decides, how values match.

use super::*;
use crate::domain::event::EventKind;
use serde_json::json;

fn rules(rules: Value, default: Option<Value>) -> Rules {
    let list: Vec<RuleConfig> = serde_json::from_value(rules).expect("valid rules");
    let default: Option<GrantConfig> = default.map(|d| serde_json::from_value(d).unwrap());
    Rules::new(&list, default.as_ref())
}

fn employee(attributes: Attributes) -> CanonicalEvent {
    CanonicalEvent {
        kind: EventKind::Created,
        employee_id: "emp_1".into(),
        occurred_at: "2026-03-02T09:15:00Z".parse().unwrap(),
        effective_at: None,
        attributes,
    }
}

fn in_department(department: &str) -> CanonicalEvent {
    employee(Attributes {
        department: Some(department.into()),
        ..Attributes::default()
    })
}

fn with_data(data: Value) -> CanonicalEvent {
    employee(Attributes {
        data,
        ..Attributes::default()
    })
}

fn rule_of(rules: &Rules, event: &CanonicalEvent) -> Option<String> {
    rules.decide(event).rule
}

#[test]
fn the_first_matching_rule_wins() {
    let rules = rules(
        json!([
            {"name": "sales-leads", "when": {"department": "Sales", "title": "*Lead*"},
             "role": "sales-lead", "groups": ["sales", "leads"],
             "entitlements": {"card_limit_usd": 2000}},
            {"name": "sales", "when": {"department": "sales"}, "role": "sales",
             "groups": ["sales"], "entitlements": {"card_limit_usd": 500}},
            {"when": {"department": "Sales"}, "role": "never"},
        ]),
        None,
    );
    let lead = employee(Attributes {
        department: Some("Sales".into()),
        title: Some("Team Lead, EMEA".into()),
        ..Attributes::default()
    });
    let decision = rules.decide(&lead);
    assert_eq!(decision.rule.as_deref(), Some("sales-leads"));
    assert_eq!(decision.role.as_deref(), Some("sales-lead"));
    assert_eq!(decision.groups, ["sales", "leads"]);
    assert_eq!(decision.entitlements["card_limit_usd"], json!(2000));

    let rep = rules.decide(&in_department("SALES"));
    assert_eq!(
        rep,
        Access {
            rule: Some("sales".into()),
            role: Some("sales".into()),
            groups: vec!["sales".into()],
            entitlements: json!({"card_limit_usd": 500}).as_object().unwrap().clone(),
        }
    );
}

#[test]
fn an_unnamed_rule_is_called_by_its_position_and_an_empty_when_always_matches() {
    let rules = rules(
        json!([{"when": {"department": "Legal"}, "role": "legal"}, {"role": "everyone"}]),
        None,
    );
    assert_eq!(
        rule_of(&rules, &in_department("Legal")).as_deref(),
        Some("rules[0]")
    );
    let other = rules.decide(&in_department("Ops"));
    assert_eq!(other.rule.as_deref(), Some("rules[1]"));
    assert_eq!(other.role.as_deref(), Some("everyone"));
}

#[test]
fn the_default_decides_when_no_rule_matches() {
    let rules = rules(
        json!([{"when": {"department": "Sales"}, "role": "sales"}]),
        Some(json!({"role": "employee", "groups": ["all-staff"],
                    "entitlements": {"laptop": "standard"}})),
    );
    let decision = rules.decide(&in_department("Engineering"));
    assert_eq!(decision.rule.as_deref(), Some("default"));
    assert_eq!(decision.role.as_deref(), Some("employee"));
    assert_eq!(decision.groups, ["all-staff"]);
    assert_eq!(decision.entitlements["laptop"], "standard");
}

#[test]
fn without_a_default_no_match_gives_an_empty_decision_with_no_rule() {
    let rules = rules(
        json!([{"when": {"department": "Sales"}, "role": "sales"}]),
        None,
    );
    assert_eq!(
        rules.decide(&in_department("Engineering")),
        Access::default()
    );
    let nothing = Rules::new(&[], None);
    assert!(nothing.is_empty());
    assert_eq!(nothing.decide(&in_department("Sales")), Access::default());
}

#[test]
fn a_list_matches_when_any_element_does() {
    let rules = rules(
        json!([{"when": {"location": ["London", "paris", "Ber*"]}, "role": "europe"}]),
        None,
    );
    let at = |location: &str| {
        employee(Attributes {
            location: Some(location.into()),
            ..Attributes::default()
        })
    };
    assert_eq!(rule_of(&rules, &at("Paris")).as_deref(), Some("rules[0]"));
    assert_eq!(rule_of(&rules, &at("london")).as_deref(), Some("rules[0]"));
    assert_eq!(rule_of(&rules, &at("Berlin")).as_deref(), Some("rules[0]"));
    assert_eq!(rule_of(&rules, &at("New York")), None);
}

#[test]
fn globs_match_case_insensitively_with_star_and_question_mark() {
    let rules = rules(
        json!([{"when": {"email": "*@EXAMPLE.com", "title": "Engineer ?"}, "role": "eng"}]),
        None,
    );
    let person = |email: &str, title: &str| {
        employee(Attributes {
            email: Some(email.into()),
            title: Some(title.into()),
            ..Attributes::default()
        })
    };
    assert!(rule_of(&rules, &person("ada@example.com", "engineer 2")).is_some());
    assert!(rule_of(&rules, &person("ada@example.com", "Engineer 10")).is_none());
    assert!(rule_of(&rules, &person("ada@example.org", "Engineer 2")).is_none());
    assert!(rule_of(&rules, &person("ada@sub.example.com.evil", "Engineer 2")).is_none());

    let g = |p: &str, t: &str| {
        glob(
            &p.chars().collect::<Vec<_>>(),
            &t.chars().collect::<Vec<_>>(),
        )
    };
    assert!(g("*", ""));
    assert!(g("a*b*c", "aXXbYYbc"));
    assert!(g("*a", "aaa"));
    assert!(!g("a*b", "aXXc"));
    assert!(!g("?", ""));
    assert!(g("**x?", "abcxz"));
}

#[test]
fn a_json_pointer_reads_the_raw_data() {
    let rules = rules(
        json!([
            {"name": "london", "when": {"/custom_fields/office": "london"}, "role": "uk"},
            {"name": "tagged", "when": {"/tags": "vip", "/a~1b/c~0d": "yes"}, "role": "vip"},
        ]),
        None,
    );
    let london = with_data(json!({"custom_fields": {"office": "London"}}));
    assert_eq!(rule_of(&rules, &london).as_deref(), Some("london"));
    let tagged = with_data(json!({"tags": ["staff", "VIP"], "a/b": {"c~d": "Yes"}}));
    assert_eq!(rule_of(&rules, &tagged).as_deref(), Some("tagged"));
    let elsewhere = with_data(json!({"custom_fields": {"office": "Leeds"}}));
    assert_eq!(rule_of(&rules, &elsewhere), None);
}

#[test]
fn numbers_and_booleans_compare_with_the_json_value() {
    let rules = rules(
        json!([
            {"name": "floor", "when": {"/floor": 3, "/remote": false}, "role": "hq"},
            {"name": "grade", "when": {"/grade": "7"}, "role": "senior"},
            {"name": "manager", "when": {"manager_id": 42}, "role": "team42"},
        ]),
        None,
    );
    let floor = |data: Value| rule_of(&rules, &with_data(data));
    assert_eq!(
        floor(json!({"floor": 3, "remote": false})).as_deref(),
        Some("floor")
    );
    assert_eq!(
        floor(json!({"floor": 3.0, "remote": false})).as_deref(),
        Some("floor")
    );
    assert_eq!(floor(json!({"floor": 4, "remote": false})), None);
    assert_eq!(floor(json!({"floor": 3, "remote": true})), None);
    assert_eq!(floor(json!({"floor": 3, "remote": "no"})), None);
    assert_eq!(floor(json!({"grade": 7})).as_deref(), Some("grade"));
    let managed = employee(Attributes {
        manager_id: Some("42".into()),
        ..Attributes::default()
    });
    assert_eq!(rule_of(&rules, &managed).as_deref(), Some("manager"));
}

#[test]
fn a_missing_attribute_never_matches() {
    let rules = rules(
        json!([
            {"name": "any-dept", "when": {"department": "*"}, "role": "r"},
            {"name": "raw", "when": {"/office": ["*"]}, "role": "r"},
            {"name": "status", "when": {"employment_type": "full*"}, "role": "r"},
        ]),
        None,
    );
    assert_eq!(rule_of(&rules, &with_data(json!({}))), None);
    assert_eq!(rule_of(&rules, &with_data(json!({"office": null}))), None);
    assert_eq!(
        rule_of(&rules, &with_data(json!({"office": "x"}))).as_deref(),
        Some("raw")
    );
    assert_eq!(
        rule_of(&rules, &in_department("Ops")).as_deref(),
        Some("any-dept")
    );
    let full_time = employee(Attributes {
        employment_status: Some("FULL_TIME".into()),
        ..Attributes::default()
    });
    assert_eq!(rule_of(&rules, &full_time).as_deref(), Some("status"));
}

#[test]
fn managed_groups_are_every_group_any_rule_or_the_default_gives() {
    let rules = rules(
        json!([{"groups": ["sales", "crm"]}, {"groups": ["crm", "eng"]}]),
        Some(json!({"groups": ["all-staff", "sales"]})),
    );
    assert_eq!(rules.managed_groups(), ["sales", "crm", "eng", "all-staff"]);
}
