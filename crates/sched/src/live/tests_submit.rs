//! The rules of submission: names, dependencies, limit ranges, quotas, bounds, idempotency,
//! and snapshots. Every step is checked as in `tests.rs`.

use super::tests::{Run, config, dag, dag_named, pool, task};
use super::*;
use crate::limits::LimitRange;
use crate::quota::QuotaLimit;
use crate::resources::Dimension;
use crate::state::TaskState::Eligible;

#[test]
fn bad_dags_are_refused_naming_the_field() {
    let mut run = Run::local(2);
    let check = |run: &mut Run, tasks: Vec<TaskRequest>, field: &str, fragment: &str| match run
        .try_apply(DagCommand::Submit(dag("acme", tasks)))
    {
        Err(DagError::Invalid {
            field: got,
            message,
        }) => {
            assert_eq!(got, field, "{message}");
            assert!(message.contains(fragment), "{message} lacks {fragment}");
        }
        other => panic!("expected an invalid field, got {other:?}"),
    };
    check(&mut run, vec![], "tasks", "at least one task");
    check(
        &mut run,
        vec![task("a", &["ghost"])],
        "tasks[0].depends_on[0]",
        "unknown task ghost",
    );
    check(
        &mut run,
        vec![task("a", &[]), task("a", &[])],
        "tasks[1].id",
        "appears twice",
    );
    check(
        &mut run,
        vec![task("a", &["a"])],
        "tasks[0].depends_on[0]",
        "itself",
    );
    check(
        &mut run,
        vec![
            task("root", &[]),
            task("a", &["root", "c"]),
            task("b", &["a"]),
            task("c", &["b"]),
        ],
        "tasks[1].depends_on",
        "cycle",
    );
    let mut greedy = task("a", &[]);
    greedy.max_attempts = Some(0);
    check(
        &mut run,
        vec![greedy],
        "tasks[0].max_attempts",
        "max_attempts",
    );
    check(&mut run, vec![task("", &[])], "tasks[0].id", "empty");
}

#[test]
fn limit_ranges_and_quotas_refuse_naming_tenant_pool_and_dimension() {
    let mut config = config(vec![pool("small", 1, 4), pool("big", 1, 16)]);
    let bounded = |max_cores| LimitRange {
        default: Resources::cores(2),
        min: Resources::cores(1),
        max: Resources {
            cores: max_cores,
            memory_bytes: u64::MAX,
            gpu: 0,
            ..Resources::ZERO
        },
    };
    config.limit_ranges.set("acme", "small", bounded(4));
    config.limit_ranges.set("acme", "big", bounded(2));
    // acme's quota covers small only; nobody has one on big, which is not managed.
    let mut quotas = Quotas::default();
    let quota = QuotaLimit {
        nominal: 2,
        borrowing_limit: Some(0),
        lending_limit: None,
    };
    quotas.set("acme", "small", Dimension::Cores, quota);
    config.quotas = Some(quotas);
    let mut run = Run::new(config);
    let submit = |run: &mut Run, tenant: &str, cores: u64| {
        let mut request = task("t", &[]);
        request.requests = Resources::cores(cores);
        run.try_apply(DagCommand::Submit(dag(tenant, vec![request])))
    };
    let check = |outcome: Result<(DagAnswer, Vec<DagEvent>), DagError>,
                 code: &str,
                 expected: (&str, &str, &str, u64),
                 fragment: &str| {
        let err = outcome.unwrap_err();
        let refusal = match &err {
            DagError::LimitRange(refusal)
            | DagError::NoPoolFits(refusal)
            | DagError::Quota(refusal) => refusal,
            other => panic!("expected a refusal, got {other:?}"),
        };
        assert_eq!(err.code(), code);
        assert_eq!(refusal.field, "tasks[0].requests.cores");
        let got = (
            refusal.tenant.as_str(),
            refusal.pool.as_str(),
            refusal.dimension.as_str(),
            refusal.requested,
        );
        assert_eq!(got, expected);
        assert!(err.to_string().contains(fragment), "{err} lacks {fragment}");
    };
    check(
        submit(&mut run, "acme", 6),
        "limit_range",
        ("acme", "small", "cores", 6),
        "outside [1, 4]",
    );
    check(
        submit(&mut run, "acme", 3),
        "quota_exceeded",
        ("acme", "small", "cores", 3),
        "borrowing limit reached",
    );
    // beta has no limit range, and only big has machines that large.
    let beta_dag = match submit(&mut run, "beta", 8).unwrap().0 {
        DagAnswer::Submitted { dag, .. } => dag,
        other => panic!("{other:?}"),
    };
    assert_eq!(run.state.dag(beta_dag).unwrap().tasks[0].spec.pools, 0b10);
    check(
        submit(&mut run, "beta", 32),
        "no_pool_fits",
        ("beta", "small", "cores", 32),
        "pool small has 4",
    );
    // A task without a request gets the limit range's default.
    let defaulted = run.submit(dag(
        "acme",
        vec![TaskRequest {
            requests: Resources::ZERO,
            ..task("defaulted", &[])
        }],
    ));
    assert_eq!(
        run.state.dag(defaulted).unwrap().tasks[0]
            .spec
            .requests
            .cores,
        2
    );
}

#[test]
fn a_quota_holds_tasks_back_until_the_tenant_frees_capacity() {
    let mut config = config(vec![pool("local", 1, 4)]);
    let mut quotas = Quotas::default();
    let quota = QuotaLimit {
        nominal: 1,
        borrowing_limit: Some(0),
        lending_limit: None,
    };
    quotas.set("acme", "local", Dimension::Cores, quota);
    config.quotas = Some(quotas);
    let mut run = Run::new(config);
    let dag = run.submit(dag("acme", vec![task("a", &[]), task("b", &[])]));
    let first = run.lease("local-0").unwrap();
    assert_eq!(
        run.lease("local-0"),
        None,
        "the machine has room, the quota has not"
    );
    assert_eq!(run.states(dag)[1], Eligible);
    run.complete(first);
    assert!(run.lease("local-0").is_some());
}

#[test]
fn finished_dags_are_forgotten_oldest_first_to_make_room() {
    let mut config = config(vec![pool("local", 1, 1)]);
    config.limits.dags_max = 2;
    let mut run = Run::new(config);
    let first = run.submit(dag_named("acme", "one"));
    let second = run.submit(dag_named("acme", "two"));
    let refused = run.try_apply(DagCommand::Submit(dag_named("acme", "three")));
    assert_eq!(
        refused.unwrap_err(),
        DagError::LimitReached {
            what: "dags",
            limit: 2
        }
    );
    let task_ref = run.lease("local-0").unwrap();
    assert_eq!(task_ref.dag, first);
    run.complete(task_ref);
    let (_, events) = run.apply(DagCommand::Submit(dag_named("acme", "three")));
    assert!(matches!(events[0], DagEvent::Forgotten { dag, .. } if dag == first));
    assert!(run.state.dag(first).is_none());
    assert!(run.state.dag(second).is_some());
    assert_eq!(run.state.n_dags(), 2);
}

#[test]
fn a_repeated_idempotency_key_answers_the_first_dag() {
    let mut run = Run::local(1);
    let keyed = SubmitDag {
        idempotency_key: Some("build-7".into()),
        ..dag("acme", vec![task("a", &[])])
    };
    let first = run.submit(keyed.clone());
    let (answer, events) = run.apply(DagCommand::Submit(keyed.clone()));
    assert_eq!(
        answer,
        DagAnswer::Submitted {
            dag: first,
            duplicate: true
        }
    );
    assert!(events.is_empty());
    // The key is per tenant.
    let other = run.submit(SubmitDag {
        tenant: "beta".into(),
        ..keyed
    });
    assert_ne!(other, first);
}

#[test]
fn a_snapshot_round_trips_and_rebuilds_the_same_state() {
    let mut run = Run::new(config(vec![pool("local", 2, 2)]));
    let mut resumable = task("a", &[]);
    resumable.checkpointing = true;
    run.submit(dag(
        "acme",
        vec![resumable, task("b", &["a"]), task("c", &[])],
    ));
    let a = run.lease("local-0").unwrap();
    run.apply(DagCommand::Checkpoint {
        task: a,
        attempt: None,
        checkpoint: "half".into(),
    });
    let snapshot = run.state.to_snapshot();
    let text = serde_json::to_string(&snapshot).unwrap();
    let decoded: DagSnapshot = serde_json::from_str(&text).unwrap();
    assert_eq!(decoded, snapshot);
    let loaded = DagState::from_snapshot(run.state.config.clone(), decoded).unwrap();
    loaded.check_invariants().unwrap();
    assert_eq!(loaded.to_snapshot(), snapshot);
    assert_eq!(loaded.machines[0].used, run.state.machines[0].used);
    // A config with fewer machines than the snapshot uses is refused, not half loaded.
    let err = DagState::from_snapshot(config(vec![]), snapshot);
    assert!(matches!(err, Err(DagError::Replay(_))), "{err:?}");
}
