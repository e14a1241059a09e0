//! The in-flight body budget: webhook body bytes buffered before their signature is
//! verified, all requests together, are bounded by `server.max_inflight_bytes`. Bytes are
//! reserved when a request declares them (`Content-Length`) or when they arrive, never
//! waited for: a request that cannot reserve at once is answered `503` with `Retry-After`.
//! A reservation is given back when it is dropped (verified, refused, or the request ended).

use std::sync::{Arc, OnceLock};

use tokio::sync::{OwnedSemaphorePermit, Semaphore};

/// Name of the gauge of reserved bytes.
const GAUGE: &str = "provisiond_webhook_body_bytes_inflight";

/// Shared by every request of one process; cloning shares the same budget.
#[derive(Debug, Clone)]
pub struct BodyBudget {
    bytes: Arc<Semaphore>,
    limit: usize,
}

impl BodyBudget {
    /// A budget of `limit` bytes (at most what a semaphore can count).
    pub fn new(limit: usize) -> Self {
        let limit = limit.min(Semaphore::MAX_PERMITS);
        BodyBudget {
            bytes: Arc::new(Semaphore::new(limit)),
            limit,
        }
    }

    /// The budget's size in bytes.
    pub fn limit(&self) -> usize {
        self.limit
    }

    /// An empty reservation, to grow as bytes are declared or read.
    pub fn reservation(&self) -> Reservation {
        Reservation {
            budget: self.clone(),
            permit: None,
            bytes: 0,
        }
    }

    fn publish_gauge(&self) {
        // Registered once (on the first request, once the recorder is installed), not
        // looked up by name twice per request.
        static HANDLE: OnceLock<metrics::Gauge> = OnceLock::new();
        let reserved = self.limit - self.bytes.available_permits();
        let gauge = HANDLE.get_or_init(|| metrics::gauge!(GAUGE));
        gauge.set(reserved as f64);
    }
}

/// Bytes one request holds; given back on drop.
#[derive(Debug)]
pub struct Reservation {
    budget: BodyBudget,
    permit: Option<OwnedSemaphorePermit>,
    bytes: usize,
}

/// The budget has not `needed` bytes free right now.
#[derive(Debug, thiserror::Error)]
#[error("the receiver is buffering too many unverified bodies ({needed} more bytes do not fit in {limit})")]
pub struct Exhausted {
    pub needed: usize,
    pub limit: usize,
}

impl Reservation {
    /// Bytes held.
    pub fn bytes(&self) -> usize {
        self.bytes
    }

    /// Hold at least `total` bytes, taking the difference from the budget at once.
    pub fn grow_to(&mut self, total: usize) -> Result<(), Exhausted> {
        let Some(more) = total.checked_sub(self.bytes).filter(|n| *n > 0) else {
            return Ok(());
        };
        let exhausted = || Exhausted {
            needed: more,
            limit: self.budget.limit,
        };
        let count = u32::try_from(more).map_err(|_| exhausted())?;
        let permit = Arc::clone(&self.budget.bytes)
            .try_acquire_many_owned(count)
            .map_err(|_| exhausted())?;
        match &mut self.permit {
            Some(held) => held.merge(permit),
            None => self.permit = Some(permit),
        }
        self.bytes = total;
        self.budget.publish_gauge();
        Ok(())
    }
}

impl Drop for Reservation {
    fn drop(&mut self) {
        if let Some(permit) = self.permit.take() {
            drop(permit);
            self.budget.publish_gauge();
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reservations_share_the_budget_and_give_it_back_on_drop() {
        let budget = BodyBudget::new(100);
        let mut first = budget.reservation();
        first.grow_to(60).unwrap();
        first.grow_to(40).unwrap();
        assert_eq!(first.bytes(), 60);
        let mut second = budget.reservation();
        let error = second.grow_to(41).unwrap_err();
        assert_eq!((error.needed, error.limit), (41, 100));
        assert_eq!(second.bytes(), 0);
        second.grow_to(40).unwrap();
        drop(first);
        second.grow_to(100).unwrap();
        assert_eq!(second.bytes(), 100);
        assert!(budget.reservation().grow_to(1).is_err());
        drop(second);
        budget.reservation().grow_to(100).unwrap();
    }
}
