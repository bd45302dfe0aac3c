//! Ported from kubernetes/kubernetes `pkg/controller/podautoscaler/replica_calculator_test.go`:
//! the resource-metric tests outside the scale table: `TestReplicaCalcDisjointResourcesMetrics`,
//! `TestReplicaCalcTolerance`, `TestReplicaCalcConfigurableTolerance`,
//! `TestReplicaCalcSuperfluousMetrics`, `TestReplicaCalcMissingMetrics`,
//! `TestReplicaCalcEmptyMetrics`, `TestReplicaCalcEmptyCPURequest`,
//! `TestReplicaCalcMissingMetricsNoChange{Eq,Gt,Lt}`, `TestReplicaCalcMissingMetrics{Unready
//! Change,HotCpuNoChange,UnreadyScaleUp,HotCpuScaleUp,UnreadyScaleDown,ScaleDownTargetOver100}`,
//! `TestReplicaCalcDuringRollingUpdateWithMaxSurge` and
//! `TestReplicaCalcComputedToleranceAlgImplementation`.

use super::super::error::{HpaError, MetricsApi};
use super::super::pods::{ConditionStatus, PodPhase, Resource};
use super::super::replicas::Tolerances;
use super::calculator_fixture::{Fixture, cpu_requests, same_levels};
use super::replica_calc_resource::{ResourceCase, check};
use super::{COOL_CPU_START, HOT_CPU_START};

use ConditionStatus::{False as NotReady, True as Ready};

fn case(
    name: &'static str,
    fixture: Fixture,
    target: i32,
    expected: super::replica_calc_resource::Expected,
) -> ResourceCase {
    ResourceCase {
        name,
        fixture,
        container: None,
        target_utilization: target,
        tolerances: Tolerances::default(),
        expected,
    }
}

fn pods(current_replicas: i32, requests_milli: Vec<i64>, levels: &[i64]) -> Fixture {
    Fixture {
        current_replicas,
        requests_milli,
        levels: same_levels(levels),
        ..Fixture::default()
    }
}

fn uneven_requests() -> Vec<i64> {
    vec![900, 1000, 1100]
}

fn with_tolerances(mut case: ResourceCase, scale_down: f64, scale_up: f64) -> ResourceCase {
    case.tolerances = Tolerances {
        scale_down,
        scale_up,
    };
    case
}

#[test]
fn replica_calc_resource_edge_cases() {
    let cases = vec![
        case(
            "disjoint resources metrics",
            Fixture {
                sample_pod_names: vec!["an-older-pod-name"],
                ..pods(1, cpu_requests(1, 1000), &[100])
            },
            100,
            Err(HpaError::NoMetricsMatchedPods),
        ),
        case(
            "tolerance",
            pods(3, uneven_requests(), &[1010, 1030, 1020]),
            100,
            Ok((3, 102, 2 * 1020)),
        ),
        with_tolerances(
            case(
                "outside of a 0% tolerance",
                pods(3, uneven_requests(), &[909, 1010, 1111]),
                100,
                Ok((4, 101, 2 * 1010)),
            ),
            0.0,
            0.0,
        ),
        with_tolerances(
            case(
                "within a 200% scale-up tolerance",
                pods(3, uneven_requests(), &[1890, 1910, 1900]),
                100,
                Ok((3, 190, 2 * 1900)),
            ),
            0.1,
            2.0,
        ),
        with_tolerances(
            case(
                "outside 8% scale-up tolerance (and superfluous scale-down tolerance)",
                pods(3, uneven_requests(), &[1100, 1080, 1090]),
                100,
                Ok((4, 109, 2 * 1090)),
            ),
            2.0,
            0.08,
        ),
        with_tolerances(
            case(
                "within a 36% scale-down tolerance",
                pods(3, uneven_requests(), &[660, 640, 650]),
                100,
                Ok((3, 65, 2 * 650)),
            ),
            0.36,
            0.1,
        ),
        with_tolerances(
            case(
                "outside a 34% scale-down tolerance",
                pods(3, uneven_requests(), &[660, 640, 650]),
                100,
                Ok((2, 65, 2 * 650)),
            ),
            0.34,
            0.1,
        ),
        case(
            "superfluous metrics",
            pods(
                4,
                cpu_requests(4, 1000),
                &[4000, 9500, 3000, 7000, 3200, 2000],
            ),
            100,
            Ok((24, 587, 2 * 5875)),
        ),
        case(
            "missing metrics",
            pods(4, cpu_requests(4, 1000), &[400, 95]),
            100,
            Ok((3, 24, 495)),
        ),
        case(
            "empty metrics",
            pods(4, cpu_requests(3, 1000), &[]),
            100,
            Err(HpaError::NoMetrics {
                api: MetricsApi::Resource,
            }),
        ),
        case(
            "empty cpu request",
            pods(1, vec![], &[200]),
            100,
            Err(HpaError::MissingRequest {
                resource: Resource::Cpu,
                container: "container1".to_string(),
                pod: "test-pod-0".to_string(),
            }),
        ),
        case(
            "missing metrics, no change (equal)",
            pods(2, cpu_requests(2, 1000), &[1000]),
            100,
            Ok((2, 100, 2 * 1000)),
        ),
        case(
            "missing metrics, no change (greater)",
            pods(2, cpu_requests(2, 1000), &[1900]),
            100,
            Ok((2, 190, 2 * 1900)),
        ),
        case(
            "missing metrics, no change (less)",
            pods(2, cpu_requests(2, 1000), &[600]),
            100,
            Ok((2, 60, 2 * 600)),
        ),
        case(
            "missing metrics, unready pod, no change",
            Fixture {
                readiness: vec![NotReady, Ready, Ready],
                ..pods(3, cpu_requests(3, 1000), &[100, 450])
            },
            50,
            Ok((3, 45, 2 * 450)),
        ),
        case(
            "missing metrics, hot CPU, no change",
            Fixture {
                start_ms: vec![HOT_CPU_START, COOL_CPU_START, COOL_CPU_START],
                ..pods(3, cpu_requests(3, 1000), &[100, 450])
            },
            50,
            Ok((3, 45, 2 * 450)),
        ),
        case(
            "missing metrics, unready pod, scale up",
            Fixture {
                readiness: vec![NotReady, Ready, Ready],
                ..pods(3, cpu_requests(3, 1000), &[100, 2000])
            },
            50,
            Ok((4, 200, 2 * 2000)),
        ),
        case(
            "missing metrics, hot CPU, scale up",
            Fixture {
                readiness: vec![NotReady, Ready, Ready],
                start_ms: vec![HOT_CPU_START, COOL_CPU_START, COOL_CPU_START],
                ..pods(3, cpu_requests(3, 1000), &[100, 2000])
            },
            50,
            Ok((4, 200, 2 * 2000)),
        ),
        case(
            "missing metrics, unready pod, scale down",
            Fixture {
                readiness: vec![NotReady, Ready, Ready, Ready],
                ..pods(4, cpu_requests(4, 1000), &[100, 100, 100])
            },
            50,
            Ok((3, 10, 2 * 100)),
        ),
        case(
            "missing metrics, scale down, target over 100%",
            Fixture {
                readiness: vec![NotReady, Ready, Ready, Ready],
                ..pods(4, vec![1000, 1000, 2000, 2000], &[200, 100, 100])
            },
            300,
            Ok((2, 6, 2 * 100)),
        ),
        case(
            "during rolling update with max surge",
            Fixture {
                phases: vec![PodPhase::Running; 3],
                ..pods(2, cpu_requests(3, 1000), &[100, 100])
            },
            50,
            Ok((2, 10, 2 * 100)),
        ),
    ];
    for case in &cases {
        check(case);
    }
}

/// Upstream back-calculates a target just past the tolerance from a 50% usage, then one just
/// inside it, so that the test follows the tolerance if it changes.
#[test]
fn replica_calc_computed_tolerance_alg_implementation() {
    let start_pods: i32 = 10;
    let total_used_cpu: i64 = i64::from(start_pods) * 150;
    let total_requested_cpu: i32 = 2 * total_used_cpu as i32;
    let requested_to_used = f64::from(total_requested_cpu / total_used_cpu as i32);
    let per_pod_requested = i64::from(total_requested_cpu / start_pods);
    let tolerance = Tolerances::default().scale_down;

    let target = (1.0 / (requested_to_used * (1.0 - tolerance))).abs() + 0.01;
    let final_cpu_percent_target = (target * 100.0) as i32;
    let resources_used_ratio = total_used_cpu as f64 / (f64::from(total_requested_cpu) * target);
    let final_pods = (resources_used_ratio * f64::from(start_pods)).ceil() as i32;

    let jitter = [100, -100, 10, -10, 2, -2, 1, -1, 0, 0];
    let fixture = Fixture {
        current_replicas: start_pods,
        requests_milli: jitter
            .iter()
            .map(|delta| per_pod_requested + delta)
            .collect(),
        levels: same_levels(&[total_used_cpu / 10; 10]),
        ..Fixture::default()
    };
    let expected_utilization = (total_used_cpu * 100 / i64::from(total_requested_cpu)) as i32;
    let expected_raw = 2 * total_used_cpu / 10;
    check(&case(
        "just past the tolerance: scale down",
        fixture.clone(),
        final_cpu_percent_target,
        Ok((final_pods, expected_utilization, expected_raw)),
    ));

    let target = (1.0 / (requested_to_used * (1.0 - tolerance))).abs() + 0.004;
    let final_cpu_percent_target = (target * 100.0) as i32;
    check(&case(
        "just within the tolerance: no change",
        fixture,
        final_cpu_percent_target,
        Ok((start_pods, expected_utilization, expected_raw)),
    ));
}
