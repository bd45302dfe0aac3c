//! From kubernetes/autoscaler
//! `vertical-pod-autoscaler/pkg/recommender/util/decaying_histogram_test.go`:
//! `TestPercentilesEmptyDecayingHistogram`, `TestSimpleDecay`, `TestLongtermDecay`,
//! `TestDecayingHistogramPercentiles`, `TestNoDecay`, `TestDecayingHistogramMerge`,
//! `TestDecayingHistogramSaveToCheckpoint`, `TestDecayingHistogramLoadFromCheckpoint`.

use super::{START_TIME_MS, Step, add, percentile, run_steps, test_histogram_options};
use crate::vpa::{DecayingHistogram, HistogramCheckpoint, MS_PER_HOUR};

const T: i64 = START_TIME_MS;
const H: i64 = MS_PER_HOUR;

fn hourly_half_life() -> DecayingHistogram {
    DecayingHistogram::new(test_histogram_options(), H)
}

#[test]
fn decaying_histogram_scenarios_match_upstream() {
    let cases: [(&str, Vec<Step>); 5] = [
        (
            "TestPercentilesEmptyDecayingHistogram",
            [-0.5, 0.0, 0.5, 1.0, 1.5]
                .map(|p| percentile(p, 0.0))
                .to_vec(),
        ),
        (
            // 20 half-lives later, the second sample outweighs the first 2^20 / 1000 times
            // over; the first still holds a sliver.
            "TestSimpleDecay",
            vec![
                add(2.0, 1000.0, T),
                add(1.0, 1.0, T + 20 * H),
                percentile(0.999, 2.0),
                percentile(1.0, 3.0),
            ],
        ),
        (
            // 101 half-lives apart: past the 2^100 renormalization, the first sample is gone.
            "TestLongtermDecay",
            vec![
                add(2.0, 1.0, T),
                add(1.0, 1.0, T + 101 * H),
                percentile(1.0, 2.0),
            ],
        ),
        (
            // Values and weights 1..4, one half-life apart. Bucket [1, 2) holds 1 * 2^-3 (0 to 2 %
            // of the weight), [2, 3) 2 * 2^-2 (3 to 10 %), [3, 4) 3 * 2^-1 (11 to 34 %), and
            // [4, 5) 4 (35 to 100 %).
            "TestDecayingHistogramPercentiles",
            vec![
                add(1.0, 1.0, T),
                add(2.0, 2.0, T + H),
                add(3.0, 3.0, T + 2 * H),
                add(4.0, 4.0, T + 3 * H),
                percentile(0.00, 2.0),
                percentile(0.02, 2.0),
                percentile(0.03, 3.0),
                percentile(0.10, 3.0),
                percentile(0.11, 4.0),
                percentile(0.34, 4.0),
                percentile(0.35, 5.0),
                percentile(1.00, 5.0),
            ],
        ),
        (
            // At a fixed time it behaves as a plain histogram.
            "TestNoDecay",
            vec![
                add(1.0, 1.0, T),
                add(2.0, 2.0, T),
                add(3.0, 3.0, T),
                add(4.0, 4.0, T),
                percentile(0.0, 2.0),
                percentile(0.2, 3.0),
                percentile(0.1, 2.0),
                percentile(0.3, 3.0),
                percentile(0.4, 4.0),
                percentile(0.5, 4.0),
                percentile(0.6, 4.0),
                percentile(0.7, 5.0),
                percentile(0.8, 5.0),
                percentile(0.9, 5.0),
                percentile(1.0, 5.0),
            ],
        ),
    ];
    for (name, steps) in cases {
        run_steps(name, &mut hourly_half_life(), &steps);
    }
}

fn decaying_of(samples: &[(f64, i64)]) -> DecayingHistogram {
    let mut histogram = hourly_half_life();
    for &(value, t_ms) in samples {
        histogram.add_sample(value, 1.0, t_ms);
    }
    histogram
}

#[test]
fn merge_aligns_reference_times() {
    // TestDecayingHistogramMerge: the two histograms start at different reference times.
    let mut merged = decaying_of(&[(1.0, T), (2.0, T + H)]);
    let other = decaying_of(&[(2.0, T + 2 * H), (3.0, T + H)]);
    merged.merge(&other);
    let expected = decaying_of(&[(2.0, T + 2 * H), (2.0, T + H), (3.0, T + H), (1.0, T)]);
    assert!(
        merged.approx_eq(&expected),
        "merged {merged:?}\nexpected {expected:?}"
    );
}

#[test]
fn long_history_stays_finite() {
    // Ours: a sample every half-life for 3000 half-lives. Without moving the reference time the
    // factors would pass 2^1024 and overflow; with it, the reference follows the samples and the
    // newest sample dominates.
    let mut histogram = hourly_half_life();
    for hour in 0..3000 {
        let value = if hour < 2990 { 1.0 } else { 5.0 };
        histogram.add_sample(value, 1.0, T + hour * H);
    }
    assert!(
        histogram.total_weight().is_finite(),
        "total weight {}",
        histogram.total_weight()
    );
    let last_ms = T + 2999 * H;
    assert!(histogram.reference_ms() <= last_ms && last_ms - histogram.reference_ms() <= 100 * H);
    assert_eq!(
        histogram.reference_ms() % H,
        0,
        "the reference is a whole number of half-lives"
    );
    assert_eq!(histogram.percentile(0.5), 6.0);
}

#[test]
fn save_to_checkpoint_keeps_the_reference_time() {
    // TestDecayingHistogramSaveToCheckpoint.
    let mut histogram = hourly_half_life();
    histogram.add_sample(2.0, 1.0, T + 100 * H);
    assert_ne!(
        histogram.reference_ms(),
        0,
        "the sample moved the reference time"
    );

    let checkpoint = histogram.save_to_checkpoint();
    assert_eq!(checkpoint.reference_timestamp_ms, histogram.reference_ms());
    assert!(!checkpoint.bucket_weights.is_empty());
    assert_ne!(checkpoint.total_weight, 0.0);
}

#[test]
fn load_from_checkpoint_takes_the_reference_time() {
    // TestDecayingHistogramLoadFromCheckpoint: 2018-01-02 03:04:05 UTC.
    let reference_ms = 1_514_862_245_000;
    let checkpoint = HistogramCheckpoint {
        reference_timestamp_ms: reference_ms,
        bucket_weights: [(0, 1)].into_iter().collect(),
        total_weight: 6.0,
    };
    let mut histogram = hourly_half_life();
    histogram
        .load_from_checkpoint(&checkpoint)
        .expect("valid checkpoint");
    assert!(!histogram.is_empty());
    assert_eq!(histogram.reference_ms(), reference_ms);
}
