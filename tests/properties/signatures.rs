//! Signatures: arbitrary headers are never accepted, and a delivery signed by `sign`
//! verifies until one byte of its body, timestamp, id or MAC, or its secret, changes.

use std::ops::Range;
use std::time::Duration;

use axum::http::{HeaderMap, HeaderName, HeaderValue};
use proptest::prelude::*;
use proptest::sample::Index;
use provisiond::domain::SourceKind;
use provisiond::signing::{sign, verify, SignatureError, SigningKey};

use crate::config;
use crate::strategies::{base64_std, body, headers, kind, now, secret};

/// The kinds that sign a timestamp, each with a secret of its own form.
fn timestamped_kind_and_secret() -> impl Strategy<Value = (SourceKind, String)> {
    prop::sample::select(vec![
        SourceKind::StandardWebhooks,
        SourceKind::Finch,
        SourceKind::Workos,
        SourceKind::Bamboohr,
    ])
    .prop_flat_map(|k| (Just(k), secret(k)))
}

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
        (kind, secret) in timestamped_kind_and_secret(),
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
        (kind, secret) in timestamped_kind_and_secret(),
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

fn whole(signed: &[(&'static str, String)], name: &str) -> (&'static str, Range<usize>) {
    let (name, value) = signed.iter().find(|(n, _)| *n == name).unwrap();
    (name, 0..value.len())
}

/// The signature header of `kind` and the byte range of the encoded MAC in its value.
fn mac_part(kind: SourceKind, signed: &[(&'static str, String)]) -> (&'static str, Range<usize>) {
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
    range: Range<usize>,
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
