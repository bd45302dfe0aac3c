//! `store` and `[cluster]`: where the journal lives, and, on PostgreSQL, which shard this process
//! serves, how it is reached, and how its lease is kept.

use std::collections::BTreeMap;

use serde::Deserialize;

/// Where the journal lives, from `store` (or `--store`).
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Store {
    /// `<data_dir>/journal.sqlite`: one process, the embedded default.
    Sqlite,
    /// A PostgreSQL database shared by the processes of every shard.
    Postgres(String),
}

impl Store {
    /// `sqlite` (or nothing) or a `postgres://` / `postgresql://` URL.
    pub fn parse(text: Option<&str>) -> Result<Store, String> {
        match text {
            None | Some("sqlite") | Some("") => Ok(Store::Sqlite),
            Some(url) if url.starts_with("postgres://") || url.starts_with("postgresql://") => {
                Ok(Store::Postgres(url.to_owned()))
            }
            Some(other) => Err(format!(
                "store must be \"sqlite\" or a postgres:// URL, not {:?}",
                redact(other)
            )),
        }
    }

    /// How the logs name it: the URL without its password.
    pub fn describe(&self) -> String {
        match self {
            Store::Sqlite => "sqlite".into(),
            Store::Postgres(url) => redact(url),
        }
    }
}

/// `url` with the password of its user part replaced by `***`.
pub fn redact(url: &str) -> String {
    let Some(scheme_end) = url.find("://").map(|at| at + 3) else {
        return url.to_owned();
    };
    let rest = &url[scheme_end..];
    let Some(at) = rest.find('@') else {
        return url.to_owned();
    };
    match rest[..at].find(':') {
        Some(colon) => format!(
            "{}{}:***{}",
            &url[..scheme_end],
            &rest[..colon],
            &rest[at..]
        ),
        None => url.to_owned(),
    }
}

/// `[cluster]`: only read when `store` is PostgreSQL.
#[derive(Clone, Debug, Deserialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct ClusterSection {
    /// The shard this process serves, as leader or standby. Default `main`.
    #[serde(default = "default_shard")]
    pub shard: String,
    /// Where clients reach this process, for the redirects of the others (default
    /// `http://<listen>`).
    pub advertise: Option<String>,
    /// The lease's time to live; the leader renews it four times per TTL. Default 10,000.
    #[serde(default = "default_ttl")]
    pub lease_ttl_ms: u64,
    /// How often a standby reads what its leader appended. Default 100.
    #[serde(default = "default_follow")]
    pub follow_every_ms: u64,
    /// Top-level accounts (tenants) by shard name; a tenant not listed is `default_shard`'s.
    #[serde(default)]
    pub tenants: BTreeMap<String, String>,
    /// The shard of tenants not listed. Default `main`.
    #[serde(default = "default_shard")]
    pub default_shard: String,
}

impl Default for ClusterSection {
    fn default() -> Self {
        ClusterSection {
            shard: default_shard(),
            advertise: None,
            lease_ttl_ms: default_ttl(),
            follow_every_ms: default_follow(),
            tenants: BTreeMap::new(),
            default_shard: default_shard(),
        }
    }
}

fn default_shard() -> String {
    "main".into()
}

fn default_ttl() -> u64 {
    10_000
}

fn default_follow() -> u64 {
    100
}

impl ClusterSection {
    pub fn check(&self) -> Result<(), String> {
        let name_ok = |name: &str| {
            !name.is_empty()
                && name.len() <= 64
                && name
                    .bytes()
                    .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_')
        };
        for (what, name) in [
            ("cluster.shard", &self.shard),
            ("cluster.default_shard", &self.default_shard),
        ] {
            if !name_ok(name) {
                return Err(format!(
                    "{what} must be 1 to 64 letters, digits, - or _, not {name:?}"
                ));
            }
        }
        for (tenant, shard) in &self.tenants {
            if !name_ok(shard) {
                return Err(format!(
                    "cluster.tenants.{tenant}: {shard:?} is not a shard name"
                ));
            }
            purser_core::AccountPath::parse(tenant)
                .ok()
                .filter(|_| !tenant.contains('/'))
                .ok_or_else(|| format!("cluster.tenants: {tenant:?} is not a top-level account"))?;
        }
        if !(300..=600_000).contains(&self.lease_ttl_ms) {
            return Err(format!(
                "cluster.lease_ttl_ms must be 300 to 600000, not {}",
                self.lease_ttl_ms
            ));
        }
        if !(5..=60_000).contains(&self.follow_every_ms) {
            return Err(format!(
                "cluster.follow_every_ms must be 5 to 60000, not {}",
                self.follow_every_ms
            ));
        }
        if let Some(advertise) = &self.advertise
            && !(advertise.starts_with("http://") || advertise.starts_with("https://"))
        {
            return Err(format!(
                "cluster.advertise must be an http:// or https:// URL, not {advertise:?}"
            ));
        }
        Ok(())
    }

    /// The shard serving `tenant` (the first segment of an account path).
    pub fn shard_of(&self, tenant: &str) -> &str {
        self.tenants
            .get(tenant)
            .map_or(self.default_shard.as_str(), String::as_str)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn stores_parse_and_hide_passwords() {
        assert_eq!(Store::parse(None).unwrap(), Store::Sqlite);
        assert_eq!(
            Store::parse(Some("postgres://u:secret@db/purser")).unwrap(),
            Store::Postgres("postgres://u:secret@db/purser".into())
        );
        let error = Store::parse(Some("mysql://u:secret@db")).unwrap_err();
        assert_eq!(
            error,
            "store must be \"sqlite\" or a postgres:// URL, not \"mysql://u:***@db\""
        );
        assert_eq!(redact("postgres://u@db/x"), "postgres://u@db/x");
    }

    #[test]
    fn tenants_map_to_shards() {
        let mut cluster = ClusterSection::default();
        cluster.tenants.insert("acme".into(), "s1".into());
        assert_eq!(cluster.shard_of("acme"), "s1");
        assert_eq!(cluster.shard_of("globex"), "main");
        cluster.check().unwrap();
        cluster.tenants.insert("a/b".into(), "s1".into());
        assert!(
            cluster
                .check()
                .unwrap_err()
                .contains("not a top-level account")
        );
        let bad_ttl = ClusterSection {
            lease_ttl_ms: 10,
            ..ClusterSection::default()
        };
        assert!(bad_ttl.check().is_err());
    }
}
