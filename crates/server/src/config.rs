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

/// `[http]`: how long clients may take and how many may connect. Every field is optional.
#[derive(Clone, Debug, Default, PartialEq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct HttpSection {
    /// From a connection's opening, or its last answer, to a whole request head (so also how
    /// long a kept-alive connection may idle). Default 10,000.
    pub header_read_timeout_ms: Option<u64>,
    /// From a request's head to the end of its body. Default 30,000.
    pub body_read_timeout_ms: Option<u64>,
    /// Connections open at once, health-check headroom included. Default 4,096.
    pub connections_max: Option<usize>,
    /// Connections kept for `/healthz` when clients hold all others. Default 32.
    pub health_headroom: Option<usize>,
    /// Request line and headers at most, in bytes (beyond: 431). Default 65,536.
    pub header_bytes_max: Option<usize>,
}

/// The body-read timeout by default.
pub const BODY_READ_TIMEOUT_MS_DEFAULT: u64 = 30_000;

impl HttpSection {
    /// The listener's limits, checked.
    pub fn listen_limits(&self) -> Result<crate::listen::ListenLimits, String> {
        let defaults = crate::listen::ListenLimits::default();
        let millis = |value: Option<u64>, name: &str, default: std::time::Duration| match value {
            None => Ok(default),
            Some(ms) if (1..=3_600_000).contains(&ms) => Ok(std::time::Duration::from_millis(ms)),
            Some(ms) => Err(format!("http.{name} must be 1 to 3600000, not {ms}")),
        };
        let limits = crate::listen::ListenLimits {
            header_read_timeout: millis(
                self.header_read_timeout_ms,
                "header_read_timeout_ms",
                defaults.header_read_timeout,
            )?,
            connections_max: self.connections_max.unwrap_or(defaults.connections_max),
            health_headroom: self.health_headroom.unwrap_or(defaults.health_headroom),
            header_bytes_max: self.header_bytes_max.unwrap_or(defaults.header_bytes_max),
            headers_max: defaults.headers_max,
        };
        if !(2..=1_000_000).contains(&limits.connections_max) {
            return Err("http.connections_max must be 2 to 1000000".into());
        }
        if limits.health_headroom == 0 || limits.health_headroom >= limits.connections_max {
            return Err(format!(
                "http.health_headroom must be at least 1 and below connections_max ({})",
                limits.connections_max
            ));
        }
        if !(1_024..=16 << 20).contains(&limits.header_bytes_max) {
            return Err("http.header_bytes_max must be 1024 to 16777216".into());
        }
        Ok(limits)
    }

    pub fn body_read_timeout(&self) -> Result<std::time::Duration, String> {
        match self.body_read_timeout_ms {
            None => Ok(std::time::Duration::from_millis(
                BODY_READ_TIMEOUT_MS_DEFAULT,
            )),
            Some(ms) if (1..=3_600_000).contains(&ms) => Ok(std::time::Duration::from_millis(ms)),
            Some(ms) => Err(format!(
                "http.body_read_timeout_ms must be 1 to 3600000, not {ms}"
            )),
        }
    }
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

fn default_amount_max() -> u64 {
    purser_core::ledger::AMOUNT_MAX_DEFAULT
}

impl Default for Config {
    fn default() -> Self {
        Config {
            listen: default_listen(),
            data_dir: default_data_dir(),
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
        if !(1..=1 << 62).contains(&config.amount_max) {
            return Err("amount_max must be 1 to 4611686018427387904 (2^62)".into());
        }
        config.http.listen_limits()?;
        config.http.body_read_timeout()?;
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

# The largest amount one usage report, settlement or hold may carry in one dimension (10^12);
# larger ones are refused with 400 amount_too_large. Sums never refuse: far beyond any real
# total they stop growing at 2^64 - 1.
amount_max = 1000000000000

# The HTTP listener. A client must send a whole request head within header_read_timeout_ms of
# connecting or of its last answer (so an idle kept-alive connection closes then too), and its
# body within body_read_timeout_ms. At most connections_max connections are open; the last
# health_headroom of them only answer /healthz (503 to anything else), so that a probe gets
# through when clients hold all others.
[http]
header_read_timeout_ms = 10000
body_read_timeout_ms = 30000
connections_max = 4096
health_headroom = 32
header_bytes_max = 65536

# Bearer tokens. Roles: admin (everything), operator (manage and read accounts under the scope),
# agent (report, reserve, settle and read under the scope; cannot change limits). An operator
# creates and changes accounts below its scope; changing the scope's own account takes budget
# from its parent, so it needs a token whose scope covers the parent. The audit log names the
# token that made each change by its name.
# Without any token the server accepts anonymous requests, and only on a loopback address.
# [[tokens]]
# name = "platform-admin"
# token = "change-me-to-a-long-random-string"
# role = "admin"
#
# [[tokens]]
# name = "research-agents"
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
# A grant needs a forecast at least this confident (default: alert_confidence), resting on at
# least grant_backtests_min backtested predictions; a child at its stop threshold gets none (an
# operator lifts a stop). One pass hands out at most grant_pass_share of a pool beyond its
# reserve, and one grant adds at most grant_growth_max of the child's limit.
# grant_confidence = 0.85
grant_backtests_min = 5
grant_pass_share = 0.5
grant_growth_max = 1.0

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
