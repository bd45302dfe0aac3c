//! Ported from kubernetes/kubernetes `pkg/controller/podautoscaler/horizontal_test.go`:
//! `TestNormalizeDesiredReplicasWithBehavior` (the stabilization windows of `behavior`, which
//! upstream tests through `stabilizeRecommendationWithBehaviors`),
//! `TestCalculateScaleUpLimitWithScalingRules` and `TestCalculateScaleDownLimitWithBehaviors`.

use super::super::behavior::{
    PolicyKind, ResolvedRules, ScalingPolicy, SelectPolicy, scale_down_limit, scale_up_limit,
};
use super::super::normalize::{Recommendation, stabilize_recommendation_with_behavior};
use super::{MINUTE, NOW, SECOND};

struct StabilizationCase {
    name: &'static str,
    recommendations: Vec<Recommendation>,
    current_replicas: i32,
    prenormalized: i32,
    expected: i32,
    /// The recommendation values kept afterwards, when upstream checks them.
    expected_recommendations: Option<Vec<i32>>,
    scale_up_window_seconds: i64,
    scale_down_window_seconds: i64,
}

fn at(replicas: i32, ago_ms: i64) -> Recommendation {
    Recommendation {
        replicas,
        timestamp_ms: NOW - ago_ms,
    }
}

fn case(
    name: &'static str,
    recommendations: Vec<Recommendation>,
    (current_replicas, prenormalized, expected): (i32, i32, i32),
    expected_recommendations: Option<Vec<i32>>,
    (scale_up_window_seconds, scale_down_window_seconds): (i64, i64),
) -> StabilizationCase {
    StabilizationCase {
        name,
        recommendations,
        current_replicas,
        prenormalized,
        expected,
        expected_recommendations,
        scale_up_window_seconds,
        scale_down_window_seconds,
    }
}

#[test]
fn normalize_desired_replicas_with_behavior() {
    let recent_four_five = || vec![at(4, 2 * MINUTE), at(5, MINUTE)];
    let old_ten_nine = || vec![at(10, 10 * MINUTE), at(9, 9 * MINUTE)];
    let cases = vec![
        case(
            "empty recommendations for scaling down",
            vec![],
            (100, 5, 5),
            Some(vec![5]),
            (0, 0),
        ),
        case(
            "simple scale down stabilization",
            recent_four_five(),
            (100, 3, 5),
            Some(vec![4, 5, 3]),
            (0, 3 * 60),
        ),
        case(
            "simple scale up stabilization",
            recent_four_five(),
            (1, 7, 4),
            Some(vec![4, 5, 7]),
            (5 * 60, 0),
        ),
        case(
            "no scale down stabilization",
            vec![at(1, 2 * MINUTE), at(2, MINUTE)],
            (100, 3, 3),
            Some(vec![1, 2, 3]),
            (5 * 60, 0),
        ),
        case(
            "no scale up stabilization",
            recent_four_five(),
            (1, 3, 3),
            Some(vec![4, 5, 3]),
            (0, 5 * 60),
        ),
        case(
            "no scale down stabilization, reuse recommendation element",
            old_ten_nine(),
            (100, 3, 3),
            Some(vec![10, 3]),
            (0, 0),
        ),
        case(
            "no scale up stabilization, reuse recommendation element",
            old_ten_nine(),
            (1, 100, 100),
            Some(vec![10, 100]),
            (0, 0),
        ),
        case(
            "scale down stabilization, reuse one of obsolete recommendation element",
            vec![
                at(10, 10 * MINUTE),
                at(4, MINUTE),
                at(5, 2 * MINUTE),
                at(9, 9 * MINUTE),
            ],
            (100, 3, 5),
            Some(vec![10, 4, 5, 3]),
            (0, 3 * 60),
        ),
        // Only the first recommendation is older than both windows, so only its slot is reused.
        case(
            "scale up stabilization, reuse one of obsolete recommendation element",
            vec![
                at(10, 100 * MINUTE),
                at(6, MINUTE),
                at(5, 2 * MINUTE),
                at(9, 3 * MINUTE),
            ],
            (1, 100, 5),
            Some(vec![100, 6, 5, 9]),
            (300, 0),
        ),
        case(
            "scale up and down stabilization, do not scale up when prenormalized rec goes down",
            vec![at(2, 100 * MINUTE), at(3, 3 * MINUTE)],
            (2, 1, 2),
            None,
            (300, 300),
        ),
        case(
            "scale up and down stabilization, do not scale down when prenormalized rec goes up",
            vec![at(2, 100 * MINUTE), at(1, 3 * MINUTE)],
            (2, 3, 2),
            None,
            (300, 300),
        ),
    ];
    for mut case in cases {
        let (got, _) = stabilize_recommendation_with_behavior(
            &mut case.recommendations,
            case.current_replicas,
            case.prenormalized,
            case.scale_up_window_seconds * SECOND,
            case.scale_down_window_seconds * SECOND,
            NOW,
        );
        assert_eq!(got, case.expected, "case: {}", case.name);
        if let Some(expected) = case.expected_recommendations {
            let kept: Vec<i32> = case
                .recommendations
                .iter()
                .map(|recommendation| recommendation.replicas)
                .collect();
            assert_eq!(kept, expected, "case: {}", case.name);
        }
    }
}

fn two_policies_min_change() -> ResolvedRules {
    ResolvedRules {
        stabilization_window_seconds: Some(300),
        select_policy: SelectPolicy::Min,
        policies: vec![
            ScalingPolicy {
                kind: PolicyKind::Pods,
                value: 2,
                period_seconds: 60,
            },
            ScalingPolicy {
                kind: PolicyKind::Percent,
                value: 50,
                period_seconds: 60,
            },
        ],
        tolerance: None,
    }
}

#[test]
fn calculate_scale_up_limit_with_scaling_rules() {
    // From 1 replica: +2 pods gives 3, +50% gives 2; the smaller change wins.
    assert_eq!(
        scale_up_limit(1, &[], &[], &two_policies_min_change(), NOW),
        2
    );
}

#[test]
fn calculate_scale_down_limit_with_behaviors() {
    // From 5 replicas: -2 pods gives 3, -50% gives 2; the smaller change wins.
    assert_eq!(
        scale_down_limit(5, &[], &[], &two_policies_min_change(), NOW),
        3
    );
}
