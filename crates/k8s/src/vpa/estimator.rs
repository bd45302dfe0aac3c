//! Estimators: functions from an [`AggregateContainerState`] to an amount of one resource
//! (upstream's `logic/estimator.go`). They compose: a percentile, plus a margin, scaled by a
//! confidence multiplier, with a floor. Upstream writes a CPU and a memory type of each; here one
//! [`Estimator`] value serves both, and [`Estimator::estimate`] is told which resource to read.

use super::aggregate::AggregateContainerState;
use super::{
    Resource, Resources, cpu_millicores_from_cores, memory_bytes_from_f64, scale_resource,
};

/// A way to estimate the amount of a resource a container needs, as a tree of upstream's
/// estimators. Build one with [`Estimator::percentile`] and the `with_*` methods; amounts are in
/// millicores for CPU and bytes for memory.
#[derive(Clone, Debug, PartialEq)]
pub enum Estimator {
    /// The given percentile (0.0 to 1.0) of the CPU usage histogram or of the memory peaks
    /// histogram.
    Percentile(f64),
    /// Always the same amount (used by tests of the composing estimators, as upstream's are).
    Constant(i64),
    /// The base amount plus `fraction` of it (the safety margin).
    Margin { fraction: f64, base: Box<Estimator> },
    /// The base amount times `(1 + multiplier / confidence) ^ exponent`, where [`confidence`]
    /// measures the history in units of `confidence_interval_ms`. With a positive exponent a short
    /// history widens the amount (upstream's upper bound); with a negative one it shrinks it (the
    /// lower bound).
    ConfidenceMultiplier {
        multiplier: f64,
        exponent: f64,
        confidence_interval_ms: i64,
        base: Box<Estimator>,
    },
    /// The base amount, but at least `min_amount`.
    MinResource {
        min_amount: i64,
        base: Box<Estimator>,
    },
}

impl Estimator {
    /// The `percentile` (0.0 to 1.0) of the usage distribution.
    pub fn percentile(percentile: f64) -> Self {
        Self::Percentile(percentile)
    }

    /// Always `amount`.
    pub fn constant(amount: i64) -> Self {
        Self::Constant(amount)
    }

    /// This estimate plus `fraction` of it.
    pub fn with_margin(self, fraction: f64) -> Self {
        Self::Margin {
            fraction,
            base: Box::new(self),
        }
    }

    /// This estimate scaled by `(1 + multiplier / confidence) ^ exponent`.
    pub fn with_confidence_multiplier(
        self,
        multiplier: f64,
        exponent: f64,
        confidence_interval_ms: i64,
    ) -> Self {
        Self::ConfidenceMultiplier {
            multiplier,
            exponent,
            confidence_interval_ms,
            base: Box::new(self),
        }
    }

    /// This estimate, but at least `min_amount`.
    pub fn with_min_resource(self, min_amount: i64) -> Self {
        Self::MinResource {
            min_amount,
            base: Box::new(self),
        }
    }

    /// The amount of `resource` this estimator gives for `state`.
    pub fn estimate(&self, resource: Resource, state: &AggregateContainerState) -> i64 {
        match self {
            Self::Percentile(percentile) => match resource {
                Resource::Cpu => cpu_millicores_from_cores(state.cpu_usage.percentile(*percentile)),
                Resource::Memory => {
                    memory_bytes_from_f64(state.memory_peaks.percentile(*percentile))
                }
            },
            Self::Constant(amount) => *amount,
            Self::Margin { fraction, base } => {
                let base_amount = base.estimate(resource, state);
                // Upstream truncates the margin on its own before adding it.
                base_amount.saturating_add(scale_resource(base_amount, *fraction))
            }
            Self::ConfidenceMultiplier {
                multiplier,
                exponent,
                confidence_interval_ms,
                base,
            } => {
                let confidence = confidence(state, *confidence_interval_ms);
                let factor = (1.0 + multiplier / confidence).powf(*exponent);
                scale_resource(base.estimate(resource, state), factor)
            }
            Self::MinResource { min_amount, base } => {
                base.estimate(resource, state).max(*min_amount)
            }
        }
    }

    /// CPU from `cpu` and memory from `memory` (upstream's combined estimator).
    pub fn estimate_both(
        cpu: &Estimator,
        memory: &Estimator,
        state: &AggregateContainerState,
    ) -> Resources {
        Resources {
            cpu_millicores: cpu.estimate(Resource::Cpu, state),
            memory_bytes: memory.estimate(Resource::Memory, state),
        }
    }
}

/// How much history `state` holds, in units of `confidence_interval_ms` (a day by default): the
/// smaller of the time between the first and the last sample, and the sample count read as one
/// sample a minute. A workload sampled every minute for N days has confidence N; one with a few
/// samples spread over a week has little.
pub fn confidence(state: &AggregateContainerState, confidence_interval_ms: i64) -> f64 {
    let lifespan_intervals = state.lifespan_ms() as f64 / confidence_interval_ms as f64;
    // Minutes computed as Go's `Duration.Minutes` does (whole minutes plus the remainder), so
    // the ratio below rounds the same way.
    let interval_minutes = (confidence_interval_ms / 60_000) as f64
        + (confidence_interval_ms % 60_000) as f64 / 60_000.0;
    let samples_intervals = state.total_samples_count as f64 / interval_minutes;
    lifespan_intervals.min(samples_intervals)
}
