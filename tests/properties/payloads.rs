//! Valid payloads, one per shape each sender sends, and the mutations applied to them.

use proptest::prelude::*;
use proptest::sample::Index;
use provisiond::domain::SourceKind;
use serde_json::{json, Value};

use crate::strategies::{json_key, json_value};

/// One valid payload per shape each sender sends (the seeds of the mutation test).
pub(crate) fn seeds() -> Vec<(SourceKind, Value)> {
    use SourceKind::*;
    vec![
        (
            StandardWebhooks,
            json!({"type": "employee.terminated", "timestamp": "2026-03-31T17:00:00Z",
            "data": {"id": "emp_123", "termination_date": "2026-03-31", "status": "terminated",
                     "email": "a@example.com", "manager_id": "emp_7"}}),
        ),
        (
            Merge,
            json!({"hook": {"event": "Employee.changed"}, "linked_account": {"id": "la_1"},
            "data": {"id": "e1", "employment_status": "INACTIVE", "termination_date": "2026-03-01T00:00:00Z",
                     "start_date": "2020-01-01T00:00:00Z", "modified_at": "2026-03-01T10:00:00Z",
                     "work_email": "a@example.com", "manager": "e2"}}),
        ),
        (
            Workos,
            json!({"id": "event_01", "event": "dsync.user.updated", "created_at": "2026-03-01T10:00:00Z",
            "data": {"id": "directory_user_01", "state": "inactive",
                     "emails": [{"primary": true, "value": "a@example.com"}],
                     "custom_attributes": {"department": "Eng", "manager_id": "m1"},
                     "raw_attributes": {"urn:ietf:params:scim:schemas:extension:enterprise:2.0:User":
                         {"department": "Eng", "manager": {"value": "m1"}}},
                     "updated_at": "2026-03-01T10:00:00Z"}}),
        ),
        (
            Workos,
            json!({"id": "event_02", "event": "dsync.deleted", "created_at": "2026-03-01T10:00:00Z",
            "data": {"id": "directory_01", "state": "deleting"}}),
        ),
        (
            Bamboohr,
            json!({"type": "employee.updated", "timestamp": "2026-03-01T10:00:00+00:00",
            "data": {"companyId": 1, "employeeId": "42", "changedFields": ["status"]}}),
        ),
        (
            Bamboohr,
            json!({"employees": [{"id": "42", "action": "Updated", "timestamp": "2026-03-01T10:00:00Z",
            "fields": {"Status": "Inactive", "Termination Date": "2026-03-01", "First Name": "Ada",
                       "Supervisor EID": "7"}}]}),
        ),
        (
            Gusto,
            json!({"uuid": "u1", "event_type": "employee.terminated_effective", "entity_type": "Employee",
            "entity_uuid": "be4e7b8a-0000-4000-8000-000000000001", "timestamp": 1774937564}),
        ),
        (
            Hibob,
            json!({"companyId": 1, "type": "employee.left", "triggeredAt": "2026-03-01T10:00:00.000Z",
            "version": "v2", "data": {"employeeId": "3332", "status": "terminated", "email": "a@example.com"}}),
        ),
        (
            Deel,
            json!({"timestamp": "2026-03-01T10:00:00Z", "data": {"meta": {"event_type": "contract.terminated",
            "tracking_id": "t1"}, "resource": {"id": "c1", "worker_id": "w1", "status": "terminated",
            "completion_date": "2026-03-01", "contracts": [{"id": "c2"}]}}}),
        ),
        (
            Deel,
            json!({"data": {"meta": {"event_type": "contract.terminated"},
            "resource": [{"id": "c1", "status": "terminated"}]}}),
        ),
        (
            Finch,
            json!({"company_id": "c", "account_id": "a", "connection_id": "x", "entity_id": "e",
            "event_type": "individual.deleted", "data": {"individual_id": "ind_1"}}),
        ),
    ]
}

/// One way to change a payload at one of its nodes.
#[derive(Debug, Clone)]
pub(crate) enum Mutation {
    /// Put another value (any type) in its place.
    Replace(Value),
    /// Drop it from its object or array.
    Remove,
    /// Insert a character (often a control character) into a string at that node.
    InsertChar(Index, char),
    /// Add a key to the object at that node.
    AddKey(String, Value),
}

pub(crate) fn mutation() -> impl Strategy<Value = Mutation> {
    let odd_char = prop_oneof![
        prop::sample::select(vec![
            '\0', '\n', '\r', '\t', '\u{1b}', '\u{7f}', '\u{85}', '\u{2028}'
        ]),
        any::<char>(),
    ];
    prop_oneof![
        json_value().prop_map(Mutation::Replace),
        Just(Mutation::Remove),
        (any::<Index>(), odd_char).prop_map(|(at, c)| Mutation::InsertChar(at, c)),
        (json_key(), json_value()).prop_map(|(k, v)| Mutation::AddKey(k, v)),
    ]
}

#[derive(Debug, Clone)]
enum Step {
    Key(String),
    At(usize),
}

/// Every node's path, the root included (as the empty path).
fn paths(value: &Value) -> Vec<Vec<Step>> {
    let mut all = vec![Vec::new()];
    let children: Vec<(Step, &Value)> = match value {
        Value::Object(map) => map.iter().map(|(k, v)| (Step::Key(k.clone()), v)).collect(),
        Value::Array(items) => items
            .iter()
            .enumerate()
            .map(|(i, v)| (Step::At(i), v))
            .collect(),
        _ => Vec::new(),
    };
    for (step, child) in children {
        for mut path in paths(child) {
            path.insert(0, step.clone());
            all.push(path);
        }
    }
    all
}

fn node_mut<'a>(value: &'a mut Value, path: &[Step]) -> Option<&'a mut Value> {
    path.iter().try_fold(value, |node, step| match step {
        Step::Key(key) => node.get_mut(key.as_str()),
        Step::At(i) => node.get_mut(*i),
    })
}

pub(crate) fn apply(value: &mut Value, at: Index, mutation: Mutation) {
    let all = paths(value);
    let path = &all[at.index(all.len())];
    match mutation {
        Mutation::Remove => {
            let Some((last, parent)) = path.split_last() else {
                return;
            };
            match (node_mut(value, parent), last) {
                (Some(Value::Object(map)), Step::Key(key)) => {
                    map.remove(key);
                }
                (Some(Value::Array(items)), Step::At(i)) => {
                    items.remove(*i);
                }
                _ => {}
            }
        }
        Mutation::Replace(new) => {
            if let Some(node) = node_mut(value, path) {
                *node = new;
            }
        }
        Mutation::InsertChar(at, c) => {
            if let Some(Value::String(s)) = node_mut(value, path) {
                let boundaries: Vec<usize> =
                    s.char_indices().map(|(i, _)| i).chain([s.len()]).collect();
                s.insert(boundaries[at.index(boundaries.len())], c);
            }
        }
        Mutation::AddKey(key, new) => {
            if let Some(Value::Object(map)) = node_mut(value, path) {
                map.insert(key, new);
            }
        }
    }
}
