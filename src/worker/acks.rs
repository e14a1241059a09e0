//! Acknowledgements for one consuming channel. Batches on a channel finish in any order,
//! so deliveries that succeeded are acked with `multiple = true` only up to the first one
//! still in progress: a multiple ack covers every unacked delivery up to its tag, and must
//! never cover one whose outcome is not yet durable. Failures (park, dead letter, requeue)
//! are settled one by one, through the same lock, so a later multiple ack never overtakes
//! them.
//!
//! A [`Received`] delivery is a drop guard: dropped unsettled (a panic, a cancelled task,
//! an early return), it is requeued, so no tag can stay unsettled and block the multiple
//! acks after it until the prefetch window fills. Every settlement is reported to the
//! pool's [`Progress`], which the stall watchdog reads.

use std::collections::BTreeSet;
use std::ops::Deref;
use std::sync::{Arc, Mutex};

use lapin::message::Delivery;
use lapin::options::{BasicAckOptions, BasicNackOptions};
use lapin::Channel;
use tokio::sync::{mpsc, oneshot};

use super::watchdog::Progress;

/// The acknowledgements of one channel. Decisions are taken under a plain lock and the
/// frames queued in that order to one sender task, so nobody waits on the network while
/// holding the lock and a multiple ack never overtakes an individual ack or nack.
#[derive(Clone)]
pub struct Acks {
    state: Arc<Mutex<Pending>>,
    frames: mpsc::UnboundedSender<Frame>,
    progress: Arc<Progress>,
}

/// Delivery tags received and not yet settled, and those of them that succeeded.
#[derive(Debug, Default)]
struct Pending {
    unsettled: BTreeSet<u64>,
    succeeded: BTreeSet<u64>,
}

impl Pending {
    /// The highest tag such that it and every unsettled tag below it succeeded, and how
    /// many tags that covers; those tags are forgotten (the caller acks them with one
    /// multiple ack).
    fn take_done_prefix(&mut self) -> Option<(u64, usize)> {
        let mut last = None;
        let mut count = 0;
        while let Some(&first) = self.unsettled.first() {
            if !self.succeeded.remove(&first) {
                break;
            }
            self.unsettled.pop_first();
            last = Some(first);
            count += 1;
        }
        last.map(|last| (last, count))
    }

    /// Whether `tag` was dropped by its handler without an outcome: still unsettled, and
    /// not waiting for the done prefix to reach it.
    fn abandoned(&self, tag: u64) -> bool {
        self.unsettled.contains(&tag) && !self.succeeded.contains(&tag)
    }
}

#[derive(Debug)]
enum Frame {
    /// Ack every unacked delivery up to this tag.
    AckUpTo(u64),
    Ack(u64),
    Requeue(u64),
    /// Answered once every frame queued before it has been sent.
    Flush(oneshot::Sender<()>),
}

impl Acks {
    /// Acks for `channel`, reporting to `progress`; the sender task ends when every `Acks`
    /// clone is dropped.
    pub fn new(channel: Channel, progress: Arc<Progress>) -> Self {
        let (frames, mut queue) = mpsc::unbounded_channel();
        tokio::spawn(async move {
            while let Some(frame) = queue.recv().await {
                match frame {
                    Frame::Flush(done) => {
                        let _ = done.send(());
                    }
                    frame => send(&channel, frame).await,
                }
            }
        });
        Acks {
            state: Arc::default(),
            frames,
            progress,
        }
    }

    /// Wait until every ack and nack decided so far has been sent (before closing the
    /// channel on shutdown).
    pub async fn flush(&self) {
        let (done, sent) = oneshot::channel();
        if self.frames.send(Frame::Flush(done)).is_ok() {
            let _ = sent.await;
        }
    }

    fn pending(&self) -> std::sync::MutexGuard<'_, Pending> {
        self.state.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Start tracking a delivery; call in the order deliveries arrive.
    pub fn receive(&self, delivery: Delivery) -> Received {
        self.pending().unsettled.insert(delivery.delivery_tag);
        self.progress.received();
        Received {
            delivery,
            acks: self.clone(),
        }
    }

    /// These deliveries' outcomes are durable: ack them as soon as nothing before them is
    /// still in progress.
    pub fn succeeded(&self, tags: &[u64]) {
        let mut state = self.pending();
        // A tag already settled (requeued by its drop guard) must not linger here.
        let open: Vec<u64> = tags
            .iter()
            .copied()
            .filter(|tag| state.unsettled.contains(tag))
            .collect();
        state.succeeded.extend(open);
        self.ack_done_prefix(&mut state);
    }

    /// Settle one delivery on its own, then ack whatever that unblocked. A delivery is
    /// settled once: a second ack or nack of a tag would close the channel.
    fn settle_one(&self, frame: Frame, tag: u64) {
        let mut state = self.pending();
        if !state.unsettled.remove(&tag) {
            return;
        }
        state.succeeded.remove(&tag);
        self.queue(frame);
        self.progress.settled(1);
        self.ack_done_prefix(&mut state);
    }

    /// The drop guard: requeue `tag` if its handler let go of it without settling it.
    /// `true` when it did.
    fn requeue_abandoned(&self, tag: u64) -> bool {
        let mut state = self.pending();
        if !state.abandoned(tag) {
            return false;
        }
        state.unsettled.remove(&tag);
        self.queue(Frame::Requeue(tag));
        self.progress.settled(1);
        self.ack_done_prefix(&mut state);
        true
    }

    /// With the lock held: one multiple ack for the done prefix, if any.
    fn ack_done_prefix(&self, state: &mut Pending) {
        if let Some((last, count)) = state.take_done_prefix() {
            self.queue(Frame::AckUpTo(last));
            self.progress.settled(count);
        }
    }

    /// Called with the lock held, so frames are queued in the order they were decided.
    fn queue(&self, frame: Frame) {
        if let Err(error) = self.frames.send(frame) {
            let frame = error.0;
            tracing::warn!(
                ?frame,
                "the channel's ack sender has stopped; the message will be redelivered"
            );
        }
    }
}

// A failed ack or nack means the channel is gone: the broker redelivers, and the inbox
// makes the redelivery harmless, so logging is all there is to do.
async fn send(channel: &Channel, frame: Frame) {
    let sent = match &frame {
        Frame::AckUpTo(tag) => {
            channel
                .basic_ack(*tag, BasicAckOptions { multiple: true })
                .await
        }
        Frame::Ack(tag) => channel.basic_ack(*tag, BasicAckOptions::default()).await,
        Frame::Flush(_) => return,
        Frame::Requeue(tag) => {
            let options = BasicNackOptions {
                requeue: true,
                ..Default::default()
            };
            channel.basic_nack(*tag, options).await
        }
    };
    if let Err(error) = sent {
        tracing::warn!(%error, ?frame, "ack/nack failed; the message will be redelivered");
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
    pub fn ack(&self) {
        self.acks.settle_one(Frame::Ack(self.tag()), self.tag());
    }

    /// Return this delivery to the queue (counts against the delivery limit).
    pub fn requeue(&self) {
        self.acks.settle_one(Frame::Requeue(self.tag()), self.tag());
    }

    pub fn acks(&self) -> &Acks {
        &self.acks
    }
}

/// The drop guard: a delivery dropped without an ack, a nack or a recorded success (its
/// handler panicked, was cancelled or returned early) goes back to the queue, so the
/// message is tried again (and, if it keeps failing so, dead-lettered by the quorum
/// queue's delivery limit), and the acks after it are not blocked.
impl Drop for Received {
    fn drop(&mut self) {
        let tag = self.tag();
        if self.acks.requeue_abandoned(tag) {
            metrics::counter!("provisiond_deliveries_abandoned_total").increment(1);
            // Debug-quoted: a message id is not ours to trust (control characters).
            let message_id = self.delivery.properties.message_id().as_ref();
            let message_id = message_id.map(|id| id.as_str()).unwrap_or("-");
            tracing::error!(
                delivery_tag = tag,
                message_id = ?message_id,
                "a delivery was dropped unsettled (its handler panicked or was cancelled); requeued"
            );
        }
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
        assert_eq!(p.take_done_prefix(), Some((2, 2)));
        assert_eq!(p.unsettled.iter().copied().collect::<Vec<_>>(), [3, 5, 6]);
        assert_eq!(p.succeeded.iter().copied().collect::<Vec<_>>(), [5]);
    }

    #[test]
    fn tags_settled_on_their_own_leave_no_gap() {
        // 4 was dead-lettered (acked alone) and is no longer unsettled.
        let mut p = pending(&[3, 5], &[3, 5]);
        assert_eq!(p.take_done_prefix(), Some((5, 2)));
        assert!(p.unsettled.is_empty() && p.succeeded.is_empty());
    }

    #[test]
    fn a_delivery_dropped_without_an_outcome_is_abandoned_and_then_leaves_no_gap() {
        let mut p = pending(&[1, 2, 3], &[2, 3]);
        assert!(p.abandoned(1), "in progress when its handler let go");
        assert!(!p.abandoned(2), "succeeded, waiting for the prefix");
        assert!(!p.abandoned(9), "already settled");
        // The drop guard requeues 1 on its own: the successes after it are acked at once.
        p.unsettled.remove(&1);
        assert_eq!(p.take_done_prefix(), Some((3, 2)));
    }
}
