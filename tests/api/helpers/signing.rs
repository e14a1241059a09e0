//! Webhook bodies and their signatures, made outside provisiond.

use std::io::Write;
use std::process::{Command, Stdio};

use serde_json::Value;

use super::*;

/// Headers signed by Python's `hmac` (tests/sign.py), not by provisiond.
pub fn python_sign(kind: &str, secret: &str, ts: i64, msg_id: &str, body: &[u8]) -> Value {
    let script = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/sign.py");
    let mut child = Command::new("python3")
        .args([script, kind, secret, &ts.to_string(), msg_id])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .spawn()
        .expect("python3 runs");
    child.stdin.take().unwrap().write_all(body).unwrap();
    let output = child.wait_with_output().unwrap();
    assert!(output.status.success(), "sign.py failed");
    serde_json::from_slice(&output.stdout).expect("sign.py prints JSON")
}

/// A canonical-envelope body for the `hris` (standard-webhooks) source.
pub fn hris_body(kind: &str, employee: &str, at: &str) -> Vec<u8> {
    serde_json::json!({
        "type": format!("employee.{kind}"),
        "timestamp": at,
        "data": {"id": employee, "email": format!("{employee}@example.com"),
                 "given_name": "Ada", "family_name": "Lovelace", "department": "Sales"}
    })
    .to_string()
    .into_bytes()
}

pub fn hris_headers(body: &[u8], msg_id: &str) -> Value {
    python_sign("standard-webhooks", HRIS_SECRET, now_secs(), msg_id, body)
}
