//! The history resampled on a regular grid: what the fitted methods (Holt, historical
//! profiles) read.

use crate::history::Curve;

/// The history is resampled into this many equal steps from the start of the run to now.
pub const N_STEPS: usize = 32;

/// Cumulative consumption at `N_STEPS + 1` equally spaced times from the start to now.
#[derive(Debug, Clone)]
pub(crate) struct Resampled {
    pub(crate) start_ms: u64,
    pub(crate) now_ms: u64,
    pub(crate) step_ms: f64,
    pub(crate) cumulative: [f64; N_STEPS + 1],
}

impl Resampled {
    /// `None` until some time has elapsed since the start.
    pub(crate) fn new(curve: &Curve<'_>, start_ms: u64, now_ms: u64) -> Option<Self> {
        if now_ms <= start_ms {
            return None;
        }
        let step_ms = (now_ms - start_ms) as f64 / N_STEPS as f64;
        let mut cumulative = [0.0; N_STEPS + 1];
        for (step_idx, value) in cumulative.iter_mut().enumerate() {
            let at_ms = start_ms + (step_ms * step_idx as f64).round() as u64;
            *value = curve.cumulative_at(at_ms);
        }
        Some(Self {
            start_ms,
            now_ms,
            step_ms,
            cumulative,
        })
    }

    pub(crate) fn consumed(&self) -> f64 {
        self.cumulative[N_STEPS]
    }
}
