//! Anomalies: the robust score, its guards, and findings on synthetic series whose answer is
//! known.

use super::{MINUTE_MS, Noise, feed, monitor, pool_cpu};
use crate::monitor::{Anomaly, AnomalyConfig, Kind, MonitorConfig, deviation};

/// The anomaly findings of a series sampled every `step_ms`, as (sample index, anomaly).
fn anomalies(
    config: AnomalyConfig,
    step_ms: u64,
    values: &[f64],
    capacity: Option<f64>,
) -> Vec<(usize, Anomaly)> {
    let mut monitor = monitor(MonitorConfig {
        anomaly: config,
        ..MonitorConfig::default()
    });
    feed(&mut monitor, &pool_cpu(), step_ms, values, capacity)
        .into_iter()
        .filter_map(|finding| match finding.kind {
            Kind::Anomaly(anomaly) => Some(((finding.at_ms / step_ms) as usize, anomaly)),
            _ => None,
        })
        .collect()
}

fn indices(found: &[(usize, Anomaly)]) -> Vec<usize> {
    found.iter().map(|(index, _)| *index).collect()
}

/// Noise of standard deviation `sigma` around `level`.
fn noisy(seed: u64, level: f64, sigma: f64, count: usize) -> Vec<f64> {
    let mut noise = Noise::new(seed);
    (0..count).map(|_| level + sigma * noise.normal()).collect()
}

#[test]
fn the_score_is_the_distance_from_the_median_in_robust_deviations() {
    let config = AnomalyConfig::default();
    let mut buffer = Vec::new();
    // Thirty values 8, 9, 10, 11, 12 repeated: median 10, MAD 1, scale 1.4826.
    let baseline: Vec<f64> = (0..30).map(|index| 8.0 + (index % 5) as f64).collect();
    let found = deviation(20.0, &baseline, None, &config, &mut buffer).unwrap();
    assert_eq!((found.median, found.mad), (10.0, 1.0));
    assert!((found.scale - 1.4826).abs() < 1e-12);
    assert!((found.score - 10.0 / 1.4826).abs() < 1e-9);
    // Below the baseline the score is negative.
    let found = deviation(4.0, &baseline, None, &config, &mut buffer).unwrap();
    assert!(found.score < -3.5);
    // A capacity of 1,000 puts the scale at 10 at least.
    let found = deviation(20.0, &baseline, Some(1_000.0), &config, &mut buffer).unwrap();
    assert_eq!((found.scale, found.score), (10.0, 1.0));
    // A flat zero baseline and a burst: a finite score, the change over 1 % of the burst.
    let found = deviation(4_096.0, &[0.0; 30], None, &config, &mut buffer).unwrap();
    assert!((found.score - 100.0).abs() < 1e-9, "{found:?}");
    // The warm-up: 29 values are not enough.
    assert_eq!(
        deviation(20.0, &baseline[..29], None, &config, &mut buffer),
        None
    );
}

#[test]
fn a_burst_on_noise_is_found_once_with_its_figures() {
    let mut values = noisy(3, 50.0, 1.0, 600);
    for value in &mut values[300..303] {
        *value += 20.0;
    }
    let found = anomalies(AnomalyConfig::default(), MINUTE_MS, &values, Some(100.0));
    // Confirmed by the burst's second sample, two of the last three.
    assert_eq!(indices(&found), [301]);
    let anomaly = &found[0].1;
    assert!((anomaly.deviation.median - 50.0).abs() < 0.5, "{anomaly:?}");
    assert!((anomaly.deviation.scale - 1.0).abs() < 0.3, "{anomaly:?}");
    assert!(anomaly.deviation.score > 10.0, "{anomaly:?}");
    assert_eq!((anomaly.anomalous, anomaly.window), (2, 3));
    let (low, high) = anomaly.range.unwrap();
    assert!(low < 49.0 && (52.0..60.0).contains(&high), "{anomaly:?}");
}

#[test]
fn a_single_stray_sample_needs_a_confirmation_of_one() {
    let mut values = noisy(5, 50.0, 1.0, 400);
    values[200] = 80.0;
    assert_eq!(
        indices(&anomalies(
            AnomalyConfig::default(),
            MINUTE_MS,
            &values,
            None
        )),
        [0usize; 0]
    );
    let single = AnomalyConfig {
        confirm_points: 1,
        confirm_window: 1,
        ..AnomalyConfig::default()
    };
    assert_eq!(indices(&anomalies(single, MINUTE_MS, &values, None)), [200]);
    // Downwards too.
    values[200] = 20.0;
    assert_eq!(indices(&anomalies(single, MINUTE_MS, &values, None)), [200]);
}

#[test]
fn a_level_shift_is_found_then_becomes_the_new_normal() {
    // From 20 to 40 at sample 100, one sample every 5 minutes.
    let mut values = noisy(17, 20.0, 1.0, 100);
    values.extend(noisy(19, 40.0, 1.0, 400));
    // Found at its second sample. After that the new level is within the day's range: found once.
    let found = indices(&anomalies(
        AnomalyConfig::default(),
        5 * MINUTE_MS,
        &values,
        None,
    ));
    assert_eq!(found, [101]);
    // Without the novelty guard, the median alone: found again once an hour (12 samples) while
    // the baseline's median is the old level, until half the 60-sample baseline has shifted.
    let median_alone = AnomalyConfig {
        range_ms: 0,
        ..AnomalyConfig::default()
    };
    let found = indices(&anomalies(median_alone, 5 * MINUTE_MS, &values, None));
    assert_eq!(found.first(), Some(&101), "{found:?}");
    assert!(found.len() >= 2, "{found:?}");
    assert!(
        found.windows(2).all(|pair| pair[1] - pair[0] >= 12),
        "{found:?}"
    );
    assert!(found.iter().all(|&index| index <= 131), "{found:?}");
}

#[test]
fn what_the_series_did_within_a_day_is_not_news() {
    // A burst to 80 every 6 hours on noise around 50, one sample every 5 minutes, for two days.
    let mut values = noisy(37, 50.0, 1.0, 576);
    for start in (100..576).step_by(72) {
        values[start..start + 3].fill(80.0);
    }
    // The first burst is news; the routine ones after it are within the day's range.
    assert_eq!(
        indices(&anomalies(
            AnomalyConfig::default(),
            5 * MINUTE_MS,
            &values,
            None
        )),
        [101]
    );
    // A burst higher than any of the day is news again.
    values[500..503].fill(95.0);
    assert_eq!(
        indices(&anomalies(
            AnomalyConfig::default(),
            5 * MINUTE_MS,
            &values,
            None
        )),
        [101, 501]
    );
    // The median alone calls every burst an outlier.
    let median_alone = AnomalyConfig {
        range_ms: 0,
        ..AnomalyConfig::default()
    };
    assert_eq!(
        indices(&anomalies(median_alone, 5 * MINUTE_MS, &values, None)),
        [101, 173, 245, 317, 389, 461, 501, 533]
    );
}

#[test]
fn a_flat_series_never_alarms() {
    let config = AnomalyConfig::default();
    let flat = vec![42.0; 2_000];
    assert_eq!(
        indices(&anomalies(config, MINUTE_MS, &flat, None)),
        [0usize; 0]
    );
    let idle = vec![0.0; 2_000];
    assert_eq!(
        indices(&anomalies(config, MINUTE_MS, &idle, None)),
        [0usize; 0]
    );
    // Rounding noise: parts in a billion.
    let jitter: Vec<f64> = noisy(23, 42.0, 1e-9, 2_000);
    assert_eq!(
        indices(&anomalies(config, MINUTE_MS, &jitter, None)),
        [0usize; 0]
    );
    // An idle CPU quantized to thousandths, now and then one step up: the MAD is zero, the
    // mean deviation tiny, and the minimum scale (1 % of the value) keeps it quiet.
    let quantized: Vec<f64> = (0..2_000)
        .map(|index| if index % 9 == 0 { 0.067 } else { 0.066 })
        .collect();
    assert_eq!(
        indices(&anomalies(config, MINUTE_MS, &quantized, None)),
        [0usize; 0]
    );
    // The same idle CPU with a capacity of 100 %: a jump to 2 % is not worth a page.
    let mut blips = quantized.clone();
    blips[1_000..1_005].fill(2.0);
    assert_eq!(
        indices(&anomalies(config, MINUTE_MS, &blips, Some(100.0))),
        [0usize; 0]
    );
}

#[test]
fn nothing_is_scored_during_the_warm_up() {
    let mut values = noisy(29, 50.0, 1.0, 200);
    values[10..14].fill(90.0);
    assert_eq!(
        indices(&anomalies(
            AnomalyConfig::default(),
            MINUTE_MS,
            &values,
            None
        )),
        [0usize; 0]
    );
    // The early burst was not scored, but it is remembered: a later one must go beyond it.
    values[100..104].fill(95.0);
    assert_eq!(
        indices(&anomalies(
            AnomalyConfig::default(),
            MINUTE_MS,
            &values,
            None
        )),
        [101]
    );
}

#[test]
fn repeated_bursts_are_reported_once_per_refractory_period() {
    // A burst of three samples every 10 minutes for three hours, one sample a minute, each a
    // little higher than the one before, so each is news.
    let mut values = noisy(31, 50.0, 1.0, 400);
    for (rank, start) in (100..280).step_by(10).enumerate() {
        values[start..start + 3].fill(80.0 + rank as f64);
    }
    let found = indices(&anomalies(
        AnomalyConfig::default(),
        MINUTE_MS,
        &values,
        None,
    ));
    assert_eq!(found, [101, 161, 221], "one an hour");
}

#[test]
fn an_anomaly_says_what_where_and_the_figures() {
    let mut values: Vec<f64> = (0..60).map(|index| 8.0 + (index % 5) as f64).collect();
    values.extend([30.0, 30.0]);
    let mut monitor = monitor(MonitorConfig::default());
    let messages: Vec<String> = feed(&mut monitor, &pool_cpu(), MINUTE_MS, &values, None)
        .iter()
        .map(|finding| finding.message())
        .collect();
    assert_eq!(
        messages,
        [
            "pool/local cpu anomalously high: 30 against a median of 10 (MAD 1, scale 1.483, \
             score 13.5; 2 of the last 3 samples anomalous; above the 1d high of 12)"
        ]
    );
}
