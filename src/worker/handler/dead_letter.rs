//! The dead-letter log: what provisiond gives up on, or cannot read, is kept whole there,
//! and acked only once the row is committed.

use chrono::Utc;
use sha2::{Digest, Sha256};
use sqlx::PgPool;

use super::{inject, Context};
use crate::domain::message::QueueMessage;
use crate::queue::message::{claimed_headers, first_death_reason};
use crate::queue::UnreadableMessage;
use crate::store::dead_letters::{self, NewDeadLetter, Reason};
use crate::worker::acks::Received;
use crate::worker::process::Reading;

/// Write the dead letter, with the employee and kind the delivery's reading found.
pub(super) async fn dead_letter(
    ctx: &Context,
    delivery: &Received,
    message: &QueueMessage,
    reading: Option<&Reading>,
    reason: Reason,
    chain: &[String],
    tries: u32,
) {
    inject(ctx, "dead_letter", message);
    let sent = reading.and_then(Reading::as_sent);
    let last_error = chain.first().map(String::as_str).unwrap_or("unknown error");
    let letter = NewDeadLetter {
        source: &message.source,
        source_kind: message.source_kind.as_str(),
        event_id: &message.event_id,
        employee_id: sent.map(|(employee_id, _)| employee_id),
        kind: sent.map(|(_, kind)| kind.as_str()),
        reason,
        body: &message.body,
        headers: message.headers_json(),
        last_error,
        error_chain: chain,
        attempts: i32::try_from(tries).unwrap_or(i32::MAX),
        first_received_at: message.received_at,
        first_failed_at: message.first_failed_at.or(Some(Utc::now())),
    };
    store_then_ack(&ctx.pool, delivery, &letter).await;
}

/// The dead letter is committed before the ack: a crash in between writes it twice
/// (the same row), never zero times. A letter PostgreSQL refuses for its data (a NUL in a
/// text, from a message no receiver of ours published) is written once more with its
/// texts made storable, so no message can loop between the queue and this write.
async fn store_then_ack(pool: &PgPool, delivery: &Received, letter: &NewDeadLetter<'_>) {
    let mut written = dead_letters::record(pool, letter).await;
    if written.as_ref().is_err_and(is_data_error) {
        let storable = dead_letters::Storable::of(letter);
        written = dead_letters::record(pool, &storable.letter(letter)).await;
    }
    match written {
        Ok(id) => {
            let reason = letter.reason.as_str();
            metrics::counter!("provisiond_dead_letters_total", "reason" => reason).increment(1);
            tracing::warn!(
                source = letter.source,
                event_id = letter.event_id,
                reason,
                dead_letter_id = id,
                attempts = letter.attempts,
                "event dead-lettered"
            );
            delivery.ack();
        }
        Err(error) => {
            tracing::error!(%error, event_id = letter.event_id, "cannot write the dead letter; requeueing");
            delivery.requeue();
        }
    }
}

/// PostgreSQL refused the values themselves (SQLSTATE class 22), not the connection.
fn is_data_error(error: &sqlx::Error) -> bool {
    match error {
        sqlx::Error::Database(db) => db.code().is_some_and(|code| code.starts_with("22")),
        _ => false,
    }
}

/// A message provisiond cannot read (no or bad headers) or did not write (no valid
/// signature): kept whole, never applied. What an unauthenticated one claims is kept
/// under `claimed`, apart from any real source.
pub(super) async fn unreadable(ctx: &Context, delivery: &Received, error: UnreadableMessage) {
    let fallback = hex::encode(Sha256::digest(&delivery.data));
    let message_id = delivery
        .properties
        .message_id()
        .as_ref()
        .map(|s| s.to_string());
    let event_id = message_id.unwrap_or(fallback);
    let chain = [error.to_string()];
    let mut claimed_event = None;
    let (source, reason, headers) = match error {
        UnreadableMessage::Unauthenticated(_) => {
            let claimed = claimed_headers(&delivery.properties);
            // Read (never applied) only to show the security team whom it was about.
            claimed_event = claimed_employee_event(&claimed, &delivery.data);
            match &claimed_event {
                Some(event) if event.kind == crate::domain::event::EventKind::Terminated => {
                    tracing::error!(event_id = %event_id, employee_id = %event.employee_id,
                        "a termination without a valid provisiond signature was refused: check \
                         rabbitmq.message_key on every process; a real leaver's webhook can be \
                         sent again with `provisiond sign`");
                }
                _ => {
                    tracing::warn!(event_id = %event_id, "queue message without a valid provisiond signature refused")
                }
            }
            let headers = serde_json::json!({ "claimed": claimed });
            ("(unauthenticated)", Reason::Unauthenticated, headers)
        }
        UnreadableMessage::Malformed(_) => {
            ("(unknown)", Reason::Unparseable, serde_json::json!({}))
        }
    };
    let letter = NewDeadLetter {
        source,
        source_kind: "unknown",
        event_id: &event_id,
        employee_id: claimed_event.as_ref().map(|e| e.employee_id.as_str()),
        kind: claimed_event.as_ref().map(|e| e.kind.as_str()),
        reason,
        body: &delivery.data,
        headers,
        last_error: &chain[0],
        error_chain: &chain,
        attempts: 1,
        first_received_at: Utc::now(),
        first_failed_at: Some(Utc::now()),
    };
    store_then_ack(&ctx.pool, delivery, &letter).await;
}

/// The employee event an unverified message's body would be, read with the kind its
/// headers claim: for the dead letter's employee and kind columns only.
fn claimed_employee_event(
    claimed: &serde_json::Value,
    body: &[u8],
) -> Option<crate::domain::event::CanonicalEvent> {
    let kind = claimed["x-provisiond-source-kind"].as_str()?.parse().ok()?;
    match crate::normalize::normalize(kind, body, Utc::now()) {
        Ok(crate::domain::event::Normalized::Employee(event)) => Some(event),
        _ => None,
    }
}

/// A message the broker dead-lettered (past the work queue's delivery limit: it kept
/// crashing or timing out a worker) goes into the log.
pub async fn drain_dead(ctx: Context, delivery: Received) {
    let broker_reason = first_death_reason(&delivery.properties);
    let message =
        match QueueMessage::from_delivery(&delivery.properties, &delivery.data, &ctx.message_key) {
            Ok(message) => message,
            Err(error) => return unreadable(&ctx, &delivery, error).await,
        };
    let reason = match broker_reason.as_deref() {
        Some("rejected") => Reason::PermanentError,
        _ => Reason::DeliveryLimit,
    };
    let text = format!(
        "the broker dead-lettered the message ({}) after it kept failing delivery: a worker crashed or timed out on it",
        broker_reason.as_deref().unwrap_or("unknown reason")
    );
    let tries = message.attempt.max(1);
    let reading = ctx.processor.read(&message).ok();
    dead_letter(
        &ctx,
        &delivery,
        &message,
        reading.as_ref(),
        reason,
        &[text],
        tries,
    )
    .await;
}
