//! Profiles of finished runs and the historical method built on them.
//!
//! A `RunProfile` is the normalised growth curve of a run: the share of its final total consumed
//! by each of `PROFILE_POINTS` equally spaced fractions of its duration. A `ProfileLibrary` keeps
//! the most recent profiles per account kind (bounded) and serves their pointwise mean. The
//! historical method reads the current run's elapsed fraction of the horizon (taken as the run's
//! end), and scales what was consumed so far by the profile's share at the target fraction over
//! its share now.

use std::collections::BTreeMap;

use crate::history::{Curve, History};
use crate::resample::{N_STEPS, Resampled};

/// Number of points of a profile (its fractions are `i / (PROFILE_POINTS - 1)`).
pub const PROFILE_POINTS: usize = N_STEPS + 1;

/// Profiles kept per kind; the oldest is replaced first.
pub const MAX_RUNS_PER_KIND: usize = 32;

/// Kinds kept in a library; runs of further kinds are refused.
pub const MAX_KINDS: usize = 1_024;

/// Below this share of its profile, a run is too young for the historical method: dividing by a
/// tiny share would blow up any noise.
const MIN_SHARE_NOW: f64 = 0.02;

/// The normalised growth curve of a finished run.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct RunProfile {
    shares: [f64; PROFILE_POINTS],
}

impl RunProfile {
    /// The profile of a run recorded in `history` that ended at `end_ms`; `None` if the run had
    /// no duration or consumed nothing.
    pub fn from_history(history: &History, end_ms: u64) -> Option<Self> {
        let start_ms = history.start_ms();
        if end_ms <= start_ms || history.consumed() == 0 {
            return None;
        }
        let curve = Curve::new(history, end_ms);
        let total = history.consumed() as f64;
        let duration_ms = (end_ms - start_ms) as f64;
        let mut shares = [0.0; PROFILE_POINTS];
        for (point_idx, share) in shares.iter_mut().enumerate() {
            let fraction = point_idx as f64 / N_STEPS as f64;
            let at_ms = start_ms + (duration_ms * fraction).round() as u64;
            *share = curve.cumulative_at(at_ms) / total;
        }
        shares[N_STEPS] = 1.0;
        Self::from_shares(shares)
    }

    /// A profile from explicit shares; `None` unless they are finite, non-decreasing, start at or
    /// above zero and end at one.
    pub fn from_shares(shares: [f64; PROFILE_POINTS]) -> Option<Self> {
        let valid = shares.iter().all(|share| share.is_finite())
            && shares[0] >= 0.0
            && (shares[N_STEPS] - 1.0).abs() < 1e-9
            && shares.windows(2).all(|pair| pair[0] <= pair[1]);
        valid.then_some(Self { shares })
    }

    /// The shares of the total consumed at each point.
    pub fn shares(&self) -> &[f64; PROFILE_POINTS] {
        &self.shares
    }

    /// Share consumed at `fraction` of the run, interpolated; past the end, the last quarter's
    /// average rate continues.
    pub fn share_at(&self, fraction: f64) -> f64 {
        if fraction <= 0.0 {
            return self.shares[0];
        }
        if fraction >= 1.0 {
            let tail_slope = (1.0 - self.shares[3 * N_STEPS / 4]) / 0.25;
            return 1.0 + (fraction - 1.0) * tail_slope;
        }
        let position = fraction * N_STEPS as f64;
        let point_idx = (position.floor() as usize).min(N_STEPS - 1);
        let within = position - point_idx as f64;
        self.shares[point_idx] + within * (self.shares[point_idx + 1] - self.shares[point_idx])
    }
}

/// Profiles of finished runs, per account kind, bounded in kinds and runs per kind.
#[derive(Debug, Clone, Default)]
pub struct ProfileLibrary {
    kinds: BTreeMap<String, KindRuns>,
}

#[derive(Debug, Clone, Default)]
struct KindRuns {
    profiles: Vec<RunProfile>,
    next_slot: usize,
}

impl ProfileLibrary {
    /// An empty library.
    pub fn new() -> Self {
        Self::default()
    }

    /// Records a finished run of `kind`; false if it has no profile or the library is full of
    /// other kinds.
    pub fn record_run(&mut self, kind: &str, history: &History, end_ms: u64) -> bool {
        match RunProfile::from_history(history, end_ms) {
            Some(profile) => self.record_profile(kind, profile),
            None => false,
        }
    }

    /// Records the profile of a finished run of `kind`; false if the library is full of other
    /// kinds.
    pub fn record_profile(&mut self, kind: &str, profile: RunProfile) -> bool {
        if !self.kinds.contains_key(kind) && self.kinds.len() >= MAX_KINDS {
            return false;
        }
        let runs = self.kinds.entry(kind.to_owned()).or_default();
        if runs.profiles.len() < MAX_RUNS_PER_KIND {
            runs.profiles.push(profile);
        } else {
            runs.profiles[runs.next_slot] = profile;
        }
        runs.next_slot = (runs.next_slot + 1) % MAX_RUNS_PER_KIND;
        true
    }

    /// Number of runs of `kind` kept.
    pub fn n_runs(&self, kind: &str) -> usize {
        self.kinds.get(kind).map_or(0, |runs| runs.profiles.len())
    }

    /// The pointwise mean profile of the runs of `kind` (a mean of non-decreasing curves that
    /// end at one is one too); `None` if no run of that kind was recorded.
    pub fn profile(&self, kind: &str) -> Option<RunProfile> {
        let profiles = &self.kinds.get(kind)?.profiles;
        if profiles.is_empty() {
            return None;
        }
        let mut shares = [0.0; PROFILE_POINTS];
        for profile in profiles {
            for (sum, share) in shares.iter_mut().zip(profile.shares) {
                *sum += share;
            }
        }
        for share in &mut shares {
            *share /= profiles.len() as f64;
        }
        shares[N_STEPS] = 1.0;
        RunProfile::from_shares(shares)
    }
}

/// The historical method fitted to the current run.
#[derive(Debug, Clone)]
pub(crate) struct HistoricalModel<'a> {
    start_ms: u64,
    run_end_ms: u64,
    consumed: f64,
    share_now: f64,
    profile: &'a RunProfile,
}

impl<'a> HistoricalModel<'a> {
    /// `None` when the run is past its end or too young for the profile to say anything.
    pub(crate) fn fit(
        resampled: &Resampled,
        run_end_ms: u64,
        profile: &'a RunProfile,
    ) -> Option<Self> {
        if run_end_ms <= resampled.now_ms {
            return None;
        }
        let mut model = Self {
            start_ms: resampled.start_ms,
            run_end_ms,
            consumed: resampled.consumed(),
            share_now: 0.0,
            profile,
        };
        model.share_now = profile.share_at(model.fraction(resampled.now_ms));
        (model.share_now >= MIN_SHARE_NOW).then_some(model)
    }

    pub(crate) fn cumulative_at(&self, at_ms: u64) -> f64 {
        let share = self.profile.share_at(self.fraction(at_ms));
        self.consumed * (share / self.share_now).max(1.0)
    }

    fn fraction(&self, at_ms: u64) -> f64 {
        at_ms.saturating_sub(self.start_ms) as f64 / (self.run_end_ms - self.start_ms) as f64
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A run whose consumption per second is `rate(fraction of the run)`, over `seconds`.
    fn run(rate: impl Fn(f64) -> f64, seconds: u64, scale: f64) -> History {
        let mut history = History::new(0);
        for second in 0..seconds {
            let amount = scale * rate(second as f64 / seconds as f64);
            history.observe(second * 1_000, amount.round() as u64);
        }
        history
    }

    fn check(profile: &RunProfile, fraction: f64, expected: f64) {
        let got = profile.share_at(fraction);
        assert!(
            (got - expected).abs() < 0.01,
            "share at {fraction}: got {got}, want {expected}"
        );
    }

    #[test]
    fn profile_of_a_ramp_is_quadratic() {
        // Rate grows linearly with time, so the share consumed is fraction^2.
        let history = run(|fraction| fraction, 1_000, 1_000.0);
        let profile = RunProfile::from_history(&history, 1_000_000).unwrap();
        for fraction in [0.0, 0.25, 0.5, 0.75, 1.0] {
            check(&profile, fraction, fraction * fraction);
        }
        // Past the end the last quarter's average rate continues: (1 - 0.5625) / 0.25 per run.
        check(&profile, 1.2, 1.0 + 0.2 * 1.75);
    }

    #[test]
    fn historical_method_scales_a_known_profile() {
        let mut library = ProfileLibrary::new();
        assert!(library.profile("coder").is_none());
        for scale in [500.0, 1_000.0, 2_000.0] {
            assert!(library.record_run("coder", &run(|f| f, 1_000, scale), 1_000_000));
        }
        assert_eq!(library.n_runs("coder"), 3);
        let profile = library.profile("coder").unwrap();
        // The current run has the same shape at another scale, and is 40% through its hour.
        let history = run(|f| f, 3_600, 70.0);
        let mut current = History::new(0);
        for second in 0..1_440u64 {
            current.observe(
                second * 1_000,
                (70.0 * second as f64 / 3_600.0).round() as u64,
            );
        }
        let resampled = Resampled::new(&Curve::new(&current, 1_440_000), 0, 1_440_000).unwrap();
        let model = HistoricalModel::fit(&resampled, 3_600_000, &profile).unwrap();
        let truth = history.consumed() as f64;
        let predicted = model.cumulative_at(3_600_000);
        assert!(
            (predicted - truth).abs() / truth < 0.02,
            "{predicted} vs {truth}"
        );
        // Too early in the run (0.5% of it), the profile share is tiny: no historical model.
        let resampled = Resampled::new(&Curve::new(&current, 18_000), 0, 18_000).unwrap();
        assert!(HistoricalModel::fit(&resampled, 3_600_000, &profile).is_none());
    }

    #[test]
    fn library_is_bounded() {
        let mut library = ProfileLibrary::new();
        let profile = RunProfile::from_history(&run(|_| 1.0, 100, 10.0), 100_000).unwrap();
        for _ in 0..MAX_RUNS_PER_KIND + 5 {
            assert!(library.record_profile("tester", profile));
        }
        assert_eq!(library.n_runs("tester"), MAX_RUNS_PER_KIND);
        assert!(RunProfile::from_shares([0.5; PROFILE_POINTS]).is_none());
        assert!(RunProfile::from_history(&History::new(0), 10).is_none());
    }
}
