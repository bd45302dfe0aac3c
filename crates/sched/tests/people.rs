//! Plans with people: a person's task starts within working hours and its work pauses for
//! nights, weekends and holidays, daylight saving included; the plan is checked by `verify_at`.

use proptest::prelude::*;
use purser_sched::{
    Algorithm, PlanOptions, Platform, Pool, PoolKind, Weights, WorkingHours, plan_with,
    random_layered_workflow, verify_at,
};

fn ms(text: &str) -> u64 {
    text.parse::<jiff::Timestamp>().unwrap().as_millisecond() as u64
}

fn platform() -> Platform {
    let hours = WorkingHours::parse(
        "09:00-17:00",
        "mon-fri",
        "Europe/Berlin",
        &["2026-12-25".into()],
    )
    .unwrap();
    Platform {
        bandwidth_mbps: 1000.0,
        pools: vec![
            Pool::local("local", 2, 8),
            Pool {
                kind: PoolKind::People(hours),
                ..Pool::local("reviewers", 2, 1)
            },
        ],
    }
}

fn options(algorithm: Algorithm, start_ms: u64) -> PlanOptions {
    PlanOptions {
        start_ms,
        ..PlanOptions::new(algorithm, 1, Weights::MAKESPAN)
    }
}

#[test]
fn an_approval_that_spans_the_weekend_resumes_on_monday() {
    let text = r#"{"tasks": [
        {"id": "build", "runtime_ms": 600000},
        {"id": "approve", "runtime_ms": 14400000, "person": true, "depends_on": ["build"]},
        {"id": "deploy", "runtime_ms": 600000, "depends_on": ["approve"]}
    ]}"#;
    let workflow = purser_sched::parse_workflow(text, purser_sched::WorkflowFormat::Dag).unwrap();
    let platform = platform();
    // Friday 2026-12-04, 16:00 in Berlin.
    let start = ms("2026-12-04T15:00:00Z");
    for algorithm in [Algorithm::Heft, Algorithm::Purser] {
        let plan = plan_with(&workflow, &platform, &options(algorithm, start)).unwrap();
        verify_at(&workflow, &platform, &plan, start).unwrap();
        let at = |id: &str| {
            let entry = plan.tasks.iter().find(|entry| entry.id == id).unwrap();
            (
                start + (entry.start_s * 1e3).round() as u64,
                start + (entry.finish_s * 1e3).round() as u64,
                entry.machine.clone(),
            )
        };
        let (approve_start, approve_end, reviewer) = at("approve");
        assert!(reviewer.starts_with("reviewers"), "{reviewer}");
        assert_eq!(approve_start, ms("2026-12-04T15:10:00Z"));
        // 50 minutes on Friday, 3 h 10 on Monday from 09:00 Berlin (08:00 UTC).
        assert_eq!(approve_end, ms("2026-12-07T11:10:00Z"));
        let (deploy_start, _, machine) = at("deploy");
        assert!(machine.starts_with("local"), "{machine}");
        assert!(deploy_start >= approve_end);
    }
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(24))]

    /// Random workflows with random people's tasks, started at random moments around the
    /// daylight saving changes and Christmas: every plan verifies against the calendar.
    #[test]
    fn plans_with_people_verify(
        seed in 0u64..1_000,
        people in proptest::collection::vec(any::<bool>(), 40),
        start in prop::sample::select(vec![
            "2026-03-27T16:00:00Z", "2026-10-23T14:30:00Z", "2026-12-24T10:00:00Z",
            "2026-06-13T02:00:00Z",
        ]),
    ) {
        let mut tasks = random_layered_workflow(40, seed).tasks().to_vec();
        for (task, person) in tasks.iter_mut().zip(people) {
            task.person = person;
        }
        let workflow = purser_sched::Workflow::new("people", tasks).unwrap();
        let platform = platform();
        let start = ms(start);
        for algorithm in [Algorithm::Heft, Algorithm::Purser] {
            let plan = plan_with(&workflow, &platform, &options(algorithm, start)).unwrap();
            prop_assert_eq!(verify_at(&workflow, &platform, &plan, start), Ok(()));
        }
    }
}
