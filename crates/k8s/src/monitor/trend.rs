//! The trend: when a series will reach its critical threshold if it keeps going as it has
//! lately.
//!
//! The slope is Theil–Sen's: the median of the slopes between every pair of recent samples. Up
//! to 29 % of the samples can be wild without moving it, so one spike does not announce an
//! exhaustion, and unlike a least-squares fit it needs no assumption about the noise. The line
//! goes through the median of `value - slope × time`, and is projected from where it stands now
//! (not from the last sample, which may be noise) to the threshold.
//!
//! A steep slope on a short noisy window can be an accident of the noise, so a forecast also
//! needs the samples to agree that the series rises: Kendall's τ (the share of pairs that rise
//! minus the share that fall, the statistic behind the Mann–Kendall trend test) must reach
//! `agreement_min`.
//!
//! A forecast is a finding when it starts (the crossing came within `lead_ms`), when the
//! threshold is reached, and when it is withdrawn (the series stopped rising, or the crossing is
//! now more than twice the lead time away: the factor keeps one borderline estimate from
//! raising and withdrawing the same forecast every sample). In between, the estimate is
//! refreshed with every sample but not repeated.

use super::Sample;
use super::robust::median;

/// How the trend is estimated and when it is reported.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct TrendConfig {
    /// The samples of this recent past make the trend (default 1 hour).
    pub window_ms: u64,
    /// At most this many of them, evenly thinned, since the cost grows with its square
    /// (default 60: 1,770 pairs).
    pub points_max: usize,
    /// No trend from fewer samples than this (default 8)...
    pub points_min: usize,
    /// ...or from samples spanning less than this (default 15 minutes).
    pub span_min_ms: u64,
    /// A crossing forecast within this is reported (default 1 hour).
    pub lead_ms: u64,
    /// Kendall's τ of the window must reach this for a forecast to start (default 0.4: for
    /// every pair that falls, at least 2.3 rise).
    pub agreement_min: f64,
}

impl Default for TrendConfig {
    fn default() -> Self {
        TrendConfig {
            window_ms: 60 * 60_000,
            points_max: 60,
            points_min: 8,
            span_min_ms: 15 * 60_000,
            lead_ms: 60 * 60_000,
            agreement_min: 0.4,
        }
    }
}

impl TrendConfig {
    pub(super) fn check(&self) -> Result<(), String> {
        if self.points_min < 3 || self.points_max < self.points_min {
            return Err(format!(
                "trend points must satisfy 3 <= points_min <= points_max, got {} and {}",
                self.points_min, self.points_max
            ));
        }
        if self.window_ms == 0 || self.span_min_ms > self.window_ms {
            return Err(format!(
                "trend span_min_ms {} must not exceed window_ms {} (above 0)",
                self.span_min_ms, self.window_ms
            ));
        }
        if !(self.agreement_min >= 0.0 && self.agreement_min <= 1.0) {
            return Err(format!(
                "trend agreement_min must be in [0, 1], got {}",
                self.agreement_min
            ));
        }
        Ok(())
    }
}

/// A robust straight line through recent samples.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct TrendLine {
    /// Change per hour, in the series' unit.
    pub slope_per_hour: f64,
    /// Where the line stands at the newest sample.
    pub level: f64,
    /// Kendall's τ, from -1 (every pair falls) to 1 (every pair rises).
    pub agreement: f64,
    /// Samples the line was fitted to.
    pub points: usize,
}

const MS_PER_HOUR: f64 = 3_600_000.0;

/// Fits a Theil–Sen line to the samples (oldest first, strictly increasing times) of the last
/// `window_ms`, thinned to `points_max`; `None` when they are too few or too close together.
pub fn fit(samples: &[Sample], config: &TrendConfig) -> Option<TrendLine> {
    let newest = samples.last()?;
    let window_start =
        samples.partition_point(|sample| sample.t_ms + config.window_ms < newest.t_ms);
    let window = &samples[window_start..];
    // At most `points_max` samples evenly spread over the window, the newest and the oldest
    // always in.
    let last = window.len().saturating_sub(1);
    let kept = window.len().min(config.points_max);
    let thinned: Vec<&Sample> = (0..kept)
        .map(|rank| &window[last - (rank * last + (kept - 1) / 2) / (kept - 1).max(1)])
        .collect();
    let oldest = thinned.last()?;
    if thinned.len() < config.points_min || newest.t_ms - oldest.t_ms < config.span_min_ms {
        return None;
    }
    // Hours before the newest sample: small numbers, so no precision is lost to the epoch.
    let points: Vec<(f64, f64)> = thinned
        .iter()
        .map(|sample| {
            (
                -((newest.t_ms - sample.t_ms) as f64) / MS_PER_HOUR,
                sample.value,
            )
        })
        .collect();
    let mut slopes = Vec::with_capacity(points.len() * (points.len() - 1) / 2);
    let (mut rising, mut falling) = (0usize, 0usize);
    for (index, &(hour_a, value_a)) in points.iter().enumerate() {
        for &(hour_b, value_b) in &points[index + 1..] {
            let slope = (value_a - value_b) / (hour_a - hour_b);
            slopes.push(slope);
            if slope > 0.0 {
                rising += 1;
            } else if slope < 0.0 {
                falling += 1;
            }
        }
    }
    let pairs = slopes.len() as f64;
    let slope_per_hour = median(&mut slopes)?;
    let mut intercepts: Vec<f64> = points
        .iter()
        .map(|&(hour, value)| value - slope_per_hour * hour)
        .collect();
    let level = median(&mut intercepts)?;
    Some(TrendLine {
        slope_per_hour,
        level,
        agreement: (rising as f64 - falling as f64) / pairs,
        points: points.len(),
    })
}

/// Where a forecast stands.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ForecastState {
    /// The threshold is forecast to be reached within the lead time.
    Heading,
    /// The trend line reached the threshold while a forecast stood.
    Reached,
    /// The forecast no longer holds.
    Withdrawn,
}

/// A forecast crossing of the critical threshold, or the end of one.
#[derive(Clone, Debug, PartialEq)]
pub struct Forecast {
    pub state: ForecastState,
    /// The trend line behind it.
    pub line: TrendLine,
    /// The newest sample's value.
    pub value: f64,
    /// The threshold, in the series' unit.
    pub threshold: f64,
    /// The threshold as a fraction of capacity.
    pub threshold_fraction: f64,
    /// Time from this sample until the line reaches the threshold (heading only).
    pub eta_ms: Option<u64>,
}

/// Whether a forecast stands for one series.
#[derive(Clone, Debug, Default)]
pub(super) struct TrendTracker {
    pub(super) heading: bool,
}

impl TrendTracker {
    /// Refits the line after a sample and says whether a forecast started or ended.
    pub(super) fn observe(
        &mut self,
        config: &TrendConfig,
        samples: &[Sample],
        threshold_fraction: f64,
        capacity: f64,
    ) -> Option<Forecast> {
        let line = fit(samples, config)?;
        let threshold = threshold_fraction * capacity;
        let eta_hours = (threshold - line.level) / line.slope_per_hour;
        let forecast = |state, eta_ms| Forecast {
            state,
            line,
            value: samples.last().map_or(line.level, |sample| sample.value),
            threshold,
            threshold_fraction,
            eta_ms,
        };
        let lead_hours = config.lead_ms as f64 / MS_PER_HOUR;
        if line.level >= threshold {
            // Past the threshold, pressure speaks; a standing forecast came true.
            return std::mem::take(&mut self.heading)
                .then(|| forecast(ForecastState::Reached, None));
        }
        let rising = line.slope_per_hour > 0.0;
        if !self.heading
            && rising
            && line.agreement >= config.agreement_min
            && eta_hours <= lead_hours
        {
            self.heading = true;
            let eta_ms = (eta_hours * MS_PER_HOUR).round() as u64;
            return Some(forecast(ForecastState::Heading, Some(eta_ms)));
        }
        if self.heading && (!rising || eta_hours > 2.0 * lead_hours) {
            self.heading = false;
            return Some(forecast(ForecastState::Withdrawn, None));
        }
        None
    }
}
