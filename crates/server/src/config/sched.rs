//! The scheduler's part of `purser.toml`: `[scheduler]`, `[[pool]]` (the shape of a platform
//! file's pools), `[[quota]]` and `[[limit_range]]`, and their conversion to the live state's
//! [`DagConfig`], which also validates them.

use purser_sched::{
    DagConfig, DagLimits, Dimension, LimitRange, LimitRanges, Platform, Pool, QuotaLimit, Quotas,
    Resources, Weights,
};
use serde::Deserialize;

/// Lease TTLs the scheduler accepts.
pub const LEASE_TTL_MS_MIN: u64 = 100;
pub const LEASE_TTL_MS_MAX: u64 = 3_600_000;

#[derive(Clone, Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SchedulerConfig {
    /// A lease (or a placement not yet leased) not renewed within this returns its task to
    /// ELIGIBLE; a worker unseen for this long gets no new placements.
    #[serde(default = "default_lease_ttl")]
    pub lease_ttl_ms: u64,
    /// Placement objective: finish time, cost, fragmentation (default 0.6, 0.3, 0.1).
    #[serde(default)]
    pub weights: Option<WeightsConfig>,
    /// DAGs kept; finished ones are forgotten oldest first.
    #[serde(default = "default_dags_max")]
    pub dags_max: usize,
    #[serde(default = "default_tasks_per_dag_max")]
    pub tasks_per_dag_max: usize,
}

impl Default for SchedulerConfig {
    fn default() -> Self {
        SchedulerConfig {
            lease_ttl_ms: default_lease_ttl(),
            weights: None,
            dags_max: default_dags_max(),
            tasks_per_dag_max: default_tasks_per_dag_max(),
        }
    }
}

fn default_lease_ttl() -> u64 {
    30_000
}

fn default_dags_max() -> usize {
    DagLimits::default().dags_max
}

fn default_tasks_per_dag_max() -> usize {
    DagLimits::default().tasks_per_dag_max
}

#[derive(Clone, Copy, Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct WeightsConfig {
    pub finish: f64,
    pub cost: f64,
    pub fragmentation: f64,
}

/// A pool, as in a platform file. In the server, a pool with `spot_per_hour_micros` runs spot
/// machines: placed at the spot price, and only tasks whose slack absorbs an interruption go
/// there (their workers report interruptions with `POST /v1/workers/{id}:interrupted`).
pub type PoolConfig = purser_sched::PoolSpec;

/// A tenant's quota on one pool and dimension, with Kueue's borrowing and lending limits.
#[derive(Clone, Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct QuotaConfig {
    pub tenant: String,
    pub pool: String,
    /// `cores`, `memory_bytes` or `gpu`.
    pub dimension: String,
    pub nominal: u64,
    pub borrowing_limit: Option<u64>,
    pub lending_limit: Option<u64>,
}

/// Per dimension; an absent one is unset.
#[derive(Clone, Copy, Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ResourcesConfig {
    pub cores: Option<u64>,
    pub memory_bytes: Option<u64>,
    pub gpu: Option<u64>,
}

/// Defaults and bounds of a tenant's task requests on one pool, like a Kubernetes LimitRange.
#[derive(Clone, Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct LimitRangeConfig {
    pub tenant: String,
    pub pool: String,
    #[serde(default)]
    pub default: ResourcesConfig,
    #[serde(default)]
    pub min: ResourcesConfig,
    #[serde(default)]
    pub max: ResourcesConfig,
}

impl ResourcesConfig {
    fn to_resources(self, unset: u64) -> Resources {
        Resources {
            cores: self.cores.unwrap_or(unset),
            memory_bytes: self.memory_bytes.unwrap_or(unset),
            gpu: self.gpu.unwrap_or(unset),
            ..Resources::ZERO
        }
    }
}

fn dimension(name: &str, custom: &[String]) -> Option<Dimension> {
    Dimension::named(name, custom)
}

fn tenant(text: &str, field: &str) -> Result<(), String> {
    purser_core::AccountPath::parse(text)
        .map(|_| ())
        .map_err(|err| format!("{field}: {err}"))
}

/// The live state's config from the server's; every error names the entry at fault.
pub fn dag_config(config: &crate::Config) -> Result<DagConfig, String> {
    let scheduler = &config.scheduler;
    if !(LEASE_TTL_MS_MIN..=LEASE_TTL_MS_MAX).contains(&scheduler.lease_ttl_ms) {
        return Err(format!(
            "scheduler.lease_ttl_ms must be {LEASE_TTL_MS_MIN} to {LEASE_TTL_MS_MAX}"
        ));
    }
    let weights = match scheduler.weights {
        None => Weights::default(),
        Some(w) => {
            let all = [w.finish, w.cost, w.fragmentation];
            if all.iter().any(|w| !(w.is_finite() && *w >= 0.0)) || all.iter().sum::<f64>() <= 0.0 {
                return Err("scheduler.weights must be zero or more and not all zero".to_string());
            }
            Weights {
                finish: w.finish,
                cost: w.cost,
                fragmentation: w.fragmentation,
            }
        }
    };
    let defaults = DagLimits::default();
    if !(1..=defaults.tasks_max).contains(&scheduler.tasks_per_dag_max) {
        return Err(format!(
            "scheduler.tasks_per_dag_max must be 1 to {}",
            defaults.tasks_max
        ));
    }
    if !(1..=1_000_000).contains(&scheduler.dags_max) {
        return Err("scheduler.dags_max must be 1 to 1000000".to_string());
    }
    let custom_dimensions =
        purser_sched::custom_dimensions(&config.pool).map_err(|err| err.to_string())?;
    let pools = pools(&config.pool, &custom_dimensions)?;
    let pool_exists = |name: &str| pools.iter().any(|pool| pool.name == name);
    let mut quotas = Quotas::default();
    let mut seen = std::collections::HashSet::new();
    for (idx, entry) in config.quota.iter().enumerate() {
        tenant(&entry.tenant, &format!("quota[{idx}].tenant"))?;
        if !pool_exists(&entry.pool) {
            return Err(format!("quota[{idx}].pool: no pool named {}", entry.pool));
        }
        let dim = dimension(&entry.dimension, &custom_dimensions).ok_or_else(|| {
            let custom = custom_dimensions
                .iter()
                .map(|name| format!(", {name}"))
                .collect::<String>();
            format!(
                "quota[{idx}].dimension: {} is not cores, memory_bytes, gpu{custom} (a custom dimension is one a pool's capacity offers)",
                entry.dimension
            )
        })?;
        if !seen.insert((entry.tenant.as_str(), entry.pool.as_str(), dim)) {
            return Err(format!(
                "quota[{idx}]: tenant {} already has a {} quota on pool {}",
                entry.tenant, entry.dimension, entry.pool
            ));
        }
        let limit = QuotaLimit {
            nominal: entry.nominal,
            borrowing_limit: entry.borrowing_limit,
            lending_limit: entry.lending_limit,
        };
        quotas.set(&entry.tenant, &entry.pool, dim, limit);
    }
    let mut limit_ranges = LimitRanges::default();
    for (idx, entry) in config.limit_range.iter().enumerate() {
        tenant(&entry.tenant, &format!("limit_range[{idx}].tenant"))?;
        if !pool_exists(&entry.pool) {
            return Err(format!(
                "limit_range[{idx}].pool: no pool named {}",
                entry.pool
            ));
        }
        let min = entry.min.to_resources(0);
        let max = entry.max.to_resources(u64::MAX);
        // Without a default, a task that requests nothing gets the minimum (and a core).
        let fallback = Resources {
            cores: min.cores.max(1).min(max.cores),
            ..min
        };
        let default = Resources {
            cores: entry.default.cores.unwrap_or(fallback.cores),
            memory_bytes: entry.default.memory_bytes.unwrap_or(fallback.memory_bytes),
            gpu: entry.default.gpu.unwrap_or(fallback.gpu),
            ..Resources::ZERO
        };
        let range = LimitRange { default, min, max };
        for dim in Dimension::ALL[..3].iter().copied() {
            let (min, max) = (range.min.get(dim), range.max.get(dim));
            let default = range.default.get(dim);
            if min > max || (default != 0 && (default < min || default > max)) {
                return Err(format!(
                    "limit_range[{idx}].{}: min {min}, default {default} and max {max} are out of order",
                    dim.name()
                ));
            }
        }
        limit_ranges.set(&entry.tenant, &entry.pool, range);
    }
    Ok(DagConfig {
        pools,
        weights,
        lease_ttl_ms: scheduler.lease_ttl_ms,
        quotas: (!config.quota.is_empty()).then_some(quotas),
        limit_ranges,
        custom_dimensions,
        limits: DagLimits {
            dags_max: scheduler.dags_max,
            tasks_per_dag_max: scheduler.tasks_per_dag_max,
            ..defaults
        },
    })
}

fn pools(entries: &[PoolConfig], custom: &[String]) -> Result<Vec<Pool>, String> {
    let pools: Vec<Pool> = entries
        .iter()
        .enumerate()
        .map(|(idx, entry)| {
            entry
                .to_pool(custom)
                .map_err(|err| format!("pool[{idx}]: {err}"))
        })
        .collect::<Result<_, _>>()?;
    if pools.is_empty() {
        return Ok(pools);
    }
    for (idx, pool) in pools.iter().enumerate() {
        // Pool names appear in worker ids (POOL-INDEX), which appear in URLs.
        let url_safe = |byte: u8| byte.is_ascii_alphanumeric() || b"._-".contains(&byte);
        if pool.name.is_empty() || !pool.name.bytes().all(url_safe) {
            return Err(format!(
                "pool[{idx}].name {:?} must be letters, digits, '.', '_' or '-'",
                pool.name
            ));
        }
    }
    let platform = Platform {
        bandwidth_mbps: 1_000.0,
        pools,
    };
    platform.validate().map_err(|err| err.to_string())?;
    let n_machines: u64 = platform.pools.iter().map(|pool| pool.machines as u64).sum();
    if n_machines > purser_sched::MACHINES_MAX as u64 {
        return Err(format!(
            "the pools have {n_machines} machines, at most {}",
            purser_sched::MACHINES_MAX
        ));
    }
    if platform.pools.len() > purser_sched::POOLS_MAX {
        return Err(format!(
            "{} pools configured, at most {}",
            platform.pools.len(),
            purser_sched::POOLS_MAX
        ));
    }
    Ok(platform.pools)
}
