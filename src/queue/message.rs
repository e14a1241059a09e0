//! What travels on the queue: the raw body exactly as received, plus the verified facts
//! about it in AMQP headers.

mod key;

use chrono::{DateTime, SecondsFormat, Utc};
use lapin::types::{AMQPValue, FieldTable, LongString, ShortString};
use lapin::BasicProperties;

use crate::domain::message::QueueMessage;
use crate::domain::Trigger;

use key::signed_facts;
pub use key::MessageKey;

const H_SOURCE: &str = "x-provisiond-source";
const H_SOURCE_KIND: &str = "x-provisiond-source-kind";
const H_RECEIVED_AT: &str = "x-provisiond-received-at";
const H_PUBLISHED_AT: &str = "x-provisiond-published-at";
const H_ATTEMPT: &str = "x-provisiond-attempt";
const H_TRIGGER: &str = "x-provisiond-trigger";
const H_FIRST_FAILED_AT: &str = "x-provisiond-first-failed-at";
const H_SIGNATURE: &str = "x-provisiond-signature";

/// A delivery whose headers do not describe a provisiond message.
#[derive(Debug, thiserror::Error)]
#[error("malformed queue message: {0}")]
pub struct MalformedMessage(pub String);

/// Why a delivery is not applied as it is.
#[derive(Debug, thiserror::Error)]
pub enum UnreadableMessage {
    /// No provisiond signature, or one that does not match: not written by provisiond
    /// (or changed since); never applied.
    #[error("unauthenticated queue message: {0}")]
    Unauthenticated(&'static str),
    #[error(transparent)]
    Malformed(#[from] MalformedMessage),
}

impl QueueMessage {
    /// AMQP properties: persistent, the event id as `message_id`, facts in headers, and
    /// the signature over the facts and the body.
    pub fn properties(&self, published_at: DateTime<Utc>, key: &MessageKey) -> BasicProperties {
        let mut headers = FieldTable::default();
        let received_at = rfc3339(self.received_at);
        let published_at = rfc3339(published_at);
        let first_failed_at = self.first_failed_at.map(rfc3339);
        let attempt = self.attempt.to_string();
        put(&mut headers, H_SOURCE, &self.source);
        put(&mut headers, H_SOURCE_KIND, self.source_kind.as_str());
        put(&mut headers, H_RECEIVED_AT, &received_at);
        put(&mut headers, H_PUBLISHED_AT, &published_at);
        put(&mut headers, H_TRIGGER, self.trigger.as_str());
        if let Some(at) = &first_failed_at {
            put(&mut headers, H_FIRST_FAILED_AT, at);
        }
        headers.insert(H_ATTEMPT.into(), AMQPValue::LongUInt(self.attempt));
        let facts = signed_facts(Some(&self.event_id), &headers, Some(&attempt));
        let signature = key.sign(&facts, &self.body);
        put(&mut headers, H_SIGNATURE, &signature);
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

    /// Rebuild the message from a delivery's properties and body, once its signature
    /// shows that a provisiond process with `key` wrote exactly these facts and body.
    pub fn from_delivery(
        properties: &BasicProperties,
        body: &[u8],
        key: &MessageKey,
    ) -> Result<QueueMessage, UnreadableMessage> {
        let empty = FieldTable::default();
        let headers = properties.headers().as_ref().unwrap_or(&empty);
        let Some(signature) = get_str(headers, H_SIGNATURE) else {
            return Err(UnreadableMessage::Unauthenticated(
                "no provisiond signature",
            ));
        };
        let message_id = properties.message_id().as_ref().map(|s| s.as_str());
        let attempt = get_u32(headers, H_ATTEMPT).map(|n| n.to_string());
        let facts = signed_facts(message_id, headers, attempt.as_deref());
        if !key.verifies(&facts, body, &signature) {
            return Err(UnreadableMessage::Unauthenticated(
                "the provisiond signature does not match (another key, or changed since)",
            ));
        }
        Ok(Self::read(properties, headers, body)?)
    }

    fn read(
        properties: &BasicProperties,
        headers: &FieldTable,
        body: &[u8],
    ) -> Result<QueueMessage, MalformedMessage> {
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
            trigger: match text(H_TRIGGER) {
                Some(name) => name.parse().map_err(MalformedMessage)?,
                None => Trigger::Webhook,
            },
            body: bytes::Bytes::copy_from_slice(body),
        })
    }
}

/// What an unverified message's provisiond headers say (kept with its dead letter for
/// the security team; never trusted).
pub fn claimed_headers(properties: &BasicProperties) -> serde_json::Value {
    let mut claimed = serde_json::Map::new();
    if let Some(id) = properties.message_id() {
        claimed.insert("message_id".into(), id.to_string().into());
    }
    if let Some(headers) = properties.headers() {
        for (name, value) in headers.inner() {
            let name = name.as_str();
            // The signature is kept: the letter can be checked again with another key.
            if !name.starts_with("x-provisiond-") {
                continue;
            }
            let value = match value {
                AMQPValue::LongString(s) => String::from_utf8_lossy(s.as_bytes()).into_owned(),
                AMQPValue::ShortString(s) => s.to_string(),
                other => format!("{other:?}"),
            };
            claimed.insert(name.to_owned(), value.into());
        }
    }
    claimed.into()
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

/// A header's bytes exactly as sent (what the signature covers).
fn raw_str<'a>(headers: &'a FieldTable, key: &str) -> Option<&'a [u8]> {
    match headers.inner().get(key)? {
        AMQPValue::LongString(s) => Some(s.as_bytes()),
        AMQPValue::ShortString(s) => Some(s.as_str().as_bytes()),
        _ => None,
    }
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

#[cfg(test)]
mod tests;
