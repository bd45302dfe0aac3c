//! The behavior helpers of upstream's `horizontal_test.go`: `generateScalingRules` and
//! `generateEventsUniformDistribution`.

use super::super::behavior::{PolicyKind, ScaleEvent, ScalingPolicy, ScalingRules, SelectPolicy};
use super::{NOW, SECOND};

/// Upstream's `generateScalingRules`: a pods policy and a percent policy when their values are
/// not zero, `selectPolicy: Max`, and the given window.
pub(super) fn generate_scaling_rules(
    pods: i32,
    pods_period: i32,
    percent: i32,
    percent_period: i32,
    stabilization_window: i32,
) -> ScalingRules {
    let mut policies = Vec::new();
    if pods != 0 {
        policies.push(ScalingPolicy {
            kind: PolicyKind::Pods,
            value: pods,
            period_seconds: pods_period,
        });
    }
    if percent != 0 {
        policies.push(ScalingPolicy {
            kind: PolicyKind::Percent,
            value: percent,
            period_seconds: percent_period,
        });
    }
    ScalingRules {
        stabilization_window_seconds: Some(stabilization_window),
        select_policy: Some(SelectPolicy::Max),
        policies: (!policies.is_empty()).then_some(policies),
        tolerance: None,
    }
}

/// Upstream's `generateEventsUniformDistribution`: the window of `period_seconds` before now is
/// cut into one segment per event, each event in the middle of its segment, oldest first.
pub(super) fn events_uniformly_spread(changes: &[i32], period_seconds: i64) -> Vec<ScaleEvent> {
    let segment = period_seconds as f64 / changes.len() as f64;
    changes
        .iter()
        .enumerate()
        .map(|(index, change)| {
            let seconds_ago =
                (period_seconds as f64 - segment * (index + 1) as f64 + segment / 2.0) as i64;
            ScaleEvent {
                replica_change: *change,
                timestamp_ms: NOW - seconds_ago * SECOND,
                outdated: false,
            }
        })
        .collect()
}
