//! `[metrics]`: what `GET /metrics` shows of the accounts, and the names it uses.

use serde::Deserialize;

#[derive(Clone, Debug, Deserialize, PartialEq, Eq)]
#[serde(deny_unknown_fields)]
pub struct MetricsSection {
    /// Put before every metric name.
    #[serde(default = "default_prefix")]
    pub prefix: String,
    /// Accounts at most this deep get series (`org/team/workflow` is 3).
    #[serde(default = "default_depth")]
    pub account_depth: usize,
    /// Series of one per-account family at most (one per account and dimension).
    #[serde(default = "default_series_max")]
    pub series_max: usize,
}

/// The most series of one family a configuration may ask for.
pub const SERIES_MAX_LIMIT: usize = 1_000_000;

fn default_prefix() -> String {
    "purser_".into()
}

fn default_depth() -> usize {
    3
}

fn default_series_max() -> usize {
    10_000
}

impl Default for MetricsSection {
    fn default() -> Self {
        MetricsSection {
            prefix: default_prefix(),
            account_depth: default_depth(),
            series_max: default_series_max(),
        }
    }
}

impl MetricsSection {
    /// Checks the prefix makes valid metric names and the bounds are sane.
    pub fn check(&self) -> Result<(), String> {
        let valid = self.prefix.chars().enumerate().all(|(idx, ch)| {
            ch.is_ascii_alphabetic() || ch == '_' || ch == ':' || (idx > 0 && ch.is_ascii_digit())
        });
        if !valid || self.prefix.len() > 64 {
            return Err(format!(
                "metrics.prefix {:?} must be at most 64 of [a-zA-Z_:] (digits after the first)",
                self.prefix
            ));
        }
        if self.account_depth == 0 {
            return Err("metrics.account_depth must be at least 1".into());
        }
        if !(1..=SERIES_MAX_LIMIT).contains(&self.series_max) {
            return Err(format!(
                "metrics.series_max must be 1 to {SERIES_MAX_LIMIT}"
            ));
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn prefixes_must_make_metric_names() {
        let mut section = MetricsSection::default();
        assert_eq!(section.check(), Ok(()));
        for (prefix, ok) in [
            ("acme_purser_", true),
            ("", true),
            ("9x_", false),
            ("a-b_", false),
        ] {
            section.prefix = prefix.into();
            assert_eq!(section.check().is_ok(), ok, "{prefix}");
        }
        section = MetricsSection {
            series_max: 0,
            ..MetricsSection::default()
        };
        assert!(section.check().unwrap_err().contains("series_max"));
    }
}
