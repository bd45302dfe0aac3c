//! Ported from kubernetes/kubernetes `pkg/controller/podautoscaler/horizontal_test.go`:
//! `TestStoreScaleEvents` (how scale events are stored, replaced when outdated and summed over
//! a policy period), for scale-up and scale-down records alike.

use super::super::autoscaler::{History, record_scale_event};
use super::super::behavior::{Behavior, ScaleEvent, ScalingRules, replicas_change_in_period};
use super::behavior_fixture::generate_scaling_rules;
use super::{NOW, SECOND};

struct EventsCase {
    name: &'static str,
    replica_change: i32,
    /// Replica change and seconds ago.
    previous_events: Vec<(i32, i64)>,
    /// Replica change and outdated flag of the stored events afterwards.
    expected_events: Vec<(i32, bool)>,
    rules: Option<ScalingRules>,
    /// The change within the last 60 s before storing.
    expected_change_in_period: i32,
}

fn events(previous: &[(i32, i64)]) -> Vec<ScaleEvent> {
    previous
        .iter()
        .map(|(replica_change, seconds_ago)| ScaleEvent {
            replica_change: *replica_change,
            timestamp_ms: NOW - seconds_ago * SECOND,
            outdated: false,
        })
        .collect()
}

fn stored(events: &[ScaleEvent]) -> Vec<(i32, bool)> {
    events
        .iter()
        .map(|event| (event.replica_change, event.outdated))
        .collect()
}

fn check(case: &EventsCase) {
    let previous = events(&case.previous_events);
    assert_eq!(
        replicas_change_in_period(60, &previous, NOW),
        case.expected_change_in_period,
        "case: {}",
        case.name
    );

    let behavior_up = case.rules.as_ref().map(|rules| Behavior {
        scale_up: Some(rules.clone()),
        scale_down: None,
    });
    let mut history = History {
        scale_up_events: previous.clone(),
        ..History::default()
    };
    record_scale_event(
        &mut history,
        behavior_up.as_ref(),
        10,
        10 + case.replica_change,
        NOW,
    );
    assert_eq!(
        stored(&history.scale_up_events),
        case.expected_events,
        "up: {}",
        case.name
    );

    let behavior_down = case.rules.as_ref().map(|rules| Behavior {
        scale_up: None,
        scale_down: Some(rules.clone()),
    });
    let mut history = History {
        scale_down_events: previous,
        ..History::default()
    };
    record_scale_event(
        &mut history,
        behavior_down.as_ref(),
        10,
        10 - case.replica_change,
        NOW,
    );
    assert_eq!(
        stored(&history.scale_down_events),
        case.expected_events,
        "down: {}",
        case.name
    );
}

#[test]
fn store_scale_events() {
    let two_policies = || Some(generate_scaling_rules(10, 60, 100, 60, 0));
    let cases = vec![
        EventsCase {
            name: "empty entries with default behavior",
            replica_change: 5,
            previous_events: vec![],
            // Without behavior no event is stored.
            expected_events: vec![],
            rules: None,
            expected_change_in_period: 0,
        },
        EventsCase {
            name: "empty entries with two-policy-behavior",
            replica_change: 5,
            previous_events: vec![],
            expected_events: vec![(5, false)],
            rules: two_policies(),
            expected_change_in_period: 0,
        },
        EventsCase {
            name: "one outdated entry to be kept untouched without behavior",
            replica_change: 5,
            previous_events: vec![(7, 61)],
            expected_events: vec![(7, false)],
            rules: None,
            expected_change_in_period: 0,
        },
        EventsCase {
            name: "one outdated entry to be replaced with behavior",
            replica_change: 5,
            previous_events: vec![(7, 61)],
            expected_events: vec![(5, false)],
            rules: two_policies(),
            expected_change_in_period: 0,
        },
        EventsCase {
            name: "one actual entry to be not touched with behavior",
            replica_change: 5,
            previous_events: vec![(7, 58)],
            expected_events: vec![(7, false), (5, false)],
            rules: two_policies(),
            expected_change_in_period: 7,
        },
        EventsCase {
            name: "two entries, one of them to be replaced",
            replica_change: 5,
            previous_events: vec![(7, 61), (6, 59)],
            expected_events: vec![(5, false), (6, false)],
            rules: Some(generate_scaling_rules(10, 60, 0, 0, 0)),
            expected_change_in_period: 6,
        },
        EventsCase {
            name: "replace one entry, use policies with different periods",
            replica_change: 5,
            // The two 61 s old events are outdated; the last of them is replaced.
            previous_events: vec![(8, 29), (6, 59), (7, 61), (9, 61)],
            expected_events: vec![(8, false), (6, false), (7, true), (5, false)],
            rules: Some(generate_scaling_rules(10, 60, 100, 30, 0)),
            expected_change_in_period: 14,
        },
        EventsCase {
            name: "two entries, both actual",
            replica_change: 5,
            previous_events: vec![(7, 58), (6, 59)],
            expected_events: vec![(7, false), (6, false), (5, false)],
            rules: Some(generate_scaling_rules(10, 120, 100, 30, 0)),
            expected_change_in_period: 13,
        },
    ];
    for case in &cases {
        check(case);
    }
}
