//! The replica calculator: for one metric, the replica count that brings the metric to its
//! target. The rule is `ceil(current_value / target_value * pods)`, skipped while the ratio is
//! within the tolerance, with upstream's care for pods that are unready or have no sample: on a
//! scale-up they count as using nothing, on a scale-down missing ones count as at target, and a
//! result that would reverse the direction of the change keeps the current count. Object and
//! External metrics, which have one value for the whole target, are in `object_external`.

use super::error::HpaError;
use super::grouping::{
    PodGroups, PodMetric, PodMetrics, average_usage_ratio, custom_samples_by_pod, group_pods,
    pod_requests, resource_usage_by_pod, utilization_ratio,
};
use super::pods::{Pod, PodSample, PodUsage, Resource};

/// The controller's `--horizontal-pod-autoscaler-tolerance` default.
pub const DEFAULT_TOLERANCE: f64 = 0.1;
/// The controller's `--horizontal-pod-autoscaler-cpu-initialization-period` default.
pub const DEFAULT_CPU_INITIALIZATION_PERIOD_MS: i64 = 5 * 60_000;
/// The controller's `--horizontal-pod-autoscaler-initial-readiness-delay` default.
pub const DEFAULT_DELAY_OF_INITIAL_READINESS_STATUS_MS: i64 = 30_000;

/// How far the usage ratio may stray from 1 before the replica count changes, below 1 (scale
/// down) and above 1 (scale up). Per-HPA values come from `behavior.scaleDown.tolerance` and
/// `behavior.scaleUp.tolerance`.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Tolerances {
    pub scale_down: f64,
    pub scale_up: f64,
}

impl Tolerances {
    pub const fn symmetric(tolerance: f64) -> Self {
        Tolerances {
            scale_down: tolerance,
            scale_up: tolerance,
        }
    }

    /// Whether `usage_ratio` is close enough to 1 to leave the replica count alone.
    pub fn contains(&self, usage_ratio: f64) -> bool {
        (1.0 - self.scale_down) <= usage_ratio && usage_ratio <= (1.0 + self.scale_up)
    }
}

impl Default for Tolerances {
    fn default() -> Self {
        Tolerances::symmetric(DEFAULT_TOLERANCE)
    }
}

/// What one metric proposes, with the current value the HPA status would report for it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct MetricProposal {
    pub replicas: i32,
    /// The average utilization in percent of requests, for `Utilization` targets only.
    pub utilization_percent: Option<i32>,
    /// The current value in milli-units: the average per pod for resource, pods and
    /// `AverageValue` targets, the total for Object and External `Value` targets.
    pub value_milli: i64,
    /// When the metric was sampled: the first pod sample's time, or the observation's.
    pub timestamp_ms: Option<i64>,
}

/// The pods of the scale target and what the resource metrics API reports for them.
#[derive(Debug, Clone, Copy)]
pub struct ResourceSamples<'a> {
    pub resource: &'a Resource,
    /// For a `ContainerResource` metric, the container whose usage and request count.
    pub container: Option<&'a str>,
    pub pods: &'a [Pod],
    pub usage: &'a [PodUsage],
}

/// The per-metric half of the HPA controller. It holds the two durations of the CPU readiness
/// rules; the tolerance comes with each call because an HPA may set its own.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ReplicaCalculator {
    pub cpu_initialization_period_ms: i64,
    pub delay_of_initial_readiness_status_ms: i64,
}

impl Default for ReplicaCalculator {
    fn default() -> Self {
        ReplicaCalculator {
            cpu_initialization_period_ms: DEFAULT_CPU_INITIALIZATION_PERIOD_MS,
            delay_of_initial_readiness_status_ms: DEFAULT_DELAY_OF_INITIAL_READINESS_STATUS_MS,
        }
    }
}

/// A metric's ratio, before and after the unready and missing pods are filled in.
struct FilledRatio {
    usage_ratio: f64,
    new_usage_ratio: f64,
    samples_counted: usize,
}

impl ReplicaCalculator {
    /// A `Resource` or `ContainerResource` metric with a `Utilization` target, in percent of
    /// the pods' requests.
    pub fn resource_utilization_replicas(
        &self,
        current_replicas: i32,
        target_utilization: i32,
        samples: ResourceSamples<'_>,
        tolerances: Tolerances,
        now_ms: i64,
    ) -> Result<MetricProposal, HpaError> {
        if target_utilization <= 0 {
            return Err(HpaError::InvalidTarget {
                metric: format!("{} utilization", samples.resource),
            });
        }
        let mut metrics =
            resource_usage_by_pod(samples.usage, samples.resource, samples.container)?;
        let timestamp_ms = samples.usage.first().map(|sample| sample.timestamp_ms);
        if samples.pods.is_empty() {
            return Err(HpaError::NoPods);
        }
        let groups = group_pods(
            samples.pods,
            &metrics,
            Some(samples.resource),
            self.cpu_initialization_period_ms,
            self.delay_of_initial_readiness_status_ms,
            now_ms,
        );
        for pod_name in groups.ignored.iter().chain(&groups.unready) {
            metrics.remove(pod_name);
        }
        if metrics.is_empty() {
            return Err(HpaError::NoMetricsForTargetedPods);
        }
        let requests = pod_requests(samples.pods, samples.container, samples.resource)?;
        let (usage_ratio, utilization, raw_average) =
            utilization_ratio(&metrics, &requests, target_utilization)?;
        let proposal = |replicas| MetricProposal {
            replicas,
            utilization_percent: Some(utilization),
            value_milli: raw_average,
            timestamp_ms,
        };

        let scale_up_with_unready = !groups.unready.is_empty() && usage_ratio > 1.0;
        if !scale_up_with_unready && groups.missing.is_empty() {
            if tolerances.contains(usage_ratio) {
                return Ok(proposal(current_replicas));
            }
            return Ok(proposal(ceil_to_replicas(
                usage_ratio * groups.ready_count as f64,
            )));
        }

        // On a scale-down a missing pod counts as using its request (or the target, when the
        // target is above 100%); on a scale-up it counts as using nothing.
        let fallback_percent = i64::from(target_utilization.max(100));
        fill_unsampled(
            &mut metrics,
            &groups,
            usage_ratio,
            scale_up_with_unready,
            |pod| {
                let request = requests.get(pod).copied().unwrap_or(0);
                request.saturating_mul(fallback_percent) / 100
            },
        );
        let (new_usage_ratio, _, _) = utilization_ratio(&metrics, &requests, target_utilization)?;
        let filled = FilledRatio {
            usage_ratio,
            new_usage_ratio,
            samples_counted: metrics.len(),
        };
        Ok(proposal(filled_replicas(
            &filled,
            current_replicas,
            tolerances,
        )))
    }

    /// A `Resource` or `ContainerResource` metric with an `AverageValue` target, in
    /// milli-units per pod.
    pub fn resource_value_replicas(
        &self,
        current_replicas: i32,
        target_average_milli: i64,
        samples: ResourceSamples<'_>,
        tolerances: Tolerances,
        now_ms: i64,
    ) -> Result<MetricProposal, HpaError> {
        if target_average_milli <= 0 {
            return Err(HpaError::InvalidTarget {
                metric: format!("{} average value", samples.resource),
            });
        }
        let metrics = resource_usage_by_pod(samples.usage, samples.resource, samples.container)?;
        let timestamp_ms = samples.usage.first().map(|sample| sample.timestamp_ms);
        let (replicas, average) = self.plain_replicas(
            metrics,
            current_replicas,
            target_average_milli,
            samples.pods,
            Some(samples.resource),
            tolerances,
            now_ms,
        )?;
        Ok(average_proposal(replicas, average, timestamp_ms))
    }

    /// A `Pods` metric: a custom metric sampled per pod, with an `AverageValue` target.
    pub fn pods_metric_replicas(
        &self,
        current_replicas: i32,
        target_average_milli: i64,
        pods: &[Pod],
        samples: &[PodSample],
        tolerances: Tolerances,
        now_ms: i64,
    ) -> Result<MetricProposal, HpaError> {
        if target_average_milli <= 0 {
            return Err(HpaError::InvalidTarget {
                metric: "pods metric average value".to_string(),
            });
        }
        let metrics = custom_samples_by_pod(samples)?;
        let timestamp_ms = samples.first().map(|sample| sample.timestamp_ms);
        let (replicas, average) = self.plain_replicas(
            metrics,
            current_replicas,
            target_average_milli,
            pods,
            None,
            tolerances,
            now_ms,
        )?;
        Ok(average_proposal(replicas, average, timestamp_ms))
    }

    /// The ratio rule for average values, shared by resource `AverageValue` targets and pods
    /// metrics. Readiness is judged only when `resource` is CPU.
    #[allow(clippy::too_many_arguments)]
    fn plain_replicas(
        &self,
        mut metrics: PodMetrics,
        current_replicas: i32,
        target_milli: i64,
        pods: &[Pod],
        resource: Option<&Resource>,
        tolerances: Tolerances,
        now_ms: i64,
    ) -> Result<(i32, i64), HpaError> {
        if pods.is_empty() {
            return Err(HpaError::NoPods);
        }
        let groups = group_pods(
            pods,
            &metrics,
            resource,
            self.cpu_initialization_period_ms,
            self.delay_of_initial_readiness_status_ms,
            now_ms,
        );
        for pod_name in groups.ignored.iter().chain(&groups.unready) {
            metrics.remove(pod_name);
        }
        if metrics.is_empty() {
            return Err(HpaError::NoMetricsForTargetedPods);
        }
        let (usage_ratio, average) = average_usage_ratio(&metrics, target_milli);

        let scale_up_with_unready = !groups.unready.is_empty() && usage_ratio > 1.0;
        if !scale_up_with_unready && groups.missing.is_empty() {
            if tolerances.contains(usage_ratio) {
                return Ok((current_replicas, average));
            }
            let replicas = ceil_to_replicas(usage_ratio * groups.ready_count as f64);
            return Ok((replicas, average));
        }

        // On a scale-down a missing pod counts as exactly at target; on a scale-up as zero.
        fill_unsampled(
            &mut metrics,
            &groups,
            usage_ratio,
            scale_up_with_unready,
            |_| target_milli,
        );
        let (new_usage_ratio, _) = average_usage_ratio(&metrics, target_milli);
        let filled = FilledRatio {
            usage_ratio,
            new_usage_ratio,
            samples_counted: metrics.len(),
        };
        Ok((
            filled_replicas(&filled, current_replicas, tolerances),
            average,
        ))
    }
}

/// After filling in unready and missing pods: keep the current count if the new ratio is
/// within tolerance or the filling reversed the direction of the change, or if counting more
/// samples reversed it; otherwise scale to the filled ratio times the samples counted.
fn filled_replicas(filled: &FilledRatio, current_replicas: i32, tolerances: Tolerances) -> i32 {
    let FilledRatio {
        usage_ratio,
        new_usage_ratio,
        samples_counted,
    } = *filled;
    let direction_reversed = (usage_ratio < 1.0 && new_usage_ratio > 1.0)
        || (usage_ratio > 1.0 && new_usage_ratio < 1.0);
    if tolerances.contains(new_usage_ratio) || direction_reversed {
        return current_replicas;
    }
    let new_replicas = ceil_to_replicas(new_usage_ratio * samples_counted as f64);
    let count_reversed = (new_usage_ratio < 1.0 && new_replicas > current_replicas)
        || (new_usage_ratio > 1.0 && new_replicas < current_replicas);
    if count_reversed {
        return current_replicas;
    }
    new_replicas
}

/// Fills in the pods without a usable sample before the ratio is computed again: a missing
/// pod counts as `down_value` on a scale-down and as nothing on a scale-up (and is left out when
/// the ratio is exactly 1); an unready pod counts as nothing when it may hold back a scale-up.
fn fill_unsampled(
    metrics: &mut PodMetrics,
    groups: &PodGroups,
    usage_ratio: f64,
    scale_up_with_unready: bool,
    down_value: impl Fn(&str) -> i64,
) {
    for pod_name in &groups.missing {
        let value_milli = if usage_ratio < 1.0 {
            down_value(pod_name)
        } else if usage_ratio > 1.0 {
            0
        } else {
            continue;
        };
        metrics.insert(pod_name.clone(), filled_metric(value_milli));
    }
    if scale_up_with_unready {
        for pod_name in &groups.unready {
            metrics.insert(pod_name.clone(), filled_metric(0));
        }
    }
}

fn filled_metric(value_milli: i64) -> PodMetric {
    PodMetric {
        value_milli,
        timestamp_ms: 0,
        window_ms: 0,
    }
}

fn average_proposal(replicas: i32, average: i64, timestamp_ms: Option<i64>) -> MetricProposal {
    MetricProposal {
        replicas,
        utilization_percent: None,
        value_milli: average,
        timestamp_ms,
    }
}

/// Rounds a replica count up; a count beyond `i32` saturates, as upstream caps it.
pub(crate) fn ceil_to_replicas(replicas: f64) -> i32 {
    replicas.ceil() as i32
}
