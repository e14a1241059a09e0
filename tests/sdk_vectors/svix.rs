//! standard-webhooks from a Svix sender: the PyPI `svix` SDK, `svix-*` headers.

use provisiond::domain::SourceKind;

use crate::checks::{sdk_vector_tests, sign_output_tests};
use crate::{BODY, OTHER_WHSEC, WHSEC};

sdk_vector_tests!("svix", SourceKind::StandardWebhooks, WHSEC, OTHER_WHSEC);

sign_output_tests!(
    "svix",
    SourceKind::StandardWebhooks,
    WHSEC,
    OTHER_WHSEC,
    BODY
);
