//! Shared harnesses of the `cargo fuzz` targets (docs/fuzzing.md): one target per sender
//! and side (`signature_<kind>`, `normalize_<kind>`) plus `handshake`, each a call into
//! this library. A harness panics only when provisiond breaks one of its invariants, so
//! every crash libFuzzer reports is a finding.

use std::time::{Duration, SystemTime, UNIX_EPOCH};

use chrono::{DateTime, Utc};
use http::{HeaderMap, HeaderName, HeaderValue};
use provisiond::domain::event::{NormalizeError, Normalized};
use provisiond::webhook::handshake::{self, Handshake};
use provisiond::normalize::{deel, normalize as normalize_body};
use provisiond::domain::SourceKind;
use provisiond::signing::{sign, verify, SignatureError, SigningKey};

/// Shared with the property tests (`tests/properties/`), which cannot depend on this crate.
#[path = "../../tests/properties/nul.rs"]
mod nul;
use nul::holds_nul;

/// The instant deliveries are checked at unless the input names one (`x-fuzz-now`).
const DEFAULT_NOW_SECS: u64 = 1_767_225_600;
/// The pseudo-header that sets the verification time (Unix seconds) for a seed.
const NOW_HEADER: &str = "x-fuzz-now";

/// The secret every fuzz delivery is verified with; the seeds in `fuzz/seeds/` are signed
/// with it (`tests/sign.py`).
pub fn secret(kind: SourceKind) -> &'static str {
    match kind {
        SourceKind::StandardWebhooks => "whsec_ZnV6ei1zZWNyZXQtb2YtcHJvdmlzaW9uZA==",
        SourceKind::Finch => "ZnV6ei1zZWNyZXQtb2YtcHJvdmlzaW9uZA==",
        _ => "fuzz-secret-of-provisiond",
    }
}

/// Signature side of a sender.
///
/// 1. The input read as a delivery (`name: value` header lines, an empty line, the body)
///    is verified: it must not panic. Only the right MAC is accepted (the committed seeds
///    carry one, and libFuzzer's mutations of them explore what else the parser takes):
///    whatever headers it accepts must refuse the same delivery with one body byte
///    changed or with another key.
/// 2. The input as a body is signed with provisiond's own `sign`, must verify, and must be
///    refused once one body byte changes or another key is used.
pub fn signature(kind: SourceKind, data: &[u8]) {
    let key = SigningKey::from_secret(kind, secret(kind)).expect("the fuzz secret is valid");
    let (headers, body, now) = delivery(data);
    if verify(kind, &headers, body, std::slice::from_ref(&key), None, now).is_ok() {
        let other = SigningKey::from_secret(kind, other_secret(kind)).expect("valid");
        let refused = verify(kind, &headers, body, &[other], None, now);
        assert_eq!(
            refused.unwrap_err(),
            SignatureError::Invalid,
            "{kind}: other key"
        );
        let changed = changed_byte(body);
        let refused = verify(kind, &headers, &changed, &[key.clone()], None, now);
        assert_eq!(
            refused.unwrap_err(),
            SignatureError::Invalid,
            "{kind}: changed body"
        );
    }
    round_trip(kind, &key, data);
}

fn round_trip(kind: SourceKind, key: &SigningKey, body: &[u8]) {
    let now = UNIX_EPOCH + Duration::from_secs(DEFAULT_NOW_SECS);
    let signed: HeaderMap = sign(kind, key, body, now, "msg_fuzz")
        .into_iter()
        .map(|(name, value)| {
            let value = HeaderValue::from_str(&value).expect("sign writes header values");
            (HeaderName::from_static(name), value)
        })
        .collect();
    let check = |body: &[u8], keys: &[SigningKey]| verify(kind, &signed, body, keys, None, now);
    assert!(
        check(body, std::slice::from_ref(key)).is_ok(),
        "{kind}: own signature refused"
    );
    let refused = check(&changed_byte(body), std::slice::from_ref(key));
    assert_eq!(
        refused.unwrap_err(),
        SignatureError::Invalid,
        "{kind}: changed body accepted"
    );
    let other = SigningKey::from_secret(kind, other_secret(kind)).expect("valid");
    assert_eq!(
        check(body, &[other]).unwrap_err(),
        SignatureError::Invalid,
        "{kind}: other key"
    );
}

/// `body` with its first byte changed (or one byte added to an empty body).
fn changed_byte(body: &[u8]) -> Vec<u8> {
    let mut changed = body.to_vec();
    match changed.first_mut() {
        Some(first) => *first ^= 0x01,
        None => changed.push(b'x'),
    }
    changed
}

fn other_secret(kind: SourceKind) -> &'static str {
    match kind {
        SourceKind::StandardWebhooks => "whsec_YW5vdGhlci1zZWNyZXQ=",
        SourceKind::Finch => "YW5vdGhlci1zZWNyZXQ=",
        _ => "another-secret",
    }
}

/// `name: value` lines up to the first empty line, then the body. Lines that are not a
/// valid header are skipped (the fuzzer still explores the parsers through the rest).
fn delivery(data: &[u8]) -> (HeaderMap, &[u8], SystemTime) {
    let (head, body) = match find(data, b"\n\n") {
        Some(at) => (&data[..at], &data[at + 2..]),
        None => (data, &data[data.len()..]),
    };
    let mut headers = HeaderMap::new();
    let mut now = DEFAULT_NOW_SECS;
    for line in head.split(|b| *b == b'\n') {
        let Some(colon) = line.iter().position(|b| *b == b':') else {
            continue;
        };
        let (name, value) = (&line[..colon], line[colon + 1..].trim_ascii());
        if name.eq_ignore_ascii_case(NOW_HEADER.as_bytes()) {
            // Only times `SystemTime` can hold.
            now = std::str::from_utf8(value)
                .ok()
                .and_then(|v| v.parse().ok())
                .filter(|secs| UNIX_EPOCH.checked_add(Duration::from_secs(*secs)).is_some())
                .unwrap_or(now);
            continue;
        }
        if let (Ok(name), Ok(value)) =
            (HeaderName::from_bytes(name), HeaderValue::from_bytes(value))
        {
            headers.append(name, value);
        }
    }
    (headers, body, UNIX_EPOCH + Duration::from_secs(now))
}

fn find(haystack: &[u8], needle: &[u8]) -> Option<usize> {
    haystack.windows(needle.len()).position(|w| w == needle)
}

/// Normalizer of a sender: any bytes give an event or a clear error, never a panic; no id
/// or stored label it produces holds a control character, and no attribute a NUL.
pub fn normalize(kind: SourceKind, data: &[u8]) {
    let received_at = DateTime::<Utc>::from_timestamp(DEFAULT_NOW_SECS as i64, 0).expect("valid");
    match normalize_body(kind, data, received_at) {
        Ok(Normalized::Employee(event)) => {
            assert_clean_id(&event.employee_id);
            let stored = serde_json::to_value(&event.attributes).expect("serializable");
            assert!(!holds_nul(&stored), "NUL in attributes {stored}");
            if kind == SourceKind::Deel {
                for id in deel::contract_ids(&event.attributes.data, &event.employee_id) {
                    assert_clean_id(&id);
                }
            }
        }
        Ok(Normalized::DirectoryDeleted { directory_id, .. }) => assert_clean_id(&directory_id),
        Ok(Normalized::Ignored { event_name, reason }) => {
            assert_no_control(&event_name);
            assert!(!reason.is_empty(), "an ignored event without a reason");
        }
        Err(error) => assert_clear(&error),
    }
}

fn assert_clean_id(id: &str) {
    assert!(!id.is_empty(), "an empty id");
    assert_no_control(id);
}

fn assert_no_control(text: &str) {
    assert!(
        !text.chars().any(char::is_control),
        "control character in {text:?}"
    );
}

fn assert_clear(error: &NormalizeError) {
    match error {
        NormalizeError::Missing(field) => assert!(!field.is_empty()),
        NormalizeError::Invalid { field, detail } => {
            assert!(!field.is_empty() && !detail.is_empty(), "{error:?}")
        }
        NormalizeError::Json(_) => {}
    }
    assert!(!error.to_string().is_empty());
}

/// Handshake detection of every kind, keyed or not: never panics, and a Gusto token it
/// takes is short, printable and comes only from a Gusto source without a key.
pub fn handshakes(data: &[u8]) {
    for kind in SourceKind::ALL {
        for keyed in [false, true] {
            match handshake::detect(kind, data, keyed) {
                None => {}
                Some(Handshake::Ping) => assert_eq!(kind, SourceKind::Hibob),
                Some(Handshake::VerificationToken {
                    token,
                    subscription,
                }) => {
                    assert!(kind == SourceKind::Gusto && !keyed, "{kind} keyed={keyed}");
                    assert!(!token.is_empty() && token.len() <= 256);
                    assert!(token.chars().all(|c| c.is_ascii_graphic()), "{token:?}");
                    assert!(subscription.is_none_or(|s| s.len() == 36 && s.is_ascii()));
                }
            }
        }
    }
}
