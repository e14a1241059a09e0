//! Figures per hour over the last 24 hours, kept in this process only, for what no table
//! records (the console's overview charts them): webhooks rejected before anything was
//! stored, retries per tier, and the queues' depth sampled every minute. Keys are a small
//! bounded set (reasons, configured tiers, provisiond's queues), so memory stays bounded.

use std::collections::{BTreeMap, VecDeque};
use std::sync::Mutex;

use chrono::{DateTime, DurationRound, TimeDelta, Utc};

const HOURS: usize = 24;

/// One hour (its start) and its figure per key.
pub type HourCounts = (DateTime<Utc>, BTreeMap<String, u64>);
type Ring = Mutex<VecDeque<HourCounts>>;

/// Each oldest first, at most [`HOURS`] hours.
static REJECTED: Ring = Mutex::new(VecDeque::new());
static RETRIED: Ring = Mutex::new(VecDeque::new());
static DEPTH: Ring = Mutex::new(VecDeque::new());

fn hour(at: DateTime<Utc>) -> DateTime<Utc> {
    at.duration_trunc(TimeDelta::hours(1)).unwrap_or(at)
}

/// Count one webhook rejected now for `reason`.
pub fn webhook_rejected(reason: &str) {
    record(&REJECTED, Utc::now(), reason, |n| *n += 1);
}

/// Count one delivery parked in the retry tier `tier` now.
pub fn retried(tier: &str) {
    record(&RETRIED, Utc::now(), tier, |n| *n += 1);
}

/// A sample of `queue`'s depth now: each hour keeps its highest.
pub fn queue_depth(queue: &str, messages: u64) {
    record(&DEPTH, Utc::now(), queue, |n| *n = (*n).max(messages));
}

/// Webhooks rejected per hour since `first` (an hour start), by reason, in this process.
pub fn webhooks_rejected_since(first: DateTime<Utc>) -> Vec<HourCounts> {
    read(&REJECTED, first)
}

/// Deliveries parked per hour since `first`, by retry tier, in this process.
pub fn retries_since(first: DateTime<Utc>) -> Vec<HourCounts> {
    read(&RETRIED, first)
}

/// The highest depth sampled per hour since `first`, by queue.
pub fn queue_depths_since(first: DateTime<Utc>) -> Vec<HourCounts> {
    read(&DEPTH, first)
}

fn record(into: &Ring, at: DateTime<Utc>, key: &str, change: impl FnOnce(&mut u64)) {
    let now = hour(at);
    let mut hours = into.lock().unwrap_or_else(|e| e.into_inner());
    if hours.back().is_none_or(|(h, _)| *h < now) {
        hours.push_back((now, BTreeMap::new()));
    }
    while hours.len() > HOURS
        || hours
            .front()
            .is_some_and(|(h, _)| *h <= now - TimeDelta::hours(HOURS as i64))
    {
        hours.pop_front();
    }
    if let Some((h, figures)) = hours.back_mut() {
        if *h == now {
            match figures.get_mut(key) {
                Some(figure) => change(figure),
                None => {
                    let mut figure = 0;
                    change(&mut figure);
                    figures.insert(key.to_owned(), figure);
                }
            }
        }
    }
}

fn read(from: &Ring, first: DateTime<Utc>) -> Vec<HourCounts> {
    let hours = from.lock().unwrap_or_else(|e| e.into_inner());
    hours.iter().filter(|(h, _)| *h >= first).cloned().collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn count(ring: &Ring, at: DateTime<Utc>, key: &str) {
        record(ring, at, key, |n| *n += 1);
    }

    #[test]
    fn hourly_counts_keep_the_last_24_hours_by_reason() {
        let ring = Mutex::new(VecDeque::new());
        let start = "2026-12-07T00:10:00Z".parse::<DateTime<Utc>>().unwrap();
        count(&ring, start, "invalid_signature");
        count(&ring, start + TimeDelta::minutes(20), "invalid_signature");
        count(&ring, start + TimeDelta::minutes(21), "unknown_source");
        count(&ring, start + TimeDelta::hours(3), "invalid_signature");
        let all = read(&ring, hour(start));
        assert_eq!(all.len(), 2);
        assert_eq!(all[0].1["invalid_signature"], 2);
        assert_eq!(all[0].1["unknown_source"], 1);
        assert_eq!(all[1].0, hour(start) + TimeDelta::hours(3));
        // A day later the first hour has gone; only what is within 24 hours stays.
        count(&ring, start + TimeDelta::hours(25), "stale_timestamp");
        let kept = read(&ring, hour(start));
        assert_eq!(kept.len(), 2, "{kept:?}");
        assert_eq!(kept[0].0, hour(start) + TimeDelta::hours(3));
        assert_eq!(kept[1].1["stale_timestamp"], 1);
    }

    #[test]
    fn hourly_samples_keep_each_hours_highest() {
        let ring = Mutex::new(VecDeque::new());
        let start = "2026-12-07T05:00:00Z".parse::<DateTime<Utc>>().unwrap();
        for (minute, depth) in [(0, 3), (1, 40), (2, 7)] {
            record(&ring, start + TimeDelta::minutes(minute), "work", |n| {
                *n = (*n).max(depth)
            });
        }
        record(&ring, start + TimeDelta::minutes(61), "work", |n| {
            *n = (*n).max(2)
        });
        let hours = read(&ring, start);
        assert_eq!(hours[0].1["work"], 40);
        assert_eq!(hours[1].1["work"], 2);
    }
}
