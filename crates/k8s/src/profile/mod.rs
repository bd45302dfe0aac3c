//! Agent profiles: a named kind of agent (implementation, quality, testing, ...) with its
//! container requests and limits, storage, priority class, replica bounds, the metrics it scales
//! on and the budget a new agent of it gets. `[[profile]]` in `purser.toml` is a
//! [`ProfileConfig`]; [`ProfileConfig::resolve`] fills what it leaves out from its role's
//! defaults and checks the rest, giving a [`Profile`].

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

pub mod quantity;

pub use quantity::{format_bytes, format_cpu, parse_bytes, parse_cpu};

/// What an agent of a profile does; each role has its default resources.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Role {
    Implementation,
    Quality,
    Testing,
    #[default]
    Any,
}

impl Role {
    pub fn name(self) -> &'static str {
        match self {
            Role::Implementation => "implementation",
            Role::Quality => "quality",
            Role::Testing => "testing",
            Role::Any => "any",
        }
    }
}

/// The priority tiers a profile may take; each renders to a PriorityClass.
pub const PRIORITY_TIERS: [PriorityTier; 3] = [
    PriorityTier {
        name: "high",
        value: 100_000,
        preempts: true,
        description: "Agents whose work others wait on: may preempt lower tiers",
    },
    PriorityTier {
        name: "standard",
        value: 10_000,
        preempts: true,
        description: "Most agents: may preempt the low tier",
    },
    PriorityTier {
        name: "low",
        value: 1_000,
        preempts: false,
        description: "Background agents: never preempt, preempted first",
    },
];

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct PriorityTier {
    pub name: &'static str,
    pub value: i32,
    pub preempts: bool,
    pub description: &'static str,
}

/// Container requests or limits as quantities (`cpu = "2"`, `memory = "8Gi"`).
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct QuantitiesConfig {
    pub cpu: Option<String>,
    pub memory: Option<String>,
}

/// What the HorizontalPodAutoscaler of a profile scales on.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ScaleConfig {
    /// Target average CPU utilization, percent of requests (default 70).
    pub cpu_utilization: Option<u32>,
    /// Target average memory utilization, percent of requests (default 80).
    pub memory_utilization: Option<u32>,
    /// Target eligible tasks per replica, from Purser's `eligible_tasks` metric (default 4).
    pub eligible_tasks_per_replica: Option<u32>,
}

/// One `[[profile]]` of `purser.toml`.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ProfileConfig {
    pub name: String,
    #[serde(default)]
    pub role: Role,
    #[serde(default)]
    pub requests: QuantitiesConfig,
    #[serde(default)]
    pub limits: QuantitiesConfig,
    /// Persistent storage per replica (`10Gi`); `0` for none (then a Deployment, not a
    /// StatefulSet).
    pub storage: Option<String>,
    /// `high`, `standard` or `low`.
    pub priority_class: Option<String>,
    pub replicas_min: Option<u32>,
    pub replicas_max: Option<u32>,
    #[serde(default)]
    pub scale: ScaleConfig,
    /// The account limits a new agent of this profile gets (dimension -> amount).
    #[serde(default)]
    pub budget: BTreeMap<String, u64>,
    /// The agents' container image.
    pub image: Option<String>,
}

/// A profile with every default filled in and every figure checked.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct Profile {
    pub name: String,
    pub role: Role,
    pub requests: Resources,
    pub limits: Resources,
    pub storage_bytes: u64,
    pub priority_class: String,
    pub replicas_min: u32,
    pub replicas_max: u32,
    pub cpu_utilization: u32,
    pub memory_utilization: u32,
    pub eligible_tasks_per_replica: u32,
    pub budget: BTreeMap<String, u64>,
    pub image: String,
}

/// CPU in millicores and memory in bytes.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize)]
pub struct Resources {
    pub cpu_millicores: u64,
    pub memory_bytes: u64,
}

const GI: u64 = 1 << 30;

/// Requests, limits, storage and priority of a role when the profile leaves them out.
fn role_defaults(role: Role) -> (Resources, Resources, u64, &'static str) {
    let res = |cores: u64, gib: u64| Resources {
        cpu_millicores: cores * 1000,
        memory_bytes: gib * GI,
    };
    match role {
        Role::Implementation => (res(2, 8), res(4, 16), 10 * GI, "high"),
        Role::Quality => (res(1, 4), res(2, 8), 10 * GI, "standard"),
        Role::Testing => (res(2, 8), res(4, 16), 50 * GI, "high"),
        Role::Any => (res(1, 4), res(2, 8), 10 * GI, "standard"),
    }
}

/// Profiles at most, and replicas at most per profile.
pub const PROFILES_MAX: usize = 1_000;
pub const REPLICAS_MAX: u32 = 10_000;
pub const DEFAULT_IMAGE: &str = "ghcr.io/purser/agent:latest";

impl ProfileConfig {
    /// The three profiles of the Kubernetes guide, used when `purser.toml` names none.
    pub fn defaults() -> Vec<ProfileConfig> {
        [
            ("implementation", Role::Implementation),
            ("quality", Role::Quality),
            ("testing", Role::Testing),
        ]
        .into_iter()
        .map(|(name, role)| ProfileConfig {
            name: name.into(),
            role,
            ..ProfileConfig::default()
        })
        .collect()
    }

    /// Fills in the role's defaults and checks every figure; the error names the field.
    pub fn resolve(&self) -> Result<Profile, String> {
        let name = &self.name;
        check_name(name).map_err(|err| format!("profile name: {err}"))?;
        let field = |what: &str| format!("profile {name}: {what}");
        let (requests, limits, storage, priority) = role_defaults(self.role);
        let read = |config: &QuantitiesConfig, default: Resources, what: &str| {
            Ok::<_, String>(Resources {
                cpu_millicores: match &config.cpu {
                    Some(cpu) => {
                        parse_cpu(cpu).map_err(|err| field(&format!("{what}.cpu: {err}")))?
                    }
                    None => default.cpu_millicores,
                },
                memory_bytes: match &config.memory {
                    Some(memory) => parse_bytes(memory)
                        .map_err(|err| field(&format!("{what}.memory: {err}")))?,
                    None => default.memory_bytes,
                },
            })
        };
        let requests = read(&self.requests, requests, "requests")?;
        let limits = read(&self.limits, limits, "limits")?;
        if requests.cpu_millicores == 0 || requests.memory_bytes == 0 {
            return Err(field("requests must be above zero"));
        }
        if limits.cpu_millicores < requests.cpu_millicores
            || limits.memory_bytes < requests.memory_bytes
        {
            return Err(field("limits must be at least the requests"));
        }
        let storage_bytes = match &self.storage {
            Some(text) => parse_bytes(text).map_err(|err| field(&format!("storage: {err}")))?,
            None => storage,
        };
        let priority_class = self.priority_class.as_deref().unwrap_or(priority);
        if !PRIORITY_TIERS
            .iter()
            .any(|tier| tier.name == priority_class)
        {
            return Err(field(&format!(
                "priority_class must be high, standard or low, not `{priority_class}`"
            )));
        }
        let replicas_min = self.replicas_min.unwrap_or(1);
        let replicas_max = self.replicas_max.unwrap_or(10);
        if replicas_min == 0 || replicas_min > replicas_max || replicas_max > REPLICAS_MAX {
            return Err(field(&format!(
                "replicas must satisfy 1 <= replicas_min <= replicas_max <= {REPLICAS_MAX}"
            )));
        }
        let percent = |value: Option<u32>, default: u32, what: &str| match value.unwrap_or(default)
        {
            value @ 1..=100 => Ok(value),
            value => Err(field(&format!(
                "scale.{what} must be 1 to 100, not {value}"
            ))),
        };
        let eligible = self.scale.eligible_tasks_per_replica.unwrap_or(4);
        if eligible == 0 {
            return Err(field("scale.eligible_tasks_per_replica must be at least 1"));
        }
        Ok(Profile {
            name: name.clone(),
            role: self.role,
            requests,
            limits,
            storage_bytes,
            priority_class: priority_class.to_string(),
            replicas_min,
            replicas_max,
            cpu_utilization: percent(self.scale.cpu_utilization, 70, "cpu_utilization")?,
            memory_utilization: percent(self.scale.memory_utilization, 80, "memory_utilization")?,
            eligible_tasks_per_replica: eligible,
            budget: self.budget.clone(),
            image: self.image.clone().unwrap_or_else(|| DEFAULT_IMAGE.into()),
        })
    }
}

/// A profile's name becomes part of Kubernetes object names: a DNS-1123 label of at most 40
/// characters (room for the suffixes Purser adds).
pub fn check_name(name: &str) -> Result<(), String> {
    let ok = !name.is_empty()
        && name.len() <= 40
        && name
            .bytes()
            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-')
        && !name.starts_with('-')
        && !name.ends_with('-');
    if ok {
        Ok(())
    } else {
        Err(format!(
            "`{name}` must be 1 to 40 lowercase letters, digits or '-', not starting or ending with '-'"
        ))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn roles_give_the_guides_defaults() {
        let profiles: Vec<Profile> = ProfileConfig::defaults()
            .iter()
            .map(|config| config.resolve().unwrap())
            .collect();
        let figures: Vec<_> = profiles
            .iter()
            .map(|p| {
                (
                    p.name.as_str(),
                    format_cpu(p.requests.cpu_millicores),
                    format_bytes(p.requests.memory_bytes),
                    format_cpu(p.limits.cpu_millicores),
                    format_bytes(p.limits.memory_bytes),
                    format_bytes(p.storage_bytes),
                    p.priority_class.as_str(),
                )
            })
            .collect();
        let s = |v: &str| v.to_string();
        assert_eq!(
            figures,
            vec![
                (
                    "implementation",
                    s("2"),
                    s("8Gi"),
                    s("4"),
                    s("16Gi"),
                    s("10Gi"),
                    "high"
                ),
                (
                    "quality",
                    s("1"),
                    s("4Gi"),
                    s("2"),
                    s("8Gi"),
                    s("10Gi"),
                    "standard"
                ),
                (
                    "testing",
                    s("2"),
                    s("8Gi"),
                    s("4"),
                    s("16Gi"),
                    s("50Gi"),
                    "high"
                ),
            ]
        );
        assert_eq!(
            (profiles[0].cpu_utilization, profiles[0].memory_utilization),
            (70, 80)
        );
    }

    #[test]
    fn bad_figures_are_refused_by_field() {
        let base = ProfileConfig {
            name: "impl".into(),
            ..ProfileConfig::default()
        };
        let cases = [
            (
                ProfileConfig {
                    name: "Impl".into(),
                    ..base.clone()
                },
                "profile name",
            ),
            (
                ProfileConfig {
                    requests: QuantitiesConfig {
                        cpu: Some("8".into()),
                        memory: None,
                    },
                    ..base.clone()
                },
                "limits must be at least the requests",
            ),
            (
                ProfileConfig {
                    priority_class: Some("urgent".into()),
                    ..base.clone()
                },
                "priority_class",
            ),
            (
                ProfileConfig {
                    replicas_min: Some(5),
                    replicas_max: Some(2),
                    ..base.clone()
                },
                "replicas",
            ),
            (
                ProfileConfig {
                    scale: ScaleConfig {
                        cpu_utilization: Some(0),
                        ..ScaleConfig::default()
                    },
                    ..base.clone()
                },
                "scale.cpu_utilization",
            ),
            (
                ProfileConfig {
                    storage: Some("lots".into()),
                    ..base.clone()
                },
                "storage",
            ),
        ];
        for (config, expected) in cases {
            let err = config.resolve().unwrap_err();
            assert!(err.contains(expected), "{err} should name {expected}");
        }
        assert!(base.resolve().is_ok());
    }
}
