//! The fleet's part of `purser.toml`: `[[profile]]` (agent profiles), `[agents]` (registration
//! and heartbeats) and `[monitor]` (the resource monitor's pressure thresholds and sampling).

use purser_k8s::monitor::{MonitorConfig, PressureConfig};
use purser_k8s::profile::{PROFILES_MAX, Profile, ProfileConfig};
use serde::Deserialize;

/// `[agents]`.
#[derive(Clone, Debug, Default, Deserialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct AgentsSection {
    /// An agent not heard from for this long is unhealthy (default 30 s).
    pub heartbeat_ttl_ms: Option<u64>,
    /// Agents registered at most (default 10,000); a new one beyond is refused.
    pub agents_max: Option<usize>,
}

/// `[monitor]`.
#[derive(Clone, Debug, Default, Deserialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct MonitorSection {
    /// How often pools and profiles are sampled (default 5 s).
    pub every_ms: Option<u64>,
    /// Pressure levels, as fractions of capacity (default 0.8 and 0.95)...
    pub warning: Option<f64>,
    pub critical: Option<f64>,
    /// ...held this long before they fire (default 10 minutes).
    pub for_ms: Option<u64>,
}

/// What the fleet runs with, checked.
#[derive(Clone, Debug)]
pub struct FleetConfig {
    pub profiles: Vec<Profile>,
    pub heartbeat_ttl_ms: u64,
    pub agents_max: usize,
    pub monitor_every_ms: u64,
    pub monitor: MonitorConfig,
}

impl Default for FleetConfig {
    fn default() -> Self {
        fleet_config(&[], &AgentsSection::default(), &MonitorSection::default())
            .expect("the defaults are valid")
    }
}

/// Resolves the profiles (the guide's three when none is configured) and the sections.
pub fn fleet_config(
    profiles: &[ProfileConfig],
    agents: &AgentsSection,
    monitor: &MonitorSection,
) -> Result<FleetConfig, String> {
    let configs = if profiles.is_empty() {
        ProfileConfig::defaults()
    } else {
        profiles.to_vec()
    };
    if configs.len() > PROFILES_MAX {
        return Err(format!("at most {PROFILES_MAX} [[profile]]s"));
    }
    let mut resolved: Vec<Profile> = Vec::with_capacity(configs.len());
    for config in &configs {
        let profile = config.resolve()?;
        if resolved.iter().any(|other| other.name == profile.name) {
            return Err(format!("profile {} is configured twice", profile.name));
        }
        resolved.push(profile);
    }
    let heartbeat_ttl_ms = agents.heartbeat_ttl_ms.unwrap_or(30_000);
    if !(1_000..=86_400_000).contains(&heartbeat_ttl_ms) {
        return Err("agents.heartbeat_ttl_ms must be 1,000 to 86,400,000 (a day)".into());
    }
    let agents_max = agents.agents_max.unwrap_or(10_000);
    if !(1..=1_000_000).contains(&agents_max) {
        return Err("agents.agents_max must be 1 to 1,000,000".into());
    }
    let monitor_every_ms = monitor.every_ms.unwrap_or(5_000);
    if !(100..=3_600_000).contains(&monitor_every_ms) {
        return Err("monitor.every_ms must be 100 to 3,600,000 (an hour)".into());
    }
    let defaults = PressureConfig::default();
    let defaults_monitor = MonitorConfig::default();
    // Enough samples for the trend's window at this sampling period.
    let samples_max = (defaults_monitor.trend.window_ms / monitor_every_ms + 16)
        .max(defaults_monitor.samples_max as u64) as usize;
    let config = MonitorConfig {
        samples_max,
        pressure: PressureConfig {
            warning: monitor.warning.unwrap_or(defaults.warning),
            critical: monitor.critical.unwrap_or(defaults.critical),
            for_ms: monitor.for_ms.unwrap_or(defaults.for_ms),
            ..defaults
        },
        ..MonitorConfig::default()
    };
    config.check().map_err(|err| format!("monitor: {err}"))?;
    Ok(FleetConfig {
        profiles: resolved,
        heartbeat_ttl_ms,
        agents_max,
        monitor_every_ms,
        monitor: config,
    })
}
