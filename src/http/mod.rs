//! The HTTP interface: router, shared state, health, readiness and metrics.

pub mod auth;
pub mod body;
pub mod budget;
pub mod error;
pub mod query;
pub mod serve;

use std::collections::HashMap;
use std::sync::Arc;
use std::time::Duration;

use axum::extract::State;
use axum::http::{HeaderName, HeaderValue, Request, StatusCode};
use axum::response::IntoResponse;
use axum::routing::get;
use axum::{Json, Router};
use metrics_exporter_prometheus::PrometheusHandle;
use serde_json::json;
use sqlx::PgPool;
use tower_http::request_id::{
    MakeRequestId, PropagateRequestIdLayer, RequestId, SetRequestIdLayer,
};
use tower_http::trace::{DefaultOnFailure, TraceLayer};
use tracing::Level;

use crate::config::SourceConfig;
use crate::queue::Publisher;
use crate::worker::WorkerPool;

pub use error::ApiError;

#[derive(Clone)]
pub struct AppState {
    pub sources: Arc<HashMap<String, SourceConfig>>,
    /// Whether this process accepts webhooks (`serve --role all|receiver`).
    pub receives: bool,
    pub publisher: Option<Publisher>,
    pub workers: Option<WorkerPool>,
    pub pool: PgPool,
    pub admin_tokens: Arc<auth::AdminTokens>,
    pub max_body_bytes: usize,
    /// Bytes of unverified webhook bodies buffered at once (`server.max_inflight_bytes`).
    pub body_budget: budget::BodyBudget,
    pub retry_after_secs: u32,
    pub metrics: PrometheusHandle,
}

const REQUEST_ID: HeaderName = HeaderName::from_static("x-request-id");

/// The main listener: `routes` (the webhook and admin routes startup assembles) with the
/// probes, behind the request id, tracing, time limit and path checks every route gets.
/// With `serve_metrics` false (`server.ops_listen` set), `/metrics` is left to the ops
/// listener ([`ops_router`]).
pub fn router(
    routes: Router<AppState>,
    state: AppState,
    request_timeout: Duration,
    serve_metrics: bool,
) -> Router {
    let trace = TraceLayer::new_for_http().make_span_with(|request: &Request<_>| {
        let id = request.headers().get(&REQUEST_ID);
        let id = id.and_then(|v| v.to_str().ok()).unwrap_or("-");
        tracing::info_span!("http", method = %request.method(), path = %request.uri().path(), request_id = %id)
    })
    // 5xx answers are mostly expected 503s (not ready yet, broker down, Retry-After);
    // real internal errors are logged at ERROR where they happen, with the request id.
    .on_failure(DefaultOnFailure::new().level(Level::WARN));
    // One layer call, so each route is boxed once with the whole stack inside it: every
    // `Router::layer` boxes every route again (a clone and a boxed future per request per
    // layer), and each `from_fn` boxes its inner service and future too. Without any of
    // the six layers a receiver spent about a third less CPU per webhook (docs/
    // performance.md); request-id filtering is now a plain `map_request`, the path check
    // and the time limit one `from_fn`, in the same order as before (outermost first).
    let edge = tower::ServiceBuilder::new()
        .map_request(own_request_id)
        .layer(SetRequestIdLayer::new(REQUEST_ID, CheapRequestUuid))
        .layer(trace)
        .layer(PropagateRequestIdLayer::new(REQUEST_ID))
        .layer(axum::middleware::from_fn_with_state(
            (state.retry_after_secs, request_timeout),
            printable_target_in_time,
        ));
    routes
        .merge(health_routes())
        .merge(metrics_route(serve_metrics))
        .layer(edge)
        .with_state(state)
}

/// The ops listener's routes (`server.ops_listen`): health, readiness and metrics only.
pub fn ops_router(state: AppState) -> Router {
    health_routes().merge(metrics_route(true)).with_state(state)
}

fn health_routes() -> Router<AppState> {
    Router::new()
        .route("/healthz", get(healthz))
        .route("/readyz", get(readyz))
}

fn metrics_route(serve_metrics: bool) -> Router<AppState> {
    let routes = Router::new();
    if serve_metrics {
        routes.route("/metrics", get(metrics))
    } else {
        routes
    }
}

/// `x-request-id` for a request that came without an acceptable one: a random (version 4)
/// UUID, like `tower_http`'s `MakeRequestUuid`, but drawn from a per-thread generator
/// seeded once from the OS (SipHash of a counter under the thread's random keys) rather
/// than a `getrandom` system call per request. An id only correlates log lines; it
/// guards nothing.
#[derive(Clone, Copy, Default)]
struct CheapRequestUuid;

impl MakeRequestId for CheapRequestUuid {
    fn make_request_id<B>(&mut self, _request: &Request<B>) -> Option<RequestId> {
        let uuid = uuid::Builder::from_random_bytes(random_bytes()).into_uuid();
        let mut text = [0u8; uuid::fmt::Hyphenated::LENGTH];
        let text = uuid.hyphenated().encode_lower(&mut text);
        HeaderValue::from_str(text).ok().map(RequestId::new)
    }
}

/// 16 bytes that never repeat in practice (two outputs of a keyed PRF over a counter).
fn random_bytes() -> [u8; 16] {
    use std::cell::Cell;
    use std::hash::{BuildHasher, RandomState};
    thread_local! {
        static KEYS: RandomState = RandomState::new();
        static COUNTER: Cell<u64> = const { Cell::new(0) };
    }
    let n = COUNTER.with(|c| {
        let n = c.get();
        c.set(n.wrapping_add(2));
        n
    });
    let (high, low) = KEYS.with(|keys| (keys.hash_one(n), keys.hash_one(n + 1)));
    let mut bytes = [0u8; 16];
    bytes[..8].copy_from_slice(&high.to_le_bytes());
    bytes[8..].copy_from_slice(&low.to_le_bytes());
    bytes
}

/// Longest client-chosen `x-request-id` kept.
const MAX_REQUEST_ID_LEN: usize = 64;

/// A client's `x-request-id` is kept only when short and printable (it is echoed and
/// logged); any other is dropped, and one of ours is made in its place.
fn own_request_id<B>(mut request: Request<B>) -> Request<B> {
    let acceptable = |v: &HeaderValue| {
        let bytes = v.as_bytes();
        !bytes.is_empty()
            && bytes.len() <= MAX_REQUEST_ID_LEN
            && bytes.iter().all(|b| b.is_ascii_graphic())
    };
    if request
        .headers()
        .get(&REQUEST_ID)
        .is_some_and(|v| !acceptable(v))
    {
        request.headers_mut().remove(&REQUEST_ID);
    }
    request
}

/// A path or query with control characters once percent-decoded (a NUL no database text
/// can hold) is a bad request, answered before any handler sees it. A request that takes
/// longer than `server.request_timeout` is answered `503` with the usual JSON error and
/// `Retry-After`: the sender tries again.
async fn printable_target_in_time(
    State((retry_after_secs, limit)): State<(u32, Duration)>,
    request: axum::extract::Request,
    next: axum::middleware::Next,
) -> axum::response::Response {
    let uri = request.uri();
    let decoded = |text: &str| -> bool {
        percent_encoding::percent_decode_str(text)
            .decode_utf8()
            .map_or(true, |t| t.chars().any(char::is_control))
    };
    if decoded(uri.path()) || uri.query().is_some_and(decoded) {
        let message = "the path or query has control characters or is not UTF-8";
        return error::ApiError::BadRequest(message.into()).into_response();
    }
    match tokio::time::timeout(limit, next.run(request)).await {
        Ok(response) => response,
        Err(_) => error::ApiError::Unavailable {
            message: format!(
                "the request took longer than {}",
                humantime::format_duration(limit)
            ),
            retry_after_secs,
        }
        .into_response(),
    }
}

#[utoipa::path(
    get,
    path = "/healthz",
    operation_id = "healthz",
    tag = "probes",
    responses((status = 200, description = "The process runs", body = ref("#/components/schemas/Health")))
)]
async fn healthz() -> impl IntoResponse {
    Json(json!({ "status": "ok" }))
}

/// 200 only when every dependency this process's role needs answers, and the worker
/// pool (if this process runs one) is not stalled.
#[utoipa::path(
    get,
    path = "/readyz",
    operation_id = "readyz",
    tag = "probes",
    responses(
        (status = 200, description = "Ready: every dependency this role needs answers", body = ref("#/components/schemas/Readiness")),
        (status = 503, description = "Not ready (`checks` says which)", body = ref("#/components/schemas/Readiness")),
    )
)]
async fn readyz(State(state): State<AppState>) -> impl IntoResponse {
    let ping = crate::store::ping(&state.pool);
    let database = tokio::time::timeout(Duration::from_secs(2), ping)
        .await
        .unwrap_or(false);
    let broker = state.publisher.as_ref().is_none_or(Publisher::is_connected)
        && state.workers.as_ref().is_none_or(WorkerPool::is_consuming);
    let stalled = state.workers.as_ref().is_some_and(WorkerPool::stalled);
    let word = |ok: bool| if ok { "ok" } else { "unavailable" };
    let ready = database && broker && !stalled;
    let status = if ready {
        StatusCode::OK
    } else {
        StatusCode::SERVICE_UNAVAILABLE
    };
    let mut checks = json!({ "database": word(database), "broker": word(broker) });
    if state.workers.is_some() {
        checks["worker"] = json!(if stalled { "stalled" } else { "ok" });
    }
    let body = json!({ "status": word(ready), "checks": checks });
    (status, Json(body))
}

#[utoipa::path(
    get,
    path = "/metrics",
    operation_id = "metrics",
    tag = "probes",
    description = "On the main listener only while `server.ops_listen` is not set (else on the \
                   ops listener, and a routing `404` here).",
    responses((
        status = 200,
        description = "Prometheus text exposition",
        content_type = "text/plain; version=0.0.4; charset=utf-8",
        body = String
    ))
)]
async fn metrics(State(state): State<AppState>) -> impl IntoResponse {
    state.metrics.run_upkeep();
    let content_type = "text/plain; version=0.0.4; charset=utf-8";
    (
        [(axum::http::header::CONTENT_TYPE, content_type)],
        state.metrics.render(),
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn request_ids_made_here_are_distinct_version_4_uuids() {
        let request = Request::new(());
        let mut make = CheapRequestUuid;
        let mut seen = std::collections::HashSet::new();
        for _ in 0..1000 {
            let id = make.make_request_id(&request).unwrap();
            let text = id.header_value().to_str().unwrap().to_owned();
            let uuid = uuid::Uuid::parse_str(&text).unwrap();
            assert_eq!(uuid.get_version_num(), 4, "{text}");
            assert!(seen.insert(text));
        }
        let other = std::thread::spawn(move || {
            CheapRequestUuid.make_request_id(&Request::new(())).unwrap()
        });
        let other = other
            .join()
            .unwrap()
            .header_value()
            .to_str()
            .unwrap()
            .to_owned();
        assert!(!seen.contains(&other));
    }
}
