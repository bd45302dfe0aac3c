//! `[http]`: the listener's timeouts and connection limits.

use serde::Deserialize;

use crate::listen::ListenLimits;

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
    pub fn listen_limits(&self) -> Result<ListenLimits, String> {
        let defaults = ListenLimits::default();
        let millis = |value: Option<u64>, name: &str, default: std::time::Duration| match value {
            None => Ok(default),
            Some(ms) if (1..=3_600_000).contains(&ms) => Ok(std::time::Duration::from_millis(ms)),
            Some(ms) => Err(format!("http.{name} must be 1 to 3600000, not {ms}")),
        };
        let limits = ListenLimits {
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
