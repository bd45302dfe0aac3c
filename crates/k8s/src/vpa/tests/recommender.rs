//! From kubernetes/autoscaler `vertical-pod-autoscaler/pkg/recommender/logic/recommender_test.go`:
//! `TestMinResourcesApplied`, `TestMinResourcesSplitAcrossContainers`,
//! `TestControlledResourcesFiltered`, `TestControlledResourcesFilteredDefault`,
//! `TestMapToListOfRecommendedContainerResources` (both cases). The last two tests are ours: the
//! default composition checked against upstream's `CreatePodResourceRecommender` and flag
//! defaults, and an end-to-end recommendation from a steady week of samples.

use std::collections::BTreeMap;

use crate::vpa::{
    AggregateContainerState, AggregationConfig, ContainerRecommendation, ControlledResources,
    Estimator, MS_PER_DAY, PodResourceRecommender, RecommendationConfig, RecommendationFormat,
    RecommendedContainerResources, ResourceList, cpu_millicores_from_cores, memory_bytes_from_f64,
    recommendation_list,
};

/// Upstream's test recommender: every estimator a constant 1 millicore or 1 MB (1e6 bytes).
fn constant_recommender(min_cpu_millicores: f64, min_memory_mb: f64) -> PodResourceRecommender {
    let cpu = Estimator::constant(cpu_millicores_from_cores(0.001));
    let memory = Estimator::constant(memory_bytes_from_f64(1e6));
    PodResourceRecommender {
        target_cpu: cpu.clone(),
        target_memory: memory.clone(),
        lower_bound_cpu: cpu.clone(),
        lower_bound_memory: memory.clone(),
        upper_bound_cpu: cpu,
        upper_bound_memory: memory,
        pod_min_cpu_millicores: min_cpu_millicores,
        pod_min_memory_mb: min_memory_mb,
    }
}

fn state(controlled: ControlledResources) -> AggregateContainerState {
    let mut state = AggregateContainerState::new(&AggregationConfig::default(), 0);
    state.controlled_resources = controlled;
    state
}

struct Case {
    name: &'static str,
    min_cpu_millicores: f64,
    min_memory_mb: f64,
    /// Container name and the resources its state controls.
    containers: &'static [(&'static str, ControlledResources)],
    /// Expected target, the same for every container; the bounds equal it, since every
    /// estimator is the same constant.
    target: ResourceList,
}

fn check(case: &Case) {
    let recommender = constant_recommender(case.min_cpu_millicores, case.min_memory_mb);
    let containers: BTreeMap<String, AggregateContainerState> = case
        .containers
        .iter()
        .map(|&(name, controlled)| (name.to_string(), state(controlled)))
        .collect();
    let recommended = recommender.recommend(&containers);
    assert_eq!(
        recommended.len(),
        case.containers.len(),
        "{}: one per container",
        case.name
    );
    for (name, resources) in &recommended {
        for (bound, list) in [
            ("target", resources.target),
            ("lower bound", resources.lower_bound),
            ("upper bound", resources.upper_bound),
        ] {
            assert_eq!(list, case.target, "{}: {name} {bound}", case.name);
        }
    }
}

#[test]
fn pod_recommender_matches_upstream() {
    const BOTH: ControlledResources = ControlledResources {
        cpu: true,
        memory: true,
    };
    const MEMORY_ONLY: ControlledResources = ControlledResources {
        cpu: false,
        memory: true,
    };
    let cases = [
        Case {
            // The estimates (1 millicore, 1 MB) are under the pod minimum (25 m, 250 MiB).
            name: "TestMinResourcesApplied",
            min_cpu_millicores: 25.0,
            min_memory_mb: 250.0,
            containers: &[("container-1", BOTH)],
            target: ResourceList::new(
                cpu_millicores_from_cores(25.0 / 1000.0),
                memory_bytes_from_f64(250.0 * 1024.0 * 1024.0),
            ),
        },
        Case {
            // Two containers share the pod minimum: 12.5 m truncates to 12.
            name: "TestMinResourcesSplitAcrossContainers",
            min_cpu_millicores: 25.0,
            min_memory_mb: 250.0,
            containers: &[("container-1", BOTH), ("container-2", BOTH)],
            target: ResourceList::new(
                cpu_millicores_from_cores((25.0 / 1000.0) / 2.0),
                memory_bytes_from_f64((250.0 * 1024.0 * 1024.0) / 2.0),
            ),
        },
        Case {
            name: "TestControlledResourcesFiltered",
            min_cpu_millicores: 0.0,
            min_memory_mb: 0.0,
            containers: &[("container-1", MEMORY_ONLY)],
            target: ResourceList {
                cpu_millicores: None,
                memory_bytes: Some(1_000_000),
            },
        },
        Case {
            name: "TestControlledResourcesFilteredDefault",
            min_cpu_millicores: 0.0,
            min_memory_mb: 0.0,
            containers: &[("container-1", BOTH)],
            target: ResourceList::new(1, 1_000_000),
        },
    ];
    for case in &cases {
        check(case);
    }
}

#[test]
fn recommendation_list_is_sorted_and_unchanged() {
    // TestMapToListOfRecommendedContainerResources: containers given in two orders come out
    // sorted by name, with their targets as they were (rounding scale 1).
    // (case name, [(container name, target cpu millicores, target memory bytes)])
    type Case = (&'static str, [(&'static str, i64, i64); 4]);
    let cases: [Case; 2] = [
        (
            "All recommendations sorted",
            [
                ("a-container", 1000, 1_000_000),
                ("b-container", 2000, 2_000_000),
                ("c-container", 3000, 3_000_000),
                ("d-container", 4000, 4_000_000),
            ],
        ),
        (
            "All recommendations unsorted",
            [
                ("b-container", 1000, 1_000_000),
                ("a-container", 2000, 2_000_000),
                ("d-container", 3000, 3_000_000),
                ("c-container", 4000, 4_000_000),
            ],
        ),
    ];
    let expected_order = ["a-container", "b-container", "c-container", "d-container"];
    for (name, containers) in cases {
        let resources: BTreeMap<String, RecommendedContainerResources> = containers
            .iter()
            .map(|&(container, cpu, memory)| {
                let target = ResourceList::new(cpu, memory);
                (
                    container.to_string(),
                    RecommendedContainerResources {
                        target,
                        ..Default::default()
                    },
                )
            })
            .collect();
        let list = recommendation_list(&resources, RecommendationFormat::default());
        let names: Vec<&str> = list.iter().map(|r| r.container_name.as_str()).collect();
        assert_eq!(names, expected_order, "{name}: order");
        for ContainerRecommendation {
            container_name,
            target,
            uncapped_target,
            ..
        } in &list
        {
            assert_eq!(
                *target, resources[container_name].target,
                "{name}: {container_name}"
            );
            assert_eq!(
                *uncapped_target, *target,
                "{name}: {container_name} uncapped"
            );
        }
    }
}

#[test]
fn rightsize_caps_but_keeps_the_uncapped_target() {
    // Ours: a container at a steady 500 m, rounded to 50 m and capped to 400 m by its policy.
    let mut history = crate::vpa::ContainerHistory::new(&AggregationConfig::default(), 0);
    for minute in 0..24 * 60 {
        history.add_cpu_sample(minute * 60_000, 500);
    }
    let containers = BTreeMap::from([("agent".to_string(), &history.aggregate)]);
    let policy = crate::vpa::PodResourcePolicy {
        container_policies: vec![crate::vpa::ContainerPolicy {
            container_name: crate::vpa::DEFAULT_CONTAINER_POLICY.to_string(),
            max_allowed: ResourceList {
                cpu_millicores: Some(400),
                memory_bytes: None,
            },
            ..Default::default()
        }],
    };
    let format = RecommendationFormat {
        round_cpu_millicores: 50,
        round_memory_bytes: 1,
    };
    let config = RecommendationConfig::default();
    let rightsized = crate::vpa::rightsize(
        &containers,
        &config,
        format,
        Some(&policy),
        ResourceList::default(),
    );

    let uncapped = PodResourceRecommender::new(&config).recommend(&containers)["agent"].target;
    let uncapped_cpu = uncapped.cpu_millicores.expect("cpu is controlled");
    assert_eq!(rightsized.len(), 1);
    let agent = &rightsized[0];
    assert_eq!(agent.container_name, "agent");
    assert_eq!(agent.target.cpu_millicores, Some(400));
    assert_eq!(
        agent.uncapped_target.cpu_millicores,
        Some((uncapped_cpu + 49) / 50 * 50)
    );
    // No memory samples: memory is the pod minimum, 250 MiB, and no policy bound applies to it.
    assert_eq!(agent.target.memory_bytes, Some(250 * 1024 * 1024));
}

#[test]
fn default_recommender_is_upstreams() {
    // Ours: upstream's flag defaults (recommender/config/config.go) composed as
    // CreatePodResourceRecommender does.
    let day = MS_PER_DAY;
    let expected = PodResourceRecommender {
        target_cpu: Estimator::percentile(0.9).with_margin(0.15),
        target_memory: Estimator::percentile(0.9).with_margin(0.15),
        lower_bound_cpu: Estimator::percentile(0.5)
            .with_margin(0.15)
            .with_confidence_multiplier(0.001, -2.0, day),
        lower_bound_memory: Estimator::percentile(0.5)
            .with_margin(0.15)
            .with_confidence_multiplier(0.001, -2.0, day),
        upper_bound_cpu: Estimator::percentile(0.95)
            .with_margin(0.15)
            .with_confidence_multiplier(1.0, 1.0, day),
        upper_bound_memory: Estimator::percentile(0.95)
            .with_margin(0.15)
            .with_confidence_multiplier(1.0, 1.0, day),
        pod_min_cpu_millicores: 25.0,
        pod_min_memory_mb: 250.0,
    };
    assert_eq!(
        PodResourceRecommender::new(&RecommendationConfig::default()),
        expected
    );
}

#[test]
fn steady_week_gives_bucket_end_plus_margin() {
    // Ours: 8 days of a steady 500 m and 600 MB, one sample a minute. Every percentile is the end
    // of the bucket holding the value; confidence is the lifespan, just under 8 days, so the
    // upper bound is widened by a little over 1/8 and the lower bound barely shrinks.
    let config = AggregationConfig::default();
    let mut history = crate::vpa::ContainerHistory::new(&config, 0);
    let n_minutes = 8 * 24 * 60;
    for minute in 0..n_minutes {
        let t_ms = minute * 60_000;
        assert!(history.add_cpu_sample(t_ms, 500));
        assert!(history.add_memory_sample(t_ms, 600_000_000));
    }
    let cpu_options = config.cpu_histogram_options();
    let memory_options = config.memory_histogram_options();
    let cpu_bucket_end = cpu_options.bucket_start(cpu_options.find_bucket(0.5) + 1);
    let memory_bucket_end = memory_options.bucket_start(memory_options.find_bucket(6e8) + 1);
    let cpu_base = cpu_millicores_from_cores(cpu_bucket_end);
    let cpu_with_margin = cpu_base + (cpu_base as f64 * 0.15) as i64;
    let memory_base = memory_bytes_from_f64(memory_bucket_end);
    let memory_with_margin = memory_base + (memory_base as f64 * 0.15) as i64;
    let days = (n_minutes - 1) as f64 / (24.0 * 60.0);

    let containers = BTreeMap::from([("agent".to_string(), &history.aggregate)]);
    let recommended =
        PodResourceRecommender::new(&RecommendationConfig::default()).recommend(&containers);
    let agent = recommended["agent"];
    assert_eq!(
        agent.target,
        ResourceList::new(cpu_with_margin, memory_with_margin)
    );
    let upper = |amount: i64| (amount as f64 * (1.0 + 1.0 / days)) as i64;
    assert_eq!(
        agent.upper_bound,
        ResourceList::new(upper(cpu_with_margin), upper(memory_with_margin))
    );
    let lower = |amount: i64| (amount as f64 * (1.0 + 0.001 / days).powf(-2.0)) as i64;
    assert_eq!(
        agent.lower_bound,
        ResourceList::new(lower(cpu_with_margin), lower(memory_with_margin))
    );
    assert!(
        cpu_with_margin > 575 && cpu_with_margin < 610,
        "cpu target {cpu_with_margin}"
    );
}
