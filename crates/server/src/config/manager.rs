//! The `[manager]` section of `purser.toml`: forecasts, alerts and the optimizer.

use purser_core::account::OptimizerPolicy;
use purser_core::foresight::ForesightConfig;
use purser_core::watch::WatchConfig;
use serde::Deserialize;

/// Every field is optional; the defaults are the documented ones.
#[derive(Clone, Debug, Default, Deserialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct ManagerSection {
    /// The optimizer's pass runs this often (0: never; `POST /v1/optimizer:run` still works).
    pub optimizer_every_ms: Option<u64>,
    /// An alert is raised when exhaustion is forecast within this...
    pub lead_time_ms: Option<u64>,
    /// ...with at least this confidence.
    pub alert_confidence: Option<f64>,
    /// How often the alert pass runs.
    pub alerts_every_ms: Option<u64>,
    /// Accounts' dimensions forecast at most (about 10 KiB each).
    pub forecast_series_max: Option<usize>,
    /// The forecast horizon of accounts with neither a period nor a deadline.
    pub horizon_ms: Option<u64>,
    /// The shortest horizon the forecasts' backtest checks its predictions at (the others are
    /// 2, 4, ... 128 times it): a forecast is confident only once predictions this far ahead
    /// have come true, so a compressed clock (the demo's) needs it short.
    pub backtest_horizon_ms: Option<u64>,
    /// The optimizer's default policy; each parent may set its own.
    pub idle_used_max: Option<f64>,
    pub idle_after_ms: Option<u64>,
    pub reclaim_share: Option<f64>,
    pub grant_above: Option<f64>,
    pub min_share: Option<f64>,
    pub max_share: Option<f64>,
    /// A grant needs a forecast at least this confident (default: `alert_confidence`)...
    pub grant_confidence: Option<f64>,
    /// ...resting on at least this many backtested predictions.
    pub grant_backtests_min: Option<u32>,
    /// One pass grants at most this share of a parent's pool beyond its reserve.
    pub grant_pass_share: Option<f64>,
    /// One grant adds at most this share of the child's limit.
    pub grant_growth_max: Option<f64>,
}

fn ppm(value: Option<f64>, name: &str, default: u32) -> Result<u32, String> {
    match value {
        None => Ok(default),
        Some(v) if (0.0..=1.0).contains(&v) => Ok((v * 1e6).round() as u32),
        Some(v) => Err(format!("manager.{name} must be between 0 and 1, not {v}")),
    }
}

impl ManagerSection {
    pub fn to_config(&self) -> Result<ForesightConfig, String> {
        let defaults = ForesightConfig::default();
        let policy = OptimizerPolicy::default();
        let confidence = self
            .alert_confidence
            .unwrap_or(defaults.watch.alert_confidence);
        if !(0.0..=1.0).contains(&confidence) {
            return Err(format!(
                "manager.alert_confidence must be between 0 and 1, not {confidence}"
            ));
        }
        let series_max = self
            .forecast_series_max
            .unwrap_or(defaults.watch.series_max);
        if series_max > 10_000_000 {
            return Err("manager.forecast_series_max must be at most 10,000,000".into());
        }
        let horizon_ms = self.horizon_ms.unwrap_or(defaults.watch.horizon_ms);
        if horizon_ms == 0 {
            return Err("manager.horizon_ms must be positive".into());
        }
        let pseudo_horizon_ms = self
            .backtest_horizon_ms
            .unwrap_or(defaults.watch.pseudo_horizon_ms);
        if !(100..=86_400_000).contains(&pseudo_horizon_ms) {
            return Err(format!(
                "manager.backtest_horizon_ms must be 100 to 86,400,000 (a day), not {pseudo_horizon_ms}"
            ));
        }
        let max_share = match self.max_share {
            None => policy.max_share_ppm,
            Some(v) => Some(ppm(Some(v), "max_share", 0)?),
        };
        Ok(ForesightConfig {
            watch: WatchConfig {
                series_max,
                horizon_ms,
                lead_time_ms: self.lead_time_ms.unwrap_or(defaults.watch.lead_time_ms),
                alert_confidence: confidence,
                pseudo_horizon_ms,
                ..defaults.watch
            },
            optimizer: OptimizerPolicy {
                idle_used_max_ppm: ppm(
                    self.idle_used_max,
                    "idle_used_max",
                    policy.idle_used_max_ppm,
                )?,
                idle_after_ms: self.idle_after_ms.unwrap_or(policy.idle_after_ms),
                reclaim_share_ppm: ppm(
                    self.reclaim_share,
                    "reclaim_share",
                    policy.reclaim_share_ppm,
                )?,
                grant_above_ppm: ppm(self.grant_above, "grant_above", policy.grant_above_ppm)?,
                min_share_ppm: ppm(self.min_share, "min_share", policy.min_share_ppm)?,
                max_share_ppm: max_share,
                grant_confidence_ppm: ppm(
                    self.grant_confidence.or(Some(confidence)),
                    "grant_confidence",
                    policy.grant_confidence_ppm,
                )?,
                grant_backtests_min: self
                    .grant_backtests_min
                    .unwrap_or(policy.grant_backtests_min),
                grant_pass_share_ppm: ppm(
                    self.grant_pass_share,
                    "grant_pass_share",
                    policy.grant_pass_share_ppm,
                )?,
                grant_growth_max_ppm: match self.grant_growth_max {
                    None => policy.grant_growth_max_ppm,
                    Some(v) if v > 0.0 && v <= 100.0 => (v * 1e6).round() as u32,
                    Some(v) => {
                        return Err(format!(
                            "manager.grant_growth_max must be above 0 and at most 100, not {v}"
                        ));
                    }
                },
            },
            optimizer_every_ms: self
                .optimizer_every_ms
                .unwrap_or(defaults.optimizer_every_ms),
            alerts_every_ms: self
                .alerts_every_ms
                .unwrap_or(defaults.alerts_every_ms)
                .max(100),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_empty_section_gives_the_documented_defaults() {
        assert_eq!(
            ManagerSection::default().to_config().unwrap(),
            ForesightConfig::default()
        );
    }

    #[test]
    fn shares_outside_zero_to_one_are_refused_by_name() {
        let section = ManagerSection {
            reclaim_share: Some(1.5),
            ..ManagerSection::default()
        };
        let err = section.to_config().unwrap_err();
        assert!(err.contains("manager.reclaim_share"), "{err}");
    }
}
