//! What the tests of the http and scim targets share, among it a scripted local server.

use std::sync::{Arc, Mutex};
use std::time::Duration;

use axum::body::Bytes;
use axum::extract::State;
use axum::http::{HeaderMap, Method, StatusCode, Uri};
use axum::response::{AppendHeaders, IntoResponse, Response};
use axum::Router;
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

/// One request as the scripted server got it.
#[derive(Debug, Clone)]
pub struct Recorded {
    pub method: Method,
    /// Path and query, as sent.
    pub target: String,
    pub headers: HeaderMap,
    pub body: Bytes,
}

impl Recorded {
    pub fn header(&self, name: &str) -> &str {
        self.headers.get(name).unwrap().to_str().unwrap()
    }
}

/// The status, headers and body the scripted server answers.
pub type Answer = (u16, Vec<(&'static str, String)>, String);

type Script = Arc<dyn Fn(&Recorded) -> Answer + Send + Sync>;

#[derive(Clone)]
struct ScriptState {
    script: Script,
    requests: Arc<Mutex<Vec<Recorded>>>,
}

pub struct Scripted {
    /// The server's address followed by the path given to [`scripted`].
    pub url: String,
    requests: Arc<Mutex<Vec<Recorded>>>,
}

impl Scripted {
    pub fn requests(&self) -> Vec<Recorded> {
        self.requests.lock().unwrap().clone()
    }
}

/// A local server that records each request and answers what `script` says. It accepts
/// connections as soon as it is bound, so no waiting is needed.
pub async fn scripted(
    path: &str,
    script: impl Fn(&Recorded) -> Answer + Send + Sync + 'static,
) -> Scripted {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!("http://{}{path}", listener.local_addr().unwrap());
    let requests = Arc::new(Mutex::new(Vec::new()));
    let state = ScriptState {
        script: Arc::new(script),
        requests: requests.clone(),
    };
    let app = Router::new().fallback(answer_scripted).with_state(state);
    tokio::spawn(async move { axum::serve(listener, app).await });
    Scripted { url, requests }
}

async fn answer_scripted(
    State(state): State<ScriptState>,
    method: Method,
    uri: Uri,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    let recorded = Recorded {
        method,
        target: uri.path_and_query().unwrap().to_string(),
        headers,
        body,
    };
    let (status, headers, body) = (state.script)(&recorded);
    state.requests.lock().unwrap().push(recorded);
    let status = StatusCode::from_u16(status).unwrap();
    (status, AppendHeaders(headers), body).into_response()
}
