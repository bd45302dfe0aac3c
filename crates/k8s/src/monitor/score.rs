//! Measuring an anomaly detector against labelled windows, and the baseline it must beat.
//!
//! The labels are windows of time known to hold an anomaly, as the Numenta Anomaly Benchmark
//! gives them (each wide enough to take in the run-up and the aftermath). The scorecard keeps
//! NAB's question, "did it say something inside the window, how soon, and how often did it speak
//! outside one", but counts plainly instead of weighting by NAB's sigmoid, so each figure can be
//! read on its own: detections inside a window are true, detections outside every window are
//! false alarms (also per day, since a rate is what an on-call person feels), windows without a
//! detection are missed, and a detected window's delay runs from its start to its first
//! detection.

use super::Sample;

const MS_PER_DAY: f64 = 86_400_000.0;

/// A labelled stretch of time holding an anomaly, both ends included.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Window {
    pub start_ms: u64,
    pub end_ms: u64,
}

impl Window {
    fn holds(&self, t_ms: u64) -> bool {
        self.start_ms <= t_ms && t_ms <= self.end_ms
    }
}

/// How a detector did on one series, or on several added up.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct Scorecard {
    pub windows: usize,
    /// Detections inside a window.
    pub true_detections: usize,
    /// Detections outside every window.
    pub false_detections: usize,
    /// Windows without a detection.
    pub missed_windows: usize,
    /// For each detected window, from its start to its first detection.
    pub delays_ms: Vec<u64>,
    /// The time the series covers, in days.
    pub days: f64,
}

impl Scorecard {
    pub fn detected_windows(&self) -> usize {
        self.windows - self.missed_windows
    }

    /// The mean delay of the detected windows; `None` when none was.
    pub fn mean_delay_ms(&self) -> Option<f64> {
        (!self.delays_ms.is_empty())
            .then(|| self.delays_ms.iter().sum::<u64>() as f64 / self.delays_ms.len() as f64)
    }

    /// False alarms per day of data; zero for a series of no duration.
    pub fn false_per_day(&self) -> f64 {
        if self.days > 0.0 {
            self.false_detections as f64 / self.days
        } else {
            0.0
        }
    }

    /// Adds another series' counts to these.
    pub fn add(&mut self, other: &Scorecard) {
        self.windows += other.windows;
        self.true_detections += other.true_detections;
        self.false_detections += other.false_detections;
        self.missed_windows += other.missed_windows;
        self.delays_ms.extend_from_slice(&other.delays_ms);
        self.days += other.days;
    }
}

/// Scores the detections (times, in any order) of a series that covers `first_ms..=last_ms`
/// against its windows.
pub fn score_detections(
    detections_ms: &[u64],
    windows: &[Window],
    first_ms: u64,
    last_ms: u64,
) -> Scorecard {
    let mut detections_ms = detections_ms.to_vec();
    detections_ms.sort_unstable();
    let true_detections = detections_ms
        .iter()
        .filter(|&&t_ms| windows.iter().any(|window| window.holds(t_ms)))
        .count();
    let delays_ms: Vec<u64> = windows
        .iter()
        .filter_map(|window| {
            let first = detections_ms.iter().find(|&&t_ms| window.holds(t_ms))?;
            Some(first - window.start_ms)
        })
        .collect();
    Scorecard {
        windows: windows.len(),
        true_detections,
        false_detections: detections_ms.len() - true_detections,
        missed_windows: windows.len() - delays_ms.len(),
        delays_ms,
        days: last_ms.saturating_sub(first_ms) as f64 / MS_PER_DAY,
    }
}

/// The static threshold a platform team would set without a detector: the mean plus three
/// standard deviations of a training stretch at the start of the series.
///
/// The training stretch is the first 15 %, as NAB's probationary period (a detector is not
/// scored on it), and the threshold is learnt from it alone, so the baseline is as causal as the
/// detector: it says nothing during the training stretch and never looks ahead. Three standard
/// deviations is the textbook rule; only high values alarm, as usage alerts do. A detection is
/// each time the value goes above the threshold after being at or below it, since an alerting
/// rule notifies when it starts firing, not once per sample while it fires.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct StaticThreshold {
    /// The share of the series, from its start, the threshold is learnt from (default 0.15).
    pub training_fraction: f64,
    /// Standard deviations above the training mean (default 3).
    pub sigmas: f64,
}

impl Default for StaticThreshold {
    fn default() -> Self {
        StaticThreshold {
            training_fraction: 0.15,
            sigmas: 3.0,
        }
    }
}

impl StaticThreshold {
    /// The threshold learnt from the training stretch of `samples`; `None` when it holds fewer
    /// than two samples.
    pub fn threshold(&self, samples: &[Sample]) -> Option<f64> {
        let training = &samples[..self.training_len(samples)];
        if training.len() < 2 {
            return None;
        }
        let n = training.len() as f64;
        let mean = training.iter().map(|sample| sample.value).sum::<f64>() / n;
        let variance = training
            .iter()
            .map(|sample| (sample.value - mean).powi(2))
            .sum::<f64>()
            / (n - 1.0);
        Some(mean + self.sigmas * variance.sqrt())
    }

    /// The times the series (oldest first) went above the threshold after the training stretch.
    pub fn detect(&self, samples: &[Sample]) -> Vec<u64> {
        let Some(threshold) = self.threshold(samples) else {
            return Vec::new();
        };
        let after_training = &samples[self.training_len(samples)..];
        let mut was_above = false;
        let mut detections_ms = Vec::new();
        for sample in after_training {
            let is_above = sample.value > threshold;
            if is_above && !was_above {
                detections_ms.push(sample.t_ms);
            }
            was_above = is_above;
        }
        detections_ms
    }

    fn training_len(&self, samples: &[Sample]) -> usize {
        ((samples.len() as f64 * self.training_fraction).round() as usize).min(samples.len())
    }
}
