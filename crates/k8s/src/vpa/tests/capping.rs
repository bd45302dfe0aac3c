//! From kubernetes/autoscaler `vertical-pod-autoscaler/pkg/utils/vpa/capping_test.go`:
//! `TestApplyVPAPolicy` (7 of its 8 cases, plus one of ours) and the minAllowed / maxAllowed part of
//! `TestRecommendationCappedToMinMaxPolicy`.
//!
//! Not ported: the case "recommendation is nil" of `TestApplyVPAPolicy`, because
//! [`apply_policy`] takes a slice and has no nil to receive (an empty slice gives an empty
//! result). `TestRecommendationCappedToMinMaxPolicy`'s annotation checks are not ported either:
//! annotations are the updater's report on a pod, which Purser does not have.

use super::MB;
use crate::vpa::{
    ContainerPolicy, ContainerRecommendation, PodResourcePolicy, ResourceList, apply_policy,
};

/// `cpu` millicores and `memory` MiB, as upstream's `resource.MustParse("42m")` and `("42Mi")`.
fn m_mi(cpu: i64, memory: i64) -> ResourceList {
    ResourceList::new(cpu, memory * MB)
}

/// Upstream's `recommendation` for container "foo".
fn foo_recommendation() -> ContainerRecommendation {
    ContainerRecommendation {
        container_name: "foo".to_string(),
        target: m_mi(42, 42),
        lower_bound: m_mi(31, 31),
        upper_bound: m_mi(53, 53),
        uncapped_target: m_mi(42, 42),
    }
}

fn foo_policy(min_allowed: ResourceList, max_allowed: ResourceList) -> Option<PodResourcePolicy> {
    Some(PodResourcePolicy {
        container_policies: vec![ContainerPolicy {
            container_name: "foo".to_string(),
            min_allowed,
            max_allowed,
            controlled_resources: None,
        }],
    })
}

fn expected(
    target: ResourceList,
    lower_bound: ResourceList,
    upper_bound: ResourceList,
) -> ContainerRecommendation {
    ContainerRecommendation {
        target,
        lower_bound,
        upper_bound,
        ..foo_recommendation()
    }
}

const NONE: ResourceList = ResourceList {
    cpu_millicores: None,
    memory_bytes: None,
};

#[test]
fn apply_policy_matches_upstream() {
    let cpu_only = |cpu: i64| ResourceList {
        cpu_millicores: Some(cpu),
        memory_bytes: None,
    };
    let memory_only = |memory: i64| ResourceList {
        cpu_millicores: None,
        memory_bytes: Some(memory * MB),
    };
    // (name, policy, global max allowed, expected)
    let cases = [
        (
            "resource policy is nil and global max allowed is nil",
            None,
            NONE,
            foo_recommendation(),
        ),
        (
            "resource policy has min allowed and global max allowed is nil",
            foo_policy(m_mi(50, 50), NONE),
            NONE,
            expected(m_mi(50, 50), m_mi(50, 50), m_mi(53, 53)),
        ),
        (
            "resource policy has max allowed and global max allowed is nil",
            foo_policy(NONE, m_mi(40, 40)),
            NONE,
            expected(m_mi(40, 40), m_mi(31, 31), m_mi(40, 40)),
        ),
        (
            "resource policy is nil and global max allowed is set for cpu and memory",
            None,
            m_mi(40, 40),
            expected(m_mi(40, 40), m_mi(31, 31), m_mi(40, 40)),
        ),
        (
            "resource policy has maxAllowed and global max allowed is set",
            foo_policy(m_mi(35, 35), NONE),
            m_mi(50, 50),
            expected(m_mi(42, 42), m_mi(35, 35), m_mi(50, 50)),
        ),
        (
            "resource policy has max allowed for cpu and global max allowed is set for memory",
            foo_policy(NONE, cpu_only(40)),
            memory_only(40),
            expected(m_mi(40, 40), m_mi(31, 31), m_mi(40, 40)),
        ),
        (
            // The container's own maximum wins over the global one where it has one.
            "resource policy has max allowed for cpu and global max allowed is set for cpu and memory",
            foo_policy(NONE, cpu_only(40)),
            m_mi(30, 30),
            expected(m_mi(40, 30), m_mi(31, 30), m_mi(40, 30)),
        ),
        (
            // Ours: a bound of 0 is unset, as a zero quantity is in upstream's maybeCapToMin and
            // maybeCapToMax, and it hides the global maximum as a present key does upstream.
            "zero bounds do not cap",
            foo_policy(m_mi(0, 0), m_mi(0, 0)),
            m_mi(30, 30),
            foo_recommendation(),
        ),
    ];
    for (name, policy, global_max_allowed, expected) in cases {
        let capped = apply_policy(&[foo_recommendation()], policy.as_ref(), global_max_allowed);
        assert_eq!(capped, vec![expected], "{name}");
    }
}

#[test]
fn min_max_policy_caps_each_bound() {
    // TestRecommendationCappedToMinMaxPolicy: upstream's quantities are NewScaledQuantity(n, 1),
    // i.e. n * 10 cores and n * 10 bytes, here in millicores and bytes.
    let cores = |tens: i64| tens * 10 * 1000;
    let amounts =
        |cpu_tens: i64, memory_tens: i64| ResourceList::new(cores(cpu_tens), memory_tens * 10);
    let recommendation = ContainerRecommendation {
        container_name: "ctr-name".to_string(),
        target: amounts(30, 5000),
        lower_bound: amounts(20, 4300),
        upper_bound: amounts(50, 5500),
        uncapped_target: ResourceList::default(),
    };
    let policy = PodResourcePolicy {
        container_policies: vec![ContainerPolicy {
            container_name: "ctr-name".to_string(),
            min_allowed: amounts(40, 4000),
            max_allowed: amounts(45, 4500),
            controlled_resources: None,
        }],
    };
    let capped = apply_policy(std::slice::from_ref(&recommendation), Some(&policy), NONE);
    let expected = ContainerRecommendation {
        target: amounts(40, 4500),
        lower_bound: amounts(40, 4300),
        upper_bound: amounts(45, 4500),
        ..recommendation
    };
    assert_eq!(capped, vec![expected]);
}
