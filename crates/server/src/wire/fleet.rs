//! Wire types of the fleet: agent profiles, agents and their heartbeats, usage samples, and
//! the HPA's and the VPA's recommendations.

use std::collections::BTreeMap;

use purser_k8s::hpa::{Condition, ScaleDecision};
use purser_k8s::profile::{Profile, format_bytes, format_cpu};
use purser_k8s::vpa::{ContainerRecommendation, ResourceList, UsageSample};
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

use super::{WireError, rfc3339};
use crate::fleet::{Agent, USAGE_MAX};

/// CPU and memory as Kubernetes writes them (`"2"`, `"8Gi"`) and as numbers.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct QuantitiesOut {
    pub cpu: String,
    pub memory: String,
    pub cpu_millicores: u64,
    pub memory_bytes: u64,
}

fn quantities(cpu_millicores: u64, memory_bytes: u64) -> QuantitiesOut {
    QuantitiesOut {
        cpu: format_cpu(cpu_millicores),
        memory: format_bytes(memory_bytes),
        cpu_millicores,
        memory_bytes,
    }
}

/// What a profile's HPA scales on.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct ScaleTargetsOut {
    pub cpu_utilization: u32,
    pub memory_utilization: u32,
    pub eligible_tasks_per_replica: u32,
}

/// A profile's registered agents by health.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct AgentCountsOut {
    pub healthy: u64,
    pub unhealthy: u64,
}

/// `GET /v1/profiles/{name}`: an agent profile as configured, with its role's defaults filled in.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct ProfileOut {
    pub name: String,
    /// implementation, quality, testing or any.
    pub role: String,
    pub requests: QuantitiesOut,
    pub limits: QuantitiesOut,
    pub storage: String,
    pub storage_bytes: u64,
    /// high, standard or low.
    pub priority_class: String,
    pub replicas_min: u32,
    pub replicas_max: u32,
    pub scale: ScaleTargetsOut,
    /// The account limits a new agent of this profile gets.
    pub budget: BTreeMap<String, u64>,
    pub image: String,
    pub agents: AgentCountsOut,
}

impl ProfileOut {
    pub fn new(profile: &Profile, agents: AgentCountsOut) -> ProfileOut {
        ProfileOut {
            name: profile.name.clone(),
            role: profile.role.name().into(),
            requests: quantities(
                profile.requests.cpu_millicores,
                profile.requests.memory_bytes,
            ),
            limits: quantities(profile.limits.cpu_millicores, profile.limits.memory_bytes),
            storage: format_bytes(profile.storage_bytes),
            storage_bytes: profile.storage_bytes,
            priority_class: profile.priority_class.clone(),
            replicas_min: profile.replicas_min,
            replicas_max: profile.replicas_max,
            scale: ScaleTargetsOut {
                cpu_utilization: profile.cpu_utilization,
                memory_utilization: profile.memory_utilization,
                eligible_tasks_per_replica: profile.eligible_tasks_per_replica,
            },
            budget: profile.budget.clone(),
            image: profile.image.clone(),
            agents,
        }
    }
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct ProfilesOut {
    pub profiles: Vec<ProfileOut>,
}

/// `PUT /v1/agents/{name}`: registers an agent against a profile (and counts as a heartbeat).
#[derive(Debug, Default, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct AgentIn {
    pub profile: String,
    pub version: Option<String>,
    #[serde(default)]
    pub labels: BTreeMap<String, String>,
    /// The agent's account. When it does not exist yet it is opened with the profile's
    /// `budget` as its limits (the token must be allowed to change accounts there).
    pub account: Option<String>,
}

/// `POST /v1/agents/{name}:heartbeat`: the agent is alive; what it says of itself and its usage.
#[derive(Debug, Default, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct HeartbeatIn {
    /// Free text, `ok` by default (`busy`, `draining`...).
    pub status: Option<String>,
    /// Its container's current usage: what the profile's HPA reads.
    pub cpu_millicores: Option<u64>,
    pub memory_bytes: Option<u64>,
}

/// A registered agent. `healthy` turns false when no heartbeat came within `[agents]
/// heartbeat_ttl_ms`.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct AgentOut {
    pub name: String,
    pub profile: String,
    pub version: Option<String>,
    pub labels: BTreeMap<String, String>,
    pub healthy: bool,
    /// Since when it has been healthy or unhealthy.
    pub since: String,
    pub status: String,
    pub registered_at: String,
    pub last_seen_at: String,
    pub cpu_millicores: Option<u64>,
    pub memory_bytes: Option<u64>,
    /// Set when this registration opened the agent's account with the profile's budget.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub opened_account: Option<String>,
}

impl From<Agent> for AgentOut {
    fn from(agent: Agent) -> AgentOut {
        AgentOut {
            name: agent.name,
            profile: agent.profile,
            version: agent.version,
            labels: agent.labels,
            healthy: agent.healthy,
            since: rfc3339(agent.since_ms),
            status: agent.status,
            registered_at: rfc3339(agent.registered_ms),
            last_seen_at: rfc3339(agent.last_seen_ms),
            cpu_millicores: agent.cpu_millicores,
            memory_bytes: agent.memory_bytes,
            opened_account: None,
        }
    }
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct AgentsOut {
    pub agents: Vec<AgentOut>,
    /// The name to pass as `after` for the next page; absent on the last.
    pub next_after: Option<String>,
}

/// One usage sample of a container of a profile's agents.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct SampleIn {
    pub container: String,
    /// When it was taken (RFC 3339); now when absent.
    pub at: Option<String>,
    pub cpu_millicores: Option<u64>,
    pub memory_bytes: Option<u64>,
    /// An out-of-memory kill; `memory_bytes` is then the memory the container had.
    #[serde(default)]
    pub oom: bool,
}

/// How far ahead of the server's clock a sample's time may be.
pub const SKEW_MAX_MS: u64 = 5 * 60_000;

/// `POST /v1/profiles/{name}/samples`.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct SamplesIn {
    pub samples: Vec<SampleIn>,
}

impl SamplesIn {
    pub fn into_samples(self, now_ms: u64) -> Result<Vec<UsageSample>, WireError> {
        self.samples
            .into_iter()
            .enumerate()
            .map(|(idx, sample)| {
                let field = |name: &str| format!("samples[{idx}].{name}");
                let t_ms = match &sample.at {
                    None => now_ms,
                    Some(text) => text
                        .parse::<jiff::Timestamp>()
                        .ok()
                        .and_then(|at| u64::try_from(at.as_millisecond()).ok())
                        .ok_or_else(|| {
                            WireError::invalid(
                                "invalid_value",
                                &field("at"),
                                "must be an RFC 3339 time after 1970",
                            )
                        })?,
                };
                // A sample from the future would make every real one after it look old, and
                // dropped: a few minutes of clock skew are allowed, no more.
                if t_ms > now_ms.saturating_add(SKEW_MAX_MS) {
                    return Err(WireError::invalid(
                        "invalid_value",
                        &field("at"),
                        format!(
                            "is more than {} minutes ahead of the server's clock",
                            SKEW_MAX_MS / 60_000
                        ),
                    ));
                }
                if sample.cpu_millicores.is_none() && sample.memory_bytes.is_none() {
                    return Err(WireError::invalid(
                        "invalid_value",
                        &field("cpu_millicores"),
                        "a sample needs cpu_millicores, memory_bytes or both",
                    ));
                }
                if sample.oom && sample.memory_bytes.is_none() {
                    return Err(WireError::invalid(
                        "invalid_value",
                        &field("memory_bytes"),
                        "an oom sample needs the memory the container had",
                    ));
                }
                let big = |value: Option<u64>, name: &str| match value {
                    Some(v) if v > USAGE_MAX => Err(WireError::invalid(
                        "invalid_value",
                        &field(name),
                        "is beyond any machine",
                    )),
                    other => Ok(other.map(|v| v as i64)),
                };
                Ok(UsageSample {
                    container: sample.container,
                    t_ms: t_ms as i64,
                    cpu_millicores: big(sample.cpu_millicores, "cpu_millicores")?,
                    memory_bytes: big(sample.memory_bytes, "memory_bytes")?,
                    oom: sample.oom,
                })
            })
            .collect()
    }
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct SamplesOut {
    /// Samples the recommender kept, and those it dropped (older than the container's last).
    pub accepted: usize,
    pub dropped: usize,
}

/// CPU and memory of a recommendation; absent when not recommended.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct AmountsOut {
    pub cpu: Option<String>,
    pub memory: Option<String>,
    pub cpu_millicores: Option<u64>,
    pub memory_bytes: Option<u64>,
}

fn amounts(list: &ResourceList) -> AmountsOut {
    let cpu = list.cpu_millicores.map(|v| v.max(0) as u64);
    let memory = list.memory_bytes.map(|v| v.max(0) as u64);
    AmountsOut {
        cpu: cpu.map(format_cpu),
        memory: memory.map(format_bytes),
        cpu_millicores: cpu,
        memory_bytes: memory,
    }
}

/// One container's requests as the VPA recommender computes them.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct ContainerRightsizeOut {
    pub container: String,
    /// The 90th percentile of usage plus a 15 % margin.
    pub target: AmountsOut,
    /// The 50th and the 95th, widened for short histories.
    pub lower_bound: AmountsOut,
    pub upper_bound: AmountsOut,
    pub uncapped_target: AmountsOut,
    /// How long the container has been sampled.
    pub history_hours: f64,
}

/// `GET /v1/profiles/{name}:rightsize`.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct RightsizeOut {
    pub profile: String,
    /// The profile's requests now, to compare with.
    pub requests: QuantitiesOut,
    pub containers: Vec<ContainerRightsizeOut>,
    pub samples_accepted: u64,
    pub samples_dropped: u64,
}

/// The recommender's answer per container with how long each was sampled: what
/// `:rightsize` and `purser recommend rightsize --samples` both show.
pub fn containers_out(
    recommendations: Vec<ContainerRecommendation>,
    lifespans: &[(String, i64)],
) -> Vec<ContainerRightsizeOut> {
    recommendations
        .into_iter()
        .map(|rec| {
            let lifespan = lifespans
                .iter()
                .find(|(name, _)| *name == rec.container_name)
                .map_or(0, |(_, ms)| *ms);
            ContainerRightsizeOut {
                target: amounts(&rec.target),
                lower_bound: amounts(&rec.lower_bound),
                upper_bound: amounts(&rec.upper_bound),
                uncapped_target: amounts(&rec.uncapped_target),
                history_hours: lifespan.max(0) as f64 / 3_600_000.0,
                container: rec.container_name,
            }
        })
        .collect()
}

impl RightsizeOut {
    pub fn new(
        profile: &Profile,
        recommendations: Vec<ContainerRecommendation>,
        counts: (u64, u64),
        lifespans: Vec<(String, i64)>,
    ) -> RightsizeOut {
        RightsizeOut {
            profile: profile.name.clone(),
            requests: quantities(
                profile.requests.cpu_millicores,
                profile.requests.memory_bytes,
            ),
            containers: containers_out(recommendations, &lifespans),
            samples_accepted: counts.0,
            samples_dropped: counts.1,
        }
    }
}

/// One metric of a scale decision: its proposal, or why it could not be computed.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct ScaleMetricOut {
    pub metric: String,
    pub replicas: Option<i32>,
    pub utilization_percent: Option<i32>,
    /// The current value in milli-units (average per replica, or the total of a Value target).
    pub value_milli: Option<i64>,
    pub error: Option<String>,
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct ConditionOut {
    /// AbleToScale, ScalingActive or ScalingLimited.
    #[serde(rename = "type")]
    pub kind: String,
    pub status: bool,
    pub reason: String,
    pub message: String,
}

/// `GET /v1/profiles/{name}:scale`: the replica count the Kubernetes HPA controller would set.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct ScaleOut {
    pub profile: String,
    /// Registered agents of the profile: its replicas now.
    pub current_replicas: i32,
    pub desired_replicas: i32,
    pub replicas_min: u32,
    pub replicas_max: u32,
    /// The controller's event text when it rescales; empty when it holds.
    pub reason: String,
    /// The metric whose proposal won.
    pub metric: Option<String>,
    pub metrics: Vec<ScaleMetricOut>,
    pub conditions: Vec<ConditionOut>,
    /// Set when some or all metrics failed; the decision stands on the rest.
    pub error: Option<String>,
}

impl ScaleOut {
    pub fn new(profile: &Profile, decision: &ScaleDecision, names: &[String]) -> ScaleOut {
        let metrics = decision
            .metrics
            .iter()
            .zip(names)
            .map(|(result, name)| match result {
                Ok(proposal) => ScaleMetricOut {
                    metric: name.clone(),
                    replicas: Some(proposal.replicas),
                    utilization_percent: proposal.utilization_percent,
                    value_milli: Some(proposal.value_milli),
                    error: None,
                },
                Err(err) => ScaleMetricOut {
                    metric: name.clone(),
                    replicas: None,
                    utilization_percent: None,
                    value_milli: None,
                    error: Some(err.to_string()),
                },
            })
            .collect();
        let conditions = [
            ("AbleToScale", &decision.conditions.able_to_scale),
            ("ScalingActive", &decision.conditions.scaling_active),
            ("ScalingLimited", &decision.conditions.scaling_limited),
        ]
        .into_iter()
        .filter_map(|(kind, condition): (&str, &Option<Condition>)| {
            condition.as_ref().map(|condition| ConditionOut {
                kind: kind.into(),
                status: condition.status,
                reason: condition.reason.into(),
                message: condition.message.clone(),
            })
        })
        .collect();
        ScaleOut {
            profile: profile.name.clone(),
            current_replicas: decision.current_replicas,
            desired_replicas: decision.desired_replicas,
            replicas_min: profile.replicas_min,
            replicas_max: profile.replicas_max,
            reason: decision.reason.clone(),
            metric: decision
                .metric_index
                .and_then(|idx| names.get(idx).cloned()),
            metrics,
            conditions,
            error: decision.error.as_ref().map(ToString::to_string),
        }
    }
}
