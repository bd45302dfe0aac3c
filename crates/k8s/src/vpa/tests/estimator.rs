//! From kubernetes/autoscaler `vertical-pod-autoscaler/pkg/recommender/logic/estimator_test.go`:
//! `TestPercentileEstimator`, `TestConfidenceMultiplier`,
//! `TestConfidenceMultiplierWithCustomInterval`, `TestConfidenceMultiplierNoHistory`,
//! `TestMarginEstimator`, `TestMinResourcesEstimator`.
//!
//! Upstream's expected values such as `3.14*1.1` are Go constant expressions, evaluated exactly
//! before rounding to f64; they are written here as the exact results (3.454).

use crate::vpa::{
    AggregateContainerState, AggregationConfig, Estimator, MS_PER_DAY, Resource, confidence,
    cpu_millicores_from_cores, memory_bytes_from_f64,
};

use super::within_relative;

const MINUTE_MS: i64 = 60_000;

/// Upstream's `anyTime` in this file: the Unix epoch.
const ANY_TIME_MS: i64 = 0;

/// A state holding `n_samples` CPU samples of 1 core, two minutes apart, as upstream's loop adds.
fn state_with_cpu_samples(n_samples: i64) -> AggregateContainerState {
    let mut state = AggregateContainerState::new(&AggregationConfig::default(), ANY_TIME_MS);
    for sample_idx in 0..n_samples {
        state.add_cpu_sample(ANY_TIME_MS + sample_idx * 2 * MINUTE_MS, 1000);
    }
    state
}

#[allow(
    clippy::approx_constant,
    reason = "upstream's test amount 3.14, not pi"
)]
fn base_cpu() -> Estimator {
    Estimator::constant(cpu_millicores_from_cores(3.14))
}

#[allow(clippy::approx_constant, reason = "upstream's test amount 3.14e9")]
fn base_memory() -> Estimator {
    Estimator::constant(memory_bytes_from_f64(3.14e9))
}

struct Case {
    name: &'static str,
    cpu: Estimator,
    memory: Estimator,
    state: AggregateContainerState,
    /// Expected amounts; None where upstream checks nothing.
    cpu_millicores: Option<i64>,
    memory_bytes: Option<i64>,
}

fn check(case: &Case) {
    let actual = Estimator::estimate_both(&case.cpu, &case.memory, &case.state);
    if let Some(expected) = case.cpu_millicores {
        assert_eq!(actual.cpu_millicores, expected, "{}: cpu", case.name);
    }
    if let Some(expected) = case.memory_bytes {
        assert_eq!(actual.memory_bytes, expected, "{}: memory", case.name);
    }
}

#[test]
fn composed_estimators_match_upstream() {
    let empty = || state_with_cpu_samples(0);
    let day = MS_PER_DAY;
    let custom_interval = 18 * MINUTE_MS;
    let cases = [
        Case {
            // With no history the multiplier is (1 + 1/0)^1: infinite, capped to the maximum.
            name: "TestConfidenceMultiplier, exponent 1, no history",
            cpu: base_cpu().with_confidence_multiplier(1.0, 1.0, day),
            memory: base_memory().with_confidence_multiplier(1.0, 1.0, day),
            state: empty(),
            cpu_millicores: Some(100_000_000_000_000),
            memory_bytes: None,
        },
        Case {
            name: "TestConfidenceMultiplier, exponent -1, no history",
            cpu: base_cpu().with_confidence_multiplier(1.0, -1.0, day),
            memory: base_memory().with_confidence_multiplier(1.0, -1.0, day),
            state: empty(),
            cpu_millicores: Some(0),
            memory_bytes: None,
        },
        Case {
            // Confidence 9 / (60 * 24) = 0.00625, so 3.14 * (1 + 0.1 / 0.00625)^2 = 907.46 cores.
            name: "TestConfidenceMultiplier, 9 samples",
            cpu: base_cpu().with_confidence_multiplier(0.1, 2.0, day),
            memory: base_memory().with_confidence_multiplier(0.1, 2.0, day),
            state: state_with_cpu_samples(9),
            cpu_millicores: Some(907_460),
            memory_bytes: Some(907_460_000_000),
        },
        Case {
            // Confidence 9 / 18 = 0.5, so 3.14 * (1 + 0.1 / 0.5)^2 = 4.5216 (4.521 in millicores).
            name: "TestConfidenceMultiplierWithCustomInterval",
            cpu: base_cpu().with_confidence_multiplier(0.1, 2.0, custom_interval),
            memory: base_memory().with_confidence_multiplier(0.1, 2.0, custom_interval),
            state: state_with_cpu_samples(9),
            cpu_millicores: Some(4521),
            memory_bytes: Some(4_521_600_000),
        },
        Case {
            name: "TestConfidenceMultiplierNoHistory",
            cpu: base_cpu().with_confidence_multiplier(0.1, 2.0, day),
            memory: base_memory().with_confidence_multiplier(0.1, 2.0, day),
            state: empty(),
            cpu_millicores: Some(100_000_000_000_000),
            memory_bytes: None,
        },
        Case {
            name: "TestMarginEstimator",
            cpu: base_cpu().with_margin(0.1),
            memory: base_memory().with_margin(0.1),
            state: empty(),
            cpu_millicores: Some(cpu_millicores_from_cores(3.454)),
            memory_bytes: Some(memory_bytes_from_f64(3.454e9)),
        },
        Case {
            // The base is above the minimum, so the base wins.
            name: "TestMinResourcesEstimator",
            cpu: base_cpu().with_min_resource(cpu_millicores_from_cores(0.2)),
            memory: Estimator::constant(memory_bytes_from_f64(4e8))
                .with_min_resource(memory_bytes_from_f64(2e7)),
            state: empty(),
            cpu_millicores: Some(3140),
            memory_bytes: Some(400_000_000),
        },
    ];
    for case in &cases {
        check(case);
    }
}

#[test]
fn confidence_matches_upstream() {
    // From TestConfidenceMultiplier and TestConfidenceMultiplierWithCustomInterval: the smaller
    // of the lifespan (16 minutes) and the sample count read as one a minute.
    let cases = [
        ("TestConfidenceMultiplier", 9, MS_PER_DAY, 0.00625),
        (
            "TestConfidenceMultiplierWithCustomInterval",
            9,
            18 * MINUTE_MS,
            0.5,
        ),
    ];
    for (name, n_samples, interval_ms, expected) in cases {
        let state = state_with_cpu_samples(n_samples);
        assert_eq!(confidence(&state, interval_ms), expected, "{name}");
    }
}

#[test]
fn percentile_estimator_reads_the_histograms() {
    // TestPercentileEstimator: CPU samples of 1, 2 and 3 cores and memory peaks of 1, 2 and 3 GB,
    // all at one time so nothing decays. 5 % tolerance for the bucket width.
    let mut state = AggregateContainerState::new(&AggregationConfig::default(), ANY_TIME_MS);
    for (cores, bytes) in [(1.0, 1e9), (2.0, 2e9), (3.0, 3e9)] {
        state.cpu_usage.add_sample(cores, 1.0, ANY_TIME_MS);
        state.memory_peaks.add_sample(bytes, 1.0, ANY_TIME_MS);
    }
    let cpu = Estimator::percentile(0.2).estimate(Resource::Cpu, &state);
    let memory = Estimator::percentile(0.5).estimate(Resource::Memory, &state);
    assert!(
        within_relative(cpu as f64, 1000.0, 0.05),
        "cpu {cpu} millicores, expected ~1000"
    );
    assert!(
        within_relative(memory as f64, 2e9, 0.05),
        "memory {memory} bytes, expected ~2e9"
    );
}
