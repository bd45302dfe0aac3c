//! The writer's state: the ledger, the DAGs, foresight and the audit log, with the journal they
//! are committed to, and the commit of a batch's records in one append (group commit). The jobs
//! (`jobs/`) change it; `EngineState::step` runs a batch of them.

use std::sync::Arc;
use std::sync::atomic::Ordering::Relaxed;
use std::time::Instant;

use purser_core::foresight::Foresight;
use purser_core::{Event, Ledger};
use purser_sched::DagState;
use purser_store::{Batch, Journal, StoreError};

use crate::audit::AuditLog;
use crate::directory::Directory;
use crate::record::{Record, StateSnapshot, encode_records};
use crate::snapshotter::{Follower, Snapshots};
use crate::stats::EngineStats;

/// What the writer owns.
pub struct EngineState {
    pub(crate) ledger: Ledger,
    pub(crate) dags: DagState,
    pub(crate) foresight: Foresight,
    pub(crate) audit: AuditLog,
    pub(crate) journal: Box<dyn Journal>,
    /// Snapshots taken on this thread (journals without a writer); a follower starts from a
    /// copy of it.
    pub(crate) snapshots: Snapshots,
    last_now_ms: u64,
    /// The records of the batch being applied, in seq order.
    pub(crate) records: Vec<Record>,
    /// Scratch space for the ledger's events of one command.
    pub(crate) events: Vec<Event>,
    payload: Vec<u8>,
    /// What the writer counts for the metrics; the handles read it.
    pub(crate) stats: Arc<EngineStats>,
    /// The last committed seq, for those who watch for any change (the dashboard).
    pub(crate) changes: tokio::sync::watch::Sender<u64>,
    /// Paths to ids for the request tasks, republished after each commit that opened or
    /// closed accounts.
    pub(crate) directory: Arc<Directory>,
    /// Takes the snapshots off this thread when the journal offers a snapshot writer.
    pub(crate) follower: Option<Follower>,
    /// What it was opened with, to recover again in place (`follow.rs`).
    pub(crate) config: crate::EngineConfig,
}

/// How often the state is snapshotted, and the state recovery found.
pub struct StateParts {
    pub ledger: Ledger,
    pub dags: DagState,
    pub foresight: Foresight,
    pub audit: AuditLog,
    pub journal: Box<dyn Journal>,
    pub snapshot_every_events: u64,
    pub snapshot_seq: u64,
    pub config: crate::EngineConfig,
}

impl EngineState {
    pub fn new(parts: StateParts) -> EngineState {
        let last_seq = parts.ledger.last_seq();
        let directory = Arc::new(Directory::of(&parts.ledger));
        let stats = EngineStats::default();
        stats.snapshot_seq.store(parts.snapshot_seq, Relaxed);
        stats.leader.store(!parts.config.standby, Relaxed);
        let stats = Arc::new(stats);
        EngineState {
            ledger: parts.ledger,
            dags: parts.dags,
            foresight: parts.foresight,
            audit: parts.audit,
            journal: parts.journal,
            snapshots: Snapshots::new(
                parts.snapshot_every_events,
                parts.snapshot_seq,
                stats.clone(),
            ),
            last_now_ms: 0,
            records: Vec::with_capacity(8_192),
            events: Vec::with_capacity(64),
            payload: Vec::with_capacity(1 << 20),
            stats,
            changes: tokio::sync::watch::Sender::new(last_seq),
            directory,
            follower: None,
            config: parts.config,
        }
    }

    /// Hands snapshots to a follower thread when the journal can write them from another
    /// connection (SQLite); otherwise they stay on this thread (the in-memory journal of the
    /// tests and the simulation).
    pub fn follow(&mut self) -> Result<bool, String> {
        let writer = self
            .journal
            .snapshot_writer()
            .map_err(|err| format!("the snapshot writer: {err}"))?;
        let Some(writer) = writer else {
            return Ok(false);
        };
        self.follower = Some(Follower::start(
            self.ledger.clone(),
            self.dags.clone(),
            writer,
            self.snapshots.off_thread(),
        )?);
        Ok(true)
    }

    /// The paths-to-ids map this state publishes.
    pub fn directory(&self) -> Arc<Directory> {
        self.directory.clone()
    }

    /// Follows the last committed seq: it changes after every commit.
    pub fn changes(&self) -> tokio::sync::watch::Receiver<u64> {
        self.changes.subscribe()
    }

    /// The counters the writer keeps, for the metrics.
    pub fn stats(&self) -> Arc<EngineStats> {
        self.stats.clone()
    }

    pub fn ledger(&self) -> &Ledger {
        &self.ledger
    }

    pub fn dags(&self) -> &DagState {
        &self.dags
    }

    /// The time of a batch at `now_ms`: never earlier than the last batch's, even if the
    /// clock steps back.
    pub(crate) fn batch_time(&mut self, now_ms: u64) -> u64 {
        self.last_now_ms = now_ms.max(self.last_now_ms);
        self.last_now_ms
    }

    /// Commits the records the batch's jobs left (if any), starting at `first_seq`, then
    /// snapshots when due.
    pub(crate) fn finish_batch(&mut self, first_seq: u64) -> Result<(), StoreError> {
        if self.records.is_empty() {
            return Ok(());
        }
        self.commit(first_seq)?;
        self.maybe_snapshot();
        Ok(())
    }

    /// Appends the batch's records and notes them in the audit log.
    fn commit(&mut self, first_seq: u64) -> Result<(), StoreError> {
        self.payload.clear();
        encode_records(&self.records, &mut self.payload);
        let n_events = self.records.len() as u32;
        // Invariant: the batch continues the journal exactly.
        assert_eq!(
            first_seq + u64::from(n_events) - 1,
            self.ledger.last_seq(),
            "records and seqs disagree"
        );
        let batch = Batch {
            first_seq,
            n_events,
            payload: std::mem::take(&mut self.payload),
        };
        let started = Instant::now();
        let appended = self.journal.append(std::slice::from_ref(&batch));
        self.stats
            .commit_seconds
            .observe(started.elapsed().as_nanos() as u64);
        self.stats.commit_records.observe(u64::from(n_events));
        appended?;
        self.payload = match &self.follower {
            None => batch.payload,
            Some(follower) => match follower.committed(batch) {
                Ok(buffer) => buffer,
                Err(batch) => {
                    eprintln!(
                        "purser: the snapshot follower stopped; snapshots continue on the writer"
                    );
                    self.follower = None;
                    if let Err(err) = self.journal.snapshot_writer_stopped() {
                        eprintln!("purser: checkpoints could not be turned back on: {err}");
                    }
                    batch.payload
                }
            },
        };
        for (idx, record) in self.records.iter().enumerate() {
            let seq = first_seq + idx as u64;
            self.stats.note_record(record);
            self.audit
                .note_record(&self.ledger, &self.dags, seq, record);
        }
        self.audit.end_batch();
        self.directory.publish(&self.ledger, &self.records);
        self.records.clear();
        self.changes.send_replace(self.ledger.last_seq());
        Ok(())
    }

    fn maybe_snapshot(&mut self) {
        if self.follower.is_none() && self.snapshots.due(&self.ledger) {
            self.snapshots
                .take(&mut self.journal, &self.ledger, &self.dags);
        }
    }

    /// The state as a snapshot would hold it, for comparing replayed and live states.
    pub fn to_snapshot(&self) -> StateSnapshot {
        StateSnapshot {
            ledger: self.ledger.to_snapshot(),
            dags: self.dags.to_snapshot(),
        }
    }
}
