//! Capping to a resource policy (upstream's `utils/vpa/capping.go`, `ApplyVPAPolicy`, which the
//! recommender runs as its capping post-processor): each amount is raised to the policy's
//! `minAllowed` and then lowered to its `maxAllowed`, falling back to a global maximum.

use super::aggregate::ControlledResources;
use super::recommender::ContainerRecommendation;
use super::{Resource, ResourceList};

/// The container name of a policy that applies to every container without its own (`"*"`).
pub const DEFAULT_CONTAINER_POLICY: &str = "*";

/// Bounds for one container, or for all with [`DEFAULT_CONTAINER_POLICY`] as the name. An absent
/// bound, or one of 0, does not cap, as in upstream where a zero quantity means unset.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct ContainerPolicy {
    pub container_name: String,
    pub min_allowed: ResourceList,
    pub max_allowed: ResourceList,
    /// The resources to recommend; None means both. It reaches the recommender through
    /// [`super::AggregateContainerState::update_from_policy`].
    pub controlled_resources: Option<ControlledResources>,
}

/// The policies of a pod's containers.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct PodResourcePolicy {
    pub container_policies: Vec<ContainerPolicy>,
}

impl PodResourcePolicy {
    /// The policy named after the container, else the default one (`"*"`), else none.
    pub fn container_policy(&self, container_name: &str) -> Option<&ContainerPolicy> {
        let own = self
            .container_policies
            .iter()
            .find(|p| p.container_name == container_name);
        own.or_else(|| {
            self.container_policies
                .iter()
                .find(|p| p.container_name == DEFAULT_CONTAINER_POLICY)
        })
    }
}

impl ContainerPolicy {
    /// The resources this policy lets the recommender size.
    pub fn controlled_resources(&self) -> ControlledResources {
        self.controlled_resources.unwrap_or_default()
    }
}

/// Caps the target, lower bound and upper bound of each recommendation to its container's
/// policy. `global_max_allowed` (upstream's `--container-recommendation-max-allowed-*` flags)
/// fills in the maxima a container's policy leaves out. The uncapped target is left alone: it is
/// there to show what the policy changed.
pub fn apply_policy(
    recommendations: &[ContainerRecommendation],
    policy: Option<&PodResourcePolicy>,
    global_max_allowed: ResourceList,
) -> Vec<ContainerRecommendation> {
    recommendations
        .iter()
        .map(|recommendation| {
            let container_policy =
                policy.and_then(|p| p.container_policy(&recommendation.container_name));
            let min_allowed = container_policy.map(|p| p.min_allowed).unwrap_or_default();
            let own_max = container_policy.map(|p| p.max_allowed).unwrap_or_default();
            let max_allowed = ResourceList {
                cpu_millicores: own_max.cpu_millicores.or(global_max_allowed.cpu_millicores),
                memory_bytes: own_max.memory_bytes.or(global_max_allowed.memory_bytes),
            };
            let cap = |list: ResourceList| cap_to_bounds(list, min_allowed, max_allowed);
            ContainerRecommendation {
                target: cap(recommendation.target),
                lower_bound: cap(recommendation.lower_bound),
                upper_bound: cap(recommendation.upper_bound),
                ..recommendation.clone()
            }
        })
        .collect()
}

fn cap_to_bounds(
    mut list: ResourceList,
    min_allowed: ResourceList,
    max_allowed: ResourceList,
) -> ResourceList {
    for resource in [Resource::Cpu, Resource::Memory] {
        let Some(amount) = list.get(resource) else {
            continue;
        };
        let mut capped = amount;
        if let Some(min) = min_allowed.get(resource).filter(|&min| min != 0) {
            capped = capped.max(min);
        }
        if let Some(max) = max_allowed.get(resource).filter(|&max| max != 0) {
            capped = capped.min(max);
        }
        *list.get_mut(resource) = Some(capped);
    }
    list
}
