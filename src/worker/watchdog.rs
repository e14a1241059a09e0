//! The stall watchdog: the pool's progress (deliveries held unsettled, and since when
//! none has been settled) and a task that reports a pool holding deliveries without
//! settling any for `worker.stall_timeout`. `/readyz` reads the same progress.

use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use tokio_util::sync::CancellationToken;

/// The pool's progress over every channel and session: how many deliveries it holds
/// unsettled, and since when it has settled none (or since it started holding any, or
/// since the session began). The stall watchdog compares that with `worker.stall_timeout`.
#[derive(Debug)]
pub struct Progress {
    state: Mutex<Held>,
}

#[derive(Debug, Clone, Copy)]
struct Held {
    count: usize,
    since: Instant,
}

impl Default for Progress {
    fn default() -> Self {
        Progress {
            state: Mutex::new(Held {
                count: 0,
                since: Instant::now(),
            }),
        }
    }
}

impl Progress {
    fn held(&self) -> std::sync::MutexGuard<'_, Held> {
        self.state.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// One more delivery held; the clock starts when the pool goes from idle to busy.
    pub(super) fn received(&self) {
        let mut held = self.held();
        if held.count == 0 {
            held.since = Instant::now();
        }
        held.count += 1;
    }

    /// `n` deliveries acked or requeued: progress.
    pub(super) fn settled(&self, n: usize) {
        if n == 0 {
            return;
        }
        let mut held = self.held();
        held.count = held.count.saturating_sub(n);
        held.since = Instant::now();
    }

    /// A new consumer session started: it gets a full `stall_timeout` of its own.
    pub fn restarted(&self) {
        self.held().since = Instant::now();
    }

    /// Deliveries held unsettled while none has been settled for longer than `limit`:
    /// `Some((held, for how long))`.
    pub fn stalled(&self, limit: Duration) -> Option<(usize, Duration)> {
        let held = *self.held();
        let quiet = held.since.elapsed();
        (held.count > 0 && quiet > limit).then_some((held.count, quiet))
    }
}

/// Logs (at ERROR, once per stall) and exports `provisiond_worker_stalled` while the pool
/// is stalled; `/readyz` asks `WorkerPool::stalled` itself.
pub async fn run(progress: Arc<Progress>, stall_timeout: Duration, shutdown: CancellationToken) {
    let every = (stall_timeout / 4).clamp(Duration::from_millis(100), Duration::from_secs(15));
    let mut was_stalled = false;
    loop {
        tokio::select! {
            _ = shutdown.cancelled() => return,
            _ = tokio::time::sleep(every) => {}
        }
        let stalled = progress.stalled(stall_timeout);
        metrics::gauge!("provisiond_worker_stalled").set(f64::from(u8::from(stalled.is_some())));
        match stalled {
            Some((held, quiet)) if !was_stalled => tracing::error!(
                held,
                quiet = %humantime::format_duration(Duration::from_secs(quiet.as_secs())),
                "worker stalled: deliveries held and none settled; /readyz answers 503"
            ),
            None if was_stalled => tracing::warn!("worker progressing again"),
            _ => {}
        }
        was_stalled = stalled.is_some();
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_pool_is_stalled_only_while_it_holds_deliveries_and_settles_none() {
        let progress = Progress::default();
        let never = Duration::ZERO;
        assert_eq!(progress.stalled(never), None, "idle is not stalled");
        progress.received();
        progress.received();
        assert_eq!(progress.stalled(never).map(|(n, _)| n), Some(2));
        assert_eq!(progress.stalled(Duration::from_secs(3600)), None);
        progress.settled(2);
        assert_eq!(progress.stalled(never), None, "nothing held");
    }

    #[test]
    fn the_stall_clock_starts_when_the_pool_gets_busy_not_at_the_last_settle() {
        let progress = Progress::default();
        progress.held().since = Instant::now() - Duration::from_secs(600);
        progress.received();
        let limit = Duration::from_secs(60);
        assert_eq!(progress.stalled(limit), None, "busy for an instant only");
        progress.held().since = Instant::now() - Duration::from_secs(600);
        progress.restarted();
        assert_eq!(
            progress.stalled(limit),
            None,
            "a new session starts a new clock"
        );
    }
}
