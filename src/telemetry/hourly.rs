//! Counts per hour over the last 24 hours, kept in this process only, for what no table
//! records: webhooks rejected before anything was stored (the console's overview charts
//! them). Reasons are a small fixed set of `&'static str`, so memory stays bounded.

use std::collections::{BTreeMap, VecDeque};
use std::sync::Mutex;

use chrono::{DateTime, DurationRound, TimeDelta, Utc};

const HOURS: usize = 24;

/// One hour (its start) and its count per reason.
pub type HourCounts = (DateTime<Utc>, BTreeMap<&'static str, u64>);
type Ring = Mutex<VecDeque<HourCounts>>;

/// Oldest first, at most [`HOURS`] hours.
static REJECTED: Ring = Mutex::new(VecDeque::new());

fn hour(at: DateTime<Utc>) -> DateTime<Utc> {
    at.duration_trunc(TimeDelta::hours(1)).unwrap_or(at)
}

/// Count one webhook rejected now for `reason`.
pub fn webhook_rejected(reason: &'static str) {
    record(&REJECTED, Utc::now(), reason);
}

/// Webhooks rejected per hour since `first` (an hour start), by reason, in this process.
pub fn webhooks_rejected_since(first: DateTime<Utc>) -> Vec<HourCounts> {
    read(&REJECTED, first)
}

fn record(into: &Ring, at: DateTime<Utc>, reason: &'static str) {
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
    if let Some((h, counts)) = hours.back_mut() {
        if *h == now {
            *counts.entry(reason).or_default() += 1;
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

    #[test]
    fn hourly_counts_keep_the_last_24_hours_by_reason() {
        let ring = Mutex::new(VecDeque::new());
        let start = "2026-12-07T00:10:00Z".parse::<DateTime<Utc>>().unwrap();
        record(&ring, start, "invalid_signature");
        record(&ring, start + TimeDelta::minutes(20), "invalid_signature");
        record(&ring, start + TimeDelta::minutes(21), "unknown_source");
        record(&ring, start + TimeDelta::hours(3), "invalid_signature");
        let all = read(&ring, hour(start));
        assert_eq!(all.len(), 2);
        assert_eq!(all[0].1["invalid_signature"], 2);
        assert_eq!(all[0].1["unknown_source"], 1);
        assert_eq!(all[1].0, hour(start) + TimeDelta::hours(3));
        // A day later the first hour has gone; only what is within 24 hours stays.
        record(&ring, start + TimeDelta::hours(25), "stale_timestamp");
        let kept = read(&ring, hour(start));
        assert_eq!(kept.len(), 2, "{kept:?}");
        assert_eq!(kept[0].0, hour(start) + TimeDelta::hours(3));
        assert_eq!(kept[1].1["stale_timestamp"], 1);
    }
}
