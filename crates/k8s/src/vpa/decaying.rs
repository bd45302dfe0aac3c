//! A histogram that forgets (upstream's `util/decaying_histogram.go`).
//!
//! A sample's weight is multiplied by `2^((t - reference) / half_life)`, so a sample one half-life
//! older counts half as much. Only relative weights matter to percentiles, so instead of shrinking
//! old weights as time passes, new samples get ever larger factors; when the exponent would pass
//! [`MAX_DECAY_EXPONENT`], the reference time moves forward and every stored weight is scaled down
//! by the same power of two. That keeps the arithmetic finite however long the history.

use super::VpaError;
use super::histogram::{Histogram, HistogramCheckpoint, HistogramOptions, round_half_up};

/// The largest decay exponent before the reference time is moved: 2^100 leaves ample room below
/// `f64::MAX` for sums of many such weights.
pub const MAX_DECAY_EXPONENT: i64 = 100;

/// A [`Histogram`] whose samples lose half their weight every `half_life_ms`.
#[derive(Clone, Debug, PartialEq)]
pub struct DecayingHistogram {
    histogram: Histogram,
    half_life_ms: i64,
    // Invariant: a multiple of `half_life_ms` (counted from 0 ms) unless loaded from a checkpoint.
    reference_ms: i64,
}

impl DecayingHistogram {
    /// An empty histogram with reference time 0.
    ///
    /// # Panics
    /// If `half_life_ms` is not positive.
    pub fn new(options: HistogramOptions, half_life_ms: i64) -> Self {
        assert!(
            half_life_ms > 0,
            "half-life must be positive, got {half_life_ms} ms"
        );
        Self {
            histogram: Histogram::new(options),
            half_life_ms,
            reference_ms: 0,
        }
    }

    /// The half-life in milliseconds.
    pub fn half_life_ms(&self) -> i64 {
        self.half_life_ms
    }

    /// The time at which a sample's weight is multiplied by exactly 1.
    pub fn reference_ms(&self) -> i64 {
        self.reference_ms
    }

    /// The underlying histogram, with the decay already folded into its weights.
    pub fn histogram(&self) -> &Histogram {
        &self.histogram
    }

    /// The decayed weight of all samples, relative to the reference time.
    pub fn total_weight(&self) -> f64 {
        self.histogram.total_weight()
    }

    /// Adds a sample taken at `t_ms`.
    pub fn add_sample(&mut self, value: f64, weight: f64, t_ms: i64) {
        let factor = self.decay_factor(t_ms);
        self.histogram.add_sample(value, weight * factor);
    }

    /// Removes a sample taken at `t_ms` that was added before.
    pub fn subtract_sample(&mut self, value: f64, weight: f64, t_ms: i64) {
        let factor = self.decay_factor(t_ms);
        self.histogram.subtract_sample(value, weight * factor);
    }

    /// Adds every sample of `other`, after bringing the older reference time up to the younger.
    ///
    /// # Panics
    /// If the half-lives or the options differ.
    pub fn merge(&mut self, other: &DecayingHistogram) {
        assert_eq!(
            self.half_life_ms, other.half_life_ms,
            "cannot merge decaying histograms with different half-lives"
        );
        if self.reference_ms < other.reference_ms {
            self.shift_reference(other.reference_ms);
        }
        if other.reference_ms < self.reference_ms {
            // Upstream shifts `other` in place; a copy keeps `other` unchanged for the caller.
            let mut aligned = other.clone();
            aligned.shift_reference(self.reference_ms);
            self.histogram.merge(&aligned.histogram);
        } else {
            self.histogram.merge(&other.histogram);
        }
    }

    /// See [`Histogram::percentile`].
    pub fn percentile(&self, percentile: f64) -> f64 {
        self.histogram.percentile(percentile)
    }

    /// See [`Histogram::is_empty`].
    pub fn is_empty(&self) -> bool {
        self.histogram.is_empty()
    }

    /// Same half-life, same reference time, and [`Histogram::approx_eq`].
    pub fn approx_eq(&self, other: &DecayingHistogram) -> bool {
        self.half_life_ms == other.half_life_ms
            && self.reference_ms == other.reference_ms
            && self.histogram.approx_eq(&other.histogram)
    }

    /// Saves the weights and the reference time they are relative to.
    pub fn save_to_checkpoint(&self) -> HistogramCheckpoint {
        HistogramCheckpoint {
            reference_timestamp_ms: self.reference_ms,
            ..self.histogram.save_to_checkpoint()
        }
    }

    /// Adds the checkpoint's weights and takes its reference time, as upstream does (it is meant
    /// for loading into an empty histogram at start-up).
    pub fn load_from_checkpoint(
        &mut self,
        checkpoint: &HistogramCheckpoint,
    ) -> Result<(), VpaError> {
        self.histogram.load_from_checkpoint(checkpoint)?;
        self.reference_ms = checkpoint.reference_timestamp_ms;
        Ok(())
    }

    /// Moves the reference time to the multiple of the half-life nearest `new_reference_ms` and
    /// rescales the stored weights so that every sample keeps its relative weight.
    fn shift_reference(&mut self, new_reference_ms: i64) {
        let new_reference_ms = round_to_multiple(new_reference_ms, self.half_life_ms);
        let exponent = round_half_up(
            (self.reference_ms as f64 - new_reference_ms as f64) / self.half_life_ms as f64,
        );
        // Beyond ±1100 the factor is 0 or infinite in f64 anyway; the clamp keeps the conversion
        // exact.
        self.histogram
            .scale((exponent.clamp(-1100, 1100) as f64).exp2());
        self.reference_ms = new_reference_ms;
    }

    fn decay_factor(&mut self, t_ms: i64) -> f64 {
        let max_allowed_ms = self
            .reference_ms
            .saturating_add(self.half_life_ms.saturating_mul(MAX_DECAY_EXPONENT));
        if t_ms > max_allowed_ms {
            self.shift_reference(t_ms);
        }
        ((t_ms as f64 - self.reference_ms as f64) / self.half_life_ms as f64).exp2()
    }
}

/// Rounds `t_ms` to the nearest multiple of `step_ms`, halves up (Go's `Time.Round`).
fn round_to_multiple(t_ms: i64, step_ms: i64) -> i64 {
    let remainder = t_ms.rem_euclid(step_ms);
    let floor = t_ms - remainder;
    if remainder >= step_ms - remainder {
        floor.saturating_add(step_ms)
    } else {
        floor
    }
}
