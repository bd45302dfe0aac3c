//! One running container's samples on their way into the aggregate (upstream's
//! `model/container.go`): duplicate and out-of-order samples are dropped, memory is reduced to one
//! peak per aggregation interval, and OOM kills become bumped-up memory peaks.

use super::aggregate::{AggregateContainerState, AggregationConfig, UsageAggregator};
use super::{VpaError, memory_bytes_from_f64, scale_resource};

/// The sample-by-sample state of one running container (one instance: an agent's sandbox, a
/// pod's container). Several instances of the same container feed the same aggregate, each
/// through its own `ContainerState`, so that each contributes its own memory peak per interval.
#[derive(Clone, Debug, PartialEq)]
pub struct ContainerState {
    last_cpu_sample_start_ms: Option<i64>,
    /// The highest memory sample in the current interval; 0 when none.
    memory_peak_bytes: i64,
    /// The memory an OOM kill in the current interval showed was needed; 0 when none.
    oom_peak_bytes: i64,
    /// The end (exclusive) of the current memory aggregation interval; None before any sample.
    window_end_ms: Option<i64>,
    last_memory_sample_start_ms: Option<i64>,
    memory_aggregation_interval_ms: i64,
    oom_bump_up_ratio: f64,
    oom_min_bump_up_bytes: f64,
}

impl ContainerState {
    /// A container with no samples yet, aggregating memory and bumping OOMs as `config` says.
    ///
    /// # Panics
    /// If the memory aggregation interval is not positive.
    pub fn new(config: &AggregationConfig) -> Self {
        assert!(
            config.memory_aggregation_interval_ms > 0,
            "memory aggregation interval must be positive"
        );
        Self {
            last_cpu_sample_start_ms: None,
            memory_peak_bytes: 0,
            oom_peak_bytes: 0,
            window_end_ms: None,
            last_memory_sample_start_ms: None,
            memory_aggregation_interval_ms: config.memory_aggregation_interval_ms,
            oom_bump_up_ratio: config.oom_bump_up_ratio,
            oom_min_bump_up_bytes: config.oom_min_bump_up_bytes,
        }
    }

    /// The end of the current memory aggregation interval, once there is one.
    pub fn window_end_ms(&self) -> Option<i64> {
        self.window_end_ms
    }

    /// The peak of the current interval, from usage or from an OOM kill, whichever is higher.
    pub fn max_memory_peak_bytes(&self) -> i64 {
        self.memory_peak_bytes.max(self.oom_peak_bytes)
    }

    /// Passes a CPU sample on, unless its usage is negative or it is not later than the last one
    /// (a duplicate or out of order). Returns whether it was taken.
    pub fn add_cpu_sample(
        &mut self,
        t_ms: i64,
        cpu_millicores: i64,
        aggregator: &mut impl UsageAggregator,
    ) -> bool {
        let in_order = self.last_cpu_sample_start_ms.is_none_or(|last| t_ms > last);
        if cpu_millicores < 0 || !in_order {
            return false;
        }
        aggregator.add_cpu_sample(t_ms, cpu_millicores);
        self.last_cpu_sample_start_ms = Some(t_ms);
        true
    }

    /// Folds a memory sample into the current interval's peak, unless its usage is negative or
    /// it is older than the last memory sample. Returns whether it was taken.
    pub fn add_memory_sample(
        &mut self,
        t_ms: i64,
        memory_bytes: i64,
        aggregator: &mut impl UsageAggregator,
    ) -> bool {
        self.add_memory_sample_or_oom(t_ms, memory_bytes, false, aggregator)
    }

    /// Records that the container was OOM-killed at `t_ms` with `requested_memory_bytes`: the
    /// memory it needed is taken to be the larger of the request and this interval's usage peak,
    /// raised by the bump-up ratio (1.2) or by the minimum bump (100 MiB), whichever raises it
    /// more. The OOM peak is not fed back into the next bump, so repeated kills do not compound.
    ///
    /// Fails when the event is more than one aggregation interval older than the last memory
    /// sample: by then the memory history has moved on.
    pub fn record_oom(
        &mut self,
        t_ms: i64,
        requested_memory_bytes: i64,
        aggregator: &mut impl UsageAggregator,
    ) -> Result<(), VpaError> {
        // The reference is the last sample, not the window end, which can sit a whole interval
        // ahead of it and would reject a fresh OOM just before a boundary
        // (kubernetes/autoscaler#8548).
        if let Some(last_memory_sample_ms) = self.last_memory_sample_start_ms
            && t_ms < last_memory_sample_ms - self.memory_aggregation_interval_ms
        {
            return Err(VpaError::StaleOom {
                t_ms,
                last_memory_sample_ms,
            });
        }
        let memory_used = requested_memory_bytes.max(self.memory_peak_bytes);
        let memory_needed = memory_used
            .saturating_add(memory_bytes_from_f64(self.oom_min_bump_up_bytes))
            .max(scale_resource(memory_used, self.oom_bump_up_ratio));
        if self.add_memory_sample_or_oom(t_ms, memory_needed, true, aggregator) {
            Ok(())
        } else {
            Err(VpaError::OomSampleRejected { t_ms })
        }
    }

    fn add_memory_sample_or_oom(
        &mut self,
        t_ms: i64,
        memory_bytes: i64,
        is_oom: bool,
        aggregator: &mut impl UsageAggregator,
    ) -> bool {
        // OOM events are taken even when older than the last sample: they arrive late.
        let outdated = self
            .last_memory_sample_start_ms
            .is_some_and(|last| t_ms < last);
        if memory_bytes < 0 || (!is_oom && outdated) {
            return false;
        }
        self.last_memory_sample_start_ms = Some(t_ms);
        let window_end_ms = *self.window_end_ms.get_or_insert(t_ms);

        let add_new_peak = if t_ms < window_end_ms {
            // Same interval: only a higher value replaces the peak already in the aggregate.
            let old_peak_bytes = self.max_memory_peak_bytes();
            let replaces = old_peak_bytes != 0 && memory_bytes > old_peak_bytes;
            if replaces {
                aggregator.subtract_memory_peak(window_end_ms, old_peak_bytes);
            }
            replaces
        } else {
            // A later interval: move the window end past `t_ms` by whole intervals.
            let interval_ms = self.memory_aggregation_interval_ms;
            let shift_ms = (t_ms - window_end_ms) / interval_ms * interval_ms + interval_ms;
            self.window_end_ms = Some(window_end_ms + shift_ms);
            self.memory_peak_bytes = 0;
            self.oom_peak_bytes = 0;
            true
        };
        if add_new_peak {
            let window_end_ms = self.window_end_ms.expect("set above");
            aggregator.add_memory_peak(window_end_ms, memory_bytes);
            if is_oom {
                self.oom_peak_bytes = memory_bytes;
            } else {
                self.memory_peak_bytes = memory_bytes;
            }
        }
        true
    }
}

/// One running container and the aggregate it feeds, for a caller that tracks a single instance
/// per container name (`purser recommend rightsize --samples FILE`, a profile's samples).
#[derive(Clone, Debug, PartialEq)]
pub struct ContainerHistory {
    pub container: ContainerState,
    pub aggregate: AggregateContainerState,
}

impl ContainerHistory {
    /// An empty history created at `now_ms`.
    pub fn new(config: &AggregationConfig, now_ms: i64) -> Self {
        Self {
            container: ContainerState::new(config),
            aggregate: AggregateContainerState::new(config, now_ms),
        }
    }

    /// See [`ContainerState::add_cpu_sample`].
    pub fn add_cpu_sample(&mut self, t_ms: i64, cpu_millicores: i64) -> bool {
        self.container
            .add_cpu_sample(t_ms, cpu_millicores, &mut self.aggregate)
    }

    /// See [`ContainerState::add_memory_sample`].
    pub fn add_memory_sample(&mut self, t_ms: i64, memory_bytes: i64) -> bool {
        self.container
            .add_memory_sample(t_ms, memory_bytes, &mut self.aggregate)
    }

    /// See [`ContainerState::record_oom`].
    pub fn record_oom(&mut self, t_ms: i64, requested_memory_bytes: i64) -> Result<(), VpaError> {
        self.container
            .record_oom(t_ms, requested_memory_bytes, &mut self.aggregate)
    }
}
