//! When a termination takes effect. A termination dated today or earlier applies at once;
//! a later one waits until it is due. A date without a time of day (date-only fields, and
//! Merge's midnight-UTC `termination_date`) takes effect at the start or the end of that
//! day in `audit.time_zone`, as `audit.termination_time` says; a timestamp with a time of
//! day takes effect exactly then.

use chrono::{DateTime, Days, NaiveDate, NaiveTime, TimeZone, Timelike, Utc};
use chrono_tz::Tz;

use crate::config::TerminationTime;
use crate::domain::clock::SharedClock;

#[derive(Debug, Clone)]
pub struct SchedulePolicy {
    pub clock: SharedClock,
    pub termination_time: TerminationTime,
    pub time_zone: Tz,
}

impl SchedulePolicy {
    /// `Some(due)` when the termination lies in the future, `None` when it applies now.
    pub fn future_due(&self, effective_at: DateTime<Utc>) -> Option<DateTime<Utc>> {
        due_at(
            effective_at,
            self.termination_time,
            self.time_zone,
            self.clock.now(),
        )
    }

    /// When a pre-hire starting on `start_date` becomes active: the start of that day in
    /// `audit.time_zone`. `None` when that moment has come.
    pub fn start_due(&self, start_date: NaiveDate) -> Option<DateTime<Utc>> {
        let due = local_midnight(start_date, self.time_zone);
        (due > self.clock.now()).then_some(due)
    }
}

fn is_date_only(at: DateTime<Utc>) -> bool {
    at.num_seconds_from_midnight() == 0 && at.nanosecond() == 0
}

pub fn due_at(
    effective_at: DateTime<Utc>,
    policy: TerminationTime,
    zone: Tz,
    now: DateTime<Utc>,
) -> Option<DateTime<Utc>> {
    if policy == TerminationTime::Exact || !is_date_only(effective_at) {
        return (effective_at > now).then_some(effective_at);
    }
    let date = effective_at.date_naive();
    let today = now.with_timezone(&zone).date_naive();
    if date <= today {
        return None;
    }
    let day = match policy {
        TerminationTime::StartOfDay => date,
        _ => date.checked_add_days(Days::new(1))?,
    };
    Some(local_midnight(day, zone))
}

/// Midnight at the start of `day` in `zone` (the earliest instant, if a DST change skips it).
fn local_midnight(day: NaiveDate, zone: Tz) -> DateTime<Utc> {
    let local = day.and_time(NaiveTime::MIN);
    let resolved = zone.from_local_datetime(&local).earliest();
    let fallback = || zone.from_utc_datetime(&local);
    resolved.unwrap_or_else(fallback).with_timezone(&Utc)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn at(text: &str) -> DateTime<Utc> {
        DateTime::parse_from_rfc3339(text)
            .unwrap()
            .with_timezone(&Utc)
    }

    const NOW: &str = "2026-03-10T12:00:00Z";

    /// When a termination dated `date` takes effect, seen at [`NOW`].
    fn due(date: &str, policy: TerminationTime, zone: Tz) -> Option<DateTime<Utc>> {
        due_at(at(date), policy, zone, at(NOW))
    }

    #[test]
    fn a_termination_dated_today_or_earlier_applies_at_once() {
        let zone = chrono_tz::UTC;
        let policy = TerminationTime::EndOfDay;
        assert_eq!(due("2026-03-10T00:00:00Z", policy, zone), None);
        assert_eq!(due("2026-01-01T00:00:00Z", policy, zone), None);
    }

    #[test]
    fn end_of_day_takes_effect_at_the_next_local_midnight() {
        let zone: Tz = "America/New_York".parse().unwrap();
        let due = due("2026-03-31T00:00:00Z", TerminationTime::EndOfDay, zone);
        assert_eq!(due, Some(at("2026-04-01T04:00:00Z")));
    }

    #[test]
    fn start_of_day_takes_effect_at_that_local_midnight() {
        let zone: Tz = "Europe/Paris".parse().unwrap();
        let due = due("2026-03-31T00:00:00Z", TerminationTime::StartOfDay, zone);
        assert_eq!(due, Some(at("2026-03-30T22:00:00Z")));
    }

    #[test]
    fn exact_and_timestamps_with_a_time_of_day_are_taken_as_sent() {
        let zone = chrono_tz::UTC;
        let exact = due("2026-03-31T00:00:00Z", TerminationTime::Exact, zone);
        assert_eq!(exact, Some(at("2026-03-31T00:00:00Z")));
        let timed = due("2026-03-10T17:30:00Z", TerminationTime::EndOfDay, zone);
        assert_eq!(timed, Some(at("2026-03-10T17:30:00Z")));
        let past = due("2026-03-10T08:00:00Z", TerminationTime::EndOfDay, zone);
        assert_eq!(past, None);
    }
}
