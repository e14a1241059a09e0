//! Signature vectors produced at test time by the senders' own published SDKs, not by
//! provisiond's code and not pasted: `tests/vectors/sdk_vectors.py` drives the PyPI
//! packages `standardwebhooks`, `svix`, `finch-api` and `workos`, and
//! `tests/vectors/workos_node.mjs` drives the npm package `@workos-inc/node` (versions
//! pinned in `tests/vectors/requirements.txt` and `tests/vectors/package-lock.json`;
//! `scripts/test` installs them). A missing SDK fails the test and says how to install it.
//!
//! Both directions where the SDK has both: what the SDK signs is accepted by `verify`
//! (and refused once one body byte changes, and with another secret), and what `sign`
//! produces is accepted by the SDK's own verification (and refused likewise). Finch's and
//! WorkOS's Python SDKs can only verify: for Finch, the `standardwebhooks` SDK signs with
//! Finch's plain base64 secret under `Finch-*` headers and the vector is used only once
//! Finch's `verify_signature` accepted it.
//!
//! Merge, BambooHR, Gusto, HiBob and Deel publish no SDK with signing code, so they have
//! no test here (their schemes are covered by the unit tests in
//! `src/webhook/signature/tests.rs`).
//!
//! One module per SDK (`standard_webhooks`, `svix`, `finch`, `workos`); `sdk` runs the
//! scripts and builds the deliveries, `checks` holds the checks they share.

mod checks;
mod finch;
mod sdk;
mod standard_webhooks;
mod svix;
mod workos;

// Test-only secrets.
const WHSEC: &str = "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw";
const OTHER_WHSEC: &str = "whsec_cHJvdmlzaW9uZC1zZGstdmVjdG9ycy1vdGhlci1rZXk=";
/// Finch shows its secret as plain base64, without `whsec_`.
const FINCH_SECRET: &str = "ZmluY2gtdGVzdC1vbmx5LXNpZ25pbmcta2V5LTAwMDE=";
const OTHER_FINCH_SECRET: &str = "ZmluY2gtdGVzdC1vbmx5LXNpZ25pbmcta2V5LTAwMDI=";
const WORKOS_SECRET: &str = "wos_test_only_Yp3kV9qLm2Xr8TzB";
const OTHER_WORKOS_SECRET: &str = "wos_test_only_other_N4hQ7sWc";

const MSG_ID: &str = "msg_2xJYQ3hD9VnE4ZkzqWfB7cTe";
/// Non-ASCII on purpose: the SDKs sign text, provisiond signs bytes.
const BODY: &str = r#"{"type":"employee.terminated","data":{"employee_id":"emp_1001","first_name":"Zoë","termination_date":"2026-11-30"}}"#;
/// Compact JSON in `JSON.stringify` form: WorkOS's Node SDK signs the re-serialized event.
const WORKOS_BODY: &str = r#"{"id":"event_01JDXQ5N8M3V7K2R4T6W9Y1Z0A","event":"dsync.user.deleted","data":{"id":"directory_user_01JDXQ5P","first_name":"Zoë","state":"inactive"},"created_at":"2026-11-28T13:30:00.000Z"}"#;
const WORKOS_EVENT_ID: &str = "event_01JDXQ5N8M3V7K2R4T6W9Y1Z0A";
