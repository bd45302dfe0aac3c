//! Seeded simulation of spot interruptions: interrupted tasks come back as new attempts, resume
//! from their checkpoint, and the plan stays feasible and reproducible.

use purser_sched::{
    Algorithm, PlanOptions, Platform, Pool, Resources, Weights, plan_with, random_layered_workflow,
    summary, verify,
};

fn platform(interruptions_per_hour: f64) -> Platform {
    let pool = |name: &str, machines, price, spot: Option<u64>| Pool {
        name: name.into(),
        machines,
        capacity: Resources::cores(4),
        speed: 1.0,
        on_demand_per_hour_micros: price,
        spot_per_hour_micros: spot,
        startup_s: 30.0,
        interruptions_per_hour,
        kind: Default::default(),
    };
    Platform {
        bandwidth_mbps: 1000.0,
        pools: vec![
            pool("local", 1, 0, None),
            pool("cloud", 6, 340_000, Some(120_000)),
        ],
    }
}

fn spot_options(seed: u64) -> PlanOptions {
    PlanOptions {
        deadline_stretch: 0.5,
        ..PlanOptions::new(Algorithm::Purser, seed, Weights::default())
    }
}

#[test]
fn interrupted_tasks_are_retried_and_the_plan_stays_feasible() {
    let mut workflow = random_layered_workflow(200, 7);
    for task in workflow.tasks_mut() {
        task.checkpoint_interval_s = Some(60.0);
    }
    let platform = platform(6.0);
    let mut total_interruptions = 0;
    for seed in 1..=8 {
        let options = spot_options(seed);
        let schedule = plan_with(&workflow, &platform, &options).unwrap();
        if let Err(violation) = verify(&workflow, &platform, &schedule) {
            panic!("SIM_SEED={seed}: {violation}");
        }
        let again = plan_with(&workflow, &platform, &options).unwrap();
        assert_eq!(schedule, again, "SIM_SEED={seed}: same seed, same plan");
        let interruptions = schedule.stats.as_ref().unwrap().interruptions;
        total_interruptions += interruptions;
        let retried = schedule
            .tasks
            .iter()
            .filter(|entry| entry.attempts > 1)
            .count();
        assert!(
            interruptions == 0 || retried > 0 || schedule.tasks.iter().any(|e| e.spot),
            "SIM_SEED={seed}"
        );
        assert!(summary(&schedule).contains("makespan"));
    }
    assert!(
        total_interruptions > 0,
        "a rate of 6 per hour must interrupt something"
    );
}

#[test]
fn checkpoints_shorten_the_retry() {
    // One long task alone; only the spot pool can take it, so the retry follows an interruption.
    let mut workflow = random_layered_workflow(1, 3);
    for task in workflow.tasks_mut() {
        task.runtime_s = 36_000.0;
        task.checkpoint_interval_s = Some(600.0);
    }
    let mut platform = platform(1.0);
    platform.pools.remove(0);
    let options = PlanOptions {
        deadline_stretch: 10.0,
        ..spot_options(11)
    };
    let schedule = plan_with(&workflow, &platform, &options).unwrap();
    verify(&workflow, &platform, &schedule).unwrap();
    assert!(
        schedule.tasks.len() > 1,
        "an interruption within 10 h at 1 per hour: {schedule:?}"
    );
    let first = &schedule.tasks[0];
    let last = schedule.tasks.last().unwrap();
    assert!(first.spot);
    let done = first.finish_s - first.start_s;
    let saved = (done / 600.0).floor() * 600.0;
    if schedule.tasks.len() == 2 {
        assert!((last.finish_s - last.start_s - (36_000.0 - saved)).abs() < 1e-6);
    }
    assert_eq!(last.attempts as usize, schedule.tasks.len());
}

/// The guard on spot plans: without interruptions a spot plan never ends after the deadline
/// (on-demand makespan x 1.05) nor costs more than the on-demand plan, whatever the workflow;
/// when the slack rule would overrun, a stricter line or no spot at all is chosen.
#[test]
fn a_spot_plan_keeps_the_deadline_and_never_costs_more_without_interruptions() {
    let platform = platform(0.05);
    let mut n_spot = 0;
    for (n_tasks, seed) in [(50, 1), (120, 2), (300, 3), (500, 4), (80, 5), (200, 6)] {
        let workflow = random_layered_workflow(n_tasks, seed);
        let on_demand_options = PlanOptions {
            spot: false,
            interruptions: false,
            ..PlanOptions::new(Algorithm::Purser, seed, Weights::default())
        };
        let on_demand = plan_with(&workflow, &platform, &on_demand_options).unwrap();
        let spot_options = PlanOptions {
            spot: true,
            ..on_demand_options
        };
        let spot = plan_with(&workflow, &platform, &spot_options).unwrap();
        verify(&workflow, &platform, &spot).unwrap();
        assert!(
            spot.makespan_s <= on_demand.makespan_s * 1.05 + 1e-6,
            "{n_tasks} tasks, seed {seed}: {} s against {} s on demand",
            spot.makespan_s,
            on_demand.makespan_s
        );
        assert!(spot.cost_micros <= on_demand.cost_micros, "{n_tasks} tasks");
        n_spot += usize::from(spot.tasks.iter().any(|entry| entry.spot));
    }
    assert!(n_spot > 0, "some plan must use spot machines");
}
