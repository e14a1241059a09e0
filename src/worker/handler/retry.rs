//! The failure paths that retry: a transient failure parks the message in a retry tier
//! (the wait happens in the broker), until its attempts run out.

use std::time::Duration;

use chrono::Utc;

use super::dead_letter::dead_letter;
use super::Context;
use crate::domain::message::QueueMessage;
use crate::queue::message::retry_trips;
use crate::queue::Topology;
use crate::store::dead_letters::Reason;
use crate::worker::acks::Received;
use crate::worker::failure::ProcessError;
use crate::worker::process::Reading;

/// A failed delivery: park it for a retry, or dead-letter it when retrying cannot help or
/// its attempts ran out.
pub(super) async fn fail(
    ctx: &Context,
    delivery: &Received,
    message: QueueMessage,
    error: ProcessError,
    tries: u32,
    reading: Option<&Reading>,
) {
    let class = if error.is_transient() {
        "transient"
    } else {
        "permanent"
    };
    metrics::counter!("provisiond_events_failed_total", "class" => class).increment(1);
    let reason = if !error.is_transient() {
        error.permanent_reason()
    } else if tries >= ctx.max_attempts && !keeps_retrying(ctx, &message, reading) {
        Reason::AttemptsExhausted
    } else {
        return park(ctx, delivery, message, &error, tries).await;
    };
    dead_letter(
        ctx,
        delivery,
        &message,
        reading,
        reason,
        &error.chain(),
        tries,
    )
    .await;
}

/// A termination is retried for at least `termination_retry_for` from its first failure:
/// a leaver must not keep access because a target was down over a long weekend.
fn keeps_retrying(ctx: &Context, message: &QueueMessage, reading: Option<&Reading>) -> bool {
    let failing_since = message.first_failed_at.unwrap_or(message.received_at);
    let failing_for = (Utc::now() - failing_since).to_std().unwrap_or_default();
    failing_for < ctx.termination_retry_for && reading.is_some_and(Reading::terminates)
}

/// Republish to a retry tier (confirmed) and only then ack: the wait happens in the
/// broker, not in an unacked delivery.
async fn park(
    ctx: &Context,
    delivery: &Received,
    mut message: QueueMessage,
    error: &ProcessError,
    tries: u32,
) {
    let tier = choose_tier(
        &ctx.topology,
        retry_trips(&delivery.properties),
        error.retry_after(),
    );
    let Some(tier) = tier else {
        return delivery.requeue();
    };
    message.attempt = tries;
    message.first_failed_at = message.first_failed_at.or(Some(Utc::now()));
    let (source, event_id) = (message.source.clone(), message.event_id.clone());
    match ctx.publisher.publish_retry(&tier.key, &message).await {
        Ok(_) => {
            metrics::counter!("provisiond_retries_total", "tier" => tier.key.clone()).increment(1);
            crate::telemetry::hourly::retried(&tier.key);
            tracing::warn!(%source, %event_id, %error, tries, tier = %tier.key, "transient failure; retrying later");
            delivery.ack();
        }
        Err(publish_error) => {
            tracing::warn!(%source, %event_id, error = %publish_error, "cannot park for retry; requeueing");
            delivery.requeue();
        }
    }
}

/// The tier for the next wait: one step further per previous trip, at least as long as
/// the target's `Retry-After`.
fn choose_tier(
    topology: &Topology,
    trips: u32,
    retry_after: Option<Duration>,
) -> Option<&crate::queue::topology::RetryTier> {
    let tiers = &topology.retry_tiers;
    let last = tiers.len().checked_sub(1)?;
    let mut index = (trips as usize).min(last);
    if let Some(wanted) = retry_after {
        let long_enough = tiers.iter().position(|t| t.delay >= wanted).unwrap_or(last);
        index = index.max(long_enough);
    }
    tiers.get(index)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn topology() -> Topology {
        let delays = [5, 60, 600].map(Duration::from_secs);
        Topology::new("t", 5).with_retry_delays(&delays)
    }

    #[test]
    fn each_trip_moves_one_tier_further_and_stays_at_the_last() {
        let t = topology();
        let key = |trips| choose_tier(&t, trips, None).unwrap().key.clone();
        assert_eq!(key(0), "5000ms");
        assert_eq!(key(1), "60000ms");
        assert_eq!(key(2), "600000ms");
        assert_eq!(key(9), "600000ms");
    }

    #[test]
    fn retry_after_picks_a_tier_at_least_that_long() {
        let t = topology();
        let tier = choose_tier(&t, 0, Some(Duration::from_secs(30))).unwrap();
        assert_eq!(tier.delay, Duration::from_secs(60));
        let tier = choose_tier(&t, 0, Some(Duration::from_secs(7200))).unwrap();
        assert_eq!(tier.delay, Duration::from_secs(600));
    }
}
