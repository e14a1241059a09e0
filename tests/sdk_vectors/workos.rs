//! workos: npm `@workos-inc/node` signs (`webhooks.computeSignature`) and verifies
//! (`webhooks.verifyHeader`); PyPI `workos` only verifies (`webhooks.verify_header`).

use provisiond::domain::SourceKind;
use provisiond::signing::SignatureError;

use crate::checks::{assert_refused_as_not_matching, workos_node_verdict_on_sign};
use crate::sdk::{
    now_ms, one_byte_changed, provisiond_sign, provisiond_verify, workos_node_signed,
};
use crate::{OTHER_WORKOS_SECRET, WORKOS_BODY, WORKOS_EVENT_ID, WORKOS_SECRET};

#[test]
fn workos_node_sdk_signature_is_accepted_by_verify() {
    let now = now_ms();
    let headers = workos_node_signed(WORKOS_SECRET, now);
    let verified = provisiond_verify(
        SourceKind::Workos,
        &headers,
        WORKOS_BODY,
        WORKOS_SECRET,
        now,
    )
    .unwrap_or_else(|err| panic!("WorkOS's signature refused: {err}; {headers:?}"));
    assert_eq!(verified.sender_event_id.as_deref(), Some(WORKOS_EVENT_ID));
}

#[test]
fn workos_node_sdk_signature_is_refused_after_one_body_byte_changes() {
    let now = now_ms();
    let headers = workos_node_signed(WORKOS_SECRET, now);
    let changed = one_byte_changed(WORKOS_BODY);
    assert_eq!(
        provisiond_verify(SourceKind::Workos, &headers, &changed, WORKOS_SECRET, now).unwrap_err(),
        SignatureError::Invalid
    );
}

#[test]
fn workos_node_sdk_signature_is_refused_with_another_secret() {
    let now = now_ms();
    let headers = workos_node_signed(WORKOS_SECRET, now);
    assert_eq!(
        provisiond_verify(
            SourceKind::Workos,
            &headers,
            WORKOS_BODY,
            OTHER_WORKOS_SECRET,
            now
        )
        .unwrap_err(),
        SignatureError::Invalid
    );
}

#[test]
fn sign_reproduces_the_workos_node_sdk_header() {
    let now = now_ms();
    let sdk = workos_node_signed(WORKOS_SECRET, now);
    let ours = provisiond_sign(SourceKind::Workos, WORKOS_SECRET, WORKOS_BODY, now);
    assert_eq!(ours.len(), 1);
    assert_eq!(ours[0].0, "workos-signature");
    assert_eq!(sdk["workos-signature"].to_str().unwrap(), ours[0].1);
}

#[test]
fn workos_node_sdk_accepts_sign_output() {
    let verdict = workos_node_verdict_on_sign(WORKOS_SECRET, WORKOS_SECRET, WORKOS_BODY);
    assert_eq!(verdict, Ok(()));
}

#[test]
fn workos_node_sdk_refuses_sign_output_after_one_body_byte_changes() {
    let changed = one_byte_changed(WORKOS_BODY);
    let verdict = workos_node_verdict_on_sign(WORKOS_SECRET, WORKOS_SECRET, &changed);
    assert_refused_as_not_matching(verdict);
}

#[test]
fn workos_node_sdk_refuses_sign_output_with_another_secret() {
    let verdict = workos_node_verdict_on_sign(WORKOS_SECRET, OTHER_WORKOS_SECRET, WORKOS_BODY);
    assert_refused_as_not_matching(verdict);
}

/// PyPI `workos` checks what `sign` produces.
mod python {
    use provisiond::domain::SourceKind;

    use crate::checks::sign_output_tests;
    use crate::{OTHER_WORKOS_SECRET, WORKOS_BODY, WORKOS_SECRET};

    sign_output_tests!(
        "workos",
        SourceKind::Workos,
        WORKOS_SECRET,
        OTHER_WORKOS_SECRET,
        WORKOS_BODY
    );
}
