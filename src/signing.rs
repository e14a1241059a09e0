//! Signature schemes of the supported senders (docs/senders.md).
//!
//! Every scheme is the same shape: an HMAC over `prefix ‖ raw body ‖ suffix`, one or more
//! encoded tags in headers, and sometimes a timestamp. Verification decodes the tags and
//! compares bytes in constant time (`Mac::verify_slice`), so padding, alphabet and hex case
//! never matter.

use std::time::{Duration, SystemTime, UNIX_EPOCH};

use axum::http::HeaderMap;
use base64::alphabet;
use base64::engine::general_purpose::{GeneralPurpose, GeneralPurposeConfig};
use base64::engine::DecodePaddingMode;
use base64::Engine;
use hmac::{Hmac, Mac};
use sha2::{Sha256, Sha512};

use crate::domain::SourceKind;

/// Standard base64 that encodes with padding and decodes with or without it.
const BASE64: GeneralPurpose = GeneralPurpose::new(&alphabet::STANDARD, lenient());
/// base64url that encodes with padding and decodes with or without it (Merge).
const BASE64_URL: GeneralPurpose = GeneralPurpose::new(&alphabet::URL_SAFE, lenient());

const fn lenient() -> GeneralPurposeConfig {
    GeneralPurposeConfig::new().with_decode_padding_mode(DecodePaddingMode::Indifferent)
}

const WEBHOOK_ID: [&str; 2] = ["webhook-id", "svix-id"];
const WEBHOOK_TIMESTAMP: [&str; 2] = ["webhook-timestamp", "svix-timestamp"];
const WEBHOOK_SIGNATURE: [&str; 2] = ["webhook-signature", "svix-signature"];
const MERGE_SIGNATURE: &str = "x-merge-webhook-signature";
const WORKOS_SIGNATURE: &str = "workos-signature";
const BAMBOOHR_SIGNATURE: &str = "x-bamboohr-signature";
const BAMBOOHR_TIMESTAMP: &str = "x-bamboohr-timestamp";
const GUSTO_SIGNATURE: &str = "x-gusto-signature";
const HIBOB_SIGNATURE: &str = "bob-signature";
const DEEL_SIGNATURE: &str = "x-deel-signature";
const FINCH_ID: [&str; 1] = ["finch-event-id"];
const FINCH_TIMESTAMP: [&str; 1] = ["finch-timestamp"];
const FINCH_SIGNATURE: [&str; 1] = ["finch-signature"];

/// A decoded HMAC key. Never printed.
#[derive(Clone)]
pub struct SigningKey(Vec<u8>);

impl SigningKey {
    /// Derives the key bytes the way the sender does: Standard Webhooks secrets are
    /// `whsec_` + base64 (Finch's are base64 without the prefix), every other scheme uses
    /// the secret's UTF-8 bytes.
    pub fn from_secret(kind: SourceKind, secret: &str) -> Result<SigningKey, String> {
        let bytes = match kind {
            SourceKind::StandardWebhooks | SourceKind::Finch => decode_whsec(kind, secret)?,
            _ => secret.as_bytes().to_vec(),
        };
        if bytes.is_empty() {
            return Err(format!("the {kind} secret is empty"));
        }
        Ok(SigningKey(bytes))
    }
}

fn decode_whsec(kind: SourceKind, secret: &str) -> Result<Vec<u8>, String> {
    let encoded = secret.trim();
    let encoded = encoded.strip_prefix("whsec_").unwrap_or(encoded);
    BASE64
        .decode(encoded)
        .map_err(|_| format!("the {kind} secret is not base64 (`whsec_` + base64, or base64)"))
}

impl std::fmt::Debug for SigningKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("SigningKey(<redacted>)")
    }
}

/// Why a delivery was refused; `code()` is the error code the HTTP API answers with.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum SignatureError {
    #[error("missing_signature")]
    Missing,
    #[error("invalid_signature")]
    Invalid,
    #[error("stale_timestamp")]
    Stale,
}

impl SignatureError {
    pub fn code(self) -> &'static str {
        match self {
            SignatureError::Missing => "missing_signature",
            SignatureError::Invalid => "invalid_signature",
            SignatureError::Stale => "stale_timestamp",
        }
    }
}

/// What a verified delivery tells about itself.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Verified {
    /// The sender's event id (`webhook-id`, `Finch-Event-Id`, WorkOS body `id`), when the
    /// scheme has one.
    pub sender_event_id: Option<String>,
}

/// The parts of a delivery the MAC check needs, read from its headers.
struct Delivery {
    /// Signed bytes before the body (e.g. `{id}.{ts}.`).
    prefix: String,
    /// Signed bytes after the body (BambooHR's timestamp).
    suffix: String,
    /// Decoded candidate MACs; any one matching is enough.
    tags: Vec<Vec<u8>>,
    /// The signed timestamp in milliseconds since the epoch, for schemes that have one.
    timestamp_ms: Option<i64>,
    sender_event_id: Option<String>,
}

/// Verifies a delivery against the raw body with any of `keys`.
///
/// `tolerance` is the allowed clock difference in both directions; `None` uses the kind's
/// default. The MAC is checked before the timestamp, so a forged stale delivery is `Invalid`.
pub fn verify(
    kind: SourceKind,
    headers: &HeaderMap,
    body: &[u8],
    keys: &[SigningKey],
    tolerance: Option<Duration>,
    now: SystemTime,
) -> Result<Verified, SignatureError> {
    let delivery = read_delivery(kind, headers)?;
    if !keys.iter().any(|k| key_matches(kind, k, &delivery, body)) {
        return Err(SignatureError::Invalid);
    }
    if let (Some(ts), Some(window)) = (
        delivery.timestamp_ms,
        tolerance.or(kind.default_tolerance()),
    ) {
        check_freshness(ts, window, now)?;
    }
    // WorkOS carries its id in the body: read only once the body is known to be theirs.
    let sender_event_id = match kind {
        SourceKind::Workos => json_id(body),
        _ => delivery.sender_event_id,
    };
    Ok(Verified { sender_event_id })
}

fn read_delivery(kind: SourceKind, headers: &HeaderMap) -> Result<Delivery, SignatureError> {
    let standard = |id: &[&str], ts: &[&str], sig: &[&str]| {
        let names = StandardHeaders { id, ts, sig };
        read_standard(headers, &names)
    };
    match kind {
        SourceKind::StandardWebhooks => {
            standard(&WEBHOOK_ID, &WEBHOOK_TIMESTAMP, &WEBHOOK_SIGNATURE)
        }
        SourceKind::Finch => standard(&FINCH_ID, &FINCH_TIMESTAMP, &FINCH_SIGNATURE),
        SourceKind::Workos => read_workos(headers),
        SourceKind::Bamboohr => read_bamboohr(headers),
        SourceKind::Merge => read_plain(kind, header(headers, &[MERGE_SIGNATURE])?, &BASE64_URL),
        SourceKind::Hibob => read_plain(kind, header(headers, &[HIBOB_SIGNATURE])?, &BASE64),
        SourceKind::Gusto => read_hex(kind, header(headers, &[GUSTO_SIGNATURE])?),
        SourceKind::Deel => read_hex(kind, header(headers, &[DEEL_SIGNATURE])?),
    }
}

/// The first of `names` present, trimmed; `Missing` if none is.
fn header<'a>(headers: &'a HeaderMap, names: &[&str]) -> Result<&'a str, SignatureError> {
    let value = names
        .iter()
        .find_map(|name| headers.get(*name))
        .ok_or(SignatureError::Missing)?;
    value
        .to_str()
        .map(str::trim)
        .map_err(|_| SignatureError::Invalid)
}

/// The header names of a Standard Webhooks delivery (Finch brands them its own way).
struct StandardHeaders<'a> {
    id: &'a [&'a str],
    ts: &'a [&'a str],
    sig: &'a [&'a str],
}

fn read_standard(headers: &HeaderMap, names: &StandardHeaders) -> Result<Delivery, SignatureError> {
    let id = header(headers, names.id)?;
    let ts = header(headers, names.ts)?;
    let signatures = header(headers, names.sig)?;
    // Other versions (`v1a` is Ed25519) and undecodable entries are skipped, not fatal.
    let tags = signatures
        .split(' ')
        .filter_map(|entry| entry.split_once(','))
        .filter(|(version, _)| *version == "v1")
        .filter_map(|(_, sig)| BASE64.decode(sig).ok())
        .filter(|tag| !tag.is_empty())
        .collect();
    Ok(Delivery {
        prefix: framing(SourceKind::StandardWebhooks, id, ts).0,
        suffix: String::new(),
        tags,
        timestamp_ms: Some(timestamp(ts, 1000)?),
        sender_event_id: Some(id.to_string()),
    })
}

fn read_workos(headers: &HeaderMap) -> Result<Delivery, SignatureError> {
    let value = header(headers, &[WORKOS_SIGNATURE])?;
    let mut t = None;
    let mut tags = Vec::new();
    for (name, part) in value.split(',').filter_map(|p| p.split_once('=')) {
        match name.trim() {
            "t" => t = Some(part.trim()),
            "v1" => tags.push(hex::decode(part.trim()).map_err(|_| SignatureError::Invalid)?),
            _ => {}
        }
    }
    let t = t.ok_or(SignatureError::Invalid)?;
    Ok(Delivery {
        prefix: framing(SourceKind::Workos, "", t).0,
        suffix: String::new(),
        tags,
        timestamp_ms: Some(timestamp(t, 1)?),
        sender_event_id: None,
    })
}

/// An integer timestamp header in milliseconds; `unit_ms` is 1000 for seconds.
fn timestamp(value: &str, unit_ms: i64) -> Result<i64, SignatureError> {
    let n: i64 = value.parse().map_err(|_| SignatureError::Invalid)?;
    Ok(n.saturating_mul(unit_ms))
}

/// The top-level `"id"` string of a JSON body, if there is one.
fn json_id(body: &[u8]) -> Option<String> {
    let value: serde_json::Value = serde_json::from_slice(body).ok()?;
    value.get("id")?.as_str().map(str::to_string)
}

fn read_bamboohr(headers: &HeaderMap) -> Result<Delivery, SignatureError> {
    let signature = header(headers, &[BAMBOOHR_SIGNATURE])?;
    let ts = header(headers, &[BAMBOOHR_TIMESTAMP])?;
    let mut delivery = read_hex(SourceKind::Bamboohr, signature)?;
    delivery.suffix = framing(SourceKind::Bamboohr, "", ts).1;
    delivery.timestamp_ms = Some(bamboohr_timestamp(ts)?);
    Ok(delivery)
}

/// BambooHR's timestamp header: Unix seconds in most deliveries, an ISO 8601 time in some
/// (it is signed as received either way).
fn bamboohr_timestamp(value: &str) -> Result<i64, SignatureError> {
    if let Ok(ms) = timestamp(value, 1000) {
        return Ok(ms);
    }
    let parsed = chrono::DateTime::parse_from_rfc3339(value)
        .or_else(|_| chrono::DateTime::parse_from_str(value, "%Y-%m-%dT%H:%M:%S%.f%z"));
    parsed
        .map(|t| t.timestamp_millis())
        .map_err(|_| SignatureError::Invalid)
}

fn read_hex(kind: SourceKind, signature: &str) -> Result<Delivery, SignatureError> {
    let tag = hex::decode(signature).map_err(|_| SignatureError::Invalid)?;
    Ok(untimed(kind, tag))
}

fn read_plain(
    kind: SourceKind,
    signature: &str,
    engine: &GeneralPurpose,
) -> Result<Delivery, SignatureError> {
    let tag = engine
        .decode(signature)
        .map_err(|_| SignatureError::Invalid)?;
    Ok(untimed(kind, tag))
}

fn untimed(kind: SourceKind, tag: Vec<u8>) -> Delivery {
    let (prefix, suffix) = framing(kind, "", "");
    Delivery {
        prefix,
        suffix,
        tags: vec![tag],
        timestamp_ms: None,
        sender_event_id: None,
    }
}

/// What each scheme signs around the body: `(prefix, suffix)`.
fn framing(kind: SourceKind, id: &str, ts: &str) -> (String, String) {
    match kind {
        SourceKind::StandardWebhooks | SourceKind::Finch => (format!("{id}.{ts}."), String::new()),
        SourceKind::Workos => (format!("{ts}."), String::new()),
        SourceKind::Bamboohr => (String::new(), ts.to_string()),
        SourceKind::Deel => ("POST".to_string(), String::new()),
        SourceKind::Merge | SourceKind::Gusto | SourceKind::Hibob => (String::new(), String::new()),
    }
}

fn key_matches(kind: SourceKind, key: &SigningKey, delivery: &Delivery, body: &[u8]) -> bool {
    let parts = [delivery.prefix.as_bytes(), body, delivery.suffix.as_bytes()];
    match kind {
        SourceKind::Hibob => any_tag_matches(keyed::<Hmac<Sha512>>(key, parts), &delivery.tags),
        _ => any_tag_matches(keyed::<Hmac<Sha256>>(key, parts), &delivery.tags),
    }
}

fn keyed<M: Mac + hmac::digest::KeyInit>(key: &SigningKey, parts: [&[u8]; 3]) -> Option<M> {
    let mut mac = <M as Mac>::new_from_slice(&key.0).ok()?;
    for part in parts {
        mac.update(part);
    }
    Some(mac)
}

/// Constant-time comparison of each candidate against the computed MAC.
fn any_tag_matches<M: Mac + Clone>(mac: Option<M>, tags: &[Vec<u8>]) -> bool {
    mac.is_some_and(|mac| tags.iter().any(|tag| mac.clone().verify_slice(tag).is_ok()))
}

fn check_freshness(ts_ms: i64, window: Duration, now: SystemTime) -> Result<(), SignatureError> {
    let now_ms = i128::try_from(unix_millis(now)).unwrap_or(i128::MAX);
    let skew = (now_ms - i128::from(ts_ms)).unsigned_abs();
    if skew > window.as_millis() {
        return Err(SignatureError::Stale);
    }
    Ok(())
}

fn unix_millis(now: SystemTime) -> u128 {
    now.duration_since(UNIX_EPOCH)
        .unwrap_or_default()
        .as_millis()
}

/// The headers a sender of `kind` would attach to `body` (names in lower case).
/// `msg_id` is used only by Standard Webhooks and Finch.
pub fn sign(
    kind: SourceKind,
    key: &SigningKey,
    body: &[u8],
    now: SystemTime,
    msg_id: &str,
) -> Vec<(&'static str, String)> {
    let secs = (unix_millis(now) / 1000).to_string();
    let millis = unix_millis(now).to_string();
    let ts = match kind {
        SourceKind::Workos => millis.as_str(),
        _ => secs.as_str(),
    };
    let (prefix, suffix) = framing(kind, msg_id, ts);
    let tag = compute(kind, key, [prefix.as_bytes(), body, suffix.as_bytes()]);
    match kind {
        SourceKind::StandardWebhooks => vec![
            (WEBHOOK_ID[0], msg_id.to_string()),
            (WEBHOOK_TIMESTAMP[0], secs),
            (WEBHOOK_SIGNATURE[0], format!("v1,{}", BASE64.encode(tag))),
        ],
        SourceKind::Merge => vec![(MERGE_SIGNATURE, BASE64_URL.encode(tag))],
        SourceKind::Workos => vec![(
            WORKOS_SIGNATURE,
            format!("t={millis}, v1={}", hex::encode(tag)),
        )],
        SourceKind::Bamboohr => vec![
            (BAMBOOHR_SIGNATURE, hex::encode(tag)),
            (BAMBOOHR_TIMESTAMP, secs),
        ],
        SourceKind::Gusto => vec![(GUSTO_SIGNATURE, hex::encode(tag))],
        SourceKind::Hibob => vec![(HIBOB_SIGNATURE, BASE64.encode(tag))],
        SourceKind::Deel => vec![(DEEL_SIGNATURE, hex::encode(tag))],
        SourceKind::Finch => vec![
            (FINCH_ID[0], msg_id.to_string()),
            (FINCH_TIMESTAMP[0], secs),
            (FINCH_SIGNATURE[0], format!("v1,{}", BASE64.encode(tag))),
        ],
    }
}

fn compute(kind: SourceKind, key: &SigningKey, parts: [&[u8]; 3]) -> Vec<u8> {
    match kind {
        SourceKind::Hibob => finalize(keyed::<Hmac<Sha512>>(key, parts)),
        _ => finalize(keyed::<Hmac<Sha256>>(key, parts)),
    }
}

fn finalize<M: Mac>(mac: Option<M>) -> Vec<u8> {
    mac.map(|mac| mac.finalize().into_bytes().to_vec())
        .unwrap_or_default()
}

#[cfg(test)]
mod tests;
