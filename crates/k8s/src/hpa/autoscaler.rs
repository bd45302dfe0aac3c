//! One HPA over time: the recommendations and scale events that stabilization and the
//! policies look back over, and one reconciliation per call, as the controller runs one per
//! sync period (15 s by default).

use super::behavior::{Behavior, ResolvedRules, ScaleEvent, ScalingRules, store_scale_event};
use super::error::HpaError;
use super::metrics::{MetricInput, ReplicaCounts, evaluate_metrics};
use super::normalize::{
    RateLimitInput, Recommendation, Stabilization, convert_desired_replicas_with_behavior_rate,
    convert_desired_replicas_with_rules, scale_up_cap, stabilize_recommendation,
    stabilize_recommendation_with_behavior,
};
use super::pods::Pod;
use super::replicas::{
    DEFAULT_CPU_INITIALIZATION_PERIOD_MS, DEFAULT_DELAY_OF_INITIAL_READINESS_STATUS_MS,
    DEFAULT_TOLERANCE, MetricProposal, ReplicaCalculator, Tolerances,
};

/// The controller's flags, with kube-controller-manager's defaults.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct ControllerConfig {
    /// `--horizontal-pod-autoscaler-tolerance`.
    pub tolerance: f64,
    /// `--horizontal-pod-autoscaler-downscale-stabilization`.
    pub downscale_stabilization_ms: i64,
    /// `--horizontal-pod-autoscaler-cpu-initialization-period`.
    pub cpu_initialization_period_ms: i64,
    /// `--horizontal-pod-autoscaler-initial-readiness-delay`.
    pub delay_of_initial_readiness_status_ms: i64,
    /// Without `behavior`, a scale-up is capped at max(factor x current, minimum).
    pub scale_up_limit_factor: f64,
    pub scale_up_limit_minimum: f64,
}

impl Default for ControllerConfig {
    fn default() -> Self {
        ControllerConfig {
            tolerance: DEFAULT_TOLERANCE,
            downscale_stabilization_ms: 5 * 60_000,
            cpu_initialization_period_ms: DEFAULT_CPU_INITIALIZATION_PERIOD_MS,
            delay_of_initial_readiness_status_ms: DEFAULT_DELAY_OF_INITIAL_READINESS_STATUS_MS,
            scale_up_limit_factor: 2.0,
            scale_up_limit_minimum: 4.0,
        }
    }
}

/// The bounds and behavior of an HPA (its metrics come with each reconciliation).
#[derive(Debug, Clone, PartialEq)]
pub struct HpaSpec {
    /// `spec.minReplicas`, 1 when unset; 0 only with `HPAScaleToZero`.
    pub min_replicas: i32,
    pub max_replicas: i32,
    pub behavior: Option<Behavior>,
}

/// What the controller reads at one sync: the scale subresource, the pods and the metrics.
#[derive(Debug, Clone, Copy)]
pub struct ScaleInput<'a> {
    /// The replica count the target asks for (`scale.spec.replicas`): the current count.
    pub spec_replicas: i32,
    /// The replicas that exist (`scale.status.replicas`).
    pub status_replicas: i32,
    pub pods: &'a [Pod],
    pub metrics: &'a [MetricInput],
}

/// One status condition of the HPA.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Condition {
    pub status: bool,
    pub reason: &'static str,
    pub message: String,
}

impl Condition {
    fn new(status: bool, reason: &'static str, message: impl Into<String>) -> Self {
        Condition {
            status,
            reason,
            message: message.into(),
        }
    }
}

/// The HPA's conditions after a reconciliation; a condition the controller did not set is
/// `None`.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Conditions {
    pub able_to_scale: Option<Condition>,
    pub scaling_active: Option<Condition>,
    pub scaling_limited: Option<Condition>,
}

/// The outcome of one reconciliation.
#[derive(Debug, Clone, PartialEq)]
pub struct ScaleDecision {
    pub current_replicas: i32,
    /// The replica count the controller sets (equal to the current one when it holds).
    pub desired_replicas: i32,
    pub rescale: bool,
    /// The controller's event text: why it rescales; empty when it holds.
    pub reason: String,
    pub conditions: Conditions,
    /// Each metric's proposal or failure, in the order of the input.
    pub metrics: Vec<Result<MetricProposal, HpaError>>,
    /// The index of the metric whose proposal won, when metrics were computed.
    pub metric_index: Option<usize>,
    /// Set when some or all metrics failed; the controller reports it and still acts on
    /// `desired_replicas`.
    pub error: Option<HpaError>,
}

/// What an autoscaler remembers between reconciliations.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct History {
    /// Past unstabilized recommendations. `None` before the first reconciliation, which
    /// records the current count as a recommendation so that a fresh autoscaler does not
    /// scale down before a full window has been observed.
    pub recommendations: Option<Vec<Recommendation>>,
    pub scale_up_events: Vec<ScaleEvent>,
    pub scale_down_events: Vec<ScaleEvent>,
}

/// The HPA controller for one scale target. It assumes the count it returns is applied, as the
/// controller applies it, and records the scale event accordingly.
#[derive(Debug, Clone)]
pub struct Autoscaler {
    config: ControllerConfig,
    spec: HpaSpec,
    history: History,
}

impl Autoscaler {
    pub fn new(config: ControllerConfig, spec: HpaSpec) -> Self {
        Autoscaler::with_history(config, spec, History::default())
    }

    /// An autoscaler resuming from `history`, e.g. restored after a restart.
    pub fn with_history(config: ControllerConfig, spec: HpaSpec, history: History) -> Self {
        Autoscaler {
            config,
            spec,
            history,
        }
    }

    pub fn spec(&self) -> &HpaSpec {
        &self.spec
    }

    /// Replaces the spec; the history is kept, as the controller keeps it for an edited HPA.
    pub fn set_spec(&mut self, spec: HpaSpec) {
        self.spec = spec;
    }

    pub fn history(&self) -> &History {
        &self.history
    }

    /// One reconciliation at `now_ms` (upstream's `reconcileAutoscaler` once the scale is read).
    pub fn reconcile(&mut self, input: &ScaleInput<'_>, now_ms: i64) -> ScaleDecision {
        let current = input.spec_replicas;
        let mut decision = ScaleDecision {
            current_replicas: current,
            desired_replicas: current,
            rescale: false,
            reason: String::new(),
            conditions: Conditions {
                able_to_scale: Some(Condition::new(
                    true,
                    "SucceededGetScale",
                    "the HPA controller was able to get the target's current scale",
                )),
                ..Conditions::default()
            },
            metrics: Vec::new(),
            metric_index: None,
            error: None,
        };
        self.history.recommendations.get_or_insert_with(|| {
            vec![Recommendation {
                replicas: current,
                timestamp_ms: now_ms,
            }]
        });
        let min_replicas = self.spec.min_replicas;
        let max_replicas = self.spec.max_replicas;

        let desired = if current == 0 && min_replicas != 0 {
            decision.conditions.scaling_active = Some(Condition::new(
                false,
                "ScalingDisabled",
                "scaling is disabled since the replica count of the target is zero",
            ));
            return decision;
        } else if current > max_replicas {
            decision.reason = "Current number of replicas above Spec.MaxReplicas".to_string();
            max_replicas
        } else if current < min_replicas {
            decision.reason = "Current number of replicas below Spec.MinReplicas".to_string();
            min_replicas
        } else {
            match self.desired_from_metrics(input, &mut decision, now_ms) {
                Some(desired) => desired,
                None => return decision,
            }
        };

        if desired != current {
            decision.desired_replicas = desired;
            decision.rescale = true;
            decision.conditions.able_to_scale = Some(Condition::new(
                true,
                "SucceededRescale",
                format!("the HPA controller was able to update the target scale to {desired}"),
            ));
            record_scale_event(
                &mut self.history,
                self.spec.behavior.as_ref(),
                current,
                desired,
                now_ms,
            );
        } else {
            decision.reason.clear();
        }
        decision
    }

    /// The metrics' proposal, normalized; `None` when the metrics cannot drive a decision.
    fn desired_from_metrics(
        &mut self,
        input: &ScaleInput<'_>,
        decision: &mut ScaleDecision,
        now_ms: i64,
    ) -> Option<i32> {
        let current = input.spec_replicas;
        let calculator = ReplicaCalculator {
            cpu_initialization_period_ms: self.config.cpu_initialization_period_ms,
            delay_of_initial_readiness_status_ms: self.config.delay_of_initial_readiness_status_ms,
        };
        let replica_counts = ReplicaCounts {
            spec_replicas: input.spec_replicas,
            status_replicas: input.status_replicas,
        };
        let evaluation = evaluate_metrics(
            &calculator,
            input.metrics,
            replica_counts,
            input.pods,
            self.tolerances(),
            now_ms,
        );
        decision.metrics = evaluation.per_metric;
        let choice = match evaluation.decision {
            Ok(choice) => choice,
            Err(failure) => {
                let message = format!(
                    "the HPA was unable to compute the replica count: {}",
                    failure.error
                );
                decision.conditions.scaling_active =
                    Some(Condition::new(false, failure.reason, message));
                decision.error = Some(failure.error);
                return None;
            }
        };
        decision.error = evaluation.partial_error;
        decision.metric_index = Some(choice.metric_index);
        let metric_name = input.metrics[choice.metric_index].source.describe();
        decision.conditions.scaling_active = Some(Condition::new(
            true,
            "ValidMetricFound",
            format!(
                "the HPA was able to successfully calculate a replica count from {metric_name}"
            ),
        ));

        let prenormalized = choice.replicas.max(0);
        if prenormalized > current {
            decision.reason = format!("{metric_name} above target");
        } else if prenormalized < current {
            decision.reason = "All metrics below target".to_string();
        }
        let desired = match self.spec.behavior.clone() {
            None => self.normalize(current, prenormalized, decision, now_ms),
            Some(behavior) => {
                self.normalize_with_behavior(&behavior, current, prenormalized, decision, now_ms)
            }
        };
        Some(desired)
    }

    /// The tolerances of this HPA: its behavior's, else the controller's.
    fn tolerances(&self) -> Tolerances {
        let configured = |rules: Option<&ScalingRules>| {
            rules
                .and_then(|rules| rules.tolerance)
                .unwrap_or(self.config.tolerance)
        };
        let behavior = self.spec.behavior.as_ref();
        Tolerances {
            scale_down: configured(behavior.and_then(|behavior| behavior.scale_down.as_ref())),
            scale_up: configured(behavior.and_then(|behavior| behavior.scale_up.as_ref())),
        }
    }

    fn normalize(
        &mut self,
        current: i32,
        prenormalized: i32,
        decision: &mut ScaleDecision,
        now_ms: i64,
    ) -> i32 {
        let recommendations = self.history.recommendations.get_or_insert_with(Vec::new);
        let stabilized = stabilize_recommendation(
            recommendations,
            prenormalized,
            self.config.downscale_stabilization_ms,
            now_ms,
        );
        let stabilization =
            (stabilized != prenormalized).then_some(Stabilization::ScaleDownStabilized);
        decision.conditions.able_to_scale = Some(able_to_scale(stabilization));
        let cap = scale_up_cap(
            current,
            self.config.scale_up_limit_factor,
            self.config.scale_up_limit_minimum,
        );
        let (desired, limit) = convert_desired_replicas_with_rules(
            stabilized,
            self.spec.min_replicas,
            self.spec.max_replicas,
            cap,
        );
        decision.conditions.scaling_limited = Some(Condition::new(
            desired != stabilized,
            limit.as_str(),
            limit.message(),
        ));
        desired
    }

    fn normalize_with_behavior(
        &mut self,
        behavior: &Behavior,
        current: i32,
        prenormalized: i32,
        decision: &mut ScaleDecision,
        now_ms: i64,
    ) -> i32 {
        let scale_up_rules = ResolvedRules::scale_up(behavior.scale_up.as_ref());
        let scale_down_rules = ResolvedRules::scale_down(behavior.scale_down.as_ref());
        let up_window_ms = window_ms(scale_up_rules.stabilization_window_seconds, 0);
        let down_window_ms = window_ms(
            scale_down_rules.stabilization_window_seconds,
            self.config.downscale_stabilization_ms,
        );
        let recommendations = self.history.recommendations.get_or_insert_with(Vec::new);
        let (stabilized, stabilization) = stabilize_recommendation_with_behavior(
            recommendations,
            current,
            prenormalized,
            up_window_ms,
            down_window_ms,
            now_ms,
        );
        let stabilization = (stabilized != prenormalized).then_some(stabilization);
        decision.conditions.able_to_scale = Some(able_to_scale(stabilization));
        let rate_input = RateLimitInput {
            current_replicas: current,
            desired_replicas: stabilized,
            min_replicas: self.spec.min_replicas,
            max_replicas: self.spec.max_replicas,
            scale_up_rules: &scale_up_rules,
            scale_down_rules: &scale_down_rules,
            scale_up_events: &self.history.scale_up_events,
            scale_down_events: &self.history.scale_down_events,
        };
        let (desired, limit) = convert_desired_replicas_with_behavior_rate(&rate_input, now_ms);
        decision.conditions.scaling_limited = Some(Condition::new(
            desired != stabilized,
            limit.as_str(),
            limit.message(),
        ));
        desired
    }
}

/// Records that the replica count went from `previous` to `desired` (upstream's
/// `storeScaleEvent`). Events are only kept for an HPA with `behavior`, since only its policies
/// read them, and only as long as the longest policy period of their direction.
pub fn record_scale_event(
    history: &mut History,
    behavior: Option<&Behavior>,
    previous: i32,
    desired: i32,
    now_ms: i64,
) {
    let Some(behavior) = behavior else {
        return;
    };
    if desired > previous {
        let rules = ResolvedRules::scale_up(behavior.scale_up.as_ref());
        store_scale_event(
            &mut history.scale_up_events,
            desired - previous,
            rules.longest_policy_period_seconds(),
            now_ms,
        );
    } else {
        let rules = ResolvedRules::scale_down(behavior.scale_down.as_ref());
        store_scale_event(
            &mut history.scale_down_events,
            previous - desired,
            rules.longest_policy_period_seconds(),
            now_ms,
        );
    }
}

/// The `AbleToScale` condition after normalization: stabilized, or ready for the new count.
fn able_to_scale(stabilization: Option<Stabilization>) -> Condition {
    match stabilization {
        Some(stabilization) => {
            Condition::new(true, stabilization.as_str(), stabilization.message())
        }
        None => Condition::new(
            true,
            "ReadyForNewScale",
            "recommended size matches current size",
        ),
    }
}

fn window_ms(window_seconds: Option<i32>, default_ms: i64) -> i64 {
    window_seconds.map_or(default_ms, |seconds| i64::from(seconds) * 1000)
}
