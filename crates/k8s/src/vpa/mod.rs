//! The VerticalPodAutoscaler recommender, computed the way upstream's `vpa-recommender` computes
//! it, so that Purser's `rightsize` answers match what a cluster running VPA would recommend.
//!
//! Ported from kubernetes/autoscaler `vertical-pod-autoscaler/pkg/recommender` (read at commit
//! 55c37cd5eb550756c5ccc5a89e9068d77797e575) with upstream's defaults. The data flows as upstream's:
//!
//! 1. [`ContainerState`] takes the raw samples of one running container: it drops duplicate and
//!    out-of-order CPU samples, keeps one memory peak per aggregation interval (24 h) and turns OOM
//!    events into bumped-up memory peaks.
//! 2. [`AggregateContainerState`] holds what the recommender reads: a [`DecayingHistogram`] of CPU
//!    usage (half-life 24 h), a decaying histogram of memory peaks, and the first and last sample
//!    times and sample count that measure how much history there is.
//! 3. [`Estimator`]s turn that state into amounts: a percentile, plus a safety margin, scaled by a
//!    confidence multiplier for short histories, with a floor.
//! 4. [`PodResourceRecommender`] composes them as upstream does (target at the 90th percentile,
//!    lower bound at the 50th, upper bound at the 95th) and [`apply_policy`] clamps the result to a
//!    resource policy's `minAllowed` / `maxAllowed`.
//! 5. [`replay`] scores a recommendation against the usage that followed it.
//!
//! Units: CPU in millicores and memory in bytes, both `i64` (upstream's `ResourceAmount`), and
//! time in milliseconds (any epoch; the Unix epoch in practice). The histograms hold CPU in cores,
//! as upstream's do, so that the bucket boundaries are upstream's.
//!
//! Dependencies by design: std only. Nothing here reads the clock or touches files; the caller
//! passes every timestamp in.

mod aggregate;
mod capping;
mod container;
mod decaying;
mod estimator;
mod histogram;
mod policy;
mod recommender;
mod replay;
mod workload;

#[cfg(test)]
mod tests;

use std::fmt;

pub use aggregate::{
    AggregateContainerState, AggregateStateCheckpoint, AggregationConfig, CHECKPOINT_VERSION,
    HISTOGRAM_EPSILON, MIN_SAMPLE_WEIGHT, UsageAggregator, aggregate_by_container_name,
};
pub use capping::apply_policy;
pub use container::{ContainerHistory, ContainerState};
pub use decaying::{DecayingHistogram, MAX_DECAY_EXPONENT};
pub use estimator::{Estimator, confidence};
pub use histogram::{
    Histogram, HistogramCheckpoint, HistogramOptions, MAX_BUCKETS, MAX_CHECKPOINT_WEIGHT,
};
pub use policy::{
    ContainerPolicy, ControlledResources, DEFAULT_CONTAINER_POLICY, PodResourcePolicy,
};
pub use recommender::{
    ContainerRecommendation, PodResourceRecommender, RecommendationConfig, RecommendationFormat,
    RecommendedContainerResources, recommendation_list, round_up_to_scale,
};
pub use replay::{CpuSample, ReplayScore, RequestScore, replay};
pub use workload::{UsageSample, Workload, rightsize};

/// One hour in milliseconds.
pub const MS_PER_HOUR: i64 = 3_600_000;
/// One day in milliseconds: upstream's aggregation interval, half-lives and confidence interval.
pub const MS_PER_DAY: i64 = 24 * MS_PER_HOUR;
/// One mebibyte, the unit of upstream's `pod-recommendation-min-memory-mb` flag and OOM bump.
pub const BYTES_PER_MIB: i64 = 1024 * 1024;

/// The largest amount the recommender ever returns (upstream's `MaxResourceAmount`, 1e14): an
/// upper bound with no history is "infinite" and is reported as this.
pub const MAX_RESOURCE_AMOUNT: i64 = 100_000_000_000_000;

/// The two resources the recommender sizes.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Resource {
    /// CPU, in millicores (1 core = 1000 millicores).
    Cpu,
    /// Memory, in bytes.
    Memory,
}

/// A CPU and a memory amount, both always present: what an estimator returns.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Resources {
    pub cpu_millicores: i64,
    pub memory_bytes: i64,
}

/// A CPU and a memory amount, each of which may be absent, like a Kubernetes `ResourceList`: a
/// recommendation leaves out the resources it does not control, and a policy leaves out the
/// bounds it does not set.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct ResourceList {
    pub cpu_millicores: Option<i64>,
    pub memory_bytes: Option<i64>,
}

impl ResourceList {
    /// Both resources set.
    pub fn new(cpu_millicores: i64, memory_bytes: i64) -> Self {
        Self {
            cpu_millicores: Some(cpu_millicores),
            memory_bytes: Some(memory_bytes),
        }
    }

    /// The amount of `resource`, if set.
    pub fn get(&self, resource: Resource) -> Option<i64> {
        match resource {
            Resource::Cpu => self.cpu_millicores,
            Resource::Memory => self.memory_bytes,
        }
    }

    /// A mutable handle on the amount of `resource`.
    pub fn get_mut(&mut self, resource: Resource) -> &mut Option<i64> {
        match resource {
            Resource::Cpu => &mut self.cpu_millicores,
            Resource::Memory => &mut self.memory_bytes,
        }
    }
}

/// Converts cores to millicores as upstream does: truncated toward zero and clamped to
/// `[0, MAX_RESOURCE_AMOUNT]`.
pub fn cpu_millicores_from_cores(cores: f64) -> i64 {
    resource_amount_from_f64(cores * 1000.0)
}

/// Converts millicores to cores.
pub fn cores_from_cpu_millicores(cpu_millicores: i64) -> f64 {
    cpu_millicores as f64 / 1000.0
}

/// Converts a float number of bytes to a memory amount: truncated and clamped like CPU.
pub fn memory_bytes_from_f64(bytes: f64) -> i64 {
    resource_amount_from_f64(bytes)
}

/// Multiplies an amount by `factor`, truncating and clamping the result (upstream's
/// `ScaleResource`). An infinite factor yields `MAX_RESOURCE_AMOUNT`, which is how an upper bound
/// with no history comes out.
pub fn scale_resource(amount: i64, factor: f64) -> i64 {
    resource_amount_from_f64(amount as f64 * factor)
}

/// Upstream's `resourceAmountFromFloat`: clamp to `[0, MAX_RESOURCE_AMOUNT]`, then truncate.
/// NaN (zero usage times an infinite confidence factor) becomes 0; in Go the conversion of NaN is
/// platform-defined, and every caller applies a minimum afterwards, so 0 loses nothing.
pub(crate) fn resource_amount_from_f64(amount: f64) -> i64 {
    if amount.is_nan() {
        return 0;
    }
    if amount > MAX_RESOURCE_AMOUNT as f64 {
        return MAX_RESOURCE_AMOUNT;
    }
    if amount < 0.0 {
        return 0;
    }
    amount as i64
}

/// What can go wrong when building the recommender's inputs or loading its saved state. A sample
/// that is merely out of order is not an error: the add methods return `false` for it, as
/// upstream's do.
#[derive(Clone, Debug, PartialEq)]
pub enum VpaError {
    /// Histogram options outside their domain (a bound not positive, a ratio not above 1).
    InvalidHistogramOptions { reason: &'static str },
    /// Histogram options that would need more buckets than [`MAX_BUCKETS`].
    TooManyBuckets { n_buckets: f64, limit: usize },
    /// A histogram checkpoint whose total weight is negative.
    NegativeCheckpointWeight { total_weight: f64 },
    /// A histogram checkpoint naming a bucket the histogram does not have.
    CheckpointBucketOutOfRange { bucket: i64, n_buckets: usize },
    /// An aggregate-state checkpoint written by another version of the format.
    UnsupportedCheckpointVersion { version: String },
    /// An OOM event older than one aggregation interval before the last memory sample.
    StaleOom {
        t_ms: i64,
        last_memory_sample_ms: i64,
    },
    /// An OOM event whose artificial memory sample was rejected.
    OomSampleRejected { t_ms: i64 },
    /// A rounding scale that is not positive.
    InvalidRoundingScale { scale: i64 },
}

impl fmt::Display for VpaError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::InvalidHistogramOptions { reason } => {
                write!(f, "invalid histogram options: {reason}")
            }
            Self::TooManyBuckets { n_buckets, limit } => {
                write!(
                    f,
                    "histogram options need {n_buckets} buckets, more than the limit of {limit}"
                )
            }
            Self::NegativeCheckpointWeight { total_weight } => {
                write!(
                    f,
                    "cannot load checkpoint with negative weight {total_weight}"
                )
            }
            Self::CheckpointBucketOutOfRange { bucket, n_buckets } => {
                write!(
                    f,
                    "checkpoint has bucket {bucket} outside the histogram's {n_buckets} buckets"
                )
            }
            Self::UnsupportedCheckpointVersion { version } => {
                write!(f, "unsupported checkpoint version {version}")
            }
            Self::StaleOom {
                t_ms,
                last_memory_sample_ms,
            } => write!(
                f,
                "oom event at {t_ms} ms discarded: older than one aggregation interval before the \
                 last memory sample at {last_memory_sample_ms} ms"
            ),
            Self::OomSampleRejected { t_ms } => {
                write!(
                    f,
                    "oom event at {t_ms} ms could not be added as a memory sample"
                )
            }
            Self::InvalidRoundingScale { scale } => {
                write!(f, "rounding scale must be greater than zero, got {scale}")
            }
        }
    }
}

impl std::error::Error for VpaError {}
