//! The monitor's bounds and bookkeeping: the series cap, the samples kept, what is dropped, the
//! settings it refuses.

use super::{MINUTE_MS, monitor, pool_cpu};
use crate::monitor::{Monitor, MonitorConfig, Series, Stats};

#[test]
fn at_the_series_cap_new_series_are_refused_and_kept_ones_go_on() {
    let mut monitor = monitor(MonitorConfig {
        series_max: 2,
        ..MonitorConfig::default()
    });
    let memory = Series::new("pool/local", "memory_bytes");
    let gpu = Series::new("pool/local", "gpu");
    monitor.observe(&pool_cpu(), 0, 1.0, None);
    monitor.observe(&memory, 0, 1.0, None);
    monitor.observe(&gpu, 0, 1.0, None);
    monitor.observe(&gpu, MINUTE_MS, 1.0, None);
    assert_eq!(monitor.series(), [&pool_cpu(), &memory]);
    assert_eq!(monitor.status(&gpu), None);
    assert_eq!(
        monitor.stats(),
        Stats {
            samples_dropped: 0,
            series_refused: 2,
        }
    );
    // The kept series still take samples.
    monitor.observe(&pool_cpu(), MINUTE_MS, 2.0, None);
    assert_eq!(monitor.status(&pool_cpu()).unwrap().samples, 2);

    // Forgetting the series idle for an hour makes room.
    monitor.observe(&pool_cpu(), 61 * MINUTE_MS, 3.0, None);
    assert_eq!(monitor.forget_idle(61 * MINUTE_MS, 60 * MINUTE_MS), 1);
    monitor.observe(&gpu, 62 * MINUTE_MS, 1.0, None);
    assert_eq!(monitor.series(), [&pool_cpu(), &gpu]);
    assert!(monitor.forget(&gpu));
    assert!(!monitor.forget(&gpu));
}

#[test]
fn a_series_keeps_at_most_its_samples() {
    let config = MonitorConfig::default();
    let mut monitor = monitor(config);
    for minute in 0..1_000 {
        monitor.observe(&pool_cpu(), minute * MINUTE_MS, 1.0, None);
    }
    let status = monitor.status(&pool_cpu()).unwrap();
    assert_eq!(status.samples, config.samples_max);
    assert_eq!(status.last_ms, Some(999 * MINUTE_MS));
}

#[test]
fn samples_out_of_order_or_not_finite_are_dropped() {
    let mut monitor = monitor(MonitorConfig::default());
    monitor.observe(&pool_cpu(), 10 * MINUTE_MS, 1.0, Some(4.0));
    monitor.observe(&pool_cpu(), 10 * MINUTE_MS, 2.0, None);
    monitor.observe(&pool_cpu(), 5 * MINUTE_MS, 2.0, None);
    monitor.observe(&pool_cpu(), 11 * MINUTE_MS, f64::NAN, None);
    monitor.observe(&pool_cpu(), 12 * MINUTE_MS, f64::INFINITY, None);
    // A capacity that is not a capacity leaves the last one in force.
    monitor.observe(&pool_cpu(), 13 * MINUTE_MS, 2.0, Some(0.0));
    monitor.observe(&pool_cpu(), 14 * MINUTE_MS, 2.0, Some(f64::NAN));
    let status = monitor.status(&pool_cpu()).unwrap();
    assert_eq!((status.samples, status.capacity), (3, Some(4.0)));
    assert_eq!(monitor.stats().samples_dropped, 4);
}

#[test]
fn settings_that_do_not_fit_together_are_refused_by_name() {
    fn refused(config: MonitorConfig, named: &str) {
        let error = Monitor::new(config).unwrap_err().to_string();
        assert!(error.contains(named), "{error:?} should name {named}");
    }
    let default = MonitorConfig::default();
    assert!(Monitor::new(default).is_ok());
    refused(
        MonitorConfig {
            series_max: 0,
            ..default
        },
        "series_max",
    );
    refused(
        MonitorConfig {
            samples_max: 30,
            ..default
        },
        "samples_max",
    );
    let mut config = default;
    config.pressure.warning = 0.99;
    refused(config, "warning < critical");
    let mut config = default;
    config.pressure.clear_margin = 0.9;
    refused(config, "clear_margin");
    let mut config = default;
    config.trend.points_max = 4;
    refused(config, "points_min");
    let mut config = default;
    config.trend.span_min_ms = 2 * config.trend.window_ms;
    refused(config, "span_min_ms");
    let mut config = default;
    config.anomaly.confirm_points = 4;
    refused(config, "confirm_points");
    let mut config = default;
    config.anomaly.warmup_points = 100;
    refused(config, "warmup_points");
    let mut config = default;
    config.anomaly.min_scale_fraction = 0.0;
    refused(config, "min_scale_fraction");
}

#[test]
fn one_sample_can_bring_several_findings_pressure_first() {
    // No wait before pressure fires, no confirmation before an anomaly: the jump from a steady
    // 20 % to 99 % is both at once.
    let mut config = MonitorConfig::default();
    config.pressure.for_ms = 0;
    config.anomaly.confirm_points = 1;
    config.anomaly.confirm_window = 1;
    let mut monitor = monitor(config);
    let mut kinds = Vec::new();
    for minute in 0..=60 {
        let value = if minute < 60 {
            20.0 + (minute % 3) as f64
        } else {
            99.0
        };
        for finding in monitor.observe(&pool_cpu(), minute * MINUTE_MS, value, Some(100.0)) {
            kinds.push((minute, finding.kind.name()));
        }
    }
    assert_eq!(kinds, [(60, "pressure"), (60, "anomaly")]);
}
