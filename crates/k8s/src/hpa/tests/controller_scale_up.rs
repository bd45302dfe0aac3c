//! Ported from kubernetes/kubernetes `pkg/controller/podautoscaler/horizontal_test.go`, the
//! controller tests that scale up: `TestScaleUp`, `TestScaleUpContainer`,
//! `TestScaleUpUnreadyLessScale`, `TestScaleUpHotCpuLessScale`, `TestScaleUpUnreadyNoScale`,
//! `TestScaleUpHotCpuNoScale`, `TestScaleUpIgnoresFailedPods`, `TestScaleUpIgnoresDeletionPods`,
//! `TestScaleUpCM`, `TestScaleUpCMUnreadyAndHotCpuNoLessScale`, `TestScaleUpCMUnreadyandCpuHot`,
//! `TestScaleUpHotCpuNoScaleWouldScaleDown`, `TestScaleUpCMObject`, `TestScaleUpFromZeroCMObject`,
//! `TestScaleUpFromZeroIgnoresToleranceCMObject`, `TestScaleUpPerPodCMObject`,
//! `TestScaleUpCMExternal`, `TestScaleUpPerPodCMExternal`, and the multi-metric cases
//! `TestScaleUpOneMetricInvalid`, `TestScaleUpFromZeroOneMetricInvalid`,
//! `TestScaleUpBothMetricsEmpty`, `TestScaleUpOneMetricEmpty`; then `TestScaleUpRCImmediately`,
//! `TestNoBackoffUpscaleCM`, `TestNoBackoffUpscaleCMNoBackoffCpu`, `TestUpscaleCap` and
//! `TestUpscaleCapGreaterThanMaxReplicas`.
//!
//! Not ported: `TestScaleUpDeployment` and `TestScaleUpReplicaSet` repeat `TestScaleUp` against
//! other kinds of scale subresource, which is client plumbing.

use super::super::metrics::ValueTarget;
use super::super::pods::{ConditionStatus, PodPhase};
use super::behavior_fixture::generate_scaling_rules;
use super::controller_fixture::{ControllerCase, Kind, Spec, check, status_ok_with};
use super::{COOL_CPU_START, HOT_CPU_START};

use ConditionStatus::{False as NotReady, True as Ready};

fn cpu_30_three_pods(name: &'static str, levels: &[i64], expected: i32) -> ControllerCase {
    ControllerCase {
        name,
        cpu_target: 30,
        reported_levels: levels.to_vec(),
        reported_cpu_requests: Some(vec![1000; 3]),
        expected_desired_replicas: expected,
        ..ControllerCase::default()
    }
}

fn qps_15_three_pods(name: &'static str, levels: &[i64], expected: i32) -> ControllerCase {
    ControllerCase {
        name,
        metrics: vec![Spec::PodsQps {
            average_milli: 15000,
        }],
        reported_levels: levels.to_vec(),
        reported_cpu_requests: Some(vec![1000; 3]),
        expected_desired_replicas: expected,
        ..ControllerCase::default()
    }
}

fn with_metric(spec: Spec, levels: &[i64], expected: i32) -> ControllerCase {
    ControllerCase {
        metrics: vec![spec],
        reported_levels: levels.to_vec(),
        expected_desired_replicas: expected,
        ..ControllerCase::default()
    }
}

#[test]
fn controller_scale_up() {
    let ready_for_new_scale = Some(status_ok_with(&[(
        Kind::AbleToScale,
        true,
        "ReadyForNewScale",
    )]));
    let too_many = Some(status_ok_with(&[(
        Kind::ScalingLimited,
        true,
        "TooManyReplicas",
    )]));
    let cases = vec![
        cpu_30_three_pods("scale up", &[300, 500, 700], 5),
        ControllerCase {
            cpu_target: 0,
            metrics: vec![Spec::ContainerCpu {
                container: "container1",
                utilization: 30,
            }],
            ..cpu_30_three_pods("scale up container", &[300, 500, 700], 5)
        },
        ControllerCase {
            readiness: vec![NotReady, Ready, Ready],
            ..cpu_30_three_pods("scale up unready less scale", &[300, 500, 700], 4)
        },
        ControllerCase {
            start_ms: vec![HOT_CPU_START, COOL_CPU_START, COOL_CPU_START],
            ..cpu_30_three_pods("scale up hot CPU less scale", &[300, 500, 700], 4)
        },
        ControllerCase {
            readiness: vec![Ready, NotReady, NotReady],
            expected_conditions: ready_for_new_scale.clone(),
            ..cpu_30_three_pods("scale up unready no scale", &[400, 500, 700], 3)
        },
        ControllerCase {
            readiness: vec![Ready, NotReady, NotReady],
            start_ms: vec![COOL_CPU_START, HOT_CPU_START, HOT_CPU_START],
            expected_conditions: ready_for_new_scale,
            ..cpu_30_three_pods("scale up hot CPU no scale", &[400, 500, 700], 3)
        },
        ControllerCase {
            spec_replicas: 2,
            status_replicas: 2,
            reported_cpu_requests: Some(vec![1000; 4]),
            readiness: vec![Ready, Ready, NotReady, NotReady],
            phases: vec![
                PodPhase::Running,
                PodPhase::Running,
                PodPhase::Failed,
                PodPhase::Failed,
            ],
            ..cpu_30_three_pods("scale up ignores failed pods", &[500, 700], 4)
        },
        ControllerCase {
            spec_replicas: 2,
            status_replicas: 2,
            reported_cpu_requests: Some(vec![1000; 4]),
            readiness: vec![Ready, Ready, NotReady, NotReady],
            phases: vec![PodPhase::Running; 4],
            deleting: vec![false, false, true, true],
            ..cpu_30_three_pods("scale up ignores deletion pods", &[500, 700], 4)
        },
        qps_15_three_pods("scale up CM", &[20000, 10000, 30000], 4),
        ControllerCase {
            readiness: vec![Ready, Ready, NotReady],
            start_ms: vec![COOL_CPU_START, COOL_CPU_START, HOT_CPU_START],
            ..qps_15_three_pods(
                "scale up CM unready and hot CPU no less scale",
                &[50000, 10000, 30000],
                6,
            )
        },
        ControllerCase {
            readiness: vec![NotReady, Ready, NotReady],
            start_ms: vec![HOT_CPU_START, COOL_CPU_START, HOT_CPU_START],
            expected_conditions: too_many.clone(),
            ..qps_15_three_pods("scale up CM unready and CPU hot", &[50000, 15000, 30000], 6)
        },
        ControllerCase {
            start_ms: vec![HOT_CPU_START, COOL_CPU_START, HOT_CPU_START],
            expected_conditions: too_many.clone(),
            ..qps_15_three_pods(
                "scale up hot CPU no scale would scale down",
                &[50000, 15000, 30000],
                6,
            )
        },
        ControllerCase {
            name: "scale up CM object",
            ..with_metric(
                Spec::ObjectQps {
                    target: ValueTarget::Value(15000),
                },
                &[20000],
                4,
            )
        },
        ControllerCase {
            name: "scale up from zero CM object",
            min_replicas: 0,
            spec_replicas: 0,
            status_replicas: 0,
            ..with_metric(
                Spec::ObjectQps {
                    target: ValueTarget::Value(15000),
                },
                &[20000],
                2,
            )
        },
        ControllerCase {
            name: "scale up from zero ignores tolerance CM object",
            min_replicas: 0,
            spec_replicas: 0,
            status_replicas: 0,
            ..with_metric(
                Spec::ObjectQps {
                    target: ValueTarget::Value(1000),
                },
                &[1000],
                1,
            )
        },
        ControllerCase {
            name: "scale up per pod CM object",
            ..with_metric(
                Spec::ObjectQps {
                    target: ValueTarget::AverageValue(10000),
                },
                &[40000],
                4,
            )
        },
        ControllerCase {
            name: "scale up CM external",
            ..with_metric(
                Spec::ExternalQps {
                    target: ValueTarget::Value(6666),
                },
                &[8600],
                4,
            )
        },
        ControllerCase {
            name: "scale up per pod CM external",
            ..with_metric(
                Spec::ExternalQps {
                    target: ValueTarget::AverageValue(2222),
                },
                &[8600],
                4,
            )
        },
        ControllerCase {
            metrics: vec![Spec::CheddarCheese],
            ..cpu_30_three_pods("scale up, one metric invalid", &[300, 400, 500], 4)
        },
        ControllerCase {
            min_replicas: 0,
            spec_replicas: 0,
            status_replicas: 0,
            metrics: vec![Spec::CheddarCheese],
            recommendations: Some(vec![]),
            ..cpu_30_three_pods(
                "scale up from zero, one metric invalid",
                &[300, 400, 500],
                4,
            )
        },
        ControllerCase {
            cpu_target: 0,
            metrics: vec![Spec::CheddarCheese],
            expected_conditions: Some(vec![
                (Kind::AbleToScale, true, "SucceededGetScale"),
                (Kind::ScalingActive, false, "InvalidMetricSourceType"),
            ]),
            ..cpu_30_three_pods("scale up, both metrics empty", &[], 3)
        },
        ControllerCase {
            metrics: vec![Spec::Failing(Box::new(Spec::ExternalQps {
                target: ValueTarget::Value(100),
            }))],
            ..cpu_30_three_pods("scale up, one metric empty", &[300, 400, 500], 4)
        },
        ControllerCase {
            name: "scale up RC immediately",
            spec_replicas: 1,
            status_replicas: 1,
            reported_levels: vec![0, 0, 0, 0],
            reported_cpu_requests: Some(vec![1000; 4]),
            expected_desired_replicas: 2,
            expected_conditions: Some(vec![(Kind::AbleToScale, true, "SucceededRescale")]),
            ..ControllerCase::default()
        },
        ControllerCase {
            min_replicas: 1,
            max_replicas: 5,
            ..qps_15_three_pods("no backoff upscale CM", &[20000, 10000, 30000], 4)
        },
        ControllerCase {
            min_replicas: 1,
            max_replicas: 5,
            cpu_target: 10,
            expected_conditions: too_many,
            ..qps_15_three_pods(
                "no backoff upscale CM, no backoff CPU",
                &[20000, 10000, 30000],
                5,
            )
        },
        ControllerCase {
            name: "upscale cap",
            min_replicas: 1,
            max_replicas: 100,
            scale_up_rules: Some(generate_scaling_rules(0, 0, 700, 60, 0)),
            cpu_target: 10,
            reported_levels: vec![100, 200, 300],
            reported_cpu_requests: Some(vec![100; 3]),
            expected_desired_replicas: 24,
            expected_conditions: Some(status_ok_with(&[(
                Kind::ScalingLimited,
                true,
                "ScaleUpLimit",
            )])),
            ..ControllerCase::default()
        },
        // Without maxReplicas the cap would give 24.
        ControllerCase {
            name: "upscale cap greater than max replicas",
            min_replicas: 1,
            max_replicas: 20,
            scale_up_rules: Some(generate_scaling_rules(0, 0, 700, 60, 0)),
            cpu_target: 10,
            reported_levels: vec![100, 200, 300],
            reported_cpu_requests: Some(vec![100; 3]),
            expected_desired_replicas: 20,
            expected_conditions: Some(status_ok_with(&[(
                Kind::ScalingLimited,
                true,
                "TooManyReplicas",
            )])),
            ..ControllerCase::default()
        },
    ];
    for case in &cases {
        check(case);
    }
}
