//! Capping a recommendation to its container's policy (upstream's `ApplyVPAPolicy` in
//! `pkg/utils/vpa/capping.go`): raised to `minAllowed`, then lowered to `maxAllowed`.

use super::policy::PodResourcePolicy;
use super::recommender::ContainerRecommendation;
use super::{Resource, ResourceList};

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
