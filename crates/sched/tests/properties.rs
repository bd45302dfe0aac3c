//! Every schedule is feasible: each task once per attempt, after its parents and transfers,
//! never over a machine's capacity, never before its machine is up; no schedule beats the lower
//! bound; purser never loses to HEFT. Random layered DAGs on random small platforms.

use proptest::prelude::*;
use purser_sched::{
    Algorithm, PlanOptions, Platform, Pool, Resources, Weights, lower_bound, plan_with,
    random_layered_workflow, verify,
};

fn platform(pools: &[(u32, u64, f64, bool, f64)]) -> Platform {
    let pools = pools
        .iter()
        .enumerate()
        .map(|(idx, &(machines, cores, speed, spot, startup_s))| Pool {
            name: format!("p{idx}"),
            machines,
            capacity: Resources::cores(cores),
            speed,
            on_demand_per_hour_micros: 100_000 * idx as u64,
            spot_per_hour_micros: spot.then_some(30_000),
            startup_s,
            // High enough that interruptions happen in a test of a few hundred tasks.
            interruptions_per_hour: if spot { 20.0 } else { 0.0 },
            kind: Default::default(),
        })
        .collect();
    Platform {
        bandwidth_mbps: 100.0,
        pools,
    }
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(48))]
    #[test]
    fn every_schedule_is_feasible(
        n_tasks in 1usize..80,
        dag_seed in any::<u64>(),
        plan_seed in any::<u64>(),
        pools in prop::collection::vec((1u32..4, 1u64..5, 0.5f64..2.0, any::<bool>(), 0.0f64..120.0), 1..4),
        multi_core in any::<bool>(),
        algorithm_is_heft in any::<bool>(),
        cost_weight in prop::sample::select(vec![0.0, 0.3]),
    ) {
        let mut workflow = random_layered_workflow(n_tasks, dag_seed);
        if multi_core {
            for (idx, task) in workflow.tasks_mut().enumerate() {
                task.requests = Resources::cores(1 + idx as u64 % 3);
                task.checkpoint_interval_s = (idx % 2 == 0).then_some(30.0);
            }
        }
        let platform = platform(&pools);
        let algorithm = if algorithm_is_heft { Algorithm::Heft } else { Algorithm::Purser };
        let weights = Weights { finish: 0.6, cost: cost_weight, fragmentation: 0.1 };
        match plan_with(&workflow, &platform, &PlanOptions::new(algorithm, plan_seed, weights)) {
            Ok(schedule) => {
                if let Err(violation) = verify(&workflow, &platform, &schedule) {
                    prop_assert!(false, "{violation}");
                }
                let n_first = schedule.tasks.iter().filter(|entry| entry.attempts == 1).count();
                prop_assert_eq!(n_first, n_tasks);
            }
            // Only a task wider than every pool may be refused.
            Err(err) => prop_assert!(err.to_string().contains("fits on no pool"), "{err}"),
        }
    }
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(48))]
    /// The lower bound holds for every plan (with interruptions too), and purser with costs
    /// ignored never ends later than HEFT, whose plan is one of its candidates.
    #[test]
    fn no_plan_beats_the_lower_bound_and_purser_never_loses_to_heft(
        n_tasks in 1usize..80,
        dag_seed in any::<u64>(),
        plan_seed in any::<u64>(),
        pools in prop::collection::vec((1u32..4, 1u64..5, 0.5f64..2.0, any::<bool>(), 0.0f64..120.0), 1..4),
        multi_core in any::<bool>(),
    ) {
        let mut workflow = random_layered_workflow(n_tasks, dag_seed);
        if multi_core {
            for (idx, task) in workflow.tasks_mut().enumerate() {
                task.requests = Resources::cores(1 + idx as u64 % 3);
            }
        }
        let platform = platform(&pools);
        let Ok(bound) = lower_bound(&workflow, &platform) else {
            // Only a task wider than every pool is refused, by planning as well.
            prop_assert!(plan_with(&workflow, &platform, &PlanOptions::new(Algorithm::Heft, 0, Weights::MAKESPAN)).is_err());
            return Ok(());
        };
        let plan = |algorithm, weights| {
            plan_with(&workflow, &platform, &PlanOptions::new(algorithm, plan_seed, weights)).unwrap()
        };
        let heft = plan(Algorithm::Heft, Weights::MAKESPAN);
        let purser = plan(Algorithm::Purser, Weights::MAKESPAN);
        let spot = plan(Algorithm::Purser, Weights::default());
        for schedule in [&heft, &purser, &spot] {
            prop_assert!(bound.makespan_s() <= schedule.makespan_s + 1e-6, "{bound:?} > {}", schedule.makespan_s);
        }
        prop_assert!(purser.makespan_s <= heft.makespan_s, "{} > {}", purser.makespan_s, heft.makespan_s);
    }
}
