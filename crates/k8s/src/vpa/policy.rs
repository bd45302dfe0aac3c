//! Capping to a resource policy (upstream's `utils/vpa/capping.go`, `ApplyVPAPolicy`, which the
//! recommender runs as its capping post-processor): each amount is raised to the policy's
//! `minAllowed` and then lowered to its `maxAllowed`, falling back to a global maximum.

use super::ResourceList;

/// Which resources the recommender sizes for a container (a VPA's `controlledResources`).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct ControlledResources {
    pub cpu: bool,
    pub memory: bool,
}

impl Default for ControlledResources {
    /// Both, as upstream's default.
    fn default() -> Self {
        Self {
            cpu: true,
            memory: true,
        }
    }
}

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
