//! Recovery: the newest snapshot, then every record journaled after it, folded into the ledger
//! and the DAGs as they were folded live, and the audit ring rebuilt from the same records.

use purser_core::{Ledger, LedgerLimits};
use purser_sched::{DagConfig, DagState};
use purser_store::Journal;

use crate::audit::AuditLog;
use crate::record::{Record, decode_records, state_from_snapshot};

/// What recovery hands the engine.
pub struct Recovered {
    pub ledger: Ledger,
    pub dags: DagState,
    pub audit: AuditLog,
    pub snapshot_seq: u64,
    /// Records replayed after the snapshot.
    pub n_records: u64,
}

/// Opens the state from `journal`. A journal that does not make sense (a record naming what
/// does not exist, a snapshot that is not of its seq) is refused with the reason, never folded.
pub fn recover(
    journal: &mut dyn Journal,
    limits: LedgerLimits,
    dag_config: DagConfig,
) -> Result<Recovered, String> {
    let snapshot = journal.latest_snapshot().map_err(|err| err.to_string())?;
    let (mut ledger, mut dags, snapshot_seq) = match snapshot {
        Some(snapshot) => {
            let (ledger, dags) =
                state_from_snapshot(&snapshot.payload, snapshot.seq, limits, dag_config)
                    .map_err(|err| format!("snapshot {}: {err}", snapshot.seq))?;
            (ledger, dags, snapshot.seq)
        }
        None => (
            Ledger::new(limits),
            DagState::new(dag_config).map_err(|err| err.to_string())?,
            0,
        ),
    };
    let mut audit = AuditLog::new();
    let folded = fold(journal, &mut ledger, &mut dags, &mut audit, snapshot_seq)?;
    let n_records = folded.n_records;
    // Invariant: replay ends on a whole command, with every derived event journaled.
    if !ledger.replay_settled() {
        return Err("the journal ends before the level changes its last command derived".into());
    }
    // Invariant: the replayed DAG indexes agree with a rebuild from the DAGs.
    dags.check_invariants()
        .map_err(|err| format!("replayed dags: {err}"))?;
    Ok(Recovered {
        ledger,
        dags,
        audit,
        snapshot_seq,
        n_records,
    })
}

/// What [`fold`] did.
#[derive(Clone, Copy, Debug, Default)]
pub struct Folded {
    pub n_records: u64,
    /// Records that opened or closed accounts (the published directory must follow).
    pub n_accounts_changed: u64,
}

/// Folds every record journaled after `after_seq` into the ledger, the DAGs and the audit log,
/// as they were folded live: recovery after its snapshot, and a standby following its leader.
pub fn fold(
    journal: &mut dyn Journal,
    ledger: &mut Ledger,
    dags: &mut DagState,
    audit: &mut AuditLog,
    after_seq: u64,
) -> Result<Folded, String> {
    let mut folded = Folded::default();
    let mut failure: Option<String> = None;
    journal
        .replay(after_seq, &mut |batch| {
            if failure.is_some() {
                return Ok(());
            }
            let records = match decode_records(batch) {
                Ok(records) => records,
                Err(err) => {
                    failure = Some(err);
                    return Ok(());
                }
            };
            for (idx, record) in records.into_iter().enumerate() {
                let seq = batch.first_seq + idx as u64;
                if seq <= after_seq {
                    continue;
                }
                if let Err(err) = replay_record(ledger, dags, seq, &record) {
                    failure = Some(err);
                    return Ok(());
                }
                audit.note_record(ledger, dags, seq, &record);
                folded.n_records += 1;
                folded.n_accounts_changed += u64::from(matches!(
                    record,
                    Record::Ledger(
                        purser_core::Event::AccountOpened { .. }
                            | purser_core::Event::AccountClosed { .. }
                    )
                ));
            }
            audit.end_batch();
            Ok(())
        })
        .map_err(|err| err.to_string())?;
    match failure {
        Some(failure) => Err(failure),
        None => Ok(folded),
    }
}

/// Folds one record journaled at `seq` (recovery, and the snapshots' follower).
pub(crate) fn replay_record(
    ledger: &mut Ledger,
    dags: &mut DagState,
    seq: u64,
    record: &Record,
) -> Result<(), String> {
    match record {
        Record::Ledger(event) => ledger
            .replay(seq, event.clone())
            .map_err(|err| err.to_string()),
        Record::Note(_) => ledger.replay_foreign(seq).map_err(|err| err.to_string()),
        Record::Dag(event) => {
            ledger.replay_foreign(seq).map_err(|err| err.to_string())?;
            dags.replay(event)
                .map_err(|err| format!("event {seq}: {err}"))
        }
    }
}
