//! Ported from kubernetes/kubernetes `pkg/controller/podautoscaler/horizontal_test.go`:
//! `TestNormalizeDesiredReplicas` (stabilization over the downscale window, without
//! `behavior`) and `TestConvertDesiredReplicasWithRules` (min/max and the scale-up cap).

use super::super::normalize::{
    LimitReason, Recommendation, convert_desired_replicas_with_rules, scale_up_cap,
    stabilize_recommendation,
};
use super::{MINUTE, NOW};

fn at(replicas: i32, ago_ms: i64) -> Recommendation {
    Recommendation {
        replicas,
        timestamp_ms: NOW - ago_ms,
    }
}

#[test]
fn normalize_desired_replicas() {
    // (name, recommendations, prenormalized, stabilized, recommendations kept afterwards)
    let cases = vec![
        ("empty log", vec![], 5, 5, 1),
        ("stabilize", vec![at(4, 2 * MINUTE), at(5, MINUTE)], 3, 5, 3),
        (
            "no stabilize",
            vec![at(1, 2 * MINUTE), at(2, MINUTE)],
            3,
            3,
            3,
        ),
        (
            "no stabilize - old recommendations",
            vec![at(10, 10 * MINUTE), at(9, 9 * MINUTE)],
            3,
            3,
            2,
        ),
        (
            "stabilize - old recommendations",
            vec![
                at(10, 10 * MINUTE),
                at(4, MINUTE),
                at(5, 2 * MINUTE),
                at(9, 9 * MINUTE),
            ],
            3,
            5,
            4,
        ),
    ];
    for (name, mut recommendations, prenormalized, expected, expected_log_length) in cases {
        let got = stabilize_recommendation(&mut recommendations, prenormalized, 5 * MINUTE, NOW);
        assert_eq!(got, expected, "case: {name}");
        assert_eq!(recommendations.len(), expected_log_length, "case: {name}");
    }
}

#[test]
fn convert_desired_replicas_with_rules_bounds_the_count() {
    // Upstream's tests raise the cap factor to 8; the last case names the cap whatever it is.
    let cap_of = |current: i32| scale_up_cap(current, 2.0, 4.0);
    // (annotation, current, desired, min, max, converted, condition)
    let cases = vec![
        (
            "prenormalized desired replicas within range",
            5,
            7,
            3,
            8,
            7,
            LimitReason::DesiredWithinRange,
        ),
        (
            "prenormalized desired replicas < minReplicas",
            3,
            1,
            2,
            8,
            2,
            LimitReason::TooFewReplicas,
        ),
        (
            "prenormalized desired zeroed replicas within range",
            1,
            0,
            0,
            10,
            0,
            LimitReason::DesiredWithinRange,
        ),
        (
            "maxReplicas is the limit because maxReplicas < scaleUpLimit",
            20,
            1000,
            1,
            10,
            10,
            LimitReason::TooManyReplicas,
        ),
        (
            "scaleUpLimit is the limit because scaleUpLimit < maxReplicas",
            3,
            1000,
            1,
            2000,
            cap_of(3),
            LimitReason::ScaleUpLimit,
        ),
    ];
    for (annotation, current, desired, min, max, expected, expected_reason) in cases {
        let got = convert_desired_replicas_with_rules(desired, min, max, cap_of(current));
        assert_eq!(got, (expected, expected_reason), "case: {annotation}");
    }
}

#[test]
fn scale_up_cap_is_twice_current_or_four() {
    // The cap the controller applies without behavior: max(2 x current, 4).
    assert_eq!(scale_up_cap(1, 2.0, 4.0), 4);
    assert_eq!(scale_up_cap(3, 2.0, 4.0), 6);
    assert_eq!(scale_up_cap(0, 2.0, 4.0), 4);
}
