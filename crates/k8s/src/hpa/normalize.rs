//! From the metrics' proposal to the replica count the controller sets: stabilization over
//! past recommendations, then the min/max bounds and the rate limits. Without `behavior`, a
//! scale-down takes the highest recommendation of the downscale window and a scale-up is capped
//! at max(2 x current, 4); with `behavior`, both directions have a window and policies.

use super::behavior::{ResolvedRules, ScaleEvent, scale_down_limit, scale_up_limit};

/// A past unstabilized recommendation of the metrics.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Recommendation {
    pub replicas: i32,
    pub timestamp_ms: i64,
}

/// Why stabilization held the count back, as the `AbleToScale` condition names it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Stabilization {
    /// A recent recommendation was lower: the count rises no further than it.
    ScaleUpStabilized,
    /// A recent recommendation was higher: the count falls no further than it.
    ScaleDownStabilized,
}

impl Stabilization {
    pub fn as_str(self) -> &'static str {
        match self {
            Stabilization::ScaleUpStabilized => "ScaleUpStabilized",
            Stabilization::ScaleDownStabilized => "ScaleDownStabilized",
        }
    }

    pub fn message(self) -> &'static str {
        match self {
            Stabilization::ScaleUpStabilized => {
                "recent recommendations were lower than current one, \
                 applying the lowest recent recommendation"
            }
            Stabilization::ScaleDownStabilized => {
                "recent recommendations were higher than current one, \
                 applying the highest recent recommendation"
            }
        }
    }
}

/// The most recommendations kept. Upstream reuses outdated slots and keeps about one per sync
/// in the window; past this cap, reached only by calls far more frequent than the window's
/// span divided by the cap, the oldest entry is dropped.
pub const MAX_RECOMMENDATIONS: usize = 4096;

/// Why the replica count was or was not bounded, named as the `ScalingLimited` condition names
/// it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum LimitReason {
    DesiredWithinRange,
    TooFewReplicas,
    TooManyReplicas,
    ScaleUpLimit,
    ScaleDownLimit,
}

impl LimitReason {
    pub fn as_str(self) -> &'static str {
        match self {
            LimitReason::DesiredWithinRange => "DesiredWithinRange",
            LimitReason::TooFewReplicas => "TooFewReplicas",
            LimitReason::TooManyReplicas => "TooManyReplicas",
            LimitReason::ScaleUpLimit => "ScaleUpLimit",
            LimitReason::ScaleDownLimit => "ScaleDownLimit",
        }
    }

    pub fn message(self) -> &'static str {
        match self {
            LimitReason::DesiredWithinRange => "the desired count is within the acceptable range",
            LimitReason::TooFewReplicas => {
                "the desired replica count is less than the minimum replica count"
            }
            LimitReason::TooManyReplicas => {
                "the desired replica count is more than the maximum replica count"
            }
            LimitReason::ScaleUpLimit => {
                "the desired replica count is increasing faster than the maximum scale rate"
            }
            LimitReason::ScaleDownLimit => {
                "the desired replica count is decreasing faster than the maximum scale rate"
            }
        }
    }
}

/// Without `behavior`: records `prenormalized` and returns the highest recommendation of the
/// last `downscale_window_ms`, so that a dip in load does not remove pods at once. The slot of
/// the last recommendation older than the window is reused.
pub fn stabilize_recommendation(
    recommendations: &mut Vec<Recommendation>,
    prenormalized: i32,
    downscale_window_ms: i64,
    now_ms: i64,
) -> i32 {
    let cutoff_ms = now_ms.saturating_sub(downscale_window_ms);
    let mut max_recommendation = prenormalized;
    let mut old_index = None;
    for (index, recommendation) in recommendations.iter().enumerate() {
        if recommendation.timestamp_ms < cutoff_ms {
            old_index = Some(index);
        } else {
            max_recommendation = max_recommendation.max(recommendation.replicas);
        }
    }
    record(recommendations, old_index, prenormalized, now_ms);
    max_recommendation
}

/// With `behavior`: the count moves toward `desired` only as far as every recommendation of the
/// windows agrees, up to the lowest of the scale-up window and down to the highest of the
/// scale-down window. Returns the stabilized count and what explains it when it differs from
/// `desired`.
pub fn stabilize_recommendation_with_behavior(
    recommendations: &mut Vec<Recommendation>,
    current_replicas: i32,
    desired_replicas: i32,
    scale_up_window_ms: i64,
    scale_down_window_ms: i64,
    now_ms: i64,
) -> (i32, Stabilization) {
    let up_cutoff_ms = now_ms.saturating_sub(scale_up_window_ms);
    let down_cutoff_ms = now_ms.saturating_sub(scale_down_window_ms);
    let mut up_recommendation = desired_replicas;
    let mut down_recommendation = desired_replicas;
    let mut old_index = None;
    for (index, recommendation) in recommendations.iter().enumerate() {
        if recommendation.timestamp_ms > up_cutoff_ms {
            up_recommendation = up_recommendation.min(recommendation.replicas);
        }
        if recommendation.timestamp_ms > down_cutoff_ms {
            down_recommendation = down_recommendation.max(recommendation.replicas);
        }
        if recommendation.timestamp_ms < up_cutoff_ms
            && recommendation.timestamp_ms < down_cutoff_ms
        {
            old_index = Some(index);
        }
    }
    let stabilized = current_replicas
        .max(up_recommendation)
        .min(down_recommendation);
    record(recommendations, old_index, desired_replicas, now_ms);
    let reason = if desired_replicas >= current_replicas {
        Stabilization::ScaleUpStabilized
    } else {
        Stabilization::ScaleDownStabilized
    };
    (stabilized, reason)
}

fn record(
    recommendations: &mut Vec<Recommendation>,
    old_index: Option<usize>,
    replicas: i32,
    now_ms: i64,
) {
    let recommendation = Recommendation {
        replicas,
        timestamp_ms: now_ms,
    };
    match old_index {
        Some(index) => recommendations[index] = recommendation,
        None => {
            if recommendations.len() >= MAX_RECOMMENDATIONS {
                recommendations.remove(0);
            }
            recommendations.push(recommendation);
        }
    }
}

/// The scale-up cap without `behavior`: `max(factor x current, minimum)`, by default
/// max(2 x current, 4), against runaway growth from a bogus usage report.
pub fn scale_up_cap(current_replicas: i32, factor: f64, minimum: f64) -> i32 {
    (factor * f64::from(current_replicas)).max(minimum) as i32
}

/// Without `behavior`: bounds `desired` by the minimum, and by the maximum or the scale-up cap,
/// whichever is lower.
pub fn convert_desired_replicas_with_rules(
    desired_replicas: i32,
    min_replicas: i32,
    max_replicas: i32,
    scale_up_cap: i32,
) -> (i32, LimitReason) {
    let (maximum_allowed, reason_above) = if max_replicas > scale_up_cap {
        (scale_up_cap, LimitReason::ScaleUpLimit)
    } else {
        (max_replicas, LimitReason::TooManyReplicas)
    };
    if desired_replicas < min_replicas {
        return (min_replicas, LimitReason::TooFewReplicas);
    }
    if desired_replicas > maximum_allowed {
        return (maximum_allowed, reason_above);
    }
    (desired_replicas, LimitReason::DesiredWithinRange)
}

/// The replica counts and history the policies need.
#[derive(Debug, Clone, Copy)]
pub struct RateLimitInput<'a> {
    pub current_replicas: i32,
    pub desired_replicas: i32,
    pub min_replicas: i32,
    pub max_replicas: i32,
    pub scale_up_rules: &'a ResolvedRules,
    pub scale_down_rules: &'a ResolvedRules,
    pub scale_up_events: &'a [ScaleEvent],
    pub scale_down_events: &'a [ScaleEvent],
}

/// With `behavior`: bounds `desired` by the policies of its direction and by min/max. A limit
/// that would move the count against the direction (past events already used up the budget)
/// holds it at the current count.
pub fn convert_desired_replicas_with_behavior_rate(
    input: &RateLimitInput<'_>,
    now_ms: i64,
) -> (i32, LimitReason) {
    let current = input.current_replicas;
    let desired = input.desired_replicas;
    if desired > current {
        let limit = scale_up_limit(
            current,
            input.scale_up_events,
            input.scale_down_events,
            input.scale_up_rules,
            now_ms,
        )
        .max(current);
        let (maximum_allowed, reason) = if input.max_replicas > limit {
            (limit, LimitReason::ScaleUpLimit)
        } else {
            (input.max_replicas, LimitReason::TooManyReplicas)
        };
        if desired > maximum_allowed {
            return (maximum_allowed, reason);
        }
    } else if desired < current {
        let limit = scale_down_limit(
            current,
            input.scale_up_events,
            input.scale_down_events,
            input.scale_down_rules,
            now_ms,
        )
        .min(current);
        let (minimum_allowed, reason) = if input.min_replicas < limit {
            (limit, LimitReason::ScaleDownLimit)
        } else {
            (input.min_replicas, LimitReason::TooFewReplicas)
        };
        if desired < minimum_allowed {
            return (minimum_allowed, reason);
        }
    }
    (desired, LimitReason::DesiredWithinRange)
}
