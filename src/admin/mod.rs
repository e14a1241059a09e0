//! The admin API under `/admin`: bearer-token authenticated JSON.

pub mod audit;
pub mod dead_letters;
pub mod employees;
pub mod holds;

use axum::extract::{Request, State};
use axum::http::header::AUTHORIZATION;
use axum::middleware::{self, Next};
use axum::response::Response;
use axum::routing::{get, post};
use axum::Router;
use sha2::{Digest, Sha256};

use crate::http::{ApiError, AppState};

pub fn router(state: AppState) -> Router<AppState> {
    Router::new()
        .route(
            "/employees/{source}/{employee_id}",
            get(employees::show_handler),
        )
        .route("/audit/deprovision", get(audit::report_handler))
        .route("/audit/deprovision.html", get(audit::html_handler))
        .route("/audit/deprovision.csv", get(audit::csv_handler))
        .route("/dead-letters", get(dead_letters::list_handler))
        .route(
            "/dead-letters/replay",
            post(dead_letters::replay_many_handler),
        )
        .route("/dead-letters/{id}", get(dead_letters::show_handler))
        .route("/holds", get(holds::list_handler))
        .route("/holds/release", post(holds::release_handler))
        .route("/holds/reject", post(holds::reject_handler))
        .route(
            "/dead-letters/{id}/replay",
            post(dead_letters::replay_handler),
        )
        .route(
            "/dead-letters/{id}/discard",
            post(dead_letters::discard_handler),
        )
        .route_layer(middleware::from_fn_with_state(state, require_token))
}

async fn require_token(
    State(state): State<AppState>,
    request: Request,
    next: Next,
) -> Result<Response, ApiError> {
    let Some(expected) = &state.admin_token else {
        let message = "the admin API is disabled: set server.admin_token";
        return Err(ApiError::unauthorized("unauthorized", message));
    };
    let presented = request
        .headers()
        .get(AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.strip_prefix("Bearer "));
    match presented {
        Some(token) if tokens_match(token, expected.expose()) => Ok(next.run(request).await),
        _ => Err(ApiError::unauthorized(
            "unauthorized",
            "a valid `Authorization: Bearer <server.admin_token>` header is required",
        )),
    }
}

/// Compare digests, so the time taken says nothing about how much of the token matched.
fn tokens_match(presented: &str, expected: &str) -> bool {
    Sha256::digest(presented.as_bytes()) == Sha256::digest(expected.as_bytes())
}
