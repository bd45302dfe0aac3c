//! Findings in plain words, and the figures and durations they are written with.

use super::{MINUTE_MS, feed, monitor, pool_cpu};
use crate::monitor::message::{duration, figure, percent};
use crate::monitor::{Finding, MonitorConfig};

#[test]
fn figures_keep_four_significant_digits() {
    let cases: [(f64, &str); 11] = [
        (0.0, "0"),
        (0.066, "0.066"),
        (0.0012344, "0.001234"),
        (0.00012345, "1.234e-4"),
        (1.0, "1"),
        (42.93333, "42.93"),
        (-7.25, "-7.25"),
        (656.0, "656"),
        (99_999.4, "99999"),
        (3_203_510.0, "3.204e6"),
        (0.000_012, "1.200e-5"),
    ];
    for (value, expected) in cases {
        assert_eq!(figure(value), expected, "figure({value})");
    }
    assert_eq!(percent(0.96), "96.0%");
    assert_eq!(percent(0.8749), "87.5%");
}

#[test]
fn durations_read_as_people_write_them() {
    let cases: [(u64, &str); 8] = [
        (0, "0s"),
        (1, "1s"),
        (45_000, "45s"),
        (10 * MINUTE_MS, "10m"),
        (65 * MINUTE_MS, "1h05m"),
        (120 * MINUTE_MS, "2h"),
        (24 * 60 * MINUTE_MS, "1d"),
        (51 * 60 * MINUTE_MS, "2d3h"),
    ];
    for (ms, expected) in cases {
        assert_eq!(duration(ms), expected, "duration({ms})");
    }
}

fn messages(findings: &[Finding], kind: &str) -> Vec<String> {
    findings
        .iter()
        .filter(|finding| finding.kind.name() == kind)
        .map(Finding::message)
        .collect()
}

#[test]
fn every_pressure_change_reads_plainly() {
    let mut monitor = monitor(MonitorConfig::default());
    let mut percentages = vec![97.0; 11];
    percentages.extend([88.0; 6]);
    percentages.extend([60.0; 6]);
    let findings = feed(
        &mut monitor,
        &pool_cpu(),
        MINUTE_MS,
        &percentages,
        Some(100.0),
    );
    assert_eq!(
        messages(&findings, "pressure"),
        [
            "pool/local cpu at 97.0% of capacity for 10m (critical)",
            "pool/local cpu down to 88.0% of capacity, clear of critical for 5m (warning)",
            "pool/local cpu back to ok at 60.0% of capacity, clear for 5m (was warning)",
        ]
    );
}

#[test]
fn every_forecast_state_reads_plainly() {
    // 60 points an hour from 60 %, then level at 80 % until the slope is too gentle to reach
    // 95 % within twice the lead time; then up again past 95 %.
    let mut percentages: Vec<f64> = (0..=20).map(|minute| 60.0 + minute as f64).collect();
    percentages.extend([80.0; 60]);
    percentages.extend((1..=30).map(|minute| 80.0 + minute as f64));
    let mut monitor = monitor(MonitorConfig::default());
    let findings = feed(
        &mut monitor,
        &pool_cpu(),
        MINUTE_MS,
        &percentages,
        Some(100.0),
    );
    let messages = messages(&findings, "trend");
    assert_eq!(messages.len(), 4, "{messages:#?}");
    assert_eq!(
        messages[0],
        "pool/local cpu heading for 95.0% of capacity (95) in 20m: trend 75 now, +60 per hour \
         over 16 points"
    );
    assert!(messages[1].starts_with(
        "pool/local cpu no longer heading for 95.0% of capacity (95): trend 81.14 now, \
             +5.455 per hour"
    ));
    assert!(messages[2].starts_with("pool/local cpu heading for 95.0% of capacity (95) in "));
    assert!(
        messages[3]
            .starts_with("pool/local cpu reached 95.0% of capacity (95) as forecast: trend 9")
    );
}
