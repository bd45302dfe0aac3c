//! From backtest errors to a choice of method, a prediction interval and a confidence.
//!
//! For a forecast with `remaining_ms` to its horizon, the evidence is the backtest errors at
//! every scale not longer than the remaining time (only the shortest scale when less than it
//! remains). An error measured over a scale `k` shorter than the remaining time `R` is carried
//! over to `R` by multiplying it by `(R / k)^g`, where the growth exponent `g` is the log-log
//! slope of the method's root mean square error across scales, clamped to `[0, MAX_GROWTH]`
//! (never assuming that errors shrink over a longer window than was seen), and `PRIOR_GROWTH`
//! while there is only one scale to go by.
//!
//! * The method chosen is the average rate unless another method, compared with it on the same
//!   backtested predictions at the horizon's scale (the longest scale not longer than the
//!   remaining time: the one that measures the quantity forecast, the total at the horizon), had
//!   a sum of absolute errors smaller by `SWITCH_MARGIN` over at least `MIN_SAMPLES` of them;
//!   then the one with the smallest. Wins at shorter scales do not count (issue 17): on bursty
//!   and agent-shaped usage a burst persists for a minute, so a method that follows the recent
//!   rate wins the short backtests and then multiplies the burst over the whole horizon. Early in
//!   a long horizon the horizon's scale has not matured yet, so the average rate is used.
//! * The confidence is the share of the chosen method's carried-over errors that would have put
//!   this forecast's projected total within `TOLERANCE` of the truth, counting `N_PRIOR`
//!   imagined misses so that a handful of lucky backtests cannot claim a high confidence.
//! * The raw 80% interval spans the 10th to 90th percentiles of the carried-over errors plus
//!   the `PRIOR_ERRORS` (the remaining consumption being anywhere from zero to twice the
//!   average-rate expectation), which dominate while there are few errors and fade as they
//!   accumulate. The forecaster stretches it to hold the point prediction and widens each side
//!   by the adaptive calibration of `calibration.rs`, learnt from the intervals that the
//!   backtest's own pseudo-forecasts showed.
//! * The choice falls back to the average rate at a scale where the switches already scored
//!   there did worse, together, than the average rate would have (`Calibration::switch_pays`).
//! * A switch to a method that extrapolates this run's own recent history (linear, Holt) keeps
//!   only part of its departure from the average rate: none if the departures realised at the
//!   horizon's scale never went that way (`departure_seen`), else the least-squares combination
//!   weight on the backtested predictions there (`combination_weight`). A burst read as a trend
//!   after a quiet spell projects a rise that the backtest never scored; such a switch wins the
//!   backtest in the quiet spell and loses the total when the burst comes (NAB's
//!   `iio_us-east-1_i-a2eb1cd9_NetworkIn`). The historical method keeps all of its departure:
//!   it stands on finished runs' whole courses, including the end that this run's backtest has
//!   not reached. The confidence and the interval are then those of the blend, from the same
//!   backtested predictions.

use crate::backtest::{Backtest, ScaleErrors};
use crate::limits::{ERRORS_KEPT, MIN_SAMPLES, N_SCALES};
use crate::methods::Method;

/// A projected total within this share of the truth counts as right.
pub const TOLERANCE: f64 = 0.10;

/// How much smaller another method's backtest errors must be to be chosen over the average rate.
pub const SWITCH_MARGIN: f64 = 0.15;

/// Largest growth exponent: a rate that accelerates exponentially grows errors faster than a
/// steady drift (exponent one) would.
const MAX_GROWTH: f64 = 2.0;

/// Growth exponent used while a method has evidence at a single scale: errors of a random walk.
const PRIOR_GROWTH: f64 = 0.5;

/// Pseudo-errors mixed into the interval's sample, in units of the baseline increment.
const PRIOR_ERRORS: [f64; 2] = [-1.0, 1.0];

/// Imagined misses counted in the confidence's denominator.
const N_PRIOR: usize = PRIOR_ERRORS.len();

const INTERVAL_LOW_QUANTILE: f64 = 0.10;
const INTERVAL_HIGH_QUANTILE: f64 = 0.90;

const MAX_EVIDENCE: usize = N_SCALES * ERRORS_KEPT;

/// The scales that speak for a forecast with `remaining_ms` left.
fn scales_for(backtest: &Backtest, remaining_ms: u64) -> impl Iterator<Item = usize> + '_ {
    (0..N_SCALES)
        .filter(move |&scale_idx| scale_idx == 0 || backtest.scale_ms(scale_idx) <= remaining_ms)
}

/// The method to use: see the module documentation. `available` says which methods have a
/// model now.
pub(crate) fn choose(backtest: &Backtest, available: [bool; 4], remaining_ms: u64) -> Method {
    let scale_idx = horizon_scale(backtest, remaining_ms);
    if !backtest.calibration().switch_pays(scale_idx) {
        return Method::AverageRate;
    }
    let mut best = (Method::AverageRate, 1.0 - SWITCH_MARGIN);
    for method in Method::ALL {
        if method == Method::AverageRate || !available[method.index()] {
            continue;
        }
        if let Some(ratio) = error_ratio_to_baseline(backtest.errors(scale_idx), method)
            && ratio < best.1
        {
            best = (method, ratio);
        }
    }
    best.0
}

/// The scale that measures what a forecast with `remaining_ms` left predicts: the longest one not
/// longer than the remaining time (the shortest when less than it remains).
pub(crate) fn horizon_scale(backtest: &Backtest, remaining_ms: u64) -> usize {
    scales_for(backtest, remaining_ms).last().unwrap_or(0)
}

/// Whether the departures from the average rate realised at the horizon's scale (its errors
/// there) ever went the way `departure` goes. The backtest scored the switched method only on
/// departures that happened: a burst read as a trend after a quiet spell projects a rise that
/// the run never showed over that scale, and the backtest has nothing to say about it. The
/// magnitude is not bounded: under sustained growth each departure exceeds every earlier one
/// (`tests/forecaster.rs`, exponential).
pub(crate) fn departure_seen(backtest: &Backtest, remaining_ms: u64, departure: f64) -> bool {
    let scale_idx = horizon_scale(backtest, remaining_ms);
    backtest
        .errors(scale_idx)
        .values(Method::AverageRate)
        .any(|error| error * departure > 0.0)
}

/// The least-squares weight of `method`'s departure from the average rate on the backtested
/// predictions at the horizon's scale, clamped to `[0, 1]`: the `w` minimising the squared
/// errors of `average + w (method - average)` (Bates and Granger's combination, without an
/// intercept); 1 without paired errors.
pub(crate) fn combination_weight(backtest: &Backtest, method: Method, remaining_ms: u64) -> f64 {
    let scale_idx = horizon_scale(backtest, remaining_ms);
    let (mut covariance, mut variance) = (0.0, 0.0);
    for entry in backtest.errors(scale_idx).entries() {
        let average_error = f64::from(entry[Method::AverageRate.index()]);
        let departure = average_error - f64::from(entry[method.index()]);
        if departure.is_nan() {
            continue;
        }
        covariance += average_error * departure;
        variance += departure * departure;
    }
    if variance > 0.0 {
        (covariance / variance).clamp(0.0, 1.0)
    } else {
        1.0
    }
}

/// The sum of `method`'s absolute errors over the average rate's, on the same predictions;
/// `None` with fewer than `MIN_SAMPLES` of them.
fn error_ratio_to_baseline(errors: &ScaleErrors, method: Method) -> Option<f64> {
    let (mut method_sum, mut baseline_sum, mut n_paired) = (0.0, 0.0, 0);
    for entry in errors.entries() {
        let method_error = f64::from(entry[method.index()]);
        let baseline_error = f64::from(entry[Method::AverageRate.index()]);
        if method_error.is_nan() || baseline_error.is_nan() {
            continue;
        }
        method_sum += method_error.abs();
        baseline_sum += baseline_error.abs();
        n_paired += 1;
    }
    if n_paired < MIN_SAMPLES {
        return None;
    }
    Some(if baseline_sum > 0.0 {
        method_sum / baseline_sum
    } else if method_sum > 0.0 {
        f64::INFINITY
    } else {
        1.0
    })
}

/// A method's backtest errors, carried over to the remaining time of one forecast.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Evidence {
    /// The longest pseudo-horizon among the errors.
    pub(crate) longest_scale_ms: u64,
    errors: [f64; MAX_EVIDENCE],
    n_errors: usize,
}

impl Evidence {
    /// `None` while the method has fewer than `MIN_SAMPLES` errors that speak for this forecast.
    /// `weight` is the share of the method's departure from the average rate that the forecast
    /// keeps: the errors are those of that blend, on the same backtested predictions.
    pub(crate) fn gather(
        backtest: &Backtest,
        method: Method,
        weight: f64,
        remaining_ms: u64,
    ) -> Option<Self> {
        let growth = growth_exponent(backtest, method);
        let mut evidence = Self {
            longest_scale_ms: 0,
            errors: [0.0; MAX_EVIDENCE],
            n_errors: 0,
        };
        for scale_idx in scales_for(backtest, remaining_ms) {
            let scale_ms = backtest.scale_ms(scale_idx);
            let carry_over = (remaining_ms as f64 / scale_ms as f64)
                .powf(growth)
                .max(1.0);
            for error in backtest.errors(scale_idx).blended(method, weight) {
                evidence.errors[evidence.n_errors] = error * carry_over;
                evidence.n_errors += 1;
                evidence.longest_scale_ms = scale_ms;
            }
        }
        (evidence.n_errors >= MIN_SAMPLES).then_some(evidence)
    }

    pub(crate) fn n_errors(&self) -> usize {
        self.n_errors
    }

    fn errors(&self) -> &[f64] {
        &self.errors[..self.n_errors]
    }

    /// Share of errors that would keep the projected total within `TOLERANCE`, with the prior
    /// misses. `baseline_increment` converts an error to an amount.
    pub(crate) fn confidence(&self, baseline_increment: f64, projected_total: f64) -> f64 {
        let allowed = TOLERANCE * projected_total;
        let n_within = self
            .errors()
            .iter()
            .filter(|error| (*error * baseline_increment).abs() <= allowed)
            .count();
        n_within as f64 / (self.n_errors + N_PRIOR) as f64
    }
}

/// The (low, median, high) quantiles of the errors of `evidence` (if any) and the prior errors.
pub(crate) fn interval_errors(evidence: Option<&Evidence>) -> (f64, f64, f64) {
    let mut sample = [0.0; MAX_EVIDENCE + PRIOR_ERRORS.len()];
    let mut n_sample = 0;
    for &error in evidence
        .map_or(&[][..], Evidence::errors)
        .iter()
        .chain(&PRIOR_ERRORS)
    {
        sample[n_sample] = error;
        n_sample += 1;
    }
    let sample = &mut sample[..n_sample];
    sample.sort_by(f64::total_cmp);
    (
        quantile(sample, INTERVAL_LOW_QUANTILE),
        quantile(sample, 0.5),
        quantile(sample, INTERVAL_HIGH_QUANTILE),
    )
}

/// Linear interpolation between order statistics (the usual "type 7" definition).
fn quantile(sorted: &[f64], probability: f64) -> f64 {
    let position = probability * (sorted.len() - 1) as f64;
    let below = position.floor() as usize;
    let above = (below + 1).min(sorted.len() - 1);
    sorted[below] + (position - below as f64) * (sorted[above] - sorted[below])
}

/// Log-log slope of the root mean square error against the scale, clamped to
/// `[0, MAX_GROWTH]`.
fn growth_exponent(backtest: &Backtest, method: Method) -> f64 {
    let mut points = [(0.0, 0.0); N_SCALES];
    let mut n_points = 0;
    for scale_idx in 0..N_SCALES {
        let errors = backtest.errors(scale_idx);
        let n_errors = errors.len(method);
        if n_errors < MIN_SAMPLES {
            continue;
        }
        let mean_square = errors.values(method).map(|e| e * e).sum::<f64>() / n_errors as f64;
        if mean_square > 0.0 {
            let log_scale = (backtest.scale_ms(scale_idx) as f64).ln();
            points[n_points] = (log_scale, 0.5 * mean_square.ln());
            n_points += 1;
        }
    }
    if n_points < 2 {
        return PRIOR_GROWTH;
    }
    let points = &points[..n_points];
    let mean_x = points.iter().map(|p| p.0).sum::<f64>() / n_points as f64;
    let mean_y = points.iter().map(|p| p.1).sum::<f64>() / n_points as f64;
    let covariance: f64 = points.iter().map(|p| (p.0 - mean_x) * (p.1 - mean_y)).sum();
    let variance: f64 = points.iter().map(|p| (p.0 - mean_x).powi(2)).sum();
    (covariance / variance).clamp(0.0, MAX_GROWTH)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn check_quantile(values: &[f64], probability: f64, expected: f64) {
        let got = quantile(values, probability);
        assert!(
            (got - expected).abs() < 1e-12,
            "q{probability} of {values:?}: {got}"
        );
    }

    #[test]
    fn quantiles_interpolate_order_statistics() {
        check_quantile(&[1.0], 0.9, 1.0);
        check_quantile(&[0.0, 10.0], 0.1, 1.0);
        check_quantile(&[0.0, 1.0, 2.0, 3.0, 4.0], 0.5, 2.0);
        check_quantile(&[0.0, 1.0, 2.0, 3.0, 4.0], 0.9, 3.6);
    }

    #[test]
    fn a_switch_keeps_the_share_of_its_departure_that_came_true() {
        // Every minute, the average rate says 600 more and linear 1,200; 900 come. Linear's
        // departure of +1 (in baseline increments) came half true; nothing ever fell short.
        let mut backtest = Backtest::new(60_000);
        let shown = crate::calibration::Shown {
            predicted: 0.0,
            low: 0.0,
            high: 0.0,
        };
        for round in 0..6_u64 {
            let (now_ms, consumed) = (60_000 * (round + 1), 900 * round);
            backtest.score_due(now_ms, consumed);
            let rate = |method| if method == Method::Linear { 0.02 } else { 0.01 };
            let decisions = backtest
                .due_scales(now_ms)
                .map(|due| due.then_some((Method::AverageRate, shown)));
            let predict = |method, target_ms: u64| {
                Some(consumed as f64 + rate(method) * (target_ms - now_ms) as f64)
            };
            backtest.record(now_ms, consumed, 0.01, predict, decisions);
        }
        assert!(backtest.errors(0).len(Method::Linear) >= MIN_SAMPLES);
        let weight = combination_weight(&backtest, Method::Linear, 60_000);
        assert!((weight - 0.5).abs() < 1e-6, "{weight}");
        assert!(departure_seen(&backtest, 60_000, 1.0));
        assert!(!departure_seen(&backtest, 60_000, -1.0));
    }

    #[test]
    fn without_evidence_the_interval_is_the_prior() {
        let (low, middle, high) = interval_errors(None);
        assert!((low + 0.8).abs() < 1e-12 && (high - 0.8).abs() < 1e-12);
        assert!(middle.abs() < 1e-12);
    }
}
