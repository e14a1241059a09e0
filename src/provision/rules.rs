//! Provisioning rules: `[[rules]]` tables map an employee's attributes to a role, groups and
//! entitlements. The first rule whose `when` holds decides; when none does, `[default]` does.
//!
//! The configuration checks the rules as it reads them (`crate::config::rules`), so building
//! them here cannot fail.

use serde_json::Value;

use crate::config::rules::{
    Attribute, Condition, Expected, Field, GrantConfig, RuleConfig, DEFAULT_RULE,
};
use crate::domain::access::Access;
use crate::domain::event::{Attributes, CanonicalEvent};

/// The `[[rules]]` and `[default]`, ready to decide.
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

impl Rules {
    /// `rules` = the config's `[[rules]]` tables, `default` = its optional `[default]` table.
    pub fn new(rules: &[RuleConfig], default: Option<&GrantConfig>) -> Rules {
        let rules = rules.iter().enumerate().map(|(i, rule)| Rule {
            conditions: rule.when.clone(),
            decision: access(rule.label(i), &rule.grant),
        });
        Rules {
            rules: rules.collect(),
            default: default.map(|grant| access(DEFAULT_RULE.to_owned(), grant)),
        }
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
            .find(|rule| rule.conditions.iter().all(|c| holds(c, attributes)));
        match matching {
            Some(rule) => rule.decision.clone(),
            None => self.default.clone().unwrap_or_default(),
        }
    }

    /// Every group any rule or the default can give (targets remove users from these when a
    /// rule no longer gives them), in order of first appearance.
    pub fn managed_groups(&self) -> Vec<String> {
        let decisions = self.rules.iter().map(|r| &r.decision);
        let groups = decisions
            .chain(self.default.as_ref())
            .flat_map(|d| &d.groups);
        unique(groups.map(String::as_str))
    }
}

/// What `grant` gives, as decided by the rule called `rule`.
fn access(rule: String, grant: &GrantConfig) -> Access {
    Access {
        rule: Some(rule),
        role: grant.role.as_deref().map(str::to_owned),
        groups: unique(grant.groups.iter().map(|group| &**group)),
        entitlements: grant.entitlements.clone(),
    }
}

/// The names in order of first appearance, each once.
fn unique<'a>(names: impl Iterator<Item = &'a str>) -> Vec<String> {
    let mut unique: Vec<String> = Vec::new();
    for name in names {
        if !unique.iter().any(|seen| seen == name) {
            unique.push(name.to_owned());
        }
    }
    unique
}

fn holds(condition: &Condition, attributes: &Attributes) -> bool {
    match &condition.field {
        Field::Attribute(attribute) => value_of(*attribute, attributes)
            .is_some_and(|actual| condition.accepted.iter().any(|e| matches_text(e, actual))),
        Field::Pointer(pointer) => attributes
            .data
            .pointer(pointer)
            .is_some_and(|actual| holds_for_json(condition, actual)),
    }
}

fn value_of(attribute: Attribute, a: &Attributes) -> Option<&str> {
    let value = match attribute {
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

/// A raw value: null counts as missing; an array matches when any element does.
fn holds_for_json(condition: &Condition, actual: &Value) -> bool {
    match actual {
        Value::Array(items) => items
            .iter()
            .any(|item| !item.is_array() && holds_for_json(condition, item)),
        other => condition.accepted.iter().any(|e| matches_json(e, other)),
    }
}

fn matches_text(expected: &Expected, actual: &str) -> bool {
    match expected {
        Expected::Text(text) => actual.to_lowercase() == *text,
        Expected::Glob(pattern) => {
            let pattern: Vec<char> = pattern.chars().collect();
            let actual: Vec<char> = actual.to_lowercase().chars().collect();
            glob(&pattern, &actual)
        }
        Expected::Number(n) => actual.trim().parse::<f64>().is_ok_and(|a| a == *n),
        Expected::Bool(b) => actual
            .trim()
            .eq_ignore_ascii_case(if *b { "true" } else { "false" }),
    }
}

fn matches_json(expected: &Expected, actual: &Value) -> bool {
    match (expected, actual) {
        (Expected::Number(n), Value::Number(a)) => a.as_f64() == Some(*n),
        (Expected::Bool(b), Value::Bool(a)) => a == b,
        (_, Value::String(s)) => matches_text(expected, s),
        (Expected::Text(_) | Expected::Glob(_), Value::Number(_) | Value::Bool(_)) => {
            matches_text(expected, &actual.to_string())
        }
        _ => false,
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

#[cfg(test)]
mod tests;
