//! Ported from kubernetes/kubernetes `pkg/controller/podautoscaler/horizontal_test.go`, the
//! controller tests of the tolerance, the replica bounds and failing metrics: `TestTolerance`,
//! `TestToleranceCM`, `TestToleranceCMObject`, `TestToleranceCMExternal`,
//! `TestTolerancePerPodCMObject`, `TestTolerancePerPodCMExternal`, `TestMinReplicas`,
//! `TestZeroMinReplicasDesiredZero`, `TestMinReplicasDesiredZero`, `TestZeroReplicas`,
//! `TestTooFewReplicas`, `TestTooManyReplicas`, `TestMaxReplicas`, `TestSuperfluousMetrics`,
//! `TestEmptyMetrics`, `TestEmptyCPURequest`, `TestEventCreated` and `TestEventNotCreated` (their
//! replica counts; the event texts are plumbing), `TestMoreReplicasThanSpecNoScale`,
//! `TestConditionFailedGetMetrics`, `TestConditionInvalidSourceType`,
//! `TestComputedToleranceAlgImplementation` and `TestAvoidUnnecessaryUpdates`.
//!
//! Not ported, as they test the client plumbing rather than the algorithm:
//! `TestConditionInvalidSelectorMissing` and `TestConditionInvalidSelectorUnparsable` (parsing
//! the scale's label selector), `TestConditionNoAmbiguousSelectorWhenNoSelectorOverlapBetweenHPAs`,
//! `TestConditionAmbiguousSelectorWhenFullSelectorOverlapBetweenHPAs` and
//! `TestConditionAmbiguousSelectorWhenPartialSelectorOverlapBetweenHPAs` (the registry of which
//! HPA selects which pods), `TestConditionFailedGetScale` and `TestConditionFailedUpdateScale`
//! (scale client errors), and `TestMultipleHPAs` (the work queue under 1000 HPAs).

use super::super::metrics::ValueTarget;
use super::controller_fixture::{ControllerCase, Kind, Spec, check, status_ok_with};
use super::{COOL_CPU_START, HOT_CPU_START};

fn uneven_requests() -> Option<Vec<i64>> {
    Some(vec![900, 1000, 1100])
}

fn hold(name: &'static str, spec: Spec, levels: &[i64], replicas: i32) -> ControllerCase {
    ControllerCase {
        name,
        min_replicas: 1,
        max_replicas: 5,
        spec_replicas: replicas,
        status_replicas: replicas,
        metrics: vec![spec],
        reported_levels: levels.to_vec(),
        expected_desired_replicas: replicas,
        expected_conditions: Some(status_ok_with(&[(
            Kind::AbleToScale,
            true,
            "ReadyForNewScale",
        )])),
        ..ControllerCase::default()
    }
}

fn bounded(
    name: &'static str,
    (min, max): (i32, i32),
    replicas: i32,
    expected: i32,
) -> ControllerCase {
    ControllerCase {
        name,
        min_replicas: min,
        max_replicas: max,
        spec_replicas: replicas,
        status_replicas: replicas,
        cpu_target: 90,
        reported_cpu_requests: Some(vec![]),
        expected_desired_replicas: expected,
        expected_conditions: Some(vec![(Kind::AbleToScale, true, "SucceededRescale")]),
        ..ControllerCase::default()
    }
}

fn cpu_90(
    name: &'static str,
    min: i32,
    levels: &[i64],
    expected: i32,
    limited: (bool, &'static str),
) -> ControllerCase {
    ControllerCase {
        name,
        min_replicas: min,
        max_replicas: 5,
        cpu_target: 90,
        reported_levels: levels.to_vec(),
        reported_cpu_requests: uneven_requests(),
        recommendations: Some(vec![]),
        expected_desired_replicas: expected,
        expected_conditions: Some(status_ok_with(&[(
            Kind::ScalingLimited,
            limited.0,
            limited.1,
        )])),
        ..ControllerCase::default()
    }
}

fn metric_failed(reason: &'static str) -> Option<Vec<(Kind, bool, &'static str)>> {
    Some(vec![
        (Kind::AbleToScale, true, "SucceededGetScale"),
        (Kind::ScalingActive, false, reason),
    ])
}

#[test]
fn controller_tolerance_bounds_and_failures() {
    let cases = vec![
        ControllerCase {
            reported_cpu_requests: uneven_requests(),
            ..hold(
                "tolerance",
                Spec::Cpu { utilization: 100 },
                &[1010, 1030, 1020],
                3,
            )
        },
        ControllerCase {
            reported_cpu_requests: uneven_requests(),
            ..hold(
                "tolerance CM",
                Spec::PodsQps {
                    average_milli: 20000,
                },
                &[20000, 20001, 21000],
                3,
            )
        },
        ControllerCase {
            reported_cpu_requests: uneven_requests(),
            ..hold(
                "tolerance CM object",
                Spec::ObjectQps {
                    target: ValueTarget::Value(20000),
                },
                &[20050],
                3,
            )
        },
        ControllerCase {
            min_replicas: 2,
            max_replicas: 6,
            ..hold(
                "tolerance CM external",
                Spec::ExternalQps {
                    target: ValueTarget::Value(8666),
                },
                &[8600],
                4,
            )
        },
        ControllerCase {
            min_replicas: 2,
            max_replicas: 6,
            ..hold(
                "tolerance per pod CM object",
                Spec::ObjectQps {
                    target: ValueTarget::AverageValue(2200),
                },
                &[8600],
                4,
            )
        },
        ControllerCase {
            min_replicas: 2,
            max_replicas: 6,
            ..hold(
                "tolerance per pod CM external",
                Spec::ExternalQps {
                    target: ValueTarget::AverageValue(2200),
                },
                &[8600],
                4,
            )
        },
        cpu_90(
            "min replicas",
            2,
            &[10, 95, 10],
            2,
            (true, "TooFewReplicas"),
        ),
        cpu_90(
            "zero min replicas, desired zero",
            0,
            &[0, 0, 0],
            0,
            (false, "DesiredWithinRange"),
        ),
        cpu_90(
            "min replicas, desired zero",
            2,
            &[0, 0, 0],
            2,
            (true, "TooFewReplicas"),
        ),
        ControllerCase {
            expected_conditions: Some(vec![
                (Kind::AbleToScale, true, "SucceededGetScale"),
                (Kind::ScalingActive, false, "ScalingDisabled"),
            ]),
            ..bounded("zero replicas", (3, 5), 0, 0)
        },
        bounded("too few replicas", (3, 5), 2, 3),
        bounded("too many replicas", (3, 5), 10, 5),
        ControllerCase {
            recommendations: None,
            ..cpu_90(
                "max replicas",
                2,
                &[8000, 9500, 1000],
                5,
                (true, "TooManyReplicas"),
            )
        },
        ControllerCase {
            name: "superfluous metrics",
            spec_replicas: 4,
            status_replicas: 4,
            cpu_target: 100,
            reported_levels: vec![4000, 9500, 3000, 7000, 3200, 2000],
            reported_cpu_requests: Some(vec![1000; 4]),
            expected_desired_replicas: 6,
            expected_conditions: Some(status_ok_with(&[(
                Kind::ScalingLimited,
                true,
                "TooManyReplicas",
            )])),
            ..ControllerCase::default()
        },
        ControllerCase {
            name: "empty metrics",
            spec_replicas: 4,
            status_replicas: 4,
            cpu_target: 100,
            reported_cpu_requests: Some(vec![1000; 4]),
            expected_desired_replicas: 4,
            expected_conditions: metric_failed("FailedGetResourceMetric"),
            ..ControllerCase::default()
        },
        ControllerCase {
            name: "empty CPU request",
            min_replicas: 1,
            max_replicas: 5,
            spec_replicas: 1,
            status_replicas: 1,
            cpu_target: 100,
            reported_levels: vec![200],
            reported_cpu_requests: Some(vec![]),
            expected_desired_replicas: 1,
            expected_conditions: metric_failed("FailedGetResourceMetric"),
            ..ControllerCase::default()
        },
        ControllerCase {
            name: "event created",
            min_replicas: 1,
            max_replicas: 5,
            spec_replicas: 1,
            status_replicas: 1,
            cpu_target: 50,
            reported_levels: vec![200],
            reported_cpu_requests: Some(vec![200]),
            expected_desired_replicas: 2,
            ..ControllerCase::default()
        },
        ControllerCase {
            reported_cpu_requests: Some(vec![400, 400]),
            ..hold(
                "event not created",
                Spec::Cpu { utilization: 50 },
                &[200, 200],
                2,
            )
        },
        // A rollout with 25% surge: five pods exist for four asked.
        ControllerCase {
            max_replicas: 8,
            status_replicas: 5,
            reported_cpu_requests: Some(vec![1000; 5]),
            ..hold(
                "more replicas than spec, no scale",
                Spec::Cpu { utilization: 50 },
                &[500; 5],
                4,
            )
        },
        ControllerCase {
            name: "condition invalid source type",
            metrics: vec![Spec::CheddarCheese],
            reported_levels: vec![20000],
            expected_desired_replicas: 3,
            expected_conditions: metric_failed("InvalidMetricSourceType"),
            ..ControllerCase::default()
        },
        // The test upstream leaves a target of 80% on the HPA, so it relies on the minimum.
        ControllerCase {
            name: "avoid unnecessary updates",
            spec_replicas: 2,
            status_replicas: 2,
            cpu_target: 80,
            reported_levels: vec![400, 500, 700],
            reported_cpu_requests: Some(vec![1000; 3]),
            start_ms: vec![COOL_CPU_START, HOT_CPU_START, HOT_CPU_START],
            recommendations: Some(vec![]),
            expected_desired_replicas: 2,
            expected_conditions: Some(vec![
                (Kind::AbleToScale, true, "ReadyForNewScale"),
                (Kind::ScalingActive, true, "ValidMetricFound"),
                (Kind::ScalingLimited, true, "TooFewReplicas"),
            ]),
            ..ControllerCase::default()
        },
    ];
    for case in &cases {
        check(case);
    }
}

#[test]
fn controller_condition_failed_get_metrics() {
    let failing = |spec: Spec| vec![Spec::Failing(Box::new(spec))];
    let cases = vec![
        (
            "FailedGetResourceMetric",
            failing(Spec::Cpu { utilization: 10 }),
        ),
        (
            "FailedGetPodsMetric",
            failing(Spec::PodsQps {
                average_milli: 15000,
            }),
        ),
        (
            "FailedGetObjectMetric",
            failing(Spec::ObjectQps {
                target: ValueTarget::Value(15000),
            }),
        ),
        (
            "FailedGetExternalMetric",
            failing(Spec::ExternalQps {
                target: ValueTarget::Value(300),
            }),
        ),
    ];
    for (reason, metrics) in cases {
        check(&ControllerCase {
            name: reason,
            min_replicas: 1,
            max_replicas: 100,
            metrics,
            reported_levels: vec![100, 200, 300],
            reported_cpu_requests: Some(vec![100; 3]),
            expected_desired_replicas: 3,
            expected_conditions: metric_failed(reason),
            ..ControllerCase::default()
        });
    }
}

/// The controller version of the calibrated tolerance test: a target just past the tolerance
/// scales down, one just inside holds.
#[test]
fn controller_computed_tolerance_alg_implementation() {
    let start_pods: i32 = 10;
    let total_used_cpu: i64 = i64::from(start_pods) * 150;
    let total_requested_cpu: i32 = 2 * total_used_cpu as i32;
    let requested_to_used = f64::from(total_requested_cpu / total_used_cpu as i32);
    let per_pod_requested = i64::from(total_requested_cpu / start_pods);
    let tolerance = 0.1;
    let jitter = [100, -100, 10, -10, 2, -2, 1, -1, 0, 0];
    let base = ControllerCase {
        min_replicas: 0,
        max_replicas: 1000,
        spec_replicas: start_pods,
        status_replicas: start_pods,
        reported_levels: vec![total_used_cpu / 10; 10],
        reported_cpu_requests: Some(
            jitter
                .iter()
                .map(|delta| per_pod_requested + delta)
                .collect(),
        ),
        recommendations: Some(vec![]),
        ..ControllerCase::default()
    };

    let target = (1.0 / (requested_to_used * (1.0 - tolerance))).abs() + 0.01;
    let resources_used_ratio = total_used_cpu as f64 / (f64::from(total_requested_cpu) * target);
    check(&ControllerCase {
        name: "just past the tolerance",
        cpu_target: (target * 100.0) as i32,
        expected_desired_replicas: (resources_used_ratio * f64::from(start_pods)).ceil() as i32,
        ..base.clone()
    });

    let target = (1.0 / (requested_to_used * (1.0 - tolerance))).abs() + 0.004;
    check(&ControllerCase {
        name: "just within the tolerance",
        cpu_target: (target * 100.0) as i32,
        expected_desired_replicas: start_pods,
        expected_conditions: Some(status_ok_with(&[(
            Kind::AbleToScale,
            true,
            "ReadyForNewScale",
        )])),
        ..base
    });
}
