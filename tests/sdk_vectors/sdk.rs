//! Running the SDK scripts, and the deliveries they and provisiond sign.

use std::io::{ErrorKind, Write};
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use axum::http::{HeaderMap, HeaderName, HeaderValue};
use provisiond::domain::SourceKind;
use provisiond::signing::{sign, verify, SignatureError, SigningKey, Verified};
use serde_json::{json, Value};

use crate::{MSG_ID, WORKOS_BODY};

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

pub(crate) fn python_sdk(request: Value) -> Value {
    run_script(
        "python3",
        "sdk_vectors.py",
        &request,
        "install the SDKs with `python3 -m pip install -r tests/vectors/requirements.txt` \
         (scripts/test does it)",
    )
}

pub(crate) fn workos_node_sdk(request: Value) -> Value {
    run_script(
        "node",
        "workos_node.mjs",
        &request,
        "install Node.js, then `npm ci` in tests/vectors (scripts/test does it)",
    )
}

/// The SDK's verdict on a delivery: `Ok` if it accepted it, its error message otherwise.
pub(crate) fn sdk_verdict(answer: &Value) -> Result<(), String> {
    match answer["ok"].as_bool() {
        Some(true) => Ok(()),
        Some(false) => Err(answer["error"].as_str().unwrap_or_default().to_string()),
        None => panic!("the SDK script gave no verdict: {answer}"),
    }
}

// ---------------------------------------------------------------------------------------
// Deliveries.

/// A Python SDK that signs: `standardwebhooks`, `svix`, or `finch` (see the crate doc in main.rs).
pub(crate) fn python_sdk_signed(sdk: &str, secret: &str, body: &str, now: SystemTime) -> HeaderMap {
    let answer = python_sdk(json!({
        "sdk": sdk, "op": "sign", "secret": secret, "msg_id": MSG_ID,
        "timestamp": unix(now).as_secs(), "body": body,
    }));
    header_map(&answer["headers"])
}

/// WorkOS's Node SDK signs `body` at `now`, checking it signed exactly these bytes.
pub(crate) fn workos_node_signed(secret: &str, now: SystemTime) -> HeaderMap {
    let answer = workos_node_sdk(json!({
        "op": "sign", "secret": secret, "timestamp_ms": millis(now), "body": WORKOS_BODY,
    }));
    assert_eq!(
        answer["signed_payload"], WORKOS_BODY,
        "@workos-inc/node signs JSON.stringify(event), which must be the raw body here"
    );
    header_map(&answer["headers"])
}

/// provisiond's own `sign` for `kind` with `secret` at `now`, with the test message id.
pub(crate) fn provisiond_sign(
    kind: SourceKind,
    secret: &str,
    body: &str,
    now: SystemTime,
) -> Vec<(&'static str, String)> {
    let key = SigningKey::from_secret(kind, secret).unwrap();
    sign(kind, &key, body.as_bytes(), now, MSG_ID)
}

/// provisiond's own `sign` for `kind`, as the JSON headers object the scripts take.
pub(crate) fn provisiond_signed(kind: SourceKind, secret: &str, body: &str) -> Value {
    provisiond_sign(kind, secret, body, SystemTime::now())
        .into_iter()
        .map(|(name, value)| (name.to_string(), Value::String(value)))
        .collect::<serde_json::Map<_, _>>()
        .into()
}

pub(crate) fn provisiond_verify(
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
pub(crate) fn one_byte_changed(body: &str) -> String {
    let mut bytes = body.as_bytes().to_vec();
    let last_digit = bytes.iter().rposition(u8::is_ascii_digit).unwrap();
    bytes[last_digit] = b'0' + (bytes[last_digit] - b'0' + 1) % 10;
    let changed = String::from_utf8(bytes).unwrap();
    let differing = changed.bytes().zip(body.bytes()).filter(|(a, b)| a != b);
    assert_eq!(differing.count(), 1);
    changed
}

/// The current time, to the millisecond (WorkOS's resolution).
pub(crate) fn now_ms() -> SystemTime {
    UNIX_EPOCH + Duration::from_millis(millis(SystemTime::now()))
}

fn unix(t: SystemTime) -> Duration {
    t.duration_since(UNIX_EPOCH).unwrap()
}

fn millis(t: SystemTime) -> u64 {
    u64::try_from(unix(t).as_millis()).unwrap()
}
