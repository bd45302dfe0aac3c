//! The incremental rolling backtest of every method on one series.
//!
//! Each forecast also asks every method where the series will be a short "pseudo-horizon" ahead,
//! at several scales: `base`, `2 base`, `4 base`, ... (`N_SCALES` of them; with the default base
//! of 60 s, 1 min to 128 min). These predictions wait, bounded in number, until their target time
//! has passed; they are then scored against what was really consumed. A new prediction at a
//! scale is made only once a quarter of that scale has passed since the previous one, so at most
//! about five wait per scale.
//!
//! An error is `(actual increment - predicted increment) / baseline increment`, where the
//! baseline increment is what the average rate at prediction time would have given over the same
//! window. Dividing by the baseline rather than by the prediction or the actual keeps the error
//! finite when a method predicts nothing or nothing happens, and makes errors of all methods
//! comparable. The last `ERRORS_KEPT` scored predictions are kept per scale, with the error of
//! every method on each.
//!
//! Each prediction also carries what a forecast with that much time left would have shown (its
//! method and interval); scoring it feeds the [`Calibration`].

use crate::calibration::{Calibration, Shown};
use crate::limits::{ERRORS_KEPT, N_SCALES};
use crate::methods::Method;

/// Predictions waiting for their target time, at most.
const MAX_PENDING: usize = 64;

/// Errors are clamped to this, so that one burst after an idle spell cannot dominate a mean.
const MAX_ERROR: f64 = 20.0;

pub(crate) const N_METHODS: usize = Method::ALL.len();

#[derive(Debug, Clone)]
struct Pending {
    scale_idx: usize,
    target_ms: u64,
    consumed_at_made: u64,
    baseline_increment: f64,
    predicted_increment: [Option<f64>; N_METHODS],
    chosen: Method,
    shown: Shown,
}

/// What a forecast with one scale's time left would have chosen and shown.
pub(crate) type Decision = (Method, Shown);

/// The most recent errors at one scale: one entry per scored prediction, with the error of
/// every method (NaN where the method had no model), so that methods can be compared on the
/// same predictions.
#[derive(Debug, Clone, Copy)]
pub(crate) struct ScaleErrors {
    entries: [[f32; N_METHODS]; ERRORS_KEPT],
    len: usize,
    next_slot: usize,
}

impl ScaleErrors {
    const EMPTY: Self = Self {
        entries: [[f32::NAN; N_METHODS]; ERRORS_KEPT],
        len: 0,
        next_slot: 0,
    };

    fn push(&mut self, entry: [f32; N_METHODS]) {
        self.entries[self.next_slot] = entry;
        self.next_slot = (self.next_slot + 1) % ERRORS_KEPT;
        self.len = (self.len + 1).min(ERRORS_KEPT);
    }

    /// The kept entries, in no particular order.
    pub(crate) fn entries(&self) -> &[[f32; N_METHODS]] {
        &self.entries[..self.len]
    }

    /// The kept errors of `method`, in no particular order.
    pub(crate) fn values(&self, method: Method) -> impl Iterator<Item = f64> + '_ {
        self.entries()
            .iter()
            .map(move |entry| f64::from(entry[method.index()]))
            .filter(|error| !error.is_nan())
    }

    /// The kept errors of `method` shrunk toward the average rate by `weight` (the errors of
    /// `average + weight (method - average)`), where both have one.
    pub(crate) fn blended(&self, method: Method, weight: f64) -> impl Iterator<Item = f64> + '_ {
        self.entries()
            .iter()
            .map(move |entry| {
                let error = f64::from(entry[method.index()]);
                if weight == 1.0 {
                    return error;
                }
                let average = f64::from(entry[Method::AverageRate.index()]);
                average + weight * (error - average)
            })
            .filter(|error| !error.is_nan())
    }

    pub(crate) fn len(&self, method: Method) -> usize {
        self.values(method).count()
    }
}

/// Pending predictions and scored errors of one series.
#[derive(Debug, Clone)]
pub(crate) struct Backtest {
    base_ms: u64,
    pending: Vec<Pending>,
    next_due_ms: u64,
    last_made_ms: [Option<u64>; N_SCALES],
    errors: [ScaleErrors; N_SCALES],
    calibration: Calibration,
}

impl Backtest {
    pub(crate) fn new(base_ms: u64) -> Self {
        assert!(base_ms > 0, "the pseudo-horizon must be positive");
        Self {
            base_ms,
            pending: Vec::with_capacity(MAX_PENDING),
            next_due_ms: u64::MAX,
            last_made_ms: [None; N_SCALES],
            errors: [ScaleErrors::EMPTY; N_SCALES],
            calibration: Calibration::NEUTRAL,
        }
    }

    pub(crate) fn scale_ms(&self, scale_idx: usize) -> u64 {
        self.base_ms.saturating_mul(1 << scale_idx)
    }

    pub(crate) fn errors(&self, scale_idx: usize) -> &ScaleErrors {
        &self.errors[scale_idx]
    }

    pub(crate) fn calibration(&self) -> &Calibration {
        &self.calibration
    }

    /// Scores every prediction whose target is at or before `through_ms`, `consumed` being the
    /// cumulative consumption through that time.
    pub(crate) fn score_due(&mut self, through_ms: u64, consumed: u64) {
        if through_ms < self.next_due_ms {
            return;
        }
        let (errors, calibration) = (&mut self.errors, &mut self.calibration);
        self.pending.retain(|pending| {
            if pending.target_ms > through_ms {
                return true;
            }
            let actual_increment = consumed.saturating_sub(pending.consumed_at_made) as f64;
            let entry = pending
                .predicted_increment
                .map(|predicted| match predicted {
                    Some(predicted) => {
                        let error = (actual_increment - predicted) / pending.baseline_increment;
                        error.clamp(-MAX_ERROR, MAX_ERROR) as f32
                    }
                    None => f32::NAN,
                });
            errors[pending.scale_idx].push(entry);
            calibration.score_interval(pending.scale_idx, pending.shown, actual_increment);
            if pending.chosen != Method::AverageRate {
                let error_of = |method: Method| f64::from(entry[method.index()]);
                let (chosen, average) = (error_of(pending.chosen), error_of(Method::AverageRate));
                if !chosen.is_nan() && !average.is_nan() {
                    calibration.score_switch(pending.scale_idx, chosen, average);
                }
            }
            false
        });
        self.next_due_ms = self
            .pending
            .iter()
            .map(|p| p.target_ms)
            .min()
            .unwrap_or(u64::MAX);
    }

    /// The scales due a new prediction at `now_ms`: a quarter of the scale has passed since the
    /// previous one, and there is room for it.
    pub(crate) fn due_scales(&self, now_ms: u64) -> [bool; N_SCALES] {
        let mut room = MAX_PENDING.saturating_sub(self.pending.len());
        std::array::from_fn(|scale_idx| {
            let spacing_ms = self.scale_ms(scale_idx) / 4;
            let due = self.last_made_ms[scale_idx]
                .is_none_or(|last_ms| now_ms >= last_ms.saturating_add(spacing_ms));
            let made = due && room > 0;
            room -= usize::from(made);
            made
        })
    }

    /// Records predictions made at `now_ms` for every scale with a decision (the scales that
    /// `due_scales` named). `predict` gives a method's predicted cumulative consumption at a
    /// target time, if the method is available.
    pub(crate) fn record(
        &mut self,
        now_ms: u64,
        consumed: u64,
        average_rate_per_ms: f64,
        predict: impl Fn(Method, u64) -> Option<f64>,
        decisions: [Option<Decision>; N_SCALES],
    ) {
        if average_rate_per_ms <= 0.0 {
            return;
        }
        for (scale_idx, decision) in decisions.into_iter().enumerate() {
            let Some((chosen, shown)) = decision else {
                continue;
            };
            if self.pending.len() >= MAX_PENDING {
                break;
            }
            let scale_ms = self.scale_ms(scale_idx);
            let target_ms = now_ms.saturating_add(scale_ms);
            let predicted_increment = Method::ALL.map(|method| {
                predict(method, target_ms).map(|cumulative| (cumulative - consumed as f64).max(0.0))
            });
            self.pending.push(Pending {
                scale_idx,
                target_ms,
                consumed_at_made: consumed,
                baseline_increment: average_rate_per_ms * scale_ms as f64,
                predicted_increment,
                chosen,
                shown,
            });
            self.last_made_ms[scale_idx] = Some(now_ms);
            self.next_due_ms = self.next_due_ms.min(target_ms);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Records at `now_ms` on every due scale, showing a fixed interval with the average rate.
    fn record_due(
        backtest: &mut Backtest,
        now_ms: u64,
        consumed: u64,
        predict: impl Fn(Method, u64) -> Option<f64>,
    ) {
        let shown = Shown {
            predicted: 0.0,
            low: 0.0,
            high: 0.0,
        };
        let decisions = backtest
            .due_scales(now_ms)
            .map(|due| due.then_some((Method::AverageRate, shown)));
        backtest.record(now_ms, consumed, 0.01, predict, decisions);
    }

    #[test]
    fn predictions_are_scored_when_their_target_passes() {
        let mut backtest = Backtest::new(60_000);
        // At 60 s, 600 consumed (10/s). Average rate predicts 600 more per minute; Linear says 1,200.
        record_due(
            &mut backtest,
            60_000,
            600,
            |method, target_ms| match method {
                Method::AverageRate => Some(600.0 + 0.01 * (target_ms - 60_000) as f64),
                Method::Linear => Some(600.0 + 0.02 * (target_ms - 60_000) as f64),
                Method::Holt | Method::Historical => None,
            },
        );
        // Every scale made one prediction; nothing is due before 120 s.
        backtest.score_due(119_999, 1_000);
        assert_eq!(backtest.errors(0).len(Method::AverageRate), 0);
        // 900 consumed in the first minute: average was 300 short (+0.5), linear 300 over (-0.5).
        backtest.score_due(120_000, 1_500);
        let errors = |method| backtest.errors(0).values(method).collect::<Vec<_>>();
        assert_eq!(errors(Method::AverageRate), vec![0.5]);
        assert_eq!(errors(Method::Linear), vec![-0.5]);
        assert!(errors(Method::Holt).is_empty());
        assert_eq!(backtest.errors(1).len(Method::AverageRate), 0);
        // A second prediction at the 1-minute scale comes only after a quarter minute.
        let n_pending = backtest.pending.len();
        record_due(&mut backtest, 65_000, 650, |_, _| Some(0.0));
        assert_eq!(backtest.pending.len(), n_pending);
        record_due(&mut backtest, 75_000, 750, |_, _| Some(0.0));
        assert_eq!(backtest.pending.len(), n_pending + 1);
    }

    #[test]
    fn error_ring_keeps_the_most_recent() {
        let mut ring = ScaleErrors::EMPTY;
        for error_idx in 0..ERRORS_KEPT + 3 {
            ring.push([error_idx as f32, f32::NAN, 1.0, 1.0]);
        }
        assert_eq!(ring.len(Method::AverageRate), ERRORS_KEPT);
        assert_eq!(ring.len(Method::Linear), 0);
        assert!(ring.values(Method::AverageRate).all(|error| error >= 3.0));
    }
}
