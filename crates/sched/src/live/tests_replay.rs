//! Property: whatever workers and the clock do, replaying the journaled events gives the live
//! state (also from a snapshot taken midway), the indexes agree with a rebuild after every
//! step, every move is a legal transition, and quotas are never overshot.

use proptest::prelude::*;

use super::tests::{config, dag, pool, task};
use super::*;
use crate::quota::QuotaLimit;
use crate::resources::Dimension;

#[derive(Debug, Clone)]
enum Step {
    Submit {
        tenant: u8,
        /// Per task: its parents among the earlier tasks (bit i = task i), cores, checkpointing.
        tasks: Vec<(u8, u64, bool)>,
        key: Option<u8>,
    },
    Lease(u8),
    Heartbeat(u8),
    Checkpoint(u8),
    Complete(u8),
    Fail(u8, bool),
    Tick(u64),
}

fn step() -> impl Strategy<Value = Step> {
    prop_oneof![
        (
            0u8..3,
            prop::collection::vec((any::<u8>(), 1u64..3, any::<bool>()), 1..6),
            prop::option::of(0u8..3),
        )
            .prop_map(|(tenant, tasks, key)| Step::Submit { tenant, tasks, key }),
        (0u8..4).prop_map(Step::Lease),
        (0u8..4).prop_map(Step::Lease),
        any::<u8>().prop_map(Step::Heartbeat),
        any::<u8>().prop_map(Step::Checkpoint),
        any::<u8>().prop_map(Step::Complete),
        (any::<u8>(), any::<bool>()).prop_map(|(pick, retryable)| Step::Fail(pick, retryable)),
        (0u64..1_500).prop_map(Step::Tick),
    ]
}

const WORKERS: [&str; 4] = ["local-0", "cloud-0", "cloud-1", "nowhere-0"];
const TENANTS: [&str; 3] = ["acme", "beta", "gamma"];

fn test_config() -> DagConfig {
    let mut cloud = pool("cloud", 2, 2);
    cloud.speed = 2.0;
    cloud.on_demand_per_hour_micros = 340_000;
    let mut config = config(vec![pool("local", 1, 4), cloud]);
    let mut quotas = Quotas::default();
    let limit = QuotaLimit {
        nominal: 2,
        borrowing_limit: Some(1),
        lending_limit: Some(1),
    };
    quotas.set("acme", "cloud", Dimension::Cores, limit);
    quotas.set("beta", "cloud", Dimension::Cores, limit);
    config.quotas = Some(quotas);
    config.limits.dags_max = 4;
    config.limits.tasks_max = 16;
    config
}

/// The `pick`-th RUNNING task, if any runs.
fn running(state: &DagState, pick: u8) -> Option<TaskRef> {
    let all: Vec<TaskRef> = state
        .expiry
        .iter()
        .map(|&(_, task)| task)
        .filter(|&task| state.task(task).unwrap().1.state == TaskState::Running)
        .collect();
    (!all.is_empty()).then(|| all[pick as usize % all.len()])
}

fn command(state: &DagState, step: &Step) -> Option<DagCommand> {
    Some(match step {
        Step::Submit { tenant, tasks, key } => {
            let requests = tasks
                .iter()
                .enumerate()
                .map(|(idx, &(parents, cores, checkpointing))| {
                    let names: Vec<String> = (0..idx.min(8))
                        .filter(|parent| parents & (1 << parent) != 0)
                        .map(|parent| format!("t{parent}"))
                        .collect();
                    let names: Vec<&str> = names.iter().map(String::as_str).collect();
                    let mut request = task(&format!("t{idx}"), &names);
                    request.requests = Resources::cores(cores);
                    request.checkpointing = checkpointing;
                    request.max_attempts = Some(2);
                    request
                })
                .collect();
            let mut request = dag(TENANTS[*tenant as usize], requests);
            request.idempotency_key = key.map(|key| format!("k{key}"));
            DagCommand::Submit(request)
        }
        Step::Lease(worker) => DagCommand::Lease {
            worker: WORKERS[*worker as usize].into(),
        },
        Step::Heartbeat(pick) => DagCommand::Heartbeat {
            task: running(state, *pick)?,
            attempt: None,
        },
        Step::Checkpoint(pick) => DagCommand::Checkpoint {
            task: running(state, *pick)?,
            attempt: None,
            checkpoint: format!("at-{pick}"),
        },
        Step::Complete(pick) => {
            let task = running(state, *pick)?;
            DagCommand::Complete {
                task,
                attempt: Some(state.task(task).unwrap().1.attempts),
            }
        }
        Step::Fail(pick, retryable) => DagCommand::Fail {
            task: running(state, *pick)?,
            attempt: None,
            error: "boom".into(),
            retryable: *retryable,
        },
        Step::Tick(_) => DagCommand::Tick,
    })
}

/// Cores each quota-managed tenant holds on the cloud pool now.
fn cloud_cores(state: &DagState, tenant: &str) -> u64 {
    state
        .expiry
        .iter()
        .filter_map(|&(_, task_ref)| {
            let (dag, task) = state.task(task_ref).unwrap();
            let machine = &state.machines[task.machine.unwrap() as usize];
            (dag.tenant == tenant && machine.pool == 1).then_some(task.spec.requests.cores)
        })
        .sum()
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(96))]

    #[test]
    fn replay_gives_the_live_state(steps in prop::collection::vec(step(), 1..80)) {
        let config = test_config();
        let mut live = DagState::new(config.clone()).unwrap();
        let mut journal: Vec<DagEvent> = Vec::new();
        let mut midway: Option<(DagSnapshot, usize)> = None;
        let mut now = 1_000u64;
        for (idx, step) in steps.iter().enumerate() {
            if let Step::Tick(advance) = step {
                now += advance;
            } else {
                now += 10;
            }
            let Some(command) = command(&live, step) else { continue };
            let before = live.to_snapshot();
            match live.apply(command, now) {
                Ok((_, events)) => {
                    for event in &events {
                        if let Some(moved) = event.task_move() {
                            prop_assert!(moved.from.can_move_to(moved.to), "{:?}", moved);
                        }
                    }
                    journal.extend(events);
                }
                Err(_) => prop_assert_eq!(live.to_snapshot(), before),
            }
            prop_assert_eq!(live.check_invariants(), Ok(()));
            // A borrowing limit of 1 on a nominal of 2: at most 3 cores each.
            prop_assert!(cloud_cores(&live, "acme") <= 3);
            prop_assert!(cloud_cores(&live, "beta") <= 3);
            if idx == steps.len() / 2 {
                midway = Some((live.to_snapshot(), journal.len()));
            }
        }
        let mut replayed = DagState::new(config.clone()).unwrap();
        for event in &journal {
            replayed.replay(event).unwrap();
        }
        prop_assert_eq!(replayed.to_snapshot(), live.to_snapshot());
        prop_assert_eq!(replayed.check_invariants(), Ok(()));
        if let Some((snapshot, n_events)) = midway {
            let mut resumed = DagState::from_snapshot(config, snapshot).unwrap();
            for event in &journal[n_events..] {
                resumed.replay(event).unwrap();
            }
            prop_assert_eq!(resumed.to_snapshot(), live.to_snapshot());
        }
    }
}
