//! Provisioning rules: `[[rules]]` tables map an employee's attributes to a role, groups and
//! entitlements. The first rule whose `when` holds decides; when none does, `[default]` does.
//!
//! Rules are compiled once from the configuration, so every mistake (an unknown key, a
//! condition of the wrong type, a bad JSON pointer) is reported at start with its key.

use serde_json::{Map, Value};

use crate::domain::access::Access;
use crate::domain::event::{Attributes, CanonicalEvent};

/// The compiled `[[rules]]` and `[default]`.
#[derive(Debug, Clone, Default)]
pub struct Rules {
    rules: Vec<Rule>,
    default: Option<Access>,
}

#[derive(Debug, Clone)]
struct Rule {
    conditions: Vec<Condition>,
    decision: Access,
}

/// One `when` entry: every condition of a rule must hold.
#[derive(Debug, Clone)]
struct Condition {
    field: Field,
    /// Any of these may match (one element unless the value was an array).
    accepted: Vec<Expected>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Attribute {
    Department,
    Title,
    Location,
    Email,
    ManagerId,
    EmploymentStatus,
    GivenName,
    FamilyName,
    DisplayName,
    StartDate,
}

/// The normalized attribute names `when` accepts (and the alias `employment_type`).
const ATTRIBUTES: &[(&str, Attribute)] = &[
    ("department", Attribute::Department),
    ("title", Attribute::Title),
    ("location", Attribute::Location),
    ("email", Attribute::Email),
    ("manager_id", Attribute::ManagerId),
    ("employment_status", Attribute::EmploymentStatus),
    ("employment_type", Attribute::EmploymentStatus),
    ("given_name", Attribute::GivenName),
    ("family_name", Attribute::FamilyName),
    ("display_name", Attribute::DisplayName),
    ("start_date", Attribute::StartDate),
];

impl Attribute {
    fn value(self, a: &Attributes) -> Option<&str> {
        let value = match self {
            Attribute::Department => &a.department,
            Attribute::Title => &a.title,
            Attribute::Location => &a.location,
            Attribute::Email => &a.email,
            Attribute::ManagerId => &a.manager_id,
            Attribute::EmploymentStatus => &a.employment_status,
            Attribute::GivenName => &a.given_name,
            Attribute::FamilyName => &a.family_name,
            Attribute::DisplayName => &a.display_name,
            Attribute::StartDate => &a.start_date,
        };
        value.as_deref()
    }
}

#[derive(Debug, Clone)]
enum Field {
    Attribute(Attribute),
    /// A JSON pointer into the sender's raw object (`attributes.data`).
    Pointer(String),
}

#[derive(Debug, Clone)]
enum Expected {
    /// Case-insensitive equality, stored lowercased.
    Text(String),
    /// Case-insensitive glob (`*`, `?`), stored lowercased.
    Glob(Vec<char>),
    Number(f64),
    Bool(bool),
}

const RULE_KEYS: &[&str] = &["name", "when", "role", "groups", "entitlements"];
const DEFAULT_KEYS: &[&str] = &["role", "groups", "entitlements"];
const DEFAULT_NAME: &str = "default";

type ConfigErr = (String, String);

fn err(key: impl Into<String>, message: impl Into<String>) -> ConfigErr {
    (key.into(), message.into())
}

impl Rules {
    /// `rules` = the config's `[[rules]]` tables, `default` = its optional `[default]` table.
    /// Errors are (key, message), the key naming the bad spot, e.g.
    /// `("rules[2].when.department", "…")` or `("default.groups", "…")`.
    pub fn from_config(
        rules: &[Value],
        default: Option<&Value>,
    ) -> Result<Rules, (String, String)> {
        let mut compiled = Vec::with_capacity(rules.len());
        for (i, rule) in rules.iter().enumerate() {
            let rule = compile_rule(&format!("rules[{i}]"), rule)?;
            if let Some(j) = compiled
                .iter()
                .position(|r: &Rule| r.decision.rule == rule.decision.rule)
            {
                let name = rule.decision.rule.unwrap_or_default();
                let msg = format!("duplicate rule name `{name}` (also rules[{j}])");
                return Err(err(format!("rules[{i}].name"), msg));
            }
            compiled.push(rule);
        }
        let default = default
            .map(|table| {
                let table = table_of(DEFAULT_NAME, table)?;
                check_keys(DEFAULT_NAME, table, DEFAULT_KEYS)?;
                let mut decision = outcome(DEFAULT_NAME, table)?;
                decision.rule = Some(DEFAULT_NAME.to_owned());
                Ok::<_, ConfigErr>(decision)
            })
            .transpose()?;
        Ok(Rules {
            rules: compiled,
            default,
        })
    }

    /// True when there are neither rules nor a default (every decision is empty).
    pub fn is_empty(&self) -> bool {
        self.rules.is_empty() && self.default.is_none()
    }

    pub fn decide(&self, event: &CanonicalEvent) -> Access {
        let attributes = &event.attributes;
        let matching = self
            .rules
            .iter()
            .find(|rule| rule.conditions.iter().all(|c| c.holds(attributes)));
        match matching {
            Some(rule) => rule.decision.clone(),
            None => self.default.clone().unwrap_or_default(),
        }
    }

    /// Every group any rule or the default can give (targets remove users from these when a
    /// rule no longer gives them), in order of first appearance.
    pub fn managed_groups(&self) -> Vec<String> {
        let decisions = self.rules.iter().map(|r| &r.decision);
        let mut groups: Vec<String> = Vec::new();
        for decision in decisions.chain(self.default.as_ref()) {
            for group in &decision.groups {
                if !groups.contains(group) {
                    groups.push(group.clone());
                }
            }
        }
        groups
    }
}

fn compile_rule(key: &str, rule: &Value) -> Result<Rule, ConfigErr> {
    let table = table_of(key, rule)?;
    check_keys(key, table, RULE_KEYS)?;
    let name = match table.get("name") {
        None => key.to_owned(),
        Some(Value::String(name)) if name.trim().is_empty() => {
            return Err(err(format!("{key}.name"), "must not be empty"));
        }
        Some(Value::String(name)) if name == DEFAULT_NAME => {
            let msg = "`default` is reserved for the [default] table; choose another name";
            return Err(err(format!("{key}.name"), msg));
        }
        Some(Value::String(name)) => name.clone(),
        Some(other) => {
            let msg = format!("must be a string, got {}", type_name(other));
            return Err(err(format!("{key}.name"), msg));
        }
    };
    let conditions = match table.get("when") {
        None => Vec::new(),
        Some(Value::Object(when)) => when
            .iter()
            .map(|(field, value)| {
                compile_condition(&format!("{key}.when.{}", display_key(field)), field, value)
            })
            .collect::<Result<_, _>>()?,
        Some(other) => {
            let msg = format!("must be a table of conditions, got {}", type_name(other));
            return Err(err(format!("{key}.when"), msg));
        }
    };
    let mut decision = outcome(key, table)?;
    decision.rule = Some(name);
    Ok(Rule {
        conditions,
        decision,
    })
}

/// `role`, `groups` and `entitlements` of a rule or of the default.
fn outcome(key: &str, table: &Map<String, Value>) -> Result<Access, ConfigErr> {
    let role = match table.get("role") {
        None => None,
        Some(Value::String(role)) if role.trim().is_empty() => {
            return Err(err(format!("{key}.role"), "must not be empty"));
        }
        Some(Value::String(role)) => Some(role.clone()),
        Some(other) => {
            let msg = format!("must be a string, got {}", type_name(other));
            return Err(err(format!("{key}.role"), msg));
        }
    };
    let mut groups: Vec<String> = Vec::new();
    match table.get("groups") {
        None => {}
        Some(Value::Array(items)) => {
            for (j, item) in items.iter().enumerate() {
                let group = match item {
                    Value::String(g) if !g.trim().is_empty() => g,
                    Value::String(_) => {
                        return Err(err(format!("{key}.groups[{j}]"), "must not be empty"));
                    }
                    other => {
                        let msg = format!("must be a string, got {}", type_name(other));
                        return Err(err(format!("{key}.groups[{j}]"), msg));
                    }
                };
                if !groups.contains(group) {
                    groups.push(group.clone());
                }
            }
        }
        Some(other) => {
            let msg = format!("must be an array of strings, got {}", type_name(other));
            return Err(err(format!("{key}.groups"), msg));
        }
    }
    let entitlements = match table.get("entitlements") {
        None => Map::new(),
        Some(Value::Object(map)) => map.clone(),
        Some(other) => {
            let msg = format!("must be a table, got {}", type_name(other));
            return Err(err(format!("{key}.entitlements"), msg));
        }
    };
    Ok(Access {
        rule: None,
        role,
        groups,
        entitlements,
    })
}

fn compile_condition(key: &str, field: &str, value: &Value) -> Result<Condition, ConfigErr> {
    let field = if field.starts_with('/') {
        check_pointer(field).map_err(|msg| err(key, msg))?;
        Field::Pointer(field.to_owned())
    } else {
        let found = ATTRIBUTES.iter().find(|(name, _)| *name == field);
        let Some((_, attribute)) = found else {
            let names: Vec<&str> = ATTRIBUTES.iter().map(|(name, _)| *name).collect();
            let msg = format!(
                "unknown attribute `{field}`; expected one of {}, or a JSON pointer into the \
                 raw data starting with `/` (quoted, e.g. \"/custom_fields/office\")",
                names.join(", ")
            );
            return Err(err(key, msg));
        };
        Field::Attribute(*attribute)
    };
    let accepted = match value {
        Value::Array(items) if items.is_empty() => {
            return Err(err(
                key,
                "an empty list never matches; remove the condition",
            ));
        }
        Value::Array(items) => items
            .iter()
            .enumerate()
            .map(|(j, item)| expected(item).map_err(|msg| err(format!("{key}[{j}]"), msg)))
            .collect::<Result<_, _>>()?,
        single => vec![expected(single).map_err(|msg| err(key, msg))?],
    };
    Ok(Condition { field, accepted })
}

fn expected(value: &Value) -> Result<Expected, String> {
    match value {
        Value::String(s) if s.contains(['*', '?']) => {
            Ok(Expected::Glob(s.to_lowercase().chars().collect()))
        }
        Value::String(s) => Ok(Expected::Text(s.to_lowercase())),
        Value::Bool(b) => Ok(Expected::Bool(*b)),
        Value::Number(n) => n
            .as_f64()
            .map(Expected::Number)
            .ok_or_else(|| format!("{n} is not a usable number")),
        other => Err(format!(
            "must be a string, a number, a boolean or an array of them, got {}",
            type_name(other)
        )),
    }
}

/// An RFC 6901 pointer: `/`-separated tokens where `~` is only `~0` or `~1`.
fn check_pointer(pointer: &str) -> Result<(), String> {
    let mut chars = pointer.chars();
    while let Some(c) = chars.next() {
        if c == '~' && !matches!(chars.next(), Some('0' | '1')) {
            return Err(format!(
                "invalid JSON pointer `{pointer}`: `~` must be followed by 0 or 1 \
                 (`~0` is `~`, `~1` is `/`)"
            ));
        }
    }
    Ok(())
}

impl Condition {
    fn holds(&self, attributes: &Attributes) -> bool {
        match &self.field {
            Field::Attribute(attribute) => attribute
                .value(attributes)
                .is_some_and(|actual| self.accepted.iter().any(|e| e.matches_text(actual))),
            Field::Pointer(pointer) => attributes
                .data
                .pointer(pointer)
                .is_some_and(|actual| self.matches_json(actual)),
        }
    }

    /// A raw value: null counts as missing; an array matches when any element does.
    fn matches_json(&self, actual: &Value) -> bool {
        match actual {
            Value::Array(items) => items
                .iter()
                .any(|item| !item.is_array() && self.matches_json(item)),
            other => self.accepted.iter().any(|e| e.matches_json(other)),
        }
    }
}

impl Expected {
    fn matches_text(&self, actual: &str) -> bool {
        match self {
            Expected::Text(text) => actual.to_lowercase() == *text,
            Expected::Glob(pattern) => {
                let actual: Vec<char> = actual.to_lowercase().chars().collect();
                glob(pattern, &actual)
            }
            Expected::Number(n) => actual.trim().parse::<f64>().is_ok_and(|a| a == *n),
            Expected::Bool(b) => {
                actual
                    .trim()
                    .eq_ignore_ascii_case(if *b { "true" } else { "false" })
            }
        }
    }

    fn matches_json(&self, actual: &Value) -> bool {
        match (self, actual) {
            (Expected::Number(n), Value::Number(a)) => a.as_f64() == Some(*n),
            (Expected::Bool(b), Value::Bool(a)) => a == b,
            (_, Value::String(s)) => self.matches_text(s),
            (Expected::Text(_) | Expected::Glob(_), Value::Number(a)) => {
                self.matches_text(&a.to_string())
            }
            (Expected::Text(_) | Expected::Glob(_), Value::Bool(a)) => {
                self.matches_text(&a.to_string())
            }
            _ => false,
        }
    }
}

/// Glob over characters: `*` is any run (also empty), `?` exactly one character.
/// Greedy with a single backtrack point, so it is linear-ish and never recursive.
fn glob(pattern: &[char], text: &[char]) -> bool {
    let (mut p, mut t) = (0, 0);
    let mut star: Option<(usize, usize)> = None;
    while t < text.len() {
        match pattern.get(p) {
            Some('*') => {
                star = Some((p, t));
                p += 1;
            }
            Some(&c) if c == '?' || c == text[t] => {
                p += 1;
                t += 1;
            }
            _ => match star {
                Some((sp, st)) => {
                    p = sp + 1;
                    t = st + 1;
                    star = Some((sp, st + 1));
                }
                None => return false,
            },
        }
    }
    pattern[p..].iter().all(|&c| c == '*')
}

fn table_of<'a>(key: &str, value: &'a Value) -> Result<&'a Map<String, Value>, ConfigErr> {
    value.as_object().ok_or_else(|| {
        let msg = format!("must be a table, got {}", type_name(value));
        err(key, msg)
    })
}

fn check_keys(key: &str, table: &Map<String, Value>, allowed: &[&str]) -> Result<(), ConfigErr> {
    match table.keys().find(|k| !allowed.contains(&k.as_str())) {
        Some(unknown) => {
            let msg = format!("unknown key `{unknown}`; expected {}", allowed.join(", "));
            Err(err(format!("{key}.{}", display_key(unknown)), msg))
        }
        None => Ok(()),
    }
}

/// A key as TOML would write it: bare when it can be, quoted otherwise.
fn display_key(key: &str) -> String {
    let bare = !key.is_empty()
        && key
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || c == '_' || c == '-');
    if bare {
        key.to_owned()
    } else {
        format!("{key:?}")
    }
}

fn type_name(value: &Value) -> &'static str {
    match value {
        Value::Null => "nothing",
        Value::Bool(_) => "a boolean",
        Value::Number(_) => "a number",
        Value::String(_) => "a string",
        Value::Array(_) => "an array",
        Value::Object(_) => "a table",
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::domain::event::EventKind;
    use serde_json::json;

    fn rules(rules: Value, default: Option<Value>) -> Rules {
        let list = rules.as_array().expect("an array of rules").clone();
        Rules::from_config(&list, default.as_ref()).expect("valid rules")
    }

    fn error(rules: Value, default: Option<Value>) -> (String, String) {
        let list = rules.as_array().expect("an array of rules").clone();
        Rules::from_config(&list, default.as_ref()).expect_err("invalid rules")
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
        let nothing = Rules::from_config(&[], None).unwrap();
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
}
