//! `POST /webhooks/{source}`: verify on the raw bytes, publish with confirm, then 202.

use std::time::SystemTime;

use axum::body::Body;
use axum::body::HttpBody;
use axum::extract::{Path, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::Json;
use bytes::{Bytes, BytesMut};
use chrono::Utc;
use http_body_util::BodyExt;
use serde_json::json;
use sha2::{Digest, Sha256};
use tracing::Instrument;

use super::handshake::{self, Handshake};
use crate::config::SourceConfig;
use crate::domain::message::QueueMessage;
use crate::domain::Trigger;
use crate::http::budget::{self, Reservation};
use crate::http::{ApiError, AppState};
use crate::signing::{self, SignatureError};

/// Sender ids longer than this are replaced by the body hash (they are keys in the inbox).
const MAX_EVENT_ID_LEN: usize = 200;

#[utoipa::path(
    post,
    path = "/webhooks/{source}",
    operation_id = "receive_webhook",
    tag = "webhooks",
    description = "Verify the body's signature (the headers of the source's kind; the body \
                   is read as bytes, whatever its content type), publish it with confirm, \
                   then `202`. A sender's subscription handshake (a HiBob ping, a Gusto \
                   verification token while the source has no secret) is answered `200` \
                   and never queued.",
    params(
        ("source" = String, Path, description = "A configured `[[sources]]` name", example = "hris"),
        ("webhook-id" = Option<String>, Header, description = "standard-webhooks (or `svix-id`): the event id"),
        ("webhook-timestamp" = Option<String>, Header, description = "standard-webhooks (or `svix-timestamp`): Unix seconds"),
        ("webhook-signature" = Option<String>, Header, description = "standard-webhooks (or `svix-signature`): `v1,<base64>` tags"),
        ("x-merge-webhook-signature" = Option<String>, Header, description = "merge: base64url HMAC-SHA256"),
        ("workos-signature" = Option<String>, Header, description = "workos: `t=<ms>, v1=<hex>`"),
        ("x-bamboohr-signature" = Option<String>, Header, description = "bamboohr: hex HMAC-SHA256"),
        ("x-bamboohr-timestamp" = Option<String>, Header, description = "bamboohr: Unix seconds or ISO 8601"),
        ("x-gusto-signature" = Option<String>, Header, description = "gusto: hex HMAC-SHA256"),
        ("bob-signature" = Option<String>, Header, description = "hibob: base64 HMAC-SHA512"),
        ("x-deel-signature" = Option<String>, Header, description = "deel: hex HMAC-SHA256"),
        ("finch-event-id" = Option<String>, Header, description = "finch: the event id"),
        ("finch-timestamp" = Option<String>, Header, description = "finch: Unix seconds"),
        ("finch-signature" = Option<String>, Header, description = "finch: `v1,<base64>` tags"),
    ),
    request_body(
        description = "The sender's payload, exactly as signed (at most `server.max_body_bytes`)",
        content(("application/json"), ("text/plain"))
    ),
    responses(
        (status = 202, description = "Verified and queued (the broker confirmed)", body = ref("#/components/schemas/WebhookAccepted")),
        (status = 200, description = "A handshake, answered and not queued", body = ref("#/components/schemas/HandshakeAnswer")),
        (status = 400, description = "The body could not be read (the client went away), or the path or query has control characters", body = ref("#/components/schemas/ErrorBody")),
        (status = 401, description = "`missing_signature`, `invalid_signature` or `stale_timestamp`", body = ref("#/components/schemas/ErrorBody")),
        (status = 404, description = "`unknown_source`: no source of that name", body = ref("#/components/schemas/ErrorBody")),
        (status = 413, description = "`payload_too_large`: over `server.max_body_bytes` (declared or read)", body = ref("#/components/schemas/ErrorBody")),
        (status = 503, description = "`unavailable`: the broker did not confirm, unverified bodies fill `server.max_inflight_bytes`, this process does not receive, or the request took too long; nothing was queued, retry after `Retry-After`", body = ref("#/components/schemas/ErrorBody")),
    )
)]
pub async fn receive(
    State(state): State<AppState>,
    Path(source): Path<String>,
    headers: HeaderMap,
    body: Body,
) -> Result<Response, ApiError> {
    let Some(config) = state.sources.get(&source) else {
        let _span = span(&source).entered();
        super::rejected::unknown_source(&source);
        let message = format!("no webhook source named `{source}`");
        return Err(ApiError::not_found("unknown_source", message));
    };
    let source = config.name.as_str();
    let counters = super::counters::of(source);
    counters.received.increment(1);
    let received_at = Utc::now();
    let (body, reservation) = read_body(body, &state).await.inspect_err(|error| {
        let reason = match error {
            ApiError::PayloadTooLarge { .. } => "payload_too_large",
            ApiError::Unavailable { .. } => "inflight_bytes_exhausted",
            _ => "unreadable_body",
        };
        reject(source, reason);
    })?;
    let keys = config.keys();
    let now = SystemTime::now();
    let tolerance = config.effective_tolerance();
    let verified = match signing::verify(config.kind, &headers, &body, keys, tolerance, now) {
        Ok(verified) => verified,
        Err(error) => match handshake::detect(config.kind, &body, !keys.is_empty()) {
            Some(found) => {
                let answer = answer_handshake(&state, config, found);
                return answer.instrument(span(source)).await;
            }
            None => return Err(signature_error(source, error)),
        },
    };
    // Verified: its bytes no longer count against the budget of unauthenticated bodies.
    drop(reservation);
    let event_id = match verified.sender_event_id {
        // An id is a key everywhere (inbox, logs, dead letters): one with control
        // characters (a NUL, a newline forging a log line) is replaced by its digest, which
        // still dedupes the sender's retries. So is one with a `:`, the separator of the
        // ids provisiond derives (`<id>:effective`, `<id>:start`, `<id>:released`,
        // `reconcile:…`): a sender's id can never take the inbox slot of one of those.
        Some(id) if id.chars().any(|c| c.is_control() || c == ':') => {
            format!("id-sha256:{}", hex::encode(Sha256::digest(id.as_bytes())))
        }
        Some(id) if !id.is_empty() && id.len() <= MAX_EVENT_ID_LEN => id,
        _ => hex::encode(Sha256::digest(&body)),
    };
    let message = QueueMessage {
        source: source.to_owned(),
        source_kind: config.kind,
        event_id,
        received_at,
        published_at: None,
        attempt: 0,
        first_failed_at: None,
        trigger: Trigger::Webhook,
        body,
    };
    publish(&state, &message, &counters.published).await?;
    let body = Accepted {
        event_id: &message.event_id,
        status: "accepted",
    };
    Ok((StatusCode::ACCEPTED, Json(body)).into_response())
}

/// The `202` body: `{"event_id":…,"status":"accepted"}`, the keys in the order a
/// `serde_json::Value` writes them (sorted), without building one per request.
#[derive(serde::Serialize)]
struct Accepted<'a> {
    event_id: &'a str,
    status: &'static str,
}

/// The span of a webhook's log lines (a rejection, a handshake, an unconfirmed publish),
/// under the request's: made only when there is something to log, so an accepted webhook
/// does not pay for one.
fn span(source: &str) -> tracing::Span {
    tracing::info_span!("receive", source = %source)
}

/// A sender's subscription handshake: answered 200, never queued (see `webhook::handshake`).
async fn answer_handshake(
    state: &AppState,
    config: &SourceConfig,
    found: Handshake,
) -> Result<Response, ApiError> {
    let source = config.name.as_str();
    metrics::counter!("provisiond_webhook_handshakes_total", "source" => source.to_owned())
        .increment(1);
    if let Handshake::VerificationToken {
        token,
        subscription,
    } = found
    {
        let kind = config.kind.as_str();
        crate::store::handshakes::record(&state.pool, source, kind, &token).await?;
        // The token is the future signing key: it is stored, never logged.
        tracing::warn!(
            %source,
            subscription = subscription.as_deref().unwrap_or("-"),
            "verification token received: `provisiond sources` shows it; send it to the \
             sender's verify endpoint and add it to this source's `secrets`"
        );
        let body = json!({ "status": "verification_received" });
        return Ok((StatusCode::OK, Json(body)).into_response());
    }
    tracing::info!(%source, "connection test answered");
    Ok((StatusCode::OK, Json(json!({ "status": "ok" }))).into_response())
}

async fn publish(
    state: &AppState,
    message: &QueueMessage,
    published: &metrics::Counter,
) -> Result<(), ApiError> {
    let unavailable = |detail: String| ApiError::Unavailable {
        message: detail,
        retry_after_secs: state.retry_after_secs,
    };
    let publisher = match &state.publisher {
        Some(publisher) if state.receives => publisher,
        _ => return Err(unavailable("this process does not receive webhooks".into())),
    };
    match publisher.publish(message).await {
        Ok(_) => {
            published.increment(1);
            Ok(())
        }
        Err(error) => {
            let _span = span(&message.source).entered();
            super::rejected::record(&message.source, "broker_unavailable");
            tracing::warn!(event_id = %message.event_id, %error, "publish not confirmed; answering 503");
            Err(unavailable(
                "the event could not be queued; retry later".into(),
            ))
        }
    }
}

/// The body, up to `server.max_body_bytes`: beyond it `413` (a sender does not retry that),
/// refused from its `Content-Length` before any byte is read. Its bytes are reserved in the
/// in-flight budget (`server.max_inflight_bytes`) as declared or as they arrive; when the
/// budget has no room right now, `503` with `Retry-After`. A body that could not be read
/// (the client went away, the connection broke) is not "too large" but a `400`.
async fn read_body(body: Body, state: &AppState) -> Result<(Bytes, Reservation), ApiError> {
    let limit = state.max_body_bytes;
    let busy = |_: budget::Exhausted| ApiError::Unavailable {
        message: "the receiver is busy reading other webhook bodies; retry later".into(),
        retry_after_secs: state.retry_after_secs,
    };
    let too_large = || ApiError::PayloadTooLarge { limit };
    let declared = body.size_hint().exact().map(usize::try_from);
    let declared = match declared {
        Some(Ok(bytes)) if bytes <= limit => bytes,
        Some(_) => return Err(too_large()),
        None => 0,
    };
    let mut reservation = state.body_budget.reservation();
    reservation.grow_to(declared).map_err(busy)?;
    let mut buffer = BytesMut::with_capacity(declared);
    let mut body = body;
    while let Some(frame) = body.frame().await {
        let frame = frame.map_err(|error| {
            ApiError::BadRequest(format!("the body could not be read: {error}"))
        })?;
        let Ok(data) = frame.into_data() else {
            continue; // trailers
        };
        let total = buffer.len() + data.len();
        if total > limit {
            return Err(too_large());
        }
        reservation.grow_to(total).map_err(busy)?;
        buffer.extend_from_slice(&data);
    }
    Ok((buffer.freeze(), reservation))
}

fn signature_error(source: &str, error: SignatureError) -> ApiError {
    reject(source, error.code());
    let message = match error {
        SignatureError::Missing => "the signature headers for this source are missing",
        SignatureError::Invalid => "the signature does not match the body",
        SignatureError::Stale => "the signature timestamp is outside the allowed window",
    };
    ApiError::unauthorized(error.code(), message)
}

fn reject(source: &str, reason: &'static str) {
    let _span = span(source).entered();
    super::rejected::record(source, reason);
}

#[cfg(test)]
mod tests {
    use super::*;

    fn state(max_body_bytes: usize, max_inflight_bytes: usize) -> AppState {
        let pool = sqlx::PgPool::connect_lazy("postgres://unused@127.0.0.1/unused").unwrap();
        AppState {
            sources: Default::default(),
            receives: true,
            publisher: None,
            workers: None,
            pool,
            admin_tokens: Default::default(),
            max_body_bytes,
            body_budget: budget::BodyBudget::new(max_inflight_bytes),
            retry_after_secs: 3,
            metrics: crate::telemetry::metrics_handle(),
        }
    }

    fn streamed(chunks: Vec<Result<Bytes, std::io::Error>>) -> Body {
        Body::from_stream(futures::stream::iter(chunks))
    }

    /// A body of `count` chunks of `chunk`, with no length known in advance.
    fn repeated(chunk: &'static [u8], count: usize) -> Body {
        streamed((0..count).map(|_| Ok(Bytes::from_static(chunk))).collect())
    }

    #[tokio::test]
    async fn a_body_over_the_limit_is_too_large_and_a_broken_one_is_a_bad_request() {
        let state = state(10, 100);
        let big = Body::from(vec![b'x'; 11]);
        let error = read_body(big, &state).await.unwrap_err();
        assert!(matches!(error, ApiError::PayloadTooLarge { limit: 10 }));
        let chunked = repeated(b"123456", 2);
        let error = read_body(chunked, &state).await.unwrap_err();
        assert!(matches!(error, ApiError::PayloadTooLarge { limit: 10 }));
        let broken = streamed(vec![
            Ok(Bytes::from_static(b"{\"a\":")),
            Err(std::io::Error::other("connection reset by peer")),
        ]);
        let error = read_body(broken, &state).await.unwrap_err();
        assert!(matches!(error, ApiError::BadRequest(_)), "{error:?}");
    }

    #[tokio::test]
    async fn bodies_beyond_the_inflight_budget_are_unavailable_until_it_is_given_back() {
        let state = state(10, 16);
        let (first, held) = read_body(Body::from(vec![b'a'; 10]), &state).await.unwrap();
        assert_eq!((first.len(), held.bytes()), (10, 10));
        let error = read_body(Body::from(vec![b'b'; 7]), &state)
            .await
            .unwrap_err();
        let ApiError::Unavailable {
            retry_after_secs, ..
        } = error
        else {
            panic!("expected 503, got {error:?}");
        };
        assert_eq!(retry_after_secs, 3);
        let chunked = repeated(b"1234", 2);
        let error = read_body(chunked, &state).await.unwrap_err();
        assert!(matches!(error, ApiError::Unavailable { .. }), "{error:?}");
        drop(held);
        let (body, _) = read_body(Body::from(vec![b'c'; 10]), &state).await.unwrap();
        assert_eq!(&body[..], &[b'c'; 10]);
    }
}
