//! The pods and samples of upstream's replica calculator tests (`replica_calculator_test.go`:
//! `buildFakePod`, `newFakeResourceMetricsClient`, `makePodMetricLevels`), rebuilt as values.

use super::super::pods::{
    ConditionStatus, Container, ContainerUsage, Pod, PodPhase, PodSample, PodUsage, Resource,
};
use super::GO_ZERO_TIME;

/// Upstream's pods have two containers.
pub(super) const CONTAINERS_PER_POD: i64 = 2;

/// One case's pods and resource samples. Unset per-pod lists take upstream's defaults: ready,
/// started at Go's zero time, running, not being deleted.
#[derive(Debug, Clone, Default)]
pub(super) struct Fixture {
    pub current_replicas: i32,
    pub readiness: Vec<ConditionStatus>,
    pub start_ms: Vec<i64>,
    pub phases: Vec<PodPhase>,
    pub deleting: Vec<bool>,
    /// Each pod's CPU request, set on both containers; pods past the list have none.
    pub requests_milli: Vec<i64>,
    /// Each sampled pod's CPU usage per container.
    pub levels: Vec<Vec<i64>>,
    /// Names the samples carry instead of `test-pod-<i>`.
    pub sample_pod_names: Vec<&'static str>,
}

impl Fixture {
    /// Upstream creates `current_replicas` pods, or one per listed phase if that is more
    /// (failed pods are not counted in the current replicas).
    pub(super) fn pods(&self) -> Vec<Pod> {
        let pod_count = (self.current_replicas.max(0) as usize).max(self.phases.len());
        (0..pod_count).map(|index| self.pod(index)).collect()
    }

    fn pod(&self, index: usize) -> Pod {
        let readiness = self
            .readiness
            .get(index)
            .copied()
            .unwrap_or(ConditionStatus::True);
        let start_ms = self.start_ms.get(index).copied().unwrap_or(GO_ZERO_TIME);
        let phase = self.phases.get(index).copied().unwrap_or(PodPhase::Running);
        let mut first = Container::new("container1");
        let mut second = Container::new("container2");
        if let Some(request) = self.requests_milli.get(index) {
            first = first.with_request(Resource::Cpu, *request);
            second = second.with_request(Resource::Cpu, *request);
        }
        let mut pod = Pod::new(format!("test-pod-{index}"), phase)
            .with_ready(readiness, GO_ZERO_TIME)
            .with_start(start_ms)
            .with_container(first)
            .with_container(second);
        if self.deleting.get(index).copied().unwrap_or(false) {
            pod = pod.with_deletion();
        }
        pod
    }

    /// Upstream's sample always lists two containers; levels missing for a container leave
    /// an unnamed container without usage, which makes the pod's sample incomplete.
    pub(super) fn usage(&self) -> Vec<PodUsage> {
        self.levels
            .iter()
            .enumerate()
            .map(|(index, container_levels)| {
                let pod_name = self
                    .sample_pod_names
                    .get(index)
                    .map_or_else(|| format!("test-pod-{index}"), |name| name.to_string());
                let containers = (0..CONTAINERS_PER_POD as usize)
                    .map(|slot| match container_levels.get(slot) {
                        Some(level) => ContainerUsage::new(format!("container{}", slot + 1))
                            .with_usage(Resource::Cpu, *level),
                        None => ContainerUsage::new(""),
                    })
                    .collect();
                PodUsage {
                    pod: pod_name,
                    timestamp_ms: GO_ZERO_TIME,
                    window_ms: 60_000,
                    containers,
                }
            })
            .collect()
    }
}

/// Upstream's `makePodMetricLevels`: every container of pod `i` uses `per_pod[i]`.
pub(super) fn same_levels(per_pod: &[i64]) -> Vec<Vec<i64>> {
    per_pod
        .iter()
        .map(|level| vec![*level; CONTAINERS_PER_POD as usize])
        .collect()
}

/// Upstream's `cpuRequests`: `count` pods requesting `milli` per container.
pub(super) fn cpu_requests(count: usize, milli: i64) -> Vec<i64> {
    vec![milli; count]
}

/// Custom metric samples, one per level, for `test-pod-<i>`.
pub(super) fn custom_samples(levels: &[i64]) -> Vec<PodSample> {
    levels
        .iter()
        .enumerate()
        .map(|(index, level)| PodSample {
            pod: format!("test-pod-{index}"),
            value_milli: *level,
            timestamp_ms: GO_ZERO_TIME,
        })
        .collect()
}
