//! Which pods count, and how much they request: the bookkeeping the replica calculator does
//! before any ratio. Pods being deleted or failed are ignored; pending pods, and for CPU pods
//! still warming up, are unready; running pods without a sample are missing.

use std::collections::{BTreeMap, BTreeSet};

use super::error::{HpaError, MetricsApi};
use super::pods::{ConditionStatus, Pod, PodPhase, PodSample, PodUsage, Resource};

/// The window assumed for custom metric samples, which do not report one.
pub const DEFAULT_METRIC_WINDOW_MS: i64 = 60_000;

/// One pod's value of the metric under computation.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct PodMetric {
    pub value_milli: i64,
    pub timestamp_ms: i64,
    pub window_ms: i64,
}

/// The metric's value per pod name. A map, as upstream's: a later sample for the same pod
/// replaces an earlier one, and samples of pods the target does not select are kept.
pub type PodMetrics = BTreeMap<String, PodMetric>;

/// The pods of a target sorted by how the ratio rule treats them.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct PodGroups {
    /// Pods whose sample counts as is.
    pub ready_count: usize,
    /// Pending pods, and for CPU pods not yet ready or whose sample predates readiness.
    pub unready: BTreeSet<String>,
    /// Running pods without a sample.
    pub missing: BTreeSet<String>,
    /// Failed pods and pods being deleted.
    pub ignored: BTreeSet<String>,
}

/// Reduces resource metrics samples to one value per pod, as the controller's metrics client
/// does. For the whole pod, a sample missing the resource in any container is dropped; for one
/// container, a pod whose sample lacks that container is dropped (the pod becomes missing).
pub fn resource_usage_by_pod(
    samples: &[PodUsage],
    resource: &Resource,
    container: Option<&str>,
) -> Result<PodMetrics, HpaError> {
    if samples.is_empty() {
        return Err(HpaError::NoMetrics {
            api: MetricsApi::Resource,
        });
    }
    let mut metrics = PodMetrics::new();
    for sample in samples {
        let value_milli = match container {
            Some(container_name) => sample
                .containers
                .iter()
                .find(|usage| usage.name == container_name)
                .and_then(|usage| usage.usage(resource)),
            None => whole_pod_usage(sample, resource),
        };
        if let Some(value_milli) = value_milli {
            let metric = PodMetric {
                value_milli,
                timestamp_ms: sample.timestamp_ms,
                window_ms: sample.window_ms,
            };
            metrics.insert(sample.pod.clone(), metric);
        }
    }
    Ok(metrics)
}

fn whole_pod_usage(sample: &PodUsage, resource: &Resource) -> Option<i64> {
    if sample.containers.is_empty() {
        return None;
    }
    let mut pod_sum: i64 = 0;
    for usage in &sample.containers {
        pod_sum = pod_sum.saturating_add(usage.usage(resource)?);
    }
    Some(pod_sum)
}

/// Reduces custom metric samples to one value per pod.
pub fn custom_samples_by_pod(samples: &[PodSample]) -> Result<PodMetrics, HpaError> {
    if samples.is_empty() {
        return Err(HpaError::NoMetrics {
            api: MetricsApi::Custom,
        });
    }
    let metrics = samples
        .iter()
        .map(|sample| {
            let metric = PodMetric {
                value_milli: sample.value_milli,
                timestamp_ms: sample.timestamp_ms,
                window_ms: DEFAULT_METRIC_WINDOW_MS,
            };
            (sample.pod.clone(), metric)
        })
        .collect();
    Ok(metrics)
}

/// Sorts the pods. Readiness is only judged for CPU (`resource` is `Some(Cpu)`): a pod's CPU
/// spikes while it starts, so within `cpu_initialization_period_ms` of its start a sample
/// counts only if the pod is ready and the sample's window began after it became ready; after
/// that period an unready pod is skipped only if it never became ready, which the controller
/// guesses from a `Ready` transition within `delay_of_initial_readiness_status_ms` of the start.
pub fn group_pods(
    pods: &[Pod],
    metrics: &PodMetrics,
    resource: Option<&Resource>,
    cpu_initialization_period_ms: i64,
    delay_of_initial_readiness_status_ms: i64,
    now_ms: i64,
) -> PodGroups {
    let mut groups = PodGroups::default();
    for pod in pods {
        if pod.deleting || pod.phase == PodPhase::Failed {
            groups.ignored.insert(pod.name.clone());
            continue;
        }
        if pod.phase == PodPhase::Pending {
            groups.unready.insert(pod.name.clone());
            continue;
        }
        let Some(metric) = metrics.get(&pod.name) else {
            groups.missing.insert(pod.name.clone());
            continue;
        };
        let judge_cpu_readiness = resource == Some(&Resource::Cpu);
        if judge_cpu_readiness
            && cpu_sample_is_unready(
                pod,
                metric,
                cpu_initialization_period_ms,
                delay_of_initial_readiness_status_ms,
                now_ms,
            )
        {
            groups.unready.insert(pod.name.clone());
            continue;
        }
        groups.ready_count += 1;
    }
    groups
}

fn cpu_sample_is_unready(
    pod: &Pod,
    metric: &PodMetric,
    cpu_initialization_period_ms: i64,
    delay_of_initial_readiness_status_ms: i64,
    now_ms: i64,
) -> bool {
    let (Some(condition), Some(start_ms)) = (pod.ready, pod.start_ms) else {
        return true;
    };
    let is_false = condition.status == ConditionStatus::False;
    if start_ms.saturating_add(cpu_initialization_period_ms) > now_ms {
        let window_start_needed = condition
            .last_transition_ms
            .saturating_add(metric.window_ms);
        is_false || metric.timestamp_ms < window_start_needed
    } else {
        let never_ready = start_ms.saturating_add(delay_of_initial_readiness_status_ms)
            > condition.last_transition_ms;
        is_false && never_ready
    }
}

/// The request of each pod for `resource`. For one container, that container's request; for
/// the whole pod, the pod-level request when the pod sets pod-level requests, else the sum over
/// containers and sidecars, every one of which must declare the request.
pub fn pod_requests(
    pods: &[Pod],
    container: Option<&str>,
    resource: &Resource,
) -> Result<BTreeMap<String, i64>, HpaError> {
    let mut requests = BTreeMap::new();
    for pod in pods {
        let request = if container.is_none() && !pod.pod_requests_milli.is_empty() {
            pod_level_request(pod, resource)?
        } else {
            container_requests(pod, container, resource)?
        };
        requests.insert(pod.name.clone(), request);
    }
    Ok(requests)
}

/// Pod-level requests name the resources they cover; a resource they leave out is still
/// summed from the containers that request it (upstream's `PodRequests`, without the init
/// container maximum and pod overhead, which the HPA's inputs here do not carry).
fn pod_level_request(pod: &Pod, resource: &Resource) -> Result<i64, HpaError> {
    if let Some((_, milli)) = pod
        .pod_requests_milli
        .iter()
        .find(|(name, _)| name == resource)
    {
        return Ok(*milli);
    }
    let declared: Vec<i64> = pod
        .containers
        .iter()
        .chain(&pod.sidecars)
        .filter_map(|container| container.request_milli(resource))
        .collect();
    if declared.is_empty() {
        return Err(HpaError::MissingPodLevelRequest {
            resource: resource.clone(),
            pod: pod.name.clone(),
        });
    }
    Ok(declared
        .iter()
        .fold(0i64, |sum, milli| sum.saturating_add(*milli)))
}

fn container_requests(
    pod: &Pod,
    container: Option<&str>,
    resource: &Resource,
) -> Result<i64, HpaError> {
    let mut request: i64 = 0;
    for candidate in pod.containers.iter().chain(&pod.sidecars) {
        let selected = container.is_none_or(|name| name == candidate.name);
        if !selected {
            continue;
        }
        let Some(milli) = candidate.request_milli(resource) else {
            return Err(HpaError::MissingRequest {
                resource: resource.clone(),
                container: candidate.name.clone(),
                pod: pod.name.clone(),
            });
        };
        request = request.saturating_add(milli);
        // Container names are unique within a pod: the named one is the only one to add.
        if container.is_some() {
            return Ok(request);
        }
    }
    match container {
        Some(name) => Err(HpaError::ContainerNotFound {
            container: name.to_string(),
            pod: pod.name.clone(),
        }),
        None => Ok(request),
    }
}

/// The ratio of current to target utilization, the utilization in percent and the raw average
/// usage, over the pods that have both a sample and a request. Upstream truncates the
/// utilization to a whole percent before dividing, so the ratio does too.
pub fn utilization_ratio(
    metrics: &PodMetrics,
    requests: &BTreeMap<String, i64>,
    target_utilization: i32,
) -> Result<(f64, i32, i64), HpaError> {
    let mut metrics_total: i128 = 0;
    let mut requests_total: i128 = 0;
    let mut entries: i128 = 0;
    for (pod_name, metric) in metrics {
        // A sample without a request belongs to a pod the target does not select.
        let Some(request) = requests.get(pod_name) else {
            continue;
        };
        metrics_total += i128::from(metric.value_milli);
        requests_total += i128::from(*request);
        entries += 1;
    }
    if requests_total == 0 {
        return Err(HpaError::NoMetricsMatchedPods);
    }
    let utilization = clamp_to_i32(metrics_total * 100 / requests_total);
    let raw_average = clamp_to_i64(metrics_total / entries);
    let ratio = f64::from(utilization) / f64::from(target_utilization);
    Ok((ratio, utilization, raw_average))
}

/// The ratio of the average value to the target and the average (truncated), over every
/// sample, including those of pods the target does not select, as upstream counts them.
pub fn average_usage_ratio(metrics: &PodMetrics, target_milli: i64) -> (f64, i64) {
    let total: i128 = metrics
        .values()
        .map(|metric| i128::from(metric.value_milli))
        .sum();
    let count = metrics.len().max(1) as i128;
    let average = clamp_to_i64(total / count);
    (average as f64 / target_milli as f64, average)
}

fn clamp_to_i32(value: i128) -> i32 {
    value.clamp(i128::from(i32::MIN), i128::from(i32::MAX)) as i32
}

fn clamp_to_i64(value: i128) -> i64 {
    value.clamp(i128::from(i64::MIN), i128::from(i64::MAX)) as i64
}
