//! Adaptive conformal calibration of the 80% interval, and the record of whether switching away
//! from the average rate has paid off on this series.
//!
//! Every backtest pseudo-prediction also stores the interval that a forecast with that much time
//! left would have shown (the chosen method's interval, widened by the current calibration), and
//! which method was chosen. When the prediction is scored:
//!
//! * Each side of the interval at that scale is widened by `exp(STEP * (1 - MISS_RATE))` after a
//!   miss on that side and narrowed by `exp(-STEP * MISS_RATE)` after a hit, so that in the long
//!   run each side misses `MISS_RATE` of the time (adaptive conformal inference, Gibbs and
//!   Candès 2021, in its multiplicative form). The error quantiles assume that what was seen will
//!   repeat; the calibration corrects them by what actually happened to the intervals shown,
//!   whatever the reason they were off (a growth exponent that carried short-scale errors
//!   badly over, a run that changed, errors that are not exchangeable).
//! * When the chosen method was not the average rate, the two methods' absolute errors on that
//!   prediction are added up: the switch's ledger at that scale, which says whether switching
//!   has paid off on this run's own pseudo-forecasts.

use crate::limits::{MIN_SAMPLES, N_SCALES};

/// Target share of misses on each side of the 80% interval.
const MISS_RATE: f64 = 0.10;

/// Multiplicative step of the width after each scored prediction.
const STEP: f64 = 0.2;

/// Bounds of the width factor: at most half as narrow as the errors say, at most twenty times
/// as wide.
const MIN_WIDTH: f64 = 0.5;
const MAX_WIDTH: f64 = 20.0;

/// An interval as increments over the consumption when it was made: the point prediction and
/// both bounds.
#[derive(Debug, Clone, Copy, PartialEq)]
pub(crate) struct Shown {
    pub(crate) predicted: f64,
    pub(crate) low: f64,
    pub(crate) high: f64,
}

/// Width factors per scale and side, and the switch's ledger per scale.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Calibration {
    /// `[low side, high side]` factors applied to the distance from the interval's middle.
    widths: [[f64; 2]; N_SCALES],
    n_scored: [u32; N_SCALES],
    /// Sum of the chosen method's absolute errors minus the average rate's, over the scored
    /// predictions where another method was chosen.
    switch_excess: [f64; N_SCALES],
    n_switched: [u32; N_SCALES],
}

impl Calibration {
    pub(crate) const NEUTRAL: Self = Self {
        widths: [[1.0; 2]; N_SCALES],
        n_scored: [0; N_SCALES],
        switch_excess: [0.0; N_SCALES],
        n_switched: [0; N_SCALES],
    };

    /// Scores the interval `shown` at `scale_idx` against the `actual` increment.
    pub(crate) fn score_interval(&mut self, scale_idx: usize, shown: Shown, actual: f64) {
        let misses = [actual < shown.low, actual > shown.high];
        for (width, missed) in self.widths[scale_idx].iter_mut().zip(misses) {
            let signal = if missed { 1.0 - MISS_RATE } else { -MISS_RATE };
            *width = (*width * (STEP * signal).exp()).clamp(MIN_WIDTH, MAX_WIDTH);
        }
        self.n_scored[scale_idx] = self.n_scored[scale_idx].saturating_add(1);
    }

    /// Adds a prediction where another method than the average rate was chosen, with both
    /// methods' errors (in units of the baseline increment).
    pub(crate) fn score_switch(&mut self, scale_idx: usize, chosen_error: f64, average_error: f64) {
        self.switch_excess[scale_idx] += chosen_error.abs() - average_error.abs();
        self.n_switched[scale_idx] = self.n_switched[scale_idx].saturating_add(1);
    }

    /// False once the switches scored at `scale_idx` have, together, done worse than the
    /// average rate would have on the same predictions.
    pub(crate) fn switch_pays(&self, scale_idx: usize) -> bool {
        self.n_switched[scale_idx] == 0 || self.switch_excess[scale_idx] <= 0.0
    }

    /// The width factors for a forecast measured at `scale_idx`: that scale's once it has scored
    /// `MIN_SAMPLES` intervals, else those of the longest shorter scale that has (an interval
    /// that missed over shorter windows is not trusted over a longer one), else neutral.
    pub(crate) fn widths(&self, scale_idx: usize) -> [f64; 2] {
        (0..=scale_idx)
            .rev()
            .find(|&idx| self.n_scored[idx] as usize >= MIN_SAMPLES)
            .map_or([1.0; 2], |idx| self.widths[idx])
    }
}

/// Stretches each side of `low..high` away from `middle` by its factor; increments never go
/// below zero.
pub(crate) fn widen(widths: [f64; 2], middle: f64, low: f64, high: f64) -> (f64, f64) {
    let low = middle - widths[0] * (middle - low).max(0.0);
    let high = middle + widths[1] * (high - middle).max(0.0);
    (low.max(0.0), high.max(0.0))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn misses_widen_the_side_that_missed_and_hits_narrow_it() {
        let mut calibration = Calibration::NEUTRAL;
        let shown = Shown {
            predicted: 10.0,
            low: 5.0,
            high: 15.0,
        };
        for _ in 0..MIN_SAMPLES {
            calibration.score_interval(2, shown, 20.0);
        }
        let [low, high] = calibration.widths(2);
        assert!(low < 1.0 && high > 1.5, "{low} {high}");
        // A longer scale without its own scored intervals borrows these; a shorter one does not.
        assert_eq!(calibration.widths(5), [low, high]);
        assert_eq!(calibration.widths(1), [1.0, 1.0]);
        for _ in 0..1_000 {
            calibration.score_interval(2, shown, 20.0);
        }
        assert_eq!(calibration.widths(2)[1], MAX_WIDTH);
    }

    #[test]
    fn the_miss_rate_settles_at_the_target() {
        // Hits nine times out of ten leave the width where it was.
        let mut calibration = Calibration::NEUTRAL;
        let shown = Shown {
            predicted: 0.0,
            low: -1.0,
            high: 1.0,
        };
        for round in 0..100 {
            calibration.score_interval(0, shown, if round % 10 == 0 { 2.0 } else { 0.0 });
        }
        assert!((calibration.widths(0)[1] - 1.0).abs() < 1e-9);
    }

    #[test]
    fn widening_keeps_the_middle_and_never_goes_below_zero() {
        assert_eq!(widen([2.0, 3.0], 10.0, 8.0, 11.0), (6.0, 13.0));
        assert_eq!(widen([20.0, 1.0], 10.0, 8.0, 11.0), (0.0, 11.0));
    }

    #[test]
    fn the_switch_stops_paying_once_it_lost_more_than_it_won() {
        let mut calibration = Calibration::NEUTRAL;
        assert!(calibration.switch_pays(3));
        calibration.score_switch(3, 0.1, -0.5);
        assert!(calibration.switch_pays(3));
        calibration.score_switch(3, -0.9, 0.2);
        assert!(!calibration.switch_pays(3));
        assert!(calibration.switch_pays(2));
    }
}
