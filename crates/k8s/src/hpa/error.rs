//! Why a metric yields no replica proposal. The messages follow the controller's wording so
//! that an operator who knows `kubectl describe hpa` recognises them.

use std::error::Error;
use std::fmt;

use super::pods::Resource;

/// Which metrics API a set of samples stands for, to name it when it returned nothing.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum MetricsApi {
    /// `metrics.k8s.io`: CPU and memory of pods and containers.
    Resource,
    /// `custom.metrics.k8s.io`: per-pod and per-object metrics.
    Custom,
    /// `external.metrics.k8s.io`: metrics of things outside the cluster.
    External,
}

impl MetricsApi {
    fn label(self) -> &'static str {
        match self {
            MetricsApi::Resource => "resource",
            MetricsApi::Custom => "custom",
            MetricsApi::External => "external",
        }
    }
}

/// A metric could not produce a replica count, or the metrics together could not.
#[derive(Debug, Clone, PartialEq)]
pub enum HpaError {
    /// The metrics API returned no sample at all.
    NoMetrics {
        api: MetricsApi,
    },
    /// The scale target selects no pod, so there is nothing to average over.
    NoPods,
    /// Every pod with a sample is unready or ignored.
    NoMetricsForTargetedPods,
    /// The samples name only pods the target does not select.
    NoMetricsMatchedPods,
    MissingRequest {
        resource: Resource,
        container: String,
        pod: String,
    },
    MissingPodLevelRequest {
        resource: Resource,
        pod: String,
    },
    /// A container metric names a container the pod does not have.
    ContainerNotFound {
        container: String,
        pod: String,
    },
    /// A target value or utilization is zero or negative; the API server rejects those.
    InvalidTarget {
        metric: String,
    },
    /// The observation handed in does not fit the metric's source (a pods metric given an
    /// external value): the analogue of an unknown metric source type.
    ObservationMismatch {
        source: &'static str,
        observation: &'static str,
    },
    /// The caller could not fetch the metric; `reason` is its own account of why.
    MetricUnavailable {
        reason: String,
    },
    /// The autoscaler has no metric to compute a replica count from.
    NoMetricSpecs,
    /// Some metrics failed: how many, out of how many, and the first failure.
    InvalidMetrics {
        invalid: usize,
        total: usize,
        first: Box<HpaError>,
    },
}

impl fmt::Display for HpaError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            HpaError::NoMetrics { api } => {
                write!(f, "no metrics returned from {} metrics API", api.label())
            }
            HpaError::NoPods => {
                f.write_str("no pods returned by selector while calculating replica count")
            }
            HpaError::NoMetricsForTargetedPods => {
                f.write_str("did not receive metrics for targeted pods (pods might be unready)")
            }
            HpaError::NoMetricsMatchedPods => f.write_str("no metrics returned matched known pods"),
            HpaError::MissingRequest {
                resource,
                container,
                pod,
            } => write!(
                f,
                "missing request for {resource} in container {container} of Pod {pod}"
            ),
            HpaError::MissingPodLevelRequest { resource, pod } => {
                write!(f, "missing pod-level request for {resource} in Pod {pod}")
            }
            HpaError::ContainerNotFound { container, pod } => {
                write!(f, "container {container} not found in Pod {pod}")
            }
            HpaError::InvalidTarget { metric } => {
                write!(
                    f,
                    "invalid target for {metric}: it must be greater than zero"
                )
            }
            HpaError::ObservationMismatch {
                source,
                observation,
            } => write!(
                f,
                "invalid metric source: a {source} metric was given {observation}"
            ),
            HpaError::MetricUnavailable { reason } => {
                write!(f, "unable to fetch metrics: {reason}")
            }
            HpaError::NoMetricSpecs => f.write_str("no metrics to compute a replica count from"),
            HpaError::InvalidMetrics {
                invalid,
                total,
                first,
            } => write!(
                f,
                "invalid metrics ({invalid} invalid out of {total}), first error is: {first}"
            ),
        }
    }
}

impl Error for HpaError {}
