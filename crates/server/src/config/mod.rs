//! The server's configuration: `purser.toml`.

use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::path::PathBuf;

use serde::Deserialize;

pub use crate::auth::TokenConfig;

pub mod cluster;
pub mod fleet;
pub mod http;
pub mod manager;
pub mod metrics;
pub mod sched;

pub use http::HttpSection;

#[derive(Clone, Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Config {
    #[serde(default = "default_listen")]
    pub listen: SocketAddr,
    #[serde(default = "default_data_dir")]
    pub data_dir: PathBuf,
    /// Where the journal lives: `sqlite` (in `data_dir`, the default) or a `postgres://` URL
    /// shared by the processes of `[cluster]`.
    #[serde(default)]
    pub store: Option<String>,
    /// Shards, leases and redirects on PostgreSQL (`config/cluster.rs`).
    #[serde(default)]
    pub cluster: cluster::ClusterSection,
    /// `fsync` (default: survives power loss) or `os` (survives a crash of the process only).
    #[serde(default)]
    pub durability: DurabilityConfig,
    /// A snapshot is written after this many events; restart replays at most this many.
    #[serde(default = "default_snapshot_every")]
    pub snapshot_every_events: u64,
    /// Idempotency keys remembered (the oldest are forgotten first).
    #[serde(default = "default_keys")]
    pub idempotency_keys_max: usize,
    /// The largest amount one report, settlement or hold may carry in one dimension.
    #[serde(default = "default_amount_max")]
    pub amount_max: u64,
    /// Timeouts and connection limits of the HTTP listener.
    #[serde(default)]
    pub http: HttpSection,
    #[serde(default)]
    pub tokens: Vec<TokenConfig>,
    #[serde(default)]
    pub defaults: DefaultsConfig,
    #[serde(default)]
    pub accounts: Vec<AccountConfigEntry>,
    /// The scheduler (`config_sched.rs`): lease TTL, weights, pools, quotas, limit ranges.
    #[serde(default)]
    pub scheduler: sched::SchedulerConfig,
    #[serde(default)]
    pub pool: Vec<sched::PoolConfig>,
    #[serde(default)]
    pub quota: Vec<sched::QuotaConfig>,
    #[serde(default)]
    pub limit_range: Vec<sched::LimitRangeConfig>,
    /// Forecasts, alerts and the optimizer (`config_manager.rs`).
    #[serde(default)]
    pub manager: manager::ManagerSection,
    /// What `GET /metrics` shows (`config/metrics.rs`).
    #[serde(default)]
    pub metrics: metrics::MetricsSection,
    /// Agent profiles; the Kubernetes guide's three when none is given.
    #[serde(default)]
    pub profile: Vec<purser_k8s::profile::ProfileConfig>,
    #[serde(default)]
    pub agents: fleet::AgentsSection,
    #[serde(default)]
    pub monitor: fleet::MonitorSection,
}

#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum DurabilityConfig {
    #[default]
    Fsync,
    Os,
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

fn default_amount_max() -> u64 {
    purser_core::ledger::AMOUNT_MAX_DEFAULT
}

impl Default for Config {
    fn default() -> Self {
        Config {
            listen: default_listen(),
            data_dir: default_data_dir(),
            store: None,
            cluster: cluster::ClusterSection::default(),
            durability: DurabilityConfig::default(),
            snapshot_every_events: default_snapshot_every(),
            idempotency_keys_max: default_keys(),
            amount_max: default_amount_max(),
            http: HttpSection::default(),
            tokens: Vec::new(),
            defaults: DefaultsConfig::default(),
            accounts: Vec::new(),
            scheduler: Default::default(),
            pool: Vec::new(),
            quota: Vec::new(),
            limit_range: Vec::new(),
            manager: manager::ManagerSection::default(),
            metrics: metrics::MetricsSection::default(),
            profile: Vec::new(),
            agents: fleet::AgentsSection::default(),
            monitor: fleet::MonitorSection::default(),
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
        if !(1..=1 << 62).contains(&config.amount_max) {
            return Err("amount_max must be 1 to 4611686018427387904 (2^62)".into());
        }
        config.store()?;
        config.cluster.check()?;
        config.http.listen_limits()?;
        config.http.body_read_timeout()?;
        sched::dag_config(&config)?;
        config.manager.to_config()?;
        config.metrics.check()?;
        config.fleet()?;
        Ok(config)
    }

    /// Where the journal lives.
    pub fn store(&self) -> Result<cluster::Store, String> {
        cluster::Store::parse(self.store.as_deref())
    }

    /// The fleet's profiles and settings, resolved and checked.
    pub fn fleet(&self) -> Result<fleet::FleetConfig, String> {
        fleet::fleet_config(&self.profile, &self.agents, &self.monitor)
    }

    /// A commented example, what `purser init` writes.
    pub fn example() -> &'static str {
        EXAMPLE
    }
}

const EXAMPLE: &str = include_str!("example.toml");

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
        let fleet = config.fleet().unwrap();
        let defaults = fleet::FleetConfig::default();
        assert_eq!(fleet.profiles, defaults.profiles);
        assert_eq!(fleet.monitor, defaults.monitor);
        assert_eq!(fleet.heartbeat_ttl_ms, defaults.heartbeat_ttl_ms);
    }

    #[test]
    fn profiles_and_fleet_sections_are_checked() {
        let check = |text: &str, fragment: &str| {
            let err = Config::parse(text).unwrap_err();
            assert!(err.contains(fragment), "{err} lacks {fragment}");
        };
        check(
            "[[profile]]\nname = \"impl\"\nrequests = { cpu = \"8\" }",
            "profile impl: limits must be at least the requests",
        );
        check(
            "[[profile]]\nname = \"a\"\n[[profile]]\nname = \"a\"",
            "profile a is configured twice",
        );
        check("[agents]\nheartbeat_ttl_ms = 5", "agents.heartbeat_ttl_ms");
        check("[monitor]\nwarning = 0.99\ncritical = 0.9", "monitor");
        let config = Config::parse("[[profile]]\nname = \"reviewer\"\nrole = \"quality\"").unwrap();
        let fleet = config.fleet().unwrap();
        assert_eq!(fleet.profiles.len(), 1);
        assert_eq!(fleet.profiles[0].requests.cpu_millicores, 1_000);
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
        // API and people pools: a bad definition names the pool and the field.
        check(
            "[[pool]]\nname = \"llm\"\nkind = \"api\"\nmachines = 4",
            "pool[0]: pool llm is invalid: requests_per_minute",
        );
        check(
            "[[pool]]\nname = \"rev\"\nkind = \"people\"\npeople = 2\nhours = \"09:00-17:00\"\ntimezone = \"Europe/Nowhere\"",
            "pool[0]: pool rev is invalid: timezone",
        );
        let config = Config::parse(
            "[[pool]]\nname = \"llm\"\nkind = \"api\"\nmachines = 4\nrequests_per_minute = 500\ntokens_per_minute = 200000\n\
             [[pool]]\nname = \"rev\"\nkind = \"people\"\npeople = 2\nhours = \"09:00-17:00\"\ndays = \"mon-fri\"\ntimezone = \"Europe/Berlin\"\nholidays = [\"2026-12-25\"]",
        )
        .unwrap();
        assert_eq!(config.pool.len(), 2);
        // Any dimension a pool offers may have a quota; another is refused, naming the ones
        // there are.
        let licensed =
            "[[pool]]\nname = \"cad\"\nmachines = 2\ncores = 8\ncapacity = { licenses = 1 }\n";
        Config::parse(&format!(
            "{licensed}[[quota]]\ntenant = \"acme\"\npool = \"cad\"\ndimension = \"licenses\"\nnominal = 1"
        ))
        .unwrap();
        check(
            &format!(
                "{licensed}[[quota]]\ntenant = \"acme\"\npool = \"cad\"\ndimension = \"seats\"\nnominal = 1"
            ),
            "quota[0].dimension: seats is not cores, memory_bytes, gpu, licenses",
        );
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
