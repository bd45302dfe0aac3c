//! The HPA, pods and metrics of upstream's controller tests (`horizontal_test.go`: `testCase`,
//! `prepareTestClient`, `statusOkWithOverrides`), rebuilt as values and run through
//! [`Autoscaler::reconcile`]. Upstream checks the replica count written to the scale and the
//! HPA's conditions; these cases check the same two things. The monitor labels and events
//! upstream also records are the controller's plumbing and are not ported.

use super::super::autoscaler::{
    Autoscaler, Conditions, ControllerConfig, History, HpaSpec, ScaleInput,
};
use super::super::behavior::{Behavior, ScalingRules};
use super::super::metrics::{
    MetricInput, MetricObservation, MetricSource, ResourceTarget, ValueTarget,
};
use super::super::normalize::Recommendation;
use super::super::pods::{
    ConditionStatus, Container, ContainerUsage, Pod, PodPhase, PodSample, PodUsage, Resource,
};
use super::{GO_ZERO_TIME, MINUTE, NOW, SECOND};

/// A metric of upstream's test HPA; its observation comes from the case's reported levels.
#[derive(Debug, Clone)]
pub(super) enum Spec {
    Cpu {
        utilization: i32,
    },
    ContainerCpu {
        container: &'static str,
        utilization: i32,
    },
    PodsQps {
        average_milli: i64,
    },
    ObjectQps {
        target: ValueTarget,
    },
    ExternalQps {
        target: ValueTarget,
    },
    /// Upstream's `Type: "CheddarCheese"`: a source the controller does not know.
    CheddarCheese,
    /// The metric whose API answers "something went wrong".
    Failing(Box<Spec>),
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Kind {
    AbleToScale,
    ScalingActive,
    ScalingLimited,
}

pub(super) type ExpectedCondition = (Kind, bool, &'static str);

/// Upstream's `statusOk` with the given conditions replacing those of the same kind.
pub(super) fn status_ok_with(overrides: &[ExpectedCondition]) -> Vec<ExpectedCondition> {
    let mut conditions = vec![
        (Kind::AbleToScale, true, "SucceededRescale"),
        (Kind::ScalingActive, true, "ValidMetricFound"),
        (Kind::ScalingLimited, false, "DesiredWithinRange"),
    ];
    for (kind, status, reason) in overrides {
        let slot = conditions
            .iter_mut()
            .find(|condition| condition.0 == *kind)
            .expect("statusOk has every kind");
        *slot = (*kind, *status, *reason);
    }
    conditions
}

#[derive(Debug, Clone)]
pub(super) struct ControllerCase {
    pub name: &'static str,
    pub min_replicas: i32,
    pub max_replicas: i32,
    pub spec_replicas: i32,
    pub status_replicas: i32,
    pub scale_up_rules: Option<ScalingRules>,
    pub scale_down_rules: Option<ScalingRules>,
    /// Upstream's `CPUTarget`: a CPU utilization metric first when positive.
    pub cpu_target: i32,
    pub metrics: Vec<Spec>,
    pub reported_levels: Vec<i64>,
    /// One CPU request per pod; `None` makes `status_replicas` pods requesting one core.
    pub reported_cpu_requests: Option<Vec<i64>>,
    pub readiness: Vec<ConditionStatus>,
    pub start_ms: Vec<i64>,
    pub phases: Vec<PodPhase>,
    pub deleting: Vec<bool>,
    /// `None` for a fresh controller, which records the current count as a recommendation.
    pub recommendations: Option<Vec<Recommendation>>,
    pub expected_desired_replicas: i32,
    /// `None` stands for upstream's default expectation, `statusOk`.
    pub expected_conditions: Option<Vec<ExpectedCondition>>,
}

impl Default for ControllerCase {
    fn default() -> Self {
        ControllerCase {
            name: "",
            min_replicas: 2,
            max_replicas: 6,
            spec_replicas: 3,
            status_replicas: 3,
            scale_up_rules: None,
            scale_down_rules: None,
            cpu_target: 0,
            metrics: vec![],
            reported_levels: vec![],
            reported_cpu_requests: None,
            readiness: vec![],
            start_ms: vec![],
            phases: vec![],
            deleting: vec![],
            recommendations: None,
            expected_desired_replicas: 0,
            expected_conditions: None,
        }
    }
}

/// Upstream's controller setup: a 5 minute downscale window, the 2 minute CPU initialization
/// period and 10 s readiness delay of its tests, and a scale-up cap factor of 8 (its `init`
/// raises it so that tests do not run into it).
fn upstream_test_config() -> ControllerConfig {
    ControllerConfig {
        tolerance: 0.1,
        downscale_stabilization_ms: 5 * MINUTE,
        cpu_initialization_period_ms: 2 * MINUTE,
        delay_of_initial_readiness_status_ms: 10 * SECOND,
        scale_up_limit_factor: 8.0,
        scale_up_limit_minimum: 4.0,
    }
}

impl ControllerCase {
    fn pods(&self) -> Vec<Pod> {
        let requests = self
            .reported_cpu_requests
            .clone()
            .unwrap_or_else(|| vec![1000; self.status_replicas.max(0) as usize]);
        requests
            .iter()
            .enumerate()
            .map(|(index, request)| {
                let start_ms = self.start_ms.get(index).copied().unwrap_or(GO_ZERO_TIME);
                let readiness = self
                    .readiness
                    .get(index)
                    .copied()
                    .unwrap_or(ConditionStatus::True);
                let phase = self.phases.get(index).copied().unwrap_or(PodPhase::Running);
                let mut pod = Pod::new(format!("test-pod-{index}"), phase)
                    .with_ready(readiness, start_ms)
                    .with_start(start_ms)
                    .with_container(
                        Container::new("container1").with_request(Resource::Cpu, request / 2),
                    )
                    .with_container(
                        Container::new("container2").with_request(Resource::Cpu, request / 2),
                    );
                if self.deleting.get(index).copied().unwrap_or(false) {
                    pod = pod.with_deletion();
                }
                pod
            })
            .collect()
    }

    fn pod_usage(&self) -> Vec<PodUsage> {
        let container = |name: &str, level: i64| {
            ContainerUsage::new(name)
                .with_usage(Resource::Cpu, level / 2)
                .with_usage(Resource::Memory, 1024 * 1024 / 2 * 1000)
        };
        self.reported_levels
            .iter()
            .enumerate()
            .map(|(index, level)| PodUsage {
                pod: format!("test-pod-{index}"),
                timestamp_ms: NOW,
                window_ms: MINUTE,
                containers: vec![
                    container("container1", *level),
                    container("container2", *level),
                ],
            })
            .collect()
    }

    fn observation(&self, spec: &Spec) -> MetricObservation {
        let first_level = self.reported_levels.first().copied().unwrap_or(0);
        match spec {
            Spec::Cpu { .. } | Spec::ContainerCpu { .. } => {
                MetricObservation::PodUsage(self.pod_usage())
            }
            Spec::PodsQps { .. } => MetricObservation::PodSamples(
                self.reported_levels
                    .iter()
                    .enumerate()
                    .map(|(index, level)| PodSample {
                        pod: format!("test-pod-{index}"),
                        value_milli: *level,
                        timestamp_ms: NOW,
                    })
                    .collect(),
            ),
            Spec::ObjectQps { .. } => MetricObservation::ObjectValue {
                value_milli: first_level,
                timestamp_ms: NOW,
            },
            Spec::ExternalQps { .. } => MetricObservation::ExternalValues {
                values_milli: self.reported_levels.clone(),
                timestamp_ms: NOW,
            },
            // An object value handed to an external source: nothing the controller can read.
            Spec::CheddarCheese => MetricObservation::ObjectValue {
                value_milli: first_level,
                timestamp_ms: NOW,
            },
            Spec::Failing(_) => MetricObservation::Unavailable {
                reason: "something went wrong".to_string(),
            },
        }
    }

    fn metric_inputs(&self) -> Vec<MetricInput> {
        let mut specs = Vec::new();
        if self.cpu_target > 0 {
            specs.push(Spec::Cpu {
                utilization: self.cpu_target,
            });
        }
        specs.extend(self.metrics.iter().cloned());
        specs
            .iter()
            .map(|spec| MetricInput {
                source: source(spec),
                observation: self.observation(spec),
            })
            .collect()
    }

    fn autoscaler(&self) -> Autoscaler {
        let behavior =
            (self.scale_up_rules.is_some() || self.scale_down_rules.is_some()).then(|| Behavior {
                scale_up: self.scale_up_rules.clone(),
                scale_down: self.scale_down_rules.clone(),
            });
        let spec = HpaSpec {
            min_replicas: self.min_replicas,
            max_replicas: self.max_replicas,
            behavior,
        };
        let history = History {
            recommendations: self.recommendations.clone(),
            ..History::default()
        };
        Autoscaler::with_history(upstream_test_config(), spec, history)
    }
}

fn source(spec: &Spec) -> MetricSource {
    let qps = || "qps".to_string();
    match spec {
        Spec::Cpu { utilization } => MetricSource::Resource {
            resource: Resource::Cpu,
            target: ResourceTarget::Utilization(*utilization),
        },
        Spec::ContainerCpu {
            container,
            utilization,
        } => MetricSource::ContainerResource {
            resource: Resource::Cpu,
            container: container.to_string(),
            target: ResourceTarget::Utilization(*utilization),
        },
        Spec::PodsQps { average_milli } => MetricSource::Pods {
            metric: qps(),
            target_average_milli: *average_milli,
        },
        Spec::ObjectQps { target } => MetricSource::Object {
            metric: qps(),
            described_object: "Deployment/some-deployment".to_string(),
            target: *target,
        },
        Spec::ExternalQps { target } => MetricSource::External {
            metric: qps(),
            target: *target,
        },
        Spec::CheddarCheese => MetricSource::External {
            metric: "CheddarCheese".to_string(),
            target: ValueTarget::Value(1),
        },
        Spec::Failing(inner) => source(inner),
    }
}

fn conditions_list(conditions: &Conditions) -> Vec<ExpectedCondition> {
    [
        (Kind::AbleToScale, &conditions.able_to_scale),
        (Kind::ScalingActive, &conditions.scaling_active),
        (Kind::ScalingLimited, &conditions.scaling_limited),
    ]
    .into_iter()
    .filter_map(|(kind, condition)| {
        condition
            .as_ref()
            .map(|condition| (kind, condition.status, condition.reason))
    })
    .collect()
}

/// One reconciliation of the case's HPA at [`NOW`].
pub(super) fn check(case: &ControllerCase) {
    let pods = case.pods();
    let metrics = case.metric_inputs();
    let input = ScaleInput {
        spec_replicas: case.spec_replicas,
        status_replicas: case.status_replicas,
        pods: &pods,
        metrics: &metrics,
    };
    let decision = case.autoscaler().reconcile(&input, NOW);
    assert_eq!(
        decision.desired_replicas, case.expected_desired_replicas,
        "desired replicas: {}",
        case.name
    );
    assert_eq!(
        decision.rescale,
        case.spec_replicas != case.expected_desired_replicas,
        "rescale: {}",
        case.name
    );
    let expected_conditions = case
        .expected_conditions
        .clone()
        .unwrap_or_else(|| status_ok_with(&[]));
    assert_eq!(
        conditions_list(&decision.conditions),
        expected_conditions,
        "conditions: {}",
        case.name
    );
}
