//! The scorecard and the static-threshold baseline, on series small enough to count by hand.

use super::MINUTE_MS;
use crate::monitor::Sample;
use crate::monitor::score::{Scorecard, StaticThreshold, Window, score_detections};

const DAY_MS: u64 = 24 * 60 * MINUTE_MS;

fn window(start_minute: u64, end_minute: u64) -> Window {
    Window {
        start_ms: start_minute * MINUTE_MS,
        end_ms: end_minute * MINUTE_MS,
    }
}

fn minutes(minutes: &[u64]) -> Vec<u64> {
    minutes.iter().map(|minute| minute * MINUTE_MS).collect()
}

#[test]
fn detections_are_counted_against_the_windows() {
    let windows = [window(10, 20), window(50, 60), window(80, 85)];
    // Out of order on purpose; 20 is the first window's last minute, still inside.
    let detections = minutes(&[55, 5, 12, 70, 20, 86]);
    let card = score_detections(&detections, &windows, 0, 2 * DAY_MS);
    assert_eq!(
        card,
        Scorecard {
            windows: 3,
            true_detections: 3,
            false_detections: 3,
            missed_windows: 1,
            delays_ms: minutes(&[2, 5]),
            days: 2.0,
        }
    );
    assert_eq!(card.detected_windows(), 2);
    assert_eq!(card.mean_delay_ms(), Some(3.5 * MINUTE_MS as f64));
    assert_eq!(card.false_per_day(), 1.5);

    // A series without windows: every detection is false; nothing said, nothing to delay.
    let quiet = score_detections(&minutes(&[1, 2]), &[], 0, DAY_MS);
    assert_eq!(
        (
            quiet.false_detections,
            quiet.missed_windows,
            quiet.mean_delay_ms()
        ),
        (2, 0, None)
    );

    let mut total = card.clone();
    total.add(&quiet);
    assert_eq!(
        (total.windows, total.false_detections, total.days),
        (3, 5, 3.0)
    );
    assert_eq!(total.false_per_day(), 5.0 / 3.0);
}

#[test]
fn the_baseline_learns_its_threshold_from_the_start_and_alarms_on_each_crossing() {
    // 100 samples a minute apart: 10 and 12 alternating, and three excursions.
    let mut values: Vec<f64> = (0..100)
        .map(|index| if index % 2 == 0 { 10.0 } else { 12.0 })
        .collect();
    values[5] = 40.0; // In the training stretch: it raises the threshold, it is not a detection.
    values[50] = 60.0;
    values[51] = 60.0; // One crossing, one detection.
    values[70] = 25.0; // Below the raised threshold.
    values[90] = 61.0;
    let samples: Vec<Sample> = values
        .iter()
        .enumerate()
        .map(|(index, &value)| Sample {
            t_ms: index as u64 * MINUTE_MS,
            value,
        })
        .collect();
    let baseline = StaticThreshold::default();
    let threshold = baseline.threshold(&samples).unwrap();
    // The first 15: eight 10s, six 12s and the 40: mean 12.8, variance 806.4 / 14 = 57.6.
    assert!(
        (threshold - (12.8 + 3.0 * 57.6_f64.sqrt())).abs() < 1e-9,
        "{threshold}"
    );
    assert_eq!(baseline.detect(&samples), minutes(&[50, 90]));
    assert_eq!(baseline.detect(&samples[..1]), [0u64; 0]);
}
