//! What Kubernetes would do with a profile: the HPA's replica count from its agents' health and
//! usage and the eligible-queue depth, and the VPA's requests from its containers' samples.

use purser_k8s::hpa::autoscaler::record_scale_event;
use purser_k8s::hpa::{
    Autoscaler, Behavior, ConditionStatus, Container, ContainerUsage, ControllerConfig, History,
    HpaSpec, MetricInput, MetricObservation, MetricSource, Pod, PodPhase, PodUsage, PolicyKind,
    Resource, ResourceTarget, ScaleDecision, ScaleInput, ScalingPolicy, ScalingRules, ValueTarget,
};
use purser_k8s::profile::Profile;
use purser_k8s::vpa::{ContainerRecommendation, UsageSample, Workload};

use super::{CONTAINERS_MAX, Fleet, FleetError, SAMPLES_PER_REQUEST_MAX};

/// What a profile's HPA remembers between reconciliations.
#[derive(Debug, Clone, Default)]
pub(super) struct ProfileHpa {
    recommendations: Option<Vec<purser_k8s::hpa::Recommendation>>,
    /// The changes of the registered count, as scale events.
    events: History,
    replicas: Option<i32>,
    pub(super) last: Option<ScaleDecision>,
}

/// The name of the eligible-queue metric the rendered HPAs read through a metrics adapter.
pub const QUEUE_METRIC: &str = "purser_eligible_tasks";
/// How long a heartbeat's usage stands for (the metrics window the HPA is told).
const USAGE_WINDOW_MS: i64 = 30_000;

/// The behavior the rendered HPAs carry: scale up after 5 minutes by at most 100 % a minute,
/// down after 15 minutes by at most 50 % a minute.
pub fn behavior() -> Behavior {
    let rules = |window_s, percent| ScalingRules {
        stabilization_window_seconds: Some(window_s),
        select_policy: None,
        policies: Some(vec![ScalingPolicy {
            kind: PolicyKind::Percent,
            value: percent,
            period_seconds: 60,
        }]),
        tolerance: None,
    };
    Behavior {
        scale_up: Some(rules(300, 100)),
        scale_down: Some(rules(900, 50)),
    }
}

fn spec(profile: &Profile) -> HpaSpec {
    HpaSpec {
        min_replicas: profile.replicas_min as i32,
        max_replicas: profile.replicas_max as i32,
        behavior: Some(behavior()),
    }
}

impl Fleet {
    /// Runs the profile's HPA once at `now_ms` over its registered agents (a pod each, ready
    /// while healthy, with the usage of its last heartbeat) and `eligible` tasks waiting, and
    /// answers the decision. With `record` the run is one of the controller's (every 15 s): its
    /// recommendation joins the history the stabilization windows look back over; without, it
    /// runs on a copy and changes nothing (a read).
    pub fn reconcile(
        &self,
        name: &str,
        eligible: u64,
        now_ms: u64,
        record: bool,
    ) -> Result<ScaleDecision, FleetError> {
        let profile = self.profile(name)?.clone();
        let mut state = self.lock();
        let agents: Vec<_> = state
            .agents
            .values()
            .filter(|agent| agent.profile == name)
            .cloned()
            .collect();
        let now = now_ms as i64;
        let pods: Vec<Pod> = agents
            .iter()
            .map(|agent| {
                Pod::new(agent.name.clone(), PodPhase::Running)
                    .with_start(agent.registered_ms as i64)
                    .with_ready(
                        if agent.healthy {
                            ConditionStatus::True
                        } else {
                            ConditionStatus::False
                        },
                        agent.since_ms as i64,
                    )
                    .with_container(
                        Container::new("agent")
                            .with_request(Resource::Cpu, profile.requests.cpu_millicores as i64)
                            .with_request(
                                Resource::Memory,
                                (profile.requests.memory_bytes as i64).saturating_mul(1000),
                            ),
                    )
            })
            .collect();
        // An unhealthy agent's last report is stale: it counts as a pod without a sample.
        let usage = |resource: Resource, pick: &dyn Fn(&super::Agent) -> Option<i64>| {
            agents
                .iter()
                .filter(|agent| agent.healthy)
                .filter_map(|agent| {
                    pick(agent).map(|milli| PodUsage {
                        pod: agent.name.clone(),
                        timestamp_ms: agent.last_seen_ms as i64,
                        window_ms: USAGE_WINDOW_MS,
                        containers: vec![
                            ContainerUsage::new("agent").with_usage(resource.clone(), milli),
                        ],
                    })
                })
                .collect::<Vec<_>>()
        };
        let cpu = usage(Resource::Cpu, &|agent| {
            agent.cpu_millicores.map(|m| m as i64)
        });
        let memory = usage(Resource::Memory, &|agent| {
            agent.memory_bytes.map(|b| (b as i64).saturating_mul(1000))
        });
        // A resource no agent of the profile reports is left out, as an HPA without that
        // metric: a metric that can never be read would block every scale-down.
        let mut metrics = Vec::new();
        for (resource, target, samples) in [
            (Resource::Cpu, profile.cpu_utilization, cpu),
            (Resource::Memory, profile.memory_utilization, memory),
        ] {
            if !samples.is_empty() {
                metrics.push(MetricInput {
                    source: MetricSource::Resource {
                        resource,
                        target: ResourceTarget::Utilization(target as i32),
                    },
                    observation: MetricObservation::PodUsage(samples),
                });
            }
        }
        metrics.push(MetricInput {
            source: MetricSource::External {
                metric: QUEUE_METRIC.into(),
                target: ValueTarget::AverageValue(
                    i64::from(profile.eligible_tasks_per_replica) * 1000,
                ),
            },
            observation: MetricObservation::ExternalValues {
                values_milli: vec![(eligible.min(1 << 40) as i64) * 1000],
                timestamp_ms: now,
            },
        });
        let replicas = agents.len() as i32;
        let mut hpa = state
            .autoscalers
            .get(name)
            .cloned()
            .unwrap_or_else(ProfileHpa::default);
        // The controller records a scale event for each decision it makes, as it applies
        // them. Purser recommends; the fleet scales when agents come and go, so the events
        // the policies look back over are the changes of the registered count seen here.
        if let Some(previous) = hpa.replicas.filter(|previous| *previous != replicas) {
            record_scale_event(&mut hpa.events, Some(&behavior()), previous, replicas, now);
        }
        hpa.replicas = Some(replicas);
        let mut autoscaler = Autoscaler::with_history(
            ControllerConfig::default(),
            spec(&profile),
            History {
                recommendations: hpa.recommendations.take(),
                scale_up_events: hpa.events.scale_up_events.clone(),
                scale_down_events: hpa.events.scale_down_events.clone(),
            },
        );
        let mut decision = autoscaler.reconcile(
            &ScaleInput {
                spec_replicas: replicas,
                status_replicas: replicas,
                pods: &pods,
                metrics: &metrics,
            },
            now,
        );
        if replicas == 0 {
            // The controller leaves a target at zero replicas alone (scaling disabled); a
            // profile nobody runs yet is recommended its floor.
            decision.desired_replicas = profile.replicas_min as i32;
            decision.reason = format!(
                "no agent of {name} is registered: its minimum of {} replicas",
                profile.replicas_min
            );
        }
        if record {
            hpa.recommendations = autoscaler.history().recommendations.clone();
            hpa.last = Some(decision.clone());
            state.autoscalers.insert(name.to_string(), hpa);
        }
        Ok(decision)
    }

    /// Adds usage samples of the profile's containers; answers how many were kept.
    pub fn add_samples(&self, name: &str, samples: &[UsageSample]) -> Result<usize, FleetError> {
        self.profile(name)?;
        if samples.len() > SAMPLES_PER_REQUEST_MAX {
            return Err(FleetError::Invalid {
                field: "samples".into(),
                message: format!("at most {SAMPLES_PER_REQUEST_MAX} samples in one request"),
            });
        }
        let mut state = self.lock();
        let workload = state
            .usage
            .entry(name.to_string())
            .or_insert_with(|| Workload::new(CONTAINERS_MAX));
        // All or nothing: a sample refused (a container beyond the cap) refuses the request
        // before any is added.
        let mut trial = workload.clone();
        let mut kept = 0;
        for (idx, sample) in samples.iter().enumerate() {
            if trial.add(sample).map_err(|message| FleetError::Invalid {
                field: format!("samples[{idx}]"),
                message,
            })? {
                kept += 1;
            }
        }
        *workload = trial;
        Ok(kept)
    }

    /// The VPA recommendation of the profile's containers, with the samples' counts and
    /// history per container.
    #[allow(clippy::type_complexity)]
    pub fn rightsize(
        &self,
        name: &str,
    ) -> Result<(Vec<ContainerRecommendation>, (u64, u64), Vec<(String, i64)>), FleetError> {
        self.profile(name)?;
        let state = self.lock();
        Ok(match state.usage.get(name) {
            Some(workload) => (
                workload.recommend(),
                workload.counts(),
                workload.lifespans(),
            ),
            None => (Vec::new(), (0, 0), Vec::new()),
        })
    }
}
