//! Capacity that is not a machine: API pools whose sliding minute never passes its limits, and
//! people who start work only within their hours (daylight saving included).

use proptest::prelude::*;

use super::tests::{Run, TTL, config, dag, pool, task};
use super::*;
use crate::calendar::WorkingHours;
use crate::platform::PoolKind;
use crate::state::TaskState::*;

fn api_pool(callers: u32, requests_per_minute: u64, tokens_per_minute: u64) -> Pool {
    Pool {
        kind: PoolKind::Api {
            requests_per_minute: Some(requests_per_minute),
            tokens_per_minute: Some(tokens_per_minute),
        },
        ..pool("llm", callers, 1)
    }
}

fn people_pool(people: u32) -> Pool {
    let hours = WorkingHours::parse("09:00-17:00", "mon-fri", "Europe/Berlin", &[]).unwrap();
    Pool {
        kind: PoolKind::People(hours),
        ..pool("reviewers", people, 1)
    }
}

fn api_task(name: &str, requests: u64, tokens: u64) -> TaskRequest {
    TaskRequest {
        needs: TaskNeeds {
            requests,
            tokens,
            person: false,
        },
        ..task(name, &[])
    }
}

fn review(name: &str, runtime_ms: u64) -> TaskRequest {
    TaskRequest {
        runtime_ms,
        needs: TaskNeeds {
            person: true,
            ..TaskNeeds::default()
        },
        ..task(name, &[])
    }
}

fn ms(text: &str) -> u64 {
    text.parse::<jiff::Timestamp>().unwrap().as_millisecond() as u64
}

fn placed(run: &Run, dag: u64) -> usize {
    run.state
        .dag(dag)
        .unwrap()
        .tasks
        .iter()
        .filter(|task| matches!(task.state, Scheduled | Running))
        .count()
}

#[test]
fn an_api_pool_waits_for_its_window_to_slide() {
    let mut run = Run::new(config(vec![api_pool(4, 5, 1_000_000), pool("local", 1, 4)]));
    let tasks = (0..4)
        .map(|idx| api_task(&format!("call{idx}"), 2, 100))
        .collect();
    let dag = run.submit(dag("acme", tasks));
    for worker in ["llm-0", "llm-1", "llm-2", "llm-3", "local-0"] {
        run.lease(worker);
    }
    // Two calls of 2 requests fit in 5 a minute; a third would make 6.
    assert_eq!(placed(&run, dag), 2);
    let first: Vec<TaskRef> = (0..4)
        .map(|task| TaskRef { dag, task })
        .filter(|&task| run.state.task(task).unwrap().1.state == Running)
        .collect();
    for task in first {
        run.complete(task);
    }
    let start = run.now;
    run.now = start + 59_999;
    for worker in ["llm-0", "llm-1", "llm-2", "llm-3"] {
        run.lease(worker);
    }
    assert_eq!(placed(&run, dag), 0, "the minute has not slid yet");
    run.now = start + 60_000;
    for worker in ["llm-0", "llm-1", "llm-2", "llm-3"] {
        run.lease(worker);
    }
    assert_eq!(placed(&run, dag), 2);
    // Nothing of it ran on the local machine.
    let local = run.state.worker_machine("local-0").unwrap();
    assert!(
        run.state
            .dag(dag)
            .unwrap()
            .tasks
            .iter()
            .all(|task| task.machine != Some(local))
    );
}

#[test]
fn tasks_go_to_their_kind_of_pool_or_are_refused_naming_the_field() {
    let mut run = Run::new(config(vec![api_pool(2, 5, 100)]));
    let refused = |run: &mut Run, task: TaskRequest| match run
        .try_apply(DagCommand::Submit(dag("acme", vec![task])))
    {
        Err(DagError::Invalid { field, .. }) => field,
        other => panic!("{other:?}"),
    };
    assert_eq!(refused(&mut run, review("r", 1)), "tasks[0].person");
    assert_eq!(refused(&mut run, api_task("big", 6, 1)), "tasks[0].uses");
    assert_eq!(refused(&mut run, task("plain", &[])), "tasks[0].requests");
    let mut run = Run::new(config(vec![pool("local", 1, 4)]));
    assert_eq!(refused(&mut run, api_task("call", 1, 1)), "tasks[0].uses");
}

#[test]
fn people_start_only_within_working_hours_and_work_across_the_night() {
    let mut run = Run::new(config(vec![people_pool(2), pool("local", 1, 4)]));
    // Saturday 2026-12-05, 10:00 in Berlin.
    run.now = ms("2026-12-05T09:00:00Z");
    let dag = run.submit(dag("acme", vec![review("approve", 4 * 3_600_000)]));
    assert_eq!(run.lease("reviewers-0"), None, "nobody works on Saturday");
    assert_eq!(run.states(dag), [Eligible]);
    // Monday 16:00: the four hours end on Tuesday at 12:00, the lease one TTL later.
    run.now = ms("2026-12-07T15:00:00Z");
    let leased = run.lease("reviewers-0").unwrap();
    let (_, live) = run.state.task(leased).unwrap();
    assert_eq!(live.lease_expires_ms, ms("2026-12-08T11:00:00Z") + TTL);
    // A heartbeat in the evening does not cut the lease short.
    run.now = ms("2026-12-07T18:00:00Z");
    run.apply(DagCommand::Heartbeat {
        task: leased,
        attempt: None,
    });
    let (_, live) = run.state.task(leased).unwrap();
    assert_eq!(live.lease_expires_ms, ms("2026-12-08T11:00:00Z") + TTL);
    run.complete(leased);
    assert_eq!(run.states(dag), [Completed]);
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(48))]

    /// Whatever arrives when: no sliding minute of an API pool carries more than its limits.
    #[test]
    fn no_sliding_minute_passes_an_api_pools_limits(
        steps in proptest::collection::vec((0u8..4, 0u64..4, 0u64..30_000, 1u64..4, 1u64..400), 1..120),
    ) {
        let (rpm, tpm) = (7, 1_000);
        let mut run = Run::new(config(vec![api_pool(4, rpm, tpm)]));
        let mut placements: Vec<(u64, u64, u64)> = Vec::new();
        let mut running: Vec<TaskRef> = Vec::new();
        for (kind, pick, advance, requests, tokens) in steps {
            run.now += advance;
            let command = match kind {
                0 => DagCommand::Submit(dag("acme", vec![api_task("call", requests, tokens)])),
                1 => DagCommand::Lease { worker: format!("llm-{pick}") },
                2 if !running.is_empty() => {
                    let task = running.remove(pick as usize % running.len());
                    DagCommand::Complete { task, attempt: None }
                }
                _ => DagCommand::Tick,
            };
            let Ok((_, events)) = run.try_apply(command) else { continue };
            for event in &events {
                if let DagEvent::Moved(moved) = event {
                    if moved.to == Scheduled {
                        let (requests, tokens) = run.state.api_use(moved.task);
                        placements.push((moved.at_ms, requests, tokens));
                    }
                    if moved.to == Running {
                        running.push(moved.task);
                    }
                    if moved.from == Running {
                        running.retain(|task| *task != moved.task);
                    }
                }
            }
        }
        for &(end, ..) in &placements {
            let (requests, tokens) = placements
                .iter()
                .filter(|(at, ..)| *at + API_WINDOW_MS > end && *at <= end)
                .fold((0, 0), |(r, t), (_, req, tok)| (r + req, t + tok));
            prop_assert!(requests <= rpm && tokens <= tpm, "minute to {end}: {requests} requests, {tokens} tokens");
        }
    }

    /// Whatever the moment, across the spring and autumn changes of daylight saving: a person
    /// is handed a task (placed or leased) only within working hours.
    #[test]
    fn no_human_task_starts_outside_working_hours(
        start in prop::sample::select(vec![
            "2026-03-27T06:00:00Z", "2026-10-23T06:00:00Z", "2026-12-24T06:00:00Z",
        ]),
        steps in proptest::collection::vec((0u8..4, 0u64..2, 0u64..14_400_000), 1..80),
    ) {
        let hours = WorkingHours::parse("09:00-17:00", "mon-fri", "Europe/Berlin", &[]).unwrap();
        let mut run = Run::new(config(vec![people_pool(2)]));
        run.now = ms(start);
        let mut running: Vec<TaskRef> = Vec::new();
        for (kind, pick, advance) in steps {
            run.now += advance;
            let command = match kind {
                0 => DagCommand::Submit(dag("acme", vec![review("review", advance.max(1))])),
                1 => DagCommand::Lease { worker: format!("reviewers-{pick}") },
                2 if !running.is_empty() => {
                    let task = running.remove(pick as usize % running.len());
                    DagCommand::Complete { task, attempt: None }
                }
                _ => DagCommand::Tick,
            };
            let Ok((_, events)) = run.try_apply(command) else { continue };
            for event in &events {
                if let DagEvent::Moved(moved) = event {
                    if matches!(moved.to, Scheduled | Running) {
                        prop_assert!(
                            hours.is_working(moved.at_ms),
                            "{} handed out at {}", moved.task, moved.at_ms
                        );
                    }
                    if moved.to == Running {
                        running.push(moved.task);
                    }
                    if moved.from == Running {
                        running.retain(|task| *task != moved.task);
                    }
                }
            }
        }
    }
}

/// A pool of two CAD machines with one license each, and a local machine without licenses.
fn licensed() -> Run {
    let mut cad = pool("cad", 2, 8);
    cad.capacity.custom[0] = 1;
    let mut config = config(vec![cad, pool("local", 1, 8)]);
    config.custom_dimensions = vec!["licenses".into()];
    Run::new(config)
}

fn with_license(name: &str) -> TaskRequest {
    TaskRequest {
        custom_requests: vec![("licenses".into(), 1)],
        ..task(name, &[])
    }
}

#[test]
fn custom_dimensions_are_held_like_cores() {
    let mut run = licensed();
    let tasks = (0..3)
        .map(|idx| with_license(&format!("render{idx}")))
        .collect();
    let dag = run.submit(dag("acme", tasks));
    for worker in ["cad-0", "cad-1", "local-0"] {
        run.lease(worker);
    }
    // One license per machine: two run, the third waits; none on the local machine.
    assert_eq!(placed(&run, dag), 2);
    let local = run.state.worker_machine("local-0").unwrap();
    let found = run.state.dag(dag).unwrap();
    assert!(found.tasks.iter().all(|task| task.machine != Some(local)));
    assert_eq!(
        run.state.custom_requests(&found.tasks[0].spec.requests),
        [("licenses".to_string(), 1)]
    );
    // The custom requests survive a snapshot (the journal's `Dag` leaves them out).
    let snapshot = run.state.to_snapshot();
    let restored = DagState::from_snapshot(run.state.config.clone(), snapshot.clone()).unwrap();
    assert_eq!(restored.to_snapshot(), snapshot);
    restored.check_invariants().unwrap();
}

#[test]
fn a_quota_on_a_custom_dimension_and_an_unknown_one() {
    let mut run = licensed();
    let mut quotas = crate::quota::Quotas::default();
    quotas.set(
        "acme",
        "cad",
        crate::resources::Dimension::Custom(0),
        crate::quota::QuotaLimit {
            nominal: 1,
            borrowing_limit: Some(0),
            lending_limit: None,
        },
    );
    run.state.config.quotas = Some(quotas);
    let dag = run.submit(dag("acme", vec![with_license("a"), with_license("b")]));
    for worker in ["cad-0", "cad-1"] {
        run.lease(worker);
    }
    assert_eq!(placed(&run, dag), 1, "the tenant's quota is one license");
    let typo = TaskRequest {
        custom_requests: vec![("licenzes".into(), 1)],
        ..task("c", &[])
    };
    match run.try_apply(DagCommand::Submit(dag_of(vec![typo]))) {
        Err(DagError::UnknownField { field, message }) => {
            assert_eq!(field, "tasks[0].requests.licenzes");
            assert!(message.contains("licenses"), "{message}");
        }
        other => panic!("{other:?}"),
    }
}

fn dag_of(tasks: Vec<TaskRequest>) -> SubmitDag {
    dag("acme", tasks)
}
