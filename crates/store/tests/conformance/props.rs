//! Random sequences of appends, rejected appends, snapshots, compactions and reopens replay to
//! exactly what was acknowledged.

use proptest::prelude::*;
use proptest::test_runner::{Config, TestRunner};
use purser_store::{Batch, Journal, SNAPSHOTS_KEPT, Snapshot};

use crate::harness::{Backend, replay_all};

#[derive(Debug, Clone)]
enum Operation {
    /// One call appending batches of these `(n_events, payload_len)`.
    Append(Vec<(u32, usize)>),
    /// An append whose first batch skips a seq; must be rejected with nothing written.
    AppendWithGap,
    /// A snapshot at `last_seq - back` (clamped).
    Snapshot {
        back: u64,
    },
    /// Compaction through the snapshot `index` from the newest (clamped).
    Compact {
        index: usize,
    },
    Reopen,
}

fn operation() -> impl Strategy<Value = Operation> {
    prop_oneof![
        4 => prop::collection::vec((1_u32..6, 0_usize..24), 0..4).prop_map(Operation::Append),
        1 => Just(Operation::AppendWithGap),
        2 => (0_u64..4).prop_map(|back| Operation::Snapshot { back }),
        1 => (0_usize..2).prop_map(|index| Operation::Compact { index }),
        1 => Just(Operation::Reopen),
    ]
}

/// What the journal must hold: the acknowledged batches not yet compacted, and the snapshots.
#[derive(Debug, Default)]
struct Model {
    batches: Vec<Batch>,
    /// Oldest first, at most SNAPSHOTS_KEPT.
    snapshots: Vec<Snapshot>,
    last_seq: u64,
    compacted_through: u64,
}

fn run<B: Backend>(operations: &[Operation]) {
    let Some(backend) = B::new_or_skip() else {
        return;
    };
    let mut journal = backend.open_clean();
    let mut model = Model::default();
    for (step, operation) in operations.iter().enumerate() {
        if let Operation::Reopen = operation {
            // Close before opening again, as a restarted process would.
            drop(journal);
            journal = backend.open_clean();
        } else {
            apply(&mut journal, &mut model, operation, step);
        }
        check(&mut journal, &model);
    }
}

fn apply(journal: &mut impl Journal, model: &mut Model, operation: &Operation, step: usize) {
    match operation {
        Operation::Append(shapes) => {
            let mut batches = Vec::new();
            let mut next_seq = model.last_seq + 1;
            for (n_events, payload_len) in shapes {
                let payload = (0..*payload_len).map(|i| (i + step) as u8).collect();
                batches.push(Batch {
                    first_seq: next_seq,
                    n_events: *n_events,
                    payload,
                });
                next_seq += u64::from(*n_events);
            }
            journal.append(&batches).unwrap();
            model.last_seq = next_seq - 1;
            model.batches.extend(batches);
        }
        Operation::AppendWithGap => {
            let gap = Batch {
                first_seq: model.last_seq + 2,
                n_events: 1,
                payload: vec![1],
            };
            assert!(journal.append(&[gap]).is_err());
        }
        Operation::Snapshot { back } => {
            let seq = model.last_seq.saturating_sub(*back);
            let snapshot = Snapshot {
                seq,
                payload: format!("{step}").into_bytes(),
            };
            journal.write_snapshot(&snapshot).unwrap();
            model.snapshots.retain(|kept| kept.seq != seq);
            model.snapshots.push(snapshot);
            model.snapshots.sort_by_key(|kept| kept.seq);
            let n_old = model.snapshots.len().saturating_sub(SNAPSHOTS_KEPT);
            model.snapshots.drain(..n_old);
        }
        Operation::Compact { index } => {
            let Some(snapshot) = model.snapshots.iter().rev().nth(*index) else {
                return;
            };
            let seq = snapshot.seq;
            journal.compact_through(seq).unwrap();
            while model
                .batches
                .first()
                .is_some_and(|batch| batch.last_seq() <= seq)
            {
                model.compacted_through = model.batches.remove(0).last_seq();
            }
        }
        Operation::Reopen => unreachable!("handled by run"),
    }
}

fn check(journal: &mut impl Journal, model: &Model) {
    assert_eq!(journal.last_seq(), model.last_seq);
    assert_eq!(journal.compacted_through(), model.compacted_through);
    assert_eq!(
        journal.latest_snapshot().unwrap().as_ref(),
        model.snapshots.last()
    );
    let from = model
        .snapshots
        .last()
        .map_or(0, |snapshot| snapshot.seq)
        .max(model.compacted_through);
    let expected: Vec<Batch> = model
        .batches
        .iter()
        .filter(|batch| batch.last_seq() > from)
        .cloned()
        .collect();
    assert_eq!(replay_all(journal, from).unwrap(), expected);
    assert_eq!(
        replay_all(journal, model.compacted_through).unwrap(),
        model.batches
    );
}

pub fn random_operations_replay_what_was_acknowledged<B: Backend>() {
    let config = Config {
        cases: 48,
        failure_persistence: None,
        ..Config::default()
    };
    let mut runner = TestRunner::new(config);
    let strategy = prop::collection::vec(operation(), 1..24);
    runner
        .run(&strategy, |operations| {
            run::<B>(&operations);
            Ok(())
        })
        .unwrap();
}
