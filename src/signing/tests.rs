use std::time::{Duration, SystemTime, UNIX_EPOCH};

use axum::http::{HeaderMap, HeaderName, HeaderValue};

use super::*;

mod schemes;

const VECTOR_A_SECRET: &str = "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw";
const VECTOR_A_ID: &str = "msg_p5jXN8AQM9LWM0D4loKWxJek";
const VECTOR_A_TS: u64 = 1614265330;
const VECTOR_A_BODY: &[u8] = br#"{"test": 2432232314}"#;
const VECTOR_A_SIG: &str = "v1,g0hM9SsE+OTPJTGt/tmIKtSyZlE3uFJELVlNIOLJ1OE=";

pub(super) fn at(secs: u64) -> SystemTime {
    UNIX_EPOCH + Duration::from_secs(secs)
}

pub(super) fn headers(pairs: &[(&str, &str)]) -> HeaderMap {
    pairs
        .iter()
        .map(|(name, value)| {
            (
                HeaderName::from_bytes(name.as_bytes()).unwrap(),
                HeaderValue::from_str(value).unwrap(),
            )
        })
        .collect()
}

pub(super) fn key(kind: SourceKind, secret: &str) -> SigningKey {
    SigningKey::from_secret(kind, secret).unwrap()
}

fn vector_a_headers(ts: u64, signature: &str) -> HeaderMap {
    headers(&[
        ("webhook-id", VECTOR_A_ID),
        ("webhook-timestamp", &ts.to_string()),
        ("webhook-signature", signature),
    ])
}

fn verify_vector_a(headers: &HeaderMap, body: &[u8], now: u64) -> Result<Verified, SignatureError> {
    let keys = [key(SourceKind::StandardWebhooks, VECTOR_A_SECRET)];
    verify(
        SourceKind::StandardWebhooks,
        headers,
        body,
        &keys,
        None,
        at(now),
    )
}

#[test]
fn official_standard_webhooks_vector_verifies() {
    let hdrs = vector_a_headers(VECTOR_A_TS, VECTOR_A_SIG);
    let verified = verify_vector_a(&hdrs, VECTOR_A_BODY, VECTOR_A_TS).unwrap();
    assert_eq!(verified.sender_event_id.as_deref(), Some(VECTOR_A_ID));
}

#[test]
fn sign_reproduces_the_official_standard_webhooks_vector() {
    let k = key(SourceKind::StandardWebhooks, VECTOR_A_SECRET);
    let signed = sign(
        SourceKind::StandardWebhooks,
        &k,
        VECTOR_A_BODY,
        at(VECTOR_A_TS),
        VECTOR_A_ID,
    );
    assert_eq!(
        signed,
        vec![
            ("webhook-id", VECTOR_A_ID.to_string()),
            ("webhook-timestamp", VECTOR_A_TS.to_string()),
            ("webhook-signature", VECTOR_A_SIG.to_string()),
        ]
    );
}

#[test]
fn standard_webhooks_vector_b_from_the_rust_library_verifies() {
    let hdrs = headers(&[
        ("webhook-id", "msg_27UH4WbU6Z5A5EzD8u03UvzRbpk"),
        ("webhook-timestamp", "1649367553"),
        (
            "webhook-signature",
            "v1,tZ1I4/hDygAJgO5TYxiSd6Sd0kDW6hPenDe+bTa3Kkw=",
        ),
    ]);
    let keys = [key(
        SourceKind::StandardWebhooks,
        "whsec_C2FVsBQIhrscChlQIMV+b5sSYspob7oD",
    )];
    let body = br#"{"email":"test@example.com","username":"test_user"}"#;
    let result = verify(
        SourceKind::StandardWebhooks,
        &hdrs,
        body,
        &keys,
        None,
        at(1649367553),
    );
    assert!(result.is_ok());
}

#[test]
fn a_signature_list_with_one_valid_entry_passes() {
    let list = format!(
        "v1,tFtCZ5RDCPxzWQRWXWPgrCgE2frDBe9gjpbWQxnVfsQ= v1a,hnO3f9T8Ytu9HwrXslvumlUpqtNVqkhqw= {VECTOR_A_SIG} v1,9DfC"
    );
    let hdrs = vector_a_headers(VECTOR_A_TS, &list);
    assert!(verify_vector_a(&hdrs, VECTOR_A_BODY, VECTOR_A_TS).is_ok());
}

#[test]
fn a_bare_v1_prefix_is_invalid() {
    let hdrs = vector_a_headers(VECTOR_A_TS, "v1,");
    let result = verify_vector_a(&hdrs, VECTOR_A_BODY, VECTOR_A_TS);
    assert_eq!(result.unwrap_err(), SignatureError::Invalid);
}

#[test]
fn a_truncated_signature_is_invalid() {
    let hdrs = vector_a_headers(VECTOR_A_TS, "v1,g0hM9SsE+OTPJTGt/tmIKtSy");
    let result = verify_vector_a(&hdrs, VECTOR_A_BODY, VECTOR_A_TS);
    assert_eq!(result.unwrap_err(), SignatureError::Invalid);
}

#[test]
fn a_timestamp_301_seconds_in_the_past_or_future_is_stale() {
    let hdrs = vector_a_headers(VECTOR_A_TS, VECTOR_A_SIG);
    for now in [VECTOR_A_TS + 301, VECTOR_A_TS - 301] {
        let result = verify_vector_a(&hdrs, VECTOR_A_BODY, now);
        assert_eq!(result.unwrap_err(), SignatureError::Stale);
    }
}

#[test]
fn a_timestamp_300_seconds_away_is_still_fresh() {
    let hdrs = vector_a_headers(VECTOR_A_TS, VECTOR_A_SIG);
    for now in [VECTOR_A_TS + 300, VECTOR_A_TS - 300] {
        assert!(verify_vector_a(&hdrs, VECTOR_A_BODY, now).is_ok());
    }
}

#[test]
fn an_explicit_tolerance_overrides_the_default() {
    let hdrs = vector_a_headers(VECTOR_A_TS, VECTOR_A_SIG);
    let keys = [key(SourceKind::StandardWebhooks, VECTOR_A_SECRET)];
    let wide = Some(Duration::from_secs(3600));
    let now = at(VECTOR_A_TS + 1000);
    let result = verify(
        SourceKind::StandardWebhooks,
        &hdrs,
        VECTOR_A_BODY,
        &keys,
        wide,
        now,
    );
    assert!(result.is_ok());
}

#[test]
fn a_malformed_timestamp_is_invalid() {
    let hdrs = headers(&[
        ("webhook-id", VECTOR_A_ID),
        ("webhook-timestamp", "yesterday"),
        ("webhook-signature", VECTOR_A_SIG),
    ]);
    let result = verify_vector_a(&hdrs, VECTOR_A_BODY, VECTOR_A_TS);
    assert_eq!(result.unwrap_err(), SignatureError::Invalid);
}

#[test]
fn each_missing_standard_webhooks_header_is_reported_as_missing() {
    let ts = VECTOR_A_TS.to_string();
    let all = [
        ("webhook-id", VECTOR_A_ID),
        ("webhook-timestamp", ts.as_str()),
        ("webhook-signature", VECTOR_A_SIG),
    ];
    for skip in 0..all.len() {
        let partial: Vec<_> = (0..all.len())
            .filter(|i| *i != skip)
            .map(|i| all[i])
            .collect();
        let result = verify_vector_a(&headers(&partial), VECTOR_A_BODY, VECTOR_A_TS);
        assert_eq!(result.unwrap_err(), SignatureError::Missing);
    }
}

#[test]
fn a_tampered_body_is_invalid() {
    let hdrs = vector_a_headers(VECTOR_A_TS, VECTOR_A_SIG);
    let result = verify_vector_a(&hdrs, br#"{"test": 2432232315}"#, VECTOR_A_TS);
    assert_eq!(result.unwrap_err(), SignatureError::Invalid);
}

#[test]
fn any_of_several_rotated_keys_may_match() {
    let hdrs = vector_a_headers(VECTOR_A_TS, VECTOR_A_SIG);
    let keys = [
        key(
            SourceKind::StandardWebhooks,
            "whsec_C2FVsBQIhrscChlQIMV+b5sSYspob7oD",
        ),
        key(SourceKind::StandardWebhooks, VECTOR_A_SECRET),
    ];
    let now = at(VECTOR_A_TS);
    let result = verify(
        SourceKind::StandardWebhooks,
        &hdrs,
        VECTOR_A_BODY,
        &keys,
        None,
        now,
    );
    assert!(result.is_ok());
}

#[test]
fn no_keys_means_invalid() {
    let hdrs = vector_a_headers(VECTOR_A_TS, VECTOR_A_SIG);
    let now = at(VECTOR_A_TS);
    let result = verify(
        SourceKind::StandardWebhooks,
        &hdrs,
        VECTOR_A_BODY,
        &[],
        None,
        now,
    );
    assert_eq!(result.unwrap_err(), SignatureError::Invalid);
}

#[test]
fn svix_header_names_are_accepted() {
    let hdrs = headers(&[
        ("Svix-Id", VECTOR_A_ID),
        ("Svix-Timestamp", &VECTOR_A_TS.to_string()),
        ("Svix-Signature", VECTOR_A_SIG),
    ]);
    let verified = verify_vector_a(&hdrs, VECTOR_A_BODY, VECTOR_A_TS).unwrap();
    assert_eq!(verified.sender_event_id.as_deref(), Some(VECTOR_A_ID));
}

#[test]
fn standard_webhooks_secrets_without_prefix_or_padding_decode() {
    let plain = key(
        SourceKind::StandardWebhooks,
        "MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw",
    );
    let unpadded = key(SourceKind::StandardWebhooks, "whsec_AAEC");
    assert_eq!(
        plain.0,
        key(SourceKind::StandardWebhooks, VECTOR_A_SECRET).0
    );
    assert_eq!(unpadded.0, vec![0, 1, 2]);
    assert!(SigningKey::from_secret(SourceKind::StandardWebhooks, "whsec_AAE").is_ok());
}

#[test]
fn empty_or_undecodable_secrets_are_rejected() {
    for secret in ["", "whsec_", "whsec_not base64!"] {
        assert!(SigningKey::from_secret(SourceKind::StandardWebhooks, secret).is_err());
    }
    assert!(SigningKey::from_secret(SourceKind::Merge, "").is_err());
}

#[test]
fn signing_key_debug_output_is_redacted() {
    let k = key(SourceKind::Merge, "super-secret");
    assert_eq!(format!("{k:?}"), "SigningKey(<redacted>)");
}

#[test]
fn signing_then_verifying_round_trips_for_every_kind() {
    let body = br#"{"type":"employee.created","data":{"id":"emp_1"}}"#;
    let now = UNIX_EPOCH + Duration::from_millis(1_772_442_900_123);
    for kind in SourceKind::ALL {
        let k = key(kind, "whsec_dGhpcyBpcyBhIHRlc3Qga2V5IQ==");
        let hdrs: HeaderMap = sign(kind, &k, body, now, "msg_1")
            .into_iter()
            .map(|(name, value)| (HeaderName::from_static(name), value.parse().unwrap()))
            .collect();
        let result = verify(kind, &hdrs, body, std::slice::from_ref(&k), None, now);
        assert!(result.is_ok(), "{kind} did not round-trip: {result:?}");
        let tampered = verify(kind, &hdrs, b"{}", &[k], None, now);
        assert_eq!(tampered.unwrap_err(), SignatureError::Invalid, "{kind}");
    }
}

#[test]
fn source_kinds_parse_from_their_names_and_reject_others() {
    for kind in SourceKind::ALL {
        assert_eq!(kind.as_str().parse::<SourceKind>(), Ok(kind));
        let json = serde_json::to_string(&kind).unwrap();
        assert_eq!(json, format!("\"{}\"", kind.as_str()));
    }
    let err = "svix".parse::<SourceKind>().unwrap_err();
    assert!(
        err.contains("standard-webhooks") && err.contains("deel"),
        "{err}"
    );
}

#[test]
fn default_tolerances_match_the_design() {
    assert_eq!(
        SourceKind::StandardWebhooks.default_tolerance(),
        Some(Duration::from_secs(300))
    );
    assert_eq!(
        SourceKind::Workos.default_tolerance(),
        Some(Duration::from_secs(180))
    );
    assert_eq!(
        SourceKind::Bamboohr.default_tolerance(),
        Some(Duration::from_secs(300))
    );
    assert_eq!(SourceKind::Merge.default_tolerance(), None);
}

#[test]
fn error_codes_match_the_http_contract() {
    assert_eq!(SignatureError::Missing.code(), "missing_signature");
    assert_eq!(SignatureError::Invalid.code(), "invalid_signature");
    assert_eq!(SignatureError::Stale.code(), "stale_timestamp");
    assert_eq!(SignatureError::Stale.to_string(), "stale_timestamp");
}
