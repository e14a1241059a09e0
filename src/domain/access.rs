//! What an employee is granted: the outcome of the provisioning rules.

use serde_json::{Map, Value};

/// What an employee gets: from the first matching rule, else the default.
#[derive(Debug, Clone, Default, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct Access {
    /// The rule's `name`, else `rules[i]`; `default` for the default; `None` when nothing
    /// matched and there is no default.
    pub rule: Option<String>,
    pub role: Option<String>,
    pub groups: Vec<String>,
    pub entitlements: Map<String, Value>,
}
