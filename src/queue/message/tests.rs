//! Signing and reading back queue messages, and refusing any that were changed.

use super::*;
use crate::domain::{Secret, SourceKind};

fn key(text: &str) -> MessageKey {
    MessageKey::new(&Secret::new(text))
}

fn message() -> QueueMessage {
    QueueMessage {
        source: "hris".into(),
        source_kind: SourceKind::StandardWebhooks,
        event_id: "evt_1".into(),
        received_at: Utc::now(),
        published_at: None,
        attempt: 2,
        first_failed_at: Some(Utc::now()),
        trigger: crate::domain::Trigger::Webhook,
        body: bytes::Bytes::from_static(br#"{"type":"employee.created"}"#),
    }
}

fn headers_of(properties: &BasicProperties) -> FieldTable {
    properties.headers().clone().unwrap_or_default()
}

fn without(headers: &FieldTable, name: &str) -> FieldTable {
    let mut kept = FieldTable::default();
    for (key, value) in headers.inner() {
        if key.as_str() != name {
            kept.insert(key.clone(), value.clone());
        }
    }
    kept
}

fn unauthenticated(result: Result<QueueMessage, UnreadableMessage>) -> bool {
    matches!(result, Err(UnreadableMessage::Unauthenticated(_)))
}

#[test]
fn a_signed_message_reads_back_with_the_same_key_only() {
    let sent = message();
    let properties = sent.properties(Utc::now(), &key("k1-0123456789abcdef0123456789abcdef"));
    let good = key("k1-0123456789abcdef0123456789abcdef");
    let read = QueueMessage::from_delivery(&properties, &sent.body, &good).unwrap();
    assert_eq!(read.event_id, "evt_1");
    assert_eq!(read.attempt, 2);
    let other = key("k2-0123456789abcdef0123456789abcdef");
    let result = QueueMessage::from_delivery(&properties, &sent.body, &other);
    assert!(unauthenticated(result));
}

#[test]
fn any_change_to_the_body_or_a_signed_fact_is_refused() {
    let key = key("k1-0123456789abcdef0123456789abcdef");
    let sent = message();
    let properties = sent.properties(Utc::now(), &key);
    let result = QueueMessage::from_delivery(&properties, b"{\"type\":\"employee.deleted\"}", &key);
    assert!(unauthenticated(result));

    let changes: [(&str, AMQPValue); 6] = [
        (H_SOURCE, AMQPValue::LongString("other".into())),
        (H_SOURCE_KIND, AMQPValue::LongString("merge".into())),
        (H_TRIGGER, AMQPValue::LongString("manual".into())),
        (
            H_RECEIVED_AT,
            AMQPValue::LongString(rfc3339(Utc::now()).into()),
        ),
        (H_ATTEMPT, AMQPValue::LongUInt(0)),
        (
            H_FIRST_FAILED_AT,
            AMQPValue::LongString(rfc3339(Utc::now()).into()),
        ),
    ];
    for (name, value) in changes {
        let mut headers = headers_of(&properties);
        headers.insert(name.into(), value);
        let changed = properties.clone().with_headers(headers);
        let result = QueueMessage::from_delivery(&changed, &sent.body, &key);
        assert!(unauthenticated(result), "{name}");
    }
    let renamed = properties.clone().with_message_id("evt_2".into());
    assert!(unauthenticated(QueueMessage::from_delivery(
        &renamed, &sent.body, &key
    )));
    let headers = without(&headers_of(&properties), H_FIRST_FAILED_AT);
    let dropped = properties.clone().with_headers(headers);
    assert!(unauthenticated(QueueMessage::from_delivery(
        &dropped, &sent.body, &key
    )));
}

#[test]
fn a_previous_key_is_still_accepted_but_never_signs() {
    let old = "k0-0123456789abcdef0123456789abcdef";
    let new = "k1-0123456789abcdef0123456789abcdef";
    let rotating = MessageKey::rotating(&Secret::new(new), &[Secret::new(old)]);
    let sent = message();
    let by_old = sent.properties(Utc::now(), &key(old));
    assert!(QueueMessage::from_delivery(&by_old, &sent.body, &rotating).is_ok());
    let by_rotating = sent.properties(Utc::now(), &rotating);
    assert!(QueueMessage::from_delivery(&by_rotating, &sent.body, &key(new)).is_ok());
    let result = QueueMessage::from_delivery(&by_rotating, &sent.body, &key(old));
    assert!(unauthenticated(result));
}

#[test]
fn an_unsigned_or_garbled_signature_is_refused() {
    let key = key("k1-0123456789abcdef0123456789abcdef");
    let sent = message();
    let properties = sent.properties(Utc::now(), &key);
    for signature in [None, Some(""), Some("v1="), Some("v1=zz"), Some("v2=00")] {
        let mut headers = without(&headers_of(&properties), H_SIGNATURE);
        if let Some(text) = signature {
            put(&mut headers, H_SIGNATURE, text);
        }
        let changed = properties.clone().with_headers(headers);
        let result = QueueMessage::from_delivery(&changed, &sent.body, &key);
        assert!(unauthenticated(result), "{signature:?}");
    }
    assert!(!format!("{key:?}").contains("k1-"));
}
