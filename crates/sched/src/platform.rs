//! Pools of capacity and the platform TOML that describes them: machines (the local machine,
//! cloud on demand or spot), an external API's rate limits, and people with working hours.

use serde::Deserialize;

use crate::SchedError;
use crate::calendar::WorkingHours;
use crate::resources::{CUSTOM_DIMS_MAX, Dimension, Resources};

/// What a pool's slots are.
#[derive(Debug, Clone, PartialEq, Default)]
pub enum PoolKind {
    /// Machines: tasks hold cores, memory and GPUs for their runtime.
    #[default]
    Machines,
    /// Callers of an external API whose rate limits refill: no sliding minute may carry more
    /// than these (a task declares the requests and tokens it will use).
    Api {
        requests_per_minute: Option<u64>,
        tokens_per_minute: Option<u64>,
    },
    /// People: a task that needs a person starts only within their working hours, and its
    /// work pauses outside them.
    People(WorkingHours),
}

impl PoolKind {
    pub fn name(&self) -> &'static str {
        match self {
            PoolKind::Machines => "machines",
            PoolKind::Api { .. } => "api",
            PoolKind::People(_) => "people",
        }
    }
}

/// A kind of machine and how many of it may run at once.
#[derive(Debug, Clone, PartialEq)]
pub struct Pool {
    pub name: String,
    /// Most machines of this pool running at once (a replaced spot machine frees its slot).
    pub machines: u32,
    pub capacity: Resources,
    /// Relative speed: runtime on this pool = recorded runtime / speed.
    pub speed: f64,
    /// 0 for a pool that costs nothing (the local machine).
    pub on_demand_per_hour_micros: u64,
    /// None when the pool offers no spot machines.
    pub spot_per_hour_micros: Option<u64>,
    /// Time from asking for a machine to the machine accepting tasks.
    pub startup_s: f64,
    /// Rate of spot interruptions per machine-hour.
    pub interruptions_per_hour: f64,
    pub kind: PoolKind,
}

impl Pool {
    /// `machines` free machines of `cores` cores at speed 1, started at once: the local
    /// machine's kind of pool.
    pub fn local(name: &str, machines: u32, cores: u64) -> Pool {
        Pool {
            name: name.into(),
            machines,
            capacity: Resources::cores(cores),
            speed: 1.0,
            on_demand_per_hour_micros: 0,
            spot_per_hour_micros: None,
            startup_s: 0.0,
            interruptions_per_hour: 0.0,
            kind: PoolKind::Machines,
        }
    }
}

/// The machines a workflow may run on.
#[derive(Debug, Clone, PartialEq)]
pub struct Platform {
    /// Between machines; tasks on one machine exchange files for free.
    pub bandwidth_mbps: f64,
    pub pools: Vec<Pool>,
}

impl Platform {
    /// Seconds to move `bytes` between two machines.
    pub fn transfer_s(&self, bytes: u64) -> f64 {
        bytes as f64 * 8.0 / (self.bandwidth_mbps * 1e6)
    }

    pub fn pool_index(&self, name: &str) -> Option<usize> {
        self.pools.iter().position(|pool| pool.name == name)
    }

    /// Checks every field; the planner relies on a validated platform.
    pub fn validate(&self) -> Result<(), SchedError> {
        if !(self.bandwidth_mbps.is_finite() && self.bandwidth_mbps > 0.0) {
            return Err(SchedError::InvalidPlatform(format!(
                "bandwidth_mbps {} must be positive",
                self.bandwidth_mbps
            )));
        }
        if self.pools.is_empty() {
            return Err(SchedError::InvalidPlatform("no pool".into()));
        }
        for (pool_idx, pool) in self.pools.iter().enumerate() {
            let invalid = |reason: &str| SchedError::InvalidPool {
                pool: pool.name.clone(),
                reason: reason.to_string(),
            };
            if pool.name.is_empty() || pool.name.contains('#') {
                return Err(invalid("name must be non-empty and without '#'"));
            }
            if self.pools[..pool_idx]
                .iter()
                .any(|other| other.name == pool.name)
            {
                return Err(invalid("name appears twice"));
            }
            if pool.machines == 0 {
                return Err(invalid("machines must be at least 1"));
            }
            if pool.capacity.cores == 0 {
                return Err(invalid("cores must be at least 1"));
            }
            if !(pool.speed.is_finite() && pool.speed > 0.0) {
                return Err(invalid("speed must be positive"));
            }
            if !(pool.startup_s.is_finite() && pool.startup_s >= 0.0) {
                return Err(invalid("startup_s must be zero or more"));
            }
            if !(pool.interruptions_per_hour.is_finite() && pool.interruptions_per_hour >= 0.0) {
                return Err(invalid("interruptions_per_hour must be zero or more"));
            }
        }
        Ok(())
    }
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct PlatformFile {
    bandwidth_mbps: f64,
    #[serde(default)]
    pool: Vec<PoolSpec>,
}

/// One `[[pool]]` as written in a platform file or in the server's `purser.toml`.
#[derive(Clone, Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PoolSpec {
    pub name: String,
    /// `machines` (the default), `api` or `people`.
    #[serde(default)]
    pub kind: Option<String>,
    /// Machines, or an API's concurrent callers. Required but for people.
    pub machines: Option<u32>,
    /// Cores per machine; required for machines, 1 for API callers and people.
    pub cores: Option<u64>,
    pub memory_bytes: Option<u64>,
    #[serde(default)]
    pub gpu: u64,
    #[serde(default = "one")]
    pub speed: f64,
    #[serde(default)]
    pub on_demand_per_hour_micros: u64,
    pub spot_per_hour_micros: Option<u64>,
    #[serde(default)]
    pub startup_s: f64,
    #[serde(default)]
    pub interruptions_per_hour: f64,
    /// An API pool's limits per sliding minute (at least one).
    pub requests_per_minute: Option<u64>,
    pub tokens_per_minute: Option<u64>,
    /// A human pool: how many people, their working hours (`"09:00-17:00"`), days
    /// (`"mon-fri"`), time zone and holidays (`["2026-12-25"]`).
    pub people: Option<u32>,
    pub hours: Option<String>,
    pub days: Option<String>,
    pub timezone: Option<String>,
    #[serde(default)]
    pub holidays: Vec<String>,
    /// What each machine offers of custom dimensions: `capacity = { licenses = 4 }`.
    #[serde(default)]
    pub capacity: std::collections::BTreeMap<String, u64>,
}

/// The custom dimensions the pools of `specs` offer, by name, in name order: the index of a
/// name is its `Dimension::Custom` index. Refuses a built-in name, a malformed one, or more
/// than [`CUSTOM_DIMS_MAX`].
pub fn custom_dimensions(specs: &[PoolSpec]) -> Result<Vec<String>, SchedError> {
    let mut names: Vec<String> = Vec::new();
    for spec in specs {
        for name in spec.capacity.keys() {
            let invalid = |reason: String| SchedError::InvalidPool {
                pool: spec.name.clone(),
                reason: format!("capacity.{name}: {reason}"),
            };
            if Dimension::ALL[..3]
                .iter()
                .any(|builtin| builtin.name() == name)
            {
                return Err(invalid(format!("set {name} as a field of the pool")));
            }
            let well_formed = !name.is_empty()
                && name.len() <= 64
                && name
                    .bytes()
                    .all(|byte| byte.is_ascii_lowercase() || byte.is_ascii_digit() || byte == b'_');
            if !well_formed {
                return Err(invalid("a dimension is 1-64 of a-z, 0-9 and _".into()));
            }
            if !names.contains(name) {
                names.push(name.clone());
            }
        }
    }
    names.sort();
    if names.len() > CUSTOM_DIMS_MAX {
        return Err(SchedError::InvalidPlatform(format!(
            "{} custom dimensions ({}), at most {CUSTOM_DIMS_MAX}",
            names.len(),
            names.join(", ")
        )));
    }
    Ok(names)
}

impl PoolSpec {
    /// The pool it describes, with its kind's fields checked (the rest: `Platform::validate`),
    /// its custom capacity indexed by `custom` (see [`custom_dimensions`]). The error names the
    /// pool and the field.
    pub fn to_pool(&self, custom: &[String]) -> Result<Pool, SchedError> {
        let invalid = |field: &str, reason: String| SchedError::InvalidPool {
            pool: self.name.clone(),
            reason: format!("{field}: {reason}"),
        };
        let kind = self.kind.as_deref().unwrap_or("machines");
        let api_fields = self.requests_per_minute.is_some() || self.tokens_per_minute.is_some();
        let people_fields = self.people.is_some()
            || self.hours.is_some()
            || self.days.is_some()
            || self.timezone.is_some()
            || !self.holidays.is_empty();
        let (machines, kind) = match kind {
            "machines" => {
                if api_fields || people_fields {
                    return Err(invalid(
                        "kind",
                        "requests_per_minute, tokens_per_minute, people, hours, days, timezone and holidays belong to kind \"api\" or \"people\"".into(),
                    ));
                }
                if self.cores.is_none() {
                    return Err(invalid("cores", "a pool of machines needs cores".into()));
                }
                let machines = self
                    .machines
                    .ok_or_else(|| invalid("machines", "how many machines the pool has".into()))?;
                (machines, PoolKind::Machines)
            }
            "api" => {
                if people_fields {
                    return Err(invalid("kind", "people fields on an api pool".into()));
                }
                if !api_fields {
                    return Err(invalid(
                        "requests_per_minute",
                        "an api pool needs requests_per_minute or tokens_per_minute".into(),
                    ));
                }
                for (field, limit) in [
                    ("requests_per_minute", self.requests_per_minute),
                    ("tokens_per_minute", self.tokens_per_minute),
                ] {
                    if limit == Some(0) {
                        return Err(invalid(field, "must be at least 1".into()));
                    }
                }
                let machines = self.machines.ok_or_else(|| {
                    invalid(
                        "machines",
                        "how many callers may use the api at once".into(),
                    )
                })?;
                let kind = PoolKind::Api {
                    requests_per_minute: self.requests_per_minute,
                    tokens_per_minute: self.tokens_per_minute,
                };
                (machines, kind)
            }
            "people" => {
                if api_fields {
                    return Err(invalid("kind", "api limits on a people pool".into()));
                }
                if self.machines.is_some() {
                    return Err(invalid("machines", "a people pool counts people".into()));
                }
                let people = self
                    .people
                    .ok_or_else(|| invalid("people", "how many people the pool has".into()))?;
                let required = |field: &'static str, value: &Option<String>| {
                    value
                        .clone()
                        .ok_or_else(|| invalid(field, "a people pool needs it".into()))
                };
                let hours = WorkingHours::parse(
                    &required("hours", &self.hours)?,
                    self.days.as_deref().unwrap_or("mon-fri"),
                    &required("timezone", &self.timezone)?,
                    &self.holidays,
                )
                .map_err(|(field, reason)| invalid(field, reason))?;
                (people, PoolKind::People(hours))
            }
            other => {
                return Err(invalid(
                    "kind",
                    format!("{other:?} is not machines, api or people"),
                ));
            }
        };
        Ok(Pool {
            name: self.name.clone(),
            machines,
            capacity: Resources {
                cores: self.cores.unwrap_or(1),
                memory_bytes: self.memory_bytes.unwrap_or(u64::MAX),
                gpu: self.gpu,
                custom: custom_capacity(&self.capacity, custom),
            },
            speed: self.speed,
            on_demand_per_hour_micros: self.on_demand_per_hour_micros,
            spot_per_hour_micros: self.spot_per_hour_micros,
            startup_s: self.startup_s,
            interruptions_per_hour: self.interruptions_per_hour,
            kind,
        })
    }
}

/// A pool's custom capacity as amounts indexed like `custom`.
fn custom_capacity(
    capacity: &std::collections::BTreeMap<String, u64>,
    custom: &[String],
) -> [u64; CUSTOM_DIMS_MAX] {
    let mut amounts = [0; CUSTOM_DIMS_MAX];
    for (idx, name) in custom.iter().enumerate().take(CUSTOM_DIMS_MAX) {
        amounts[idx] = capacity.get(name).copied().unwrap_or(0);
    }
    amounts
}

fn one() -> f64 {
    1.0
}

/// Parses and validates a platform TOML (see the crate docs for the format).
pub fn parse_platform(text: &str) -> Result<Platform, SchedError> {
    let file: PlatformFile =
        toml::from_str(text).map_err(|err| SchedError::PlatformToml(err.to_string()))?;
    let custom = custom_dimensions(&file.pool)?;
    let pools = file
        .pool
        .iter()
        .map(|spec| spec.to_pool(&custom))
        .collect::<Result<_, _>>()?;
    let platform = Platform {
        bandwidth_mbps: file.bandwidth_mbps,
        pools,
    };
    platform.validate()?;
    Ok(platform)
}

#[cfg(test)]
mod tests {
    use super::*;

    const EXAMPLE: &str = r#"
bandwidth_mbps = 1000   # between machines
[[pool]]
name = "local"
machines = 1
cores = 8
speed = 1.0
[[pool]]
name = "c6i-2xlarge"
machines = 4
cores = 8
speed = 1.4
on_demand_per_hour_micros = 340000
spot_per_hour_micros = 120000
startup_s = 60
interruptions_per_hour = 0.05
"#;

    #[test]
    fn parses_the_issue_example() {
        let platform = parse_platform(EXAMPLE).unwrap();
        assert_eq!(platform.pools.len(), 2);
        let cloud = &platform.pools[1];
        assert_eq!(cloud.name, "c6i-2xlarge");
        assert_eq!(cloud.capacity.cores, 8);
        assert_eq!(cloud.capacity.memory_bytes, u64::MAX);
        assert_eq!(cloud.spot_per_hour_micros, Some(120_000));
        assert_eq!(platform.pools[0].on_demand_per_hour_micros, 0);
        // 1 GB at 1000 Mbps takes 8 s.
        assert!((platform.transfer_s(1_000_000_000) - 8.0).abs() < 1e-9);
    }

    fn check_error(text: &str, expected_fragment: &str) {
        let err = parse_platform(text).unwrap_err().to_string();
        assert!(
            err.contains(expected_fragment),
            "{err} lacks {expected_fragment}"
        );
    }

    #[test]
    fn rejects_bad_platforms_naming_the_thing() {
        check_error(
            "bandwidth_mbps = 0\n[[pool]]\nname='a'\nmachines=1\ncores=1",
            "bandwidth_mbps",
        );
        check_error("bandwidth_mbps = 1", "no pool");
        check_error(
            "bandwidth_mbps = 1\n[[pool]]\nname='a'\nmachines=0\ncores=1",
            "pool a",
        );
        check_error(
            "bandwidth_mbps = 1\n[[pool]]\nname='a'\nmachines=1\ncores=1\nspeed=0",
            "speed",
        );
        check_error(
            "bandwidth_mbps = 1\n[[pool]]\nname='a'\nmachines=1\ncores=1\n[[pool]]\nname='a'\nmachines=1\ncores=1",
            "twice",
        );
        check_error(
            "bandwidth_mbps = 1\n[[pool]]\nname='a'\nmachines=1\ncores=1\ncolour=1",
            "colour",
        );
    }

    #[test]
    fn parses_api_and_people_pools_and_names_the_bad_field() {
        let platform = parse_platform(
            r#"
bandwidth_mbps = 100
[[pool]]
name = "openai"
kind = "api"
machines = 8
requests_per_minute = 500
tokens_per_minute = 200000
[[pool]]
name = "reviewers"
kind = "people"
people = 5
hours = "09:00-17:00"
days = "mon-fri"
timezone = "Europe/Berlin"
holidays = ["2026-12-25", "2026-12-26"]
"#,
        )
        .unwrap();
        assert_eq!(
            platform.pools[0].kind,
            PoolKind::Api {
                requests_per_minute: Some(500),
                tokens_per_minute: Some(200_000)
            }
        );
        assert_eq!(platform.pools[1].machines, 5);
        assert_eq!(platform.pools[1].kind.name(), "people");
        let base = "bandwidth_mbps = 1\n[[pool]]\nname='p'\n";
        for (fields, expected) in [
            ("kind='api'\nmachines=1", "requests_per_minute"),
            (
                "kind='api'\nmachines=1\nrequests_per_minute=0",
                "requests_per_minute: must be",
            ),
            ("kind='api'\nrequests_per_minute=5", "machines"),
            ("kind='people'\npeople=2\ntimezone='UTC'", "hours"),
            (
                "kind='people'\npeople=2\nhours='9-5'\ntimezone='UTC'",
                "hours",
            ),
            (
                "kind='people'\npeople=2\nhours='09:00-17:00'\ntimezone='Nowhere'",
                "timezone",
            ),
            (
                "kind='people'\npeople=2\nhours='09:00-17:00'\ntimezone='UTC'\ndays='funday'",
                "days",
            ),
            (
                "kind='people'\npeople=2\nhours='09:00-17:00'\ntimezone='UTC'\nholidays=['xmas']",
                "holidays",
            ),
            ("kind='people'\nmachines=2", "machines"),
            ("kind='robots'\nmachines=1\ncores=1", "kind"),
            ("machines=1\ncores=1\npeople=3", "kind"),
            ("machines=1", "cores"),
        ] {
            check_error(&format!("{base}{fields}"), expected);
            check_error(&format!("{base}{fields}"), "pool p");
        }
    }

    #[test]
    fn pools_offer_custom_dimensions_by_name() {
        let platform = parse_platform(
            "bandwidth_mbps = 1\n[[pool]]\nname='cad'\nmachines=2\ncores=8\ncapacity={ licenses = 3, seats = 1 }\n\
             [[pool]]\nname='plain'\nmachines=1\ncores=8",
        )
        .unwrap();
        // Names in order: licenses is 0, seats is 1; a pool without them offers none.
        assert_eq!(platform.pools[0].capacity.custom[..2], [3, 1]);
        assert_eq!(platform.pools[1].capacity.custom[..2], [0, 0]);
        let base = "bandwidth_mbps = 1\n[[pool]]\nname='p'\nmachines=1\ncores=1\n";
        check_error(&format!("{base}capacity={{ cores = 2 }}"), "capacity.cores");
        check_error(
            &format!("{base}capacity={{ Licenses = 2 }}"),
            "capacity.Licenses",
        );
        check_error(
            &format!("{base}capacity={{ a = 1, b = 1, c = 1, d = 1, e = 1 }}"),
            "5 custom dimensions",
        );
    }
}
