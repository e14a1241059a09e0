//! The JSON shapes the handlers build with `json!` rather than from a typed struct: they
//! exist only to describe those answers in the document (the handlers reference them as
//! `#/components/schemas/<name>`). Each mirrors the `json!` of the handler named.

#![allow(dead_code)]

use chrono::{DateTime, Utc};
use serde_json::Value;
use utoipa::ToSchema;

use crate::store::dead_letters::query::{Action, Summary};

/// Every error answer (`http::error::ApiError`).
#[derive(ToSchema)]
pub struct ErrorBody {
    /// The error code: `bad_request`, `unauthorized`, `forbidden`, `missing_signature`,
    /// `invalid_signature`, `stale_timestamp`, `unknown_source`, `unknown_employee`,
    /// `unknown_dead_letter`, `unknown_job`, `payload_too_large`, `conflict`,
    /// `unavailable` or `internal`.
    pub error: String,
    /// What went wrong, for people. An internal error never says more than to quote the
    /// `x-request-id` header.
    pub message: String,
}

#[derive(ToSchema)]
pub enum AcceptedStatus {
    #[schema(rename = "accepted")]
    Accepted,
}

/// `POST /webhooks/{source}`: verified and confirmed by the broker.
#[derive(ToSchema)]
pub struct WebhookAccepted {
    pub status: AcceptedStatus,
    /// The sender's event id (or, when it has none, is too long or holds control
    /// characters or `:`, a digest): the key that dedupes the sender's retries.
    pub event_id: String,
}

#[derive(ToSchema)]
pub enum HandshakeStatus {
    /// A HiBob "Ping test", answered and not queued.
    #[schema(rename = "ok")]
    Ok,
    /// A Gusto verification token, stored for `provisiond sources` and not queued.
    #[schema(rename = "verification_received")]
    VerificationReceived,
}

/// `POST /webhooks/{source}`: a sender's subscription handshake, answered and never queued.
#[derive(ToSchema)]
pub struct HandshakeAnswer {
    pub status: HandshakeStatus,
}

#[derive(ToSchema)]
pub enum Ok {
    #[schema(rename = "ok")]
    Ok,
}

/// `GET /healthz`.
#[derive(ToSchema)]
pub struct Health {
    pub status: Ok,
}

#[derive(ToSchema)]
pub enum CheckStatus {
    #[schema(rename = "ok")]
    Ok,
    #[schema(rename = "unavailable")]
    Unavailable,
}

#[derive(ToSchema)]
pub enum WorkerStatus {
    #[schema(rename = "ok")]
    Ok,
    #[schema(rename = "stalled")]
    Stalled,
}

#[derive(ToSchema)]
pub struct ReadinessChecks {
    pub database: CheckStatus,
    /// The publisher's link, and the consumer's where the worker pool runs.
    pub broker: CheckStatus,
    /// Only where this process runs the worker pool.
    #[schema(required = false)]
    pub worker: WorkerStatus,
}

/// `GET /readyz`.
#[derive(ToSchema)]
pub struct Readiness {
    pub status: CheckStatus,
    pub checks: ReadinessChecks,
}

/// `POST /admin/dead-letters/{id}/replay`.
#[derive(ToSchema)]
pub struct DeadLetterReplayed {
    /// The id replayed.
    pub replayed: Vec<i64>,
}

#[derive(ToSchema)]
pub enum Running {
    #[schema(rename = "running")]
    Running,
}

/// `POST /admin/dead-letters/replay`: the background job started.
#[derive(ToSchema)]
pub struct ReplayJobStarted {
    /// Its id, for `GET /admin/jobs/{id}`.
    pub job: i64,
    /// Dead letters it will go through.
    #[schema(minimum = 0)]
    pub total: u64,
    pub status: Running,
}

/// `POST /admin/holds/release`.
#[derive(ToSchema)]
pub struct HoldsReleased {
    /// The holds released (their terminations published again), in order.
    pub released: Vec<i64>,
    #[schema(minimum = 0)]
    pub count: u64,
}

/// `POST /admin/holds/reject`.
#[derive(ToSchema)]
pub struct HoldsRejected {
    /// The holds rejected (the employees keep their access), in order.
    pub rejected: Vec<i64>,
    #[schema(minimum = 0)]
    pub count: u64,
}

/// `GET /admin/dead-letters/{id}`: a dead letter as the caller's role may see it.
#[derive(serde::Serialize, ToSchema)]
pub struct DeadLetterShown {
    #[serde(flatten)]
    pub summary: Summary,
    pub source_kind: String,
    pub first_failed_at: Option<DateTime<Utc>>,
    pub updated_at: DateTime<Utc>,
    /// The raw body: as text when it is UTF-8, else base64 (see `body_encoding`); `null`
    /// for the auditor role.
    pub body: Option<String>,
    /// `utf-8` or `base64`; `null` for the auditor role.
    pub body_encoding: Option<String>,
    pub headers: Value,
    pub error_chain: Value,
    pub actions: Vec<Action>,
    /// `true` when the body was withheld (the auditor role); absent otherwise.
    #[schema(required = false)]
    pub body_withheld: bool,
}
