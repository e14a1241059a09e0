//! Checks shared by the SDKs' tests, one per behaviour, and the macros that make the
//! tests of a Python SDK from them.

use provisiond::domain::SourceKind;
use provisiond::signing::SignatureError;
use serde_json::json;

use crate::sdk::{
    now_ms, one_byte_changed, provisiond_signed, provisiond_verify, python_sdk, python_sdk_signed,
    sdk_verdict, workos_node_sdk,
};
use crate::{BODY, MSG_ID, WORKOS_BODY};

/// The SDK refused the delivery because no signature matched (not, say, for its time).
pub(crate) fn assert_refused_as_not_matching(verdict: Result<(), String>) {
    let error = verdict.expect_err("the SDK accepted it");
    // Each SDK's wording: "No matching signature found" (standardwebhooks, svix), "None of
    // the given webhook signatures match…" (finch), "Signature hash does not match…" (workos).
    assert!(
        error.contains("match"),
        "refused for another reason: {error}"
    );
}

/// A vector the SDK signed is accepted by `verify`, with the SDK's message id.
pub(crate) fn sdk_vector_is_accepted(sdk: &str, kind: SourceKind, secret: &str) {
    let now = now_ms();
    let headers = python_sdk_signed(sdk, secret, BODY, now);
    let verified = provisiond_verify(kind, &headers, BODY, secret, now)
        .unwrap_or_else(|err| panic!("{sdk}'s signature refused: {err}; headers {headers:?}"));
    assert_eq!(verified.sender_event_id.as_deref(), Some(MSG_ID));
}

pub(crate) fn sdk_vector_is_refused_after_one_body_byte_changes(
    sdk: &str,
    kind: SourceKind,
    secret: &str,
) {
    let now = now_ms();
    let headers = python_sdk_signed(sdk, secret, BODY, now);
    let changed = one_byte_changed(BODY);
    assert_eq!(
        provisiond_verify(kind, &headers, &changed, secret, now).unwrap_err(),
        SignatureError::Invalid
    );
}

pub(crate) fn sdk_vector_is_refused_with_another_secret(
    sdk: &str,
    kind: SourceKind,
    secret: &str,
    other: &str,
) {
    let now = now_ms();
    let headers = python_sdk_signed(sdk, secret, BODY, now);
    assert_eq!(
        provisiond_verify(kind, &headers, BODY, other, now).unwrap_err(),
        SignatureError::Invalid
    );
}

/// The Python SDK `sdk` verifies what provisiond's `sign` produced for `kind`.
fn python_sdk_verdict_on_sign(
    sdk: &str,
    kind: SourceKind,
    signed_with: &str,
    verified_with: &str,
    body: &str,
    delivered_body: &str,
) -> Result<(), String> {
    let headers = provisiond_signed(kind, signed_with, body);
    sdk_verdict(&python_sdk(json!({
        "sdk": sdk, "op": "verify", "secret": verified_with,
        "headers": headers, "body": delivered_body,
    })))
}

/// The Python SDK `sdk` accepts what `sign` produced for `kind` with `secret`.
pub(crate) fn python_sdk_accepts_sign_output(
    sdk: &str,
    kind: SourceKind,
    secret: &str,
    body: &str,
) {
    let verdict = python_sdk_verdict_on_sign(sdk, kind, secret, secret, body, body);
    assert_eq!(verdict, Ok(()));
}

/// ... and refuses it, as not matching, once one byte of the body changed.
pub(crate) fn python_sdk_refuses_changed_sign_output(
    sdk: &str,
    kind: SourceKind,
    secret: &str,
    body: &str,
) {
    let changed = one_byte_changed(body);
    let verdict = python_sdk_verdict_on_sign(sdk, kind, secret, secret, body, &changed);
    assert_refused_as_not_matching(verdict);
}

/// ... and refuses it, as not matching, under another secret.
pub(crate) fn python_sdk_refuses_sign_output_under_another_secret(
    sdk: &str,
    kind: SourceKind,
    secret: &str,
    other: &str,
    body: &str,
) {
    let verdict = python_sdk_verdict_on_sign(sdk, kind, secret, other, body, body);
    assert_refused_as_not_matching(verdict);
}

pub(crate) fn workos_node_verdict_on_sign(
    signed_with: &str,
    verified_with: &str,
    delivered_body: &str,
) -> Result<(), String> {
    let headers = provisiond_signed(SourceKind::Workos, signed_with, WORKOS_BODY);
    sdk_verdict(&workos_node_sdk(json!({
        "op": "verify", "secret": verified_with, "headers": headers, "body": delivered_body,
    })))
}

/// The tests of a vector the Python SDK `$sdk` signed (for Finch: accepted, see the crate
/// doc) under `$secret`: accepted by `verify`, refused after one body byte changes, refused
/// with `$other`.
macro_rules! sdk_vector_tests {
    ($sdk:literal, $kind:expr, $secret:expr, $other:expr) => {
        #[test]
        fn sdk_vector_is_accepted_by_verify() {
            $crate::checks::sdk_vector_is_accepted($sdk, $kind, $secret);
        }

        #[test]
        fn sdk_vector_is_refused_after_one_body_byte_changes() {
            $crate::checks::sdk_vector_is_refused_after_one_body_byte_changes($sdk, $kind, $secret);
        }

        #[test]
        fn sdk_vector_is_refused_with_another_secret() {
            $crate::checks::sdk_vector_is_refused_with_another_secret($sdk, $kind, $secret, $other);
        }
    };
}
pub(crate) use sdk_vector_tests;

/// The tests of what `sign` produces for `$kind` with `$secret` over `$body`, checked by the
/// Python SDK `$sdk`: accepted, refused after one body byte changes, refused with `$other`.
macro_rules! sign_output_tests {
    ($sdk:literal, $kind:expr, $secret:expr, $other:expr, $body:expr) => {
        #[test]
        fn sdk_accepts_sign_output() {
            $crate::checks::python_sdk_accepts_sign_output($sdk, $kind, $secret, $body);
        }

        #[test]
        fn sdk_refuses_sign_output_after_one_body_byte_changes() {
            $crate::checks::python_sdk_refuses_changed_sign_output($sdk, $kind, $secret, $body);
        }

        #[test]
        fn sdk_refuses_sign_output_with_another_secret() {
            $crate::checks::python_sdk_refuses_sign_output_under_another_secret(
                $sdk, $kind, $secret, $other, $body,
            );
        }
    };
}
pub(crate) use sign_output_tests;
