//! Ported from kubernetes/kubernetes `pkg/controller/podautoscaler/replica_calculator_test.go`,
//! `TestReplicaCalcResourceScale` (the table upstream built from the former `TestReplicaCalc
//! ScaleUp*`, `ContainerScaleUp`, `ScaleDown*` and `ContainerScaleDown*` functions).

use super::super::error::HpaError;
use super::super::pods::{ConditionStatus, PodPhase, Resource};
use super::super::replicas::{ResourceSamples, Tolerances};
use super::calculator_fixture::{Fixture, cpu_requests, same_levels};
use super::{COOL_CPU_START, HOT_CPU_START, NOW, upstream_test_calculator};

use ConditionStatus::{False as NotReady, True as Ready};
use PodPhase::{Failed, Pending, Running};

/// Replicas, utilization in percent and raw average usage per pod.
pub(super) type Expected = Result<(i32, i32, i64), HpaError>;

pub(super) struct ResourceCase {
    pub name: &'static str,
    pub fixture: Fixture,
    pub container: Option<&'static str>,
    pub target_utilization: i32,
    pub tolerances: Tolerances,
    pub expected: Expected,
}

/// Runs `GetResourceReplicas` for CPU on the case's pods and samples.
pub(super) fn check(case: &ResourceCase) {
    let pods = case.fixture.pods();
    let usage = case.fixture.usage();
    let samples = ResourceSamples {
        resource: &Resource::Cpu,
        container: case.container,
        pods: &pods,
        usage: &usage,
    };
    let got = upstream_test_calculator()
        .resource_utilization_replicas(
            case.fixture.current_replicas,
            case.target_utilization,
            samples,
            case.tolerances,
            NOW,
        )
        .map(|proposal| {
            let utilization = proposal.utilization_percent.expect("utilization target");
            (proposal.replicas, utilization, proposal.value_milli)
        });
    assert_eq!(got, case.expected, "case: {}", case.name);
}

fn scale_up(name: &'static str, fixture: Fixture, container: Option<&'static str>) -> ResourceCase {
    ResourceCase {
        name,
        fixture,
        container,
        target_utilization: 30,
        tolerances: Tolerances::default(),
        expected: Ok((0, 0, 0)),
    }
}

fn expect(mut case: ResourceCase, expected: Expected) -> ResourceCase {
    case.expected = expected;
    case
}

fn three_pods(levels: Vec<Vec<i64>>) -> Fixture {
    Fixture {
        current_replicas: 3,
        requests_milli: cpu_requests(3, 1000),
        levels,
        ..Fixture::default()
    }
}

fn two_running_of_four(
    levels: Vec<Vec<i64>>,
    phases: Vec<PodPhase>,
    deleting: Vec<bool>,
) -> Fixture {
    Fixture {
        current_replicas: 2,
        readiness: vec![Ready, Ready, NotReady, NotReady],
        phases,
        deleting,
        requests_milli: cpu_requests(4, 1000),
        levels,
        ..Fixture::default()
    }
}

fn five_pods(levels: Vec<Vec<i64>>) -> Fixture {
    Fixture {
        current_replicas: 5,
        requests_milli: cpu_requests(5, 1000),
        levels,
        ..Fixture::default()
    }
}

fn second_container(levels: &[i64]) -> Vec<Vec<i64>> {
    levels.iter().map(|level| vec![1000, *level]).collect()
}

fn scale_up_cases() -> Vec<ResourceCase> {
    let failed = vec![Running, Running, Failed, Failed];
    let running = vec![Running; 4];
    let deleted = vec![false, false, true, true];
    vec![
        expect(
            scale_up("scale up", three_pods(same_levels(&[300, 500, 700])), None),
            Ok((5, 50, 2 * 500)),
        ),
        expect(
            scale_up(
                "scale up: container metric",
                three_pods(second_container(&[300, 500, 700])),
                Some("container2"),
            ),
            Ok((5, 50, 500)),
        ),
        expect(
            scale_up(
                "scale up: unready pod scales less",
                Fixture {
                    readiness: vec![NotReady, Ready, Ready],
                    ..three_pods(same_levels(&[300, 500, 700]))
                },
                None,
            ),
            Ok((4, 60, 2 * 600)),
        ),
        expect(
            scale_up(
                "scale up: hot-CPU container scales less",
                Fixture {
                    start_ms: vec![HOT_CPU_START, COOL_CPU_START, COOL_CPU_START],
                    ..three_pods(vec![vec![0, 300], vec![0, 500], vec![0, 700]])
                },
                Some("container2"),
            ),
            Ok((4, 60, 600)),
        ),
        expect(
            scale_up(
                "scale up: hot-CPU pod scales less",
                Fixture {
                    start_ms: vec![HOT_CPU_START, COOL_CPU_START, COOL_CPU_START],
                    ..three_pods(same_levels(&[300, 500, 700]))
                },
                None,
            ),
            Ok((4, 60, 2 * 600)),
        ),
        expect(
            scale_up(
                "no scale: unready pods ignored",
                Fixture {
                    readiness: vec![Ready, NotReady, NotReady],
                    ..three_pods(same_levels(&[400, 500, 700]))
                },
                None,
            ),
            Ok((3, 40, 2 * 400)),
        ),
        expect(
            scale_up(
                "no scale: hot-CPU pods ignored",
                Fixture {
                    readiness: vec![Ready, NotReady, NotReady],
                    start_ms: vec![COOL_CPU_START, HOT_CPU_START, HOT_CPU_START],
                    ..three_pods(same_levels(&[400, 500, 700]))
                },
                None,
            ),
            Ok((3, 40, 2 * 400)),
        ),
        expect(
            scale_up(
                "scale up: failed pods ignored",
                two_running_of_four(same_levels(&[500, 700]), failed.clone(), vec![]),
                None,
            ),
            Ok((4, 60, 2 * 600)),
        ),
        expect(
            scale_up(
                "scale up: failed pods ignored with missing container metric",
                two_running_of_four(
                    vec![vec![1000, 500], vec![9000, 700], vec![1000], vec![9000]],
                    failed.clone(),
                    vec![],
                ),
                Some("container2"),
            ),
            Ok((4, 60, 600)),
        ),
        expect(
            scale_up(
                "scale up: container metrics with failed pods ignored",
                two_running_of_four(vec![vec![1000, 500], vec![9000, 700]], failed, vec![]),
                Some("container2"),
            ),
            Ok((4, 60, 600)),
        ),
        expect(
            scale_up(
                "scale up: pods being deleted are ignored",
                two_running_of_four(same_levels(&[500, 700]), running.clone(), deleted.clone()),
                None,
            ),
            Ok((4, 60, 2 * 600)),
        ),
        expect(
            scale_up(
                "scale up: container metrics with pods being deleted ignored",
                two_running_of_four(same_levels(&[500, 700]), running, deleted),
                Some("container1"),
            ),
            Ok((4, 60, 600)),
        ),
    ]
}

fn scale_down(
    name: &'static str,
    fixture: Fixture,
    container: Option<&'static str>,
) -> ResourceCase {
    ResourceCase {
        target_utilization: 50,
        ..scale_up(name, fixture, container)
    }
}

fn five_of_seven(levels: Vec<Vec<i64>>, phases: Vec<PodPhase>, deleting: Vec<bool>) -> Fixture {
    Fixture {
        current_replicas: 5,
        readiness: vec![Ready, Ready, Ready, Ready, Ready, NotReady, NotReady],
        phases,
        deleting,
        requests_milli: cpu_requests(7, 1000),
        levels,
        ..Fixture::default()
    }
}

fn scale_down_cases() -> Vec<ResourceCase> {
    let levels = [100, 300, 500, 250, 250];
    let unready_last_two = vec![Ready, Ready, Ready, NotReady, NotReady];
    let pending = vec![Running, Pending, Pending, Pending, Pending];
    let hot_last_two = vec![
        COOL_CPU_START,
        COOL_CPU_START,
        COOL_CPU_START,
        HOT_CPU_START,
        HOT_CPU_START,
    ];
    let failed_last_two = vec![Running, Running, Running, Running, Running, Failed, Failed];
    let deleted_last_two = vec![false, false, false, false, false, true, true];
    vec![
        expect(
            scale_down("scale down", five_pods(same_levels(&levels)), None),
            Ok((3, 28, 2 * 280)),
        ),
        expect(
            scale_down(
                "scale down: container metric",
                five_pods(second_container(&levels)),
                Some("container2"),
            ),
            Ok((3, 28, 280)),
        ),
        expect(
            scale_down(
                "scale down: exclude unready pods",
                Fixture {
                    readiness: unready_last_two.clone(),
                    ..five_pods(same_levels(&levels))
                },
                None,
            ),
            Ok((2, 30, 2 * 300)),
        ),
        expect(
            scale_down(
                "scale down: container metric excludes unready pods",
                Fixture {
                    readiness: unready_last_two,
                    ..five_pods(second_container(&levels))
                },
                Some("container2"),
            ),
            Ok((2, 30, 300)),
        ),
        expect(
            scale_down(
                "scale down: exclude unscheduled pods",
                Fixture {
                    readiness: vec![Ready, NotReady, NotReady, NotReady, NotReady],
                    phases: pending.clone(),
                    ..five_pods(same_levels(&[100]))
                },
                None,
            ),
            Ok((1, 10, 2 * 100)),
        ),
        expect(
            scale_down(
                "scale down: container metric excludes unscheduled pods",
                Fixture {
                    readiness: vec![Ready, NotReady, NotReady, NotReady, NotReady],
                    phases: pending,
                    ..five_pods(second_container(&levels))
                },
                Some("container2"),
            ),
            Ok((1, 10, 100)),
        ),
        expect(
            scale_down(
                "scale down: ignore hot-CPU pods",
                Fixture {
                    start_ms: hot_last_two.clone(),
                    ..five_pods(same_levels(&levels))
                },
                None,
            ),
            Ok((2, 30, 2 * 300)),
        ),
        expect(
            scale_down(
                "scale down: container metric ignores hot-CPU pods",
                Fixture {
                    start_ms: hot_last_two,
                    ..five_pods(second_container(&[100, 300, 500, 1000, 1000]))
                },
                Some("container2"),
            ),
            Ok((2, 30, 300)),
        ),
        expect(
            scale_down(
                "scale down: failed pods ignored",
                five_of_seven(same_levels(&levels), failed_last_two.clone(), vec![]),
                None,
            ),
            Ok((3, 28, 2 * 280)),
        ),
        expect(
            scale_down(
                "scale down: container metric with failed pods ignored",
                five_of_seven(second_container(&levels), failed_last_two, vec![]),
                Some("container2"),
            ),
            Ok((3, 28, 280)),
        ),
        expect(
            scale_down(
                "scale down: pods being deleted are ignored",
                five_of_seven(
                    same_levels(&levels),
                    vec![Running; 7],
                    deleted_last_two.clone(),
                ),
                None,
            ),
            Ok((3, 28, 2 * 280)),
        ),
        // Regression test for kubernetes/kubernetes#83561: pods still running while deleted.
        expect(
            scale_down(
                "scale down: still-running pods being deleted are ignored",
                five_of_seven(
                    second_container(&levels),
                    vec![Running; 7],
                    deleted_last_two,
                ),
                Some("container2"),
            ),
            Ok((3, 28, 280)),
        ),
    ]
}

#[test]
fn replica_calc_resource_scale() {
    let cases: Vec<ResourceCase> = scale_up_cases()
        .into_iter()
        .chain(scale_down_cases())
        .collect();
    assert_eq!(
        cases.len(),
        24,
        "every case of TestReplicaCalcResourceScale"
    );
    for case in &cases {
        check(case);
    }
}
