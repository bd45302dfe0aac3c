//! Snapshots written by the follower thread (SQLite journals) hold exactly the state a replay of
//! the journal from the start reaches at their seq, and the writer's own thread never writes
//! one.

use std::sync::Arc;
use std::sync::atomic::Ordering::Relaxed;
use std::time::{Duration, Instant};

use purser_core::foresight::ForesightConfig;
use purser_core::{AccountConfig, AccountPath, AccountSpec, Command, LedgerLimits, UsageReport};
use purser_engine::record::{StateSnapshot, decode_records, decode_snapshot, encode_snapshot};
use purser_engine::{EngineConfig, Op, Record, Scope, open_state};
use purser_sched::{DagConfig, DagState};
use purser_store::{Durability, Journal, SqliteJournal};
use tokio::sync::oneshot;

const EVERY: u64 = 200;

fn config() -> EngineConfig {
    EngineConfig {
        limits: LedgerLimits::default(),
        defaults: AccountConfig::default(),
        dags: DagConfig::of_pools(Vec::new()),
        foresight: ForesightConfig::default(),
        snapshot_every_events: EVERY,
        standby: false,
    }
}

#[test]
fn the_follower_snapshots_what_a_replay_reaches() {
    let dir = tempfile::tempdir().expect("a temporary directory");
    let file = dir.path().join("journal.sqlite");
    let (journal, _) = SqliteJournal::open(&file, Durability::Os).expect("the journal opens");
    let (mut state, _) = open_state(Box::new(journal), &config()).expect("it recovers");
    assert!(
        state.follow().expect("the follower starts"),
        "sqlite has a writer"
    );
    let stats = state.stats();
    let mut deliveries = Vec::new();
    let mut now_ms = 1_000;
    for (path, tokens) in [
        ("org", 10_000_000),
        ("org/a", 1_000_000),
        ("org/b", 1_000_000),
    ] {
        let (reply, _) = oneshot::channel();
        let spec = AccountSpec {
            limits: Some(vec![("tokens".to_string(), tokens)]),
            ..AccountSpec::default()
        };
        let op = Op::Manage(
            Command::UpsertAccount {
                path: AccountPath::parse(path).unwrap(),
                spec,
            },
            Arc::from("test"),
            reply,
        );
        state.step([op], now_ms, &mut deliveries).unwrap();
    }
    // 300 reports in batches of 10, some keyed: one snapshot (at or past 200 events), so no
    // compaction and the whole journal stays to replay.
    for batch in 0..30u64 {
        now_ms += 10;
        let ops = (0..10u64).map(|idx| {
            let (reply, _) = oneshot::channel();
            let n = batch * 10 + idx;
            Op::Usage(
                UsageReport {
                    account: AccountPath::parse(if n % 2 == 0 { "org/a" } else { "org/b" })
                        .unwrap(),
                    account_id: None,
                    usage: vec![("tokens".to_string(), 100 + n)].into(),
                    operation: None,
                    work_units: 1,
                    idempotency_key: (n % 3 == 0).then(|| format!("k{n}")),
                },
                Scope::everything(),
                reply,
            )
        });
        state.step(ops, now_ms, &mut deliveries).unwrap();
    }
    let last_seq = state.ledger().last_seq();
    assert!((EVERY..2 * EVERY).contains(&last_seq), "{last_seq} events");
    let deadline = Instant::now() + Duration::from_secs(20);
    while stats.snapshot_seq.load(Relaxed) == 0 {
        assert!(Instant::now() < deadline, "no snapshot within 20 s");
        std::thread::sleep(Duration::from_millis(20));
    }
    drop(state);
    let (mut journal, report) = SqliteJournal::open(&file, Durability::Os).expect("it reopens");
    assert!(report.is_clean(), "{report:?}");
    let snapshot = journal
        .latest_snapshot()
        .unwrap()
        .expect("the follower's snapshot");
    assert_eq!(snapshot.seq, stats.snapshot_seq.load(Relaxed));
    assert!(snapshot.seq >= EVERY);
    // Replay from the start through the snapshot's seq, the way recovery folds.
    let mut ledger = purser_core::Ledger::new(LedgerLimits::default());
    let mut dags = DagState::new(DagConfig::of_pools(Vec::new())).unwrap();
    journal
        .replay(0, &mut |batch| {
            for (idx, record) in decode_records(batch).unwrap().into_iter().enumerate() {
                let seq = batch.first_seq + idx as u64;
                if seq > snapshot.seq {
                    break;
                }
                match record {
                    Record::Ledger(event) => ledger.replay(seq, event).unwrap(),
                    Record::Note(_) => ledger.replay_foreign(seq).unwrap(),
                    Record::Dag(event) => {
                        ledger.replay_foreign(seq).unwrap();
                        dags.replay(&event).unwrap();
                    }
                }
            }
            Ok(())
        })
        .unwrap();
    decode_snapshot(&snapshot.payload).expect("the snapshot decodes");
    // Compared as encoded (derived fields such as `touched` are not kept in snapshots).
    let replayed = encode_snapshot(&StateSnapshot {
        ledger: ledger.to_snapshot(),
        dags: dags.to_snapshot(),
    });
    assert!(
        replayed == snapshot.payload,
        "the follower's snapshot ({} bytes) differs from the replay's ({} bytes)",
        snapshot.payload.len(),
        replayed.len()
    );
}
