//! From kubernetes/autoscaler `vertical-pod-autoscaler/pkg/recommender/util/histogram_test.go`:
//! `TestPercentilesEmptyHistogram`, `TestPercentiles`, `TestPercentileOutOfBounds`,
//! `TestEmptyHistogram`, `TestNonEmptyOnEpsilonAddition`, `TestHistogramMerge`,
//! `TestHistogramSaveToCheckpointEmpty`, `TestHistogramSaveToCheckpoint`,
//! `TestHistogramSaveToCheckpointDropsRelativelySmallValues`,
//! `TestHistogramSaveToCheckpointForMultipleValues`, `TestHistogramLoadFromCheckpoint`,
//! `TestHistogramLoadFromCheckpointReturnsErrorOnNegativeBucket`,
//! `TestHistogramLoadFromCheckpointReturnsErrorOnInvalidBucket`,
//! `TestHistogramLoadFromCheckpointReturnsErrorNegativeTotaWeight`,
//! `TestHistogramIsNotEmptyAfterSavingAndLoadingCheckpointsWithBoundaryValues`.
//!
//! Not ported: `TestHistogramLoadFromCheckpointReturnsErrorOnNilInput`, because a Rust caller
//! cannot pass a nil checkpoint (`load_from_checkpoint` takes a reference).

use std::collections::BTreeMap;

use super::{Step, WEIGHT_EPSILON, add, percentile, run_steps, subtract, test_histogram_options};
use crate::vpa::{
    Histogram, HistogramCheckpoint, HistogramOptions, MAX_CHECKPOINT_WEIGHT, VpaError,
};

/// Upstream's `NewLinearHistogramOptions(1.0, 0.1, weightEpsilon)`.
fn tenths_options() -> HistogramOptions {
    HistogramOptions::linear(1.0, 0.1, WEIGHT_EPSILON).expect("valid options")
}

#[test]
fn histogram_scenarios_match_upstream() {
    let e = WEIGHT_EPSILON;
    let cases: [(&str, HistogramOptions, Vec<Step>); 5] = [
        (
            "TestPercentilesEmptyHistogram",
            test_histogram_options(),
            [-0.5, 0.0, 0.5, 1.0, 1.5]
                .map(|p| percentile(p, 0.0))
                .to_vec(),
        ),
        (
            // The histogram { 1: 1, 2: 2, 3: 3, 4: 4 }.
            "TestPercentiles",
            test_histogram_options(),
            vec![
                add(1.0, 1.0, 0),
                add(2.0, 2.0, 0),
                add(3.0, 3.0, 0),
                add(4.0, 4.0, 0),
                percentile(0.0, 2.0),
                percentile(0.1, 2.0),
                percentile(0.2, 3.0),
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
        (
            // Below 0 gives the lowest value held, above 1 the highest.
            "TestPercentileOutOfBounds",
            tenths_options(),
            vec![
                add(0.1, 0.1, 0),
                add(0.2, 0.2, 0),
                percentile(-0.1, 0.2),
                percentile(1.1, 0.3),
                // Fill the boundary buckets.
                add(0.0, 0.1, 0),
                add(1.0, 0.2, 0),
                percentile(-0.1, 0.1),
                percentile(1.1, 1.0),
            ],
        ),
        (
            "TestEmptyHistogram",
            tenths_options(),
            vec![
                Step::IsEmpty(true),
                add(0.1, e * 2.5, 0),
                Step::IsEmpty(false),
                subtract(0.1, e, 0), // 1.5 epsilon left.
                Step::IsEmpty(false),
                subtract(0.1, e, 0), // 0.5 epsilon left.
                Step::IsEmpty(true),
            ],
        ),
        (
            // A light sample in another bucket must not make a non-empty histogram empty.
            "TestNonEmptyOnEpsilonAddition",
            tenths_options(),
            vec![
                Step::IsEmpty(true),
                add(9.9, e * 3.0, 0),
                Step::IsEmpty(false),
                add(0.1, e * 0.3, 0),
                Step::IsEmpty(false),
                add(999.9, e * 0.3, 0),
                Step::IsEmpty(false),
            ],
        ),
    ];
    for (name, options, steps) in cases {
        run_steps(name, &mut Histogram::new(options), &steps);
    }
}

fn histogram_of(samples: &[(f64, f64)]) -> Histogram {
    let mut histogram = Histogram::new(test_histogram_options());
    for &(value, weight) in samples {
        histogram.add_sample(value, weight);
    }
    histogram
}

#[test]
fn merge_matches_adding_the_same_samples() {
    // TestHistogramMerge.
    let mut merged = histogram_of(&[(1.0, 1.0), (2.0, 1.0)]);
    merged.merge(&histogram_of(&[(2.0, 1.0), (3.0, 1.0)]));
    let expected = histogram_of(&[(1.0, 1.0), (2.0, 1.0), (2.0, 1.0), (3.0, 1.0)]);
    assert!(
        merged.approx_eq(&expected),
        "merged {merged:?}\nexpected {expected:?}"
    );
}

#[test]
fn save_to_checkpoint_matches_upstream() {
    let bucket = |value: f64| test_histogram_options().find_bucket(value) as i64;
    // (name, samples (value, weight), expected total weight, expected bucket weights)
    type Case = (&'static str, &'static [(f64, f64)], f64, Vec<(i64, u32)>);
    let cases: [Case; 4] = [
        ("TestHistogramSaveToCheckpointEmpty", &[], 0.0, vec![]),
        (
            "TestHistogramSaveToCheckpoint",
            &[(1.0, 1.0)],
            1.0,
            vec![(bucket(1.0), MAX_CHECKPOINT_WEIGHT)],
        ),
        (
            // Weight 1 is under half of 100000 / 10000 and rounds to nothing.
            "TestHistogramSaveToCheckpointDropsRelativelySmallValues",
            &[(1.0, 1.0), (2.0, 100_000.0)],
            100_001.0,
            vec![(bucket(2.0), MAX_CHECKPOINT_WEIGHT)],
        ),
        (
            "TestHistogramSaveToCheckpointForMultipleValues",
            &[(1.0, 1.0), (2.0, 10_000.0), (3.0, 50.0)],
            10_051.0,
            vec![(bucket(1.0), 1), (bucket(2.0), 10_000), (bucket(3.0), 50)],
        ),
    ];
    for (name, samples, total_weight, bucket_weights) in cases {
        let checkpoint = histogram_of(samples).save_to_checkpoint();
        assert_eq!(
            checkpoint.total_weight, total_weight,
            "{name}: total weight"
        );
        assert_eq!(
            checkpoint.bucket_weights,
            bucket_weights.into_iter().collect::<BTreeMap<_, _>>(),
            "{name}: bucket weights"
        );
    }
}

fn checkpoint(total_weight: f64, bucket_weights: &[(i64, u32)]) -> HistogramCheckpoint {
    HistogramCheckpoint {
        reference_timestamp_ms: 0,
        bucket_weights: bucket_weights.iter().copied().collect(),
        total_weight,
    }
}

#[test]
fn load_from_checkpoint_matches_upstream() {
    let n_buckets = test_histogram_options().n_buckets();
    // (name, checkpoint, expected: Ok((total weight, [(bucket, weight)])) or the error)
    type Expected = Result<(f64, Vec<(usize, f64)>), VpaError>;
    let cases: [(&str, HistogramCheckpoint, Expected); 4] = [
        (
            // Weights 1 and 2 share the total of 6 in proportion.
            "TestHistogramLoadFromCheckpoint",
            checkpoint(6.0, &[(0, 1), (1, 2)]),
            Ok((6.0, vec![(0, 2.0), (1, 4.0)])),
        ),
        (
            "TestHistogramLoadFromCheckpointReturnsErrorOnNegativeBucket",
            checkpoint(1.0, &[(-1, 1)]),
            Err(VpaError::CheckpointBucketOutOfRange {
                bucket: -1,
                n_buckets,
            }),
        ),
        (
            "TestHistogramLoadFromCheckpointReturnsErrorOnInvalidBucket",
            checkpoint(1.0, &[(99, 1)]),
            Err(VpaError::CheckpointBucketOutOfRange {
                bucket: 99,
                n_buckets,
            }),
        ),
        (
            "TestHistogramLoadFromCheckpointReturnsErrorNegativeTotaWeight",
            checkpoint(-1.0, &[]),
            Err(VpaError::NegativeCheckpointWeight { total_weight: -1.0 }),
        ),
    ];
    for (name, checkpoint, expected) in cases {
        let mut histogram = Histogram::new(test_histogram_options());
        let result = histogram.load_from_checkpoint(&checkpoint);
        match expected {
            Ok((total_weight, bucket_weights)) => {
                assert_eq!(result, Ok(()), "{name}");
                assert_eq!(
                    histogram.total_weight(),
                    total_weight,
                    "{name}: total weight"
                );
                for (bucket, weight) in bucket_weights {
                    assert_eq!(
                        histogram.bucket_weight(bucket),
                        weight,
                        "{name}: bucket {bucket}"
                    );
                }
            }
            Err(error) => {
                assert_eq!(result, Err(error), "{name}");
                assert_eq!(
                    histogram,
                    Histogram::new(test_histogram_options()),
                    "{name}: unchanged"
                );
            }
        }
    }
}

#[test]
fn reloaded_checkpoint_with_boundary_weights_is_not_empty() {
    // TestHistogramIsNotEmptyAfterSavingAndLoadingCheckpointsWithBoundaryValues
    // (kubernetes/autoscaler#7726): a bucket of exactly epsilon next to one of
    // MAX_CHECKPOINT_WEIGHT * epsilon - epsilon comes back just under epsilon after rounding.
    let mut histogram = Histogram::new(test_histogram_options());
    histogram.add_sample(1.0, WEIGHT_EPSILON);
    histogram.add_sample(
        2.0,
        f64::from(MAX_CHECKPOINT_WEIGHT) * WEIGHT_EPSILON - WEIGHT_EPSILON,
    );
    assert!(!histogram.is_empty());

    let mut reloaded = Histogram::new(test_histogram_options());
    reloaded
        .load_from_checkpoint(&histogram.save_to_checkpoint())
        .expect("valid checkpoint");
    assert!(!reloaded.is_empty());
}
