//! Strategies: sender kinds, signature headers, bodies, clocks, secrets, and arbitrary JSON
//! built from the keys and words the normalizers look for.

use std::time::{Duration, SystemTime, UNIX_EPOCH};

use axum::http::{HeaderMap, HeaderName, HeaderValue};
use base64::Engine;
use proptest::prelude::*;
use provisiond::domain::SourceKind;
use serde_json::Value;

pub(crate) fn kind() -> impl Strategy<Value = SourceKind> {
    prop::sample::select(SourceKind::ALL.to_vec())
}

/// Every header name a scheme reads, in both of Standard Webhooks' spellings.
const SIGNATURE_HEADERS: [&str; 14] = [
    "webhook-id",
    "webhook-timestamp",
    "webhook-signature",
    "svix-id",
    "svix-timestamp",
    "svix-signature",
    "x-merge-webhook-signature",
    "workos-signature",
    "x-bamboohr-signature",
    "x-bamboohr-timestamp",
    "x-gusto-signature",
    "bob-signature",
    "x-deel-signature",
    "finch-signature",
];

/// Header values: raw bytes as well as the shapes the parsers look for.
fn header_value() -> impl Strategy<Value = HeaderValue> {
    let text = prop_oneof![
        "(v1[a-z]?,[A-Za-z0-9+/_=-]{0,90} ?){0,3}",
        "t=-?[0-9]{0,16}, ?v1=[0-9a-fA-F]{0,70}(, ?v1=[0-9a-fA-Fx]{0,66})?",
        "[0-9a-fA-F]{0,130}",
        "[A-Za-z0-9+/_-]{0,90}={0,3}",
        "-?[0-9]{0,22}",
        "[0-9]{4}-[0-9]{2}-[0-9]{2}T[0-9:]{8}(\\.[0-9]{1,9})?(Z|[+-][0-9]{2}:?[0-9]{2})?",
        "[ -~\t]{0,60}",
    ]
    .prop_map(|s| HeaderValue::from_str(&s).expect("visible ASCII"));
    let bytes = prop::collection::vec(any::<u8>(), 0..64)
        .prop_filter_map("a header value", |b| HeaderValue::from_bytes(&b).ok());
    prop_oneof![4 => text, 1 => bytes]
}

pub(crate) fn headers() -> impl Strategy<Value = HeaderMap> {
    let name = prop::sample::select(SIGNATURE_HEADERS.to_vec());
    prop::collection::vec((name, header_value()), 0..6).prop_map(|pairs| {
        let mut map = HeaderMap::new();
        for (name, value) in pairs {
            map.append(HeaderName::from_static(name), value);
        }
        map
    })
}

pub(crate) fn body() -> impl Strategy<Value = Vec<u8>> {
    prop_oneof![
        prop::collection::vec(any::<u8>(), 0..200),
        json_value().prop_map(|v| v.to_string().into_bytes()),
    ]
}

/// A time between 2001 and 2096, with milliseconds (WorkOS signs them).
pub(crate) fn now() -> impl Strategy<Value = SystemTime> {
    (1_000_000_000_000u64..4_000_000_000_000).prop_map(|ms| UNIX_EPOCH + Duration::from_millis(ms))
}

/// A secret as the kind takes it, and the key bytes it stands for. Key bytes are never 0:
/// HMAC pads short keys with zeros, so `k` and `k‖0` are the same key by design.
pub(crate) fn secret(kind: SourceKind) -> BoxedStrategy<String> {
    match kind {
        SourceKind::StandardWebhooks | SourceKind::Finch => {
            let prefix = if kind == SourceKind::Finch {
                ""
            } else {
                "whsec_"
            };
            prop::collection::vec(1u8..=255, 1..64)
                .prop_map(move |key| format!("{prefix}{}", base64_std(&key)))
                .boxed()
        }
        _ => "[!-~]{1,64}".boxed(),
    }
}

pub(crate) fn base64_std(bytes: &[u8]) -> String {
    base64::engine::general_purpose::STANDARD.encode(bytes)
}

// Arbitrary JSON with the keys and words the normalizers look for.

const KEYS: &[&str] = &[
    "type",
    "event",
    "event_type",
    "data",
    "id",
    "employeeId",
    "employees",
    "action",
    "fields",
    "status",
    "state",
    "meta",
    "resource",
    "hook",
    "response",
    "text",
    "entity_uuid",
    "entity_id",
    "entity_type",
    "individual_id",
    "worker_id",
    "hris_profile_id",
    "employee_id",
    "timestamp",
    "triggeredAt",
    "created_at",
    "updated_at",
    "modified_at",
    "termination_date",
    "completion_date",
    "start_date",
    "employment_status",
    "remote_was_deleted",
    "custom_attributes",
    "raw_attributes",
    "emails",
    "primary",
    "value",
    "verification_token",
    "webhook_subscription_uuid",
    "contracts",
    "contract_id",
    "contract",
    "lifecycleStatus",
    "employmentStatus",
    "Termination Date",
    "Status",
    "terminationDate",
    "email",
    "manager",
];

const WORDS: &[&str] = &[
    "employee.created",
    "employee.updated",
    "employee.terminated",
    "employee.deleted",
    "Employee.added",
    "Employee.changed",
    "Employee.removed",
    "dsync.user.created",
    "dsync.user.updated",
    "dsync.user.deleted",
    "dsync.deleted",
    "employee.left",
    "employee.inactivated",
    "employee.access.revoked.immediately",
    "table.entry.updated",
    "contract.terminated",
    "contract.status.updated",
    "worker.v2.deleted",
    "employment.updated",
    "individual.deleted",
    "employee.terminated_effective",
    "employee_with_fields.updated",
    "Updated",
    "Added",
    "Deleted",
    "Ping test",
    "inactive",
    "INACTIVE",
    "terminated",
    "suspended",
    "offboarded",
    "active",
    "Employee",
    "2026-03-31",
    "2026-03-31T06:12:44Z",
    "2026-03-31T06:12:44+0000",
    "",
    " ",
    "\u{0}",
    "\n",
    "\u{1b}[31m",
];

fn json_text() -> impl Strategy<Value = String> {
    prop_oneof![
        3 => prop::sample::select(WORDS).prop_map(str::to_owned),
        2 => any::<String>(),
        2 => "[\\x00-\\x1f ]{0,2}[a-zA-Z0-9_.:-]{0,16}[\\x00-\\x1f\\x7f ]{0,2}",
        1 => "[+-]?[0-9]{1,6}-[0-9]{1,2}-[0-9]{1,2}(T[0-9]{1,2}:[0-9]{2}:[0-9]{2}(\\.[0-9]{1,12})?(Z|[+-][0-9]{2}:?[0-9]{2})?)?",
    ]
}

pub(crate) fn json_key() -> impl Strategy<Value = String> {
    prop_oneof![
        4 => prop::sample::select(KEYS).prop_map(str::to_owned),
        1 => "[a-zA-Z _\\x00]{0,10}",
    ]
}

fn json_leaf() -> impl Strategy<Value = Value> {
    prop_oneof![
        Just(Value::Null),
        any::<bool>().prop_map(Value::Bool),
        any::<i64>().prop_map(Value::from),
        any::<u64>().prop_map(Value::from),
        any::<f64>().prop_filter_map("finite", |f| serde_json::Number::from_f64(f)
            .map(Value::Number)),
        json_text().prop_map(Value::String),
    ]
}

pub(crate) fn json_value() -> impl Strategy<Value = Value> {
    json_leaf().prop_recursive(4, 48, 6, |inner| {
        prop_oneof![
            prop::collection::vec(inner.clone(), 0..4).prop_map(Value::Array),
            prop::collection::vec((json_key(), inner), 0..6)
                .prop_map(|pairs| Value::Object(pairs.into_iter().collect())),
        ]
    })
}

/// A JSON object at the top, as every sender sends.
pub(crate) fn json_object() -> impl Strategy<Value = Value> {
    prop::collection::vec((json_key(), json_value()), 0..6)
        .prop_map(|pairs| Value::Object(pairs.into_iter().collect()))
}
