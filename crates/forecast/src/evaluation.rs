//! The evaluation procedure of forecasts on a trace of consumption events.
//!
//! Pure: the caller reads the trace. One account consumes `events` (time, amount), sorted by
//! time. The run starts at the first event; the horizon ends `horizon_ms` later; the limit is the
//! real cumulative consumption at `limit_fraction` of the horizon. From `first_forecast_fraction`
//! of the horizon on, a forecast is made every `forecast_every_ms`, after feeding every event up
//! to that time, and compared with what really happened:
//!
//! * (a) the share of projected totals within 10% of the real total;
//! * (b) of the forecasts made before the real exhaustion, the share whose predicted exhaustion
//!   time is within 10% of the real remaining time or within 60 s of it;
//! * (c) the share of 80% intervals that contain the real total, and of the forecasts with a
//!   confidence of at least 0.85, the share within 10%;
//! * (d) the mean absolute percentage error of the projected totals, and of the average-rate
//!   extrapolation.

use std::fmt;

use crate::evidence::TOLERANCE;
use crate::forecaster::{ForecastConfig, Forecaster};
use crate::methods::Method;
use crate::profile::RunProfile;

/// Confidence from which a forecast counts as confident in figure (c).
pub const CONFIDENT: f64 = 0.85;

/// An exhaustion time within this of the truth is right, however short the remaining time.
const EXHAUSTION_SLACK_MS: u64 = 60_000;

/// How to run the evaluation.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct EvaluationSetup {
    pub horizon_ms: u64,
    pub limit_fraction: f64,
    pub first_forecast_fraction: f64,
    pub forecast_every_ms: u64,
    pub config: ForecastConfig,
    /// The growth profile of finished runs like this one, which enables the historical method.
    pub profile: Option<RunProfile>,
}

impl Default for EvaluationSetup {
    /// One hour, limit at 80% of it, forecasts every minute from 10% of it.
    fn default() -> Self {
        Self {
            horizon_ms: 3_600_000,
            limit_fraction: 0.8,
            first_forecast_fraction: 0.1,
            forecast_every_ms: 60_000,
            config: ForecastConfig::default(),
            profile: None,
        }
    }
}

/// The figures of one evaluation.
#[derive(Debug, Clone, PartialEq)]
pub struct Figures {
    pub n_forecasts: usize,
    pub real_total: u64,
    pub limit: u64,
    /// Milliseconds from the start to the real exhaustion.
    pub exhausted_after_ms: Option<u64>,
    /// (a)
    pub total_within_share: f64,
    pub n_before_exhaustion: usize,
    /// (b)
    pub exhaustion_within_share: f64,
    /// (c), first half
    pub interval_coverage: f64,
    pub n_confident: usize,
    /// (c), second half; `None` when no forecast was confident.
    pub confident_within_share: Option<f64>,
    /// (d)
    pub mape: f64,
    pub baseline_mape: f64,
    pub mean_confidence: f64,
    /// Forecasts per method, in the order of `Method::ALL`.
    pub method_counts: [usize; 4],
}

/// Runs the evaluation; `None` without events. Panics if `events` is not sorted by time.
pub fn evaluate(events: &[(u64, u64)], setup: &EvaluationSetup) -> Option<Figures> {
    assert!(
        events.windows(2).all(|pair| pair[0].0 <= pair[1].0),
        "events must be sorted"
    );
    let start_ms = events.first()?.0;
    let horizon_end_ms = start_ms + setup.horizon_ms;
    let cumulative_through = |at_ms: u64| -> u64 {
        events
            .iter()
            .take_while(|event| event.0 <= at_ms)
            .map(|event| event.1)
            .sum()
    };
    let real_total = cumulative_through(horizon_end_ms);
    let limit = cumulative_through(start_ms + fraction_ms(setup.horizon_ms, setup.limit_fraction));
    let exhausted_at_ms = events
        .iter()
        .scan(0u64, |cumulative, event| {
            *cumulative += event.1;
            Some((event.0, *cumulative))
        })
        .find(|&(_, cumulative)| cumulative >= limit)
        .map(|(at_ms, _)| at_ms);

    let mut forecaster = Forecaster::with_config(start_ms, setup.config);
    forecaster.set_profile(setup.profile);
    let mut tally = Tally::default();
    let mut next_event_idx = 0;
    let mut now_ms = start_ms + fraction_ms(setup.horizon_ms, setup.first_forecast_fraction);
    while now_ms < horizon_end_ms {
        while next_event_idx < events.len() && events[next_event_idx].0 <= now_ms {
            forecaster.observe(events[next_event_idx].0, events[next_event_idx].1);
            next_event_idx += 1;
        }
        let forecast = forecaster.forecast(now_ms, horizon_end_ms, Some(limit));
        let error = relative_error(forecast.projected_total, real_total);
        tally.n_forecasts += 1;
        tally.n_total_within += usize::from(error <= TOLERANCE);
        tally.n_interval_contains += usize::from(forecast.interval.contains(real_total));
        tally.sum_error += error;
        tally.sum_baseline_error += relative_error(forecast.baseline_total, real_total);
        tally.sum_confidence += forecast.confidence;
        tally.method_counts[forecast.method.index()] += 1;
        if forecast.confidence >= CONFIDENT {
            tally.n_confident += 1;
            tally.n_confident_within += usize::from(error <= TOLERANCE);
        }
        if let Some(real_ms) = exhausted_at_ms.filter(|&real_ms| now_ms < real_ms) {
            tally.n_before_exhaustion += 1;
            let allowed_ms = EXHAUSTION_SLACK_MS.max((real_ms - now_ms) / 10);
            let within = forecast
                .exhausts_at_ms
                .is_some_and(|predicted_ms| predicted_ms.abs_diff(real_ms) <= allowed_ms);
            tally.n_exhaustion_within += usize::from(within);
        }
        now_ms += setup.forecast_every_ms;
    }
    Some(tally.figures(real_total, limit, exhausted_at_ms.map(|at| at - start_ms)))
}

#[derive(Debug, Default)]
struct Tally {
    n_forecasts: usize,
    n_total_within: usize,
    n_interval_contains: usize,
    n_before_exhaustion: usize,
    n_exhaustion_within: usize,
    n_confident: usize,
    n_confident_within: usize,
    sum_error: f64,
    sum_baseline_error: f64,
    sum_confidence: f64,
    method_counts: [usize; 4],
}

impl Tally {
    fn figures(&self, real_total: u64, limit: u64, exhausted_after_ms: Option<u64>) -> Figures {
        let share = |count: usize, of: usize| {
            if of == 0 {
                0.0
            } else {
                count as f64 / of as f64
            }
        };
        Figures {
            n_forecasts: self.n_forecasts,
            real_total,
            limit,
            exhausted_after_ms,
            total_within_share: share(self.n_total_within, self.n_forecasts),
            n_before_exhaustion: self.n_before_exhaustion,
            exhaustion_within_share: share(self.n_exhaustion_within, self.n_before_exhaustion),
            interval_coverage: share(self.n_interval_contains, self.n_forecasts),
            n_confident: self.n_confident,
            confident_within_share: (self.n_confident > 0)
                .then(|| share(self.n_confident_within, self.n_confident)),
            mape: share(1, self.n_forecasts) * self.sum_error,
            baseline_mape: share(1, self.n_forecasts) * self.sum_baseline_error,
            mean_confidence: share(1, self.n_forecasts) * self.sum_confidence,
            method_counts: self.method_counts,
        }
    }
}

fn fraction_ms(horizon_ms: u64, fraction: f64) -> u64 {
    (horizon_ms as f64 * fraction).round() as u64
}

fn relative_error(predicted: u64, real: u64) -> f64 {
    predicted.abs_diff(real) as f64 / real.max(1) as f64
}

impl fmt::Display for Figures {
    fn fmt(&self, formatter: &mut fmt::Formatter<'_>) -> fmt::Result {
        let exhausted = self.exhausted_after_ms.map_or("never".to_owned(), |ms| {
            format!("{:.1} s", ms as f64 / 1_000.0)
        });
        writeln!(
            formatter,
            "forecasts {}, real total {}, limit {} (reached after {exhausted})",
            self.n_forecasts, self.real_total, self.limit
        )?;
        writeln!(
            formatter,
            "(a) projected total within 10%:            {:.3}  (target >= 0.90)",
            self.total_within_share
        )?;
        writeln!(
            formatter,
            "(b) exhaustion time within 10% or 60 s:    {:.3}  (target >= 0.85, {} forecasts before exhaustion)",
            self.exhaustion_within_share, self.n_before_exhaustion
        )?;
        writeln!(
            formatter,
            "(c) 80% interval contains the real total:  {:.3}  (target >= 0.75)",
            self.interval_coverage
        )?;
        let confident = self
            .confident_within_share
            .map_or("n/a".to_owned(), |share| format!("{share:.3}"));
        writeln!(
            formatter,
            "(c) confidence >= 0.85 and within 10%:     {confident}  (target >= 0.85, {} confident forecasts; mean confidence {:.3})",
            self.n_confident, self.mean_confidence
        )?;
        writeln!(
            formatter,
            "(d) MAPE {:.4} vs average-rate MAPE {:.4}  (target: not worse)",
            self.mape, self.baseline_mape
        )?;
        let counts: Vec<String> = Method::ALL
            .iter()
            .zip(self.method_counts)
            .map(|(method, count)| format!("{} {count}", method.name()))
            .collect();
        write!(formatter, "methods chosen: {}", counts.join(", "))
    }
}
