//! Agents registered against a profile, their heartbeats and their health.

use std::collections::BTreeMap;

use purser_engine::audit::Notice;
use serde_json::json;

use super::{Fleet, FleetError};

/// Labels per agent at most, their bytes in all, the length of a name, a version, a label or a
/// health text, and the largest usage an agent may report (2^50: beyond any machine).
pub const LABELS_MAX: usize = 32;
pub const LABEL_BYTES_MAX: usize = 4_096;
pub const TEXT_MAX: usize = 253;
pub const USAGE_MAX: u64 = 1 << 50;

/// One registered agent.
#[derive(Debug, Clone, PartialEq)]
pub struct Agent {
    pub name: String,
    pub profile: String,
    pub version: Option<String>,
    pub labels: BTreeMap<String, String>,
    pub registered_ms: u64,
    pub last_seen_ms: u64,
    pub healthy: bool,
    /// Since when it has been healthy or unhealthy.
    pub since_ms: u64,
    /// What the agent last said of itself (`ok` when it said nothing).
    pub status: String,
    /// Its last reported usage.
    pub cpu_millicores: Option<u64>,
    pub memory_bytes: Option<u64>,
}

/// `PUT /v1/agents/{name}`.
#[derive(Debug, Clone, Default)]
pub struct Registration {
    pub profile: String,
    pub version: Option<String>,
    pub labels: BTreeMap<String, String>,
}

/// `POST /v1/agents/{name}:heartbeat`.
#[derive(Debug, Clone, Default)]
pub struct Heartbeat {
    pub status: Option<String>,
    pub cpu_millicores: Option<u64>,
    pub memory_bytes: Option<u64>,
}

fn check_text(field: &str, text: &str) -> Result<(), FleetError> {
    if text.is_empty() || text.len() > TEXT_MAX || text.chars().any(char::is_control) {
        return Err(FleetError::Invalid {
            field: field.into(),
            message: format!(
                "{field} must be 1 to {TEXT_MAX} characters with no control characters"
            ),
        });
    }
    Ok(())
}

impl Fleet {
    /// Registers (or re-registers) `name` against a profile: a heartbeat too. Answers the agent
    /// and, when it was unhealthy, the notice that it is back.
    pub fn register(
        &self,
        name: &str,
        registration: Registration,
        now_ms: u64,
    ) -> Result<(Agent, Option<Notice>), FleetError> {
        if name.is_empty()
            || name.len() > TEXT_MAX
            || !name
                .bytes()
                .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'.' | b'_' | b'-'))
        {
            return Err(FleetError::Invalid {
                field: "name".into(),
                message: format!(
                    "an agent's name is 1 to {TEXT_MAX} letters, digits, '.', '_' or '-', not {name:?}"
                ),
            });
        }
        self.profile(&registration.profile)
            .map_err(|_| FleetError::Invalid {
                field: "profile".into(),
                message: format!(
                    "no profile {}; the profiles are {}",
                    registration.profile,
                    self.profiles()
                        .iter()
                        .map(|p| p.name.as_str())
                        .collect::<Vec<_>>()
                        .join(", ")
                ),
            })?;
        if let Some(version) = &registration.version {
            check_text("version", version)?;
        }
        if registration.labels.len() > LABELS_MAX {
            return Err(FleetError::Invalid {
                field: "labels".into(),
                message: format!("at most {LABELS_MAX} labels"),
            });
        }
        for (key, value) in &registration.labels {
            check_text("labels", key)?;
            check_text("labels", value)?;
        }
        let label_bytes: usize = registration
            .labels
            .iter()
            .map(|(key, value)| key.len() + value.len())
            .sum();
        if label_bytes > LABEL_BYTES_MAX {
            return Err(FleetError::Invalid {
                field: "labels".into(),
                message: format!(
                    "labels take at most {LABEL_BYTES_MAX} bytes in all, not {label_bytes}"
                ),
            });
        }
        let mut state = self.lock();
        if !state.agents.contains_key(name) && state.agents.len() >= self.config.agents_max {
            return Err(FleetError::Full(format!(
                "{} agents are registered, the most [agents] agents_max allows",
                self.config.agents_max
            )));
        }
        let agent = state
            .agents
            .entry(name.to_string())
            .or_insert_with(|| Agent {
                name: name.to_string(),
                profile: registration.profile.clone(),
                version: None,
                labels: BTreeMap::new(),
                registered_ms: now_ms,
                last_seen_ms: now_ms,
                healthy: true,
                since_ms: now_ms,
                status: "ok".into(),
                cpu_millicores: None,
                memory_bytes: None,
            });
        agent.profile = registration.profile;
        agent.version = registration.version;
        agent.labels = registration.labels;
        let back = seen(agent, now_ms);
        Ok((agent.clone(), back))
    }

    /// An agent's heartbeat, with what it says of itself and its usage.
    pub fn heartbeat(
        &self,
        name: &str,
        beat: Heartbeat,
        now_ms: u64,
    ) -> Result<(Agent, Option<Notice>), FleetError> {
        if let Some(status) = &beat.status {
            check_text("status", status)?;
        }
        for (field, value) in [
            ("cpu_millicores", beat.cpu_millicores),
            ("memory_bytes", beat.memory_bytes),
        ] {
            if value.is_some_and(|value| value > USAGE_MAX) {
                return Err(FleetError::Invalid {
                    field: field.into(),
                    message: format!("{field} is beyond any machine (at most 2^50)"),
                });
            }
        }
        let mut state = self.lock();
        let agent = state.agents.get_mut(name).ok_or_else(|| {
            FleetError::NotFound(format!(
                "no agent {name}: register it with PUT /v1/agents/{name} (registrations are not kept across restarts)"
            ))
        })?;
        if let Some(status) = beat.status {
            agent.status = status;
        }
        agent.cpu_millicores = beat.cpu_millicores.or(agent.cpu_millicores);
        agent.memory_bytes = beat.memory_bytes.or(agent.memory_bytes);
        let back = seen(agent, now_ms);
        Ok((agent.clone(), back))
    }

    pub fn agent(&self, name: &str) -> Result<Agent, FleetError> {
        self.lock()
            .agents
            .get(name)
            .cloned()
            .ok_or_else(|| FleetError::NotFound(format!("no agent {name}")))
    }

    /// Agents in name order, of one profile or all, after `after`, at most `limit`.
    pub fn agents(&self, profile: Option<&str>, after: Option<&str>, limit: usize) -> Vec<Agent> {
        let state = self.lock();
        let start = match after {
            Some(after) => std::ops::Bound::Excluded(after.to_string()),
            None => std::ops::Bound::Unbounded,
        };
        state
            .agents
            .range((start, std::ops::Bound::Unbounded))
            .map(|(_, agent)| agent)
            .filter(|agent| profile.is_none_or(|profile| agent.profile == profile))
            .take(limit)
            .cloned()
            .collect()
    }

    /// The healthy and unhealthy agents of a profile.
    pub fn agent_counts(&self, profile: &str) -> (u64, u64) {
        let state = self.lock();
        let (mut healthy, mut unhealthy) = (0, 0);
        for agent in state
            .agents
            .values()
            .filter(|agent| agent.profile == profile)
        {
            if agent.healthy {
                healthy += 1;
            } else {
                unhealthy += 1;
            }
        }
        (healthy, unhealthy)
    }

    /// Forgets an agent (it was scaled down, or retired).
    pub fn deregister(&self, name: &str) -> Result<Agent, FleetError> {
        self.lock()
            .agents
            .remove(name)
            .ok_or_else(|| FleetError::NotFound(format!("no agent {name}")))
    }

    /// Marks unhealthy every agent not heard from within the heartbeat TTL; answers a notice
    /// for each that turned.
    pub fn sweep(&self, now_ms: u64) -> Vec<Notice> {
        let ttl = self.config.heartbeat_ttl_ms;
        let mut state = self.lock();
        let mut notices = Vec::new();
        for agent in state.agents.values_mut() {
            if agent.healthy && now_ms.saturating_sub(agent.last_seen_ms) > ttl {
                agent.healthy = false;
                agent.since_ms = now_ms;
                notices.push(Notice {
                    kind: "agent",
                    account: None,
                    actor: "agents",
                    reason: format!(
                        "agent {} ({}) is unhealthy: no heartbeat for {} s (the TTL is {} s)",
                        agent.name,
                        agent.profile,
                        now_ms.saturating_sub(agent.last_seen_ms) / 1000,
                        ttl / 1000
                    ),
                    data: json!({"agent": agent.name, "profile": agent.profile,
                                 "healthy": false, "last_seen_ms_ago": now_ms - agent.last_seen_ms}),
                });
            }
        }
        notices
    }
}

/// The agent was heard from: healthy again if it was not (answering the notice of it).
fn seen(agent: &mut Agent, now_ms: u64) -> Option<Notice> {
    agent.last_seen_ms = now_ms;
    if agent.healthy {
        return None;
    }
    agent.healthy = true;
    let down_s = now_ms.saturating_sub(agent.since_ms) / 1000;
    agent.since_ms = now_ms;
    Some(Notice {
        kind: "agent",
        account: None,
        actor: "agents",
        reason: format!(
            "agent {} ({}) is healthy again after {down_s} s",
            agent.name, agent.profile
        ),
        data: json!({"agent": agent.name, "profile": agent.profile, "healthy": true}),
    })
}
