//! Kubernetes' own unit tests of the HPA, ported as tables of cases. Each file names the
//! upstream file and test functions its cases come from (kubernetes/kubernetes,
//! `pkg/controller/podautoscaler`). Upstream reads `time.Now()` where these tests use the fixed
//! instant [`NOW`]; Go's zero time (the default of unset timestamps) becomes [`GO_ZERO_TIME`].

mod autoscaler_over_time;
mod behavior_fixture;
mod calculator_fixture;
mod controller_fixture;
mod controller_scale_down;
mod controller_scale_up;
mod controller_tolerance_and_limits;
mod group_pods;
mod normalize_with_behavior;
mod normalize_without_behavior;
mod replica_calc_metrics;
mod replica_calc_resource;
mod replica_calc_resource_edges;
mod scale_events;
mod scaling_rules;

use super::replicas::ReplicaCalculator;

/// The instant every ported case runs at.
pub(super) const NOW: i64 = 1_700_000_000_000;
/// Stands for Go's zero `time.Time`: long before [`NOW`].
pub(super) const GO_ZERO_TIME: i64 = 0;
pub(super) const SECOND: i64 = 1000;
pub(super) const MINUTE: i64 = 60 * SECOND;

/// A pod that started just now: its CPU is still in the initialization period.
pub(super) const HOT_CPU_START: i64 = NOW;
/// A pod that started three minutes ago, past the two-minute test initialization period.
pub(super) const COOL_CPU_START: i64 = NOW - 3 * MINUTE;

/// Upstream's `defaultTestingCPUInitializationPeriod` (2 min) and
/// `defaultTestingDelayOfInitialReadinessStatus` (10 s).
pub(super) fn upstream_test_calculator() -> ReplicaCalculator {
    ReplicaCalculator {
        cpu_initialization_period_ms: 2 * MINUTE,
        delay_of_initial_readiness_status_ms: 10 * SECOND,
    }
}
