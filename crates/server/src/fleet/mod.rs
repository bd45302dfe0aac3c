//! The fleet: the agent profiles, the agents registered against them and their health, the
//! usage samples their containers report, and what Kubernetes would do with them (the HPA's
//! replica count, the VPA's requests), plus the resource monitor's pressure and anomalies on
//! pools and profiles.
//!
//! This is soft state, like Kubernetes' node leases: it lives in memory, not in the journal.
//! After a restart an agent's next `PUT /v1/agents/{name}` or heartbeat registers it again, and
//! the recommendations rebuild from the samples that come in. What the fleet decides that
//! people must see (an agent turning unhealthy, a pressure finding) goes to the audit log and
//! the event stream as a [`Notice`].

mod agents;
mod scale;
mod watch;

use std::collections::BTreeMap;
use std::sync::Mutex;

use purser_engine::audit::Notice;
use purser_k8s::monitor::{Finding, Level, Monitor, Series};
use purser_k8s::profile::Profile;
use purser_k8s::vpa::Workload;

use crate::config::fleet::FleetConfig;

pub use agents::{Agent, Heartbeat, Registration, USAGE_MAX};
pub use scale::QUEUE_METRIC;
pub use watch::watch;

/// Containers with samples per profile at most, and samples in one request at most.
pub const CONTAINERS_MAX: usize = 100;
pub const SAMPLES_PER_REQUEST_MAX: usize = 10_000;

/// Why a fleet operation was refused.
#[derive(Debug, Clone, PartialEq)]
pub enum FleetError {
    NotFound(String),
    Invalid { field: String, message: String },
    Full(String),
}

pub struct Fleet {
    config: FleetConfig,
    state: Mutex<State>,
}

struct State {
    agents: BTreeMap<String, Agent>,
    /// Usage samples per profile, by container.
    usage: BTreeMap<String, Workload>,
    /// The HPA of each profile and its last decision.
    autoscalers: BTreeMap<String, scale::ProfileHpa>,
    monitor: Monitor,
    /// Findings so far, by kind (`pressure`, `trend`, `anomaly`).
    findings: BTreeMap<&'static str, u64>,
}

/// The fleet's figures for `/metrics`.
#[derive(Debug, Default, Clone)]
pub struct FleetGauges {
    /// (profile, healthy, unhealthy).
    pub agents: Vec<(String, u64, u64)>,
    /// (profile, desired replicas) of the last HPA decisions.
    pub desired_replicas: Vec<(String, u64)>,
    pub findings: Vec<(&'static str, u64)>,
    /// (subject, dimension, level as 0 ok, 1 warning, 2 critical).
    pub pressure: Vec<(String, String, u64)>,
}

impl Fleet {
    pub fn new(config: FleetConfig) -> Fleet {
        let monitor = Monitor::new(config.monitor).expect("checked with the config");
        Fleet {
            config,
            state: Mutex::new(State {
                agents: BTreeMap::new(),
                usage: BTreeMap::new(),
                autoscalers: BTreeMap::new(),
                monitor,
                findings: BTreeMap::new(),
            }),
        }
    }

    pub fn config(&self) -> &FleetConfig {
        &self.config
    }

    pub fn profiles(&self) -> &[Profile] {
        &self.config.profiles
    }

    pub fn profile(&self, name: &str) -> Result<&Profile, FleetError> {
        self.config
            .profiles
            .iter()
            .find(|profile| profile.name == name)
            .ok_or_else(|| FleetError::NotFound(format!("no profile {name}")))
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, State> {
        // A panic while holding the lock leaves soft state that is still consistent enough to
        // serve: every update is a single insert or field write.
        self.state
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
    }

    /// The fleet's figures for a scrape.
    pub fn gauges(&self) -> FleetGauges {
        let state = self.lock();
        let agents = self
            .config
            .profiles
            .iter()
            .map(|profile| {
                let (mut healthy, mut unhealthy) = (0, 0);
                for agent in state.agents.values().filter(|a| a.profile == profile.name) {
                    if agent.healthy {
                        healthy += 1;
                    } else {
                        unhealthy += 1;
                    }
                }
                (profile.name.clone(), healthy, unhealthy)
            })
            .collect();
        let desired_replicas = state
            .autoscalers
            .iter()
            .filter_map(|(name, hpa)| {
                hpa.last
                    .as_ref()
                    .map(|decision| (name.clone(), decision.desired_replicas.max(0) as u64))
            })
            .collect();
        FleetGauges {
            agents,
            desired_replicas,
            findings: state.findings.iter().map(|(k, v)| (*k, *v)).collect(),
            // Read from the monitor, which holds each series' level: only those not at ok.
            pressure: state
                .monitor
                .series()
                .into_iter()
                .filter_map(|series| {
                    let value = match state.monitor.status(series)?.level {
                        Level::Ok => return None,
                        Level::Warning => 1,
                        Level::Critical => 2,
                    };
                    Some((series.subject.clone(), series.dimension.clone(), value))
                })
                .collect(),
        }
    }

    /// Forgets the monitor's series not sampled within `idle_ms` (and so their levels).
    pub fn forget_idle(&self, now_ms: u64, idle_ms: u64) {
        self.lock().monitor.forget_idle(now_ms, idle_ms);
    }

    /// Feeds the monitor one sample; answers the notices of what it found.
    pub fn observe(
        &self,
        series: &Series,
        now_ms: u64,
        value: f64,
        capacity: Option<f64>,
    ) -> Vec<Notice> {
        let mut state = self.lock();
        let findings = state.monitor.observe(series, now_ms, value, capacity);
        findings
            .into_iter()
            .map(|finding| {
                *state.findings.entry(finding.kind.name()).or_insert(0) += 1;
                notice_of(&finding)
            })
            .collect()
    }
}

/// A monitor's finding as the audit log and the event stream carry it.
fn notice_of(finding: &Finding) -> Notice {
    Notice {
        kind: "alert",
        account: None,
        actor: "monitor",
        reason: finding.message(),
        data: serde_json::json!({
            "what": finding.kind.name(),
            "subject": finding.series.subject,
            "dimension": finding.series.dimension,
        }),
    }
}
