//! Ported from kubernetes/kubernetes `pkg/controller/podautoscaler/horizontal_test.go`:
//! `TestScalingWithRules` (`convertDesiredReplicasWithBehaviorRate` with `generateScalingRules`
//! and `generateEventsUniformDistribution`). Upstream skips the case marked `testThis`; it is
//! run here and passes.

use super::super::behavior::{ResolvedRules, ScaleEvent, ScalingRules};
use super::super::normalize::{
    LimitReason, RateLimitInput, convert_desired_replicas_with_behavior_rate,
};
use super::NOW;
use super::behavior_fixture::{events_uniformly_spread, generate_scaling_rules};

use LimitReason::{
    DesiredWithinRange, ScaleDownLimit, ScaleUpLimit, TooFewReplicas, TooManyReplicas,
};

struct RulesCase {
    name: &'static str,
    scale_up_events: Vec<ScaleEvent>,
    scale_down_events: Vec<ScaleEvent>,
    min_replicas: i32,
    max_replicas: i32,
    scale_up_rules: Option<ScalingRules>,
    scale_down_rules: Option<ScalingRules>,
    current_replicas: i32,
    prenormalized: i32,
    expected: (i32, LimitReason),
}

fn case(
    name: &'static str,
    (min_replicas, max_replicas): (i32, i32),
    (current_replicas, prenormalized): (i32, i32),
    expected: (i32, LimitReason),
) -> RulesCase {
    RulesCase {
        name,
        scale_up_events: vec![],
        scale_down_events: vec![],
        min_replicas,
        max_replicas,
        scale_up_rules: None,
        scale_down_rules: None,
        current_replicas,
        prenormalized,
        expected,
    }
}

impl RulesCase {
    fn up(mut self, rules: ScalingRules) -> Self {
        self.scale_up_rules = Some(rules);
        self
    }

    fn down(mut self, rules: ScalingRules) -> Self {
        self.scale_down_rules = Some(rules);
        self
    }

    fn up_events(mut self, changes: &[i32]) -> Self {
        self.scale_up_events = events_uniformly_spread(changes, 120);
        self
    }

    fn down_events(mut self, changes: &[i32]) -> Self {
        self.scale_down_events = events_uniformly_spread(changes, 120);
        self
    }
}

fn check(case: &RulesCase) {
    let scale_up_rules = ResolvedRules::scale_up(case.scale_up_rules.as_ref());
    let scale_down_rules = ResolvedRules::scale_down(case.scale_down_rules.as_ref());
    let input = RateLimitInput {
        current_replicas: case.current_replicas,
        desired_replicas: case.prenormalized,
        min_replicas: case.min_replicas,
        max_replicas: case.max_replicas,
        scale_up_rules: &scale_up_rules,
        scale_down_rules: &scale_down_rules,
        scale_up_events: &case.scale_up_events,
        scale_down_events: &case.scale_down_events,
    };
    let got = convert_desired_replicas_with_behavior_rate(&input, NOW);
    assert_eq!(got, case.expected, "case: {}", case.name);
}

fn without_periods() -> Vec<RulesCase> {
    let rules = generate_scaling_rules;
    vec![
        case(
            "prenormalized desired replicas within range",
            (3, 8),
            (5, 7),
            (7, DesiredWithinRange),
        ),
        case(
            "prenormalized desired replicas < minReplicas",
            (2, 8),
            (3, 1),
            (2, TooFewReplicas),
        ),
        case(
            "prenormalized desired replicas within range when minReplicas is 0",
            (0, 10),
            (1, 0),
            (0, DesiredWithinRange),
        ),
        case(
            "maxReplicas is the limit because maxReplicas < scaleUpLimit",
            (1, 10),
            (20, 1000),
            (10, TooManyReplicas),
        ),
        case(
            "desired replica count is more than the maximum replica count",
            (100, 150),
            (100, 1000),
            (150, TooManyReplicas),
        ),
        case(
            "scaleUpLimit is the limit because scaleUpLimit < maxReplicas with user \
             policies",
            (1, 2000),
            (3, 1000),
            (4, ScaleUpLimit),
        )
        .up(rules(0, 0, 1, 60, 0)),
        case(
            "scaleDownLimit is the limit because scaleDownLimit > minReplicas with \
             user defined policies",
            (3, 2000),
            (1000, 3),
            (980, ScaleDownLimit),
        )
        .down(rules(20, 60, 0, 0, 0)),
        case(
            "scaleUp with default behavior",
            (1, 1000),
            (10, 50),
            (20, ScaleUpLimit),
        ),
        case(
            "scaleUp with pods policy larger than percent policy",
            (1, 1000),
            (10, 500),
            (110, ScaleUpLimit),
        )
        .up(rules(100, 60, 100, 60, 0)),
        case(
            "scaleUp with percent policy larger than pods policy",
            (1, 1000),
            (10, 500),
            (20, ScaleUpLimit),
        )
        .up(rules(2, 60, 100, 60, 0)),
        case(
            "scaleUp with spec MaxReplicas limitation with large pod policy",
            (1, 1000),
            (10, 50),
            (50, DesiredWithinRange),
        )
        .up(rules(100, 60, 0, 0, 0)),
        case(
            "scaleUp with spec MaxReplicas limitation with large percent policy",
            (1, 1000),
            (10, 50),
            (50, DesiredWithinRange),
        )
        .up(rules(10000, 60, 0, 0, 0)),
        case(
            "scaleUp with pod policy limitation",
            (1, 1000),
            (10, 50),
            (40, ScaleUpLimit),
        )
        .up(rules(30, 60, 0, 0, 0)),
        case(
            "scaleUp with percent policy limitation",
            (1, 1000),
            (10, 50),
            (30, ScaleUpLimit),
        )
        .up(rules(0, 0, 200, 60, 0)),
        case(
            "scaleDown with percent policy larger than pod policy",
            (1, 1000),
            (100, 2),
            (80, ScaleDownLimit),
        )
        .down(rules(20, 60, 1, 60, 300)),
        case(
            "scaleDown with pod policy larger than percent policy",
            (1, 1000),
            (100, 2),
            (98, ScaleDownLimit),
        )
        .down(rules(2, 60, 1, 60, 300)),
        case(
            "scaleDown with spec MinReplicas=nil limitation with large pod policy",
            (1, 1000),
            (10, 0),
            (1, TooFewReplicas),
        )
        .down(rules(100, 60, 0, 0, 300)),
        case(
            "scaleDown with spec MinReplicas limitation with large pod policy",
            (1, 1000),
            (10, 0),
            (1, TooFewReplicas),
        )
        .down(rules(100, 60, 0, 0, 300)),
        case(
            "scaleDown with spec MinReplicas limitation with large percent policy",
            (5, 1000),
            (10, 2),
            (5, TooFewReplicas),
        )
        .down(rules(0, 0, 100, 60, 300)),
        case(
            "scaleDown with pod policy limitation",
            (1, 1000),
            (10, 2),
            (5, ScaleDownLimit),
        )
        .down(rules(5, 60, 0, 0, 300)),
        case(
            "scaleDown with percent policy limitation",
            (1, 1000),
            (10, 5),
            (5, DesiredWithinRange),
        )
        .down(rules(0, 0, 50, 60, 300)),
    ]
}

fn with_periods() -> Vec<RulesCase> {
    let rules = generate_scaling_rules;
    let spread = [1, 5, 9];
    let uneven = [8, 12, 9, 11];
    vec![
        // 200 < 100 - 15 + 300
        case(
            "scaleUp with spec MaxReplicas limitation with large pod policy and \
             events",
            (1, 200),
            (100, 500),
            (200, TooManyReplicas),
        )
        .up_events(&spread)
        .up(rules(300, 60, 0, 0, 0)),
        case(
            "scaleUp with spec MaxReplicas limitation with large percent policy and \
             events",
            (1, 200),
            (100, 500),
            (200, TooManyReplicas),
        )
        .up_events(&spread)
        .up(rules(0, 0, 10000, 60, 0)),
        // 120 s ago there were 100 - 15 replicas, +5 allowed: below the current 100, so hold.
        case(
            "scaleUp with currentReplicas limitation with rate.PeriodSeconds with a \
             lot of recent scale up events",
            (1, 1000),
            (100, 500),
            (100, ScaleUpLimit),
        )
        .up_events(&spread)
        .up(rules(5, 120, 0, 0, 0)),
        // 100 - 15 + 150
        case(
            "scaleUp with pod policy and previous scale up events",
            (1, 1000),
            (100, 500),
            (235, ScaleUpLimit),
        )
        .up_events(&spread)
        .up(rules(150, 120, 0, 0, 0)),
        // (100 - 15) + 200%
        case(
            "scaleUp with percent policy and previous scale up events",
            (1, 1000),
            (100, 500),
            (255, ScaleUpLimit),
        )
        .up_events(&spread)
        .up(rules(0, 0, 200, 120, 0)),
        case(
            "scaleUp with percent policy and previous scale up and down events",
            (1, 1000),
            (6, 24),
            (16, ScaleUpLimit),
        )
        .up_events(&[4])
        .down_events(&[2])
        .up(rules(0, 0, 300, 300, 0)),
        // Without scale-down rate limits the periods change nothing.
        case(
            "scaleDown with default policy and previous events",
            (1, 1000),
            (10, 5),
            (5, DesiredWithinRange),
        )
        .down_events(&spread),
        case(
            "scaleDown with spec MinReplicas=nil limitation with large pod policy \
             and previous events",
            (1, 1000),
            (100, 0),
            (1, TooFewReplicas),
        )
        .down_events(&spread)
        .down(rules(115, 120, 0, 0, 300)),
        case(
            "scaleDown with spec MinReplicas limitation with large pod policy and \
             previous events",
            (5, 1000),
            (100, 0),
            (5, TooFewReplicas),
        )
        .down_events(&spread)
        .down(rules(130, 120, 0, 0, 300)),
        // 100% removal always reaches zero, so the minimum is the limit.
        case(
            "scaleDown with spec MinReplicas limitation with large percent policy \
             and previous events",
            (5, 1000),
            (100, 2),
            (5, TooFewReplicas),
        )
        .down_events(&spread)
        .down(rules(0, 0, 100, 120, 300)),
        // 100 + 15 - 5
        case(
            "scaleDown with pod policy limitation and previous events",
            (1, 1000),
            (100, 2),
            (100, ScaleDownLimit),
        )
        .down_events(&spread)
        .down(rules(5, 120, 0, 0, 300)),
        // (100 + 12) - 50%
        case(
            "scaleDown with percent policy limitation and previous events",
            (1, 1000),
            (100, 0),
            (56, ScaleDownLimit),
        )
        .down_events(&[2, 4, 6])
        .down(rules(0, 0, 50, 120, 300)),
        case(
            "scaleDown with percent policy and previous scale up and down events",
            (1, 1000),
            (10, 1),
            (6, ScaleDownLimit),
        )
        .up_events(&[2])
        .down_events(&[4])
        .down(rules(0, 0, 50, 180, 0)),
        // (100 + 30) - 10% = 117, above the current 100: hold.
        case(
            "scaleDown with previous events preventing further scale down",
            (1, 1000),
            (100, 0),
            (100, ScaleDownLimit),
        )
        .down_events(&[10, 10, 10])
        .down(rules(0, 0, 10, 120, 300)),
        // (10 + 30) - 1000% = -360, below the 5 the metrics want: take 5.
        case(
            "scaleDown with with previous events still allowing more scale down",
            (1, 1000),
            (10, 5),
            (5, DesiredWithinRange),
        )
        .down_events(&[10, 10, 10])
        .down(rules(0, 0, 1000, 120, 300)),
        case(
            "check 'outdated' flag for events for one behavior for up",
            (1, 1000),
            (100, 200),
            (200, DesiredWithinRange),
        )
        .up_events(&uneven)
        .up(rules(1000, 60, 0, 0, 0)),
        case(
            "check that events were not marked 'outdated' for two different \
             policies in the behavior for up",
            (1, 1000),
            (100, 200),
            (200, DesiredWithinRange),
        )
        .up_events(&uneven)
        .up(rules(1000, 120, 100, 60, 0)),
        case(
            "check that events were marked 'outdated' for two different policies in \
             the behavior for up",
            (1, 1000),
            (100, 200),
            (200, DesiredWithinRange),
        )
        .up_events(&uneven)
        .up(rules(1000, 30, 100, 60, 0)),
        case(
            "check 'outdated' flag for events for one behavior for down",
            (1, 1000),
            (100, 5),
            (5, DesiredWithinRange),
        )
        .down_events(&uneven)
        .down(rules(1000, 60, 0, 0, 300)),
        case(
            "check that events were not marked 'outdated' for two different \
             policies in the behavior for down",
            (1, 1000),
            (100, 5),
            (5, DesiredWithinRange),
        )
        .down_events(&uneven)
        .down(rules(1000, 120, 100, 60, 300)),
        case(
            "check that events were marked 'outdated' for two different policies in \
             the behavior for down",
            (1, 1000),
            (100, 5),
            (5, DesiredWithinRange),
        )
        .down_events(&uneven)
        .down(rules(1000, 30, 100, 60, 300)),
    ]
}

#[test]
fn scaling_with_rules() {
    let cases: Vec<RulesCase> = without_periods()
        .into_iter()
        .chain(with_periods())
        .collect();
    assert_eq!(cases.len(), 42, "every case of TestScalingWithRules");
    for case in &cases {
        check(case);
    }
}
