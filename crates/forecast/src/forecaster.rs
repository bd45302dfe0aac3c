//! `Forecaster`: the history, the backtest and the forecast of one series.

use crate::backtest::Backtest;
use crate::calibration::{Shown, widen};
use crate::evidence::{self, Evidence, interval_errors};
use crate::history::{Curve, History};
use crate::methods::{self, Blend, Method, Model};
use crate::profile::RunProfile;
use crate::resample::Resampled;

/// Settings of a forecaster.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ForecastConfig {
    /// Shortest pseudo-horizon of the backtest; the others are 2, 4, ... 128 times it.
    pub pseudo_horizon_ms: u64,
    /// A method to use whenever it has a model, instead of the one the backtest chooses (for
    /// evaluating each method alone); `None` in service.
    pub method: Option<Method>,
}

impl Default for ForecastConfig {
    fn default() -> Self {
        Self {
            pseudo_horizon_ms: 60_000,
            method: None,
        }
    }
}

/// An 80% prediction interval of the projected total.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Interval {
    pub low: u64,
    /// `u64::MAX` when nothing bounds it yet (nothing consumed).
    pub high: u64,
}

impl Interval {
    pub fn contains(&self, amount: u64) -> bool {
        self.low <= amount && amount <= self.high
    }
}

/// A forecast of one series at `now` for a horizon end.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Forecast {
    /// The method whose prediction this is.
    pub method: Method,
    /// Consumed so far.
    pub consumed: u64,
    pub limit: Option<u64>,
    /// Predicted cumulative consumption at the horizon end.
    pub projected_total: u64,
    /// How far the projected total goes past the limit (0 without a limit).
    pub overage: u64,
    /// Seconds from now to the predicted exhaustion (0 if already exhausted); `None` without a
    /// limit or when not predicted within one horizon length after the horizon end.
    pub time_to_exhaustion_s: Option<u64>,
    /// When the limit is predicted to be (or was) reached.
    pub exhausts_at_ms: Option<u64>,
    /// 80% prediction interval of the projected total.
    pub interval: Interval,
    /// Share of the chosen method's recent backtested predictions that, carried over to this
    /// forecast's remaining time, would have put it within 10% of the truth (0 to 1).
    pub confidence: f64,
    /// Number of backtest errors behind the confidence and the interval (0: none yet).
    pub n_backtests: u32,
    /// The longest pseudo-horizon of those backtests (0 when there are none).
    pub backtest_horizon_ms: u64,
    /// The plain average-rate extrapolation of the total, for comparison.
    pub baseline_total: u64,
}

/// The models fitted for one forecast, and what they stand on.
struct Fitted<'models, 'profile> {
    models: &'models [Option<Model<'profile>>; 4],
    available: [bool; 4],
    now_ms: u64,
    consumed: u64,
    average_rate_per_ms: f64,
}

/// What a forecast shows: see `Forecaster::decide`.
struct Decision {
    method: Method,
    /// The share of the method's departure from the average rate that is kept.
    weight: f64,
    evidence: Option<Evidence>,
    shown: Shown,
}

/// Forecasts one series (one account and dimension) from its bounded history.
#[derive(Debug, Clone)]
pub struct Forecaster {
    history: History,
    backtest: Backtest,
    profile: Option<RunProfile>,
    pinned_method: Option<Method>,
}

impl Forecaster {
    /// A forecaster for a run that started at `start_ms`, with the default settings.
    pub fn new(start_ms: u64) -> Self {
        Self::with_config(start_ms, ForecastConfig::default())
    }

    /// Panics if `config.pseudo_horizon_ms` is zero.
    pub fn with_config(start_ms: u64, config: ForecastConfig) -> Self {
        Self {
            history: History::new(start_ms),
            backtest: Backtest::new(config.pseudo_horizon_ms),
            profile: None,
            pinned_method: config.method,
        }
    }

    /// The growth profile of finished runs of this account's kind (from a `ProfileLibrary`),
    /// which enables the historical method.
    pub fn set_profile(&mut self, profile: Option<RunProfile>) {
        self.profile = profile;
    }

    pub fn history(&self) -> &History {
        &self.history
    }

    /// Records `amount` consumed at `at_ms`, scoring backtest predictions whose target passed.
    pub fn observe(&mut self, at_ms: u64, amount: u64) {
        self.backtest
            .score_due(at_ms.saturating_sub(1), self.history.consumed());
        self.history.observe(at_ms, amount);
    }

    /// Forecasts the consumption up to `horizon_end_ms`, as known at `now_ms` (every observation
    /// up to `now_ms` is expected to have been made).
    pub fn forecast(&mut self, now_ms: u64, horizon_end_ms: u64, limit: Option<u64>) -> Forecast {
        let start_ms = self.history.start_ms();
        let now_ms = now_ms.max(start_ms);
        let horizon_end_ms = horizon_end_ms.max(now_ms);
        let consumed = self.history.consumed();
        self.backtest.score_due(now_ms, consumed);

        let curve = Curve::new(&self.history, now_ms);
        let resampled = match Resampled::new(&curve, start_ms, now_ms) {
            Some(resampled) if consumed > 0 => resampled,
            _ => return self.uninformed(now_ms, limit),
        };
        let profile = self.profile.as_ref();
        let models: [Option<Model<'_>>; 4] =
            Method::ALL.map(|method| methods::fit(method, &resampled, horizon_end_ms, profile));
        let fitted = Fitted {
            available: models.each_ref().map(Option::is_some),
            models: &models,
            now_ms,
            consumed,
            average_rate_per_ms: consumed as f64 / (now_ms - start_ms) as f64,
        };
        // What a forecast with each due scale's time left would show, scored when it is due.
        let due = self.backtest.due_scales(now_ms);
        let decisions = std::array::from_fn(|scale_idx| {
            due[scale_idx].then(|| {
                let decision = self.decide(&fitted, self.backtest.scale_ms(scale_idx));
                (decision.method, decision.shown)
            })
        });
        self.backtest.record(
            now_ms,
            consumed,
            fitted.average_rate_per_ms,
            |method, target_ms| {
                models[method.index()]
                    .as_ref()
                    .map(|model| model.cumulative_at(target_ms))
            },
            decisions,
        );

        let remaining_ms = horizon_end_ms - now_ms;
        let decision = self.decide(&fitted, remaining_ms);
        let (method, evidence, shown) = (decision.method, decision.evidence, decision.shown);
        let model = Blend {
            average: models[Method::AverageRate.index()]
                .as_ref()
                .expect("the average rate always has a model"),
            method: models[method.index()]
                .as_ref()
                .expect("a chosen method has a model"),
            weight: decision.weight,
        };
        let projected = consumed as f64 + shown.predicted;
        let baseline_increment = fitted.average_rate_per_ms * remaining_ms as f64;
        let bound = |increment: f64| consumed + increment.round() as u64;
        let exhausts_at_ms = limit.and_then(|limit| {
            if consumed >= limit {
                return self
                    .history
                    .reached_at_ms(limit)
                    .map(|at_ms| at_ms.min(now_ms));
            }
            let search_end_ms = horizon_end_ms.saturating_add(horizon_end_ms - start_ms);
            model.reaches_at_ms(limit as f64, now_ms, search_end_ms)
        });
        let projected_total = projected.round() as u64;
        Forecast {
            method,
            consumed,
            limit,
            projected_total,
            overage: limit.map_or(0, |limit| projected_total.saturating_sub(limit)),
            time_to_exhaustion_s: exhausts_at_ms
                .map(|at_ms| (at_ms.saturating_sub(now_ms) + 500) / 1_000),
            exhausts_at_ms,
            interval: Interval {
                low: bound(shown.low),
                high: bound(shown.high),
            },
            confidence: evidence.as_ref().map_or(0.0, |evidence| {
                evidence.confidence(baseline_increment, projected)
            }),
            n_backtests: evidence.as_ref().map_or(0, |e| e.n_errors() as u32),
            backtest_horizon_ms: evidence.as_ref().map_or(0, |e| e.longest_scale_ms),
            baseline_total: (consumed as f64 + baseline_increment).round() as u64,
        }
    }

    /// The method, evidence and interval of a forecast with `remaining_ms` left. Linear or Holt,
    /// when chosen over the average rate, keeps only the share of its departure from it that
    /// the backtest supports (see `evidence`); a pinned method keeps all of it.
    fn decide(&self, fitted: &Fitted<'_, '_>, remaining_ms: u64) -> Decision {
        let pinned = self
            .pinned_method
            .filter(|pinned| fitted.available[pinned.index()]);
        let method = pinned
            .unwrap_or_else(|| evidence::choose(&self.backtest, fitted.available, remaining_ms));
        let model = fitted.models[method.index()]
            .as_ref()
            .expect("a chosen method has a model");
        let target_ms = fitted.now_ms.saturating_add(remaining_ms);
        let baseline_increment = fitted.average_rate_per_ms * remaining_ms as f64;
        let departure =
            model.cumulative_at(target_ms) - fitted.consumed as f64 - baseline_increment;
        let weight = if pinned.is_some()
            || matches!(method, Method::AverageRate | Method::Historical)
            || departure == 0.0
        {
            1.0
        } else if evidence::departure_seen(&self.backtest, remaining_ms, departure) {
            evidence::combination_weight(&self.backtest, method, remaining_ms)
        } else {
            0.0
        };
        let predicted = baseline_increment + weight * departure;
        let evidence = Evidence::gather(&self.backtest, method, weight, remaining_ms);
        let increment = |error: f64| predicted + error * baseline_increment;
        let (low_error, middle_error, high_error) = interval_errors(evidence.as_ref());
        let scale_idx = evidence::horizon_scale(&self.backtest, remaining_ms);
        // The interval holds the point prediction: errors that all had one sign (a rate that
        // kept growing) would otherwise put it wholly on one side, where carrying them over to
        // a longer time overshoots.
        let (low, high) = widen(
            self.backtest.calibration().widths(scale_idx),
            increment(middle_error),
            increment(low_error).min(predicted),
            increment(high_error).max(predicted),
        );
        // Calibration narrows around the errors' median, which may lie off the prediction: the
        // interval shown still holds the projected total.
        let (low, high) = (low.min(predicted), high.max(predicted));
        Decision {
            method,
            weight,
            evidence,
            shown: Shown {
                predicted,
                low,
                high,
            },
        }
    }

    /// Nothing consumed or no time elapsed: the total is unbounded above, with no confidence.
    fn uninformed(&self, now_ms: u64, limit: Option<u64>) -> Forecast {
        let consumed = self.history.consumed();
        let exhausts_at_ms = limit.filter(|&limit| consumed >= limit).map(|limit| {
            self.history
                .reached_at_ms(limit)
                .unwrap_or(now_ms)
                .min(now_ms)
        });
        Forecast {
            method: Method::AverageRate,
            consumed,
            limit,
            projected_total: consumed,
            overage: limit.map_or(0, |limit| consumed.saturating_sub(limit)),
            time_to_exhaustion_s: exhausts_at_ms.map(|_| 0),
            exhausts_at_ms,
            interval: Interval {
                low: consumed,
                high: u64::MAX,
            },
            confidence: 0.0,
            n_backtests: 0,
            backtest_horizon_ms: 0,
            baseline_total: consumed,
        }
    }
}
