//! Cancelling a DAG, interrupted machines, priority preemption of borrowed quota and the spot
//! rule, on the live state (every step checked against a rebuild and a replay by `Run`).

use super::tests::{Run, TTL, at, config, pool, task};
use super::*;
use crate::quota::QuotaLimit;
use crate::resources::Dimension;
use crate::state::TaskState::*;

fn cancel(run: &mut Run, dag: u64) -> usize {
    match run.apply(DagCommand::Cancel {
        dag,
        reason: "the user stopped it".into(),
    }) {
        (DagAnswer::Cancelled { n_cancelled, .. }, _) => n_cancelled,
        other => panic!("cancel answered {other:?}"),
    }
}

#[test]
fn cancel_closes_every_open_task_and_the_worker_learns_it() {
    let mut run = Run::local(2);
    let dag = run.submit(super::tests::dag(
        "acme",
        vec![task("a", &[]), task("b", &["a"]), task("c", &[])],
    ));
    let a = run.lease("local-0").unwrap();
    let c = run.lease("local-0").unwrap();
    run.complete(c);
    assert_eq!(cancel(&mut run, dag), 2, "a runs, b waits; c is done");
    assert_eq!(run.states(dag), [Cancelled, Cancelled, Completed]);
    let found = run.state.dag(dag).unwrap();
    assert_eq!(found.status(), DagStatus::Cancelled);
    let err = run
        .try_apply(DagCommand::Heartbeat {
            task: a,
            attempt: None,
        })
        .unwrap_err();
    assert!(
        err.to_string().contains("CANCELLED") && err.to_string().contains("the user stopped it"),
        "{err}"
    );
    assert_eq!(cancel(&mut run, dag), 0, "cancelling again changes nothing");
    assert_eq!(
        run.try_apply(DagCommand::Cancel {
            dag: 99,
            reason: String::new(),
        })
        .unwrap_err(),
        DagError::DagNotFound(99)
    );
    // What a held is free for the next DAG.
    let next = run.submit(super::tests::dag(
        "acme",
        vec![task("d", &[]), task("e", &[])],
    ));
    assert!(run.lease("local-0").is_some() && run.lease("local-0").is_some());
    assert_eq!(run.states(next), [Running, Running]);
}

#[test]
fn an_interrupted_machine_gives_its_tasks_back_to_resume_elsewhere() {
    let mut run = Run::new(config(vec![pool("spot", 1, 2), pool("local", 1, 2)]));
    let mut resumable = task("a", &[]);
    resumable.checkpointing = true;
    let dag = run.submit(super::tests::dag("acme", vec![resumable]));
    let a = run.lease("spot-0").unwrap();
    run.apply(DagCommand::Checkpoint {
        task: a,
        attempt: Some(1),
        checkpoint: "epoch-4".into(),
    });
    let (answer, events) = run.apply(DagCommand::Interrupted {
        worker: "spot-0".into(),
        reason: "spot reclaimed".into(),
    });
    assert_eq!(
        answer,
        DagAnswer::Interrupted {
            machine: 0,
            n_returned: 1
        }
    );
    let moves: Vec<_> = events
        .iter()
        .filter_map(DagEvent::task_move)
        .map(|moved| (moved.from, moved.to))
        .collect();
    assert_eq!(moves, [(Running, Preempted), (Preempted, Eligible)]);
    assert_eq!(run.states(dag), [Eligible]);
    let (_, live) = run.state.task(a).unwrap();
    assert!(
        live.error
            .as_deref()
            .unwrap()
            .contains("spot#0 interrupted")
    );
    assert_eq!(live.checkpoint.as_deref(), Some("epoch-4"));
    // The interrupted machine takes nothing until its worker comes back; another one resumes.
    run.tick_at(run.now + 1);
    assert_eq!(run.states(dag), [Eligible]);
    assert_eq!(run.lease("local-0"), Some(a));
    assert_eq!(run.state.task(a).unwrap().1.attempts, 2);
    assert!(matches!(
        run.try_apply(DagCommand::Interrupted {
            worker: "nowhere-3".into(),
            reason: String::new(),
        }),
        Err(DagError::WorkerNotFound(_))
    ));
}

fn quota(nominal: u64, borrowing: u64) -> QuotaLimit {
    QuotaLimit {
        nominal,
        borrowing_limit: Some(borrowing),
        lending_limit: None,
    }
}

#[test]
fn higher_priority_work_takes_back_what_a_borrowing_tenant_holds() {
    let mut config = config(vec![pool("local", 1, 4)]);
    let mut quotas = Quotas::default();
    quotas.set("batch", "local", Dimension::Cores, quota(2, 2));
    quotas.set("urgent", "local", Dimension::Cores, quota(2, 2));
    config.quotas = Some(quotas);
    let mut run = Run::new(config);
    let low: Vec<TaskRequest> = (0..4).map(|idx| task(&format!("low-{idx}"), &[])).collect();
    let batch = run.submit(super::tests::dag("batch", low));
    for _ in 0..4 {
        assert!(run.lease("local-0").is_some());
    }
    let mut high = super::tests::dag("urgent", vec![task("hi-0", &[]), task("hi-1", &[])]);
    high.priority = 10;
    let urgent = run.submit(high);
    run.tick_at(run.now);
    // Batch borrows urgent's 2 cores; urgent's tasks take them back, no more.
    assert_eq!(run.states(urgent), [Scheduled, Scheduled]);
    let batch_states = run.states(batch);
    assert_eq!(batch_states.iter().filter(|s| **s == Running).count(), 2);
    assert_eq!(batch_states.iter().filter(|s| **s == Eligible).count(), 2);
    let preempted = (0..4)
        .map(|idx| run.state.task(at(batch, idx)).unwrap().1)
        .find(|live| live.state == Eligible)
        .unwrap();
    assert!(
        preempted
            .error
            .as_deref()
            .unwrap()
            .contains("(priority 10) of tenant urgent: tenant batch borrows on pool local"),
        "{:?}",
        preempted.error
    );
    // Equal priority never preempts: a second batch DAG waits.
    let waiting = run.submit(super::tests::dag("batch", vec![task("more", &[])]));
    run.tick_at(run.now);
    assert_eq!(run.states(waiting), [Eligible]);
    assert_eq!(run.states(urgent), [Scheduled, Scheduled]);
}

#[test]
fn a_tenant_within_its_nominal_quota_is_never_preempted() {
    let mut config = config(vec![pool("local", 1, 4)]);
    let mut quotas = Quotas::default();
    quotas.set("batch", "local", Dimension::Cores, quota(2, 0));
    quotas.set("urgent", "local", Dimension::Cores, quota(2, 0));
    config.quotas = Some(quotas);
    let mut run = Run::new(config);
    let low: Vec<TaskRequest> = (0..2).map(|idx| task(&format!("low-{idx}"), &[])).collect();
    let batch = run.submit(super::tests::dag("batch", low));
    let mut high = super::tests::dag(
        "urgent",
        (0..3).map(|idx| task(&format!("hi-{idx}"), &[])).collect(),
    );
    high.priority = 10;
    let urgent = run.submit(high);
    assert!(run.lease("local-0").is_some());
    assert_eq!(run.states(batch), [Scheduled, Scheduled]);
    assert_eq!(
        run.states(urgent),
        [Running, Scheduled, Eligible],
        "priority leases first"
    );
}

#[test]
fn spot_machines_take_only_tasks_whose_slack_absorbs_an_interruption() {
    let mut spot = pool("spot", 1, 4);
    spot.spot_per_hour_micros = Some(120_000);
    spot.on_demand_per_hour_micros = 340_000;
    let mut on_demand = pool("ondemand", 1, 4);
    on_demand.on_demand_per_hour_micros = 340_000;
    let mut run = Run::new(config(vec![spot, on_demand]));
    let mut long_a = task("a", &[]);
    long_a.runtime_ms = 10_000;
    let mut long_b = task("b", &["a"]);
    long_b.runtime_ms = 10_000;
    let side = task("c", &[]);
    let dag = run.submit(super::tests::dag("acme", vec![long_a, long_b, side]));
    // Only the spot machine is there: the side task (1 s of 20 s) goes; `a` is on the
    // critical path and waits for an on-demand machine.
    assert_eq!(run.lease("spot-0"), Some(at(dag, 2)));
    assert_eq!(run.lease("spot-0"), None);
    assert_eq!(run.states(dag), [Eligible, Queued, Running]);
    assert_eq!(run.lease("ondemand-0"), Some(at(dag, 0)));
    // A task that can run nowhere else is not held back.
    let mut only_spot = pool("spot", 1, 4);
    only_spot.spot_per_hour_micros = Some(120_000);
    let mut run = Run::new(config(vec![only_spot]));
    let dag = run.submit(super::tests::dag("acme", vec![task("alone", &[])]));
    assert_eq!(run.lease("spot-0"), Some(at(dag, 0)));
    let _ = TTL;
}

#[test]
fn gauges_count_tasks_pools_quotas_and_the_eligible_line() {
    let mut config = config(vec![pool("local", 1, 4)]);
    let mut quotas = Quotas::default();
    quotas.set("batch", "local", Dimension::Cores, quota(1, 2));
    quotas.set("idle", "local", Dimension::Cores, quota(3, 0));
    config.quotas = Some(quotas);
    let mut run = Run::new(config);
    let tasks: Vec<TaskRequest> = (0..5).map(|idx| task(&format!("t-{idx}"), &[])).collect();
    run.submit(super::tests::dag("batch", tasks));
    for _ in 0..3 {
        assert!(run.lease("local-0").is_some());
    }
    // The quota lets batch hold 3 cores (1 nominal + 2 borrowed from idle): two wait in line.
    assert!(run.lease("local-0").is_none());
    let gauges = run.state.gauges(10);
    assert_eq!(
        gauges.tasks,
        vec![
            ("ELIGIBLE", "none".to_string(), 2),
            ("RUNNING", "local".to_string(), 3),
        ]
    );
    assert_eq!(gauges.eligible, 2);
    assert_eq!(
        gauges.pools,
        vec![PoolGauge {
            pool: "local".into(),
            dimension: "cores".into(),
            capacity: 4,
            used: 3,
        }]
    );
    assert!((gauges.pools[0].utilization() - 0.75).abs() < 1e-12);
    assert_eq!(
        gauges.quotas[..1],
        [QuotaGauge {
            tenant: "batch".into(),
            pool: "local".into(),
            dimension: "cores".into(),
            used: 3,
            nominal: 1,
            borrowed: 2,
        }]
    );
    assert_eq!(
        (gauges.quotas[1].tenant.as_str(), gauges.quotas[1].used),
        ("idle", 0)
    );
    assert!(gauges.dag_costs.is_empty(), "an uncharged DAG has no cost");
}
