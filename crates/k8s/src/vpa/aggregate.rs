//! What the recommender reads for one container (upstream's `model/aggregate_container_state.go`
//! and `model/aggregations_config.go`): decaying histograms of CPU usage and of memory peaks, and
//! how much history they hold.

use std::borrow::Borrow;
use std::collections::BTreeMap;

use super::decaying::DecayingHistogram;
use super::histogram::{HistogramCheckpoint, HistogramOptions};
use super::policy::{ContainerPolicy, ControlledResources};
use super::{BYTES_PER_MIB, MS_PER_DAY, VpaError, cores_from_cpu_millicores};

/// The weight of one CPU sample before decay. Upstream once weighted CPU samples by the
/// container's request, but its feeder never filled the request in, so every sample has weighed
/// this much in practice; upstream made that official in 2025 (commit ca812b36a3).
pub const MIN_SAMPLE_WEIGHT: f64 = 0.1;

/// The weight below which a histogram bucket counts as empty: small enough that a sample of
/// [`MIN_SAMPLE_WEIGHT`] still counts after decaying over the whole memory aggregation window.
pub const HISTOGRAM_EPSILON: f64 = 0.001 * MIN_SAMPLE_WEIGHT;

/// The version written into [`AggregateStateCheckpoint`]; a checkpoint with another one is
/// refused, because its buckets may not mean the same values.
pub const CHECKPOINT_VERSION: &str = "v3";

/// How samples are aggregated. [`Default`] gives upstream's defaults.
#[derive(Clone, Debug, PartialEq)]
pub struct AggregationConfig {
    /// The length of the interval over which one memory peak is kept (24 h).
    pub memory_aggregation_interval_ms: i64,
    /// How many intervals of memory history count (8): a state with no sample for that long is
    /// expired.
    pub memory_aggregation_interval_count: i64,
    /// How much wider each histogram bucket is than the one before (0.05, i.e. 5 %).
    pub histogram_bucket_size_growth: f64,
    /// The half-life of memory peaks in the histogram (24 h).
    pub memory_histogram_decay_half_life_ms: i64,
    /// The half-life of CPU samples in the histogram (24 h).
    pub cpu_histogram_decay_half_life_ms: i64,
    /// The factor applied to the memory in use when a container is OOM-killed (1.2).
    pub oom_bump_up_ratio: f64,
    /// The least memory added after an OOM kill, in bytes (100 MiB).
    pub oom_min_bump_up_bytes: f64,
}

impl Default for AggregationConfig {
    fn default() -> Self {
        Self {
            memory_aggregation_interval_ms: MS_PER_DAY,
            memory_aggregation_interval_count: 8,
            histogram_bucket_size_growth: 0.05,
            memory_histogram_decay_half_life_ms: MS_PER_DAY,
            cpu_histogram_decay_half_life_ms: MS_PER_DAY,
            oom_bump_up_ratio: 1.2,
            oom_min_bump_up_bytes: (100 * BYTES_PER_MIB) as f64,
        }
    }
}

impl AggregationConfig {
    /// CPU buckets, in cores: the first 0.01 core wide, growing by the configured growth, up to
    /// 1000 cores.
    ///
    /// # Panics
    /// If the growth is not positive.
    pub fn cpu_histogram_options(&self) -> HistogramOptions {
        HistogramOptions::exponential(
            1000.0,
            0.01,
            1.0 + self.histogram_bucket_size_growth,
            HISTOGRAM_EPSILON,
        )
        .expect("cpu histogram options need a positive bucket size growth")
    }

    /// Memory buckets, in bytes: the first 10 MB wide, growing likewise, up to 1 TB.
    ///
    /// # Panics
    /// If the growth is not positive.
    pub fn memory_histogram_options(&self) -> HistogramOptions {
        HistogramOptions::exponential(
            1e12,
            1e7,
            1.0 + self.histogram_bucket_size_growth,
            HISTOGRAM_EPSILON,
        )
        .expect("memory histogram options need a positive bucket size growth")
    }

    /// How long memory history is kept: interval times count (8 days by default).
    pub fn memory_aggregation_window_ms(&self) -> i64 {
        self.memory_aggregation_interval_ms
            .saturating_mul(self.memory_aggregation_interval_count)
    }
}

/// Where a container's samples go: an [`AggregateContainerState`] in production. It is a trait so
/// that tests can record the exact calls, as upstream's tests do with a mock histogram.
pub trait UsageAggregator {
    /// A CPU sample taken at `t_ms`.
    fn add_cpu_sample(&mut self, t_ms: i64, cpu_millicores: i64);
    /// A memory peak for the aggregation interval ending at `window_end_ms`.
    fn add_memory_peak(&mut self, window_end_ms: i64, memory_bytes: i64);
    /// Withdraws a peak added before, when a higher one replaces it.
    fn subtract_memory_peak(&mut self, window_end_ms: i64, memory_bytes: i64);
}

/// Aggregated usage of one container name, possibly over many running instances.
///
/// The sample count and the first and last sample times come from CPU samples only, as upstream's
/// do: they measure how much history there is, for the confidence multipliers.
#[derive(Clone, Debug, PartialEq)]
pub struct AggregateContainerState {
    /// CPU usage samples, in cores.
    pub cpu_usage: DecayingHistogram,
    /// Memory peaks, in bytes: one per container instance per aggregation interval.
    pub memory_peaks: DecayingHistogram,
    pub first_sample_start_ms: Option<i64>,
    pub last_sample_start_ms: Option<i64>,
    pub total_samples_count: u64,
    pub creation_time_ms: i64,
    pub controlled_resources: ControlledResources,
    pub memory_aggregation_interval_ms: i64,
    pub memory_aggregation_interval_count: i64,
}

impl AggregateContainerState {
    /// An empty state created at `now_ms`.
    pub fn new(config: &AggregationConfig, now_ms: i64) -> Self {
        Self {
            cpu_usage: DecayingHistogram::new(
                config.cpu_histogram_options(),
                config.cpu_histogram_decay_half_life_ms,
            ),
            memory_peaks: DecayingHistogram::new(
                config.memory_histogram_options(),
                config.memory_histogram_decay_half_life_ms,
            ),
            first_sample_start_ms: None,
            last_sample_start_ms: None,
            total_samples_count: 0,
            creation_time_ms: now_ms,
            controlled_resources: ControlledResources::default(),
            memory_aggregation_interval_ms: config.memory_aggregation_interval_ms,
            memory_aggregation_interval_count: config.memory_aggregation_interval_count,
        }
    }

    /// Adds a CPU sample with weight [`MIN_SAMPLE_WEIGHT`] and counts it in the history.
    pub fn add_cpu_sample(&mut self, t_ms: i64, cpu_millicores: i64) {
        self.cpu_usage.add_sample(
            cores_from_cpu_millicores(cpu_millicores),
            MIN_SAMPLE_WEIGHT,
            t_ms,
        );
        if self.last_sample_start_ms.is_none_or(|last| t_ms > last) {
            self.last_sample_start_ms = Some(t_ms);
        }
        if self.first_sample_start_ms.is_none_or(|first| t_ms < first) {
            self.first_sample_start_ms = Some(t_ms);
        }
        self.total_samples_count += 1;
    }

    /// Adds one memory peak, dated at the end of its aggregation interval.
    pub fn add_memory_peak(&mut self, window_end_ms: i64, memory_bytes: i64) {
        self.memory_peaks
            .add_sample(memory_bytes as f64, 1.0, window_end_ms);
    }

    /// Removes a memory peak added before (when a higher one replaces it in the same interval).
    pub fn subtract_memory_peak(&mut self, window_end_ms: i64, memory_bytes: i64) {
        self.memory_peaks
            .subtract_sample(memory_bytes as f64, 1.0, window_end_ms);
    }

    /// Takes the resources to recommend from the container's policy; without one, both.
    pub fn update_from_policy(&mut self, policy: Option<&ContainerPolicy>) {
        self.controlled_resources = policy
            .map(ContainerPolicy::controlled_resources)
            .unwrap_or_default();
    }

    /// The time between the first and the last CPU sample; 0 without samples.
    pub fn lifespan_ms(&self) -> i64 {
        match (self.first_sample_start_ms, self.last_sample_start_ms) {
            (Some(first), Some(last)) => last - first,
            _ => 0,
        }
    }

    /// The memory history kept, from this state's own interval and count.
    pub fn memory_aggregation_window_ms(&self) -> i64 {
        self.memory_aggregation_interval_ms
            .saturating_mul(self.memory_aggregation_interval_count)
    }

    /// True when the state has seen no sample for a whole memory aggregation window (counted from
    /// its creation when it has none): the caller may drop it.
    pub fn is_expired(&self, now_ms: i64) -> bool {
        let since_ms = match self.last_sample_start_ms {
            Some(last) if self.total_samples_count > 0 => last,
            _ => self.creation_time_ms,
        };
        now_ms - since_ms >= self.memory_aggregation_window_ms()
    }

    /// Adds `other`'s histograms, sample count and time span to this state.
    pub fn merge(&mut self, other: &AggregateContainerState) {
        self.cpu_usage.merge(&other.cpu_usage);
        self.memory_peaks.merge(&other.memory_peaks);
        self.first_sample_start_ms =
            min_option(self.first_sample_start_ms, other.first_sample_start_ms);
        self.last_sample_start_ms = self.last_sample_start_ms.max(other.last_sample_start_ms);
        self.total_samples_count += other.total_samples_count;
    }

    /// Saves the state so that a restarted server need not wait a week to recommend well. The
    /// histograms lose some precision (see [`HistogramCheckpoint`]).
    pub fn save_to_checkpoint(&self, now_ms: i64) -> AggregateStateCheckpoint {
        AggregateStateCheckpoint {
            last_update_time_ms: now_ms,
            first_sample_start_ms: self.first_sample_start_ms,
            last_sample_start_ms: self.last_sample_start_ms,
            total_samples_count: self.total_samples_count,
            memory_histogram: self.memory_peaks.save_to_checkpoint(),
            cpu_histogram: self.cpu_usage.save_to_checkpoint(),
            version: CHECKPOINT_VERSION.to_string(),
        }
    }

    /// Loads a checkpoint into this state (meant for a fresh one).
    pub fn load_from_checkpoint(
        &mut self,
        checkpoint: &AggregateStateCheckpoint,
    ) -> Result<(), VpaError> {
        if checkpoint.version != CHECKPOINT_VERSION {
            return Err(VpaError::UnsupportedCheckpointVersion {
                version: checkpoint.version.clone(),
            });
        }
        self.total_samples_count = checkpoint.total_samples_count;
        self.first_sample_start_ms = checkpoint.first_sample_start_ms;
        self.last_sample_start_ms = checkpoint.last_sample_start_ms;
        self.memory_peaks
            .load_from_checkpoint(&checkpoint.memory_histogram)?;
        self.cpu_usage
            .load_from_checkpoint(&checkpoint.cpu_histogram)?;
        Ok(())
    }
}

fn min_option(a: Option<i64>, b: Option<i64>) -> Option<i64> {
    match (a, b) {
        (Some(a), Some(b)) => Some(a.min(b)),
        (a, b) => a.or(b),
    }
}

impl UsageAggregator for AggregateContainerState {
    fn add_cpu_sample(&mut self, t_ms: i64, cpu_millicores: i64) {
        AggregateContainerState::add_cpu_sample(self, t_ms, cpu_millicores);
    }

    fn add_memory_peak(&mut self, window_end_ms: i64, memory_bytes: i64) {
        AggregateContainerState::add_memory_peak(self, window_end_ms, memory_bytes);
    }

    fn subtract_memory_peak(&mut self, window_end_ms: i64, memory_bytes: i64) {
        AggregateContainerState::subtract_memory_peak(self, window_end_ms, memory_bytes);
    }
}

/// A saved [`AggregateContainerState`] (upstream's `VerticalPodAutoscalerCheckpointStatus`).
#[derive(Clone, Debug, PartialEq)]
pub struct AggregateStateCheckpoint {
    pub last_update_time_ms: i64,
    pub first_sample_start_ms: Option<i64>,
    pub last_sample_start_ms: Option<i64>,
    pub total_samples_count: u64,
    pub memory_histogram: HistogramCheckpoint,
    pub cpu_histogram: HistogramCheckpoint,
    pub version: String,
}

/// Merges the states of containers that share a name (the same container in several running
/// instances) into one state per name, which is what the recommender sizes.
pub fn aggregate_by_container_name<'a, S>(
    states: impl IntoIterator<Item = (&'a str, S)>,
    config: &AggregationConfig,
    now_ms: i64,
) -> BTreeMap<String, AggregateContainerState>
where
    S: Borrow<AggregateContainerState>,
{
    let mut by_name: BTreeMap<String, AggregateContainerState> = BTreeMap::new();
    for (container_name, state) in states {
        by_name
            .entry(container_name.to_string())
            .or_insert_with(|| AggregateContainerState::new(config, now_ms))
            .merge(state.borrow());
    }
    by_name
}
