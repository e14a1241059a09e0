//! The mass-change guard: a bad HR import (or a deleted directory, or a reconcile run
//! against an empty list) must not lock everyone out. Terminations of one source beyond
//! `guard.max_terminations` within `guard.window`, or from `guard.min_terminations` on
//! beyond `guard.max_fraction` of the source's employees with access, are held for an
//! operator (`provisiond hold release | reject`).

use std::collections::HashMap;

use sqlx::PgConnection;

use crate::config::GuardConfig;
use crate::store::holds;

/// Terminations let through by earlier items of the same batch, per source (not yet in
/// `events` when the next item is weighed).
pub type Tally = HashMap<String, i64>;

/// `Some(reason)` when one more termination of `source` must be held.
pub async fn check(
    guard: &GuardConfig,
    conn: &mut PgConnection,
    source: &str,
    tally: &Tally,
) -> Result<Option<String>, sqlx::Error> {
    let window = guard.window.as_secs_f64();
    let (recent, with_access) = holds::guard_counts(conn, source, window).await?;
    let earlier = tally.get(source).copied().unwrap_or(0);
    let count = recent + earlier + 1;
    // The population before this window's terminations.
    let population = with_access + recent;
    Ok(verdict(guard, count, population).map(|limit| {
        let window = humantime::format_duration(guard.window);
        format!(
            "held by the mass-change guard: {count} terminations of `{source}` within {window} \
             ({limit}, of {population} employees)"
        )
    }))
}

/// The limit `count` terminations out of `population` break, if any.
fn verdict(guard: &GuardConfig, count: i64, population: i64) -> Option<String> {
    if count > i64::from(guard.max_terminations) {
        return Some(format!(
            "more than guard.max_terminations = {}",
            guard.max_terminations
        ));
    }
    let fraction = count as f64 / population.max(1) as f64;
    if count >= i64::from(guard.min_terminations) && fraction > guard.max_fraction {
        return Some(format!(
            "more than guard.max_fraction = {} from guard.min_terminations = {} on",
            guard.max_fraction, guard.min_terminations
        ));
    }
    None
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_limits_hold_the_excess_only() {
        let guard = GuardConfig::default();
        // 50 allowed at most; from 10 on, no more than 20 % of the population.
        assert_eq!(verdict(&guard, 50, 1_000), None);
        assert!(verdict(&guard, 51, 1_000).is_some());
        assert_eq!(verdict(&guard, 9, 10), None, "fewer than min_terminations");
        assert!(verdict(&guard, 10, 40).is_some(), "25 % of 40");
        assert_eq!(
            verdict(&guard, 10, 50),
            None,
            "20 % of 50 is not more than 20 %"
        );
    }
}
