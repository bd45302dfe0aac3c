//! Ported from kubernetes/kubernetes `pkg/controller/podautoscaler/horizontal_test.go`, the
//! controller tests that scale down or are held from it: `TestScaleDown`,
//! `TestScaleDownContainerResource`, `TestScaleDownWithScalingRules`,
//! `TestScaleDownStabilizeInitialSize`, `TestScaleDownCM`, `TestScaleDownCMObject`,
//! `TestScaleDownToZeroCMObject`, `TestScaleDownPerPodCMObject`, `TestScaleDownCMExternal`,
//! `TestScaleDownToZeroCMExternal`, `TestScaleDownPerPodCMExternal`,
//! `TestScaleDownIncludeUnreadyPods`, `TestScaleDownIgnoreHotCpuPods`,
//! `TestScaleDownIgnoresFailedPods`, `TestScaleDownIgnoresDeletionPods`, the multi-metric cases
//! `TestNoScaleDownOneMetricInvalid` and `TestNoScaleDownOneMetricEmpty`, then
//! `TestStabilizeDownscale`, `TestScaleDownRCImmediately`, `TestMissingMetrics` and
//! `TestMissingReports`.

use super::super::metrics::ValueTarget;
use super::super::normalize::Recommendation;
use super::super::pods::{ConditionStatus, PodPhase};
use super::behavior_fixture::generate_scaling_rules;
use super::controller_fixture::{ControllerCase, Kind, Spec, check, status_ok_with};
use super::{COOL_CPU_START, HOT_CPU_START, MINUTE, NOW};

use ConditionStatus::{False as NotReady, True as Ready};

/// Five pods at 100, 300, 500, 250 and 250 millicores of one core each, aiming at 50%: 28%
/// used, so 3 replicas. The recommendation history is empty rather than fresh, so that the
/// initial recommendation does not hold the scale-down.
fn cpu_50_five_pods(name: &'static str, expected: i32) -> ControllerCase {
    ControllerCase {
        name,
        spec_replicas: 5,
        status_replicas: 5,
        cpu_target: 50,
        reported_levels: vec![100, 300, 500, 250, 250],
        reported_cpu_requests: Some(vec![1000; 5]),
        recommendations: Some(vec![]),
        expected_desired_replicas: expected,
        ..ControllerCase::default()
    }
}

fn five_replicas_with(spec: Spec, levels: &[i64], expected: i32) -> ControllerCase {
    ControllerCase {
        spec_replicas: 5,
        status_replicas: 5,
        metrics: vec![spec],
        reported_levels: levels.to_vec(),
        recommendations: Some(vec![]),
        expected_desired_replicas: expected,
        ..ControllerCase::default()
    }
}

#[test]
fn controller_scale_down() {
    let metric_failed = |reason: &'static str| {
        Some(vec![
            (Kind::AbleToScale, true, "SucceededGetScale"),
            (Kind::ScalingActive, false, reason),
        ])
    };
    let seven_pods = Some(vec![1000; 7]);
    let cases = vec![
        cpu_50_five_pods("scale down", 3),
        ControllerCase {
            cpu_target: 0,
            metrics: vec![Spec::ContainerCpu {
                container: "container2",
                utilization: 50,
            }],
            ..cpu_50_five_pods("scale down container resource", 3)
        },
        ControllerCase {
            scale_up_rules: Some(generate_scaling_rules(0, 0, 100, 15, 30)),
            ..cpu_50_five_pods("scale down with scaling rules", 3)
        },
        // A fresh controller records the current count, which holds the scale-down.
        ControllerCase {
            recommendations: None,
            expected_conditions: Some(status_ok_with(&[
                (Kind::AbleToScale, true, "ReadyForNewScale"),
                (Kind::AbleToScale, true, "ScaleDownStabilized"),
            ])),
            ..cpu_50_five_pods("scale down stabilize initial size", 5)
        },
        ControllerCase {
            name: "scale down CM",
            reported_cpu_requests: Some(vec![1000; 5]),
            ..five_replicas_with(
                Spec::PodsQps {
                    average_milli: 20000,
                },
                &[12000; 5],
                3,
            )
        },
        ControllerCase {
            name: "scale down CM object",
            reported_cpu_requests: Some(vec![1000; 5]),
            ..five_replicas_with(
                Spec::ObjectQps {
                    target: ValueTarget::Value(20000),
                },
                &[12000],
                3,
            )
        },
        ControllerCase {
            name: "scale down to zero CM object",
            min_replicas: 0,
            reported_cpu_requests: Some(vec![1000; 5]),
            ..five_replicas_with(
                Spec::ObjectQps {
                    target: ValueTarget::Value(20000),
                },
                &[0],
                0,
            )
        },
        ControllerCase {
            name: "scale down per pod CM object",
            reported_cpu_requests: Some(vec![1000; 5]),
            ..five_replicas_with(
                Spec::ObjectQps {
                    target: ValueTarget::AverageValue(20000),
                },
                &[60000],
                3,
            )
        },
        ControllerCase {
            name: "scale down CM external",
            ..five_replicas_with(
                Spec::ExternalQps {
                    target: ValueTarget::Value(14400),
                },
                &[8600],
                3,
            )
        },
        ControllerCase {
            name: "scale down to zero CM external",
            min_replicas: 0,
            ..five_replicas_with(
                Spec::ExternalQps {
                    target: ValueTarget::Value(14400),
                },
                &[0],
                0,
            )
        },
        ControllerCase {
            name: "scale down per pod CM external",
            ..five_replicas_with(
                Spec::ExternalQps {
                    target: ValueTarget::AverageValue(3000),
                },
                &[8600],
                3,
            )
        },
        ControllerCase {
            readiness: vec![Ready, Ready, Ready, NotReady, NotReady],
            ..cpu_50_five_pods("scale down include unready pods", 2)
        },
        ControllerCase {
            start_ms: vec![
                COOL_CPU_START,
                COOL_CPU_START,
                COOL_CPU_START,
                HOT_CPU_START,
                HOT_CPU_START,
            ],
            ..cpu_50_five_pods("scale down ignore hot CPU pods", 2)
        },
        ControllerCase {
            reported_cpu_requests: seven_pods.clone(),
            readiness: vec![Ready, Ready, Ready, Ready, Ready, NotReady, NotReady],
            phases: [vec![PodPhase::Running; 5], vec![PodPhase::Failed; 2]].concat(),
            ..cpu_50_five_pods("scale down ignores failed pods", 3)
        },
        ControllerCase {
            reported_cpu_requests: seven_pods,
            readiness: vec![Ready, Ready, Ready, Ready, Ready, NotReady, NotReady],
            phases: vec![PodPhase::Running; 7],
            deleting: vec![false, false, false, false, false, true, true],
            ..cpu_50_five_pods("scale down ignores deletion pods", 3)
        },
        // A failing metric blocks a scale-down: it might have asked for more replicas.
        ControllerCase {
            metrics: vec![Spec::CheddarCheese],
            expected_conditions: metric_failed("InvalidMetricSourceType"),
            ..cpu_50_five_pods("no scale down, one metric invalid", 5)
        },
        ControllerCase {
            metrics: vec![Spec::Failing(Box::new(Spec::ExternalQps {
                target: ValueTarget::Value(1000),
            }))],
            expected_conditions: metric_failed("FailedGetExternalMetric"),
            ..cpu_50_five_pods("no scale down, one metric empty", 5)
        },
        ControllerCase {
            name: "stabilize downscale",
            min_replicas: 1,
            max_replicas: 5,
            spec_replicas: 4,
            status_replicas: 4,
            cpu_target: 100,
            reported_levels: vec![50, 50, 50],
            reported_cpu_requests: Some(vec![100; 3]),
            recommendations: Some(vec![
                Recommendation {
                    replicas: 10,
                    timestamp_ms: NOW - 10 * MINUTE,
                },
                Recommendation {
                    replicas: 4,
                    timestamp_ms: NOW - MINUTE,
                },
            ]),
            expected_desired_replicas: 4,
            expected_conditions: Some(status_ok_with(&[
                (Kind::AbleToScale, true, "ReadyForNewScale"),
                (Kind::AbleToScale, true, "ScaleDownStabilized"),
            ])),
            ..ControllerCase::default()
        },
        ControllerCase {
            name: "scale down RC immediately",
            max_replicas: 5,
            spec_replicas: 6,
            status_replicas: 6,
            cpu_target: 50,
            reported_levels: vec![8000, 9500, 1000],
            reported_cpu_requests: Some(vec![900, 1000, 1100]),
            expected_desired_replicas: 5,
            expected_conditions: Some(vec![(Kind::AbleToScale, true, "SucceededRescale")]),
            ..ControllerCase::default()
        },
        ControllerCase {
            name: "missing metrics",
            spec_replicas: 4,
            status_replicas: 4,
            cpu_target: 100,
            reported_levels: vec![400, 95],
            reported_cpu_requests: Some(vec![1000; 4]),
            recommendations: Some(vec![]),
            expected_desired_replicas: 3,
            ..ControllerCase::default()
        },
        ControllerCase {
            name: "missing reports",
            min_replicas: 1,
            max_replicas: 5,
            spec_replicas: 4,
            status_replicas: 4,
            cpu_target: 50,
            reported_levels: vec![200],
            reported_cpu_requests: Some(vec![200]),
            recommendations: Some(vec![]),
            expected_desired_replicas: 2,
            ..ControllerCase::default()
        },
    ];
    for case in &cases {
        check(case);
    }
}
