//! Exact percentiles by the nearest-rank method: the p-th percentile of n sorted values is
//! the value at rank ⌈p·n/100⌉ (1-based). Every reported value is a latency that really
//! happened, and the same rows always give the same answer (no interpolation, no buckets).

use serde::Serialize;

/// The p-th percentile (0 < p ≤ 100, a whole percent) of values sorted ascending;
/// `None` for no values.
pub fn nearest_rank(sorted: &[i64], p: u32) -> Option<i64> {
    let n = sorted.len() as u64;
    if n == 0 {
        return None;
    }
    let p = u64::from(p.clamp(1, 100));
    // ⌈p·n/100⌉ in integers, so 90% of 10 is rank 9 exactly.
    let rank = (p * n).div_ceil(100).clamp(1, n);
    sorted.get(rank as usize - 1).copied()
}

/// `{count, p50, p90, p95, p99, max}` in seconds; `null`s when there is nothing to measure.
#[derive(Debug, Clone, Default, PartialEq, Serialize, utoipa::ToSchema)]
pub struct Percentiles {
    pub count: usize,
    pub p50: Option<f64>,
    pub p90: Option<f64>,
    pub p95: Option<f64>,
    pub p99: Option<f64>,
    pub max: Option<f64>,
}

impl Percentiles {
    /// From latencies in microseconds, in any order.
    pub fn from_micros(values: &[i64]) -> Percentiles {
        let mut sorted = values.to_vec();
        sorted.sort_unstable();
        let at = |p| nearest_rank(&sorted, p).map(seconds);
        Percentiles {
            count: sorted.len(),
            p50: at(50),
            p90: at(90),
            p95: at(95),
            p99: at(99),
            max: sorted.last().copied().map(seconds),
        }
    }
}

/// Microseconds as seconds (timestamps are stored with microsecond precision).
pub fn seconds(micros: i64) -> f64 {
    micros as f64 / 1_000_000.0
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn audit_nearest_rank_of_one_to_ten() {
        let values: Vec<i64> = (1..=10).collect();
        assert_eq!(nearest_rank(&values, 50), Some(5));
        assert_eq!(nearest_rank(&values, 90), Some(9));
        assert_eq!(nearest_rank(&values, 95), Some(10));
        assert_eq!(nearest_rank(&values, 99), Some(10));
        assert_eq!(nearest_rank(&values, 100), Some(10));
        assert_eq!(nearest_rank(&values, 10), Some(1));
        assert_eq!(nearest_rank(&values, 11), Some(2));
    }

    #[test]
    fn audit_nearest_rank_of_one_hundred_values_is_the_value_at_that_rank() {
        let values: Vec<i64> = (1..=100).map(|v| v * 10).collect();
        for p in [1, 50, 90, 95, 99, 100] {
            assert_eq!(nearest_rank(&values, p), Some(i64::from(p) * 10));
        }
    }

    #[test]
    fn audit_nearest_rank_edges() {
        assert_eq!(nearest_rank(&[], 50), None);
        assert_eq!(nearest_rank(&[7], 50), Some(7));
        assert_eq!(nearest_rank(&[7], 99), Some(7));
        // Two values: p50 is the first (rank 1), anything above 50 the second.
        assert_eq!(nearest_rank(&[1, 2], 50), Some(1));
        assert_eq!(nearest_rank(&[1, 2], 51), Some(2));
        // Three values: p50 → rank 2.
        assert_eq!(nearest_rank(&[1, 2, 3], 50), Some(2));
    }

    #[test]
    fn audit_percentiles_sort_their_input_and_report_seconds() {
        let p = Percentiles::from_micros(&[3_000_000, 1_500_000, 2_000_000, 250_000]);
        assert_eq!(p.count, 4);
        assert_eq!(p.p50, Some(1.5));
        assert_eq!(p.p90, Some(3.0));
        assert_eq!(p.max, Some(3.0));
        let empty = Percentiles::from_micros(&[]);
        assert_eq!(empty.count, 0);
        assert_eq!(empty.p50, None);
        assert_eq!(empty.max, None);
    }
}
