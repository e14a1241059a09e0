//! Acknowledgements for one consuming channel. Batches on a channel finish in any order,
//! so deliveries that succeeded are acked with `multiple = true` only up to the first one
//! still in progress: a multiple ack covers every unacked delivery up to its tag, and must
//! never cover one whose outcome is not yet durable. Failures (park, dead letter, requeue)
//! are settled one by one, through the same lock, so a later multiple ack never overtakes
//! them.

use std::collections::BTreeSet;
use std::ops::Deref;
use std::sync::Arc;

use lapin::message::Delivery;
use lapin::options::{BasicAckOptions, BasicNackOptions};
use lapin::Channel;
use tokio::sync::Mutex;

#[derive(Clone)]
pub struct Acks {
    channel: Channel,
    state: Arc<Mutex<Pending>>,
}

/// Delivery tags received and not yet settled, and those of them that succeeded.
#[derive(Debug, Default)]
struct Pending {
    unsettled: BTreeSet<u64>,
    succeeded: BTreeSet<u64>,
}

impl Pending {
    /// The highest tag such that it and every unsettled tag below it succeeded; those tags
    /// are forgotten (the caller acks them with one multiple ack).
    fn take_done_prefix(&mut self) -> Option<u64> {
        let mut last = None;
        while let Some(&first) = self.unsettled.first() {
            if !self.succeeded.remove(&first) {
                break;
            }
            self.unsettled.pop_first();
            last = Some(first);
        }
        last
    }
}

impl Acks {
    pub fn new(channel: Channel) -> Self {
        Acks {
            channel,
            state: Arc::default(),
        }
    }

    /// Start tracking a delivery; call in the order deliveries arrive.
    pub async fn receive(&self, delivery: Delivery) -> Received {
        self.state
            .lock()
            .await
            .unsettled
            .insert(delivery.delivery_tag);
        Received {
            delivery,
            acks: self.clone(),
        }
    }

    /// These deliveries' outcomes are durable: ack them as soon as nothing before them is
    /// still in progress.
    pub async fn succeeded(&self, tags: &[u64]) {
        let mut state = self.state.lock().await;
        state.succeeded.extend(tags.iter().copied());
        if let Some(last) = state.take_done_prefix() {
            let options = BasicAckOptions { multiple: true };
            if let Err(error) = self.channel.basic_ack(last, options).await {
                tracing::warn!(%error, "ack failed; the messages will be redelivered");
            }
        }
    }

    /// Settle one delivery on its own (ack, or requeue), then ack whatever that unblocked.
    async fn settle_one(&self, tag: u64, requeue: bool) {
        let mut state = self.state.lock().await;
        let sent = if requeue {
            let options = BasicNackOptions {
                requeue: true,
                ..Default::default()
            };
            self.channel.basic_nack(tag, options).await
        } else {
            self.channel
                .basic_ack(tag, BasicAckOptions::default())
                .await
        };
        // A failed ack or nack means the channel is gone: the broker redelivers, and the
        // inbox makes the redelivery harmless, so logging is all there is to do.
        if let Err(error) = sent {
            tracing::warn!(%error, "ack/nack failed; the message will be redelivered");
        }
        state.unsettled.remove(&tag);
        if let Some(last) = state.take_done_prefix() {
            let options = BasicAckOptions { multiple: true };
            if let Err(error) = self.channel.basic_ack(last, options).await {
                tracing::warn!(%error, "ack failed; the messages will be redelivered");
            }
        }
    }
}

/// A delivery and the acknowledgements of its channel.
pub struct Received {
    delivery: Delivery,
    acks: Acks,
}

impl Received {
    pub fn tag(&self) -> u64 {
        self.delivery.delivery_tag
    }

    /// Ack this delivery now, on its own.
    pub async fn ack(&self) {
        self.acks.settle_one(self.tag(), false).await;
    }

    /// Return this delivery to the queue (counts against the delivery limit).
    pub async fn requeue(&self) {
        self.acks.settle_one(self.tag(), true).await;
    }

    pub fn acks(&self) -> &Acks {
        &self.acks
    }
}

impl Deref for Received {
    type Target = Delivery;

    fn deref(&self) -> &Delivery {
        &self.delivery
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn pending(unsettled: &[u64], succeeded: &[u64]) -> Pending {
        Pending {
            unsettled: unsettled.iter().copied().collect(),
            succeeded: succeeded.iter().copied().collect(),
        }
    }

    #[test]
    fn nothing_is_acked_while_the_first_delivery_is_in_progress() {
        let mut p = pending(&[1, 2, 3], &[2, 3]);
        assert_eq!(p.take_done_prefix(), None);
        assert_eq!(p.unsettled.len(), 3);
    }

    #[test]
    fn the_done_prefix_is_acked_up_to_the_first_gap() {
        let mut p = pending(&[1, 2, 3, 5, 6], &[1, 2, 5]);
        assert_eq!(p.take_done_prefix(), Some(2));
        assert_eq!(p.unsettled.iter().copied().collect::<Vec<_>>(), [3, 5, 6]);
        assert_eq!(p.succeeded.iter().copied().collect::<Vec<_>>(), [5]);
    }

    #[test]
    fn tags_settled_on_their_own_leave_no_gap() {
        // 4 was dead-lettered (acked alone) and is no longer unsettled.
        let mut p = pending(&[3, 5], &[3, 5]);
        assert_eq!(p.take_done_prefix(), Some(5));
        assert!(p.unsettled.is_empty() && p.succeeded.is_empty());
    }
}
