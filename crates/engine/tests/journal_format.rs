//! The journal's format does not change by accident: a batch of every kind of record and a
//! snapshot, made from fixed commands at fixed times, encode to the bytes committed in
//! `fuzz/corpus/journal/` (where they also seed the journal fuzz target), and those bytes
//! decode and recover. `UPDATE_SNAPSHOTS=1` rewrites them after a deliberate change.

use std::path::PathBuf;

use purser_core::ledger::RulesSpec;
use purser_core::rules::{Cap, LoopRule, RunCaps, WarnOnly};
use purser_core::{
    AccountPath, AccountSpec, Command, Event, Ledger, LedgerLimits, ReserveRequest, SettleRequest,
    UsageReport,
};
use purser_engine::record::{
    self, Change, Note, Record, StateSnapshot, decode_records, decode_snapshot, encode_records,
};
use purser_engine::recover::recover;
use purser_sched::{DagCommand, DagState, Resources, SubmitDag, TaskRequest};
use purser_sched::{DagConfig, Pool};
use purser_store::{Batch, Journal, MemJournal, MemStorage, Snapshot};

const NOW_MS: u64 = 1_795_084_215_123;

fn path(text: &str) -> AccountPath {
    AccountPath::parse(text).unwrap()
}

fn dag_config() -> DagConfig {
    DagConfig::of_pools(vec![Pool::local("local", 2, 8)])
}

/// Records of every kind, in journal order, and the state they leave.
fn records() -> (Vec<Record>, Ledger, DagState) {
    let mut ledger = Ledger::new(LedgerLimits::default());
    let mut dags = DagState::new(dag_config()).unwrap();
    let mut records = Vec::new();
    let apply = |ledger: &mut Ledger, records: &mut Vec<Record>, command: Command| {
        let mut events: Vec<Event> = Vec::new();
        ledger.apply(command, NOW_MS, &mut events).unwrap();
        records.extend(events.into_iter().map(Record::Ledger));
    };
    let limits = |pairs: &[(&str, u64)]| {
        Some(
            pairs
                .iter()
                .map(|(name, value)| (name.to_string(), *value))
                .collect(),
        )
    };
    ledger.take_foreign_seq();
    records.push(Record::Note(Note {
        actor: "platform-admin".into(),
        changes: vec![Change {
            account: "acme".into(),
            field: "limits.tokens".into(),
            from: None,
            to: Some("1000000".into()),
        }],
    }));
    let spec = AccountSpec {
        limits: limits(&[("tokens", 1_000_000), ("cost_micros", 50_000_000)]),
        ..AccountSpec::default()
    };
    apply(
        &mut ledger,
        &mut records,
        Command::UpsertAccount {
            path: path("acme"),
            spec,
        },
    );
    let spec = AccountSpec {
        limits: limits(&[("tokens", 100_000)]),
        rules: Some(Box::new(RulesSpec {
            warn_only: WarnOnly::default().with(purser_core::Level::Black),
            child_defaults: Some(vec![("tokens".into(), 1_000)]),
            expires_ms: Some(NOW_MS),
            pause_at_stop: true,
            run: Some(RunCaps {
                max_turns: Some(2),
                max_wall_ms: Some(3_600_000),
                loops: Some(LoopRule {
                    repeats: 5,
                    window_ms: 60_000,
                    stop: true,
                }),
            }),
        })),
        ..AccountSpec::default()
    };
    apply(
        &mut ledger,
        &mut records,
        Command::UpsertAccount {
            path: path("acme/wf"),
            spec,
        },
    );
    let report = UsageReport {
        account_id: None,
        account: path("acme/wf"),
        usage: vec![("tokens".into(), 80_000), ("gpu_seconds".into(), 3)].into(),
        operation: Some("llm_call".into()),
        work_units: 2,
        idempotency_key: Some("call-1".into()),
    };
    apply(&mut ledger, &mut records, Command::Usage(report));
    let hold = ReserveRequest {
        account: path("acme/wf"),
        amount: vec![("tokens".into(), 1_000)],
        ttl_ms: Some(60_000),
        idempotency_key: None,
    };
    apply(&mut ledger, &mut records, Command::Reserve(hold));
    let reservation = ledger.last_seq();
    let settle = SettleRequest {
        reservation,
        usage: vec![("tokens".into(), 900)],
        operation: None,
        work_units: 1,
    };
    apply(&mut ledger, &mut records, Command::Settle(settle));
    // Budget rules: the settlement was the run's second turn (its cap); then the clock's halt of
    // the expired budget, a new run, a manual reset and a request for more, approved.
    let wf = ledger.lookup("acme/wf").unwrap();
    apply(
        &mut ledger,
        &mut records,
        Command::ReachCap {
            account: wf,
            cap: Cap::Expired,
        },
    );
    apply(
        &mut ledger,
        &mut records,
        Command::StartRun {
            path: path("acme/wf"),
        },
    );
    apply(
        &mut ledger,
        &mut records,
        Command::ResetUsage {
            path: path("acme/wf"),
        },
    );
    apply(
        &mut ledger,
        &mut records,
        Command::RequestIncrease {
            path: path("acme/wf"),
            amount: vec![("tokens".into(), 5_000)],
            reason: "a second review pass".into(),
            idempotency_key: Some("ask-1".into()),
        },
    );
    let request = ledger.last_seq();
    apply(
        &mut ledger,
        &mut records,
        Command::DecideIncrease {
            request,
            approve: true,
            note: "ok".into(),
        },
    );
    let submit = SubmitDag {
        name: Some("build".into()),
        tenant: "acme".into(),
        priority: 0,
        idempotency_key: None,
        tasks: vec![TaskRequest {
            name: "compile".into(),
            runtime_ms: 60_000,
            requests: Resources::default(),
            depends_on: Vec::new(),
            priority: None,
            checkpointing: true,
            max_attempts: None,
            account: None,
            needs: Default::default(),
            custom_requests: Vec::new(),
        }],
        account: None,
    };
    for command in [
        DagCommand::Submit(submit),
        DagCommand::Tick,
        DagCommand::Lease {
            worker: "local-0".into(),
        },
    ] {
        let (_, events) = dags.apply(command, NOW_MS).unwrap();
        for event in events {
            ledger.take_foreign_seq();
            records.push(Record::Dag(event));
        }
    }
    assert!(
        records
            .iter()
            .any(|record| matches!(record, Record::Dag(_)))
    );
    (records, ledger, dags)
}

fn corpus(name: &str) -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("../../fuzz/corpus/journal")
        .join(name)
}

/// Compares `bytes` with the committed file, or rewrites it under `UPDATE_SNAPSHOTS=1`.
fn check_fixture(name: &str, bytes: &[u8]) -> Vec<u8> {
    let file = corpus(name);
    if std::env::var_os("UPDATE_SNAPSHOTS").is_some_and(|value| value == "1") {
        std::fs::write(&file, bytes).unwrap();
    }
    let committed = std::fs::read(&file).unwrap_or_else(|err| {
        panic!(
            "cannot read {}: {err}; UPDATE_SNAPSHOTS=1 writes it",
            file.display()
        )
    });
    assert!(
        committed == bytes,
        "{} changed: the journal format moved. If deliberate, old data directories will not \
         open: say so, and rerun with UPDATE_SNAPSHOTS=1",
        file.display()
    );
    committed
}

#[test]
fn batches_and_snapshots_keep_their_bytes_and_recover() {
    let (records, ledger, dags) = records();
    let mut payload = Vec::new();
    encode_records(&records, &mut payload);
    // The fuzz target's framing: an even first byte for a batch, then its number of records.
    let mut framed = vec![0, records.len() as u8];
    framed.extend_from_slice(&payload);
    let committed = check_fixture("seed-batch", &framed);
    let batch = Batch {
        first_seq: 1,
        n_events: u32::from(committed[1]),
        payload: committed[2..].to_vec(),
    };
    assert_eq!(decode_records(&batch).unwrap(), records);

    let state = StateSnapshot {
        ledger: ledger.to_snapshot(),
        dags: dags.to_snapshot(),
    };
    let encoded = record::encode_snapshot(&state);
    let mut framed = vec![1];
    framed.extend_from_slice(&encoded);
    let committed = check_fixture("seed-snapshot", &framed);
    let decoded = decode_snapshot(&committed[1..]).unwrap();
    assert_eq!(record::encode_snapshot(&decoded), encoded);
    // Every kind of budget-rule event is in the batch.
    let kinds = [
        "RulesSet",
        "UsageReset",
        "CapReached",
        "RunFlagged",
        "RunStarted",
        "IncreaseRequested",
        "IncreaseDecided",
    ];
    for kind in kinds {
        assert!(
            records
                .iter()
                .any(|record| format!("{record:?}").starts_with(&format!("Ledger({kind}"))),
            "no {kind} in the fixture"
        );
    }
    // A snapshot written before rules still opens, and so does one from before DAGs were
    // charged, as the same state.
    let before_rules = std::fs::read(corpus("seed-snapshot-before-rules")).unwrap();
    let before_rules = decode_snapshot(&before_rules[1..]).unwrap();
    let uncharged = std::fs::read(corpus("seed-snapshot-uncharged")).unwrap();
    assert_eq!(decode_snapshot(&uncharged[1..]).unwrap(), before_rules);
    assert!(before_rules.ledger.last_seq > 0);
    // A journal written before rules still recovers.
    let old = std::fs::read(corpus("seed-batch-before-rules")).unwrap();
    let old_batch = Batch {
        first_seq: 1,
        n_events: u32::from(old[1]),
        payload: old[2..].to_vec(),
    };
    let storage = MemStorage::new();
    let (mut journal, _) = MemJournal::open(&storage).unwrap();
    journal.append(&[old_batch]).unwrap();
    let recovered = recover(&mut journal, LedgerLimits::default(), dag_config()).unwrap();
    assert_eq!(recovered.ledger.last_seq(), before_rules.ledger.last_seq);

    // Both recover: the journal of the records, and the snapshot alone.
    let storage = MemStorage::new();
    let (mut journal, _) = MemJournal::open(&storage).unwrap();
    journal.append(&[batch]).unwrap();
    let recovered = recover(&mut journal, LedgerLimits::default(), dag_config()).unwrap();
    // Compared as encoded, as snapshots are: derived flags are not part of the state.
    let bytes = |value: &purser_core::LedgerSnapshot| postcard::to_stdvec(value).unwrap();
    assert_eq!(bytes(&recovered.ledger.to_snapshot()), bytes(&state.ledger));
    journal
        .write_snapshot(&Snapshot {
            seq: ledger.last_seq(),
            payload: encoded,
        })
        .unwrap();
    let recovered = recover(&mut journal, LedgerLimits::default(), dag_config()).unwrap();
    assert_eq!(recovered.dags.to_snapshot(), state.dags);
}

/// The inputs the journal fuzz target once crashed on (`fuzz/corpus/journal/regression-*`), fed
/// as the target feeds them: a batch whose first bytes are its kind and its record count, to
/// recovery; or a snapshot (an odd kind), to the checked restore. They answer, never panic:
/// `fd1a76b227a1` (a time past year 9999 in the audit) now recovers, `51822cf7bc0d` (a grant
/// that lowers a limit) and `1c483c388ba8` (a snapshot whose placed tasks overflow a machine's
/// usage) are refused, and `c99494bb27c8` (a snapshot whose tenant holds more than 2^64 cores
/// over its machines) restores.
#[test]
fn fuzz_regressions_recover_or_are_refused_without_a_panic() {
    let dir = corpus("");
    let mut n_inputs = 0;
    for entry in std::fs::read_dir(&dir).unwrap() {
        let file = entry.unwrap().path();
        let name = file.file_name().unwrap().to_string_lossy().into_owned();
        if !name.starts_with("regression-") {
            continue;
        }
        let data = std::fs::read(&file).unwrap();
        if data.first().is_some_and(|kind| kind & 1 == 1) {
            let payload = &data[1..];
            let seq = decode_snapshot(payload).map_or(1, |state| state.ledger.last_seq);
            let restored =
                record::state_from_snapshot(payload, seq, LedgerLimits::default(), dag_config());
            if name == "regression-1c483c388ba8" {
                let Err(err) = restored else {
                    panic!("an overflowing snapshot is refused");
                };
                assert!(err.contains("overflows"), "{err}");
            }
            n_inputs += 1;
            continue;
        }
        let [_, n_events, payload @ ..] = data.as_slice() else {
            panic!("{name} is too short to be a batch");
        };
        let batch = Batch {
            first_seq: 1,
            n_events: u32::from(*n_events),
            payload: payload.to_vec(),
        };
        let storage = MemStorage::new();
        let (mut journal, _) = MemJournal::open(&storage).unwrap();
        journal.append(&[batch]).unwrap();
        let recovered = recover(&mut journal, LedgerLimits::default(), dag_config());
        if name == "regression-51822cf7bc0d" {
            let err = recovered
                .err()
                .expect("a grant that lowers a limit is refused");
            assert!(err.contains("Reallocated"), "{err}");
        }
        n_inputs += 1;
    }
    assert!(n_inputs >= 1, "no regression inputs in {}", dir.display());
}
