//! The pods of a scale target and the samples the metrics APIs report for them, reduced to
//! the fields the HPA controller reads. Times are milliseconds on the caller's clock.

use std::fmt;

/// A compute resource that a container requests and the resource metrics API measures.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Resource {
    Cpu,
    Memory,
    /// Any other resource, by its Kubernetes name (`ephemeral-storage`, an extended resource).
    Other(String),
}

impl Resource {
    /// The Kubernetes name of the resource, as it appears in error messages.
    pub fn name(&self) -> &str {
        match self {
            Resource::Cpu => "cpu",
            Resource::Memory => "memory",
            Resource::Other(name) => name,
        }
    }
}

impl fmt::Display for Resource {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

/// The lifecycle phase of a pod. Failed pods are ignored, pending pods count as not ready.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PodPhase {
    Pending,
    Running,
    Succeeded,
    Failed,
    Unknown,
}

/// The status of a pod condition. `Unknown` is neither ready nor explicitly unready, which
/// matters for the CPU readiness rules.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ConditionStatus {
    True,
    False,
    Unknown,
}

/// The pod's `Ready` condition: its status and when it last changed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ReadyCondition {
    pub status: ConditionStatus,
    pub last_transition_ms: i64,
}

/// A container of a pod and what it requests, in milli-units (millicores, milli-bytes).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Container {
    pub name: String,
    pub requests_milli: Vec<(Resource, i64)>,
}

impl Container {
    pub fn new(name: impl Into<String>) -> Self {
        Container {
            name: name.into(),
            requests_milli: Vec::new(),
        }
    }

    pub fn with_request(mut self, resource: Resource, milli: i64) -> Self {
        self.requests_milli.push((resource, milli));
        self
    }

    /// The container's request for `resource`, if it declares one.
    pub fn request_milli(&self, resource: &Resource) -> Option<i64> {
        find_amount(&self.requests_milli, resource)
    }
}

/// A pod selected by the scale target, with what the controller reads from its spec and status.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Pod {
    pub name: String,
    pub phase: PodPhase,
    /// The `Ready` condition; `None` when the kubelet has not reported it yet.
    pub ready: Option<ReadyCondition>,
    /// When the kubelet started the pod; `None` before it did.
    pub start_ms: Option<i64>,
    /// The pod has a deletion timestamp: it is going away and is ignored.
    pub deleting: bool,
    pub containers: Vec<Container>,
    /// Restartable init containers (sidecars): their requests count with the containers'.
    /// Plain init containers have finished before the pod runs and are not listed.
    pub sidecars: Vec<Container>,
    /// Pod-level requests (KEP-2837). When any is set, they replace the containers' sum.
    pub pod_requests_milli: Vec<(Resource, i64)>,
}

impl Pod {
    /// A pod in `phase` with no containers, no `Ready` condition and no start time.
    pub fn new(name: impl Into<String>, phase: PodPhase) -> Self {
        Pod {
            name: name.into(),
            phase,
            ready: None,
            start_ms: None,
            deleting: false,
            containers: Vec::new(),
            sidecars: Vec::new(),
            pod_requests_milli: Vec::new(),
        }
    }

    pub fn with_ready(mut self, status: ConditionStatus, last_transition_ms: i64) -> Self {
        self.ready = Some(ReadyCondition {
            status,
            last_transition_ms,
        });
        self
    }

    pub fn with_start(mut self, start_ms: i64) -> Self {
        self.start_ms = Some(start_ms);
        self
    }

    pub fn with_deletion(mut self) -> Self {
        self.deleting = true;
        self
    }

    pub fn with_container(mut self, container: Container) -> Self {
        self.containers.push(container);
        self
    }

    pub fn with_sidecar(mut self, container: Container) -> Self {
        self.sidecars.push(container);
        self
    }

    pub fn with_pod_request(mut self, resource: Resource, milli: i64) -> Self {
        self.pod_requests_milli.push((resource, milli));
        self
    }

    /// Whether the pod counts as ready for Object and External `Value` targets: running, with
    /// its `Ready` condition true.
    pub fn is_running_and_ready(&self) -> bool {
        self.phase == PodPhase::Running
            && self
                .ready
                .is_some_and(|condition| condition.status == ConditionStatus::True)
    }
}

/// One container's usage in a resource metrics sample, in milli-units.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ContainerUsage {
    pub name: String,
    pub usage_milli: Vec<(Resource, i64)>,
}

impl ContainerUsage {
    pub fn new(name: impl Into<String>) -> Self {
        ContainerUsage {
            name: name.into(),
            usage_milli: Vec::new(),
        }
    }

    pub fn with_usage(mut self, resource: Resource, milli: i64) -> Self {
        self.usage_milli.push((resource, milli));
        self
    }

    pub fn usage(&self, resource: &Resource) -> Option<i64> {
        find_amount(&self.usage_milli, resource)
    }
}

/// A sample of the resource metrics API (`metrics.k8s.io`) for one pod: the usage of each
/// container, averaged over `window_ms` ending at `timestamp_ms`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PodUsage {
    pub pod: String,
    pub timestamp_ms: i64,
    pub window_ms: i64,
    pub containers: Vec<ContainerUsage>,
}

/// A sample of a custom per-pod metric (the custom metrics API), in milli-units.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PodSample {
    pub pod: String,
    pub value_milli: i64,
    pub timestamp_ms: i64,
}

fn find_amount(amounts: &[(Resource, i64)], resource: &Resource) -> Option<i64> {
    amounts
        .iter()
        .find(|(name, _)| name == resource)
        .map(|(_, milli)| *milli)
}
