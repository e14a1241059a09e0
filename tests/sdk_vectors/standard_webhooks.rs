//! standard-webhooks, signed by the PyPI `standardwebhooks` SDK.

use provisiond::domain::SourceKind;

use crate::checks::{sdk_vector_tests, sign_output_tests};
use crate::sdk::{now_ms, provisiond_sign, python_sdk_signed};
use crate::{BODY, OTHER_WHSEC, WHSEC};

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
    let ours = provisiond_sign(SourceKind::StandardWebhooks, WHSEC, BODY, now);
    for (name, value) in &ours {
        assert_eq!(
            sdk.get(*name).map(|v| v.to_str().unwrap()),
            Some(value.as_str()),
            "{name}"
        );
    }
    assert_eq!(sdk.len(), ours.len());
}
