//! An account given a budget period starts its first period in the batch that gives it one:
//! usage reported before the next tick counts in that period (the first renewal restarts the
//! window, and once forgot what came before it).

use std::sync::Arc;

use purser_core::account::{PeriodSpec, PeriodUnit};
use purser_core::foresight::ForesightConfig;
use purser_core::{AccountConfig, AccountPath, AccountSpec, Command, LedgerLimits, UsageReport};
use purser_engine::{EngineConfig, Op, Scope, open_state};
use purser_sched::DagConfig;
use purser_store::{MemJournal, MemStorage};
use tokio::sync::oneshot;

/// 2026-11-19T10:30:15Z.
const NOW_MS: u64 = 1_795_084_215_000;

#[test]
fn usage_before_the_first_tick_counts_in_the_first_period() {
    let storage = MemStorage::default();
    let (journal, _) = MemJournal::open(&storage).expect("a new journal opens");
    let config = EngineConfig {
        limits: LedgerLimits::default(),
        defaults: AccountConfig::default(),
        dags: DagConfig::of_pools(Vec::new()),
        foresight: ForesightConfig::default(),
        snapshot_every_events: 1_000_000,
        standby: false,
    };
    let (mut state, _) = open_state(Box::new(journal), &config).expect("it recovers");
    let path = AccountPath::parse("acme").unwrap();
    let spec = AccountSpec {
        limits: Some([("tokens".to_string(), 1_000)].into_iter().collect()),
        period: Some(PeriodSpec {
            every: PeriodUnit::Day,
            timezone: Arc::from("UTC"),
            rollover_max_ppm: 0,
        }),
        ..AccountSpec::default()
    };
    let (reply, _) = oneshot::channel();
    let put = Op::Manage(
        Command::UpsertAccount {
            path: path.clone(),
            spec,
        },
        Arc::from("test"),
        reply,
    );
    let (reply, _) = oneshot::channel();
    let usage = Op::Usage(
        UsageReport {
            account_id: None,
            account: path.clone(),
            usage: [("tokens".to_string(), 900)].into_iter().collect(),
            operation: None,
            work_units: 0,
            idempotency_key: None,
        },
        Scope::everything(),
        reply,
    );
    let mut deliveries = Vec::new();
    state
        .step([put, usage], NOW_MS, &mut deliveries)
        .expect("the batch commits");
    state
        .step([Op::Tick], NOW_MS + 200, &mut deliveries)
        .expect("the tick commits");
    let id = state.ledger().lookup("acme").expect("acme exists");
    let acc = state.ledger().account(id);
    let period = acc.period.as_ref().expect("the first period started");
    assert_eq!(period.end_ms, 1_795_132_800_000, "it ends at midnight UTC");
    let slot = acc.slots.first().expect("a tokens slot");
    assert_eq!(slot.period_consumed(), 900, "the usage still counts");
}
