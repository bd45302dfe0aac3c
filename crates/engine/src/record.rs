//! What the journal holds: records under one sequence (a ledger event, a DAG event, or the note
//! of an operator's command), encoded with postcard back to back in a batch; and snapshots of
//! the ledger and the DAGs together.

use purser_core::{Event, Ledger, LedgerLimits, LedgerSnapshot, LedgerSnapshotBeforeRules};
use purser_sched::{DagConfig, DagEvent, DagSnapshot, DagState};
use purser_store::Batch;
use serde::{Deserialize, Serialize};

use std::sync::Arc;

/// One journal record. Every kind counts in the one global sequence (the ledger's `last_seq`;
/// reservation ids are seqs). New kinds go at the end: old journals keep decoding.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub enum Record {
    Ledger(Event),
    Dag(DagEvent),
    /// Who ran the operator's command whose events follow, and what it changed.
    Note(Note),
}

/// A snapshot's payload: the ledger's state and the DAGs', both as of the snapshot's seq.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct StateSnapshot {
    pub ledger: LedgerSnapshot,
    pub dags: DagSnapshot,
}

/// Encodes records into a batch payload: postcard values back to back.
pub fn encode_records(records: &[Record], payload: &mut Vec<u8>) {
    for record in records {
        *payload =
            postcard::to_extend(record, std::mem::take(payload)).expect("records always encode");
    }
}

/// Decodes a batch payload into its records.
pub fn decode_records(batch: &Batch) -> Result<Vec<Record>, String> {
    // Never trust the count for an allocation: each record takes at least one byte.
    let capacity = (batch.n_events as usize).min(batch.payload.len());
    let mut records = Vec::with_capacity(capacity);
    let mut rest: &[u8] = &batch.payload;
    for idx in 0..batch.n_events {
        let (record, tail) = postcard::take_from_bytes::<Record>(rest)
            .map_err(|err| format!("event {} of batch {}: {err}", idx, batch.first_seq))?;
        records.push(record);
        rest = tail;
    }
    if !rest.is_empty() {
        return Err(format!(
            "batch {} has {} bytes after its events",
            batch.first_seq,
            rest.len()
        ));
    }
    Ok(records)
}

pub fn encode_snapshot(state: &StateSnapshot) -> Vec<u8> {
    postcard::to_stdvec(state).expect("the state always encodes")
}

/// A snapshot from before budget rules: the ledger's part without them.
#[derive(Deserialize)]
struct StateSnapshotBeforeRules {
    ledger: LedgerSnapshotBeforeRules,
    dags: DagSnapshot,
}

/// A snapshot from before DAGs were charged (and before rules): the same without the DAGs'
/// charges and pauses (which were last, so the older payload is a prefix of the newer shape).
#[derive(Deserialize)]
struct StateSnapshotUncharged {
    ledger: LedgerSnapshotBeforeRules,
    dags: DagSnapshotUncharged,
}

#[derive(Deserialize)]
struct DagSnapshotUncharged {
    next_dag: u64,
    dags: Vec<purser_sched::Dag>,
}

/// Decodes a snapshot's payload, of this version, of the one before rules or of the one before
/// charging.
pub fn decode_snapshot(payload: &[u8]) -> Result<StateSnapshot, String> {
    let current = postcard::take_from_bytes::<StateSnapshot>(payload);
    if let Ok((state, [])) = current {
        return Ok(state);
    }
    if let Ok((old, [])) = postcard::take_from_bytes::<StateSnapshotBeforeRules>(payload) {
        return Ok(StateSnapshot {
            ledger: old.ledger.into(),
            dags: old.dags,
        });
    }
    match postcard::take_from_bytes::<StateSnapshotUncharged>(payload) {
        Ok((old, [])) => Ok(StateSnapshot {
            ledger: old.ledger.into(),
            dags: DagSnapshot {
                next_dag: old.dags.next_dag,
                dags: old.dags.dags,
                charges: Vec::new(),
                paused: Vec::new(),
                api_uses: Vec::new(),
                api_windows: Default::default(),
                custom_requests: Vec::new(),
            },
        }),
        _ => match current {
            Ok((_, rest)) => Err(format!("{} bytes after the snapshot", rest.len())),
            Err(err) => Err(err.to_string()),
        },
    }
}

/// The ledger and the DAGs of a snapshot taken at `seq`, checked before they are trusted.
pub fn state_from_snapshot(
    payload: &[u8],
    seq: u64,
    limits: LedgerLimits,
    dag_config: DagConfig,
) -> Result<(Ledger, DagState), String> {
    let state = decode_snapshot(payload)?;
    // Invariant: a snapshot holds the state as of its seq.
    if state.ledger.last_seq != seq {
        return Err(format!(
            "it holds the state of event {}",
            state.ledger.last_seq
        ));
    }
    let dags = DagState::from_snapshot(dag_config, state.dags).map_err(|err| err.to_string())?;
    Ok((Ledger::try_from_snapshot(state.ledger, limits)?, dags))
}

/// Who changed accounts, and what changed: journaled just before the ledger events of an
/// operator's command (`engine::Record::Note`), so that the audit entries of those events,
/// then and after a restart, name the token and the settings that moved.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Note {
    /// The token's name (`name` in `[[tokens]]`), `anonymous`, or `config`.
    pub actor: Arc<str>,
    pub changes: Vec<Change>,
}

/// One setting of one account that a command moved, rendered for people.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Change {
    pub account: String,
    /// `limits.tokens`, `thresholds.stop`, `weight`, `labels.team`, `period.every`, ...
    pub field: String,
    pub from: Option<String>,
    pub to: Option<String>,
}
