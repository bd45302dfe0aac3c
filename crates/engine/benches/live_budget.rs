//! `cargo bench -p purser-engine --bench live_budget`: a 200-task DAG run live through the
//! engine (the single writer, its ledger and its DAG state; workers simulated in virtual time,
//! each task running exactly its estimate) on three pools: a free local machine, on-demand
//! cloud machines and spot ones (no interruption is reported). Three runs:
//!
//! 1. on demand only, no budget: the reference cost and makespan;
//! 2. every pool, no budget: what the placement objective does unconstrained;
//! 3. every pool, the DAG's account limited to 70 % of the reference cost (stop at the limit):
//!    the budget steers placement (cheaper capacity as the account climbs the ladder, pools it
//!    cannot afford left to others, paused when nothing fits) and the DAG must finish within it.

use std::sync::Arc;

use purser_core::account::AccountConfig;
use purser_core::foresight::ForesightConfig;
use purser_core::{AccountPath, AccountSpec, Command, LedgerLimits};
use purser_engine::view::dag::DagView;
use purser_engine::{EngineConfig, EngineState, Op, Scope, open_state};
use purser_sched::{DagCommand, DagConfig, Pool, Resources, SubmitDag, TaskRef, TaskRequest};
use purser_store::{MemJournal, MemStorage};
use tokio::sync::oneshot;

const START_MS: u64 = 1_795_000_000_000;
const N_TASKS: usize = 200;
const SEED: u64 = 7;

fn pools(spot: bool) -> Vec<Pool> {
    let cloud = |name: &str, od: u64, spot_price: Option<u64>| Pool {
        speed: 1.4,
        on_demand_per_hour_micros: od,
        spot_per_hour_micros: spot_price,
        ..Pool::local(name, 4, 8)
    };
    let mut pools = vec![Pool::local("local", 1, 8), cloud("c6i", 340_000, None)];
    if spot {
        pools.push(cloud("c6i-spot", 340_000, Some(120_000)));
    }
    pools
}

struct Run {
    state: EngineState,
    now_ms: u64,
}

impl Run {
    fn new(pools: Vec<Pool>) -> Run {
        let mut dags = DagConfig::of_pools(pools);
        // Simulated workers do not heartbeat: a lease lasts the run.
        dags.lease_ttl_ms = 7 * 86_400_000;
        let config = EngineConfig {
            limits: LedgerLimits::default(),
            defaults: AccountConfig::default(),
            dags,
            foresight: ForesightConfig::default(),
            snapshot_every_events: 1 << 30,
            standby: false,
        };
        let (journal, _) = MemJournal::open(&MemStorage::new()).expect("a journal");
        let (state, _) = open_state(Box::new(journal), &config).expect("an empty journal");
        Run {
            state,
            now_ms: START_MS,
        }
    }

    fn step(&mut self, ops: Vec<Op>) {
        let mut deliveries = Vec::new();
        self.state
            .step(ops, self.now_ms, &mut deliveries)
            .expect("an in-memory append");
        for delivery in deliveries {
            delivery();
        }
    }

    fn ask<T>(&mut self, op: impl FnOnce(oneshot::Sender<T>) -> Op) -> T {
        let (reply, mut answer) = oneshot::channel();
        self.step(vec![op(reply)]);
        answer.try_recv().expect("answered once durable")
    }
}

fn workflow_tasks() -> Vec<TaskRequest> {
    let workflow = purser_sched::random_layered_workflow(N_TASKS, SEED);
    workflow
        .tasks()
        .iter()
        .map(|task| TaskRequest {
            name: task.id.clone(),
            runtime_ms: (task.runtime_s * 1e3) as u64,
            requests: Resources::cores(task.requests.cores.max(1)),
            depends_on: task
                .parents
                .iter()
                .map(|dep| workflow.tasks()[dep.parent].id.clone())
                .collect(),
            priority: None,
            checkpointing: false,
            max_attempts: None,
            account: None,
            needs: Default::default(),
            custom_requests: Vec::new(),
        })
        .collect()
}

/// What one run gives: cost spent, makespan, tasks per pool, times paused.
struct Outcome {
    cost_micros: u64,
    makespan_s: f64,
    per_pool: Vec<(String, usize)>,
    finished: bool,
}

fn run(pools: Vec<Pool>, budget_micros: Option<u64>) -> Outcome {
    let speeds: Vec<(String, f64, u32)> = pools
        .iter()
        .map(|pool| (pool.name.clone(), pool.speed, pool.machines))
        .collect();
    let mut run = Run::new(pools);
    let mut spec = AccountSpec::default();
    if let Some(budget) = budget_micros {
        spec.limits = Some(vec![("cost_micros".into(), budget)]);
        spec.stop = Some(1.0);
    }
    let path = AccountPath::parse("acme").unwrap();
    run.ask(|reply| {
        Op::Manage(
            Command::UpsertAccount { path, spec },
            Arc::from("bench"),
            reply,
        )
    })
    .expect("the account");
    let request = SubmitDag {
        name: Some("layered-200".into()),
        tenant: "acme".into(),
        priority: 0,
        idempotency_key: None,
        tasks: workflow_tasks(),
        account: Some("acme".into()),
    };
    let dag = run
        .ask(|reply| Op::SubmitDag(request, reply))
        .expect("submitted")
        .summary
        .id;
    let workers: Vec<(String, f64)> = speeds
        .iter()
        .flat_map(|(name, speed, machines)| {
            (0..*machines).map(move |index| (format!("{name}-{index}"), *speed))
        })
        .collect();
    let mut running: Vec<(u64, TaskRef, u32, String)> = Vec::new();
    let mut per_pool: std::collections::BTreeMap<String, usize> = Default::default();
    let deadline_ms = START_MS + 30 * 86_400_000;
    loop {
        for (worker, speed) in &workers {
            let leased = run
                .ask(|reply| Op::Lease(worker.clone(), Some(64), reply))
                .expect("a known worker");
            for task in leased.tasks {
                let finish = run.now_ms + purser_sched::runtime_on(task.runtime_ms, *speed);
                let pool = worker.rsplit_once('-').unwrap().0.to_string();
                *per_pool.entry(pool).or_insert(0) += 1;
                running.push((finish, task.task, task.attempt, worker.clone()));
            }
        }
        let view: DagView = run
            .ask(|reply| Op::Dag(dag, Scope::everything(), reply))
            .expect("the dag");
        if view.summary.state != "running" && view.summary.state != "paused" {
            return Outcome {
                cost_micros: view.summary.cost.map_or(0, |cost| cost.spent_micros),
                makespan_s: (run.now_ms - START_MS) as f64 / 1e3,
                per_pool: per_pool.into_iter().collect(),
                finished: view.summary.state == "completed",
            };
        }
        if run.now_ms > deadline_ms {
            return Outcome {
                cost_micros: view.summary.cost.map_or(0, |cost| cost.spent_micros),
                makespan_s: f64::INFINITY,
                per_pool: per_pool.into_iter().collect(),
                finished: false,
            };
        }
        // The next moment something happens: a task ends (or the clock's next second).
        running.sort_by_key(|(finish, ..)| *finish);
        run.now_ms = running
            .first()
            .map_or(run.now_ms + 1_000, |(finish, ..)| (*finish).max(run.now_ms));
        let done: Vec<_> = running
            .iter()
            .take_while(|(finish, ..)| *finish <= run.now_ms)
            .cloned()
            .collect();
        running.drain(..done.len());
        let mut ops = Vec::new();
        let mut answers = Vec::new();
        for (_, task, attempt, _) in done {
            let (reply, answer) = oneshot::channel();
            ops.push(Op::Task(
                DagCommand::Complete {
                    task,
                    attempt: Some(attempt),
                },
                reply,
            ));
            answers.push(answer);
        }
        ops.push(Op::Tick);
        run.step(ops);
        for mut answer in answers {
            answer.try_recv().expect("answered").expect("completed");
        }
    }
}

fn main() {
    let reference = run(pools(false), None);
    let free = run(pools(true), None);
    let budget = reference.cost_micros * 7 / 10;
    let constrained = run(pools(true), Some(budget));
    let line = |label: &str, outcome: &Outcome| {
        println!(
            "{label:<44} cost {:>9} micros  makespan {:>8.1} s  {}  tasks per pool {:?}",
            outcome.cost_micros,
            outcome.makespan_s,
            if outcome.finished {
                "finished"
            } else {
                "NOT FINISHED"
            },
            outcome.per_pool
        );
    };
    println!("== a {N_TASKS}-task layered DAG (seed {SEED}) run live through the engine");
    line("on demand only, no budget (reference)", &reference);
    line("local + on demand + spot, no budget", &free);
    line(
        &format!("the same under a budget of {budget} (70 %)"),
        &constrained,
    );
    println!(
        "under the budget: cost / budget {:.3}, cost / reference {:.3}, makespan / unconstrained (same pools) {:.3}, makespan / reference {:.3}",
        constrained.cost_micros as f64 / budget as f64,
        constrained.cost_micros as f64 / reference.cost_micros as f64,
        constrained.makespan_s / free.makespan_s,
        constrained.makespan_s / reference.makespan_s,
    );
    assert!(
        constrained.finished,
        "the DAG did not finish under its budget"
    );
    assert!(
        constrained.cost_micros <= budget,
        "the DAG went over its budget"
    );
}
