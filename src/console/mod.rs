//! The operator console under `/console`: server-rendered HTML (askama templates checked
//! at compile time), one small progressive-enhancement script, inline SVG charts. It reads
//! and acts through `services` exactly as the admin API does, with the signed-in token's
//! name as the actor.

mod assets;
mod charts;
mod dead_letters;
mod employees;
mod error;
mod guard;
mod jobs;
mod overview;
mod page;
mod report;
pub mod session;
mod signin;

use axum::extract::Request;
use axum::http::header::{
    CACHE_CONTROL, CONTENT_SECURITY_POLICY, REFERRER_POLICY, X_CONTENT_TYPE_OPTIONS,
    X_FRAME_OPTIONS,
};
use axum::http::HeaderValue;
use axum::middleware::{self, Next};
use axum::response::Response;
use axum::routing::get;
use axum::{Extension, Router};

use crate::http::AppState;

pub use error::ConsoleError;
pub use page::Page;

/// What the console needs from the configuration.
#[derive(Debug, Clone)]
pub struct Settings {
    /// `audit.deprovision_sla`: the report's default SLA.
    pub deprovision_sla: std::time::Duration,
    /// The `[audit]` section: the organisation, time zone and browser the evidence pack
    /// names and is printed with.
    pub audit: crate::config::AuditConfig,
}

/// Scripts and styles come from `/console/assets/` only; nothing inline, no frames.
const POLICY: &str = "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self'; \
                      connect-src 'self'; form-action 'self'; frame-ancestors 'none'; \
                      base-uri 'none'";

/// The console's routes, to be nested under `/console`. Its session key is made here,
/// once per process.
pub fn router(state: AppState, settings: Settings) -> Router<AppState> {
    let signed_in = Router::new()
        .route("/", get(overview::page))
        .route("/sign-out", axum::routing::post(signin::sign_out))
        .route("/dead-letters", get(dead_letters::list))
        .route("/dead-letters/replay", get(jobs::confirm).post(jobs::start))
        .route("/dead-letters/{id}", get(dead_letters::show))
        .route(
            "/dead-letters/{id}/replay",
            get(dead_letters::confirm_replay).post(dead_letters::replay),
        )
        .route(
            "/dead-letters/{id}/discard",
            get(dead_letters::confirm_discard).post(dead_letters::discard),
        )
        .route("/jobs/{id}", get(jobs::show))
        .route("/jobs/{id}/progress", get(jobs::progress))
        .route("/employees", get(employees::search))
        .route("/employees/{source}/{employee_id}", get(employees::show))
        .route("/report", get(report::page))
        .route("/report/{file}", get(report::evidence))
        .route_layer(middleware::from_fn_with_state(state, guard::guard));
    let open = Router::new()
        // A token is short: the sign-in form gets a small body limit, not axum's 2 MiB.
        .route(
            "/sign-in",
            get(signin::form)
                .post(signin::sign_in)
                .layer(axum::extract::DefaultBodyLimit::max(4096)),
        )
        .route("/assets/{file}", get(assets::serve));
    signed_in
        .merge(open)
        .fallback(error::not_found)
        .layer(middleware::from_fn(security_headers))
        .layer(Extension(session::Keys::random()))
        .layer(Extension(settings))
}

/// Every console answer: the content security policy, no framing, no sniffing, no
/// referrer outside the console (`same-origin`: with `no-referrer` a browser sends
/// `Origin: null`, which the cross-origin check refuses); pages (not assets) are never
/// stored by the browser or a proxy.
async fn security_headers(request: Request, next: Next) -> Response {
    let mut response = next.run(request).await;
    let headers = response.headers_mut();
    headers.insert(CONTENT_SECURITY_POLICY, HeaderValue::from_static(POLICY));
    headers.insert(X_FRAME_OPTIONS, HeaderValue::from_static("DENY"));
    headers.insert(X_CONTENT_TYPE_OPTIONS, HeaderValue::from_static("nosniff"));
    headers.insert(REFERRER_POLICY, HeaderValue::from_static("same-origin"));
    if !headers.contains_key(CACHE_CONTROL) {
        headers.insert(CACHE_CONTROL, HeaderValue::from_static("no-store"));
    }
    response
}
