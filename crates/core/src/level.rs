//! The enforcement ladder: levels, actions, thresholds and hysteresis.

use serde::{Deserialize, Serialize};

/// Parts per million: fractions as integers, so that decisions are exact and replay is exact.
pub const PPM: u64 = 1_000_000;

#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
pub enum Level {
    Green,
    Yellow,
    Orange,
    Red,
    Black,
}

impl Level {
    pub const ALL: [Level; 5] = [
        Level::Green,
        Level::Yellow,
        Level::Orange,
        Level::Red,
        Level::Black,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            Level::Green => "green",
            Level::Yellow => "yellow",
            Level::Orange => "orange",
            Level::Red => "red",
            Level::Black => "black",
        }
    }

    fn from_index(idx: usize) -> Level {
        Level::ALL[idx.min(4)]
    }
}

/// What an agent is told to do.
#[derive(Clone, Copy, Debug, PartialEq, Serialize, Deserialize)]
pub enum Action {
    Continue,
    Warn,
    /// Slow down to `rate` of the usual pace.
    Throttle {
        rate: f64,
    },
    /// Turn off what is not essential.
    Degrade,
    Stop,
    /// Idle until the budget is raised (an account set to pause at stop).
    Pause,
    /// Shadow mode: told to warn where the level would have `would` (its rules only warn).
    WarnOnly {
        would: Level,
    },
}

impl Action {
    pub fn kind(&self) -> &'static str {
        match self {
            Action::Continue => "continue",
            Action::Warn => "warn",
            Action::Throttle { .. } => "throttle",
            Action::Degrade => "degrade",
            Action::Stop => "stop",
            Action::Pause => "pause",
            Action::WarnOnly { .. } => "warn",
        }
    }
}

/// The thresholds of one account, in parts per million of its limit.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Thresholds {
    pub warn_ppm: u32,
    pub throttle_ppm: u32,
    pub degrade_ppm: u32,
    pub stop_ppm: u32,
    /// How far below a threshold the fraction must fall before the level drops.
    pub margin_ppm: u32,
}

impl Default for Thresholds {
    fn default() -> Self {
        Thresholds {
            warn_ppm: 500_000,
            throttle_ppm: 750_000,
            degrade_ppm: 900_000,
            stop_ppm: 950_000,
            margin_ppm: 20_000,
        }
    }
}

impl Thresholds {
    /// Checks the thresholds rise strictly and stay within (0, 1]; the message names the field.
    pub fn check(&self) -> Result<(), (&'static str, String)> {
        let ladder = [
            ("warn", self.warn_ppm),
            ("throttle", self.throttle_ppm),
            ("degrade", self.degrade_ppm),
            ("stop", self.stop_ppm),
        ];
        for (name, value) in ladder {
            if value == 0 || u64::from(value) > PPM {
                return Err((
                    name,
                    format!("thresholds.{name} must be above 0 and at most 1"),
                ));
            }
        }
        for pair in ladder.windows(2) {
            if pair[0].1 >= pair[1].1 {
                return Err((
                    pair[1].0,
                    format!(
                        "thresholds.{} must be above thresholds.{}",
                        pair[1].0, pair[0].0
                    ),
                ));
            }
        }
        if u64::from(self.margin_ppm) >= PPM {
            return Err(("margin", "thresholds.margin must be below 1".into()));
        }
        Ok(())
    }

    fn ladder(&self) -> [u32; 4] {
        [
            self.warn_ppm,
            self.throttle_ppm,
            self.degrade_ppm,
            self.stop_ppm,
        ]
    }

    /// The level a usage fraction `used / limit` reaches, without hysteresis.
    pub fn raw_level(&self, used: u64, limit: u64) -> Level {
        self.level_with_offset(used, limit, 0)
    }

    /// The number of thresholds at or below `used / limit + offset`.
    fn level_with_offset(&self, used: u64, limit: u64, offset_ppm: u32) -> Level {
        // used / limit >= t - offset  <=>  (used + limit * offset) * PPM >= t * limit, in u128 so
        // that nothing overflows.
        let lhs = (u128::from(used) * u128::from(PPM)) + u128::from(limit) * u128::from(offset_ppm);
        let reached = self
            .ladder()
            .iter()
            .filter(|t| lhs >= u128::from(**t) * u128::from(limit))
            .count();
        Level::from_index(reached)
    }

    /// The next level from `current`: up at once, down only once the fraction is `margin` below
    /// the threshold of the level it leaves.
    pub fn next_level(&self, current: Level, used: u64, limit: u64) -> Level {
        let raw = self.raw_level(used, limit);
        if raw >= current {
            return raw;
        }
        let sticky = self.level_with_offset(used, limit, self.margin_ppm);
        sticky.min(current).max(raw)
    }

    /// The least use of `limit` at the stop threshold: where an agent is stopped.
    pub fn stop_line(&self, limit: u64) -> u64 {
        (u128::from(self.stop_ppm) * u128::from(limit)).div_ceil(u128::from(PPM)) as u64
    }

    /// True when a hold of `used` would stay strictly below the stop threshold of `limit`.
    pub fn below_stop(&self, used: u64, limit: u64) -> bool {
        u128::from(used) * u128::from(PPM) < u128::from(self.stop_ppm) * u128::from(limit)
    }

    /// The most that `used` may grow and stay strictly below the stop threshold.
    pub fn headroom_below_stop(&self, used: u64, limit: u64) -> u64 {
        // Largest total t with t * PPM < stop * limit is ceil(stop * limit / PPM) - 1.
        let product = u128::from(self.stop_ppm) * u128::from(limit);
        let ceiling = product.div_ceil(u128::from(PPM));
        let max_total = ceiling.saturating_sub(1);
        u64::try_from(max_total.saturating_sub(u128::from(used))).unwrap_or(u64::MAX)
    }
}

/// The action for a level; `throttle_rate_ppm` is the pace an orange agent is held to.
pub fn action_for(level: Level, throttle_rate_ppm: u32) -> Action {
    match level {
        Level::Green => Action::Continue,
        Level::Yellow => Action::Warn,
        Level::Orange => Action::Throttle {
            rate: f64::from(throttle_rate_ppm) / PPM as f64,
        },
        Level::Red => Action::Degrade,
        Level::Black => Action::Stop,
    }
}

/// `used / limit` as a float for display; a zero limit counts as fully used.
pub fn fraction(used: u64, limit: u64) -> f64 {
    if limit == 0 {
        if used == 0 { 1.0 } else { 1.0 + used as f64 }
    } else {
        used as f64 / limit as f64
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn check_raw(used: u64, limit: u64, expected: Level) {
        assert_eq!(
            Thresholds::default().raw_level(used, limit),
            expected,
            "{used}/{limit}"
        );
    }

    #[test]
    fn raw_levels_at_the_boundaries() {
        check_raw(0, 100, Level::Green);
        check_raw(49, 100, Level::Green);
        check_raw(50, 100, Level::Yellow);
        check_raw(74, 100, Level::Yellow);
        check_raw(75, 100, Level::Orange);
        check_raw(89, 100, Level::Orange);
        check_raw(90, 100, Level::Red);
        check_raw(94, 100, Level::Red);
        check_raw(95, 100, Level::Black);
        check_raw(250, 100, Level::Black);
        check_raw(0, 0, Level::Black);
        check_raw(u64::MAX, u64::MAX, Level::Black);
    }

    fn check_next(current: Level, used: u64, expected: Level) {
        assert_eq!(
            Thresholds::default().next_level(current, used, 1000),
            expected,
            "{current:?} at {used}/1000"
        );
    }

    #[test]
    fn hysteresis_drops_only_past_the_margin() {
        check_next(Level::Orange, 740, Level::Orange); // 0.74 is within 0.02 of 0.75
        check_next(Level::Orange, 731, Level::Orange);
        check_next(Level::Orange, 730, Level::Orange); // exactly the margin still holds
        check_next(Level::Orange, 729, Level::Yellow);
        check_next(Level::Orange, 100, Level::Green);
        check_next(Level::Black, 940, Level::Black);
        check_next(Level::Black, 929, Level::Red);
        check_next(Level::Black, 10, Level::Green);
        check_next(Level::Green, 950, Level::Black); // up at once
        check_next(Level::Yellow, 760, Level::Orange);
    }

    #[test]
    fn stop_headroom_is_exact() {
        let thresholds = Thresholds::default();
        // Stop at 95% of 1000 is 950: a hold may take the total to 949 and no further.
        assert_eq!(thresholds.headroom_below_stop(0, 1000), 949);
        assert!(thresholds.below_stop(949, 1000));
        assert!(!thresholds.below_stop(950, 1000));
        assert_eq!(thresholds.headroom_below_stop(949, 1000), 0);
        assert_eq!(thresholds.headroom_below_stop(2000, 1000), 0);
        assert_eq!(thresholds.headroom_below_stop(0, 0), 0);
        // 95% of 7 is 6.65: totals up to 6 are below it, 7 is the stop line.
        assert_eq!(thresholds.headroom_below_stop(0, 7), 6);
        assert_eq!(thresholds.stop_line(7), 7);
        assert_eq!(thresholds.stop_line(1000), 950);
        assert_eq!(
            thresholds.raw_level(thresholds.stop_line(7), 7),
            Level::Black
        );
    }

    #[test]
    fn thresholds_must_rise() {
        assert!(Thresholds::default().check().is_ok());
        let bad = Thresholds {
            throttle_ppm: 400_000,
            ..Thresholds::default()
        };
        assert_eq!(bad.check().unwrap_err().0, "throttle");
        let zero = Thresholds {
            warn_ppm: 0,
            ..Thresholds::default()
        };
        assert_eq!(zero.check().unwrap_err().0, "warn");
    }
}
