//! From kubernetes/autoscaler `vertical-pod-autoscaler/pkg/recommender/model/types_test.go`:
//! `TestRoundUpToScale`, `TestCPUAmountFromCores`, `TestCoresFromCPUAmount`,
//! `TestMemoryAmountFromBytes`, `TestScaleResource`, `TestResourceAmountFromFloat`. These pin the
//! truncation and clamping every estimate goes through.
//!
//! Not ported: `TestBytesFromMemoryAmount` (here a byte count is an `i64` used `as f64`, with no
//! function of its own), and `TestResourcesAsResourceList`, `TestHumanizeMemoryQuantity`,
//! `TestQuantityFromCPUAmount`, `TestQuantityFromMemoryAmount`, `TestResourceNamesApiToModel`,
//! which convert to and from Kubernetes API types.

use crate::vpa::{
    MAX_RESOURCE_AMOUNT, VpaError, cores_from_cpu_millicores, cpu_millicores_from_cores,
    memory_bytes_from_f64, resource_amount_from_f64, round_up_to_scale, scale_resource,
};

#[test]
fn round_up_to_scale_matches_upstream() {
    let cases = [
        ("Round up to nearest 7", 100, 7, Ok(105)),
        ("Exact multiple of 10", 100, 10, Ok(100)),
        ("Zero value with scale 5", 0, 5, Ok(0)),
        (
            "Negative scale value",
            100,
            -5,
            Err(VpaError::InvalidRoundingScale { scale: -5 }),
        ),
        (
            "Scale is zero",
            100,
            0,
            Err(VpaError::InvalidRoundingScale { scale: 0 }),
        ),
    ];
    for (name, amount, scale, expected) in cases {
        assert_eq!(round_up_to_scale(amount, scale), expected, "{name}");
    }
    assert_eq!(
        VpaError::InvalidRoundingScale { scale: 0 }.to_string(),
        "rounding scale must be greater than zero, got 0"
    );
}

#[test]
fn cpu_conversions_match_upstream() {
    let from_cores = [
        (0.069946, 69),
        (0.61535112, 615),
        (0.0172071, 17),
        (0.00455, 4),
        (0.0123456789, 12),
        (0.00123456789, 1),
    ];
    for (cores, expected) in from_cores {
        assert_eq!(
            cpu_millicores_from_cores(cores),
            expected,
            "TestCPUAmountFromCores({cores})"
        );
    }
    let to_cores = [
        (69, 0.069),
        (615, 0.615),
        (17, 0.017),
        (4, 0.004),
        (12, 0.012),
        (1, 0.001),
    ];
    for (millicores, expected) in to_cores {
        assert_eq!(
            cores_from_cpu_millicores(millicores),
            expected,
            "TestCoresFromCPUAmount({millicores})"
        );
    }
}

#[test]
fn memory_conversion_matches_upstream() {
    let cases = [
        (69.669, 69),
        (12.333, 12),
        (17.357, 17),
        (4.000, 4),
        (12.123456, 12),
        (1.0, 1),
    ];
    for (bytes, expected) in cases {
        assert_eq!(
            memory_bytes_from_f64(bytes),
            expected,
            "TestMemoryAmountFromBytes({bytes})"
        );
    }
}

#[test]
fn scale_resource_matches_upstream() {
    let cases = [
        (69, 1.0, 69),
        (615, 1.0, 615),
        (17, 1.0, 17),
        (4, 2.124, 8),
        (12, 1.1, 13),
        (1213, 1.2414, 1505),
        (0, 1.0, 0),
        (11, 0.0, 0),
        (41208, 0.000001, 0),
    ];
    for (amount, factor, expected) in cases {
        assert_eq!(
            scale_resource(amount, factor),
            expected,
            "TestScaleResource({amount}, {factor})"
        );
    }
}

#[test]
fn resource_amount_from_float_matches_upstream() {
    let cases = [
        ("regular positive number", 100.5, 100),
        ("zero", 0.0, 0),
        ("negative number should return zero", -50.5, 0),
        (
            "number larger than MaxResourceAmount",
            MAX_RESOURCE_AMOUNT as f64 + 100.0,
            MAX_RESOURCE_AMOUNT,
        ),
        (
            "number equal to MaxResourceAmount",
            MAX_RESOURCE_AMOUNT as f64,
            MAX_RESOURCE_AMOUNT,
        ),
        ("small decimal number", 0.125, 0),
        ("very small negative number should return zero", -0.0001, 0),
        // Ours: 0 times an infinite confidence factor; Go's conversion is platform-defined.
        ("NaN", f64::NAN, 0),
    ];
    for (name, amount, expected) in cases {
        assert_eq!(resource_amount_from_f64(amount), expected, "{name}");
    }
}
