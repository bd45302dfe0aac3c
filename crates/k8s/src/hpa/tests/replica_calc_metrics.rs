//! Ported from kubernetes/kubernetes `pkg/controller/podautoscaler/replica_calculator_test.go`:
//! the pods, object and external metric tests, `TestReplicaCalcScaleUpOverflow`,
//! `TestExternalPerPodMetricReplicaOverflow`, `TestExternalPerPodMetricUsageOverflow`,
//! `TestReplicaCalcScaleUpCM*`, `TestReplicaCalcScaleUpPerPodCMExternal`,
//! `TestReplicaCalcScaleDown{CM,PerPodCMObject,CMObject,CMExternal,PerPodCMExternal}`,
//! `TestReplicaCalcTolerance{CM,CMObject,PerPodCMObject,CMExternal,PerPodCMExternal}`,
//! `TestReplicaCalcConfigurableTolerance{CM,CMObject,PerPodCMObject,CMExternal,PerPodCMExternal}`,
//! `TestPlainMetricReplicaCalcMissingMetricsNoChangeEq`,
//! `TestReplicaCalcDuringRollingUpdateWithMaxSurgeCM` and
//! `TestReplicaCalcExternalMetricUsageOverflow`; and `TestReplicaCalcScaleUpCMExternal` and
//! `TestReplicaCalcScaleUpCMExternalNoLabels` from the version before upstream's table refactor
//! (both run a pods metric).

use super::super::error::HpaError;
use super::super::pods::{ConditionStatus, PodPhase};
use super::super::replicas::Tolerances;
use super::calculator_fixture::{Fixture, custom_samples};
use super::{COOL_CPU_START, HOT_CPU_START, NOW, upstream_test_calculator};

use ConditionStatus::{False as NotReady, True as Ready};

/// Which replica calculator function upstream's case calls.
#[derive(Debug, Clone, Copy)]
enum Kind {
    /// `GetMetricReplicas`: a pods metric, average value per pod.
    Pods,
    /// `GetObjectMetricReplicas`: an object's value.
    Object,
    /// `GetObjectPerPodMetricReplicas`: an object's value per replica.
    ObjectPerPod,
    /// `GetExternalMetricReplicas`: the sum of external series.
    External,
    /// `GetExternalPerPodMetricReplicas`: the sum of external series per replica.
    ExternalPerPod,
}

struct MetricCase {
    name: &'static str,
    fixture: Fixture,
    kind: Kind,
    levels: Vec<i64>,
    target_milli: i64,
    tolerances: Tolerances,
    /// Replicas and the usage upstream reports.
    expected: Result<(i32, i64), HpaError>,
}

fn check(case: &MetricCase) {
    let calculator = upstream_test_calculator();
    let pods = case.fixture.pods();
    let current = case.fixture.current_replicas;
    let got = match case.kind {
        Kind::Pods => calculator
            .pods_metric_replicas(
                current,
                case.target_milli,
                &pods,
                &custom_samples(&case.levels),
                case.tolerances,
                NOW,
            )
            .map(|proposal| (proposal.replicas, proposal.value_milli)),
        Kind::Object => calculator
            .object_value_replicas(
                current,
                case.target_milli,
                case.levels[0],
                &pods,
                case.tolerances,
            )
            .map(|replicas| (replicas, case.levels[0])),
        Kind::ObjectPerPod => calculator.object_average_replicas(
            current,
            case.target_milli,
            case.levels[0],
            case.tolerances,
        ),
        Kind::External => calculator.external_value_replicas(
            current,
            case.target_milli,
            &case.levels,
            &pods,
            case.tolerances,
        ),
        Kind::ExternalPerPod => calculator.external_average_replicas(
            current,
            case.target_milli,
            &case.levels,
            case.tolerances,
        ),
    };
    assert_eq!(got, case.expected, "case: {}", case.name);
}

fn case(
    name: &'static str,
    current_replicas: i32,
    kind: Kind,
    levels: &[i64],
    target_milli: i64,
    expected: (i32, i64),
) -> MetricCase {
    MetricCase {
        name,
        fixture: Fixture {
            current_replicas,
            ..Fixture::default()
        },
        kind,
        levels: levels.to_vec(),
        target_milli,
        tolerances: Tolerances::default(),
        expected: Ok(expected),
    }
}

fn with_readiness(
    mut case: MetricCase,
    readiness: Vec<ConditionStatus>,
    start_ms: Vec<i64>,
) -> MetricCase {
    case.fixture.readiness = readiness;
    case.fixture.start_ms = start_ms;
    case
}

/// Upstream's configurable-tolerance cases keep the scale-down default and tighten scale-up.
fn tight_scale_up(mut case: MetricCase) -> MetricCase {
    case.tolerances = Tolerances {
        scale_down: 0.1,
        scale_up: 0.01,
    };
    case
}

#[test]
fn replica_calc_custom_object_and_external_metrics() {
    use Kind::{External, ExternalPerPod, Object, ObjectPerPod, Pods};
    let max = i64::MAX;
    let cases = vec![
        case("scale up overflow", 3, Object, &[max], 1, (i32::MAX, max)),
        case(
            "external per pod replica overflow",
            1,
            ExternalPerPod,
            &[max],
            1,
            (i32::MAX, max),
        ),
        case(
            "external per pod usage overflow",
            1,
            ExternalPerPod,
            &[max],
            max,
            (1, max),
        ),
        case(
            "scale up CM",
            3,
            Pods,
            &[20000, 10000, 30000],
            15000,
            (4, 20000),
        ),
        with_readiness(
            case(
                "scale up CM, unready hot CPU, no less scale",
                3,
                Pods,
                &[50000, 10000, 30000],
                15000,
                (6, 30000),
            ),
            vec![Ready, Ready, NotReady],
            vec![COOL_CPU_START, COOL_CPU_START, HOT_CPU_START],
        ),
        with_readiness(
            case(
                "scale up CM, unready hot CPU, scale would scale down",
                3,
                Pods,
                &[50000, 15000, 30000],
                15000,
                (7, 31666),
            ),
            vec![NotReady, Ready, NotReady],
            vec![HOT_CPU_START, COOL_CPU_START, HOT_CPU_START],
        ),
        case("scale up CM object", 3, Object, &[20000], 15000, (4, 20000)),
        case(
            "scale up CM per pod object",
            3,
            ObjectPerPod,
            &[20000],
            5000,
            (4, 6667),
        ),
        with_readiness(
            // Counting the unready pods would give 15 replicas.
            case(
                "scale up CM object ignores unready pods",
                3,
                Object,
                &[50000],
                10000,
                (5, 50000),
            ),
            vec![NotReady, Ready, NotReady],
            vec![],
        ),
        with_readiness(
            // Counting the unready pods would give 6 replicas.
            case(
                "scale up CM external ignores unready pods",
                3,
                External,
                &[8600],
                4400,
                (2, 8600),
            ),
            vec![NotReady, Ready, NotReady],
            vec![],
        ),
        case(
            "scale up CM external (pods metric)",
            1,
            Pods,
            &[8600],
            4400,
            (2, 8600),
        ),
        case(
            "scale up CM external, no labels (pods metric)",
            1,
            Pods,
            &[8600],
            4400,
            (2, 8600),
        ),
        case(
            "scale up per pod CM external",
            3,
            ExternalPerPod,
            &[8600],
            2150,
            (4, 2867),
        ),
        case("scale down CM", 5, Pods, &[12000; 5], 20000, (3, 12000)),
        case(
            "scale down per pod CM object",
            5,
            ObjectPerPod,
            &[6000],
            2000,
            (3, 1200),
        ),
        case(
            "scale down CM object",
            5,
            Object,
            &[12000],
            20000,
            (3, 12000),
        ),
        case(
            "scale down CM external",
            5,
            External,
            &[8600],
            14334,
            (3, 8600),
        ),
        case(
            "scale down per pod CM external",
            5,
            ExternalPerPod,
            &[8600],
            2867,
            (3, 1720),
        ),
        case(
            "tolerance CM",
            3,
            Pods,
            &[20000, 21000, 21000],
            20000,
            (3, 20666),
        ),
        case(
            "tolerance CM object",
            3,
            Object,
            &[20666],
            20000,
            (3, 20666),
        ),
        case(
            "tolerance per pod CM object",
            4,
            ObjectPerPod,
            &[20166],
            5000,
            (4, 5042),
        ),
        case(
            "tolerance CM external",
            3,
            External,
            &[8600],
            8888,
            (3, 8600),
        ),
        case(
            "tolerance per pod CM external",
            3,
            ExternalPerPod,
            &[8600],
            2900,
            (3, 2867),
        ),
        tight_scale_up(case(
            "configurable tolerance CM",
            3,
            Pods,
            &[20000, 21000, 21000],
            20000,
            (4, 20666),
        )),
        tight_scale_up(case(
            "configurable tolerance CM object",
            3,
            Object,
            &[20666],
            20000,
            (4, 20666),
        )),
        tight_scale_up(case(
            "configurable tolerance per pod CM object",
            4,
            ObjectPerPod,
            &[20208],
            5000,
            (5, 5052),
        )),
        tight_scale_up(case(
            "configurable tolerance CM external",
            3,
            External,
            &[8900],
            8800,
            (4, 8900),
        )),
        tight_scale_up(case(
            "configurable tolerance per pod CM external",
            3,
            ExternalPerPod,
            &[8600],
            2800,
            (4, 2867),
        )),
        case(
            "plain metric, missing metrics, no change (equal)",
            5,
            Pods,
            &[20000, 19000, 21000],
            20000,
            (5, 20000),
        ),
        MetricCase {
            fixture: Fixture {
                current_replicas: 2,
                phases: vec![PodPhase::Running; 3],
                ..Fixture::default()
            },
            ..case(
                "during rolling update with max surge (CM)",
                2,
                Pods,
                &[10000, 10000],
                17000,
                (2, 10000),
            )
        },
        case(
            "external metric usage overflow",
            3,
            External,
            &[max / 2 + 1, max / 2 + 1],
            max,
            (3, max),
        ),
    ];
    for case in &cases {
        check(case);
    }
}
