//! finch: the PyPI `finch-api` SDK only verifies (`client.webhooks.verify_signature`), so
//! its vectors are signed by `standardwebhooks` and used once it accepted them.

use provisiond::domain::SourceKind;

use crate::checks::{sdk_vector_tests, sign_output_tests};
use crate::{BODY, FINCH_SECRET, OTHER_FINCH_SECRET};

sdk_vector_tests!("finch", SourceKind::Finch, FINCH_SECRET, OTHER_FINCH_SECRET);

sign_output_tests!(
    "finch",
    SourceKind::Finch,
    FINCH_SECRET,
    OTHER_FINCH_SECRET,
    BODY
);
