//! Several metrics: each proposes a replica count and the largest proposal wins. When some
//! metrics fail, the controller still acts on the others, but only to scale up or hold: a
//! scale-down decided without every metric could undo what a failing metric would demand.

use super::error::HpaError;
use super::pods::{Pod, PodSample, PodUsage, Resource};
use super::replicas::{MetricProposal, ReplicaCalculator, ResourceSamples, Tolerances};

/// The target of a resource metric.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ResourceTarget {
    /// Average utilization, in percent of the pods' requests.
    Utilization(i32),
    /// Average usage per pod, in milli-units.
    AverageValue(i64),
}

/// The target of an Object or External metric, in milli-units.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ValueTarget {
    /// The metric's value as a whole (summed over series for External).
    Value(i64),
    /// The metric's value divided among the replicas.
    AverageValue(i64),
}

/// What one entry of `spec.metrics` measures and the value it aims for.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum MetricSource {
    Resource {
        resource: Resource,
        target: ResourceTarget,
    },
    ContainerResource {
        resource: Resource,
        container: String,
        target: ResourceTarget,
    },
    Pods {
        metric: String,
        target_average_milli: i64,
    },
    Object {
        metric: String,
        /// The object the metric describes, as `Kind/name`, used only to name the metric.
        described_object: String,
        target: ValueTarget,
    },
    External {
        metric: String,
        target: ValueTarget,
    },
}

impl MetricSource {
    /// How the controller names the metric in its rescale reasons and conditions.
    pub fn describe(&self) -> String {
        match self {
            MetricSource::Resource {
                resource,
                target: ResourceTarget::Utilization(_),
            } => format!("{resource} resource utilization (percentage of request)"),
            MetricSource::ContainerResource {
                resource,
                target: ResourceTarget::Utilization(_),
                ..
            } => format!("{resource} container resource utilization (percentage of request)"),
            MetricSource::Resource { resource, .. }
            | MetricSource::ContainerResource { resource, .. } => format!("{resource} resource"),
            MetricSource::Pods { metric, .. } => format!("pods metric {metric}"),
            MetricSource::Object {
                metric,
                described_object,
                ..
            } => format!("{described_object} metric {metric}"),
            MetricSource::External { metric, .. } => format!("external metric {metric}"),
        }
    }

    /// The reason of the `ScalingActive=False` condition when this metric fails.
    pub fn failure_reason(&self) -> &'static str {
        match self {
            MetricSource::Resource { .. } => "FailedGetResourceMetric",
            MetricSource::ContainerResource { .. } => "FailedGetContainerResourceMetric",
            MetricSource::Pods { .. } => "FailedGetPodsMetric",
            MetricSource::Object { .. } => "FailedGetObjectMetric",
            MetricSource::External { .. } => "FailedGetExternalMetric",
        }
    }

    fn kind(&self) -> &'static str {
        match self {
            MetricSource::Resource { .. } => "resource",
            MetricSource::ContainerResource { .. } => "container resource",
            MetricSource::Pods { .. } => "pods",
            MetricSource::Object { .. } => "object",
            MetricSource::External { .. } => "external",
        }
    }
}

/// What the metrics APIs returned for one metric at this sync.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum MetricObservation {
    /// Resource metrics API samples of the target's pods (Resource and ContainerResource).
    PodUsage(Vec<PodUsage>),
    /// Custom metrics API samples of the target's pods (Pods).
    PodSamples(Vec<PodSample>),
    /// The value of the described object (Object).
    ObjectValue { value_milli: i64, timestamp_ms: i64 },
    /// The values of every series matching the selector (External).
    ExternalValues {
        values_milli: Vec<i64>,
        timestamp_ms: i64,
    },
    /// The caller could not fetch the metric: the metric fails with this reason.
    Unavailable { reason: String },
}

impl MetricObservation {
    fn kind(&self) -> &'static str {
        match self {
            MetricObservation::PodUsage(_) => "pod usage samples",
            MetricObservation::PodSamples(_) => "custom pod samples",
            MetricObservation::ObjectValue { .. } => "an object value",
            MetricObservation::ExternalValues { .. } => "external values",
            MetricObservation::Unavailable { .. } => "no observation",
        }
    }
}

/// One metric of the HPA with what was observed for it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MetricInput {
    pub source: MetricSource,
    pub observation: MetricObservation,
}

/// The scale subresource: the replicas asked for and the replicas that exist. They differ
/// during a rollout; per-pod averages of Object and External metrics divide by the latter.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ReplicaCounts {
    pub spec_replicas: i32,
    pub status_replicas: i32,
}

/// Why the metrics together cannot drive a decision.
#[derive(Debug, Clone, PartialEq)]
pub struct MetricsFailure {
    /// The reason of the `ScalingActive=False` condition: the first failing metric's, or
    /// `NoMetrics` when the HPA has no metric at all.
    pub reason: &'static str,
    pub error: HpaError,
}

/// The metric that won: its proposal is the largest.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct MetricChoice {
    pub replicas: i32,
    pub metric_index: usize,
    pub timestamp_ms: Option<i64>,
}

/// Every metric's outcome and the decision they make together.
#[derive(Debug, Clone, PartialEq)]
pub struct MetricsEvaluation {
    /// One entry per metric, in the order given.
    pub per_metric: Vec<Result<MetricProposal, HpaError>>,
    pub decision: Result<MetricChoice, MetricsFailure>,
    /// Set when some metrics failed but the others still allow acting.
    pub partial_error: Option<HpaError>,
}

/// Computes every metric's proposal and combines them as the controller does.
pub fn evaluate_metrics(
    calculator: &ReplicaCalculator,
    metrics: &[MetricInput],
    replica_counts: ReplicaCounts,
    pods: &[Pod],
    tolerances: Tolerances,
    now_ms: i64,
) -> MetricsEvaluation {
    let per_metric: Vec<Result<MetricProposal, HpaError>> = metrics
        .iter()
        .map(|input| propose(calculator, input, replica_counts, pods, tolerances, now_ms))
        .collect();

    let mut chosen: Option<MetricChoice> = None;
    let mut invalid_count = 0;
    let mut first_failure: Option<(usize, &HpaError)> = None;
    for (metric_index, outcome) in per_metric.iter().enumerate() {
        match outcome {
            Err(error) => {
                invalid_count += 1;
                first_failure.get_or_insert((metric_index, error));
            }
            Ok(proposal) => {
                // Upstream starts from zero replicas, so a zero proposal is replaced by any
                // later one: the same maximum, but it decides which metric is named.
                let best = chosen.map_or(0, |choice| choice.replicas);
                if best == 0 || proposal.replicas > best {
                    chosen = Some(MetricChoice {
                        replicas: proposal.replicas,
                        metric_index,
                        timestamp_ms: proposal.timestamp_ms,
                    });
                }
            }
        }
    }

    let partial_error = first_failure.map(|(_, error)| HpaError::InvalidMetrics {
        invalid: invalid_count,
        total: metrics.len(),
        first: Box::new(error.clone()),
    });
    let decision = match (chosen, first_failure) {
        // Upstream's API defaulting always gives an HPA a metric (CPU at 80%); without one
        // there is nothing to decide from.
        (None, None) => Err(MetricsFailure {
            reason: "NoMetrics",
            error: HpaError::NoMetricSpecs,
        }),
        (Some(choice), None) => Ok(choice),
        (Some(choice), Some(_)) if choice.replicas >= replica_counts.spec_replicas => Ok(choice),
        (_, Some((failed_index, error))) => Err(MetricsFailure {
            reason: failure_reason(&metrics[failed_index], error),
            error: partial_error.clone().unwrap_or_else(|| error.clone()),
        }),
    };
    let partial_error = if decision.is_ok() {
        partial_error
    } else {
        None
    };
    MetricsEvaluation {
        per_metric,
        decision,
        partial_error,
    }
}

fn failure_reason(input: &MetricInput, error: &HpaError) -> &'static str {
    match error {
        HpaError::ObservationMismatch { .. } => "InvalidMetricSourceType",
        _ => input.source.failure_reason(),
    }
}

/// One metric's proposal. Resource, Pods, Object `Value` and External `Value` metrics scale
/// the desired count (`spec_replicas`); `AverageValue` Object and External metrics divide by
/// the replicas that exist (`status_replicas`).
pub fn propose(
    calculator: &ReplicaCalculator,
    input: &MetricInput,
    replica_counts: ReplicaCounts,
    pods: &[Pod],
    tolerances: Tolerances,
    now_ms: i64,
) -> Result<MetricProposal, HpaError> {
    if let MetricObservation::Unavailable { reason } = &input.observation {
        return Err(HpaError::MetricUnavailable {
            reason: reason.clone(),
        });
    }
    let spec_replicas = replica_counts.spec_replicas;
    let status_replicas = replica_counts.status_replicas;
    match (&input.source, &input.observation) {
        (MetricSource::Resource { resource, target }, MetricObservation::PodUsage(usage)) => {
            let samples = ResourceSamples {
                resource,
                container: None,
                pods,
                usage,
            };
            resource_proposal(
                calculator,
                spec_replicas,
                *target,
                samples,
                tolerances,
                now_ms,
            )
        }
        (
            MetricSource::ContainerResource {
                resource,
                container,
                target,
            },
            MetricObservation::PodUsage(usage),
        ) => {
            let samples = ResourceSamples {
                resource,
                container: Some(container),
                pods,
                usage,
            };
            resource_proposal(
                calculator,
                spec_replicas,
                *target,
                samples,
                tolerances,
                now_ms,
            )
        }
        (
            MetricSource::Pods {
                target_average_milli,
                ..
            },
            MetricObservation::PodSamples(samples),
        ) => calculator.pods_metric_replicas(
            spec_replicas,
            *target_average_milli,
            pods,
            samples,
            tolerances,
            now_ms,
        ),
        (
            MetricSource::Object { target, .. },
            MetricObservation::ObjectValue {
                value_milli,
                timestamp_ms,
            },
        ) => {
            let (replicas, reported_milli) = match *target {
                ValueTarget::Value(target_milli) => {
                    let replicas = calculator.object_value_replicas(
                        spec_replicas,
                        target_milli,
                        *value_milli,
                        pods,
                        tolerances,
                    )?;
                    (replicas, *value_milli)
                }
                ValueTarget::AverageValue(target_milli) => calculator.object_average_replicas(
                    status_replicas,
                    target_milli,
                    *value_milli,
                    tolerances,
                )?,
            };
            Ok(value_proposal(replicas, reported_milli, *timestamp_ms))
        }
        (
            MetricSource::External { target, .. },
            MetricObservation::ExternalValues {
                values_milli,
                timestamp_ms,
            },
        ) => {
            let (replicas, reported_milli) = match *target {
                ValueTarget::Value(target_milli) => calculator.external_value_replicas(
                    spec_replicas,
                    target_milli,
                    values_milli,
                    pods,
                    tolerances,
                )?,
                ValueTarget::AverageValue(target_milli) => calculator.external_average_replicas(
                    status_replicas,
                    target_milli,
                    values_milli,
                    tolerances,
                )?,
            };
            Ok(value_proposal(replicas, reported_milli, *timestamp_ms))
        }
        (source, observation) => Err(HpaError::ObservationMismatch {
            source: source.kind(),
            observation: observation.kind(),
        }),
    }
}

fn resource_proposal(
    calculator: &ReplicaCalculator,
    current_replicas: i32,
    target: ResourceTarget,
    samples: ResourceSamples<'_>,
    tolerances: Tolerances,
    now_ms: i64,
) -> Result<MetricProposal, HpaError> {
    match target {
        ResourceTarget::Utilization(percent) => calculator.resource_utilization_replicas(
            current_replicas,
            percent,
            samples,
            tolerances,
            now_ms,
        ),
        ResourceTarget::AverageValue(milli) => {
            calculator.resource_value_replicas(current_replicas, milli, samples, tolerances, now_ms)
        }
    }
}

fn value_proposal(replicas: i32, value_milli: i64, timestamp_ms: i64) -> MetricProposal {
    MetricProposal {
        replicas,
        utilization_percent: None,
        value_milli,
        timestamp_ms: Some(timestamp_ms),
    }
}
