//! The bounded consumption history of one series (one account, one dimension).
//!
//! A `History` is a fixed array of `N_BUCKETS` buckets that always covers the whole run from
//! `start_ms`. Each bucket sums the amounts observed in its time span. When an observation falls
//! beyond the last bucket, adjacent buckets are merged pairwise and the bucket width doubles, so
//! memory stays constant however long the run is, and the resolution is always between
//! `elapsed / N_BUCKETS` and `2 * elapsed / N_BUCKETS`. Summary figures (total consumed, number of
//! observations, last observation time) are exact; only the timing inside a bucket is lost, and it
//! is linearly interpolated when read back.

/// Number of buckets kept per series: 2 KiB of counts, whatever the length of the run.
pub const N_BUCKETS: usize = 256;

/// Width of a bucket before any doubling: one second.
pub const INITIAL_BUCKET_WIDTH_MS: u64 = 1_000;

/// Bounded history of one series: amounts per time bucket, plus exact totals.
#[derive(Debug, Clone)]
pub struct History {
    start_ms: u64,
    bucket_width_ms: u64,
    buckets: [u64; N_BUCKETS],
    consumed: u64,
    last_at_ms: u64,
    n_observations: u64,
}

impl History {
    /// An empty history of a run that started at `start_ms`.
    pub fn new(start_ms: u64) -> Self {
        Self {
            start_ms,
            bucket_width_ms: INITIAL_BUCKET_WIDTH_MS,
            buckets: [0; N_BUCKETS],
            consumed: 0,
            last_at_ms: start_ms,
            n_observations: 0,
        }
    }

    /// Records `amount` consumed at `at_ms`. Observations before the start count at the start;
    /// late (out of order) observations land in their own bucket.
    pub fn observe(&mut self, at_ms: u64, amount: u64) {
        let at_ms = at_ms.max(self.start_ms);
        let mut bucket_idx = self.bucket_index(at_ms);
        while bucket_idx >= N_BUCKETS {
            self.widen();
            bucket_idx = self.bucket_index(at_ms);
        }
        self.buckets[bucket_idx] = self.buckets[bucket_idx].saturating_add(amount);
        self.consumed = self.consumed.saturating_add(amount);
        self.last_at_ms = self.last_at_ms.max(at_ms);
        self.n_observations += 1;
    }

    /// When the run started.
    pub fn start_ms(&self) -> u64 {
        self.start_ms
    }

    /// Total consumed so far (exact).
    pub fn consumed(&self) -> u64 {
        self.consumed
    }

    /// Time of the latest observation (the start if none).
    pub fn last_at_ms(&self) -> u64 {
        self.last_at_ms
    }

    /// Number of observations recorded.
    pub fn n_observations(&self) -> u64 {
        self.n_observations
    }

    /// Current bucket width: the time resolution of the history.
    pub fn bucket_width_ms(&self) -> u64 {
        self.bucket_width_ms
    }

    /// Cumulative consumption at `at_ms`, interpolated inside its bucket, reading the history as
    /// known at `now_ms` (the bucket holding `now_ms` is spread over its elapsed part only).
    pub fn cumulative_at(&self, at_ms: u64, now_ms: u64) -> f64 {
        Curve::new(self, now_ms).cumulative_at(at_ms)
    }

    /// First time the cumulative consumption reached `amount`, at bucket resolution with linear
    /// interpolation inside the bucket; `None` if it has not been reached.
    pub fn reached_at_ms(&self, amount: u64) -> Option<u64> {
        if amount == 0 {
            return Some(self.start_ms);
        }
        let mut cumulative: u64 = 0;
        for (bucket_idx, &bucket) in self.buckets.iter().enumerate() {
            if bucket > 0 && cumulative.saturating_add(bucket) >= amount {
                let fraction = (amount - cumulative) as f64 / bucket as f64;
                let bucket_start = self.bucket_start_ms(bucket_idx);
                let bucket_end = (bucket_start + self.bucket_width_ms).min(self.last_at_ms);
                let span = bucket_end.saturating_sub(bucket_start) as f64;
                return Some(bucket_start + (fraction * span).round() as u64);
            }
            cumulative = cumulative.saturating_add(bucket);
        }
        None
    }

    fn bucket_index(&self, at_ms: u64) -> usize {
        let index = (at_ms - self.start_ms) / self.bucket_width_ms;
        usize::try_from(index).unwrap_or(usize::MAX)
    }

    fn bucket_start_ms(&self, bucket_idx: usize) -> u64 {
        self.start_ms
            .saturating_add((bucket_idx as u64).saturating_mul(self.bucket_width_ms))
    }

    /// Merges buckets pairwise and doubles their width.
    fn widen(&mut self) {
        for bucket_idx in 0..N_BUCKETS / 2 {
            self.buckets[bucket_idx] =
                self.buckets[2 * bucket_idx].saturating_add(self.buckets[2 * bucket_idx + 1]);
        }
        self.buckets[N_BUCKETS / 2..].fill(0);
        self.bucket_width_ms = self.bucket_width_ms.saturating_mul(2);
    }
}

/// The cumulative curve of a history as known at `now_ms`, with prefix sums so that each read
/// is O(1). Built once per forecast.
#[derive(Debug)]
pub(crate) struct Curve<'a> {
    history: &'a History,
    now_ms: u64,
    prefix: [u64; N_BUCKETS + 1],
}

impl<'a> Curve<'a> {
    pub(crate) fn new(history: &'a History, now_ms: u64) -> Self {
        let mut prefix = [0u64; N_BUCKETS + 1];
        for (bucket_idx, &bucket) in history.buckets.iter().enumerate() {
            prefix[bucket_idx + 1] = prefix[bucket_idx].saturating_add(bucket);
        }
        Self {
            history,
            now_ms: now_ms.max(history.last_at_ms),
            prefix,
        }
    }

    pub(crate) fn cumulative_at(&self, at_ms: u64) -> f64 {
        let history = self.history;
        if at_ms >= self.now_ms {
            return history.consumed as f64;
        }
        if at_ms < history.start_ms {
            return 0.0;
        }
        let bucket_idx = history.bucket_index(at_ms).min(N_BUCKETS - 1);
        let bucket_start = history.bucket_start_ms(bucket_idx);
        let bucket_end = (bucket_start + history.bucket_width_ms).min(self.now_ms);
        let span = bucket_end.saturating_sub(bucket_start).max(1) as f64;
        let fraction = ((at_ms - bucket_start) as f64 / span).min(1.0);
        self.prefix[bucket_idx] as f64 + history.buckets[bucket_idx] as f64 * fraction
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Feeds `(at_ms, amount)` observations and checks the cumulative curve at given times.
    fn check(observations: &[(u64, u64)], now_ms: u64, expected: &[(u64, f64)]) {
        let mut history = History::new(0);
        for &(at_ms, amount) in observations {
            history.observe(at_ms, amount);
        }
        for &(at_ms, want) in expected {
            let got = history.cumulative_at(at_ms, now_ms);
            assert!(
                (got - want).abs() <= 1e-9 * want.max(1.0),
                "cumulative at {at_ms}: got {got}, want {want}"
            );
        }
    }

    #[test]
    fn cumulative_curve_interpolates_inside_buckets() {
        check(
            &[(0, 10), (1_000, 10)],
            2_000,
            &[(0, 0.0), (500, 5.0), (1_000, 10.0), (2_000, 20.0)],
        );
        check(&[(500, 4)], 500, &[(250, 2.0), (500, 4.0)]);
        check(&[], 5_000, &[(1_000, 0.0)]);
    }

    #[test]
    fn widening_keeps_totals_and_memory_bounded() {
        let mut history = History::new(1_000);
        for second in 0..10_000u64 {
            history.observe(1_000 + second * 1_000, 3);
        }
        assert_eq!(history.consumed(), 30_000);
        assert_eq!(history.n_observations(), 10_000);
        // 10,000 s over 256 buckets needs 64 s buckets (39 s would not fit, 64 s does).
        assert_eq!(history.bucket_width_ms(), 64_000);
        let half = history.cumulative_at(1_000 + 5_000_000, 1_000 + 9_999_000);
        assert!(
            (half - 15_000.0).abs() <= 3.0 * 64.0,
            "half-way cumulative {half}"
        );
    }

    #[test]
    fn reached_at_finds_the_crossing_time() {
        let mut history = History::new(0);
        for second in 0..100u64 {
            history.observe(second * 1_000, 10);
        }
        assert_eq!(history.reached_at_ms(0), Some(0));
        // Timing inside a bucket is lost: an amount is spread over its bucket's second.
        assert_eq!(history.reached_at_ms(5), Some(500));
        assert_eq!(history.reached_at_ms(500), Some(50_000));
        assert_eq!(history.reached_at_ms(1_001), None);
    }
}
