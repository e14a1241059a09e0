//! standard-webhooks, signed by the PyPI `standardwebhooks` SDK.

use provisiond::domain::SourceKind;
use provisiond::signing::{sign, SigningKey};

use crate::checks::{sdk_vector_tests, sign_output_tests};
use crate::sdk::{now_ms, python_sdk_signed};
use crate::{BODY, MSG_ID, OTHER_WHSEC, WHSEC};

sdk_vector_tests!(
    "standardwebhooks",
    SourceKind::StandardWebhooks,
    WHSEC,
    OTHER_WHSEC
);

sign_output_tests!(
    "standardwebhooks",
    SourceKind::StandardWebhooks,
    WHSEC,
    OTHER_WHSEC,
    BODY
);

#[test]
fn sign_reproduces_the_standard_webhooks_sdk_headers() {
    let now = now_ms();
    let sdk = python_sdk_signed("standardwebhooks", WHSEC, BODY, now);
    let key = SigningKey::from_secret(SourceKind::StandardWebhooks, WHSEC).unwrap();
    let ours = sign(
        SourceKind::StandardWebhooks,
        &key,
        BODY.as_bytes(),
        now,
        MSG_ID,
    );
    for (name, value) in &ours {
        assert_eq!(
            sdk.get(*name).map(|v| v.to_str().unwrap()),
            Some(value.as_str()),
            "{name}"
        );
    }
    assert_eq!(sdk.len(), ours.len());
}
