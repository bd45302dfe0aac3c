//! Not ported from upstream: the autoscaler over successive reconciliations, as Purser's server
//! drives it. Each step reconciles at its time with every pod using the same CPU, and the
//! returned count is applied before the next step, as the controller applies it.

use super::super::autoscaler::{Autoscaler, ControllerConfig, HpaSpec, ScaleInput};
use super::super::behavior::{Behavior, ScalingRules};
use super::super::metrics::{MetricInput, MetricObservation, MetricSource, ResourceTarget};
use super::super::pods::{
    ConditionStatus, Container, ContainerUsage, Pod, PodPhase, PodUsage, Resource,
};
use super::{MINUTE, NOW, SECOND};

/// One reconciliation: when, how much CPU each pod uses, and the count expected after it.
struct Step {
    at_ms: i64,
    usage_per_pod_milli: i64,
    expected_replicas: i32,
}

fn step(at_ms: i64, usage_per_pod_milli: i64, expected_replicas: i32) -> Step {
    Step {
        at_ms,
        usage_per_pod_milli,
        expected_replicas,
    }
}

/// Running pods that have been ready for an hour, each requesting one core.
fn scale_input_parts(
    replicas: i32,
    usage_per_pod_milli: i64,
    now_ms: i64,
) -> (Vec<Pod>, Vec<PodUsage>) {
    let started_ms = NOW - 60 * MINUTE;
    let pods = (0..replicas)
        .map(|index| {
            Pod::new(format!("agent-{index}"), PodPhase::Running)
                .with_start(started_ms)
                .with_ready(ConditionStatus::True, started_ms)
                .with_container(Container::new("agent").with_request(Resource::Cpu, 1000))
        })
        .collect();
    let usage = (0..replicas)
        .map(|index| PodUsage {
            pod: format!("agent-{index}"),
            timestamp_ms: now_ms,
            window_ms: 30 * SECOND,
            containers: vec![
                ContainerUsage::new("agent").with_usage(Resource::Cpu, usage_per_pod_milli),
            ],
        })
        .collect();
    (pods, usage)
}

fn run(
    name: &str,
    mut autoscaler: Autoscaler,
    start_replicas: i32,
    target_utilization: i32,
    steps: &[Step],
) {
    let mut replicas = start_replicas;
    for (index, step) in steps.iter().enumerate() {
        let now_ms = NOW + step.at_ms;
        let (pods, usage) = scale_input_parts(replicas, step.usage_per_pod_milli, now_ms);
        let metrics = vec![MetricInput {
            source: MetricSource::Resource {
                resource: Resource::Cpu,
                target: ResourceTarget::Utilization(target_utilization),
            },
            observation: MetricObservation::PodUsage(usage),
        }];
        let input = ScaleInput {
            spec_replicas: replicas,
            status_replicas: replicas,
            pods: &pods,
            metrics: &metrics,
        };
        let decision = autoscaler.reconcile(&input, now_ms);
        assert_eq!(decision.error, None, "{name}, step {index}");
        assert_eq!(
            decision.desired_replicas, step.expected_replicas,
            "{name}, step {index}"
        );
        replicas = decision.desired_replicas;
    }
}

#[test]
fn without_behavior_a_scale_down_waits_for_the_downscale_window() {
    let autoscaler = Autoscaler::new(
        ControllerConfig::default(),
        HpaSpec {
            min_replicas: 1,
            max_replicas: 10,
            behavior: None,
        },
    );
    // 4 pods at 20% of a 50% target want 2; the first reconciliation remembers 4.
    let steps = [
        step(0, 200, 4),
        step(MINUTE, 200, 4),
        step(5 * MINUTE - SECOND, 200, 4),
        step(5 * MINUTE + SECOND, 200, 2),
    ];
    run("downscale window", autoscaler, 4, 50, &steps);
}

#[test]
fn without_behavior_a_scale_up_is_capped_at_twice_the_count() {
    let autoscaler = Autoscaler::new(
        ControllerConfig::default(),
        HpaSpec {
            min_replicas: 1,
            max_replicas: 100,
            behavior: None,
        },
    );
    // Every pod at 100% of a 10% target: ten times the pods, capped at max(2 x current, 4).
    let steps = [
        step(0, 1000, 4),
        step(15 * SECOND, 1000, 8),
        step(30 * SECOND, 1000, 16),
    ];
    run("scale-up cap", autoscaler, 2, 10, &steps);
}

#[test]
fn default_behavior_scales_up_by_the_larger_policy_per_period() {
    let autoscaler = Autoscaler::new(
        ControllerConfig::default(),
        HpaSpec {
            min_replicas: 1,
            max_replicas: 50,
            behavior: Some(Behavior::default()),
        },
    );
    // max(4 pods, 100%) per 15 s, counted from the replicas at the start of the period.
    let steps = [
        step(0, 1000, 6),
        step(5 * SECOND, 1000, 6),
        step(16 * SECOND, 1000, 12),
        step(32 * SECOND, 1000, 24),
        step(48 * SECOND, 1000, 48),
        step(64 * SECOND, 1000, 50),
    ];
    run("default scale-up policies", autoscaler, 2, 10, &steps);
}

#[test]
fn default_behavior_scales_down_after_the_controller_window() {
    let autoscaler = Autoscaler::new(
        ControllerConfig::default(),
        HpaSpec {
            min_replicas: 1,
            max_replicas: 20,
            behavior: Some(Behavior::default()),
        },
    );
    // 10 pods at 10% of a 50% target want 2; the scale-down window is the controller's 5 min,
    // then 100% per 15 s lets the count fall at once.
    let steps = [
        step(0, 100, 10),
        step(4 * MINUTE, 100, 10),
        step(5 * MINUTE + SECOND, 100, 2),
    ];
    run("default scale-down", autoscaler, 10, 50, &steps);
}

#[test]
fn a_per_hpa_tolerance_replaces_the_controller_tolerance() {
    let spec = |scale_up_tolerance: Option<f64>| HpaSpec {
        min_replicas: 1,
        max_replicas: 20,
        behavior: Some(Behavior {
            scale_up: Some(ScalingRules {
                tolerance: scale_up_tolerance,
                ..ScalingRules::default()
            }),
            scale_down: None,
        }),
    };
    // 10 pods at 52.5% of a 50% target: 5% over, inside the default 10% tolerance.
    let held = Autoscaler::new(ControllerConfig::default(), spec(None));
    run("default tolerance", held, 10, 50, &[step(0, 525, 10)]);
    let scaled = Autoscaler::new(ControllerConfig::default(), spec(Some(0.01)));
    run("1% scale-up tolerance", scaled, 10, 50, &[step(0, 525, 11)]);
}
