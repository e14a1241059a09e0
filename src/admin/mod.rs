//! The admin API under `/admin`: bearer-token authenticated JSON.

pub mod audit;
pub mod dead_letters;
pub mod employees;
pub mod holds;
pub mod jobs;

use axum::extract::Request;
use axum::http::header::{CACHE_CONTROL, X_CONTENT_TYPE_OPTIONS};
use axum::http::HeaderValue;
use axum::middleware::{self, Next};
use axum::response::Response;
use axum::routing::{get, post};
use axum::Router;

use crate::http::{auth, AppState};

pub fn router(state: AppState) -> Router<AppState> {
    let read = Router::new()
        .route(
            "/employees/{source}/{employee_id}",
            get(employees::show_handler),
        )
        .route("/audit/deprovision", get(audit::report_handler))
        .route("/audit/deprovision.html", get(audit::html_handler))
        .route("/audit/deprovision.csv", get(audit::csv_handler))
        .route("/audit/deprovision.pdf", get(audit::pdf_handler))
        .route("/dead-letters", get(dead_letters::list_handler))
        .route("/dead-letters/{id}", get(dead_letters::show_handler))
        .route("/holds", get(holds::list_handler))
        .route("/jobs/{id}", get(jobs::show_handler));
    let act = Router::new()
        .route(
            "/dead-letters/replay",
            post(dead_letters::replay_many_handler),
        )
        .route("/holds/release", post(holds::release_handler))
        .route("/holds/reject", post(holds::reject_handler))
        .route("/jobs/{id}/cancel", post(jobs::cancel_handler))
        .route(
            "/dead-letters/{id}/replay",
            post(dead_letters::replay_handler),
        )
        .route(
            "/dead-letters/{id}/discard",
            post(dead_letters::discard_handler),
        )
        .route_layer(middleware::from_fn(auth::require_operator));
    read.merge(act)
        .route_layer(middleware::from_fn_with_state(state, auth::require_token))
        .layer(middleware::from_fn(private_answers))
}

/// Admin answers (errors too) are never cached and never content-sniffed: they hold
/// personal data and raw payloads.
async fn private_answers(request: Request, next: Next) -> Response {
    let mut response = next.run(request).await;
    let headers = response.headers_mut();
    headers.insert(CACHE_CONTROL, HeaderValue::from_static("no-store"));
    headers.insert(X_CONTENT_TYPE_OPTIONS, HeaderValue::from_static("nosniff"));
    response
}
