//! The body extractor of the admin API's JSON requests: axum's `Bytes`, whose refusal (a
//! body over axum's default limit, one that could not be read) is the usual JSON error
//! rather than axum's plain-text answer.

use axum::extract::{FromRequest, Request};

use super::ApiError;

/// axum's default body limit (`DefaultBodyLimit`), which the admin API keeps.
pub const ADMIN_BODY_LIMIT: usize = 2 * 1024 * 1024;

/// The whole body; `413 payload_too_large` beyond [`ADMIN_BODY_LIMIT`], `400` when it
/// could not be read.
#[derive(Debug, Clone, Default)]
pub struct Bytes(pub bytes::Bytes);

impl std::ops::Deref for Bytes {
    type Target = bytes::Bytes;

    fn deref(&self) -> &bytes::Bytes {
        &self.0
    }
}

impl<S: Send + Sync> FromRequest<S> for Bytes {
    type Rejection = ApiError;

    async fn from_request(request: Request, state: &S) -> Result<Self, ApiError> {
        match bytes::Bytes::from_request(request, state).await {
            Ok(body) => Ok(Bytes(body)),
            Err(rejection) if rejection.status() == axum::http::StatusCode::PAYLOAD_TOO_LARGE => {
                Err(ApiError::PayloadTooLarge {
                    limit: ADMIN_BODY_LIMIT,
                })
            }
            Err(rejection) => Err(ApiError::BadRequest(format!(
                "the body could not be read: {}",
                rejection.body_text()
            ))),
        }
    }
}
