//! One small case per placement rule of the planner, through the public API: earliest finish,
//! machine start-up, transfers, priorities, the search's determinism, and the verifier
//! refusing a task that runs before its machine is up. Insertion into idle slots is tested
//! where it lives, in the machine profile.

use purser_sched::{
    Algorithm, Dep, PlanOptions, Platform, Pool, Resources, Schedule, Task, Weights, Workflow,
    plan_with, verify,
};

/// A pool of `machines` one-core machines.
fn pool(name: &str, machines: u32, speed: f64, startup_s: f64) -> Pool {
    Pool {
        name: name.into(),
        machines,
        capacity: Resources::cores(1),
        speed,
        on_demand_per_hour_micros: 0,
        spot_per_hour_micros: None,
        startup_s,
        interruptions_per_hour: 0.0,
        kind: Default::default(),
    }
}

/// (id, runtime, priority, parents as (index, bytes)).
type TaskRow<'a> = (&'a str, f64, i32, &'a [(usize, u64)]);

fn workflow(tasks: &[TaskRow]) -> Workflow {
    let tasks = tasks
        .iter()
        .map(|&(id, runtime_s, priority, parents)| {
            let mut task = Task::new(id, runtime_s);
            task.priority = priority;
            task.parents = parents
                .iter()
                .map(|&(parent, bytes)| Dep { parent, bytes })
                .collect();
            task
        })
        .collect();
    Workflow::new("rules", tasks).unwrap()
}

fn heft(workflow: &Workflow, platform: &Platform) -> Schedule {
    let options = PlanOptions::new(Algorithm::Heft, 1, Weights::MAKESPAN);
    let schedule = plan_with(workflow, platform, &options).unwrap();
    verify(workflow, platform, &schedule).unwrap();
    schedule
}

/// Checks each task's (machine, start) in a plan.
fn check(schedule: &Schedule, expected: &[(&str, &str, f64)]) {
    for &(id, machine, start_s) in expected {
        let entry = schedule.tasks.iter().find(|entry| entry.id == id).unwrap();
        assert_eq!(
            (entry.machine.as_str(), entry.start_s),
            (machine, start_s),
            "task {id} in {schedule:?}"
        );
    }
}

/// 1 MB at 8 Mbps takes 1 s.
fn platform(pools: Vec<Pool>) -> Platform {
    Platform {
        bandwidth_mbps: 8.0,
        pools,
    }
}

#[test]
fn earliest_finish_picks_the_fast_machine() {
    let platform = platform(vec![pool("slow", 1, 1.0, 0.0), pool("fast", 1, 2.0, 0.0)]);
    // One task: 10 s on slow, 5 s on fast.
    check(
        &heft(&workflow(&[("a", 10.0, 0, &[])]), &platform),
        &[("a", "fast#0", 0.0)],
    );
}

#[test]
fn a_fresh_machine_takes_nothing_before_its_start_up() {
    // Regression: an opened machine once took a task in the hole before its first one, earlier
    // than its start-up allowed. "long" opens the cloud machine at 60 s; "short" must not run
    // there at 0 s, so it goes to the local machine.
    let platform = platform(vec![
        pool("local", 1, 1.0, 0.0),
        pool("cloud", 1, 10.0, 60.0),
    ]);
    let tasks: &[TaskRow] = &[("long", 700.0, 0, &[]), ("short", 50.0, 0, &[])];
    let schedule = heft(&workflow(tasks), &platform);
    check(
        &schedule,
        &[("long", "cloud#0", 60.0), ("short", "local#0", 0.0)],
    );
}

#[test]
fn a_child_elsewhere_waits_for_the_transfer_and_on_the_same_machine_does_not() {
    let platform = platform(vec![pool("p", 2, 1.0, 0.0)]);
    // a and b both feed c; c goes with one of them and receives the other's 3 MB in 3 s.
    let tasks: &[TaskRow] = &[
        ("a", 10.0, 0, &[]),
        ("b", 10.0, 0, &[]),
        ("c", 1.0, 0, &[(0, 3_000_000), (1, 3_000_000)]),
    ];
    check(&heft(&workflow(tasks), &platform), &[("c", "p#0", 13.0)]);
    // With c reading nothing from b, it starts as soon as a ends, on a's machine.
    let tasks: &[TaskRow] = &[
        ("a", 10.0, 0, &[]),
        ("b", 5.0, 0, &[]),
        ("c", 1.0, 0, &[(0, 3_000_000), (1, 0)]),
    ];
    check(
        &heft(&workflow(tasks), &platform),
        &[("a", "p#0", 0.0), ("c", "p#0", 10.0)],
    );
}

#[test]
fn a_higher_priority_goes_first_whatever_its_rank() {
    let platform = platform(vec![pool("p", 1, 1.0, 0.0)]);
    let tasks: &[TaskRow] = &[("long", 100.0, 0, &[]), ("urgent", 1.0, 5, &[])];
    check(
        &heft(&workflow(tasks), &platform),
        &[("urgent", "p#0", 0.0), ("long", "p#0", 1.0)],
    );
}

#[test]
fn the_search_is_seeded_and_never_loses_to_heft() {
    let platform = platform(vec![pool("slow", 2, 1.0, 0.0), pool("fast", 2, 1.7, 30.0)]);
    let workflow = purser_sched::random_layered_workflow(120, 5);
    let purser = |seed| {
        let options = PlanOptions::new(Algorithm::Purser, seed, Weights::MAKESPAN);
        plan_with(&workflow, &platform, &options).unwrap()
    };
    let first = purser(11);
    verify(&workflow, &platform, &first).unwrap();
    assert_eq!(first, purser(11), "same seed, same plan");
    assert!(first.makespan_s <= heft(&workflow, &platform).makespan_s);
}

#[test]
fn verify_refuses_a_task_before_its_machine_is_up() {
    let platform = platform(vec![
        pool("local", 1, 1.0, 0.0),
        pool("cloud", 1, 10.0, 60.0),
    ]);
    let workflow = workflow(&[("long", 700.0, 0, &[]), ("short", 50.0, 0, &[])]);
    let mut schedule = heft(&workflow, &platform);
    let short = schedule
        .tasks
        .iter_mut()
        .find(|entry| entry.id == "short")
        .unwrap();
    (short.machine, short.start_s, short.finish_s) = ("cloud#0".into(), 0.0, 5.0);
    let err = verify(&workflow, &platform, &schedule).unwrap_err();
    assert!(err.contains("before its start-up"), "{err}");
}
