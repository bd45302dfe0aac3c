//! Holt's double exponential smoothing with a damped trend.
//!
//! The per-step consumption of the resampled history is smoothed into a level (consumption per
//! step) and a trend (change of that per step). The smoothing weights are picked from a small
//! grid by the one-step-ahead squared error over the run. The trend is damped by
//! `1 - 1 / N_STEPS` per step, so a trend is never extrapolated much further than the length of
//! history it was seen on: an undamped trend fitted on minutes of noise would otherwise explode
//! over an hour's horizon.

use crate::resample::{N_STEPS, Resampled};

const LEVEL_WEIGHTS: [f64; 4] = [0.1, 0.2, 0.4, 0.7];
const TREND_WEIGHTS: [f64; 3] = [0.05, 0.15, 0.3];
const DAMPING: f64 = 1.0 - 1.0 / N_STEPS as f64;

/// A fitted Holt model, predicting from now on.
#[derive(Debug, Clone)]
pub(crate) struct HoltModel {
    now_ms: u64,
    consumed: f64,
    step_ms: f64,
    /// Consumption per step at now.
    level: f64,
    /// Change of the consumption per step, per step, before damping.
    trend: f64,
}

impl HoltModel {
    pub(crate) fn fit(resampled: &Resampled) -> Self {
        let mut increments = [0.0; N_STEPS];
        for (step_idx, increment) in increments.iter_mut().enumerate() {
            *increment = resampled.cumulative[step_idx + 1] - resampled.cumulative[step_idx];
        }
        let mut best: Option<(f64, f64, f64)> = None;
        for level_weight in LEVEL_WEIGHTS {
            for trend_weight in TREND_WEIGHTS {
                let (squared_error, level, trend) = smooth(&increments, level_weight, trend_weight);
                if best.is_none_or(|(best_error, _, _)| squared_error < best_error) {
                    best = Some((squared_error, level, trend));
                }
            }
        }
        let (_, level, trend) = best.expect("the weight grids are not empty");
        Self {
            now_ms: resampled.now_ms,
            consumed: resampled.consumed(),
            step_ms: resampled.step_ms,
            level: level.max(0.0),
            trend,
        }
    }

    pub(crate) fn cumulative_at(&self, at_ms: u64) -> f64 {
        let steps = at_ms.saturating_sub(self.now_ms) as f64 / self.step_ms;
        self.consumed + damped_sum(self.level, self.trend, steps)
    }
}

/// Runs the damped Holt recursion; returns the one-step squared error, final level and trend.
fn smooth(increments: &[f64; N_STEPS], level_weight: f64, trend_weight: f64) -> (f64, f64, f64) {
    let mut level = increments[..4].iter().sum::<f64>() / 4.0;
    let mut trend = 0.0;
    let mut squared_error = 0.0;
    for &increment in &increments[4..] {
        let predicted = level + DAMPING * trend;
        squared_error += (increment - predicted).powi(2);
        let next_level = level_weight * increment + (1.0 - level_weight) * predicted;
        trend = trend_weight * (next_level - level) + (1.0 - trend_weight) * DAMPING * trend;
        level = next_level;
    }
    (squared_error, level, trend)
}

/// Sum over steps 1..=`steps` (continuous) of `max(0, level + trend * Φ(h))`, where
/// `Φ(h) = φ (1 - φ^h) / (1 - φ)` is the damped trend multiplier.
fn damped_sum(level: f64, trend: f64, steps: f64) -> f64 {
    let phi = DAMPING;
    let trend_limit = phi / (1.0 - phi);
    let mut steps = steps;
    if trend < 0.0 {
        // The rate falls towards level + trend * Φ(∞); stop summing where it reaches zero.
        let zero_at = -level / trend;
        if zero_at < trend_limit {
            let zero_step = (1.0 - zero_at / trend_limit).ln() / phi.ln();
            steps = steps.min(zero_step);
        }
    }
    if steps <= 0.0 {
        return 0.0;
    }
    let trend_steps = steps - phi * (1.0 - phi.powf(steps)) / (1.0 - phi);
    (level * steps + trend * trend_limit * trend_steps).max(0.0)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn check(level: f64, trend: f64, steps: f64, expected: f64) {
        let got = damped_sum(level, trend, steps);
        assert!(
            (got - expected).abs() <= 1e-6 * expected.max(1.0),
            "got {got}, want {expected}"
        );
    }

    /// Reference: sum the clamped damped rates step by step.
    fn summed(level: f64, trend: f64, steps: u32) -> f64 {
        (1..=steps)
            .map(|h| {
                (level + trend * DAMPING * (1.0 - DAMPING.powi(h as i32)) / (1.0 - DAMPING))
                    .max(0.0)
            })
            .sum()
    }

    #[test]
    fn damped_sum_matches_the_step_by_step_sum() {
        check(10.0, 0.0, 5.0, 50.0);
        check(0.0, 0.0, 100.0, 0.0);
        check(10.0, 1.0, 1.0, 10.0 + DAMPING);
        check(10.0, 1.0, 200.0, summed(10.0, 1.0, 200));
        check(10.0, -0.1, 50.0, summed(10.0, -0.1, 50));
        // A steep decline stops at zero rather than going negative.
        let declining = damped_sum(10.0, -2.0, 1_000.0);
        assert!(declining > 0.0 && (declining - summed(10.0, -2.0, 1_000)).abs() < 10.0);
        check(0.0, -1.0, 10.0, 0.0);
    }
}
