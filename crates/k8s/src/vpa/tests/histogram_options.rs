//! From kubernetes/autoscaler `vertical-pod-autoscaler/pkg/recommender/util/histogram_options_test.go`:
//! `TestLinearHistogramOptions`, `TestExponentialHistogramOptions`. The invalid-options cases at
//! the end are ours (upstream's constructors validate but no test calls them with bad input).

use crate::vpa::{HistogramOptions, VpaError};

struct Case {
    name: &'static str,
    options: Result<HistogramOptions, VpaError>,
    epsilon: f64,
    n_buckets: usize,
    /// (bucket, expected start)
    bucket_starts: &'static [(usize, f64)],
    /// (value, expected bucket)
    find_buckets: &'static [(f64, usize)],
}

fn check(case: &Case) {
    let options = case
        .options
        .clone()
        .unwrap_or_else(|e| panic!("{}: {e}", case.name));
    assert_eq!(options.epsilon(), case.epsilon, "{}: epsilon", case.name);
    assert_eq!(
        options.n_buckets(),
        case.n_buckets,
        "{}: n_buckets",
        case.name
    );
    for &(bucket, expected) in case.bucket_starts {
        assert_eq!(
            options.bucket_start(bucket),
            expected,
            "{}: bucket_start({bucket})",
            case.name
        );
    }
    for &(value, expected) in case.find_buckets {
        assert_eq!(
            options.find_bucket(value),
            expected,
            "{}: find_bucket({value})",
            case.name
        );
    }
}

#[test]
fn histogram_options_match_upstream() {
    let epsilon = 0.001;
    let cases = [
        Case {
            name: "TestLinearHistogramOptions",
            options: HistogramOptions::linear(5.0, 0.3, epsilon),
            epsilon,
            n_buckets: 18,
            bucket_starts: &[(0, 0.0), (17, 5.1)],
            find_buckets: &[(-1.0, 0), (0.0, 0), (1.3, 4), (100.0, 17)],
        },
        Case {
            name: "TestExponentialHistogramOptions",
            options: HistogramOptions::exponential(500.0, 40.0, 1.5, epsilon),
            epsilon,
            n_buckets: 6,
            bucket_starts: &[
                (0, 0.0),
                (1, 40.0),
                (2, 100.0),
                (3, 190.0),
                (4, 325.0),
                (5, 527.5),
            ],
            find_buckets: &[(-1.0, 0), (39.99, 0), (40.0, 1), (100.0, 2), (900.0, 5)],
        },
    ];
    for case in &cases {
        check(case);
    }
}

#[test]
fn invalid_histogram_options_are_refused() {
    // Ours: the domain checks upstream's constructors make, plus NaN and the bucket limit.
    let cases: [(&str, Result<HistogramOptions, VpaError>); 8] = [
        ("linear, zero max", HistogramOptions::linear(0.0, 1.0, 0.1)),
        (
            "linear, negative bucket size",
            HistogramOptions::linear(1.0, -1.0, 0.1),
        ),
        (
            "linear, zero epsilon",
            HistogramOptions::linear(1.0, 1.0, 0.0),
        ),
        (
            "linear, NaN max",
            HistogramOptions::linear(f64::NAN, 1.0, 0.1),
        ),
        (
            "linear, too many buckets",
            HistogramOptions::linear(1e12, 1e-3, 0.1),
        ),
        (
            "exponential, ratio 1",
            HistogramOptions::exponential(10.0, 1.0, 1.0, 0.1),
        ),
        (
            "exponential, zero first bucket",
            HistogramOptions::exponential(10.0, 0.0, 2.0, 0.1),
        ),
        (
            "exponential, negative epsilon",
            HistogramOptions::exponential(10.0, 1.0, 2.0, -0.1),
        ),
    ];
    for (name, result) in cases {
        assert!(result.is_err(), "{name}: expected an error, got {result:?}");
    }
}
