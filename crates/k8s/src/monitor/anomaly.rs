//! Anomalies: samples far from what the series has lately been, measured robustly.
//!
//! The detector is a Hampel filter run forward in time. Each sample is compared with the
//! `baseline_points` samples before it: the baseline is their median, the scale their median
//! absolute deviation (MAD) times 1.4826, which estimates a standard deviation without letting the
//! outliers set it, and the score is `(value - median) / scale`, a robust z-score. It was chosen
//! because every figure of a finding is one a person can check by eye on a chart (the middle of
//! the last hours, how widely they usually spread, how many spreads away this is, the highest
//! the day went), because a median follows a level shift once it has lasted half a window, and
//! because it needs no model of daily cycles or training data.
//!
//! Six guards keep it quiet where a plain z-score is not:
//! * warm-up: no score until the baseline holds `warmup_points` samples;
//! * a fallback scale: when more than half the baseline equals its median (an idle disk, a
//!   quantized counter), the MAD is zero and the mean absolute deviation times 1.2533 stands in,
//!   as in Iglewicz and Hoaglin's modified z-score;
//! * a minimum scale: never below `min_scale_fraction` (1 %) of the largest of the capacity, the
//!   baseline and the value, so a series that barely moves does not alarm on a change of a few
//!   parts in a thousand, and a series that was perfectly flat still gets a finite score;
//! * novelty: a sample is anomalous only beyond the range of the samples of the last `range_ms`
//!   (a day) before the ones being confirmed, above its highest or below its lowest. A median
//!   and a MAD ignore whatever fills less than half the window, which is what makes them robust
//!   and also what makes them call a routine minority an outlier every time: the hourly cron
//!   burst, the nightly backup, a CPU that bursts for ten minutes several times a day. Resource
//!   usage repeats daily, so what the series already did within a day is not news;
//! * persistence: a finding needs `confirm_points` of the last `confirm_window` samples anomalous
//!   (the current one included), so one stray sample is not paged on;
//! * a refractory period: after a finding, none for `refractory_ms` on the same series.
//!
//! Both directions count: a CPU that drops to nothing is as worth a look as one that spikes.
//! The default threshold is 3.5, Iglewicz and Hoaglin's cut-off for the modified z-score.

use std::collections::VecDeque;

use super::robust::spread;
use super::{Sample, Scratch};

/// The novelty range is kept as the lowest and highest value of each 1/24 of `range_ms` (an
/// hour by default), so it costs 25 pairs per series whatever the sampling rate, and covers at
/// least `range_ms` and at most one bucket more.
const RANGE_BUCKETS: u64 = 24;

/// The anomaly detector's settings.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct AnomalyConfig {
    /// Samples before the current one that make its baseline (default 60).
    pub baseline_points: usize,
    /// No score until the baseline holds this many (default 30).
    pub warmup_points: usize,
    /// A sample whose robust z-score reaches this, in either direction, is anomalous
    /// (default 3.5).
    pub score_threshold: f64,
    /// A finding needs this many anomalous samples... (default 2)
    pub confirm_points: usize,
    /// ...among the last this many (at most 64; default 3).
    pub confirm_window: usize,
    /// The scale is at least this fraction of the largest of the capacity, |median| and
    /// |value| (default 0.01).
    pub min_scale_fraction: f64,
    /// No new finding on a series for this long after one (default 1 hour).
    pub refractory_ms: u64,
    /// A sample is anomalous only beyond the range of this past (default 1 day); 0 turns the
    /// novelty guard off.
    pub range_ms: u64,
}

impl Default for AnomalyConfig {
    fn default() -> Self {
        AnomalyConfig {
            baseline_points: 60,
            warmup_points: 30,
            score_threshold: 3.5,
            confirm_points: 2,
            confirm_window: 3,
            min_scale_fraction: 0.01,
            refractory_ms: 60 * 60_000,
            range_ms: 24 * 60 * 60_000,
        }
    }
}

impl AnomalyConfig {
    pub(super) fn check(&self) -> Result<(), String> {
        if self.warmup_points < 3 || self.warmup_points > self.baseline_points {
            return Err(format!(
                "anomaly points must satisfy 3 <= warmup_points <= baseline_points, got {} and {}",
                self.warmup_points, self.baseline_points
            ));
        }
        if self.confirm_points == 0
            || self.confirm_points > self.confirm_window
            || self.confirm_window > 64
        {
            return Err(format!(
                "anomaly confirmation must satisfy 1 <= confirm_points <= confirm_window <= 64, \
                 got {} and {}",
                self.confirm_points, self.confirm_window
            ));
        }
        if !(self.score_threshold > 0.0 && self.score_threshold.is_finite()) {
            return Err(format!(
                "anomaly score_threshold must be above 0, got {}",
                self.score_threshold
            ));
        }
        if !(self.min_scale_fraction > 0.0 && self.min_scale_fraction < 1.0) {
            return Err(format!(
                "anomaly min_scale_fraction must be in (0, 1), got {}",
                self.min_scale_fraction
            ));
        }
        Ok(())
    }
}

/// How far one sample stands from its baseline.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Deviation {
    pub value: f64,
    /// The median of the baseline.
    pub median: f64,
    /// The MAD of the baseline, unscaled.
    pub mad: f64,
    /// The scale the score divides by: 1.4826 × MAD, its fallback, or the minimum.
    pub scale: f64,
    /// `(value - median) / scale`: positive above the baseline, negative below.
    pub score: f64,
}

/// Scores `value` against `baseline` (the values before it, at most `baseline_points` of them);
/// `None` during the warm-up. `buffer` is reused scratch space.
pub fn deviation(
    value: f64,
    baseline: &[f64],
    capacity: Option<f64>,
    config: &AnomalyConfig,
    buffer: &mut Vec<f64>,
) -> Option<Deviation> {
    if baseline.len() < config.warmup_points {
        return None;
    }
    let spread = spread(baseline, buffer)?;
    let magnitude = capacity
        .unwrap_or(0.0)
        .max(spread.median.abs())
        .max(value.abs());
    let scale = spread.sigma.max(config.min_scale_fraction * magnitude);
    let offset = value - spread.median;
    // Invariant: a zero scale needs a zero magnitude, hence a zero value and median.
    let score = if offset == 0.0 { 0.0 } else { offset / scale };
    debug_assert!(
        score.is_finite(),
        "score of {value} against {spread:?} is {score}"
    );
    Some(Deviation {
        value,
        median: spread.median,
        mad: spread.mad,
        scale,
        score,
    })
}

/// An anomaly finding: the score of the sample that confirmed it, and the confirmation.
#[derive(Clone, Debug, PartialEq)]
pub struct Anomaly {
    pub deviation: Deviation,
    /// Anomalous samples among the last `window`, the current one included.
    pub anomalous: usize,
    pub window: usize,
    /// The lowest and highest values of the last `range_ms` before the samples being confirmed,
    /// which the value went beyond; `None` when the guard is off or nothing was kept yet.
    pub range: Option<(f64, f64)>,
    pub range_ms: u64,
}

/// The lowest and highest values of one bucket of time.
#[derive(Clone, Copy, Debug)]
struct Bucket {
    index: u64,
    low: f64,
    high: f64,
}

/// The recent verdicts, the last finding and the day's range of one series.
#[derive(Clone, Debug, Default)]
pub(super) struct AnomalyTracker {
    /// One bit per recent sample, the newest lowest: set when it was anomalous.
    recent: u64,
    last_finding_ms: Option<u64>,
    /// Oldest first, at most `RANGE_BUCKETS + 1`: the samples that left the confirmation window.
    range: VecDeque<Bucket>,
}

impl AnomalyTracker {
    /// Scores a sample against the ones before it (`earlier`, oldest first, at least the
    /// confirmation window) and says whether it confirms an anomaly.
    pub(super) fn observe(
        &mut self,
        config: &AnomalyConfig,
        t_ms: u64,
        value: f64,
        earlier: &[Sample],
        capacity: Option<f64>,
        scratch: &mut Scratch,
    ) -> Option<Anomaly> {
        let start = earlier.len().saturating_sub(config.baseline_points);
        scratch.values.clear();
        scratch
            .values
            .extend(earlier[start..].iter().map(|sample| sample.value));
        let deviation = deviation(
            value,
            &scratch.values,
            capacity,
            config,
            &mut scratch.deviations,
        );
        let range = self.range(config, t_ms);
        let is_anomalous = deviation.is_some_and(|deviation| {
            let beyond = range.is_none_or(|(low, high)| {
                if deviation.score > 0.0 {
                    value > high
                } else {
                    value < low
                }
            });
            deviation.score.abs() >= config.score_threshold && beyond
        });
        // The sample that leaves the confirmation window joins the range for the next ones.
        let leaving = match config.confirm_window - 1 {
            0 => Some(Sample { t_ms, value }),
            others => earlier
                .len()
                .checked_sub(others)
                .map(|index| earlier[index]),
        };
        if let Some(sample) = leaving {
            self.remember(config, sample);
        }

        let window_mask = u64::MAX >> (64 - config.confirm_window);
        self.recent = ((self.recent << 1) | u64::from(is_anomalous)) & window_mask;
        let anomalous = self.recent.count_ones() as usize;
        let resting = self
            .last_finding_ms
            .is_some_and(|last_ms| t_ms < last_ms.saturating_add(config.refractory_ms));
        if !is_anomalous || anomalous < config.confirm_points || resting {
            return None;
        }
        self.last_finding_ms = Some(t_ms);
        Some(Anomaly {
            // Invariant: an anomalous sample was scored.
            deviation: deviation?,
            anomalous,
            window: config.confirm_window,
            range,
            range_ms: config.range_ms,
        })
    }

    /// The lowest and highest values kept of the `range_ms` before `t_ms`, forgetting older
    /// buckets; `None` when the guard is off or nothing is kept.
    fn range(&mut self, config: &AnomalyConfig, t_ms: u64) -> Option<(f64, f64)> {
        if config.range_ms == 0 {
            return None;
        }
        let bucket_ms = (config.range_ms / RANGE_BUCKETS).max(1);
        let oldest_index = t_ms.saturating_sub(config.range_ms) / bucket_ms;
        while self
            .range
            .front()
            .is_some_and(|bucket| bucket.index < oldest_index)
        {
            self.range.pop_front();
        }
        let low = self
            .range
            .iter()
            .map(|bucket| bucket.low)
            .reduce(f64::min)?;
        let high = self
            .range
            .iter()
            .map(|bucket| bucket.high)
            .reduce(f64::max)?;
        Some((low, high))
    }

    fn remember(&mut self, config: &AnomalyConfig, sample: Sample) {
        if config.range_ms == 0 {
            return;
        }
        let index = sample.t_ms / (config.range_ms / RANGE_BUCKETS).max(1);
        match self.range.back_mut() {
            Some(bucket) if bucket.index == index => {
                bucket.low = bucket.low.min(sample.value);
                bucket.high = bucket.high.max(sample.value);
            }
            _ => self.range.push_back(Bucket {
                index,
                low: sample.value,
                high: sample.value,
            }),
        }
        // Invariant: times only move forward, and `range` forgets buckets older than `range_ms`
        // before every use, so the buckets stay few.
        debug_assert!(
            self.range.len() as u64 <= RANGE_BUCKETS + 2,
            "{} range buckets",
            self.range.len()
        );
    }
}
