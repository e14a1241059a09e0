//! Merge, WorkOS, BambooHR, Gusto, HiBob, Deel and Finch: check values computed
//! independently with Python's `hmac`, and Finch's vector published with its SDK.

use std::time::{Duration, SystemTime, UNIX_EPOCH};

use axum::http::HeaderMap;

use super::{at, headers, key};
use crate::signing::*;

const MERGE_BODY: &[u8] = br#"{"hook":{"event":"Employee.added"},"data":{"id":"e1"}}"#;
const MERGE_SIG: &str = "9Sxcv3nIFiRKguGaIblJYZh6oF2agitzqMwhcwMCq9Q=";

fn verify_merge(signature: &str) -> Result<Verified, SignatureError> {
    let hdrs = headers(&[("X-Merge-Webhook-Signature", signature)]);
    let keys = [key(SourceKind::Merge, "test_merge_signature_key")];
    verify(SourceKind::Merge, &hdrs, MERGE_BODY, &keys, None, at(0))
}

#[test]
fn merge_signature_verifies_with_and_without_padding() {
    assert_eq!(verify_merge(MERGE_SIG).unwrap().sender_event_id, None);
    assert!(verify_merge(MERGE_SIG.trim_end_matches('=')).is_ok());
}

#[test]
fn merge_signature_for_another_body_is_invalid() {
    let other = "8Sxcv3nIFiRKguGaIblJYZh6oF2agitzqMwhcwMCq9Q=";
    assert_eq!(verify_merge(other).unwrap_err(), SignatureError::Invalid);
    assert_eq!(verify_merge("%%%").unwrap_err(), SignatureError::Invalid);
}

#[test]
fn merge_without_its_header_is_missing() {
    let keys = [key(SourceKind::Merge, "test_merge_signature_key")];
    let result = verify(
        SourceKind::Merge,
        &HeaderMap::new(),
        MERGE_BODY,
        &keys,
        None,
        at(0),
    );
    assert_eq!(result.unwrap_err(), SignatureError::Missing);
}

const WORKOS_BODY: &[u8] =
    br#"{"id":"event_01","event":"dsync.user.created","data":{"id":"directory_user_01"}}"#;
const WORKOS_SIG: &str =
    "t=1767225600000, v1=fa69b540bc28efd2e366d0c149664f1535aa7811235201fde22ea4a03e24ac45";

fn verify_workos(signature: &str, now: SystemTime) -> Result<Verified, SignatureError> {
    let hdrs = headers(&[("WorkOS-Signature", signature)]);
    let keys = [key(SourceKind::Workos, "test_workos_secret")];
    verify(SourceKind::Workos, &hdrs, WORKOS_BODY, &keys, None, now)
}

#[test]
fn workos_millisecond_timestamp_verifies_and_yields_the_event_id() {
    let verified = verify_workos(WORKOS_SIG, at(1767225600)).unwrap();
    assert_eq!(verified.sender_event_id.as_deref(), Some("event_01"));
}

#[test]
fn workos_accepts_uppercase_hex_and_extra_whitespace() {
    let shouty = format!(
        "  t=1767225600000 ,v1 = {}",
        &WORKOS_SIG[20..].to_uppercase()
    );
    assert!(verify_workos(&shouty, at(1767225600)).is_ok());
}

#[test]
fn workos_timestamp_beyond_180_seconds_is_stale() {
    let late = UNIX_EPOCH + Duration::from_millis(1767225600000 + 180_001);
    let early = UNIX_EPOCH + Duration::from_millis(1767225600000 - 180_001);
    assert_eq!(
        verify_workos(WORKOS_SIG, late).unwrap_err(),
        SignatureError::Stale
    );
    assert_eq!(
        verify_workos(WORKOS_SIG, early).unwrap_err(),
        SignatureError::Stale
    );
    assert!(verify_workos(WORKOS_SIG, at(1767225600 + 179)).is_ok());
}

#[test]
fn workos_header_without_a_timestamp_is_invalid() {
    let result = verify_workos(&WORKOS_SIG[17..], at(1767225600));
    assert_eq!(result.unwrap_err(), SignatureError::Invalid);
}

#[test]
fn bamboohr_self_computed_check_value_verifies() {
    let body = br#"{"type":"employee.created","timestamp":"2026-01-01T00:00:00+0000","data":{"companyId":"12345","employeeId":"67890"}}"#;
    let hdrs = headers(&[
        (
            "X-BambooHR-Signature",
            "26b9217ccfbcff4e01773cfcb4aa24184152ac6018c179852a1a6be27ad2be45",
        ),
        ("X-BambooHR-Timestamp", "1767225600"),
    ]);
    let keys = [key(SourceKind::Bamboohr, "test_bamboo_private_key")];
    let ok = verify(
        SourceKind::Bamboohr,
        &hdrs,
        body,
        &keys,
        None,
        at(1767225600),
    );
    assert!(ok.is_ok());
    let stale = verify(
        SourceKind::Bamboohr,
        &hdrs,
        body,
        &keys,
        None,
        at(1767225901),
    );
    assert_eq!(stale.unwrap_err(), SignatureError::Stale);
}

#[test]
fn bamboohr_without_its_timestamp_header_is_missing() {
    let hdrs = headers(&[("X-BambooHR-Signature", "26b9")]);
    let keys = [key(SourceKind::Bamboohr, "k")];
    let result = verify(SourceKind::Bamboohr, &hdrs, b"{}", &keys, None, at(0));
    assert_eq!(result.unwrap_err(), SignatureError::Missing);
}

fn verify_untimed(kind: SourceKind, header: &str, secret: &str, sig: &str, body: &[u8]) -> bool {
    let keys = [key(kind, secret)];
    verify(kind, &headers(&[(header, sig)]), body, &keys, None, at(0)).is_ok()
}

#[test]
fn gusto_deel_and_hibob_self_computed_check_values_verify() {
    assert!(verify_untimed(
        SourceKind::Gusto,
        "X-Gusto-Signature",
        "6590f590-3dba-495e-9bea-c361e1e2efc0",
        "7e7b13311a8e60411dcbe32061ae06c6be6aac74ee02d7441dbe02c883b2a6a0",
        br#"{"uuid":"03ffbf0c-48a9-4f1c-932a-546413a26ad1","event_type":"employee.created"}"#,
    ));
    assert!(verify_untimed(
        SourceKind::Deel,
        "x-deel-signature",
        "test_deel_signing_key",
        "2d7864ce8314c7303051d6963b29e5c548c28cb4181015116eafc8f111608c02",
        br#"{"data":{"meta":{"event_type":"employee.created.direct"}},"timestamp":"2026-01-01T00:00:00.000Z"}"#,
    ));
    assert!(verify_untimed(
        SourceKind::Hibob,
        "Bob-Signature",
        "test_bob_secret",
        "Jrjjp/mPbIe+ieGwV0sNgfGEvyJSMc6W5+QRtYhggFjmuhwe1osxd5Fndi1cy24vD91oxMugiQbFSsKrtYWYTQ==",
        br#"{"companyId":636192,"type":"employee.created"}"#,
    ));
}

#[test]
fn a_non_hex_signature_is_invalid() {
    assert!(!verify_untimed(
        SourceKind::Gusto,
        "X-Gusto-Signature",
        "k",
        "zz",
        b"{}"
    ));
}

#[test]
fn merge_sign_emits_padded_base64url() {
    let k = key(SourceKind::Merge, "test_merge_signature_key");
    let signed = sign(SourceKind::Merge, &k, MERGE_BODY, at(0), "ignored");
    assert_eq!(
        signed,
        vec![("x-merge-webhook-signature", MERGE_SIG.to_string())]
    );
}

#[test]
fn workos_sign_emits_milliseconds_and_hex() {
    let k = key(SourceKind::Workos, "test_workos_secret");
    let signed = sign(
        SourceKind::Workos,
        &k,
        WORKOS_BODY,
        at(1767225600),
        "ignored",
    );
    assert_eq!(signed, vec![("workos-signature", WORKOS_SIG.to_string())]);
}

// Finch's published vector (finch-api-python tests/api_resources/test_webhooks.py).
const FINCH_SECRET: &str = "5WbX5kEWLlfzsGNjH64I8lOOqUB6e8FH";
const FINCH_ID: &str = "msg_2Lh9KRb0pzN4LePd3XiA4v12Axj";
const FINCH_TS: u64 = 1676312382;
const FINCH_BODY: &[u8] = br#"{"company_id":"720be419-0293-4d32-a707-32179b0827ab"}"#;
const FINCH_SIG: &str = "v1,m7y0TV2C+hlHxU42wCieApTSTaA8/047OAplBqxIV/s=";

fn verify_finch(
    secret: &str,
    signature: &str,
    now: SystemTime,
) -> Result<Verified, SignatureError> {
    let ts = FINCH_TS.to_string();
    let hdrs = headers(&[
        ("Finch-Event-Id", FINCH_ID),
        ("Finch-Timestamp", &ts),
        ("Finch-Signature", signature),
    ]);
    let keys = [key(SourceKind::Finch, secret)];
    verify(SourceKind::Finch, &hdrs, FINCH_BODY, &keys, None, now)
}

#[test]
fn finch_published_vector_verifies_and_yields_the_event_id_header() {
    let verified = verify_finch(FINCH_SECRET, FINCH_SIG, at(FINCH_TS)).unwrap();
    assert_eq!(verified.sender_event_id.as_deref(), Some(FINCH_ID));
    // A `whsec_` prefix, should Finch ever add one, names the same key.
    let prefixed = format!("whsec_{FINCH_SECRET}");
    assert!(verify_finch(&prefixed, FINCH_SIG, at(FINCH_TS)).is_ok());
}

#[test]
fn finch_signature_is_checked_before_its_five_minute_window() {
    let forged = "v1,m7y0TV2C+hlHxU42wCieApTSTaA8/047OAplBqxIV/t=";
    let result = verify_finch(FINCH_SECRET, forged, at(FINCH_TS));
    assert_eq!(result.unwrap_err(), SignatureError::Invalid);
    let late = at(FINCH_TS + 301);
    let result = verify_finch(FINCH_SECRET, FINCH_SIG, late);
    assert_eq!(result.unwrap_err(), SignatureError::Stale);
    assert!(verify_finch(FINCH_SECRET, FINCH_SIG, at(FINCH_TS + 299)).is_ok());
}

#[test]
fn finch_signs_what_it_verifies() {
    let key = key(SourceKind::Finch, FINCH_SECRET);
    let signed = sign(SourceKind::Finch, &key, FINCH_BODY, at(FINCH_TS), FINCH_ID);
    let pairs: Vec<(&str, &str)> = signed.iter().map(|(n, v)| (*n, v.as_str())).collect();
    assert!(pairs.contains(&("finch-signature", FINCH_SIG)), "{pairs:?}");
}

#[test]
fn workos_event_id_is_not_read_from_a_body_that_fails_verification() {
    let forged =
        "t=1767225600000, v1=0a69b540bc28efd2e366d0c149664f1535aa7811235201fde22ea4a03e24ac45";
    let result = verify_workos(forged, at(1767225600));
    assert_eq!(result.unwrap_err(), SignatureError::Invalid);
}

#[test]
fn bamboohr_timestamp_header_may_be_iso_8601_and_is_signed_as_received() {
    let key = key(SourceKind::Bamboohr, "bamboo-key");
    let body = br#"{"type":"employee.updated","data":{"employeeId":"1"}}"#;
    for ts in ["2026-03-02T09:15:00+00:00", "2026-03-02T09:15:00+0000"] {
        let mut signed = body.to_vec();
        signed.extend_from_slice(ts.as_bytes());
        let mut mac =
            <hmac::Hmac<sha2::Sha256> as hmac::Mac>::new_from_slice(b"bamboo-key").unwrap();
        hmac::Mac::update(&mut mac, &signed);
        let tag = hex::encode(hmac::Mac::finalize(mac).into_bytes());
        let hdrs = headers(&[("X-BambooHR-Signature", &tag), ("X-BambooHR-Timestamp", ts)]);
        let now = at(1772442900);
        let keys = [key.clone()];
        assert!(
            verify(SourceKind::Bamboohr, &hdrs, body, &keys, None, now).is_ok(),
            "{ts}"
        );
        let late = at(1772442900 + 3600);
        let result = verify(SourceKind::Bamboohr, &hdrs, body, &keys, None, late);
        assert_eq!(result.unwrap_err(), SignatureError::Stale, "{ts}");
    }
}
