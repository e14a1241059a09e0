//! `[[rules]]` and `[default]` as typed data. Every check happens while they are
//! deserialized, so a [`Config`](super::Config) that loads holds only valid rules, and
//! figment's key path names the bad spot (turned into a TOML key by [`key`]).

use std::fmt;
use std::ops::Deref;

use serde::de::{self, DeserializeSeed, Deserializer, MapAccess, SeqAccess, Unexpected, Visitor};
use serde::Deserialize;
use serde_json::{Map, Value};

/// The name decisions of `[default]` carry, so no rule may take it.
pub const DEFAULT_RULE: &str = "default";

/// One `[[rules]]` table: when every condition of `when` holds, the rule grants `grant`.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct RuleConfig {
    /// Unique among the rules and not `default`.
    pub name: Option<Name>,
    /// Every condition must hold; none always holds.
    pub when: Vec<Condition>,
    /// `role`, `groups` and `entitlements`, written beside `name` and `when`.
    pub grant: GrantConfig,
}

impl RuleConfig {
    /// Its `name`, else its position: `rules[{index}]`.
    pub fn label(&self, index: usize) -> String {
        let name = self.name.as_deref().map(str::to_owned);
        name.unwrap_or_else(|| format!("rules[{index}]"))
    }
}

/// What a rule or `[default]` grants.
#[derive(Debug, Clone, Default, PartialEq, Deserialize)]
#[serde(deny_unknown_fields, default, expecting = "a table")]
pub struct GrantConfig {
    pub role: Option<Name>,
    pub groups: Vec<Name>,
    pub entitlements: Map<String, Value>,
}

/// A string that is not blank: a rule name, a role, a group.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(try_from = "String")]
pub struct Name(String);

impl TryFrom<String> for Name {
    type Error = &'static str;

    fn try_from(text: String) -> Result<Self, Self::Error> {
        if text.trim().is_empty() {
            return Err("must not be empty");
        }
        Ok(Name(text))
    }
}

impl Deref for Name {
    type Target = str;

    fn deref(&self) -> &str {
        &self.0
    }
}

/// One `when` entry.
#[derive(Debug, Clone, PartialEq)]
pub struct Condition {
    pub field: Field,
    /// Any of these may match (one element unless the value was an array).
    pub accepted: Vec<Expected>,
}

/// What a condition reads: a normalized attribute, or the sender's raw data.
#[derive(Debug, Clone, PartialEq)]
pub enum Field {
    Attribute(Attribute),
    /// A JSON pointer into the sender's raw object (`attributes.data`).
    Pointer(String),
}

/// The normalized attribute names `when` accepts.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Attribute {
    Department,
    Title,
    Location,
    Email,
    ManagerId,
    #[serde(alias = "employment_type")]
    EmploymentStatus,
    GivenName,
    FamilyName,
    DisplayName,
    StartDate,
}

impl Attribute {
    /// The names of the error message for an unknown one (the test
    /// `every_listed_attribute_name_is_accepted` keeps them in step with the serde names).
    const NAMES: &'static [&'static str] = &[
        "department",
        "title",
        "location",
        "email",
        "manager_id",
        "employment_status",
        "employment_type",
        "given_name",
        "family_name",
        "display_name",
        "start_date",
    ];
}

/// An accepted value.
#[derive(Debug, Clone, PartialEq)]
pub enum Expected {
    /// Case-insensitive equality, stored lowercased.
    Text(String),
    /// Case-insensitive glob (`*`, `?`), stored lowercased.
    Glob(String),
    Number(f64),
    Bool(bool),
}

/// `deserialize_with` of `Config.rules`: each rule is read knowing the ones before it, so
/// a duplicate name is reported at its own `rules[i].name`.
pub(super) fn unique_rules<'de, D: Deserializer<'de>>(
    deserializer: D,
) -> Result<Vec<RuleConfig>, D::Error> {
    deserializer.deserialize_seq(RulesVisitor)
}

impl<'de> Deserialize<'de> for RuleConfig {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        RuleSeed { before: &[] }.deserialize(deserializer)
    }
}

struct RulesVisitor;

impl<'de> Visitor<'de> for RulesVisitor {
    type Value = Vec<RuleConfig>;

    fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
        f.write_str("an array of rule tables")
    }

    fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<Self::Value, A::Error> {
        let mut rules = Vec::new();
        while let Some(rule) = seq.next_element_seed(RuleSeed { before: &rules })? {
            rules.push(rule);
        }
        Ok(rules)
    }
}

/// The keys of a rule table; an unknown one fails while its key is read, so figment's path
/// ends with it.
#[derive(Deserialize)]
#[serde(field_identifier, rename_all = "lowercase")]
enum RuleKey {
    Name,
    When,
    Role,
    Groups,
    Entitlements,
}

/// Reads the rule after `before`.
struct RuleSeed<'a> {
    before: &'a [RuleConfig],
}

impl<'de> DeserializeSeed<'de> for RuleSeed<'_> {
    type Value = RuleConfig;

    fn deserialize<D: Deserializer<'de>>(self, deserializer: D) -> Result<RuleConfig, D::Error> {
        deserializer.deserialize_map(self)
    }
}

impl<'de> Visitor<'de> for RuleSeed<'_> {
    type Value = RuleConfig;

    fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
        f.write_str("a rule table")
    }

    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<RuleConfig, A::Error> {
        let mut rule = RuleConfig::default();
        while let Some(key) = map.next_key()? {
            match key {
                RuleKey::Name => rule.name = Some(map.next_value_seed(NameSeed(self.before))?),
                RuleKey::When => rule.when = map.next_value::<When>()?.0,
                RuleKey::Role => rule.grant.role = Some(map.next_value()?),
                RuleKey::Groups => rule.grant.groups = map.next_value()?,
                RuleKey::Entitlements => rule.grant.entitlements = map.next_value()?,
            }
        }
        let label = rule.label(self.before.len());
        match taken_by(self.before, &label) {
            Some(j) if rule.name.is_none() => Err(de::Error::custom(format!(
                "unnamed, so called `{label}`, which is the name of rules[{j}]; name this rule"
            ))),
            _ => Ok(rule),
        }
    }
}

/// The position of the rule (among `before`) called `label`.
fn taken_by(before: &[RuleConfig], label: &str) -> Option<usize> {
    let mut labels = before.iter().enumerate().map(|(j, rule)| rule.label(j));
    labels.position(|other| other == label)
}

/// Reads a rule's `name`: not `default`, nor the name of a rule in `before`.
struct NameSeed<'a>(&'a [RuleConfig]);

impl<'de> DeserializeSeed<'de> for NameSeed<'_> {
    type Value = Name;

    fn deserialize<D: Deserializer<'de>>(self, deserializer: D) -> Result<Name, D::Error> {
        let name = Name::deserialize(deserializer)?;
        if &*name == DEFAULT_RULE {
            let message = "`default` is reserved for the [default] table; choose another name";
            return Err(de::Error::custom(message));
        }
        if let Some(j) = taken_by(self.0, &name) {
            let message = format!("duplicate rule name `{}` (also rules[{j}])", &*name);
            return Err(de::Error::custom(message));
        }
        Ok(name)
    }
}

/// A `when` table.
struct When(Vec<Condition>);

impl<'de> Deserialize<'de> for When {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        deserializer.deserialize_map(WhenVisitor)
    }
}

struct WhenVisitor;

impl<'de> Visitor<'de> for WhenVisitor {
    type Value = When;

    fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
        f.write_str("a table of conditions")
    }

    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<When, A::Error> {
        let mut conditions = Vec::new();
        while let Some(field) = map.next_key()? {
            let accepted = map.next_value_seed(Accepted { list: true })?;
            conditions.push(Condition { field, accepted });
        }
        Ok(When(conditions))
    }
}

impl<'de> Deserialize<'de> for Field {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        let key = String::deserialize(deserializer)?;
        if key.starts_with('/') {
            check_pointer(&key).map_err(de::Error::custom)?;
            return Ok(Field::Pointer(key));
        }
        let attribute = Attribute::deserialize(de::value::StrDeserializer::new(&key));
        attribute
            .map(Field::Attribute)
            .map_err(|_: de::value::Error| {
                de::Error::custom(format!(
                    "unknown attribute `{key}`; expected one of {}, or a JSON pointer into the \
                 raw data starting with `/` (quoted, e.g. \"/custom_fields/office\")",
                    Attribute::NAMES.join(", ")
                ))
            })
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

/// Reads a condition's value: a string, number or boolean, or (when `list`) an array of them.
struct Accepted {
    list: bool,
}

impl<'de> DeserializeSeed<'de> for Accepted {
    type Value = Vec<Expected>;

    fn deserialize<D: Deserializer<'de>>(self, deserializer: D) -> Result<Self::Value, D::Error> {
        deserializer.deserialize_any(self)
    }
}

impl<'de> Visitor<'de> for Accepted {
    type Value = Vec<Expected>;

    fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
        f.write_str(match self.list {
            true => "a string, a number, a boolean or an array of them",
            false => "a string, a number or a boolean",
        })
    }

    fn visit_str<E: de::Error>(self, text: &str) -> Result<Self::Value, E> {
        let text = text.to_lowercase();
        match text.contains(['*', '?']) {
            true => Ok(vec![Expected::Glob(text)]),
            false => Ok(vec![Expected::Text(text)]),
        }
    }

    fn visit_bool<E: de::Error>(self, value: bool) -> Result<Self::Value, E> {
        Ok(vec![Expected::Bool(value)])
    }

    fn visit_i64<E: de::Error>(self, value: i64) -> Result<Self::Value, E> {
        self.visit_f64(value as f64)
    }

    fn visit_u64<E: de::Error>(self, value: u64) -> Result<Self::Value, E> {
        self.visit_f64(value as f64)
    }

    fn visit_f64<E: de::Error>(self, value: f64) -> Result<Self::Value, E> {
        Ok(vec![Expected::Number(value)])
    }

    fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<Self::Value, A::Error> {
        if !self.list {
            return Err(de::Error::invalid_type(Unexpected::Seq, &self));
        }
        let mut accepted = Vec::new();
        while let Some(one) = seq.next_element_seed(Accepted { list: false })? {
            accepted.extend(one);
        }
        if accepted.is_empty() {
            let message = "an empty list never matches; remove the condition";
            return Err(de::Error::custom(message));
        }
        Ok(accepted)
    }
}

/// The TOML key of a figment error path within `[[rules]]` or `[default]` (`None` elsewhere),
/// e.g. `["rules", "0", "when", "/a"]` is `rules[0].when."/a"`.
pub(super) fn key(path: &[String]) -> Option<String> {
    if !matches!(path.first()?.as_str(), "rules" | "default") {
        return None;
    }
    let mut key = String::new();
    let mut previous = "";
    for segment in path {
        // A number is an array index, except as the key of a table of arbitrary keys.
        let in_table = matches!(previous, "when" | "entitlements");
        if !in_table && !key.is_empty() && segment.parse::<usize>().is_ok() {
            key.push_str(&format!("[{segment}]"));
        } else {
            if !key.is_empty() {
                key.push('.');
            }
            key.push_str(&display_key(segment));
        }
        previous = segment;
    }
    Some(key)
}

/// A key as TOML would write it: bare when it can be, quoted otherwise.
fn display_key(key: &str) -> String {
    let bare_char = |c: char| c.is_ascii_alphanumeric() || c == '_' || c == '-';
    match !key.is_empty() && key.chars().all(bare_char) {
        true => key.to_owned(),
        false => format!("{key:?}"),
    }
}

#[cfg(test)]
mod tests;
