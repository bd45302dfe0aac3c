//! The rules of the live DAG state, one small case each. Every step also checks the indexes
//! against a rebuild and that replaying the events so far gives the same state.

use super::*;
use crate::state::TaskState::{self, *};

pub(super) const TTL: u64 = 1_000;

pub(super) fn pool(name: &str, machines: u32, cores: u64) -> Pool {
    Pool {
        name: name.into(),
        machines,
        capacity: Resources::cores(cores),
        speed: 1.0,
        on_demand_per_hour_micros: 0,
        spot_per_hour_micros: None,
        startup_s: 0.0,
        interruptions_per_hour: 0.0,
        kind: Default::default(),
    }
}

pub(super) fn config(pools: Vec<Pool>) -> DagConfig {
    DagConfig {
        pools,
        weights: Weights::default(),
        lease_ttl_ms: TTL,
        quotas: None,
        limit_ranges: LimitRanges::default(),
        limits: DagLimits::default(),
        custom_dimensions: Vec::new(),
    }
}

pub(super) fn task(name: &str, depends_on: &[&str]) -> TaskRequest {
    TaskRequest {
        name: name.into(),
        runtime_ms: 1_000,
        requests: Resources::cores(1),
        depends_on: depends_on.iter().map(|dep| dep.to_string()).collect(),
        priority: None,
        checkpointing: false,
        max_attempts: None,
        account: None,
        needs: Default::default(),
        custom_requests: Vec::new(),
    }
}

pub(super) fn dag(tenant: &str, tasks: Vec<TaskRequest>) -> SubmitDag {
    SubmitDag {
        name: None,
        tenant: tenant.into(),
        priority: 0,
        idempotency_key: None,
        tasks,
        account: None,
    }
}

/// A state with its journal: every step is checked against a rebuild and a replay.
pub(super) struct Run {
    pub state: DagState,
    journal: Vec<DagEvent>,
    pub now: u64,
    /// Where charged DAGs take their holds (`tests_charge.rs`).
    pub budget: super::tests_charge::TestBudget,
}

impl Run {
    pub(super) fn new(config: DagConfig) -> Run {
        Run {
            state: DagState::new(config).unwrap(),
            journal: Vec::new(),
            now: 1_000_000,
            budget: Default::default(),
        }
    }

    pub(super) fn local(cores: u64) -> Run {
        Run::new(config(vec![pool("local", 1, cores)]))
    }

    pub(super) fn try_apply(
        &mut self,
        command: DagCommand,
    ) -> Result<(DagAnswer, Vec<DagEvent>), DagError> {
        let before = self.state.to_snapshot();
        let outcome = self.state.apply_with(command, self.now, &mut self.budget);
        match &outcome {
            Ok((_, events)) => {
                self.budget.settle(events);
                for event in events {
                    if let Some(moved) = event.task_move() {
                        assert!(moved.from.can_move_to(moved.to), "{moved:?}");
                    }
                }
                self.journal.extend(events.iter().cloned());
            }
            // Invariant: a refused command changes nothing.
            Err(_) => assert_eq!(self.state.to_snapshot(), before),
        }
        self.state.check_invariants().unwrap();
        let mut replayed = DagState::new(self.state.config.clone()).unwrap();
        for event in &self.journal {
            replayed.replay(event).unwrap();
        }
        assert_eq!(replayed.to_snapshot(), self.state.to_snapshot());
        outcome
    }

    pub(super) fn apply(&mut self, command: DagCommand) -> (DagAnswer, Vec<DagEvent>) {
        self.try_apply(command).unwrap()
    }

    pub(super) fn submit(&mut self, request: SubmitDag) -> u64 {
        match self.apply(DagCommand::Submit(request)).0 {
            DagAnswer::Submitted { dag, .. } => dag,
            other => panic!("submit answered {other:?}"),
        }
    }

    pub(super) fn lease(&mut self, worker: &str) -> Option<TaskRef> {
        match self.apply(DagCommand::Lease {
            worker: worker.into(),
        }) {
            (DagAnswer::Leased(task), _) => task,
            other => panic!("lease answered {other:?}"),
        }
    }

    pub(super) fn complete(&mut self, task: TaskRef) {
        self.apply(DagCommand::Complete {
            task,
            attempt: None,
        });
    }

    pub(super) fn tick_at(&mut self, now: u64) -> (DagAnswer, Vec<DagEvent>) {
        self.now = now;
        self.apply(DagCommand::Tick)
    }

    pub(super) fn states(&self, dag: u64) -> Vec<TaskState> {
        let dag = self.state.dag(dag).unwrap();
        dag.tasks.iter().map(|task| task.state).collect()
    }

    pub(super) fn name(&self, task: TaskRef) -> &str {
        &self.state.task(task).unwrap().1.spec.name
    }
}

pub(super) fn at(dag: u64, task: u32) -> TaskRef {
    TaskRef { dag, task }
}

fn moves(events: &[DagEvent]) -> Vec<(TaskState, TaskState)> {
    events
        .iter()
        .filter_map(DagEvent::task_move)
        .map(|moved| (moved.from, moved.to))
        .collect()
}

#[test]
fn replay_refuses_an_illegal_transition() {
    let mut run = Run::local(2);
    let dag = run.submit(dag("acme", vec![task("a", &[]), task("b", &["a"])]));
    let illegal = |from, to| {
        DagEvent::Moved(TaskMove {
            task: at(dag, 1),
            from,
            to,
            machine: Some(0),
            lease_expires_ms: 0,
            error: None,
            at_ms: 0,
        })
    };
    // QUEUED cannot jump to RUNNING, and the journal must say the state the task is in.
    for event in [illegal(Queued, Running), illegal(Eligible, Scheduled)] {
        let err = run.state.clone().replay(&event).unwrap_err();
        assert!(matches!(err, DagError::Replay(_)), "{err}");
    }
}

#[test]
fn complete_makes_children_eligible_once_every_parent_is_done() {
    let mut run = Run::local(4);
    let dag = run.submit(dag(
        "acme",
        vec![
            task("a", &[]),
            task("b", &["a"]),
            task("c", &["a"]),
            task("d", &["b", "c"]),
        ],
    ));
    assert_eq!(run.states(dag), [Eligible, Queued, Queued, Queued]);
    assert_eq!(run.lease("local-0"), Some(at(dag, 0)));
    assert_eq!(run.lease("local-0"), None);
    let (_, events) = run.apply(DagCommand::Complete {
        task: at(dag, 0),
        attempt: Some(1),
    });
    assert_eq!(
        moves(&events),
        [(Running, Completed), (Queued, Eligible), (Queued, Eligible)]
    );
    let b = run.lease("local-0").unwrap();
    let c = run.lease("local#0").unwrap();
    assert_eq!((run.name(b), run.name(c)), ("b", "c"));
    run.complete(b);
    assert_eq!(run.states(dag)[3], Queued, "d still waits for c");
    run.complete(c);
    let d = run.lease("local-0").unwrap();
    run.complete(d);
    assert_eq!(run.state.dag(dag).unwrap().status(), DagStatus::Completed);
}

#[test]
fn an_expired_lease_returns_the_task_to_eligible() {
    let mut run = Run::local(2);
    let dag = run.submit(dag("acme", vec![task("a", &[])]));
    run.lease("local-0").unwrap();
    let (_, events) = run.tick_at(run.now + TTL - 1);
    assert!(events.is_empty(), "not yet: {events:?}");
    let (answer, events) = run.tick_at(run.now + 1);
    assert_eq!(
        answer,
        DagAnswer::Ticked {
            expired: 1,
            placed: 0
        }
    );
    assert_eq!(
        moves(&events),
        [(Running, Preempted), (Preempted, Eligible)]
    );
    assert_eq!(run.states(dag), [Eligible]);
    assert_eq!(run.state.machines[0].used, Resources::ZERO);
    // The worker is back: the next lease is the second attempt.
    assert_eq!(run.lease("local-0"), Some(at(dag, 0)));
    assert_eq!(run.state.task(at(dag, 0)).unwrap().1.attempts, 2);
}

#[test]
fn heartbeats_keep_the_lease_and_an_unleased_placement_goes_back() {
    let mut run = Run::local(2);
    let dag = run.submit(dag("acme", vec![task("a", &[]), task("b", &[])]));
    // One lease places both tasks on the machine; the worker takes one.
    assert_eq!(run.lease("local-0"), Some(at(dag, 0)));
    assert_eq!(run.states(dag), [Running, Scheduled]);
    run.now += TTL / 2;
    run.apply(DagCommand::Heartbeat {
        task: at(dag, 0),
        attempt: None,
    });
    let (_, events) = run.tick_at(run.now + TTL / 2);
    assert_eq!(
        moves(&events),
        [(Scheduled, Eligible)],
        "only b's placement ran out"
    );
    assert_eq!(run.states(dag), [Running, Eligible]);
    // The worker was last seen a TTL ago: nothing is placed on its machine.
    let (_, events) = run.tick_at(run.now + 1);
    assert!(events.is_empty(), "{events:?}");
}

#[test]
fn fail_retries_while_attempts_remain_then_cancels_descendants() {
    let mut run = Run::local(1);
    let mut first = task("a", &[]);
    first.max_attempts = Some(2);
    let dag = run.submit(dag(
        "acme",
        vec![first, task("b", &["a"]), task("c", &["b"]), task("x", &[])],
    ));
    let a = run.lease("local-0").unwrap();
    let fail = |retryable| DagCommand::Fail {
        task: a,
        attempt: None,
        error: "out of memory".into(),
        retryable,
    };
    let (_, events) = run.apply(fail(true));
    assert_eq!(moves(&events), [(Running, Failed), (Failed, Eligible)]);
    assert_eq!(run.lease("local-0"), Some(a));
    let (_, events) = run.apply(fail(true));
    assert_eq!(
        moves(&events),
        [(Running, Failed), (Queued, Cancelled), (Queued, Cancelled)],
        "attempts are used up"
    );
    let (_, live) = run.state.task(a).unwrap();
    assert_eq!(live.error.as_deref(), Some("out of memory"));
    assert_eq!(run.state.dag(dag).unwrap().status(), DagStatus::Running);
    let x = run.lease("local-0").unwrap();
    run.complete(x);
    assert_eq!(run.states(dag), [Failed, Cancelled, Cancelled, Completed]);
    assert_eq!(run.state.dag(dag).unwrap().status(), DagStatus::Failed);

    // A fail that is not retryable ends the task at once, whatever attempts remain.
    let other = run.submit(dag_named("acme", "second"));
    let task_ref = run.lease("local-0").unwrap();
    let (_, events) = run.apply(DagCommand::Fail {
        task: task_ref,
        attempt: Some(1),
        error: "bad input".into(),
        retryable: false,
    });
    assert_eq!(moves(&events), [(Running, Failed)]);
    assert_eq!(run.state.dag(other).unwrap().status(), DagStatus::Failed);
}

pub(super) fn dag_named(tenant: &str, name: &str) -> SubmitDag {
    SubmitDag {
        name: Some(name.into()),
        ..dag(tenant, vec![task("only", &[])])
    }
}

#[test]
fn a_checkpoint_is_kept_when_the_task_is_requeued() {
    let mut run = Run::local(1);
    let mut resumable = task("a", &[]);
    resumable.checkpointing = true;
    let dag = run.submit(dag("acme", vec![resumable, task("plain", &[])]));
    let a = run.lease("local-0").unwrap();
    run.apply(DagCommand::Checkpoint {
        task: a,
        attempt: Some(1),
        checkpoint: "step-3".into(),
    });
    run.tick_at(run.now + TTL);
    assert_eq!(run.states(dag)[0], Eligible);
    assert_eq!(
        run.lease("local-0"),
        Some(a),
        "equal ranks: the older task first"
    );
    let (_, live) = run.state.task(a).unwrap();
    assert_eq!(
        (live.checkpoint.as_deref(), live.attempts),
        (Some("step-3"), 2)
    );
    run.complete(a);
    let plain = run.lease("local-0").unwrap();
    let err = run
        .try_apply(DagCommand::Checkpoint {
            task: plain,
            attempt: None,
            checkpoint: "x".into(),
        })
        .unwrap_err();
    assert_eq!(err, DagError::NotCheckpointing { task: plain });
}

#[test]
fn only_the_running_attempt_may_report() {
    let mut run = Run::local(1);
    let dag = run.submit(dag("acme", vec![task("a", &[]), task("b", &["a"])]));
    let a = run.lease("local-0").unwrap();
    run.tick_at(run.now + TTL);
    assert_eq!(run.lease("local-0"), Some(a));
    let check = |run: &mut Run, command, expected: DagError| {
        assert_eq!(run.try_apply(command).unwrap_err(), expected);
    };
    let stale = DagError::StaleAttempt {
        task: a,
        given: 1,
        current: 2,
    };
    check(
        &mut run,
        DagCommand::Complete {
            task: a,
            attempt: Some(1),
        },
        stale.clone(),
    );
    check(
        &mut run,
        DagCommand::Heartbeat {
            task: a,
            attempt: Some(1),
        },
        stale,
    );
    let b = at(dag, 1);
    check(
        &mut run,
        DagCommand::Complete {
            task: b,
            attempt: None,
        },
        DagError::NotRunning {
            task: b,
            state: "QUEUED",
            why: None,
        },
    );
    check(
        &mut run,
        DagCommand::Heartbeat {
            task: at(dag, 9),
            attempt: None,
        },
        DagError::TaskNotFound(at(dag, 9)),
    );
    check(
        &mut run,
        DagCommand::Lease {
            worker: "local-1".into(),
        },
        DagError::WorkerNotFound("local-1".into()),
    );
}

#[test]
fn workers_name_machines_of_configured_pools() {
    let state =
        DagState::new(config(vec![pool("local", 1, 8), pool("c6i-2xlarge", 3, 8)])).unwrap();
    let check = |worker: &str, expected: Option<u32>| {
        assert_eq!(state.worker_machine(worker), expected, "{worker}");
    };
    check("local-0", Some(0));
    check("local#0", Some(0));
    check("c6i-2xlarge-0", Some(1));
    check("c6i-2xlarge#2", Some(3));
    check("c6i-2xlarge-3", None);
    check("c6i-2xlarge", None);
    check("local-", None);
    check("local-+0", None);
    check("remote-0", None);
    assert_eq!(state.machine_name(3), "c6i-2xlarge#2");
}

#[test]
fn priority_then_rank_decide_who_is_placed_first() {
    let mut run = Run::local(1);
    let mut urgent = task("urgent", &[]);
    urgent.priority = Some(5);
    let mut short = task("short", &[]);
    short.runtime_ms = 10;
    let mut long = task("long", &[]);
    long.runtime_ms = 500;
    // `head` has the highest rank: its own runtime plus its child's.
    let dag = run.submit(dag(
        "acme",
        vec![
            short,
            long,
            task("head", &[]),
            task("tail", &["head"]),
            urgent,
        ],
    ));
    let mut order = Vec::new();
    while let Some(task_ref) = run.lease("local-0") {
        order.push(run.name(task_ref).to_string());
        run.complete(task_ref);
    }
    assert_eq!(order, ["urgent", "head", "tail", "long", "short"]);
    assert_eq!(run.state.dag(dag).unwrap().status(), DagStatus::Completed);
}
