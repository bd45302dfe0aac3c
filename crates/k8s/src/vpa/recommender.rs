//! The pod recommender (upstream's `logic/recommender.go`): upstream's estimators composed into a
//! target, a lower bound and an upper bound per container, with the pod's minimum split among its
//! containers.

use std::borrow::Borrow;
use std::collections::BTreeMap;

use super::aggregate::AggregateContainerState;
use super::estimator::Estimator;
use super::{
    BYTES_PER_MIB, MS_PER_DAY, Resource, ResourceList, VpaError, cpu_millicores_from_cores,
    memory_bytes_from_f64, scale_resource,
};

/// The recommender's settings. [`Default`] gives upstream's flag defaults.
#[derive(Clone, Debug, PartialEq)]
pub struct RecommendationConfig {
    /// Added on top of every percentile (0.15: 15 %).
    pub safety_margin_fraction: f64,
    /// The least CPU for a whole pod (25 millicores), split evenly among its containers.
    pub pod_min_cpu_millicores: f64,
    /// The least memory for a whole pod (250 MiB), split likewise.
    pub pod_min_memory_mb: f64,
    pub target_cpu_percentile: f64,
    pub lower_bound_cpu_percentile: f64,
    pub upper_bound_cpu_percentile: f64,
    /// The unit of history for the CPU confidence multipliers (a day).
    pub confidence_interval_cpu_ms: i64,
    pub target_memory_percentile: f64,
    pub lower_bound_memory_percentile: f64,
    pub upper_bound_memory_percentile: f64,
    /// The unit of history for the memory confidence multipliers (a day).
    pub confidence_interval_memory_ms: i64,
}

impl Default for RecommendationConfig {
    fn default() -> Self {
        Self {
            safety_margin_fraction: 0.15,
            pod_min_cpu_millicores: 25.0,
            pod_min_memory_mb: 250.0,
            target_cpu_percentile: 0.9,
            lower_bound_cpu_percentile: 0.5,
            upper_bound_cpu_percentile: 0.95,
            confidence_interval_cpu_ms: MS_PER_DAY,
            target_memory_percentile: 0.9,
            lower_bound_memory_percentile: 0.5,
            upper_bound_memory_percentile: 0.95,
            confidence_interval_memory_ms: MS_PER_DAY,
        }
    }
}

/// The recommended requests of one container, before any policy. A resource the container's
/// state does not control is absent.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct RecommendedContainerResources {
    pub target: ResourceList,
    pub lower_bound: ResourceList,
    pub upper_bound: ResourceList,
}

/// Six estimators (target, lower and upper bound, for CPU and for memory) and the pod minimum.
#[derive(Clone, Debug, PartialEq)]
pub struct PodResourceRecommender {
    pub target_cpu: Estimator,
    pub target_memory: Estimator,
    pub lower_bound_cpu: Estimator,
    pub lower_bound_memory: Estimator,
    pub upper_bound_cpu: Estimator,
    pub upper_bound_memory: Estimator,
    pub pod_min_cpu_millicores: f64,
    pub pod_min_memory_mb: f64,
}

impl PodResourceRecommender {
    /// Upstream's recommender: each bound is its percentile plus the safety margin; the upper
    /// bound is then multiplied by `(1 + 1/days)` (no history: unbounded; 12 h: ×3; a day: ×2;
    /// a week: ×1.14), so that a pod with a short history is not evicted for asking too much; the
    /// lower bound by `(1 + 0.001/days)^-2` (no history: ×0; 5 min: ×0.6; an hour: ×0.95), so it
    /// is not evicted for asking too little. The target has no multiplier.
    pub fn new(config: &RecommendationConfig) -> Self {
        let margin = config.safety_margin_fraction;
        let with_margin = |percentile: f64| Estimator::percentile(percentile).with_margin(margin);
        Self {
            target_cpu: with_margin(config.target_cpu_percentile),
            target_memory: with_margin(config.target_memory_percentile),
            lower_bound_cpu: with_margin(config.lower_bound_cpu_percentile)
                .with_confidence_multiplier(0.001, -2.0, config.confidence_interval_cpu_ms),
            lower_bound_memory: with_margin(config.lower_bound_memory_percentile)
                .with_confidence_multiplier(0.001, -2.0, config.confidence_interval_memory_ms),
            upper_bound_cpu: with_margin(config.upper_bound_cpu_percentile)
                .with_confidence_multiplier(1.0, 1.0, config.confidence_interval_cpu_ms),
            upper_bound_memory: with_margin(config.upper_bound_memory_percentile)
                .with_confidence_multiplier(1.0, 1.0, config.confidence_interval_memory_ms),
            pod_min_cpu_millicores: config.pod_min_cpu_millicores,
            pod_min_memory_mb: config.pod_min_memory_mb,
        }
    }

    /// Recommends requests for every container of a pod, keyed by container name. Each gets an
    /// equal share of the pod minimum as its floor, on all three amounts.
    pub fn recommend<S: Borrow<AggregateContainerState>>(
        &self,
        containers: &BTreeMap<String, S>,
    ) -> BTreeMap<String, RecommendedContainerResources> {
        if containers.is_empty() {
            return BTreeMap::new();
        }
        let fraction = 1.0 / containers.len() as f64;
        let min_cpu_millicores = scale_resource(
            cpu_millicores_from_cores(self.pod_min_cpu_millicores * 0.001),
            fraction,
        );
        let min_memory_bytes = scale_resource(
            memory_bytes_from_f64(self.pod_min_memory_mb * BYTES_PER_MIB as f64),
            fraction,
        );
        let floored = |estimator: &Estimator, min_amount: i64| {
            estimator.clone().with_min_resource(min_amount)
        };
        let cpu = [
            &self.target_cpu,
            &self.lower_bound_cpu,
            &self.upper_bound_cpu,
        ]
        .map(|e| floored(e, min_cpu_millicores));
        let memory = [
            &self.target_memory,
            &self.lower_bound_memory,
            &self.upper_bound_memory,
        ]
        .map(|e| floored(e, min_memory_bytes));
        containers
            .iter()
            .map(|(name, state)| {
                (
                    name.clone(),
                    estimate_container(&cpu, &memory, state.borrow()),
                )
            })
            .collect()
    }
}

/// `cpu` and `memory` hold the target, lower-bound and upper-bound estimators, in that order.
fn estimate_container(
    cpu: &[Estimator; 3],
    memory: &[Estimator; 3],
    state: &AggregateContainerState,
) -> RecommendedContainerResources {
    let controlled = state.controlled_resources;
    let amounts = |index: usize| ResourceList {
        cpu_millicores: controlled
            .cpu
            .then(|| cpu[index].estimate(Resource::Cpu, state)),
        memory_bytes: controlled
            .memory
            .then(|| memory[index].estimate(Resource::Memory, state)),
    };
    RecommendedContainerResources {
        target: amounts(0),
        lower_bound: amounts(1),
        upper_bound: amounts(2),
    }
}

/// How recommended amounts are rounded up before they are published (upstream's
/// `--round-cpu-millicores` and `--round-memory-bytes`; 1 leaves them as they are).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct RecommendationFormat {
    pub round_cpu_millicores: i64,
    pub round_memory_bytes: i64,
}

impl Default for RecommendationFormat {
    fn default() -> Self {
        Self {
            round_cpu_millicores: 1,
            round_memory_bytes: 1,
        }
    }
}

/// One container's published recommendation: the three amounts, possibly capped by a policy
/// later, and the target as the estimators gave it.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct ContainerRecommendation {
    pub container_name: String,
    pub target: ResourceList,
    pub lower_bound: ResourceList,
    pub upper_bound: ResourceList,
    pub uncapped_target: ResourceList,
}

/// Turns the recommender's map into a list sorted by container name, rounding every amount up to
/// the format's scale (upstream's `MapToListOfRecommendedContainerResources`). A scale that is
/// not positive leaves the amounts as they are, as upstream does after logging it.
pub fn recommendation_list(
    resources: &BTreeMap<String, RecommendedContainerResources>,
    format: RecommendationFormat,
) -> Vec<ContainerRecommendation> {
    let round = |list: ResourceList| ResourceList {
        cpu_millicores: list
            .cpu_millicores
            .map(|cpu| round_or_keep(cpu, format.round_cpu_millicores)),
        memory_bytes: list
            .memory_bytes
            .map(|memory| round_or_keep(memory, format.round_memory_bytes)),
    };
    resources
        .iter()
        .map(|(name, recommended)| ContainerRecommendation {
            container_name: name.clone(),
            target: round(recommended.target),
            lower_bound: round(recommended.lower_bound),
            upper_bound: round(recommended.upper_bound),
            uncapped_target: round(recommended.target),
        })
        .collect()
}

fn round_or_keep(amount: i64, scale: i64) -> i64 {
    if amount == 0 || scale == 1 {
        return amount;
    }
    round_up_to_scale(amount, scale).unwrap_or(amount)
}

/// Rounds `amount` up to the next multiple of `scale` (upstream's `RoundUpToScale`).
pub fn round_up_to_scale(amount: i64, scale: i64) -> Result<i64, VpaError> {
    if scale <= 0 {
        return Err(VpaError::InvalidRoundingScale { scale });
    }
    Ok((amount as f64 / scale as f64).ceil() as i64 * scale)
}
