//! Charging: holds of the estimated cost at placement, settlement of what each attempt ran,
//! pauses while the budget refuses, and DAGs without an account placed as before.

use std::collections::BTreeMap;

use proptest::prelude::*;

use super::evolve::holds_machine;
use super::tests::{Run, TTL, config, dag, pool, task};
use super::*;
use crate::state::TaskState::*;

/// A ledger in miniature: money left per account (absent: unlimited), open holds, and what
/// was settled.
#[derive(Debug, Default)]
pub(super) struct TestBudget {
    pub left: BTreeMap<String, u64>,
    pub holds: BTreeMap<u64, (String, u64)>,
    pub spent: BTreeMap<String, u64>,
    pub asks: usize,
    /// The enforcement rung of accounts (absent: continue).
    pub rungs: BTreeMap<String, Rung>,
    next: u64,
}

impl Budget for TestBudget {
    fn reserve(&mut self, ask: &CostAsk<'_>) -> Result<u64, Unaffordable> {
        self.asks += 1;
        if let Some(left) = self.left.get_mut(ask.account) {
            if *left < ask.cost_micros {
                return Err(Unaffordable {
                    account: ask.account.to_string(),
                    dimension: "cost_micros".into(),
                    needed: ask.cost_micros,
                    available: *left,
                });
            }
            *left -= ask.cost_micros;
        }
        self.next += 1;
        self.holds
            .insert(self.next, (ask.account.to_string(), ask.cost_micros));
        Ok(self.next)
    }

    fn rung(&mut self, account: &str) -> Rung {
        self.rungs.get(account).cloned().unwrap_or(Rung::Continue)
    }

    fn left(&mut self, account: &str) -> Option<u64> {
        self.left.get(account).copied()
    }
}

impl TestBudget {
    /// Settles the attempts `events` ended: the hold is released and what ran is spent.
    pub fn settle(&mut self, events: &[DagEvent]) {
        for event in events {
            if let DagEvent::AttemptEnded {
                reservation,
                cost_micros,
                ..
            } = event
            {
                let (account, held) = self.holds.remove(reservation).expect("an open hold");
                if let Some(left) = self.left.get_mut(&account) {
                    *left = (*left + held).saturating_sub(*cost_micros);
                }
                *self.spent.entry(account).or_insert(0) += cost_micros;
            }
        }
    }
}

/// One pool of 4-core machines at 3,600,000 micro-units an hour: a whole machine costs one
/// micro-unit a millisecond, a 2-core task half that.
fn priced(machines: u32) -> Run {
    let mut priced = pool("cloud", machines, 4);
    priced.on_demand_per_hour_micros = 3_600_000;
    Run::new(config(vec![priced]))
}

fn charged(account: &str, tasks: Vec<TaskRequest>) -> SubmitDag {
    SubmitDag {
        account: Some(account.into()),
        ..dag("acme", tasks)
    }
}

fn two_cores(name: &str, runtime_ms: u64) -> TaskRequest {
    TaskRequest {
        runtime_ms,
        requests: Resources::cores(2),
        ..task(name, &[])
    }
}

fn ended(events: &[DagEvent]) -> Vec<(u64, u64)> {
    events
        .iter()
        .filter_map(|event| match event {
            DagEvent::AttemptEnded {
                cost_micros,
                time_ms,
                ..
            } => Some((*cost_micros, *time_ms)),
            _ => None,
        })
        .collect()
}

#[test]
fn prices_follow_the_largest_share_and_round_up() {
    let machine = Resources {
        cores: 8,
        memory_bytes: 32 << 30,
        gpu: 0,
        ..Resources::ZERO
    };
    assert_eq!(share_ppm(&Resources::cores(2), &machine), 250_000);
    let memory_heavy = Resources {
        cores: 1,
        memory_bytes: 16 << 30,
        gpu: 0,
        ..Resources::ZERO
    };
    assert_eq!(share_ppm(&memory_heavy, &machine), 500_000);
    // More than the machine counts as the whole machine.
    assert_eq!(share_ppm(&Resources::cores(9), &machine), SHARE_PPM_FULL);
    // $2 an hour, a quarter of the machine, 90 minutes: $0.75.
    assert_eq!(cost_micros(2_000_000, 250_000, 5_400_000), 750_000);
    // A millisecond of a cheap machine still costs one micro-unit: never rounded to free.
    assert_eq!(cost_micros(1, 1, 1), 1);
    assert_eq!(cost_micros(0, SHARE_PPM_FULL, 1_000), 0);
    assert_eq!(cost_micros(u64::MAX, SHARE_PPM_FULL, u64::MAX), u64::MAX);
}

#[test]
fn a_charged_task_holds_its_estimate_and_pays_what_it_ran() {
    let mut run = priced(1);
    let dag = run.submit(charged("acme/wf", vec![two_cores("a", 1_000)]));
    assert_eq!(run.state.charge(dag).unwrap().account, "acme/wf");
    // Nothing is held until a worker is there to place on.
    assert!(run.budget.holds.is_empty());
    assert_eq!(run.state.projected_micros(dag), Some(500));
    let task = run.lease("cloud-0").unwrap();
    let open = run.state.charge(dag).unwrap().tasks[0]
        .open
        .clone()
        .unwrap();
    assert_eq!((open.share_ppm, open.estimate_micros), (500_000, 500));
    assert_eq!(open.started_ms, Some(run.now));
    assert_eq!(run.budget.holds[&open.reservation], ("acme/wf".into(), 500));
    assert_eq!(run.state.charge(dag).unwrap().reserved_micros(), 500);
    assert_eq!(run.state.projected_micros(dag), Some(500));
    run.now += 600;
    let (_, events) = run.apply(DagCommand::Complete {
        task,
        attempt: None,
    });
    // Half a machine for 600 ms at one micro-unit a machine-millisecond.
    assert_eq!(ended(&events), [(300, 600)]);
    let charge = run.state.charge(dag).unwrap();
    assert_eq!((charge.spent_micros(), charge.reserved_micros()), (300, 0));
    assert!(run.budget.holds.is_empty());
    assert_eq!(run.budget.spent["acme/wf"], 300);
}

#[test]
fn a_task_pays_from_its_own_account_and_retries_pay_again() {
    let mut run = priced(1);
    let mut agent = two_cores("a", 1_000);
    agent.account = Some("acme/wf/agent".into());
    agent.max_attempts = Some(2);
    let dag = run.submit(charged("acme/wf", vec![agent]));
    let task = run.lease("cloud-0").unwrap();
    run.now += 200;
    let (_, events) = run.apply(DagCommand::Fail {
        task,
        attempt: None,
        error: "flaky".into(),
        retryable: true,
    });
    assert_eq!(ended(&events), [(100, 200)]);
    run.tick_at(run.now);
    run.lease("cloud-0").unwrap();
    run.now += 400;
    run.complete(task);
    assert_eq!(run.budget.spent["acme/wf/agent"], 300);
    assert!(!run.budget.spent.contains_key("acme/wf"));
    assert_eq!(run.state.charge(dag).unwrap().tasks[0].time_ms, 600);
}

#[test]
fn an_interrupted_attempt_pays_for_what_it_ran_and_a_lapsed_placement_costs_nothing() {
    let mut run = priced(1);
    let dag = run.submit(charged(
        "acme",
        vec![two_cores("a", 1_000), two_cores("b", 1_000)],
    ));
    // The worker leases one of the two tasks placed on its machine and never comes back for
    // the other: that placement lapses, its hold is given back for nothing.
    run.lease("cloud-0").unwrap();
    let (_, events) = run.tick_at(run.now + TTL);
    // The leased one ran until its lease lapsed, a whole TTL: it pays for that.
    assert_eq!(ended(&events), [(500, TTL), (0, 0)]);
    run.lease("cloud-0").unwrap();
    run.now += 250;
    let (_, events) = run.apply(DagCommand::Interrupted {
        worker: "cloud-0".into(),
        reason: "spot reclaimed".into(),
    });
    let mut paid = ended(&events);
    paid.sort_unstable();
    assert_eq!(paid, [(0, 0), (125, 250)]);
    assert_eq!(run.state.charge(dag).unwrap().spent_micros(), 625);
    assert!(run.budget.holds.is_empty());
}

#[test]
fn an_unaffordable_task_pauses_its_dag_until_the_budget_allows_it() {
    let mut run = priced(1);
    run.budget.left.insert("acme".into(), 499);
    let dag = run.submit(charged("acme", vec![two_cores("a", 1_000)]));
    assert_eq!(run.lease("cloud-0"), None);
    assert_eq!(run.states(dag), [Eligible]);
    let why = run.state.paused(dag).unwrap().clone();
    assert_eq!(
        why,
        Unaffordable {
            account: "acme".into(),
            dimension: "cost_micros".into(),
            needed: 500,
            available: 499,
        }
    );
    // Still refused: paused once, not once per pass.
    let (_, events) = run.tick_at(run.now + 10);
    assert!(events.is_empty(), "{events:?}");
    run.budget.left.insert("acme".into(), 10_000);
    let (_, events) = run.tick_at(run.now + 10);
    assert!(matches!(events[0], DagEvent::Resumed { dag: resumed, .. } if resumed == dag));
    assert!(matches!(events[1], DagEvent::Charged { .. }));
    assert_eq!(run.states(dag), [Scheduled]);
    assert!(run.state.paused(dag).is_none());
}

#[test]
fn a_cancelled_paused_dag_is_no_longer_paused() {
    let mut run = priced(1);
    run.budget.left.insert("acme".into(), 0);
    let dag = run.submit(charged("acme", vec![two_cores("a", 1_000)]));
    run.lease("cloud-0");
    assert!(run.state.paused(dag).is_some());
    run.apply(DagCommand::Cancel {
        dag,
        reason: "over budget".into(),
    });
    assert!(run.state.paused(dag).is_none());
}

#[test]
fn a_dag_without_an_account_is_never_charged() {
    let mut run = priced(1);
    let dag = run.submit(dag("acme", vec![two_cores("a", 1_000)]));
    let task = run.lease("cloud-0").unwrap();
    run.now += 500;
    let (_, events) = run.apply(DagCommand::Complete {
        task,
        attempt: None,
    });
    assert!(ended(&events).is_empty());
    assert_eq!(run.budget.asks, 0);
    assert!(run.state.charge(dag).is_none());
    // Its tasks cannot name an account either.
    let mut named = two_cores("b", 1);
    named.account = Some("acme/x".into());
    let refused = run.try_apply(DagCommand::Submit(dag_with("acme", vec![named])));
    assert!(
        matches!(refused, Err(DagError::Invalid { .. })),
        "{refused:?}"
    );
}

fn dag_with(tenant: &str, tasks: Vec<TaskRequest>) -> SubmitDag {
    dag(tenant, tasks)
}

#[test]
fn charges_survive_a_snapshot() {
    let mut run = priced(2);
    run.budget.left.insert("acme".into(), 600);
    let first = run.submit(charged("acme", vec![two_cores("a", 1_000)]));
    let second = run.submit(charged("acme", vec![two_cores("b", 1_000)]));
    run.lease("cloud-0").unwrap();
    run.lease("cloud-1");
    assert!(run.state.paused(second).is_some());
    let snapshot = run.state.to_snapshot();
    let restored = DagState::from_snapshot(run.state.config.clone(), snapshot.clone()).unwrap();
    assert_eq!(restored.to_snapshot(), snapshot);
    assert_eq!(restored.charge(first), run.state.charge(first));
    assert_eq!(restored.paused(second), run.state.paused(second));
}

/// A free local machine of 8 cores and a priced cloud machine of 8 cores.
fn local_and_cloud() -> Run {
    let local = pool("local", 1, 8);
    let mut cloud = pool("cloud", 1, 8);
    cloud.on_demand_per_hour_micros = 3_600_000;
    cloud.speed = 4.0;
    Run::new(config(vec![local, cloud]))
}

fn one_core(name: &str) -> TaskRequest {
    TaskRequest {
        runtime_ms: 10_000,
        ..task(name, &[])
    }
}

fn machines_of(run: &Run, dag: u64) -> Vec<Option<String>> {
    let found = run.state.dag(dag).unwrap();
    found
        .tasks
        .iter()
        .map(|task| {
            holds_machine(task.state).then(|| run.state.machine_name(task.machine.unwrap()))
        })
        .collect()
}

#[test]
fn at_stop_no_attempt_starts_and_the_dag_says_which_dimension() {
    let mut run = local_and_cloud();
    run.budget.rungs.insert(
        "acme".into(),
        Rung::Stop {
            dimension: "tokens".into(),
        },
    );
    let dag = run.submit(charged("acme", vec![one_core("a")]));
    assert_eq!(run.lease("local-0"), None, "not even on the free machine");
    let why = run.state.paused(dag).unwrap();
    assert_eq!((why.dimension.as_str(), why.available), ("tokens", 0));
    assert_eq!(run.budget.asks, 0, "nothing was held");
    run.budget.rungs.clear();
    run.tick_at(run.now + 1);
    assert!(run.state.paused(dag).is_none());
    assert_eq!(run.states(dag), [Scheduled]);
}

#[test]
fn at_degrade_only_the_cheapest_capacity_is_used() {
    let mut run = local_and_cloud();
    run.lease("cloud-0");
    run.budget.rungs.insert("acme".into(), Rung::Degrade);
    // The cloud is four times faster and has room; degraded, the tasks wait for the local
    // machine rather than pay for it.
    let dag = run.submit(charged(
        "acme",
        vec![
            TaskRequest {
                requests: Resources::cores(8),
                ..one_core("a")
            },
            TaskRequest {
                requests: Resources::cores(8),
                ..one_core("b")
            },
        ],
    ));
    assert_eq!(machines_of(&run, dag), [None, None]);
    run.lease("local-0");
    assert_eq!(machines_of(&run, dag), [Some("local#0".into()), None]);
    // Without the ladder the second goes to the cloud.
    run.budget.rungs.clear();
    run.tick_at(run.now + 1);
    assert_eq!(
        machines_of(&run, dag),
        [Some("local#0".into()), Some("cloud#0".into())]
    );
}

#[test]
fn at_throttle_a_dag_runs_at_its_rate_and_leaves_the_dearest_capacity() {
    let mut run = local_and_cloud();
    run.lease("cloud-0");
    run.lease("local-0");
    run.budget
        .rungs
        .insert("acme".into(), Rung::Throttle { rate: 0.5 });
    let tasks = (0..4).map(|idx| one_core(&format!("t{idx}"))).collect();
    let dag = run.submit(charged("acme", tasks));
    let placed: Vec<_> = machines_of(&run, dag).into_iter().flatten().collect();
    assert_eq!(
        placed,
        ["local#0", "local#0"],
        "half of four, none in the cloud"
    );
    // Another tenant's DAG, not throttled, is not held back.
    let other = run.submit(dag_with(
        "beta",
        (0..4).map(|idx| one_core(&format!("u{idx}"))).collect(),
    ));
    assert_eq!(machines_of(&run, other).into_iter().flatten().count(), 4);
}

#[test]
fn a_task_its_budget_cannot_afford_on_the_fastest_pool_takes_one_it_can() {
    let mut run = local_and_cloud();
    run.lease("cloud-0");
    run.lease("local-0");
    // 10 s of a whole cloud machine (4x faster: 2.5 s) costs 2,500; only 1,000 are left.
    run.budget.left.insert("acme".into(), 1_000);
    let dag = run.submit(charged(
        "acme",
        vec![TaskRequest {
            requests: Resources::cores(8),
            ..one_core("a")
        }],
    ));
    assert_eq!(machines_of(&run, dag), [Some("local#0".into())]);
    assert!(run.state.paused(dag).is_none());
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(64))]

    /// Whatever workers do, each attempt pays its machine's price x its share x the time from
    /// its lease to its end, to the micro-unit; a DAG's cost is the sum of its attempts'; holds
    /// are all settled once the DAGs finish; and an account never has more held than it had.
    #[test]
    fn the_cost_of_a_dag_is_the_sum_of_its_attempts(
        steps in proptest::collection::vec((0u8..6, 0u64..3, 1u64..2_000), 1..80),
        money in 2_000u64..20_000,
    ) {
        let mut slow = pool("slow", 2, 4);
        slow.on_demand_per_hour_micros = 3_600_000;
        let mut fast = pool("fast", 1, 8);
        fast.on_demand_per_hour_micros = 9_000_000;
        fast.speed = 2.0;
        let mut run = Run::new(config(vec![slow, fast]));
        run.budget.left.insert("acme".into(), money);
        let mut started: BTreeMap<TaskRef, u64> = BTreeMap::new();
        let mut placed_on: BTreeMap<TaskRef, u32> = BTreeMap::new();
        let mut expected: BTreeMap<u64, u64> = BTreeMap::new();
        let workers = ["slow-0", "slow-1", "fast-0"];
        for (kind, pick, advance) in steps {
            run.now += advance;
            let running: Vec<TaskRef> = started.keys().copied().collect();
            let command = match kind {
                0 => DagCommand::Submit(charged("acme", vec![
                    two_cores("a", 500 + advance),
                    TaskRequest { depends_on: vec!["a".into()], ..two_cores("b", 300) },
                ])),
                1 => DagCommand::Lease { worker: workers[pick as usize].into() },
                2 if !running.is_empty() => DagCommand::Complete {
                    task: running[pick as usize % running.len()], attempt: None,
                },
                3 if !running.is_empty() => DagCommand::Fail {
                    task: running[pick as usize % running.len()], attempt: None,
                    error: "flaky".into(), retryable: true,
                },
                4 => DagCommand::Interrupted {
                    worker: workers[pick as usize].into(), reason: "spot".into(),
                },
                _ => DagCommand::Tick,
            };
            let Ok((_, events)) = run.try_apply(command) else { continue };
            for event in &events {
                match event {
                    DagEvent::Moved(moved) if moved.to == Running => {
                        started.insert(moved.task, moved.at_ms);
                    }
                    DagEvent::Moved(moved) if moved.to == Scheduled => {
                        placed_on.insert(moved.task, moved.machine.unwrap());
                    }
                    DagEvent::AttemptEnded { task, cost_micros: cost, time_ms, at_ms, .. } => {
                        let begun = started.remove(task);
                        let ran = begun.map_or(0, |begun| at_ms - begun);
                        prop_assert_eq!(*time_ms, ran);
                        let (_, live) = run.state.task(*task).unwrap();
                        let machine = &run.state.machines[placed_on[task] as usize];
                        let pool = &run.state.config.pools[machine.pool as usize];
                        let share = share_ppm(&live.spec.requests, &pool.capacity);
                        prop_assert_eq!(
                            *cost,
                            cost_micros(pool.on_demand_per_hour_micros, share, ran)
                        );
                        *expected.entry(task.dag).or_insert(0) += cost;
                    }
                    _ => {}
                }
            }
            for (dag, cost) in &expected {
                prop_assert_eq!(run.state.charge(*dag).unwrap().spent_micros(), *cost);
            }
            let held: u64 = run.budget.holds.values().map(|(_, held)| held).sum();
            prop_assert!(held <= money, "{held} held of {money}");
        }
    }
}
