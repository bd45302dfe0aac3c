//! Leading and following one PostgreSQL journal, step by step: a standby's catch-up reaches the
//! leader's state exactly and it refuses writes; promoted under a new epoch, it leads; the old
//! leader's next commit is fenced, and stepping down leaves it with what the journal holds (the
//! refused batch gone), following again.
//!
//! Needs the machine's PostgreSQL (`PURSER_TEST_POSTGRES`, `off` to skip).

use std::sync::Arc;

use purser_core::foresight::ForesightConfig;
use purser_core::{AccountConfig, AccountPath, AccountSpec, Command, LedgerLimits, UsageReport};
use purser_engine::{EngineConfig, EngineState, Op, Scope, open_state};
use purser_sched::DagConfig;
use purser_store::{Epoch, Leases, PostgresJournal, PostgresLeases, StoreError, TempDatabase};
use tokio::sync::oneshot;

const NOW_MS: u64 = 1_795_084_215_000;

fn config(standby: bool) -> EngineConfig {
    EngineConfig {
        limits: LedgerLimits::default(),
        defaults: AccountConfig::default(),
        dags: DagConfig::of_pools(Vec::new()),
        foresight: ForesightConfig::default(),
        snapshot_every_events: 1_000_000,
        standby,
    }
}

fn open(url: &str, epoch: &Epoch, standby: bool) -> EngineState {
    let (journal, _) = PostgresJournal::open(url, "main", epoch.clone()).unwrap();
    open_state(Box::new(journal), &config(standby)).unwrap().0
}

fn usage(
    tokens: u64,
    key: &str,
) -> (
    Op,
    oneshot::Receiver<Result<purser_engine::view::account::UsageView, purser_engine::EngineError>>,
) {
    let (reply, answer) = oneshot::channel();
    let op = Op::Usage(
        UsageReport {
            account_id: None,
            account: AccountPath::parse("acme").unwrap(),
            usage: [("tokens".to_string(), tokens)].into_iter().collect(),
            operation: None,
            work_units: 0,
            idempotency_key: Some(key.to_owned()),
        },
        Scope::everything(),
        reply,
    );
    (op, answer)
}

fn consumed(state: &EngineState) -> u64 {
    let id = state.ledger().lookup("acme").expect("acme exists");
    state
        .ledger()
        .account(id)
        .slots
        .first()
        .map_or(0, |slot| slot.consumed)
}

#[test]
fn a_standby_follows_takes_over_and_fences_the_old_leader() {
    let Some(database) = TempDatabase::create().expect("the machine's PostgreSQL") else {
        eprintln!("skipped: {}=off", purser_store::TEST_SERVER_ENV);
        return;
    };
    let url = database.url();
    let mut leases = PostgresLeases::connect(url).unwrap();
    let (first_epoch, second_epoch) = (Epoch::default(), Epoch::default());
    first_epoch.set(leases.try_acquire("main", "first", "", 60_000).unwrap());
    let mut leader = open(url, &first_epoch, false);
    let mut standby = open(url, &second_epoch, true);
    assert!(leader.is_leader() && !standby.is_leader());

    let (reply, _) = oneshot::channel();
    let put = Op::Manage(
        Command::UpsertAccount {
            path: AccountPath::parse("acme").unwrap(),
            spec: AccountSpec {
                limits: Some([("tokens".to_string(), 1_000_000)].into_iter().collect()),
                ..AccountSpec::default()
            },
        },
        Arc::from("test"),
        reply,
    );
    let mut deliveries = Vec::new();
    let reports: Vec<Op> = (0..3).map(|n| usage(100, &format!("k{n}")).0).collect();
    leader
        .step(std::iter::once(put).chain(reports), NOW_MS, &mut deliveries)
        .unwrap();
    deliveries.clear();
    assert_eq!(standby.catch_up().unwrap(), leader.ledger().last_seq());
    assert_eq!(standby.to_snapshot(), leader.to_snapshot());
    assert_eq!(consumed(&standby), 300);

    // A write reaching the standby is dropped: its caller hears the engine unavailable.
    let (op, mut answer) = usage(5, "on-standby");
    standby.step([op], NOW_MS, &mut deliveries).unwrap();
    assert!(deliveries.is_empty() && answer.try_recv().is_err());
    assert_eq!(consumed(&standby), 300);

    // The first leader pauses past its lease; the standby takes the next epoch and leads.
    leases.release("main", "first", 1).unwrap();
    second_epoch.set(leases.try_acquire("main", "second", "", 60_000).unwrap());
    assert_eq!(second_epoch.get(), Some(2));
    standby.promote().unwrap();
    assert!(standby.is_leader());
    standby
        .step([usage(7, "k-new").0], NOW_MS + 1, &mut deliveries)
        .unwrap();
    deliveries.clear();

    // The old leader resumes: its commit is fenced, and nothing of it is kept.
    let (op, _) = usage(1_000, "k-stale");
    let error = leader.step([op], NOW_MS + 2, &mut deliveries).unwrap_err();
    assert!(
        matches!(error, StoreError::Fenced { epoch: 1, .. }),
        "{error}"
    );
    deliveries.clear();
    leader.step_down_after(&error).unwrap();
    assert!(!leader.is_leader());
    assert_eq!(consumed(&leader), 307);
    assert_eq!(leader.to_snapshot(), standby.to_snapshot());

    // And it follows its successor from there.
    standby
        .step([usage(11, "k-later").0], NOW_MS + 3, &mut deliveries)
        .unwrap();
    deliveries.clear();
    leader.catch_up().unwrap();
    assert_eq!(consumed(&leader), 318);
    assert_eq!(leader.to_snapshot(), standby.to_snapshot());
}
