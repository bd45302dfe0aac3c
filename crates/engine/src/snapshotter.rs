//! Snapshots off the writer's thread. The snapshotter is a follower: it starts from a copy of
//! the state the writer recovered, receives every batch the writer committed (the same encoded
//! payload the journal holds), folds it in with recovery's own replay, and when a snapshot is
//! due encodes its state and writes it through the journal's [`SnapshotWriter`] (in chunks, on
//! its own connection), then compacts through the previous one. The writer's thread only copies
//! each committed payload into a channel: a snapshot no longer stops requests.
//!
//! A follower that cannot fold a batch (the journal and the code disagree) stops snapshotting
//! and says so; the journal still holds every event, so nothing is lost, and restarts replay
//! more.

use std::sync::Arc;
use std::sync::atomic::Ordering::Relaxed;
use std::sync::mpsc::{Receiver, SyncSender, TrySendError, sync_channel};
use std::time::{Duration, Instant};

use purser_core::Ledger;
use purser_sched::DagState;
use purser_store::{Batch, Journal, Snapshot, SnapshotWriter, StoreError};

use crate::record::{StateSnapshot, decode_records, encode_snapshot};
use crate::recover::replay_record;
use crate::stats::EngineStats;

/// Committed batches waiting for the follower at most; beyond it the writer waits (the
/// follower folds far faster than the writer decides, so this is only reached when the
/// machine is starved).
pub const FOLLOW_QUEUE_MAX: usize = 4_096;

/// Payload buffers waiting to be used again at most.
const SPARE_BUFFERS: usize = 8;

/// How often the follower checkpoints the journal's write-ahead log.
pub const CHECKPOINT_EVERY: Duration = Duration::from_secs(1);

/// The writer's end: where committed batches go.
pub struct Follower {
    batches: SyncSender<Batch>,
    /// Payload buffers the follower is done with, for the writer to encode into again.
    spare: Receiver<Vec<u8>>,
}

impl Follower {
    /// Starts the follower's thread on a copy of the state recovery produced.
    pub(crate) fn start(
        ledger: Ledger,
        dags: DagState,
        writer: Box<dyn SnapshotWriter>,
        snapshots: Snapshots,
    ) -> Result<Follower, String> {
        let (batches, receiver) = sync_channel(FOLLOW_QUEUE_MAX);
        let (give_back, spare) = sync_channel(SPARE_BUFFERS);
        let state = FollowerState {
            ledger,
            dags,
            writer,
            snapshots,
        };
        std::thread::Builder::new()
            .name("purser-snapshots".into())
            .spawn(move || state.run(receiver, give_back))
            .map_err(|err| format!("the snapshot thread cannot start: {err}"))?;
        Ok(Follower { batches, spare })
    }

    /// Hands a committed batch to the follower (its payload moves, nothing is copied); waits
    /// only when the queue is full. Answers the buffer for the next batch's payload: one the
    /// follower is done with when there is one. Gives the batch back once the follower has
    /// stopped.
    pub fn committed(&self, batch: Batch) -> Result<Vec<u8>, Batch> {
        match self.batches.try_send(batch) {
            Ok(()) => {}
            Err(TrySendError::Full(batch)) => self.batches.send(batch).map_err(|err| err.0)?,
            Err(TrySendError::Disconnected(batch)) => return Err(batch),
        }
        Ok(self.spare.try_recv().unwrap_or_default())
    }
}

struct FollowerState {
    ledger: Ledger,
    dags: DagState,
    writer: Box<dyn SnapshotWriter>,
    snapshots: Snapshots,
}

/// Where a snapshot goes: the journal itself (on the writer's thread) or its writer.
pub(crate) trait SnapshotSink {
    fn write(&mut self, snapshot: &Snapshot) -> Result<(), StoreError>;
    fn compact(&mut self, seq: u64) -> Result<(), StoreError>;
}

impl SnapshotSink for Box<dyn Journal> {
    fn write(&mut self, snapshot: &Snapshot) -> Result<(), StoreError> {
        self.write_snapshot(snapshot)
    }

    fn compact(&mut self, seq: u64) -> Result<(), StoreError> {
        self.compact_through(seq)
    }
}

impl SnapshotSink for Box<dyn SnapshotWriter> {
    fn write(&mut self, snapshot: &Snapshot) -> Result<(), StoreError> {
        self.write_snapshot(snapshot)
    }

    fn compact(&mut self, seq: u64) -> Result<(), StoreError> {
        self.compact_through(seq)
    }
}

/// When snapshots are due and what was written: the one bookkeeping of the writer's thread and
/// the follower. The journal is compacted through the snapshot before the newest, keeping one
/// fallback.
pub(crate) struct Snapshots {
    every_events: u64,
    last_seq: u64,
    previous_seq: u64,
    stats: Arc<EngineStats>,
    /// How the log names where the snapshot was taken (`""` or ` off the writer's thread`).
    place: &'static str,
}

impl Snapshots {
    pub(crate) fn new(every_events: u64, last_seq: u64, stats: Arc<EngineStats>) -> Snapshots {
        Snapshots {
            every_events: every_events.max(1),
            last_seq,
            previous_seq: 0,
            stats,
            place: "",
        }
    }

    /// The same bookkeeping, for a follower that takes over from here.
    pub(crate) fn off_thread(&self) -> Snapshots {
        Snapshots {
            place: " written off the writer's thread",
            stats: self.stats.clone(),
            ..*self
        }
    }

    pub(crate) fn due(&self, ledger: &Ledger) -> bool {
        ledger.last_seq() - self.last_seq >= self.every_events
    }

    /// Encodes the state, writes it to `sink` and compacts through the previous snapshot. A
    /// failure loses nothing: the journal still holds every event.
    pub(crate) fn take(&mut self, sink: &mut dyn SnapshotSink, ledger: &Ledger, dags: &DagState) {
        let started = Instant::now();
        let seq = ledger.last_seq();
        let snapshot = Snapshot {
            seq,
            payload: encode_snapshot(&StateSnapshot {
                ledger: ledger.to_snapshot(),
                dags: dags.to_snapshot(),
            }),
        };
        if let Err(err) = sink.write(&snapshot) {
            eprintln!("purser: snapshot at {seq} failed: {err}");
            return;
        }
        if self.previous_seq > 0
            && let Err(err) = sink.compact(self.previous_seq)
        {
            eprintln!(
                "purser: compaction through {} failed: {err}",
                self.previous_seq
            );
        }
        self.previous_seq = self.last_seq;
        self.last_seq = seq;
        self.stats.snapshot_seq.store(seq, Relaxed);
        self.stats
            .snapshot_micros
            .store(started.elapsed().as_micros() as u64, Relaxed);
        eprintln!(
            "purser: snapshot at event {seq}{} in {} ms",
            self.place,
            started.elapsed().as_millis()
        );
    }
}

impl FollowerState {
    fn run(mut self, batches: Receiver<Batch>, give_back: SyncSender<Vec<u8>>) {
        let mut last_checkpoint = Instant::now();
        while let Ok(batch) = batches.recv() {
            // The writer's connection leaves checkpoints to this thread, so that no append
            // waits for one.
            if last_checkpoint.elapsed() >= CHECKPOINT_EVERY {
                if let Err(err) = self.writer.checkpoint() {
                    eprintln!("purser: checkpoint failed (the log grows until one passes): {err}");
                }
                last_checkpoint = Instant::now();
            }
            if let Err(err) = self.fold(&batch) {
                eprintln!(
                    "purser: snapshots stopped: the follower cannot fold batch {}: {err}",
                    batch.first_seq
                );
                return;
            }
            let mut payload = batch.payload;
            payload.clear();
            // A full return queue means the writer has spares enough: this one is dropped.
            let _ = give_back.try_send(payload);
            if self.snapshots.due(&self.ledger) && self.ledger.replay_settled() {
                self.snapshots
                    .take(&mut self.writer, &self.ledger, &self.dags);
            }
        }
    }

    fn fold(&mut self, batch: &Batch) -> Result<(), String> {
        for (idx, record) in decode_records(batch)?.into_iter().enumerate() {
            let seq = batch.first_seq + idx as u64;
            replay_record(&mut self.ledger, &mut self.dags, seq, &record)?;
        }
        Ok(())
    }
}
