//! The HorizontalPodAutoscaler's algorithm, computed as the Kubernetes controller computes it
//! (`pkg/controller/podautoscaler`), so that `GET /v1/profiles/{name}:scale` answers with the
//! replica count the cluster's HPA would choose from the same replicas and metrics.
//!
//! The work has three stages, each usable on its own:
//!
//! * [`ReplicaCalculator`]: one metric's proposal, `ceil(current / target x pods)` with the
//!   tolerance and upstream's treatment of unready pods, pods without samples, failed and
//!   deleted pods, and CPU that is still warming up ([`replicas`], [`grouping`]). Resource
//!   (utilization or average value), container resource and pods metrics; object and external
//!   metrics in [`object_external`].
//! * [`evaluate_metrics`]: several metrics, the largest proposal wins; failing metrics block a
//!   scale-down but not a scale-up.
//! * Normalization ([`normalize`], [`behavior`]): stabilization over past recommendations,
//!   min/max bounds and rate limits, with or without `spec.behavior`.
//!
//! [`Autoscaler`] ties them together for one HPA and keeps the recommendations and scale events
//! that stabilization and policies look back over; call [`Autoscaler::reconcile`] once per sync
//! period with the current time.
//!
//! Quantities are milli-units (`i64`, as `resource.Quantity.MilliValue()`); replica counts are
//! `i32` as in the API. Nothing here reads a clock: every time is a millisecond value passed in,
//! on any fixed origin the caller keeps. Dependencies by design: std only.

pub mod autoscaler;
pub mod behavior;
pub mod error;
pub mod grouping;
pub mod metrics;
pub mod normalize;
pub mod object_external;
pub mod pods;
pub mod replicas;

pub use autoscaler::{
    Autoscaler, Condition, Conditions, ControllerConfig, History, HpaSpec, ScaleDecision,
    ScaleInput,
};
pub use behavior::{
    Behavior, PolicyKind, ResolvedRules, ScaleEvent, ScalingPolicy, ScalingRules, SelectPolicy,
};
pub use error::{HpaError, MetricsApi};
pub use metrics::{
    MetricChoice, MetricInput, MetricObservation, MetricSource, MetricsEvaluation, MetricsFailure,
    ReplicaCounts, ResourceTarget, ValueTarget, evaluate_metrics,
};
pub use normalize::{LimitReason, Recommendation, Stabilization};
pub use pods::{
    ConditionStatus, Container, ContainerUsage, Pod, PodPhase, PodSample, PodUsage, ReadyCondition,
    Resource,
};
pub use replicas::{MetricProposal, ReplicaCalculator, ResourceSamples, Tolerances};

#[cfg(test)]
mod tests;
