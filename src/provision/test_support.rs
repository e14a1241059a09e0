//! What the tests of the http and scim targets share.

use std::time::Duration;

use chrono::{DateTime, Utc};
use serde::de::DeserializeOwned;
use serde_json::Value;

use crate::provision::error::TargetError;

pub fn at(s: &str) -> DateTime<Utc> {
    s.parse().unwrap()
}

/// A kind's options (`HttpOptions`, `ScimOptions`) read as the configuration reads them.
pub fn options<T: DeserializeOwned>(options: Value) -> T {
    serde_json::from_value(options).unwrap()
}

pub fn transient(result: Result<(), TargetError>) -> (String, Option<Duration>) {
    match result {
        Err(TargetError::Transient {
            message,
            retry_after,
        }) => (message, retry_after),
        other => panic!("expected a transient error, got {other:?}"),
    }
}

pub fn permanent(result: Result<(), TargetError>) -> String {
    match result {
        Err(TargetError::Permanent { message }) => message,
        other => panic!("expected a permanent error, got {other:?}"),
    }
}
