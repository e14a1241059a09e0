//! A real local HTTP server standing in for a product's provisioning endpoint: it answers
//! a scripted sequence of statuses and records every request.

use std::collections::VecDeque;
use std::sync::{Arc, Mutex};

use axum::body::Bytes;
use axum::extract::State;
use axum::http::{HeaderMap, StatusCode};
use axum::routing::post;
use axum::Router;

#[derive(Debug, Clone)]
pub struct Recorded {
    pub headers: HeaderMap,
    pub body: serde_json::Value,
}

#[derive(Default)]
struct Script {
    next: VecDeque<u16>,
    otherwise: u16,
    requests: Vec<Recorded>,
}

#[derive(Clone)]
pub struct TargetServer {
    pub url: String,
    /// The server root, for clients (SCIM) that build their own paths.
    pub base: String,
    script: Arc<Mutex<Script>>,
}

impl TargetServer {
    /// Answers `statuses` in order, then `otherwise` for every later request.
    pub async fn start(statuses: &[u16], otherwise: u16) -> TargetServer {
        let script = Arc::new(Mutex::new(Script {
            next: statuses.iter().copied().collect(),
            otherwise,
            requests: Vec::new(),
        }));
        let app = Router::new()
            .route("/provision", post(answer))
            .fallback(answer)
            .with_state(script.clone());
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let address = listener.local_addr().unwrap();
        let url = format!("http://{address}/provision");
        tokio::spawn(async move { axum::serve(listener, app).await });
        let base = format!("http://{address}");
        TargetServer { url, base, script }
    }

    pub fn set_otherwise(&self, status: u16) {
        self.script.lock().unwrap().otherwise = status;
    }

    pub fn requests(&self) -> Vec<Recorded> {
        self.script.lock().unwrap().requests.clone()
    }

    /// The `[[targets]]` entry pointing provisiond at this server.
    pub fn config(&self, name: &str) -> String {
        format!(
            "[[targets]]\nname = \"{name}\"\nkind = \"http\"\nurl = \"{}\"\n\
             secret = \"whsec_C2FVsBQIhrscChlQIMV+b5sSYspob7oD\"\ntimeout = \"2s\"\n",
            self.url
        )
    }
}

async fn answer(
    State(script): State<Arc<Mutex<Script>>>,
    headers: HeaderMap,
    body: Bytes,
) -> StatusCode {
    let mut script = script.lock().unwrap();
    let body = serde_json::from_slice(&body).unwrap_or(serde_json::Value::Null);
    script.requests.push(Recorded { headers, body });
    let status = script.next.pop_front().unwrap_or(script.otherwise);
    StatusCode::from_u16(status).unwrap()
}
