//! The SCIM documents the target writes and the few fields it reads back (RFC 7643 resources,
//! RFC 7644 filters, list responses and PATCH operations).

use serde_json::{json, Map, Value};

use crate::domain::event::CanonicalEvent;

pub const USER_SCHEMA: &str = "urn:ietf:params:scim:schemas:core:2.0:User";
pub const ENTERPRISE_SCHEMA: &str = "urn:ietf:params:scim:schemas:extension:enterprise:2.0:User";
pub const GROUP_SCHEMA: &str = "urn:ietf:params:scim:schemas:core:2.0:Group";
pub const PATCH_SCHEMA: &str = "urn:ietf:params:scim:api:messages:2.0:PatchOp";

/// `attribute eq "value"`, the value written as a JSON string as RFC 7644 §3.4.2.2 wants it
/// (so `"` and `\` are escaped, and control characters too).
pub fn eq_filter(attribute: &str, value: &str) -> String {
    format!("{attribute} eq {}", Value::from(value))
}

/// The full User resource for an active employee: what a POST creates and a PUT replaces.
/// Absent or blank attributes are left out rather than sent as `null`.
pub fn user_resource(external_id: &str, event: &CanonicalEvent) -> Value {
    let a = &event.attributes;
    let email = present(&a.email);
    let user_name = email.unwrap_or(external_id);
    let (given, family) = (present(&a.given_name), present(&a.family_name));
    let formatted = match (given, family) {
        (Some(g), Some(f)) => Some(format!("{g} {f}")),
        (one, other) => one.or(other).map(str::to_string),
    };
    let display_name = present(&a.display_name)
        .map(str::to_string)
        .or_else(|| formatted.clone())
        .unwrap_or_else(|| user_name.to_string());

    let mut user = Map::new();
    user.insert("externalId".into(), external_id.into());
    user.insert("userName".into(), user_name.into());
    let name = object([
        ("givenName", given.map(Value::from)),
        ("familyName", family.map(Value::from)),
        ("formatted", formatted.map(Value::from)),
    ]);
    if !name.is_empty() {
        user.insert("name".into(), Value::Object(name));
    }
    user.insert("displayName".into(), display_name.into());
    if let Some(email) = email {
        let work = json!({"value": email, "type": "work", "primary": true});
        user.insert("emails".into(), json!([work]));
    }
    user.insert("active".into(), true.into());
    if let Some(title) = present(&a.title) {
        user.insert("title".into(), title.into());
    }
    let enterprise = object([
        ("department", present(&a.department).map(Value::from)),
        (
            "manager",
            present(&a.manager_id).map(|id| json!({"value": id})),
        ),
    ]);
    let mut schemas = vec![USER_SCHEMA];
    if !enterprise.is_empty() {
        schemas.push(ENTERPRISE_SCHEMA);
        user.insert(ENTERPRISE_SCHEMA.into(), Value::Object(enterprise));
    }
    user.insert("schemas".into(), json!(schemas));
    Value::Object(user)
}

pub fn group_resource(display_name: &str) -> Value {
    json!({"schemas": [GROUP_SCHEMA], "displayName": display_name})
}

/// A PatchOp message with one operation.
pub fn patch(operation: Value) -> Value {
    json!({"schemas": [PATCH_SCHEMA], "Operations": [operation]})
}

pub fn add_member(user_id: &str) -> Value {
    patch(json!({"op": "add", "path": "members", "value": [{"value": user_id}]}))
}

pub fn remove_member(user_id: &str) -> Value {
    let path = format!("members[{}]", eq_filter("value", user_id));
    patch(json!({"op": "remove", "path": path}))
}

/// The deactivation RFC 7644 §3.5.2 describes, with an attribute path.
pub fn deactivate_by_path() -> Value {
    patch(json!({"op": "replace", "path": "active", "value": false}))
}

/// The same without a path, for servers that only take whole-resource values.
pub fn deactivate_by_value() -> Value {
    patch(json!({"op": "replace", "value": {"active": false}}))
}

/// What the target needs to know about a user found on the server.
#[derive(Debug, Clone, PartialEq)]
pub struct FoundUser {
    pub id: String,
    pub external_id: Option<String>,
    pub active: Option<bool>,
}

impl FoundUser {
    pub fn read(resource: &Value) -> Result<FoundUser, String> {
        Ok(FoundUser {
            id: resource_id(resource)?,
            external_id: resource["externalId"].as_str().map(str::to_string),
            active: resource["active"].as_bool(),
        })
    }
}

/// A group found on the server. `members` is `None` when the answer did not list them (an
/// empty group, or a server that leaves members out of searches), so membership is unknown.
#[derive(Debug, Clone, PartialEq)]
pub struct FoundGroup {
    pub id: String,
    pub members: Option<Vec<String>>,
}

impl FoundGroup {
    pub fn read(resource: &Value) -> Result<FoundGroup, String> {
        let members = resource["members"].as_array().map(|members| {
            members
                .iter()
                .filter_map(|m| m["value"].as_str().map(str::to_string))
                .collect()
        });
        Ok(FoundGroup {
            id: resource_id(resource)?,
            members,
        })
    }

    /// `Some` when the answer listed the members.
    pub fn has_member(&self, user_id: &str) -> Option<bool> {
        let members = self.members.as_ref()?;
        Some(members.iter().any(|m| m == user_id))
    }
}

/// The `Resources` of a ListResponse (absent when nothing matched).
pub fn list_resources(body: &Value) -> Result<&[Value], String> {
    match body.get("Resources") {
        Some(Value::Array(resources)) => Ok(resources),
        None | Some(Value::Null) if body.is_object() => Ok(&[]),
        _ => Err("the answer is no SCIM ListResponse".to_string()),
    }
}

/// The server's `id` of a resource it returned.
pub fn resource_id(resource: &Value) -> Result<String, String> {
    match &resource["id"] {
        Value::String(id) if !id.is_empty() => Ok(id.clone()),
        _ => Err("the answer holds a resource without an `id`".to_string()),
    }
}

/// The `scimType` of a SCIM error body, e.g. `uniqueness` or `noTarget`.
pub fn scim_type(body: &Value) -> Option<&str> {
    body["scimType"].as_str()
}

fn present(value: &Option<String>) -> Option<&str> {
    value.as_deref().map(str::trim).filter(|v| !v.is_empty())
}

fn object<const N: usize>(fields: [(&str, Option<Value>); N]) -> Map<String, Value> {
    fields
        .into_iter()
        .filter_map(|(key, value)| Some((key.to_string(), value?)))
        .collect()
}
