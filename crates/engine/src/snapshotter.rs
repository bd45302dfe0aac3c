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
use purser_store::{Batch, Snapshot, SnapshotWriter};

use crate::record::{StateSnapshot, decode_records, encode_snapshot};
use crate::recover::replay_record;
use crate::stats::EngineStats;

/// Committed batches waiting for the follower at most; beyond it the writer waits (the
/// follower folds far faster than the writer decides, so this is only reached when the
/// machine is starved).
pub const FOLLOW_QUEUE_MAX: usize = 4_096;

/// How often the follower checkpoints the journal's write-ahead log.
pub const CHECKPOINT_EVERY: Duration = Duration::from_secs(1);

/// The writer's end: where committed batches go.
pub struct Follower {
    batches: SyncSender<Batch>,
}

impl Follower {
    /// Starts the follower's thread on a copy of the state as of `snapshot_seq`'s successor
    /// (what recovery produced).
    pub fn start(
        ledger: Ledger,
        dags: DagState,
        writer: Box<dyn SnapshotWriter>,
        every_events: u64,
        snapshot_seq: u64,
        stats: Arc<EngineStats>,
    ) -> Result<Follower, String> {
        let (batches, receiver) = sync_channel(FOLLOW_QUEUE_MAX);
        let state = FollowerState {
            ledger,
            dags,
            writer,
            every_events: every_events.max(1),
            last_snapshot_seq: snapshot_seq,
            previous_snapshot_seq: 0,
            stats,
        };
        std::thread::Builder::new()
            .name("purser-snapshots".into())
            .spawn(move || state.run(receiver))
            .map_err(|err| format!("the snapshot thread cannot start: {err}"))?;
        Ok(Follower { batches })
    }

    /// Hands a committed batch to the follower; waits only when its queue is full. Answers
    /// false once the follower has stopped.
    pub fn committed(&self, batch: &Batch) -> bool {
        match self.batches.try_send(batch.clone()) {
            Ok(()) => true,
            Err(TrySendError::Full(batch)) => self.batches.send(batch).is_ok(),
            Err(TrySendError::Disconnected(_)) => false,
        }
    }
}

struct FollowerState {
    ledger: Ledger,
    dags: DagState,
    writer: Box<dyn SnapshotWriter>,
    every_events: u64,
    last_snapshot_seq: u64,
    previous_snapshot_seq: u64,
    stats: Arc<EngineStats>,
}

impl FollowerState {
    fn run(mut self, batches: Receiver<Batch>) {
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
            if self.ledger.last_seq() - self.last_snapshot_seq >= self.every_events
                && self.ledger.replay_settled()
            {
                self.snapshot();
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

    fn snapshot(&mut self) {
        let started = Instant::now();
        let seq = self.ledger.last_seq();
        let state = StateSnapshot {
            ledger: self.ledger.to_snapshot(),
            dags: self.dags.to_snapshot(),
        };
        let snapshot = Snapshot {
            seq,
            payload: encode_snapshot(&state),
        };
        drop(state);
        if let Err(err) = self.writer.write_snapshot(&snapshot) {
            // A failed snapshot loses nothing: the journal still holds every event.
            eprintln!("purser: snapshot at {seq} failed: {err}");
            return;
        }
        if self.previous_snapshot_seq > 0
            && let Err(err) = self.writer.compact_through(self.previous_snapshot_seq)
        {
            eprintln!(
                "purser: compaction through {} failed: {err}",
                self.previous_snapshot_seq
            );
        }
        self.previous_snapshot_seq = self.last_snapshot_seq;
        self.last_snapshot_seq = seq;
        self.stats.snapshot_seq.store(seq, Relaxed);
        self.stats
            .snapshot_micros
            .store(started.elapsed().as_micros() as u64, Relaxed);
        eprintln!(
            "purser: snapshot at event {seq} written off the writer's thread in {} ms",
            started.elapsed().as_millis()
        );
    }
}
