//! The one error type of the HTTP interface: every status and body is decided here.

use axum::http::{header, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::Json;
use serde_json::json;

#[derive(Debug, thiserror::Error)]
pub enum ApiError {
    #[error("{message}")]
    Unauthorized { code: &'static str, message: String },
    /// The caller is known but its role may not do this.
    #[error("{0}")]
    Forbidden(String),
    #[error("{message}")]
    NotFound { code: &'static str, message: String },
    #[error("request body exceeds {limit} bytes")]
    PayloadTooLarge { limit: usize },
    #[error("{0}")]
    BadRequest(String),
    /// The resource's current state does not allow the request.
    #[error("{0}")]
    Conflict(String),
    #[error("{message}")]
    Unavailable {
        message: String,
        retry_after_secs: u32,
    },
    #[error(transparent)]
    Internal(#[from] anyhow::Error),
}

impl ApiError {
    pub fn unauthorized(code: &'static str, message: impl Into<String>) -> Self {
        ApiError::Unauthorized {
            code,
            message: message.into(),
        }
    }

    pub fn not_found(code: &'static str, message: impl Into<String>) -> Self {
        ApiError::NotFound {
            code,
            message: message.into(),
        }
    }
}

impl From<sqlx::Error> for ApiError {
    fn from(error: sqlx::Error) -> Self {
        ApiError::Internal(error.into())
    }
}

fn body(status: StatusCode, code: &str, message: &str) -> Response {
    (status, Json(json!({ "error": code, "message": message }))).into_response()
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        let message = self.to_string();
        match self {
            ApiError::Unauthorized { code, .. } => body(StatusCode::UNAUTHORIZED, code, &message),
            ApiError::Forbidden(_) => body(StatusCode::FORBIDDEN, "forbidden", &message),
            ApiError::NotFound { code, .. } => body(StatusCode::NOT_FOUND, code, &message),
            ApiError::PayloadTooLarge { .. } => {
                body(StatusCode::PAYLOAD_TOO_LARGE, "payload_too_large", &message)
            }
            ApiError::BadRequest(_) => body(StatusCode::BAD_REQUEST, "bad_request", &message),
            ApiError::Conflict(_) => body(StatusCode::CONFLICT, "conflict", &message),
            ApiError::Unavailable {
                retry_after_secs, ..
            } => {
                let mut response = body(StatusCode::SERVICE_UNAVAILABLE, "unavailable", &message);
                let value = HeaderValue::from(retry_after_secs);
                response.headers_mut().insert(header::RETRY_AFTER, value);
                response
            }
            ApiError::Internal(error) => {
                // The details go to the log (inside the request's span, with its id), never
                // to the client.
                tracing::error!(error = format!("{error:#}"), "internal error");
                let text = "internal error; quote the x-request-id header when reporting it";
                body(StatusCode::INTERNAL_SERVER_ERROR, "internal", text)
            }
        }
    }
}
