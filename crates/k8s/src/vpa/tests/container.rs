//! From kubernetes/autoscaler `vertical-pod-autoscaler/pkg/recommender/model/container_test.go`:
//! `TestAggregateContainerUsageSamples`, `TestRecordOOMIncreasedByBumpUp`,
//! `TestRecordOOMDontRunAway`, `TestRecordOOMIncreasedByMin`, `TestRecordOOMMaxedWithKnownSample`,
//! `TestRecordOOMDiscardsOldSample`, `TestRecordOOMInNewWindow`,
//! `TestRecordOOMFreshOOMNearWindowBoundaryIsNotDiscarded`,
//! `TestMemorySamplesWithCustomAggregationInterval`, `TestMemoryPeakUpdateWithinCustomInterval`,
//! `TestRecordOOMDiscardsOldSampleWithCustomInterval`,
//! `TestRecordOOMInNewWindowWithCustomInterval`,
//! `TestRecordOOMDiscardsOldSampleWithCustomIntervalCount`,
//! `TestMemorySamplesWithCustomAggregationIntervalCount`.
//!
//! Upstream checks the calls a container makes on mock histograms; here a recording
//! [`UsageAggregator`] collects them, and each case lists the exact sequence expected (upstream's
//! mocks only refuse unexpected calls, so this is the stricter check). CPU calls carry
//! millicores where upstream's carry cores, and the 0.1 weight upstream's mock sees is checked in
//! `aggregate_container_state.rs`.

use super::{MB, TEST_TIMESTAMP_MS};
use crate::vpa::{
    AggregationConfig, ContainerState, MS_PER_DAY, MS_PER_HOUR, UsageAggregator, VpaError,
};

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Call {
    AddCpu {
        t_ms: i64,
        cpu_millicores: i64,
    },
    AddPeak {
        window_end_ms: i64,
        memory_bytes: i64,
    },
    SubtractPeak {
        window_end_ms: i64,
        memory_bytes: i64,
    },
}

#[derive(Default)]
struct Recorder {
    calls: Vec<Call>,
}

impl UsageAggregator for Recorder {
    fn add_cpu_sample(&mut self, t_ms: i64, cpu_millicores: i64) {
        self.calls.push(Call::AddCpu {
            t_ms,
            cpu_millicores,
        });
    }
    fn add_memory_peak(&mut self, window_end_ms: i64, memory_bytes: i64) {
        self.calls.push(Call::AddPeak {
            window_end_ms,
            memory_bytes,
        });
    }
    fn subtract_memory_peak(&mut self, window_end_ms: i64, memory_bytes: i64) {
        self.calls.push(Call::SubtractPeak {
            window_end_ms,
            memory_bytes,
        });
    }
}

enum Input {
    Cpu {
        t_ms: i64,
        cpu_millicores: i64,
        taken: bool,
    },
    Memory {
        t_ms: i64,
        memory_bytes: i64,
        taken: bool,
    },
    Oom {
        t_ms: i64,
        requested_bytes: i64,
        expected: Result<(), VpaError>,
    },
}

fn cpu(t_ms: i64, cpu_millicores: i64, taken: bool) -> Input {
    Input::Cpu {
        t_ms,
        cpu_millicores,
        taken,
    }
}

fn memory(t_ms: i64, memory_bytes: i64, taken: bool) -> Input {
    Input::Memory {
        t_ms,
        memory_bytes,
        taken,
    }
}

fn oom(t_ms: i64, requested_bytes: i64) -> Input {
    Input::Oom {
        t_ms,
        requested_bytes,
        expected: Ok(()),
    }
}

/// An OOM rejected as older than one interval before the last memory sample.
fn stale_oom(t_ms: i64, requested_bytes: i64, last_memory_sample_ms: i64) -> Input {
    Input::Oom {
        t_ms,
        requested_bytes,
        expected: Err(VpaError::StaleOom {
            t_ms,
            last_memory_sample_ms,
        }),
    }
}

fn add_cpu(t_ms: i64, cpu_millicores: i64) -> Call {
    Call::AddCpu {
        t_ms,
        cpu_millicores,
    }
}

fn add_peak(window_end_ms: i64, memory_bytes: i64) -> Call {
    Call::AddPeak {
        window_end_ms,
        memory_bytes,
    }
}

fn subtract_peak(window_end_ms: i64, memory_bytes: i64) -> Call {
    Call::SubtractPeak {
        window_end_ms,
        memory_bytes,
    }
}

struct Case {
    name: &'static str,
    interval_ms: i64,
    interval_count: i64,
    inputs: Vec<Input>,
    calls: Vec<Call>,
}

fn check(case: Case) {
    let config = AggregationConfig {
        memory_aggregation_interval_ms: case.interval_ms,
        memory_aggregation_interval_count: case.interval_count,
        ..AggregationConfig::default()
    };
    let mut container = ContainerState::new(&config);
    let mut recorder = Recorder::default();
    for (input_idx, input) in case.inputs.into_iter().enumerate() {
        let name = case.name;
        match input {
            Input::Cpu {
                t_ms,
                cpu_millicores,
                taken,
            } => assert_eq!(
                container.add_cpu_sample(t_ms, cpu_millicores, &mut recorder),
                taken,
                "{name}, input {input_idx}: cpu sample taken"
            ),
            Input::Memory {
                t_ms,
                memory_bytes,
                taken,
            } => assert_eq!(
                container.add_memory_sample(t_ms, memory_bytes, &mut recorder),
                taken,
                "{name}, input {input_idx}: memory sample taken"
            ),
            Input::Oom {
                t_ms,
                requested_bytes,
                expected,
            } => assert_eq!(
                container.record_oom(t_ms, requested_bytes, &mut recorder),
                expected,
                "{name}, input {input_idx}: oom"
            ),
        }
    }
    assert_eq!(recorder.calls, case.calls, "{}: calls", case.name);
}

#[test]
fn container_samples_and_ooms_match_upstream() {
    const T: i64 = TEST_TIMESTAMP_MS;
    const D: i64 = MS_PER_DAY; // The default aggregation interval.
    const H: i64 = MS_PER_HOUR;
    const HALF: i64 = D / 2;
    let default_case = |name, inputs, calls| Case {
        name,
        interval_ms: D,
        interval_count: 8,
        inputs,
        calls,
    };
    let cases = [
        default_case(
            // Three valid samples of each, then an out-of-order and two negative ones.
            "TestAggregateContainerUsageSamples",
            vec![
                cpu(T, 3140, true),
                memory(T, 5, true),
                cpu(T + HALF, 6280, true),
                memory(T + HALF, 10, true),
                cpu(T + 2 * HALF, 1570, true),
                memory(T + 2 * HALF, 2, true),
                cpu(T + 2 * HALF, 1000, false),
                cpu(T + 4 * HALF, -1000, false),
                memory(T + 4 * HALF, -1000, false),
            ],
            vec![
                add_cpu(T, 3140),
                add_peak(T + D, 5),
                add_cpu(T + HALF, 6280),
                subtract_peak(T + D, 5),
                add_peak(T + D, 10),
                add_cpu(T + 2 * HALF, 1570),
                add_peak(T + 2 * D, 2),
            ],
        ),
        default_case(
            // 20 % more than the request.
            "TestRecordOOMIncreasedByBumpUp",
            vec![oom(T, 1000 * MB)],
            vec![add_peak(T + D, 1200 * MB)],
        ),
        default_case(
            // Smaller OOMs leave the OOM peak alone; a larger one raises it.
            "TestRecordOOMDontRunAway",
            vec![
                oom(T, 1000 * MB),
                oom(T, 999 * MB),
                oom(T, 999 * MB),
                oom(T, 2000 * MB),
            ],
            vec![
                add_peak(T + D, 1200 * MB),
                subtract_peak(T + D, 1200 * MB),
                add_peak(T + D, 2400 * MB),
            ],
        ),
        default_case(
            // At least 100 MiB more.
            "TestRecordOOMIncreasedByMin",
            vec![oom(T, MB)],
            vec![add_peak(T + D, 101 * MB)],
        ),
        default_case(
            // The usage peak is above the request, so the bump starts from it.
            "TestRecordOOMMaxedWithKnownSample",
            vec![memory(T, 3000 * MB, true), oom(T, 1000 * MB)],
            vec![
                add_peak(T + D, 3000 * MB),
                subtract_peak(T + D, 3000 * MB),
                add_peak(T + D, 3600 * MB),
            ],
        ),
        default_case(
            "TestRecordOOMDiscardsOldSample",
            vec![
                memory(T, 1000 * MB, true),
                stale_oom(T - 30 * H, 1000 * MB, T),
            ],
            vec![add_peak(T + D, 1000 * MB)],
        ),
        default_case(
            "TestRecordOOMInNewWindow",
            vec![memory(T, 2000 * MB, true), oom(T + 2 * D, 1000 * MB)],
            vec![add_peak(T + D, 2000 * MB), add_peak(T + 3 * D, 2400 * MB)],
        ),
        default_case(
            // kubernetes/autoscaler#8548: an OOM one second before a sample that opened a new
            // window is fresh, and bumps that window's peak.
            "TestRecordOOMFreshOOMNearWindowBoundaryIsNotDiscarded",
            vec![
                memory(T, 100 * MB, true),
                memory(T + D, 2000 * MB, true),
                oom(T + D - 1000, 1000 * MB),
            ],
            vec![
                add_peak(T + D, 100 * MB),
                add_peak(T + 2 * D, 2000 * MB),
                subtract_peak(T + 2 * D, 2000 * MB),
                add_peak(T + 2 * D, 2400 * MB),
            ],
        ),
        Case {
            // With a 1 h interval, samples 2 h apart get a peak each.
            name: "TestMemorySamplesWithCustomAggregationInterval",
            interval_ms: H,
            interval_count: 8,
            inputs: vec![memory(T, 5, true), memory(T + 2 * H, 10, true)],
            calls: vec![add_peak(T + H, 5), add_peak(T + 3 * H, 10)],
        },
        Case {
            name: "TestMemoryPeakUpdateWithinCustomInterval",
            interval_ms: H,
            interval_count: 8,
            inputs: vec![memory(T, 5, true), memory(T + 30 * 60_000, 10, true)],
            calls: vec![
                add_peak(T + H, 5),
                subtract_peak(T + H, 5),
                add_peak(T + H, 10),
            ],
        },
        Case {
            // 2 h before the last sample is stale with a 1 h interval (not with 24 h).
            name: "TestRecordOOMDiscardsOldSampleWithCustomInterval",
            interval_ms: H,
            interval_count: 8,
            inputs: vec![
                memory(T, 1000 * MB, true),
                stale_oom(T - 2 * H, 1000 * MB, T),
            ],
            calls: vec![add_peak(T + H, 1000 * MB)],
        },
        Case {
            name: "TestRecordOOMInNewWindowWithCustomInterval",
            interval_ms: H,
            interval_count: 8,
            inputs: vec![memory(T, 2000 * MB, true), oom(T + 2 * H, 1000 * MB)],
            calls: vec![add_peak(T + H, 2000 * MB), add_peak(T + 3 * H, 2400 * MB)],
        },
        Case {
            // Staleness is one interval whatever the count, so 3 intervals back is stale.
            name: "TestRecordOOMDiscardsOldSampleWithCustomIntervalCount",
            interval_ms: D,
            interval_count: 2,
            inputs: vec![
                memory(T, 1000 * MB, true),
                stale_oom(T - 3 * D, 1000 * MB, T),
            ],
            calls: vec![add_peak(T + D, 1000 * MB)],
        },
        Case {
            // The count does not change how samples fall into intervals.
            name: "TestMemorySamplesWithCustomAggregationIntervalCount",
            interval_ms: D,
            interval_count: 16,
            inputs: vec![memory(T, 5, true), memory(T + 2 * D, 10, true)],
            calls: vec![add_peak(T + D, 5), add_peak(T + 3 * D, 10)],
        },
    ];
    for case in cases {
        check(case);
    }
}
