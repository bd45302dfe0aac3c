//! From kubernetes/autoscaler
//! `vertical-pod-autoscaler/pkg/recommender/model/aggregate_container_state_test.go`:
//! `TestAggregateStateByContainerName`, `TestAggregateContainerStateSaveToCheckpoint`,
//! `TestAggregateContainerStateLoadFromCheckpointFailsForVersionMismatch`,
//! `TestAggregateContainerStateLoadFromCheckpoint`, `TestAggregateContainerStateIsExpired`,
//! `TestAggregateContainerStateIsExpiredWithCustomIntervalCount`,
//! `TestUpdateFromPolicyControlledResources` (all five cases).
//!
//! Not ported, as Kubernetes API plumbing with no counterpart here:
//! - `TestUpdateFromPolicyScalingMode` (4 cases): the container scaling mode (`Auto` / `Off`)
//!   tells the VPA updater whether to act; Purser only recommends.
//! - `TestUpdateFromPolicyMemoryAggregationInterval` and
//!   `TestUpdateFromPolicyMemoryAggregationIntervalCount` (4 cases each): they test reading a VPA
//!   object's per-VPA fields behind the `PerVPAConfig` feature gate. Here the interval and count
//!   are plain fields of [`AggregationConfig`]; their effect on peaks and OOMs is tested in
//!   `container.rs`.
//!
//! `TestAggregateStateByContainerName` is ported without the cluster model (pods, labels): the
//! four containers feed four aggregates, which are then merged by name, as upstream's cluster
//! does for containers of pods with different labels.

use crate::vpa::{
    AggregateContainerState, AggregateStateCheckpoint, AggregationConfig, CHECKPOINT_VERSION,
    ContainerHistory, ContainerPolicy, ControlledResources, DecayingHistogram, HistogramCheckpoint,
    MIN_SAMPLE_WEIGHT, MS_PER_DAY, MS_PER_HOUR, VpaError, aggregate_by_container_name,
};

use super::TEST_TIMESTAMP_MS;

/// 2018-01-01 02:03:04 UTC and 2018-02-01 02:03:04 UTC.
const T1_MS: i64 = 1_514_772_184_000;
const T2_MS: i64 = 1_517_450_584_000;

fn new_state() -> AggregateContainerState {
    AggregateContainerState::new(&AggregationConfig::default(), 0)
}

#[test]
fn aggregate_by_container_name_merges_same_names() {
    // (container name, CPU cores, memory bytes), one sample each at the test timestamp.
    let containers = [
        ("app-A", 1.0, 2e9),
        ("app-B", 5.0, 10e9),
        ("app-A", 3.0, 4e9),
        ("app-C", 5.0, 10e9),
    ];
    let config = AggregationConfig::default();
    let histories: Vec<ContainerHistory> = containers
        .iter()
        .map(|&(_, cores, bytes)| {
            let mut history = ContainerHistory::new(&config, TEST_TIMESTAMP_MS);
            assert!(history.add_cpu_sample(TEST_TIMESTAMP_MS, (cores * 1000.0) as i64));
            assert!(history.add_memory_sample(TEST_TIMESTAMP_MS, bytes as i64));
            history
        })
        .collect();
    let by_name = aggregate_by_container_name(
        containers
            .iter()
            .zip(&histories)
            .map(|(&(name, _, _), h)| (name, &h.aggregate)),
        &config,
        TEST_TIMESTAMP_MS,
    );

    let counts: Vec<(&str, u64)> = by_name
        .iter()
        .map(|(name, state)| (name.as_str(), state.total_samples_count))
        .collect();
    assert_eq!(counts, [("app-A", 2), ("app-B", 1), ("app-C", 1)]);

    let mut expected_cpu = DecayingHistogram::new(
        config.cpu_histogram_options(),
        config.cpu_histogram_decay_half_life_ms,
    );
    expected_cpu.merge(&histories[0].aggregate.cpu_usage);
    expected_cpu.merge(&histories[2].aggregate.cpu_usage);
    let mut expected_memory = DecayingHistogram::new(
        config.memory_histogram_options(),
        config.memory_histogram_decay_half_life_ms,
    );
    for (history, bytes) in [(&histories[0], 2e9), (&histories[2], 4e9)] {
        let window_end_ms = history
            .container
            .window_end_ms()
            .expect("a memory sample was taken");
        expected_memory.add_sample(bytes, 1.0, window_end_ms);
    }
    let app_a = &by_name["app-A"];
    assert!(
        app_a.cpu_usage.approx_eq(&expected_cpu),
        "cpu {:?}",
        app_a.cpu_usage
    );
    assert!(
        app_a.memory_peaks.approx_eq(&expected_memory),
        "memory {:?}",
        app_a.memory_peaks
    );
}

#[test]
fn cpu_samples_weigh_the_minimum_sample_weight() {
    // From TestAggregateContainerUsageSamples (container_test.go), which checks the weight the
    // aggregate gives CPU samples through its mock histogram.
    let mut state = new_state();
    state.add_cpu_sample(0, 3140);
    assert_eq!(state.cpu_usage.total_weight(), MIN_SAMPLE_WEIGHT);
}

#[test]
fn save_to_checkpoint_matches_upstream() {
    // TestAggregateContainerStateSaveToCheckpoint.
    let mut state = new_state();
    state.first_sample_start_ms = Some(T1_MS);
    state.last_sample_start_ms = Some(T2_MS);
    state.total_samples_count = 10;
    state.cpu_usage.add_sample(1.0, 33.0, T2_MS);
    state.memory_peaks.add_sample(1.0, 55.0, T1_MS);
    state.memory_peaks.add_sample(10_000_000.0, 55.0, T1_MS);

    let now_ms = T2_MS + MS_PER_HOUR;
    let checkpoint = state.save_to_checkpoint(now_ms);
    assert_eq!(checkpoint.last_update_time_ms, now_ms);
    assert_eq!(checkpoint.first_sample_start_ms, Some(T1_MS));
    assert_eq!(checkpoint.last_sample_start_ms, Some(T2_MS));
    assert_eq!(checkpoint.total_samples_count, 10);
    assert_eq!(checkpoint.version, CHECKPOINT_VERSION);
    assert_eq!(checkpoint.cpu_histogram.bucket_weights.len(), 1);
    assert_eq!(checkpoint.memory_histogram.bucket_weights.len(), 2);
}

fn histogram_checkpoint(total_weight: f64) -> HistogramCheckpoint {
    HistogramCheckpoint {
        reference_timestamp_ms: 0,
        bucket_weights: [(0, 10)].into_iter().collect(),
        total_weight,
    }
}

#[test]
fn load_from_checkpoint_matches_upstream() {
    let valid = AggregateStateCheckpoint {
        last_update_time_ms: T2_MS,
        first_sample_start_ms: Some(T1_MS),
        last_sample_start_ms: Some(T2_MS),
        total_samples_count: 20,
        memory_histogram: histogram_checkpoint(33.0),
        cpu_histogram: histogram_checkpoint(44.0),
        version: CHECKPOINT_VERSION.to_string(),
    };
    let cases = [
        (
            "TestAggregateContainerStateLoadFromCheckpoint",
            valid.clone(),
            Ok(()),
        ),
        (
            "TestAggregateContainerStateLoadFromCheckpointFailsForVersionMismatch",
            AggregateStateCheckpoint {
                version: "foo".to_string(),
                ..valid
            },
            Err(VpaError::UnsupportedCheckpointVersion {
                version: "foo".to_string(),
            }),
        ),
    ];
    for (name, checkpoint, expected) in cases {
        let mut state = new_state();
        let result = state.load_from_checkpoint(&checkpoint);
        assert_eq!(result, expected, "{name}");
        if result.is_ok() {
            assert_eq!(state.first_sample_start_ms, Some(T1_MS), "{name}");
            assert_eq!(state.last_sample_start_ms, Some(T2_MS), "{name}");
            assert_eq!(state.total_samples_count, 20, "{name}");
            assert!(!state.cpu_usage.is_empty(), "{name}: cpu");
            assert!(!state.memory_peaks.is_empty(), "{name}: memory");
        }
    }
}

#[test]
fn is_expired_matches_upstream() {
    let day = MS_PER_DAY;
    let window_of_4 = 4 * day;
    // (name, interval count, has a sample, now minus the test timestamp, expired)
    let cases = [
        (
            "TestAggregateContainerStateIsExpired, sampled, 7 days",
            8,
            true,
            7 * day,
            false,
        ),
        (
            "TestAggregateContainerStateIsExpired, sampled, 8 days",
            8,
            true,
            8 * day,
            true,
        ),
        (
            "TestAggregateContainerStateIsExpired, empty, 7 days",
            8,
            false,
            7 * day,
            false,
        ),
        (
            "TestAggregateContainerStateIsExpired, empty, 8 days",
            8,
            false,
            8 * day,
            true,
        ),
        (
            "...WithCustomIntervalCount, sampled, 4 days - 1 h",
            4,
            true,
            window_of_4 - MS_PER_HOUR,
            false,
        ),
        (
            "...WithCustomIntervalCount, sampled, 4 days",
            4,
            true,
            window_of_4,
            true,
        ),
        (
            "...WithCustomIntervalCount, empty, 4 days - 1 h",
            4,
            false,
            window_of_4 - MS_PER_HOUR,
            false,
        ),
        (
            "...WithCustomIntervalCount, empty, 4 days",
            4,
            false,
            window_of_4,
            true,
        ),
    ];
    for (name, interval_count, sampled, age_ms, expired) in cases {
        let mut state = new_state();
        state.memory_aggregation_interval_count = interval_count;
        if sampled {
            state.last_sample_start_ms = Some(TEST_TIMESTAMP_MS);
            state.total_samples_count = 1;
        } else {
            state.creation_time_ms = TEST_TIMESTAMP_MS;
        }
        assert_eq!(
            state.is_expired(TEST_TIMESTAMP_MS + age_ms),
            expired,
            "{name}"
        );
    }
}

#[test]
fn update_from_policy_controlled_resources_matches_upstream() {
    // TestUpdateFromPolicyControlledResources.
    let policy = |controlled: Option<ControlledResources>| ContainerPolicy {
        controlled_resources: controlled,
        ..Default::default()
    };
    let both = ControlledResources {
        cpu: true,
        memory: true,
    };
    let none = ControlledResources {
        cpu: false,
        memory: false,
    };
    let memory = ControlledResources {
        cpu: false,
        memory: true,
    };
    let cases = [
        (
            "Explicit ControlledResources",
            Some(policy(Some(both))),
            both,
        ),
        ("Empty ControlledResources", Some(policy(Some(none))), none),
        (
            "ControlledResources with one resource",
            Some(policy(Some(memory))),
            memory,
        ),
        (
            "No ControlledResources specified - used default",
            Some(policy(None)),
            both,
        ),
        ("Nil policy - use default", None, both),
    ];
    // A starting value that no case expects, so that every case shows a change.
    let cpu_only = ControlledResources {
        cpu: true,
        memory: false,
    };
    for (name, policy, expected) in cases {
        let mut state = new_state();
        state.controlled_resources = cpu_only;
        state.update_from_policy(policy.as_ref());
        assert_eq!(state.controlled_resources, expected, "{name}");
    }
}
