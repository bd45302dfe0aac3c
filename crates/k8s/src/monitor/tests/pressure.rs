//! Pressure levels: a duration before they fire, hysteresis before they resolve.

use super::{MINUTE_MS, monitor, pool_cpu};
use crate::monitor::{Kind, Level, MonitorConfig, PressureConfig};

/// Feeds one sample a minute of the given percentages of a capacity of 100, and compares the
/// level changes with `expected`: (minute, new level).
fn check(config: PressureConfig, percentages: &[f64], expected: &[(u64, Level)]) {
    let mut monitor = monitor(MonitorConfig {
        pressure: config,
        ..MonitorConfig::default()
    });
    let mut changes = Vec::new();
    for (minute, &percentage) in percentages.iter().enumerate() {
        for finding in monitor.observe(
            &pool_cpu(),
            minute as u64 * MINUTE_MS,
            percentage,
            Some(100.0),
        ) {
            if let Kind::Pressure(change) = finding.kind {
                changes.push((minute as u64, change.level));
            }
        }
    }
    assert_eq!(changes, expected, "levels of {percentages:?}");
}

/// `minutes` samples at `percentage`.
fn hold(percentage: f64, minutes: usize) -> Vec<f64> {
    vec![percentage; minutes]
}

fn join(parts: &[Vec<f64>]) -> Vec<f64> {
    parts.concat()
}

#[test]
fn a_level_fires_only_once_it_has_held_for_the_duration() {
    let config = PressureConfig::default();
    // Pending from minute 0, firing at minute 10, not before.
    check(config, &hold(85.0, 10), &[]);
    check(config, &hold(85.0, 11), &[(10, Level::Warning)]);
    // Both rules fire together: one change, straight to critical.
    check(config, &hold(97.0, 20), &[(10, Level::Critical)]);
    // Warning first, critical ten minutes after the fraction reached it.
    check(
        config,
        &join(&[hold(85.0, 15), hold(97.0, 15)]),
        &[(10, Level::Warning), (25, Level::Critical)],
    );
    // Without a duration the first sample fires.
    let at_once = PressureConfig {
        for_ms: 0,
        ..config
    };
    check(at_once, &[50.0, 85.0], &[(1, Level::Warning)]);
}

#[test]
fn one_sample_below_the_threshold_while_pending_starts_the_wait_again() {
    let config = PressureConfig::default();
    check(
        config,
        &join(&[hold(85.0, 6), hold(70.0, 1), hold(85.0, 12)]),
        &[(17, Level::Warning)],
    );
    // A condition that keeps breaking never holds long enough to fire.
    let hovering: Vec<f64> = (0..120)
        .map(|minute| if minute % 7 == 6 { 79.0 } else { 81.0 })
        .collect();
    check(config, &hovering, &[]);
}

#[test]
fn a_level_resolves_only_clear_of_its_margin_and_after_the_wait() {
    let config = PressureConfig::default();
    // Below the 80 % threshold but above 75 %: still warning, for an hour.
    check(
        config,
        &join(&[hold(85.0, 11), hold(77.0, 60)]),
        &[(10, Level::Warning)],
    );
    // Below 75 % from minute 11: resolved five minutes later.
    check(
        config,
        &join(&[hold(85.0, 11), hold(70.0, 10)]),
        &[(10, Level::Warning), (16, Level::Ok)],
    );
    // Clear for four minutes, then back above the margin: the wait starts again.
    check(
        config,
        &join(&[hold(85.0, 11), hold(70.0, 4), hold(76.0, 1), hold(70.0, 6)]),
        &[(10, Level::Warning), (21, Level::Ok)],
    );
    // Critical falls to warning at 88 % (clear of 90 %), then to ok at 60 %.
    check(
        config,
        &join(&[hold(97.0, 11), hold(88.0, 10), hold(60.0, 10)]),
        &[(10, Level::Critical), (16, Level::Warning), (26, Level::Ok)],
    );
}

#[test]
fn a_fraction_hovering_around_a_threshold_does_not_flap() {
    let config = PressureConfig::default();
    // Once firing, swings between 77 % and 83 % every minute for two hours change nothing.
    let swinging: Vec<f64> = (0..120)
        .map(|minute| if minute % 2 == 0 { 77.0 } else { 83.0 })
        .collect();
    check(
        config,
        &join(&[hold(85.0, 11), swinging]),
        &[(10, Level::Warning)],
    );
    // Dips under the margin shorter than the wait do not resolve it either.
    let dipping: Vec<f64> = (0..120)
        .map(|minute| if minute % 5 == 4 { 81.0 } else { 70.0 })
        .collect();
    check(
        config,
        &join(&[hold(85.0, 11), dipping]),
        &[(10, Level::Warning)],
    );
}

#[test]
fn a_change_says_what_where_and_the_figures() {
    let mut monitor = monitor(MonitorConfig::default());
    let mut messages = Vec::new();
    let percentages = join(&[hold(96.0, 11), hold(50.0, 6)]);
    for (minute, &percentage) in percentages.iter().enumerate() {
        for finding in monitor.observe(
            &pool_cpu(),
            minute as u64 * MINUTE_MS,
            percentage,
            Some(100.0),
        ) {
            if finding.kind.name() == "pressure" {
                messages.push(finding.message());
            }
        }
    }
    assert_eq!(
        messages,
        [
            "pool/local cpu at 96.0% of capacity for 10m (critical)",
            "pool/local cpu back to ok at 50.0% of capacity, clear for 5m (was critical)",
        ]
    );
    let status = monitor.status(&pool_cpu()).unwrap();
    assert_eq!((status.level, status.pending), (Level::Ok, None));
}

#[test]
fn pending_shows_in_the_status_but_is_not_a_finding() {
    let mut monitor = monitor(MonitorConfig::default());
    for minute in 0..5 {
        let findings = monitor.observe(&pool_cpu(), minute * MINUTE_MS, 90.0, Some(100.0));
        assert!(
            findings
                .iter()
                .all(|finding| finding.kind.name() != "pressure")
        );
    }
    let status = monitor.status(&pool_cpu()).unwrap();
    assert_eq!(status.level, Level::Ok);
    assert_eq!(status.pending, Some((Level::Warning, 0)));
}

#[test]
fn a_capacity_given_once_stays_in_force() {
    let mut monitor = monitor(MonitorConfig::default());
    monitor.observe(&pool_cpu(), 0, 10.0, Some(8.0));
    let mut levels = Vec::new();
    for minute in 1..=11 {
        for finding in monitor.observe(&pool_cpu(), minute * MINUTE_MS, 7.0, None) {
            if let Kind::Pressure(change) = finding.kind {
                levels.push((minute, change.level, change.capacity));
            }
        }
    }
    // Pending at 125 % from minute 0, held above 80 % by the samples without a capacity.
    assert_eq!(levels, [(10, Level::Warning, 8.0)]);
}
