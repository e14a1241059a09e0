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

use std::io::{ErrorKind, Write};
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use axum::http::{HeaderMap, HeaderName, HeaderValue};
use provisiond::domain::SourceKind;
use provisiond::signing::{sign, verify, SignatureError, SigningKey, Verified};
use serde_json::{json, Value};

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

// ---------------------------------------------------------------------------------------
// Running the SDK scripts.

/// The scripts' exit status when their SDK is not installed.
const MISSING_SDK: i32 = 3;

fn vectors_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/vectors")
}

/// Runs `program script` with `request` as JSON on stdin and returns its JSON answer.
fn run_script(program: &str, script: &str, request: &Value, install: &str) -> Value {
    let dir = vectors_dir();
    let spawned = Command::new(program)
        .arg(dir.join(script))
        .current_dir(&dir)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn();
    let mut child = match spawned {
        Ok(child) => child,
        Err(err) if err.kind() == ErrorKind::NotFound => {
            panic!("`{program}` is not on PATH, so the SDK vectors cannot run: {install}")
        }
        Err(err) => panic!("could not start `{program} {script}`: {err}"),
    };
    child
        .stdin
        .take()
        .expect("stdin is piped")
        .write_all(request.to_string().as_bytes())
        .expect("write the request to the script");
    let output = child.wait_with_output().expect("wait for the script");
    let stderr = String::from_utf8_lossy(&output.stderr);
    match output.status.code() {
        Some(0) => {}
        Some(MISSING_SDK) => panic!("SDK missing: {}\n{install}", stderr.trim()),
        _ => panic!(
            "`{program} {script}` failed ({}) on {request}:\n{stderr}",
            output.status
        ),
    }
    serde_json::from_slice(&output.stdout).unwrap_or_else(|err| {
        panic!(
            "`{script}` printed no JSON ({err}): {}",
            String::from_utf8_lossy(&output.stdout)
        )
    })
}

fn python_sdk(request: Value) -> Value {
    run_script(
        "python3",
        "sdk_vectors.py",
        &request,
        "install the SDKs with `python3 -m pip install -r tests/vectors/requirements.txt` \
         (scripts/test does it)",
    )
}

fn workos_node_sdk(request: Value) -> Value {
    run_script(
        "node",
        "workos_node.mjs",
        &request,
        "install Node.js, then `npm ci` in tests/vectors (scripts/test does it)",
    )
}

/// The SDK's verdict on a delivery: `Ok` if it accepted it, its error message otherwise.
fn sdk_verdict(answer: &Value) -> Result<(), String> {
    match answer["ok"].as_bool() {
        Some(true) => Ok(()),
        Some(false) => Err(answer["error"].as_str().unwrap_or_default().to_string()),
        None => panic!("the SDK script gave no verdict: {answer}"),
    }
}

// ---------------------------------------------------------------------------------------
// Deliveries.

/// A Python SDK that signs: `standardwebhooks`, `svix`, or `finch` (see the module doc).
fn python_sdk_signed(sdk: &str, secret: &str, body: &str, now: SystemTime) -> HeaderMap {
    let answer = python_sdk(json!({
        "sdk": sdk, "op": "sign", "secret": secret, "msg_id": MSG_ID,
        "timestamp": unix(now).as_secs(), "body": body,
    }));
    header_map(&answer["headers"])
}

/// WorkOS's Node SDK signs `body` at `now`, checking it signed exactly these bytes.
fn workos_node_signed(secret: &str, now: SystemTime) -> HeaderMap {
    let answer = workos_node_sdk(json!({
        "op": "sign", "secret": secret, "timestamp_ms": millis(now), "body": WORKOS_BODY,
    }));
    assert_eq!(
        answer["signed_payload"], WORKOS_BODY,
        "@workos-inc/node signs JSON.stringify(event), which must be the raw body here"
    );
    header_map(&answer["headers"])
}

/// provisiond's own `sign` for `kind`, as the JSON headers object the scripts take.
fn provisiond_signed(kind: SourceKind, secret: &str, body: &str) -> Value {
    let key = SigningKey::from_secret(kind, secret).unwrap();
    let headers = sign(kind, &key, body.as_bytes(), SystemTime::now(), MSG_ID);
    headers
        .into_iter()
        .map(|(name, value)| (name.to_string(), Value::String(value)))
        .collect::<serde_json::Map<_, _>>()
        .into()
}

fn provisiond_verify(
    kind: SourceKind,
    headers: &HeaderMap,
    body: &str,
    secret: &str,
    now: SystemTime,
) -> Result<Verified, SignatureError> {
    let keys = [SigningKey::from_secret(kind, secret).unwrap()];
    verify(kind, headers, body.as_bytes(), &keys, None, now)
}

fn header_map(headers: &Value) -> HeaderMap {
    let object = headers
        .as_object()
        .unwrap_or_else(|| panic!("headers are not an object: {headers}"));
    object
        .iter()
        .map(|(name, value)| {
            (
                HeaderName::from_bytes(name.as_bytes()).unwrap(),
                HeaderValue::from_str(value.as_str().unwrap()).unwrap(),
            )
        })
        .collect()
}

/// `body` with exactly one byte changed: its last digit, so that JSON stays JSON.
fn one_byte_changed(body: &str) -> String {
    let mut bytes = body.as_bytes().to_vec();
    let last_digit = bytes.iter().rposition(u8::is_ascii_digit).unwrap();
    bytes[last_digit] = b'0' + (bytes[last_digit] - b'0' + 1) % 10;
    let changed = String::from_utf8(bytes).unwrap();
    let differing = changed.bytes().zip(body.bytes()).filter(|(a, b)| a != b);
    assert_eq!(differing.count(), 1);
    changed
}

/// The current time, to the millisecond (WorkOS's resolution).
fn now_ms() -> SystemTime {
    UNIX_EPOCH + Duration::from_millis(millis(SystemTime::now()))
}

fn unix(t: SystemTime) -> Duration {
    t.duration_since(UNIX_EPOCH).unwrap()
}

fn millis(t: SystemTime) -> u64 {
    u64::try_from(unix(t).as_millis()).unwrap()
}

/// The SDK refused the delivery because no signature matched (not, say, for its time).
fn assert_refused_as_not_matching(verdict: Result<(), String>) {
    let error = verdict.expect_err("the SDK accepted it");
    // Each SDK's wording: "No matching signature found" (standardwebhooks, svix), "None of
    // the given webhook signatures match…" (finch), "Signature hash does not match…" (workos).
    assert!(
        error.contains("match"),
        "refused for another reason: {error}"
    );
}

// ---------------------------------------------------------------------------------------
// Shared checks, one per behaviour.

/// A vector the SDK signed is accepted by `verify`, with the SDK's message id.
fn sdk_vector_is_accepted(sdk: &str, kind: SourceKind, secret: &str) {
    let now = now_ms();
    let headers = python_sdk_signed(sdk, secret, BODY, now);
    let verified = provisiond_verify(kind, &headers, BODY, secret, now)
        .unwrap_or_else(|err| panic!("{sdk}'s signature refused: {err}; headers {headers:?}"));
    assert_eq!(verified.sender_event_id.as_deref(), Some(MSG_ID));
}

fn sdk_vector_is_refused_after_one_body_byte_changes(sdk: &str, kind: SourceKind, secret: &str) {
    let now = now_ms();
    let headers = python_sdk_signed(sdk, secret, BODY, now);
    let changed = one_byte_changed(BODY);
    assert_eq!(
        provisiond_verify(kind, &headers, &changed, secret, now).unwrap_err(),
        SignatureError::Invalid
    );
}

fn sdk_vector_is_refused_with_another_secret(
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
fn python_sdk_accepts_sign_output(sdk: &str, kind: SourceKind, secret: &str, body: &str) {
    let verdict = python_sdk_verdict_on_sign(sdk, kind, secret, secret, body, body);
    assert_eq!(verdict, Ok(()));
}

/// ... and refuses it, as not matching, once one byte of the body changed.
fn python_sdk_refuses_changed_sign_output(sdk: &str, kind: SourceKind, secret: &str, body: &str) {
    let changed = one_byte_changed(body);
    let verdict = python_sdk_verdict_on_sign(sdk, kind, secret, secret, body, &changed);
    assert_refused_as_not_matching(verdict);
}

/// ... and refuses it, as not matching, under another secret.
fn python_sdk_refuses_sign_output_under_another_secret(
    sdk: &str,
    kind: SourceKind,
    secret: &str,
    other: &str,
    body: &str,
) {
    let verdict = python_sdk_verdict_on_sign(sdk, kind, secret, other, body, body);
    assert_refused_as_not_matching(verdict);
}

fn workos_node_verdict_on_sign(
    signed_with: &str,
    verified_with: &str,
    delivered_body: &str,
) -> Result<(), String> {
    let headers = provisiond_signed(SourceKind::Workos, signed_with, WORKOS_BODY);
    sdk_verdict(&workos_node_sdk(json!({
        "op": "verify", "secret": verified_with, "headers": headers, "body": delivered_body,
    })))
}

// ---------------------------------------------------------------------------------------
// standard-webhooks, signed by the PyPI `standardwebhooks` SDK.

#[test]
fn standard_webhooks_sdk_signature_is_accepted_by_verify() {
    sdk_vector_is_accepted("standardwebhooks", SourceKind::StandardWebhooks, WHSEC);
}

#[test]
fn standard_webhooks_sdk_signature_is_refused_after_one_body_byte_changes() {
    sdk_vector_is_refused_after_one_body_byte_changes(
        "standardwebhooks",
        SourceKind::StandardWebhooks,
        WHSEC,
    );
}

#[test]
fn standard_webhooks_sdk_signature_is_refused_with_another_secret() {
    sdk_vector_is_refused_with_another_secret(
        "standardwebhooks",
        SourceKind::StandardWebhooks,
        WHSEC,
        OTHER_WHSEC,
    );
}

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

#[test]
fn standard_webhooks_sdk_accepts_sign_output() {
    python_sdk_accepts_sign_output(
        "standardwebhooks",
        SourceKind::StandardWebhooks,
        WHSEC,
        BODY,
    );
}

#[test]
fn standard_webhooks_sdk_refuses_sign_output_after_one_body_byte_changes() {
    python_sdk_refuses_changed_sign_output(
        "standardwebhooks",
        SourceKind::StandardWebhooks,
        WHSEC,
        BODY,
    );
}

#[test]
fn standard_webhooks_sdk_refuses_sign_output_with_another_secret() {
    python_sdk_refuses_sign_output_under_another_secret(
        "standardwebhooks",
        SourceKind::StandardWebhooks,
        WHSEC,
        OTHER_WHSEC,
        BODY,
    );
}

// ---------------------------------------------------------------------------------------
// standard-webhooks from a Svix sender: the PyPI `svix` SDK, `svix-*` headers.

#[test]
fn svix_sdk_signature_under_svix_headers_is_accepted_by_verify() {
    sdk_vector_is_accepted("svix", SourceKind::StandardWebhooks, WHSEC);
}

#[test]
fn svix_sdk_signature_is_refused_after_one_body_byte_changes() {
    sdk_vector_is_refused_after_one_body_byte_changes("svix", SourceKind::StandardWebhooks, WHSEC);
}

#[test]
fn svix_sdk_signature_is_refused_with_another_secret() {
    sdk_vector_is_refused_with_another_secret(
        "svix",
        SourceKind::StandardWebhooks,
        WHSEC,
        OTHER_WHSEC,
    );
}

#[test]
fn svix_sdk_accepts_sign_output() {
    python_sdk_accepts_sign_output("svix", SourceKind::StandardWebhooks, WHSEC, BODY);
}

#[test]
fn svix_sdk_refuses_sign_output_after_one_body_byte_changes() {
    python_sdk_refuses_changed_sign_output("svix", SourceKind::StandardWebhooks, WHSEC, BODY);
}

#[test]
fn svix_sdk_refuses_sign_output_with_another_secret() {
    python_sdk_refuses_sign_output_under_another_secret(
        "svix",
        SourceKind::StandardWebhooks,
        WHSEC,
        OTHER_WHSEC,
        BODY,
    );
}

// ---------------------------------------------------------------------------------------
// finch: the PyPI `finch-api` SDK only verifies (`client.webhooks.verify_signature`).

#[test]
fn finch_sdk_accepted_vector_is_accepted_by_verify() {
    sdk_vector_is_accepted("finch", SourceKind::Finch, FINCH_SECRET);
}

#[test]
fn finch_sdk_accepted_vector_is_refused_after_one_body_byte_changes() {
    sdk_vector_is_refused_after_one_body_byte_changes("finch", SourceKind::Finch, FINCH_SECRET);
}

#[test]
fn finch_sdk_accepted_vector_is_refused_with_another_secret() {
    sdk_vector_is_refused_with_another_secret(
        "finch",
        SourceKind::Finch,
        FINCH_SECRET,
        OTHER_FINCH_SECRET,
    );
}

#[test]
fn finch_sdk_accepts_sign_output() {
    python_sdk_accepts_sign_output("finch", SourceKind::Finch, FINCH_SECRET, BODY);
}

#[test]
fn finch_sdk_refuses_sign_output_after_one_body_byte_changes() {
    python_sdk_refuses_changed_sign_output("finch", SourceKind::Finch, FINCH_SECRET, BODY);
}

#[test]
fn finch_sdk_refuses_sign_output_with_another_secret() {
    python_sdk_refuses_sign_output_under_another_secret(
        "finch",
        SourceKind::Finch,
        FINCH_SECRET,
        OTHER_FINCH_SECRET,
        BODY,
    );
}

// ---------------------------------------------------------------------------------------
// workos: npm `@workos-inc/node` signs (`webhooks.computeSignature`) and verifies
// (`webhooks.verifyHeader`); PyPI `workos` only verifies (`webhooks.verify_header`).

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
    let key = SigningKey::from_secret(SourceKind::Workos, WORKOS_SECRET).unwrap();
    let ours = sign(
        SourceKind::Workos,
        &key,
        WORKOS_BODY.as_bytes(),
        now,
        MSG_ID,
    );
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

#[test]
fn workos_python_sdk_accepts_sign_output() {
    python_sdk_accepts_sign_output("workos", SourceKind::Workos, WORKOS_SECRET, WORKOS_BODY);
}

#[test]
fn workos_python_sdk_refuses_sign_output_after_one_body_byte_changes() {
    python_sdk_refuses_changed_sign_output(
        "workos",
        SourceKind::Workos,
        WORKOS_SECRET,
        WORKOS_BODY,
    );
}

#[test]
fn workos_python_sdk_refuses_sign_output_with_another_secret() {
    python_sdk_refuses_sign_output_under_another_secret(
        "workos",
        SourceKind::Workos,
        WORKOS_SECRET,
        OTHER_WORKOS_SECRET,
        WORKOS_BODY,
    );
}
