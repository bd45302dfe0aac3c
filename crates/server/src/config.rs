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
