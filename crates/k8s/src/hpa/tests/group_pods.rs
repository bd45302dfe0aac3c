//! Ported from kubernetes/kubernetes `pkg/controller/podautoscaler/replica_calculator_test.go`:
//! `TestGroupPods`, `TestCalculateRequests` and
//! `TestCalculatePodRequestsFromContainers_NonExistentContainer`. Upstream toggles the
//! `PodLevelResources` feature gate per case; here pod-level requests are always honoured,
//! which gives the same answers because the cases with the gate off set none.

use std::collections::{BTreeMap, BTreeSet};

use super::super::error::HpaError;
use super::super::grouping::{PodGroups, PodMetric, PodMetrics, group_pods, pod_requests};
use super::super::pods::{ConditionStatus, Container, Pod, PodPhase, Resource};
use super::{MINUTE, NOW, SECOND, upstream_test_calculator};

struct GroupCase {
    name: &'static str,
    pods: Vec<Pod>,
    /// Pod name, sample timestamp and window.
    metrics: Vec<(&'static str, i64, i64)>,
    resource: Resource,
    ready_count: usize,
    unready: &'static [&'static str],
    missing: &'static [&'static str],
    ignored: &'static [&'static str],
}

fn names(list: &[&str]) -> BTreeSet<String> {
    list.iter().map(|name| name.to_string()).collect()
}

fn check_group(case: &GroupCase) {
    let metrics: PodMetrics = case
        .metrics
        .iter()
        .map(|(pod, timestamp_ms, window_ms)| {
            let metric = PodMetric {
                value_milli: 1,
                timestamp_ms: *timestamp_ms,
                window_ms: *window_ms,
            };
            (pod.to_string(), metric)
        })
        .collect();
    let calculator = upstream_test_calculator();
    let got = group_pods(
        &case.pods,
        &metrics,
        Some(&case.resource),
        calculator.cpu_initialization_period_ms,
        calculator.delay_of_initial_readiness_status_ms,
        NOW,
    );
    let expected = PodGroups {
        ready_count: case.ready_count,
        unready: names(case.unready),
        missing: names(case.missing),
        ignored: names(case.ignored),
    };
    assert_eq!(got, expected, "case: {}", case.name);
}

fn succeeded(name: &str) -> Pod {
    Pod::new(name, PodPhase::Succeeded)
}

#[test]
fn group_pods_sorts_ready_unready_missing_and_ignored() {
    use ConditionStatus::{False, True};
    // Go's zero time for samples that upstream leaves without a timestamp or window.
    let zero = 0;
    let cases = vec![
        GroupCase {
            name: "void",
            pods: vec![],
            metrics: vec![],
            resource: Resource::Cpu,
            ready_count: 0,
            unready: &[],
            missing: &[],
            ignored: &[],
        },
        GroupCase {
            name: "count in a ready pod - memory",
            pods: vec![succeeded("bentham")],
            metrics: vec![("bentham", NOW, MINUTE)],
            resource: Resource::Memory,
            ready_count: 1,
            unready: &[],
            missing: &[],
            ignored: &[],
        },
        GroupCase {
            name: "unready a pod without ready condition - CPU",
            pods: vec![succeeded("lucretius").with_start(NOW)],
            metrics: vec![("lucretius", zero, zero)],
            resource: Resource::Cpu,
            ready_count: 0,
            unready: &["lucretius"],
            missing: &[],
            ignored: &[],
        },
        GroupCase {
            name: "count in a ready pod with fresh metrics during initialization period - CPU",
            pods: vec![
                succeeded("bentham")
                    .with_start(NOW - MINUTE)
                    .with_ready(True, NOW - 30 * SECOND),
            ],
            metrics: vec![("bentham", NOW, 30 * SECOND)],
            resource: Resource::Cpu,
            ready_count: 1,
            unready: &[],
            missing: &[],
            ignored: &[],
        },
        GroupCase {
            name: "unready a ready pod without fresh metrics during initialization period - CPU",
            pods: vec![
                succeeded("bentham")
                    .with_start(NOW - MINUTE)
                    .with_ready(True, NOW - 30 * SECOND),
            ],
            metrics: vec![("bentham", NOW, 60 * SECOND)],
            resource: Resource::Cpu,
            ready_count: 0,
            unready: &["bentham"],
            missing: &[],
            ignored: &[],
        },
        GroupCase {
            name: "unready an unready pod during initialization period - CPU",
            pods: vec![
                succeeded("lucretius")
                    .with_start(NOW - 10 * MINUTE)
                    .with_ready(False, NOW - 9 * MINUTE - 54 * SECOND),
            ],
            metrics: vec![("lucretius", zero, zero)],
            resource: Resource::Cpu,
            ready_count: 0,
            unready: &["lucretius"],
            missing: &[],
            ignored: &[],
        },
        GroupCase {
            name: "count in a ready pod without fresh metrics after initialization period - CPU",
            pods: vec![
                succeeded("bentham")
                    .with_start(NOW - 3 * MINUTE)
                    .with_ready(True, NOW - 3 * MINUTE),
            ],
            metrics: vec![("bentham", NOW - 2 * MINUTE, MINUTE)],
            resource: Resource::Cpu,
            ready_count: 1,
            unready: &[],
            missing: &[],
            ignored: &[],
        },
        GroupCase {
            name: "count in an unready pod that was ready after initialization period - CPU",
            pods: vec![
                succeeded("lucretius")
                    .with_start(NOW - 10 * MINUTE)
                    .with_ready(False, NOW - 9 * MINUTE),
            ],
            metrics: vec![("lucretius", zero, zero)],
            resource: Resource::Cpu,
            ready_count: 1,
            unready: &[],
            missing: &[],
            ignored: &[],
        },
        GroupCase {
            name: "unready pod that has never been ready after initialization period - CPU",
            pods: vec![
                succeeded("lucretius")
                    .with_start(NOW - 10 * MINUTE)
                    .with_ready(False, NOW - 9 * MINUTE - 50 * SECOND),
            ],
            metrics: vec![("lucretius", zero, zero)],
            resource: Resource::Cpu,
            ready_count: 1,
            unready: &[],
            missing: &[],
            ignored: &[],
        },
        GroupCase {
            name: "a missing pod",
            pods: vec![succeeded("epicurus").with_start(NOW - 3 * MINUTE)],
            metrics: vec![],
            resource: Resource::Cpu,
            ready_count: 0,
            unready: &[],
            missing: &["epicurus"],
            ignored: &[],
        },
        GroupCase {
            name: "several pods",
            pods: vec![
                succeeded("lucretius").with_start(NOW),
                succeeded("niccolo")
                    .with_start(NOW - 3 * MINUTE)
                    .with_ready(True, NOW - 3 * MINUTE),
                succeeded("epicurus").with_start(NOW - 3 * MINUTE),
            ],
            metrics: vec![("lucretius", zero, zero), ("niccolo", zero, zero)],
            resource: Resource::Cpu,
            ready_count: 1,
            unready: &["lucretius"],
            missing: &["epicurus"],
            ignored: &[],
        },
        GroupCase {
            name: "pending pods are unreadied",
            pods: vec![Pod::new("unscheduled", PodPhase::Pending)],
            metrics: vec![],
            resource: Resource::Cpu,
            ready_count: 0,
            unready: &["unscheduled"],
            missing: &[],
            ignored: &[],
        },
        GroupCase {
            name: "ignore pods with deletion timestamps",
            pods: vec![Pod::new("deleted", PodPhase::Pending).with_deletion()],
            metrics: vec![("deleted", zero, zero)],
            resource: Resource::Cpu,
            ready_count: 0,
            unready: &[],
            missing: &[],
            ignored: &["deleted"],
        },
        GroupCase {
            name: "ignore pods in a failed state",
            pods: vec![Pod::new("failed", PodPhase::Failed)],
            metrics: vec![("failed", zero, zero)],
            resource: Resource::Cpu,
            ready_count: 0,
            unready: &[],
            missing: &[],
            ignored: &["failed"],
        },
    ];
    for case in &cases {
        check_group(case);
    }
}

fn cpu_container(name: &str, milli: i64) -> Container {
    Container::new(name).with_request(Resource::Cpu, milli)
}

fn two_containers() -> Pod {
    Pod::new("test-pod", PodPhase::Running)
        .with_container(cpu_container("container1", 100))
        .with_container(cpu_container("container2", 50))
}

fn first_without_request() -> Pod {
    Pod::new("test-pod", PodPhase::Running)
        .with_container(Container::new("container1"))
        .with_container(cpu_container("container2", 50))
}

/// The requests of each pod, or why they cannot be computed.
type Requests = Result<BTreeMap<String, i64>, HpaError>;

#[test]
fn calculate_requests_per_pod() {
    let one = |milli: i64| Ok(BTreeMap::from([("test-pod".to_string(), milli)]));
    let cases: Vec<(&str, Vec<Pod>, Option<&str>, Requests)> = vec![
        ("void", vec![], None, Ok(BTreeMap::new())),
        (
            "sum container requests if pod-level feature is disabled",
            vec![two_containers()],
            None,
            one(150),
        ),
        (
            "pod-level resources are enabled, but not set: fallback to sum container requests",
            vec![two_containers()],
            None,
            one(150),
        ),
        (
            "pod-level resources override container requests",
            vec![two_containers().with_pod_request(Resource::Cpu, 800)],
            None,
            one(800),
        ),
        (
            "fail if one of the containers is missing requests and pod-level requests are not set",
            vec![first_without_request()],
            None,
            Err(HpaError::MissingRequest {
                resource: Resource::Cpu,
                container: "container1".to_string(),
                pod: "test-pod".to_string(),
            }),
        ),
        (
            "pod-level resources override missing container requests",
            vec![first_without_request().with_pod_request(Resource::Cpu, 800)],
            None,
            one(800),
        ),
        (
            "container: requests of the named container only",
            vec![two_containers()],
            Some("container1"),
            one(100),
        ),
        (
            "container: requests of the named container, ignoring pod-level requests",
            vec![two_containers().with_pod_request(Resource::Cpu, 800)],
            Some("container1"),
            one(100),
        ),
        // Upstream's pod also has a plain init container requesting 20m, which does not run
        // alongside the others and is not counted; plain init containers are not listed here.
        (
            "pod with restartable init containers",
            vec![
                Pod::new("test-pod", PodPhase::Running)
                    .with_container(cpu_container("container1", 100))
                    .with_sidecar(cpu_container("restartable-container1", 50)),
            ],
            None,
            one(150),
        ),
    ];
    for (name, pods, container, expected) in cases {
        let got = pod_requests(&pods, container, &Resource::Cpu);
        assert_eq!(got, expected, "case: {name}");
    }
}

#[test]
fn calculate_requests_of_a_container_the_pod_does_not_have() {
    let pod =
        Pod::new("test-pod", PodPhase::Running).with_container(cpu_container("container1", 100));
    let error = pod_requests(&[pod], Some("non-existent-container"), &Resource::Cpu)
        .expect_err("the container does not exist");
    assert_eq!(
        error.to_string(),
        "container non-existent-container not found in Pod test-pod"
    );
}
