//! The server's configuration: `purser.toml`.

use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::path::PathBuf;

use serde::Deserialize;

use crate::auth::Role;

#[derive(Clone, Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Config {
    #[serde(default = "default_listen")]
    pub listen: SocketAddr,
    #[serde(default = "default_data_dir")]
    pub data_dir: PathBuf,
    /// `fsync` (default: survives power loss) or `os` (survives a crash of the process only).
    #[serde(default)]
    pub durability: DurabilityConfig,
    /// A snapshot is written after this many events; restart replays at most this many.
    #[serde(default = "default_snapshot_every")]
    pub snapshot_every_events: u64,
    /// Idempotency keys remembered (the oldest are forgotten first).
    #[serde(default = "default_keys")]
    pub idempotency_keys_max: usize,
    #[serde(default)]
    pub tokens: Vec<TokenConfig>,
    #[serde(default)]
    pub defaults: DefaultsConfig,
    #[serde(default)]
    pub accounts: Vec<AccountConfigEntry>,
    /// The scheduler (`config_sched.rs`): lease TTL, weights, pools, quotas, limit ranges.
    #[serde(default)]
    pub scheduler: crate::config_sched::SchedulerConfig,
    #[serde(default)]
    pub pool: Vec<crate::config_sched::PoolConfig>,
    #[serde(default)]
    pub quota: Vec<crate::config_sched::QuotaConfig>,
    #[serde(default)]
    pub limit_range: Vec<crate::config_sched::LimitRangeConfig>,
    /// Forecasts, alerts and the optimizer (`config_manager.rs`).
    #[serde(default)]
    pub manager: crate::config_manager::ManagerSection,
}

#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum DurabilityConfig {
    #[default]
    Fsync,
    Os,
}

#[derive(Clone, Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TokenConfig {
    pub token: String,
    pub role: Role,
    /// An account path prefix; empty or absent for every account.
    #[serde(default)]
    pub scope: String,
    /// A name for the audit log.
    #[serde(default)]
    pub name: Option<String>,
}

#[derive(Clone, Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct DefaultsConfig {
    pub warn: Option<f64>,
    pub throttle: Option<f64>,
    pub degrade: Option<f64>,
    pub stop: Option<f64>,
    pub throttle_rate: Option<f64>,
    pub reserve: Option<f64>,
}

/// An account to create at start when it does not exist yet.
#[derive(Clone, Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct AccountConfigEntry {
    pub path: String,
    #[serde(default)]
    pub limits: BTreeMap<String, u64>,
    pub kind: Option<String>,
    pub weight: Option<f64>,
}

fn default_listen() -> SocketAddr {
    SocketAddr::from(([127, 0, 0, 1], 7543))
}

fn default_data_dir() -> PathBuf {
    PathBuf::from("./purser-data")
}

fn default_snapshot_every() -> u64 {
    1_000_000
}

fn default_keys() -> usize {
    1_000_000
}

impl Default for Config {
    fn default() -> Self {
        Config {
            listen: default_listen(),
            data_dir: default_data_dir(),
            durability: DurabilityConfig::default(),
            snapshot_every_events: default_snapshot_every(),
            idempotency_keys_max: default_keys(),
            tokens: Vec::new(),
            defaults: DefaultsConfig::default(),
            accounts: Vec::new(),
            scheduler: Default::default(),
            pool: Vec::new(),
            quota: Vec::new(),
            limit_range: Vec::new(),
            manager: crate::config_manager::ManagerSection::default(),
        }
    }
}

impl Config {
    pub fn parse(text: &str) -> Result<Config, String> {
        let config: Config = toml::from_str(text).map_err(|err| err.to_string())?;
        for (idx, token) in config.tokens.iter().enumerate() {
            if token.token.len() < 16 {
                return Err(format!(
                    "tokens[{idx}].token must be at least 16 characters"
                ));
            }
            if !token.scope.is_empty() {
                purser_core::AccountPath::parse(&token.scope)
                    .map_err(|err| format!("tokens[{idx}].scope: {err}"))?;
            }
        }
        if config.snapshot_every_events == 0 {
            return Err("snapshot_every_events must be at least 1".into());
        }
        crate::config_sched::dag_config(&config)?;
        config.manager.to_config()?;
        Ok(config)
    }

    /// A commented example, what `purser init` writes.
    pub fn example() -> &'static str {
        EXAMPLE
    }
}

const EXAMPLE: &str = r#"# Purser configuration. Every key is optional; these are the defaults unless said otherwise.

# Where the HTTP API listens. Without tokens, only a loopback address is allowed.
listen = "127.0.0.1:7543"

# Where the journal (SQLite, inspectable with any SQLite tool) and snapshots live.
data_dir = "./purser-data"

# "fsync": every acknowledged event survives a power loss (the default).
# "os": acknowledged events survive a crash of the process (kill -9), not of the machine.
durability = "fsync"

# A snapshot is written every this many events; a restart replays at most this many.
snapshot_every_events = 1000000

# How many idempotency keys are remembered; a retry older than that is counted again.
idempotency_keys_max = 1000000

# Bearer tokens. Roles: admin (everything), operator (manage and read accounts under the scope),
# agent (report, reserve, settle and read under the scope; cannot change limits).
# Without any token the server accepts anonymous requests, and only on a loopback address.
# [[tokens]]
# token = "change-me-to-a-long-random-string"
# role = "admin"
#
# [[tokens]]
# token = "another-long-random-string-for-agents"
# role = "agent"
# scope = "acme/research"

# The thresholds and settings a new account starts with (fractions of its limit).
[defaults]
warn = 0.50
throttle = 0.75
degrade = 0.90
stop = 0.95
throttle_rate = 0.5
reserve = 0.10

# Forecasts, alerts and the optimizer. An account forecast to exhaust a limit within
# lead_time_ms, with at least alert_confidence, is moved to warn. Every optimizer_every_ms, idle
# children (below idle_used_max of their limit, inactive idle_after_ms) give reclaim_share of
# what they have left back to their parent's pool, and children above grant_above whose forecast
# passes their limit receive grants from the pool (never from the reserve), most urgent first.
[manager]
optimizer_every_ms = 10000
lead_time_ms = 60000
alert_confidence = 0.85
alerts_every_ms = 5000
forecast_series_max = 10000
horizon_ms = 3600000
idle_used_max = 0.25
idle_after_ms = 60000
reclaim_share = 0.5
grant_above = 0.80
min_share = 0.05
# max_share = 0.5

# The scheduler: DAGs of tasks placed on pools of machines; workers pull the tasks placed on
# their machine (POST /v1/workers/POOL-INDEX:lease) and must renew their lease within the TTL.
[scheduler]
lease_ttl_ms = 30000
# Placement objective: finish time, cost, fragmentation.
weights = { finish = 0.6, cost = 0.3, fragmentation = 0.1 }
# DAGs kept (finished ones are forgotten oldest first) and tasks per DAG at most.
dags_max = 10000
tasks_per_dag_max = 100000

# Pools of machines, the shape of a `purser schedule` platform file. There is none by default
# (DAG submissions are refused); this one is the example's. Worker ids are POOL-INDEX: local-0.
[[pool]]
name = "local"
machines = 1
cores = 8
speed = 1.0
#
# [[pool]]
# name = "c6i-2xlarge"
# machines = 4
# cores = 8
# memory_bytes = 17179869184
# speed = 1.4
# on_demand_per_hour_micros = 340000

# Quotas per tenant, pool and dimension (cores, memory_bytes, gpu), with borrowing and lending
# limits towards the other tenants (as in Kueue). A task above what its quota can ever admit is
# refused (409); one that must wait for capacity stays ELIGIBLE.
# [[quota]]
# tenant = "acme"
# pool = "local"
# dimension = "cores"
# nominal = 4
# borrowing_limit = 2
# lending_limit = 1

# Defaults and bounds of a tenant's task requests on a pool (as a Kubernetes LimitRange):
# a request outside [min, max] is refused (400); a dimension a task does not request takes the
# default, or the minimum without one (and at least one core).
# [[limit_range]]
# tenant = "acme"
# pool = "local"
# default = { cores = 1 }
# min = { cores = 1 }
# max = { cores = 4, gpu = 0 }

# Accounts created at start when they do not exist yet (parents first).
# [[accounts]]
# path = "acme"
# kind = "org"
# limits = { tokens = 10000000, cost_micros = 500000000 }
#
# [[accounts]]
# path = "acme/research"
# kind = "team"
# limits = { tokens = 4000000 }
"#;

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_example_parses_to_the_defaults() {
        let config = Config::parse(Config::example()).unwrap();
        assert_eq!(config.listen, default_listen());
        assert_eq!(config.defaults.stop, Some(0.95));
        assert!(config.tokens.is_empty());
        assert_eq!(config.scheduler.lease_ttl_ms, 30_000);
        assert_eq!(config.pool.len(), 1);
    }

    #[test]
    fn scheduler_sections_are_checked() {
        let pool = "[[pool]]\nname = \"local\"\nmachines = 1\ncores = 8\n";
        let check = |text: &str, fragment: &str| {
            let err = Config::parse(text).unwrap_err();
            assert!(err.contains(fragment), "{err} lacks {fragment}");
        };
        check("[scheduler]\nlease_ttl_ms = 5", "scheduler.lease_ttl_ms");
        check(
            &format!(
                "{pool}[[quota]]\ntenant = \"acme\"\npool = \"gpu\"\ndimension = \"cores\"\nnominal = 1"
            ),
            "quota[0].pool",
        );
        check(
            &format!(
                "{pool}[[quota]]\ntenant = \"acme\"\npool = \"local\"\ndimension = \"disk\"\nnominal = 1"
            ),
            "quota[0].dimension",
        );
        check(
            &format!(
                "{pool}[[limit_range]]\ntenant = \"acme\"\npool = \"local\"\nmin = {{ cores = 4 }}\nmax = {{ cores = 2 }}"
            ),
            "limit_range[0].cores",
        );
        check(
            "[[pool]]\nname = \"a b\"\nmachines = 1\ncores = 8",
            "pool[0].name",
        );
        check("[[pool]]\nname = \"a\"\nmachines = 0\ncores = 8", "pool a");
        let config = Config::parse(&format!("{pool}[[quota]]\ntenant = \"acme\"\npool = \"local\"\ndimension = \"cores\"\nnominal = 4\nborrowing_limit = 2")).unwrap();
        assert_eq!(config.quota[0].borrowing_limit, Some(2));
    }

    #[test]
    fn bad_configs_name_what_is_wrong() {
        let err = Config::parse("listn = \"x\"").unwrap_err();
        assert!(err.contains("listn"), "{err}");
        let err = Config::parse("[[tokens]]\ntoken = \"short\"\nrole = \"admin\"").unwrap_err();
        assert!(err.contains("tokens[0].token"), "{err}");
        let err =
            Config::parse("[[tokens]]\ntoken = \"0123456789abcdef\"\nrole = \"king\"").unwrap_err();
        assert!(err.contains("king"), "{err}");
    }
}
