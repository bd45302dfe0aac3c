//! The checks after every step.

use std::collections::BTreeMap;

use purser_core::{AccountPath, Ledger};
use purser_engine::record::{Record, StateSnapshot, decode_records, encode_snapshot};
use purser_engine::recover::recover;
use purser_sched::DagState;
use purser_store::{Journal, MemJournal};

use super::Sim;

/// The state a restart would recover, kept up to date batch by batch: recovered from the journal
/// after each crash (and at the start), then folding each batch committed since.
#[derive(Default)]
pub struct Follower {
    state: Option<(Ledger, DagState)>,
    /// The DAGs as the whole journal folds them, never restarted: what a forgotten DAG had
    /// been charged is read here just before it is forgotten.
    accountant: Option<DagState>,
    accounted_seq: u64,
    /// Machine time of the DAGs forgotten so far, per account.
    forgotten_time_ms: BTreeMap<String, u64>,
}

impl Sim {
    pub(super) fn check(&mut self) {
        self.check_replay();
        self.check_holds_subtree();
        self.check_machine_time_holds();
        self.account_forgotten();
        self.check_machine_time_charged();
        let dags = self.state().dags();
        if let Err(err) = dags.check_invariants() {
            panic!("seed {}: the dags are inconsistent: {err}", self.seed);
        }
    }

    /// After a crash the follower starts over: a recovery from the journal as it stands.
    pub(super) fn restart_follower(&mut self) {
        self.follower.state = None;
    }

    /// What the journal holds, folded, gives the live state, byte for byte.
    fn check_replay(&mut self) {
        let (mut journal, _) = MemJournal::open(&self.storage).expect("the journal reopens");
        let seed = self.seed;
        if self.follower.state.is_none() {
            let recovered = recover(&mut journal, self.config.limits, self.config.dags.clone())
                .unwrap_or_else(|err| panic!("seed {seed}: recovery failed: {err}"));
            if recovered.snapshot_seq > 0 {
                self.stats.snapshots_seen += 1;
            }
            self.follower.state = Some((recovered.ledger, recovered.dags));
        }
        let (ledger, dags) = self.follower.state.as_mut().expect("set above");
        journal
            .replay(ledger.last_seq(), &mut |batch| {
                let records = decode_records(batch)
                    .unwrap_or_else(|err| panic!("seed {seed}: a batch does not decode: {err}"));
                for (idx, record) in records.into_iter().enumerate() {
                    let seq = batch.first_seq + idx as u64;
                    let folded = match record {
                        Record::Ledger(event) => {
                            ledger.replay(seq, event).map_err(|e| e.to_string())
                        }
                        Record::Note(_) => ledger.replay_foreign(seq).map_err(|e| e.to_string()),
                        Record::Dag(event) => ledger
                            .replay_foreign(seq)
                            .map_err(|e| e.to_string())
                            .and_then(|()| dags.replay(&event).map_err(|e| e.to_string())),
                    };
                    if let Err(err) = folded {
                        panic!("seed {seed}: event {seq} does not replay: {err}");
                    }
                }
                Ok(())
            })
            .unwrap_or_else(|err| panic!("seed {seed}: the journal does not replay: {err}"));
        let replayed = StateSnapshot {
            ledger: ledger.to_snapshot(),
            dags: dags.to_snapshot(),
        };
        let live = self.state().to_snapshot();
        assert!(
            encode_snapshot(&live) == encode_snapshot(&replayed),
            "seed {}: the journal replays to another state than the live one at event {}",
            self.seed,
            self.state().ledger().last_seq()
        );
    }

    /// What the teams' accounts hold is exactly what their DAGs' attempts placed or running now
    /// were estimated at (their agents only report usage): no hold leaks, none is settled twice.
    fn check_machine_time_holds(&self) {
        let ledger = self.state().ledger();
        let dags = self.state().dags();
        let mut expected: BTreeMap<String, (u64, u64)> = BTreeMap::new();
        for dag in dags.dags_after(0) {
            let Some(charge) = dags.charge(dag.id) else {
                continue;
            };
            for (task, task_charge) in charge.tasks.iter().enumerate() {
                if let Some(open) = &task_charge.open {
                    let entry = expected
                        .entry(charge.account_of(task as u32).to_string())
                        .or_default();
                    entry.0 += open.estimate_micros;
                    entry.1 += open.estimate_time_ms;
                }
            }
        }
        let root = AccountPath::parse("sim/teams").expect("a valid path");
        for id in ledger.list(Some(&root), 1, 100) {
            let account = ledger.account(id);
            if account.path.as_str() == root.as_str() {
                continue;
            }
            let reserved = |name: &str| {
                ledger.dimensions().lookup(name).map_or(0, |dim| {
                    account
                        .slots
                        .iter()
                        .find(|slot| slot.dim == dim)
                        .map_or(0, |slot| slot.reserved)
                })
            };
            let held = (reserved("cost_micros"), reserved("time_ms"));
            let want = expected
                .get(account.path.as_str())
                .copied()
                .unwrap_or_default();
            assert_eq!(
                held, want,
                "seed {}: {} holds (cost, time) {held:?}, its open attempts were estimated at {want:?}",
                self.seed, account.path
            );
        }
    }

    /// Folds the DAG events committed since the last look into the accountant, counting the
    /// machine time of each DAG it forgets.
    fn account_forgotten(&mut self) {
        let (mut journal, _) = MemJournal::open(&self.storage).expect("the journal reopens");
        let seed = self.seed;
        let follower = &mut self.follower;
        let dags = follower
            .accountant
            .get_or_insert_with(|| DagState::new(self.config.dags.clone()).expect("the config"));
        let forgotten = &mut follower.forgotten_time_ms;
        let mut last = follower.accounted_seq;
        journal
            .replay(follower.accounted_seq, &mut |batch| {
                let records = decode_records(batch)
                    .unwrap_or_else(|err| panic!("seed {seed}: a batch does not decode: {err}"));
                for (idx, record) in records.into_iter().enumerate() {
                    last = batch.first_seq + idx as u64;
                    let Record::Dag(event) = record else { continue };
                    if let purser_sched::DagEvent::Forgotten { dag, .. } = &event
                        && let Some(charge) = dags.charge(*dag)
                    {
                        for (task, task_charge) in charge.tasks.iter().enumerate() {
                            *forgotten
                                .entry(charge.account_of(task as u32).to_string())
                                .or_insert(0) += task_charge.time_ms;
                        }
                    }
                    dags.replay(&event)
                        .unwrap_or_else(|err| panic!("seed {seed}: the accountant: {err}"));
                }
                Ok(())
            })
            .unwrap_or_else(|err| panic!("seed {seed}: the journal does not replay: {err}"));
        follower.accounted_seq = last;
    }

    /// What the teams' accounts consumed in `time_ms` is exactly the machine time their DAGs'
    /// ended attempts ran, kept or forgotten: every attempt charged once, through crashes.
    fn check_machine_time_charged(&self) {
        let ledger = self.state().ledger();
        let dags = self.state().dags();
        let Some(time_dim) = ledger.dimensions().lookup("time_ms") else {
            return;
        };
        let mut expected = self.follower.forgotten_time_ms.clone();
        for dag in dags.dags_after(0) {
            let Some(charge) = dags.charge(dag.id) else {
                continue;
            };
            for (task, task_charge) in charge.tasks.iter().enumerate() {
                *expected
                    .entry(charge.account_of(task as u32).to_string())
                    .or_insert(0) += task_charge.time_ms;
            }
        }
        let root = AccountPath::parse("sim/teams").expect("a valid path");
        for id in ledger.list(Some(&root), 1, 100) {
            let account = ledger.account(id);
            if account.path.as_str() == root.as_str() {
                continue;
            }
            let consumed = account.slot(time_dim).map_or(0, |slot| slot.consumed);
            let want = expected.get(account.path.as_str()).copied().unwrap_or(0);
            assert_eq!(
                consumed, want,
                "seed {}: {} consumed {consumed} ms of machine time, its DAGs' attempts ran {want}",
                self.seed, account.path
            );
        }
    }

    /// Agents that spend only through holds, settled at most as held and before they expire,
    /// never reach the stop threshold of any account of their subtree.
    fn check_holds_subtree(&self) {
        let ledger = self.state().ledger();
        let root = AccountPath::parse("sim/holds").expect("a valid path");
        for id in ledger.list(Some(&root), 1, 100) {
            let account = ledger.account(id);
            for slot in &account.slots {
                let Some(limit) = slot.limit else { continue };
                assert!(
                    account.config.thresholds.below_stop(slot.used(), limit),
                    "seed {}: {} reached its stop threshold in {}: {} used of {limit}",
                    self.seed,
                    account.path,
                    ledger.dimensions().name(slot.dim),
                    slot.used()
                );
            }
        }
    }
}
