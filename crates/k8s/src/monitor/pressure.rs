//! Pressure: how full a series is, as a level that fires only once its condition has held for a
//! while and resolves only once it has clearly ended.
//!
//! Each level above ok is a rule of its own, as a platform team would write two Prometheus
//! alerting rules with `for: 10m`: the rule turns *pending* when the fraction of capacity reaches
//! its threshold, *fires* when it has stayed there for `for_ms` (one sample below the threshold
//! while pending starts the wait again), and resolves when the fraction has stayed below the
//! threshold minus `clear_margin` for `clear_for_ms`. The margin and the wait are the hysteresis:
//! a fraction hovering around a threshold neither fires early nor resolves and fires again with
//! every sample.
//!
//! The level of a series is the highest firing rule, and a finding is a change of that level.
//! Pending is not a finding: a pending condition that clears is not news, which is also why
//! Alertmanager is only ever told of firing alerts. It can be read with `Monitor::status`.

/// How full a series is, in increasing order of urgency.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Level {
    Ok,
    Warning,
    Critical,
}

impl Level {
    /// The lowercase name, as alerts and metric labels show it.
    pub fn name(self) -> &'static str {
        match self {
            Level::Ok => "ok",
            Level::Warning => "warning",
            Level::Critical => "critical",
        }
    }
}

/// The thresholds and the waits of pressure levels.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct PressureConfig {
    /// Fraction of capacity at which the warning rule turns pending (default 0.80).
    pub warning: f64,
    /// Fraction of capacity at which the critical rule turns pending (default 0.95).
    pub critical: f64,
    /// How long a rule stays pending before it fires (default 10 minutes, Prometheus' `for`).
    pub for_ms: u64,
    /// A firing rule resolves only below its threshold minus this fraction (default 0.05).
    pub clear_margin: f64,
    /// ...and only after staying there this long (default 5 minutes, Prometheus'
    /// `keep_firing_for`).
    pub clear_for_ms: u64,
}

impl Default for PressureConfig {
    fn default() -> Self {
        PressureConfig {
            warning: 0.80,
            critical: 0.95,
            for_ms: 10 * 60_000,
            clear_margin: 0.05,
            clear_for_ms: 5 * 60_000,
        }
    }
}

impl PressureConfig {
    pub(super) fn check(&self) -> Result<(), String> {
        if !(self.warning > 0.0 && self.warning < self.critical && self.critical.is_finite()) {
            return Err(format!(
                "pressure thresholds must satisfy 0 < warning < critical, got {} and {}",
                self.warning, self.critical
            ));
        }
        if !(self.clear_margin >= 0.0 && self.clear_margin < self.warning) {
            return Err(format!(
                "pressure clear_margin must be at least 0 and below warning {}, got {}",
                self.warning, self.clear_margin
            ));
        }
        Ok(())
    }
}

/// A change of the pressure level of a series.
#[derive(Clone, Debug, PartialEq)]
pub struct PressureChange {
    /// The level now (ok when the last firing rule resolved).
    pub level: Level,
    pub previous: Level,
    /// The sample's value over its capacity.
    pub fraction: f64,
    pub value: f64,
    pub capacity: f64,
    /// The threshold (a fraction of capacity) of the rule that changed: the one that fired when
    /// the level rose, the one that resolved when it fell.
    pub threshold: f64,
    /// How long the rule's condition had held when it changed: above the threshold since it
    /// turned pending when the level rose, below the margin when it fell.
    pub held_ms: u64,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum RuleState {
    Inactive,
    Pending {
        since_ms: u64,
    },
    Firing {
        /// When the fraction last went below the threshold minus the margin, while it stays
        /// there.
        clearing_since_ms: Option<u64>,
    },
}

/// What one rule did with one sample.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Step {
    Unchanged,
    Fired { held_ms: u64 },
    Resolved { held_ms: u64 },
}

/// Steps the rule of `threshold` (a fraction of capacity) with the fraction of a sample.
fn step(
    state: &mut RuleState,
    threshold: f64,
    config: &PressureConfig,
    t_ms: u64,
    fraction: f64,
) -> Step {
    let clear_below = threshold - config.clear_margin;
    match *state {
        RuleState::Inactive if fraction >= threshold => {
            *state = RuleState::Pending { since_ms: t_ms };
            // A rule without a wait fires with its first sample, as `for: 0` does.
            step(state, threshold, config, t_ms, fraction)
        }
        RuleState::Inactive => Step::Unchanged,
        RuleState::Pending { .. } if fraction < threshold => {
            *state = RuleState::Inactive;
            Step::Unchanged
        }
        RuleState::Pending { since_ms } => {
            let held_ms = t_ms - since_ms;
            if held_ms < config.for_ms {
                return Step::Unchanged;
            }
            *state = RuleState::Firing {
                clearing_since_ms: None,
            };
            Step::Fired { held_ms }
        }
        RuleState::Firing { .. } if fraction >= clear_below => {
            *state = RuleState::Firing {
                clearing_since_ms: None,
            };
            Step::Unchanged
        }
        RuleState::Firing { clearing_since_ms } => {
            let since_ms = clearing_since_ms.unwrap_or(t_ms);
            let held_ms = t_ms - since_ms;
            if held_ms < config.clear_for_ms {
                *state = RuleState::Firing {
                    clearing_since_ms: Some(since_ms),
                };
                return Step::Unchanged;
            }
            *state = RuleState::Inactive;
            Step::Resolved { held_ms }
        }
    }
}

/// The two rules of one series.
#[derive(Clone, Debug)]
pub(super) struct PressureTracker {
    warning: RuleState,
    critical: RuleState,
}

impl PressureTracker {
    pub(super) fn new() -> Self {
        PressureTracker {
            warning: RuleState::Inactive,
            critical: RuleState::Inactive,
        }
    }

    /// The highest firing level.
    pub(super) fn level(&self) -> Level {
        if matches!(self.critical, RuleState::Firing { .. }) {
            Level::Critical
        } else if matches!(self.warning, RuleState::Firing { .. }) {
            Level::Warning
        } else {
            Level::Ok
        }
    }

    /// The highest pending level above the firing one, with when it turned pending.
    pub(super) fn pending(&self) -> Option<(Level, u64)> {
        for (level, state) in [
            (Level::Critical, self.critical),
            (Level::Warning, self.warning),
        ] {
            if let RuleState::Pending { since_ms } = state {
                return Some((level, since_ms));
            }
        }
        None
    }

    /// Steps both rules with a sample (`t_ms` later than any before) and says how the level
    /// changed, if it did.
    pub(super) fn observe(
        &mut self,
        config: &PressureConfig,
        t_ms: u64,
        value: f64,
        capacity: f64,
    ) -> Option<PressureChange> {
        let fraction = value / capacity;
        let previous = self.level();
        let mut changed = None;
        // The critical rule is stepped last: when both change with one sample, its figures are
        // the ones that describe the new level.
        let rules = [
            (config.warning, &mut self.warning),
            (config.critical, &mut self.critical),
        ];
        for (threshold, state) in rules {
            match step(state, threshold, config, t_ms, fraction) {
                Step::Unchanged => {}
                Step::Fired { held_ms } | Step::Resolved { held_ms } => {
                    changed = Some((threshold, held_ms));
                }
            }
        }
        let level = self.level();
        let (threshold, held_ms) = changed?;
        if level == previous {
            return None;
        }
        Some(PressureChange {
            level,
            previous,
            fraction,
            value,
            capacity,
            threshold,
            held_ms,
        })
    }
}
