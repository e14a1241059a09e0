//! The dead-letter log: every event that could not be applied, kept whole for replay.

pub mod query;

use crate::domain::SYSTEM_ACTOR;
use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use sqlx::PgPool;

use super::audit_log;

/// Why an event ended in the log.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "snake_case")]
#[schema(as = DeadLetterReason)]
pub enum Reason {
    PermanentError,
    AttemptsExhausted,
    DeliveryLimit,
    Unparseable,
    /// A queue message without a valid provisiond signature: never applied, never replayed.
    Unauthenticated,
}

impl Reason {
    pub fn as_str(self) -> &'static str {
        match self {
            Reason::PermanentError => "permanent_error",
            Reason::AttemptsExhausted => "attempts_exhausted",
            Reason::DeliveryLimit => "delivery_limit",
            Reason::Unparseable => "unparseable",
            Reason::Unauthenticated => "unauthenticated",
        }
    }
}

#[derive(Debug, Clone)]
pub struct NewDeadLetter<'a> {
    pub source: &'a str,
    pub source_kind: &'a str,
    pub event_id: &'a str,
    pub employee_id: Option<&'a str>,
    pub kind: Option<&'a str>,
    pub reason: Reason,
    pub body: &'a [u8],
    pub headers: serde_json::Value,
    pub last_error: &'a str,
    pub error_chain: &'a [String],
    pub attempts: i32,
    pub first_received_at: DateTime<Utc>,
    pub first_failed_at: Option<DateTime<Utc>>,
}

/// The texts of a dead letter made storable: control characters (PostgreSQL refuses NUL in
/// `text` and `jsonb`) replaced, an event id with them replaced by its digest.
pub struct Storable {
    source: String,
    event_id: String,
    employee_id: Option<String>,
    last_error: String,
    error_chain: Vec<String>,
    headers: serde_json::Value,
}

impl Storable {
    pub fn of(letter: &NewDeadLetter<'_>) -> Storable {
        let clean = |text: &str| -> String {
            text.chars()
                .map(|c| if c == '\0' { '\u{fffd}' } else { c })
                .collect()
        };
        let event_id = if letter.event_id.chars().any(char::is_control) {
            use sha2::{Digest, Sha256};
            let digest = Sha256::digest(letter.event_id.as_bytes());
            format!("id-sha256:{}", hex::encode(digest))
        } else {
            letter.event_id.to_owned()
        };
        let headers = clean(&letter.headers.to_string()).replace("\\u0000", "\\ufffd");
        Storable {
            source: clean(letter.source),
            event_id,
            employee_id: letter.employee_id.map(clean),
            last_error: clean(letter.last_error),
            error_chain: letter.error_chain.iter().map(|e| clean(e)).collect(),
            headers: serde_json::from_str(&headers).unwrap_or_default(),
        }
    }

    /// `letter` with these texts.
    pub fn letter<'a>(&'a self, letter: &NewDeadLetter<'a>) -> NewDeadLetter<'a> {
        NewDeadLetter {
            source: &self.source,
            event_id: &self.event_id,
            employee_id: self.employee_id.as_deref(),
            last_error: &self.last_error,
            error_chain: &self.error_chain,
            headers: self.headers.clone(),
            ..*letter
        }
    }
}

/// Write (or return to `dead`) the event's row and log the action, in one transaction.
/// The caller acks the message only after this returns, so a crash in between
/// dead-letters twice (same row) rather than losing the event.
pub async fn record(pool: &PgPool, letter: &NewDeadLetter<'_>) -> Result<i64, sqlx::Error> {
    let mut tx = pool.begin().await?;
    let id: i64 = sqlx::query_scalar(
        "INSERT INTO dead_letters (source, source_kind, event_id, employee_id, kind, reason, \
         body, headers, last_error, error_chain, attempts, first_received_at, first_failed_at) \
         VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13) \
         ON CONFLICT (source, event_id) DO UPDATE SET status = 'dead', \
         reason = EXCLUDED.reason, last_error = EXCLUDED.last_error, \
         error_chain = EXCLUDED.error_chain, attempts = EXCLUDED.attempts, \
         employee_id = COALESCE(EXCLUDED.employee_id, dead_letters.employee_id), \
         kind = COALESCE(EXCLUDED.kind, dead_letters.kind), \
         first_failed_at = COALESCE(dead_letters.first_failed_at, EXCLUDED.first_failed_at), \
         dead_lettered_at = now(), updated_at = now() \
         RETURNING id",
    )
    .bind(letter.source)
    .bind(letter.source_kind)
    .bind(letter.event_id)
    .bind(letter.employee_id)
    .bind(letter.kind)
    .bind(letter.reason.as_str())
    .bind(letter.body)
    .bind(sqlx::types::Json(&letter.headers))
    .bind(letter.last_error)
    .bind(sqlx::types::Json(letter.error_chain))
    .bind(letter.attempts)
    .bind(letter.first_received_at)
    .bind(letter.first_failed_at)
    .fetch_one(&mut *tx)
    .await?;
    let detail = serde_json::json!({ "attempts": letter.attempts, "error": letter.last_error });
    sqlx::query(
        "INSERT INTO dead_letter_actions (dead_letter_id, action, actor, reason, detail) \
         VALUES ($1, 'dead_lettered', $2, $3, $4)",
    )
    .bind(id)
    .bind(SYSTEM_ACTOR)
    .bind(letter.reason.as_str())
    .bind(sqlx::types::Json(&detail))
    .execute(&mut *tx)
    .await?;
    let entry = audit_log::Entry {
        category: audit_log::DEAD_LETTER,
        action: "dead_lettered",
        actor: SYSTEM_ACTOR,
        source: Some(letter.source),
        event_id: Some(letter.event_id),
        employee_id: letter.employee_id,
        target: None,
        outcome: Some(letter.reason.as_str()),
        detail: serde_json::json!({
            "dead_letter_id": id,
            "kind": letter.kind,
            "attempts": letter.attempts,
            "error": letter.last_error,
        }),
    };
    audit_log::append(&mut tx, &entry).await?;
    tx.commit().await?;
    Ok(id)
}
