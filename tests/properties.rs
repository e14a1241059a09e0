//! Property tests of the code that reads untrusted bytes (issue 13 item 13): every sender's
//! signature parser and verifier, every normalizer and the handshake detection.
//!
//! - arbitrary headers and bodies never panic the verifier and are never accepted;
//! - a correctly signed delivery verifies, and one changed byte of body, timestamp, id or
//!   MAC, or another secret, is refused;
//! - every normalizer, given arbitrary bytes, arbitrary JSON or a valid payload with a few
//!   mutations, returns an event or a clear error, and the ids and labels it produces (kept
//!   as keys and texts in PostgreSQL) hold no control characters.
//!
//! Case counts are bounded (`CASES`); a failure is written to
//! `proptest-regressions/properties.txt` and replayed first on every later run.

use std::time::{Duration, SystemTime, UNIX_EPOCH};

use axum::http::{HeaderMap, HeaderName, HeaderValue};
use base64::Engine;
use chrono::{DateTime, Utc};
use proptest::prelude::*;
use proptest::sample::Index;
use proptest::test_runner::FileFailurePersistence;
use provisiond::domain::event::{EventKind, NormalizeError, Normalized};
use provisiond::domain::SourceKind;
use provisiond::normalize::{deel, normalize};
use provisiond::signing::{sign, verify, SignatureError, SigningKey};
use provisiond::webhook::handshake::{self, Handshake};
use serde_json::{json, Value};

/// Cases per property: the whole file runs in seconds on two cores.
const CASES: u32 = 1024;

fn config() -> ProptestConfig {
    ProptestConfig {
        cases: CASES,
        failure_persistence: Some(Box::new(FileFailurePersistence::Direct(
            "proptest-regressions/properties.txt",
        ))),
        ..ProptestConfig::default()
    }
}

// ---------------------------------------------------------------------------------------
// Strategies

fn kind() -> impl Strategy<Value = SourceKind> {
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

fn headers() -> impl Strategy<Value = HeaderMap> {
    let name = prop::sample::select(SIGNATURE_HEADERS.to_vec());
    prop::collection::vec((name, header_value()), 0..6).prop_map(|pairs| {
        let mut map = HeaderMap::new();
        for (name, value) in pairs {
            map.append(HeaderName::from_static(name), value);
        }
        map
    })
}

fn body() -> impl Strategy<Value = Vec<u8>> {
    prop_oneof![
        prop::collection::vec(any::<u8>(), 0..200),
        json_value().prop_map(|v| v.to_string().into_bytes()),
    ]
}

/// A time between 2001 and 2096, with milliseconds (WorkOS signs them).
fn now() -> impl Strategy<Value = SystemTime> {
    (1_000_000_000_000u64..4_000_000_000_000).prop_map(|ms| UNIX_EPOCH + Duration::from_millis(ms))
}

/// A secret as the kind takes it, and the key bytes it stands for. Key bytes are never 0:
/// HMAC pads short keys with zeros, so `k` and `k‖0` are the same key by design.
fn secret(kind: SourceKind) -> BoxedStrategy<String> {
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

fn base64_std(bytes: &[u8]) -> String {
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

fn json_key() -> impl Strategy<Value = String> {
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

fn json_value() -> impl Strategy<Value = Value> {
    json_leaf().prop_recursive(4, 48, 6, |inner| {
        prop_oneof![
            prop::collection::vec(inner.clone(), 0..4).prop_map(Value::Array),
            prop::collection::vec((json_key(), inner), 0..6)
                .prop_map(|pairs| Value::Object(pairs.into_iter().collect())),
        ]
    })
}

/// A JSON object at the top, as every sender sends.
fn json_object() -> impl Strategy<Value = Value> {
    prop::collection::vec((json_key(), json_value()), 0..6)
        .prop_map(|pairs| Value::Object(pairs.into_iter().collect()))
}

// ---------------------------------------------------------------------------------------
// Signatures

proptest! {
    #![proptest_config(config())]

    /// (a) Whatever the headers and body, the verifier answers (no panic) and refuses: a
    /// random header never carries the right MAC.
    #[test]
    fn arbitrary_headers_never_panic_and_are_never_accepted(
        kind in kind(),
        headers in headers(),
        body in body(),
        secret in "[!-~]{1,40}",
        now in now(),
        tolerance in prop::option::of(0u64..1_000_000),
    ) {
        let secret = match kind {
            SourceKind::StandardWebhooks => format!("whsec_{}", base64_std(secret.as_bytes())),
            SourceKind::Finch => base64_std(secret.as_bytes()),
            _ => secret,
        };
        let key = SigningKey::from_secret(kind, &secret).unwrap();
        let tolerance = tolerance.map(Duration::from_secs);
        let result = verify(kind, &headers, &body, &[key], tolerance, now);
        prop_assert!(result.is_err(), "{kind} accepted {headers:?}");
        let without_keys = verify(kind, &headers, &body, &[], tolerance, now);
        prop_assert!(without_keys.is_err());
    }

    /// (a) Any secret text gives a key or a message naming the kind, never a panic.
    #[test]
    fn any_secret_text_gives_a_key_or_a_clear_error(kind in kind(), secret in any::<String>()) {
        if let Err(message) = SigningKey::from_secret(kind, &secret) {
            prop_assert!(message.contains(kind.as_str()), "{message}");
        }
    }

    /// (b) provisiond's own signature verifies; one changed body byte, another secret or
    /// one changed MAC character is refused as invalid.
    #[test]
    fn a_signed_delivery_verifies_and_any_changed_byte_or_secret_is_refused(
        (kind, secret, other) in kind().prop_flat_map(|k| (Just(k), secret(k), secret(k))),
        body in body(),
        now in now(),
        msg_id in "[A-Za-z0-9_]{1,40}",
        at in any::<Index>(),
        delta in 1u8..=255,
        replacement in any::<Index>(),
    ) {
        let key = SigningKey::from_secret(kind, &secret).unwrap();
        let signed = sign(kind, &key, &body, now, &msg_id);
        let headers = header_map(&signed);
        let check = |headers: &HeaderMap, body: &[u8], key: &SigningKey| {
            verify(kind, headers, body, std::slice::from_ref(key), None, now)
        };

        let verified = check(&headers, &body, &key);
        prop_assert!(verified.is_ok(), "{kind}: {verified:?}");
        if matches!(kind, SourceKind::StandardWebhooks | SourceKind::Finch) {
            prop_assert_eq!(verified.unwrap().sender_event_id, Some(msg_id.clone()));
        }

        let mut changed = body.clone();
        match changed.len() {
            0 => changed.push(delta),
            len => changed[at.index(len)] ^= delta,
        }
        prop_assert_eq!(check(&headers, &changed, &key), Err(SignatureError::Invalid));

        prop_assume!(other != secret);
        let other = SigningKey::from_secret(kind, &other).unwrap();
        prop_assert_eq!(check(&headers, &body, &other), Err(SignatureError::Invalid));

        let (name, range) = mac_part(kind, &signed);
        let hex = matches!(kind, SourceKind::Workos | SourceKind::Bamboohr | SourceKind::Gusto | SourceKind::Deel);
        let tampered = change_char(&signed, name, range, at, replacement, hex);
        if let Some(tampered) = tampered {
            prop_assert_eq!(check(&tampered, &body, &key), Err(SignatureError::Invalid));
        }
    }

    /// (b) For the schemes that sign a timestamp (and Standard Webhooks' and Finch's id),
    /// one changed character of it is refused as invalid; the MAC is checked first.
    #[test]
    fn a_changed_timestamp_or_id_is_refused(
        (kind, secret) in prop::sample::select(vec![
            SourceKind::StandardWebhooks, SourceKind::Finch, SourceKind::Workos, SourceKind::Bamboohr,
        ]).prop_flat_map(|k| (Just(k), secret(k))),
        body in body(),
        now in now(),
        msg_id in "[A-Za-z0-9_]{1,40}",
        field in 0usize..2,
        at in any::<Index>(),
        replacement in any::<Index>(),
    ) {
        let key = SigningKey::from_secret(kind, &secret).unwrap();
        let signed = sign(kind, &key, &body, now, &msg_id);
        let (name, range) = match (kind, field) {
            (SourceKind::Workos, _) => {
                let value = &signed[0].1;
                let end = value.find(',').unwrap();
                (signed[0].0, 2..end)
            }
            (SourceKind::Bamboohr, _) => whole(&signed, "x-bamboohr-timestamp"),
            (SourceKind::StandardWebhooks, 0) => whole(&signed, "webhook-timestamp"),
            (SourceKind::StandardWebhooks, _) => whole(&signed, "webhook-id"),
            (_, 0) => whole(&signed, "finch-timestamp"),
            (_, _) => whole(&signed, "finch-event-id"),
        };
        let tampered = change_char(&signed, name, range, at, replacement, false).unwrap();
        let result = verify(kind, &tampered, &body, &[key], None, now);
        prop_assert_eq!(result, Err(SignatureError::Invalid));
    }

    /// (b) A correct signature outside the replay window is stale, whichever side.
    #[test]
    fn a_correct_signature_outside_the_window_is_stale(
        (kind, secret) in prop::sample::select(vec![
            SourceKind::StandardWebhooks, SourceKind::Finch, SourceKind::Workos, SourceKind::Bamboohr,
        ]).prop_flat_map(|k| (Just(k), secret(k))),
        body in body(),
        now in now(),
        late in any::<bool>(),
        beyond in 2u64..1_000_000,
    ) {
        let key = SigningKey::from_secret(kind, &secret).unwrap();
        let headers = header_map(&sign(kind, &key, &body, now, "msg_1"));
        let window = kind.default_tolerance().unwrap();
        let skew = window + Duration::from_secs(beyond);
        let then = if late { now + skew } else { now - skew };
        let result = verify(kind, &headers, &body, &[key], None, then);
        prop_assert_eq!(result, Err(SignatureError::Stale));
    }
}

fn header_map(pairs: &[(&'static str, String)]) -> HeaderMap {
    pairs
        .iter()
        .map(|(name, value)| {
            let value = HeaderValue::from_str(value).unwrap();
            (HeaderName::from_static(name), value)
        })
        .collect()
}

fn whole(signed: &[(&'static str, String)], name: &str) -> (&'static str, std::ops::Range<usize>) {
    let (name, value) = signed.iter().find(|(n, _)| *n == name).unwrap();
    (name, 0..value.len())
}

/// The signature header of `kind` and the byte range of the encoded MAC in its value.
fn mac_part(
    kind: SourceKind,
    signed: &[(&'static str, String)],
) -> (&'static str, std::ops::Range<usize>) {
    let (name, value) = signed
        .iter()
        .find(|(name, _)| name.ends_with("signature"))
        .unwrap();
    let start = match kind {
        SourceKind::StandardWebhooks | SourceKind::Finch => "v1,".len(),
        SourceKind::Workos => value.find("v1=").unwrap() + "v1=".len(),
        _ => 0,
    };
    (name, start..value.len())
}

/// Characters a change may put in a header: visible, not whitespace (the parsers trim).
const REPLACEMENTS: &[u8] = b"0123456789abcdefABCDEF+/=_-,.:xyzXYZ";

/// The headers with one character of `name`'s value, inside `range`, replaced by another;
/// `None` when the only candidates would be the same character (or, for hex, the same
/// digit in the other case, which decodes to the same MAC).
fn change_char(
    signed: &[(&'static str, String)],
    name: &str,
    range: std::ops::Range<usize>,
    at: Index,
    replacement: Index,
    hex: bool,
) -> Option<HeaderMap> {
    let mut pairs = signed.to_vec();
    let value = &mut pairs.iter_mut().find(|(n, _)| *n == name)?.1;
    let position = range.start + at.index(range.len());
    let old = value.as_bytes()[position];
    let candidates: Vec<u8> = REPLACEMENTS
        .iter()
        .copied()
        .filter(|c| *c != old && !(hex && c.eq_ignore_ascii_case(&old)))
        .collect();
    let new = candidates[replacement.index(candidates.len())];
    value.replace_range(position..=position, &char::from(new).to_string());
    Some(header_map(&pairs))
}

// ---------------------------------------------------------------------------------------
// Normalizers

fn received() -> DateTime<Utc> {
    "2026-04-01T12:00:00Z".parse().unwrap()
}

/// What every normalizer promises whatever the input: an event whose ids are non-empty
/// and free of control characters and whose attributes hold no NUL, an ignored event with a printable name and a reason,
/// or an error that names what is wrong.
fn check_outcome(
    kind: SourceKind,
    result: &Result<Normalized, NormalizeError>,
) -> Result<(), TestCaseError> {
    let clean = |text: &str| !text.chars().any(char::is_control);
    match result {
        Ok(Normalized::Employee(event)) => {
            let id = &event.employee_id;
            prop_assert!(!id.is_empty() && clean(id), "{kind}: employee id {id:?}");
            // PostgreSQL stores no NUL in `text` or `jsonb`: a NUL would fail the event.
            let stored = serde_json::to_value(&event.attributes).unwrap();
            prop_assert!(!holds_nul(&stored), "{kind}: NUL in {stored}");
            if kind == SourceKind::Deel {
                for contract in deel::contract_ids(&event.attributes.data, id) {
                    prop_assert!(clean(&contract) && contract != *id, "{contract:?}");
                }
            }
        }
        Ok(Normalized::DirectoryDeleted { directory_id, .. }) => {
            prop_assert!(
                !directory_id.is_empty() && clean(directory_id),
                "{directory_id:?}"
            );
        }
        Ok(Normalized::Ignored { event_name, reason }) => {
            prop_assert!(
                clean(event_name),
                "{kind}: ignored event name {event_name:?}"
            );
            prop_assert!(!reason.is_empty());
        }
        Err(NormalizeError::Missing(field)) => prop_assert!(!field.is_empty()),
        Err(NormalizeError::Invalid { field, detail }) => {
            prop_assert!(!field.is_empty() && !detail.is_empty());
        }
        Err(NormalizeError::Json(_)) => {}
    }
    Ok(())
}

/// Whether a NUL is in any string or key of `value`.
fn holds_nul(value: &Value) -> bool {
    match value {
        Value::String(text) => text.contains('\0'),
        Value::Array(items) => items.iter().any(holds_nul),
        Value::Object(map) => map
            .iter()
            .any(|(key, v)| key.contains('\0') || holds_nul(v)),
        _ => false,
    }
}

/// One valid payload per shape each sender sends (the seeds of the mutation test).
fn seeds() -> Vec<(SourceKind, Value)> {
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
enum Mutation {
    /// Put another value (any type) in its place.
    Replace(Value),
    /// Drop it from its object or array.
    Remove,
    /// Insert a character (often a control character) into a string at that node.
    InsertChar(Index, char),
    /// Add a key to the object at that node.
    AddKey(String, Value),
}

fn mutation() -> impl Strategy<Value = Mutation> {
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

fn apply(value: &mut Value, at: Index, mutation: Mutation) {
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

#[test]
fn every_seed_payload_is_an_event_its_sender_could_send() {
    for (kind, seed) in seeds() {
        let result = normalize(kind, seed.to_string().as_bytes(), received());
        match result {
            Ok(Normalized::Employee(event)) => assert_ne!(event.kind, EventKind::Created, "{kind}"),
            Ok(Normalized::DirectoryDeleted { .. }) => {}
            other => panic!("{kind}: seed {seed} gave {other:?}"),
        }
    }
}

proptest! {
    #![proptest_config(config())]

    /// (c) Arbitrary bytes: an event or a clear error, never a panic.
    #[test]
    fn every_normalizer_handles_arbitrary_bytes(kind in kind(), body in prop::collection::vec(any::<u8>(), 0..300)) {
        let result = normalize(kind, &body, received());
        check_outcome(kind, &result)?;
    }

    /// (c) Arbitrary JSON built from the keys and words the normalizers read.
    #[test]
    fn every_normalizer_handles_arbitrary_json(kind in kind(), payload in prop_oneof![json_object(), json_value()]) {
        let result = normalize(kind, payload.to_string().as_bytes(), received());
        check_outcome(kind, &result)?;
    }

    /// (c) Valid payloads with one to four mutations (a field removed, retyped, given a
    /// control character, or a key added).
    #[test]
    fn every_normalizer_handles_mutated_valid_payloads(
        seed in any::<Index>(),
        mutations in prop::collection::vec((any::<Index>(), mutation()), 1..5),
    ) {
        let all = seeds();
        let (kind, mut payload) = all[seed.index(all.len())].clone();
        for (at, mutation) in mutations {
            apply(&mut payload, at, mutation);
        }
        let result = normalize(kind, payload.to_string().as_bytes(), received());
        check_outcome(kind, &result)?;
    }

    /// Handshake detection never panics; a Gusto token it takes is printable and short, and
    /// only an unkeyed Gusto source takes one; only HiBob answers a ping.
    #[test]
    fn handshake_detection_handles_any_body(
        body in prop_oneof![
            prop::collection::vec(any::<u8>(), 0..200),
            json_object().prop_map(|v| v.to_string().into_bytes()),
            ("[ -~\\x00\\n]{0,300}", prop::option::of("[0-9a-f-]{36}|[ -~\\x00\\x1b]{0,40}")).prop_map(|(token, sub)| {
                let mut v = json!({"verification_token": token});
                if let Some(sub) = sub { v["webhook_subscription_uuid"] = json!(sub); }
                v.to_string().into_bytes()
            }),
        ],
        kind in kind(),
        keyed in any::<bool>(),
    ) {
        match handshake::detect(kind, &body, keyed) {
            None => {}
            Some(Handshake::Ping) => prop_assert_eq!(kind, SourceKind::Hibob),
            Some(Handshake::VerificationToken { token, subscription }) => {
                prop_assert!(kind == SourceKind::Gusto && !keyed);
                prop_assert!(!token.is_empty() && token.len() <= 256);
                prop_assert!(token.chars().all(|c| c.is_ascii_graphic()), "{token:?}");
                prop_assert!(subscription.is_none_or(|s| s.len() == 36 && s.chars().all(|c| c.is_ascii_hexdigit() || c == '-')));
            }
        }
    }
}
