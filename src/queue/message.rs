//! What travels on the queue: the raw body exactly as received, plus the verified facts
//! about it in AMQP headers.

use chrono::{DateTime, SecondsFormat, Utc};
use lapin::types::{AMQPValue, FieldTable, LongString, ShortString};
use lapin::BasicProperties;

use crate::webhook::signature::SourceKind;

const H_SOURCE: &str = "x-provisiond-source";
const H_SOURCE_KIND: &str = "x-provisiond-source-kind";
const H_RECEIVED_AT: &str = "x-provisiond-received-at";
const H_PUBLISHED_AT: &str = "x-provisiond-published-at";
const H_ATTEMPT: &str = "x-provisiond-attempt";
const H_TRIGGER: &str = "x-provisiond-trigger";
const H_FIRST_FAILED_AT: &str = "x-provisiond-first-failed-at";

/// One accepted webhook on its way to the workers.
#[derive(Debug, Clone)]
pub struct QueueMessage {
    pub source: String,
    pub source_kind: SourceKind,
    /// The sender's event id, else the SHA-256 of the body (hex).
    pub event_id: String,
    pub received_at: DateTime<Utc>,
    pub published_at: Option<DateTime<Utc>>,
    /// Attempts made before this delivery (0 on receipt and on replay).
    pub attempt: u32,
    /// When the first attempt failed; carried through the retry tiers.
    pub first_failed_at: Option<DateTime<Utc>>,
    /// `webhook` for receipts, `manual` for operator replays.
    pub trigger: String,
    pub body: bytes::Bytes,
}

/// A delivery whose headers do not describe a provisiond message.
#[derive(Debug, thiserror::Error)]
#[error("malformed queue message: {0}")]
pub struct MalformedMessage(pub String);

impl QueueMessage {
    /// AMQP properties: persistent, the event id as `message_id`, facts in headers.
    pub fn properties(&self, published_at: DateTime<Utc>) -> BasicProperties {
        let mut headers = FieldTable::default();
        put(&mut headers, H_SOURCE, &self.source);
        put(&mut headers, H_SOURCE_KIND, self.source_kind.as_str());
        put(&mut headers, H_RECEIVED_AT, &rfc3339(self.received_at));
        put(&mut headers, H_PUBLISHED_AT, &rfc3339(published_at));
        put(&mut headers, H_TRIGGER, &self.trigger);
        if let Some(at) = self.first_failed_at {
            put(&mut headers, H_FIRST_FAILED_AT, &rfc3339(at));
        }
        headers.insert(H_ATTEMPT.into(), AMQPValue::LongUInt(self.attempt));
        BasicProperties::default()
            .with_delivery_mode(2)
            .with_content_type(ShortString::from("application/octet-stream"))
            .with_message_id(ShortString::from(self.event_id.as_str()))
            .with_timestamp(self.received_at.timestamp().max(0) as u64)
            .with_headers(headers)
    }

    /// The facts carried in headers, as JSON (kept with a dead letter).
    pub fn headers_json(&self) -> serde_json::Value {
        serde_json::json!({
            "source": self.source,
            "source_kind": self.source_kind.as_str(),
            "event_id": self.event_id,
            "received_at": rfc3339(self.received_at),
            "published_at": self.published_at.map(rfc3339),
            "attempt": self.attempt,
            "first_failed_at": self.first_failed_at.map(rfc3339),
            "trigger": self.trigger,
        })
    }

    /// Rebuild the message from a delivery's properties and body.
    pub fn from_delivery(
        properties: &BasicProperties,
        body: &[u8],
    ) -> Result<QueueMessage, MalformedMessage> {
        let empty = FieldTable::default();
        let headers = properties.headers().as_ref().unwrap_or(&empty);
        let text = |key: &str| get_str(headers, key);
        let required = |key: &'static str| text(key).ok_or_else(|| missing(key));
        let event_id = properties.message_id().as_ref().map(|s| s.to_string());
        let kind = required(H_SOURCE_KIND)?;
        Ok(QueueMessage {
            source: required(H_SOURCE)?,
            source_kind: kind.parse().map_err(MalformedMessage)?,
            event_id: event_id.ok_or_else(|| missing("message_id"))?,
            received_at: parse_time(&required(H_RECEIVED_AT)?)?,
            published_at: text(H_PUBLISHED_AT).and_then(|t| parse_time(&t).ok()),
            attempt: get_u32(headers, H_ATTEMPT).unwrap_or(0),
            first_failed_at: text(H_FIRST_FAILED_AT).and_then(|t| parse_time(&t).ok()),
            trigger: text(H_TRIGGER).unwrap_or_else(|| "webhook".to_owned()),
            body: bytes::Bytes::copy_from_slice(body),
        })
    }
}

/// How many times the broker expired this message out of a retry tier (from `x-death`).
pub fn retry_trips(properties: &BasicProperties) -> u32 {
    deaths(properties)
        .filter(|death| get_str(death, "reason").as_deref() == Some("expired"))
        .map(|death| get_u32(death, "count").unwrap_or(1))
        .sum()
}

/// The broker's reason for the first dead-lettering (`delivery_limit`, `rejected`, …).
pub fn first_death_reason(properties: &BasicProperties) -> Option<String> {
    let headers = properties.headers().as_ref()?;
    get_str(headers, "x-first-death-reason")
}

fn deaths(properties: &BasicProperties) -> impl Iterator<Item = &FieldTable> {
    let headers = properties.headers().as_ref();
    let list = headers.and_then(|h| match h.inner().get("x-death") {
        Some(AMQPValue::FieldArray(list)) => Some(list.as_slice()),
        _ => None,
    });
    list.unwrap_or_default().iter().filter_map(|v| match v {
        AMQPValue::FieldTable(t) => Some(t),
        _ => None,
    })
}

fn missing(key: &str) -> MalformedMessage {
    MalformedMessage(format!("missing {key}"))
}

fn put(headers: &mut FieldTable, key: &str, value: &str) {
    let value = AMQPValue::LongString(LongString::from(value.as_bytes().to_vec()));
    headers.insert(ShortString::from(key), value);
}

fn get_str(headers: &FieldTable, key: &str) -> Option<String> {
    match headers.inner().get(key)? {
        AMQPValue::LongString(s) => Some(String::from_utf8_lossy(s.as_bytes()).into_owned()),
        AMQPValue::ShortString(s) => Some(s.to_string()),
        _ => None,
    }
}

fn get_u32(headers: &FieldTable, key: &str) -> Option<u32> {
    match headers.inner().get(key)? {
        AMQPValue::LongUInt(n) => Some(*n),
        AMQPValue::LongInt(n) => u32::try_from(*n).ok(),
        AMQPValue::LongLongInt(n) => u32::try_from(*n).ok(),
        _ => None,
    }
}

pub(crate) fn rfc3339(t: DateTime<Utc>) -> String {
    t.to_rfc3339_opts(SecondsFormat::Micros, true)
}

fn parse_time(text: &str) -> Result<DateTime<Utc>, MalformedMessage> {
    DateTime::parse_from_rfc3339(text)
        .map(|t| t.with_timezone(&Utc))
        .map_err(|e| MalformedMessage(format!("bad timestamp `{text}`: {e}")))
}
