//! Upstream's recommender tests, ported as tables of inputs and expected outputs, and the replay
//! on real CloudWatch CPU series. Each file names the upstream file and test functions its cases
//! come from; cases marked "ours" are not upstream's.

mod aggregate_container_state;
mod capping;
mod container;
mod decaying_histogram;
mod estimator;
mod histogram;
mod histogram_options;
mod recommender;
mod replay_nab;
mod resource_amount;

use super::{Histogram, HistogramOptions};

/// 2017-04-18 17:35:05 UTC, upstream's `testTimestamp` in `model/container_test.go`.
pub(super) const TEST_TIMESTAMP_MS: i64 = 1_492_536_905_000;

/// 1234567890 s after the epoch, upstream's `startTime` in `util/decaying_histogram_test.go`.
pub(super) const START_TIME_MS: i64 = 1_234_567_890_000;

/// Upstream's `mb` in `model/container_test.go` (a mebibyte).
pub(super) const MB: i64 = 1024 * 1024;

/// Upstream's `testHistogramOptions`: linear buckets of 1.0 up to 10.0, epsilon 1e-15.
pub(super) fn test_histogram_options() -> HistogramOptions {
    HistogramOptions::linear(10.0, 1.0, WEIGHT_EPSILON).expect("valid options")
}

/// Upstream's `weightEpsilon` and `valueEpsilon`.
pub(super) const WEIGHT_EPSILON: f64 = 1e-15;
pub(super) const VALUE_EPSILON: f64 = 1e-15;

/// One step of a histogram scenario: change the histogram, or check it.
#[derive(Clone, Copy, Debug)]
pub(super) enum Step {
    Add {
        value: f64,
        weight: f64,
        t_ms: i64,
    },
    Subtract {
        value: f64,
        weight: f64,
        t_ms: i64,
    },
    /// `percentile(p)` is within relative `VALUE_EPSILON` of `expected` (exactly, for 0).
    Percentile {
        p: f64,
        expected: f64,
    },
    IsEmpty(bool),
}

/// Adds `value` with `weight` at `t_ms` (ignored by a plain histogram).
pub(super) const fn add(value: f64, weight: f64, t_ms: i64) -> Step {
    Step::Add {
        value,
        weight,
        t_ms,
    }
}

pub(super) const fn subtract(value: f64, weight: f64, t_ms: i64) -> Step {
    Step::Subtract {
        value,
        weight,
        t_ms,
    }
}

pub(super) const fn percentile(p: f64, expected: f64) -> Step {
    Step::Percentile { p, expected }
}

/// What the scenario runner needs of a histogram, plain or decaying.
pub(super) trait ScenarioHistogram {
    fn add(&mut self, value: f64, weight: f64, t_ms: i64);
    fn subtract(&mut self, value: f64, weight: f64, t_ms: i64);
    fn percentile(&self, p: f64) -> f64;
    fn is_empty(&self) -> bool;
}

impl ScenarioHistogram for Histogram {
    fn add(&mut self, value: f64, weight: f64, _t_ms: i64) {
        self.add_sample(value, weight);
    }
    fn subtract(&mut self, value: f64, weight: f64, _t_ms: i64) {
        self.subtract_sample(value, weight);
    }
    fn percentile(&self, p: f64) -> f64 {
        Histogram::percentile(self, p)
    }
    fn is_empty(&self) -> bool {
        Histogram::is_empty(self)
    }
}

impl ScenarioHistogram for super::DecayingHistogram {
    fn add(&mut self, value: f64, weight: f64, t_ms: i64) {
        self.add_sample(value, weight, t_ms);
    }
    fn subtract(&mut self, value: f64, weight: f64, t_ms: i64) {
        self.subtract_sample(value, weight, t_ms);
    }
    fn percentile(&self, p: f64) -> f64 {
        super::DecayingHistogram::percentile(self, p)
    }
    fn is_empty(&self) -> bool {
        super::DecayingHistogram::is_empty(self)
    }
}

/// Runs `steps` on `histogram`, failing with the case name and the step index.
pub(super) fn run_steps(case: &str, histogram: &mut impl ScenarioHistogram, steps: &[Step]) {
    for (step_idx, step) in steps.iter().enumerate() {
        match *step {
            Step::Add {
                value,
                weight,
                t_ms,
            } => histogram.add(value, weight, t_ms),
            Step::Subtract {
                value,
                weight,
                t_ms,
            } => histogram.subtract(value, weight, t_ms),
            Step::Percentile { p, expected } => {
                let actual = histogram.percentile(p);
                assert!(
                    within_relative(actual, expected, VALUE_EPSILON),
                    "{case}, step {step_idx}: percentile({p}) = {actual}, expected {expected}"
                );
            }
            Step::IsEmpty(expected) => assert_eq!(
                histogram.is_empty(),
                expected,
                "{case}, step {step_idx}: is_empty"
            ),
        }
    }
}

/// testify's `InEpsilon`: the relative error is at most `epsilon`; an expected 0 must be exact.
pub(super) fn within_relative(actual: f64, expected: f64, epsilon: f64) -> bool {
    if expected == 0.0 {
        return actual == 0.0;
    }
    ((actual - expected) / expected).abs() <= epsilon
}
