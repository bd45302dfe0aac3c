//! The in-memory backend, for tests and the simulation.
//!
//! A [`MemStorage`] plays the part of the file: it outlives the journals opened over it, so a
//! simulated crash drops the [`MemJournal`] and opens a new one on the same storage. The storage
//! can also lose writes after a point or corrupt a record, to exercise recovery.

use std::collections::VecDeque;
use std::sync::{Arc, Mutex, MutexGuard};

use crate::verify::{self, ReplayCheck, TailCheck};
use crate::{Batch, Journal, OpenReport, SNAPSHOTS_KEPT, Snapshot, StoreError};

/// A batch as stored, with the CRC computed when it was appended.
#[derive(Debug, Clone)]
struct StoredBatch {
    batch: Arc<Batch>,
    crc32: u32,
}

#[derive(Debug, Clone)]
struct StoredSnapshot {
    snapshot: Snapshot,
    crc32: u32,
}

#[derive(Debug, Default)]
struct MemState {
    /// In seq order.
    batches: VecDeque<StoredBatch>,
    /// Oldest first.
    snapshots: Vec<StoredSnapshot>,
    compacted_through: u64,
}

/// Damage [`MemStorage::corrupt_batch`] can do to a stored batch.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Corruption {
    /// Flips one bit of the payload (or of the CRC if the payload is empty).
    FlipPayloadBit,
    /// Drops the second half of the payload, like a torn write.
    TruncatePayload,
    /// Replaces the stored CRC.
    WrongCrc,
}

/// The durable contents of an in-memory journal; clones share the same contents.
#[derive(Debug, Clone, Default)]
pub struct MemStorage {
    state: Arc<Mutex<MemState>>,
}

impl MemStorage {
    pub fn new() -> MemStorage {
        MemStorage::default()
    }

    fn lock(&self) -> MutexGuard<'_, MemState> {
        // A panic while holding the lock leaves the state as consistent as a crash would.
        self.state
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
    }

    /// Loses every write past `seq`, as a power loss would with `Durability::Os`: batches holding
    /// any event after `seq` and snapshots after `seq`.
    pub fn crash_after(&self, seq: u64) {
        let mut state = self.lock();
        while state
            .batches
            .back()
            .is_some_and(|stored| stored.batch.last_seq() > seq)
        {
            state.batches.pop_back();
        }
        state.snapshots.retain(|stored| stored.snapshot.seq <= seq);
    }

    /// Damages the stored batch starting at `first_seq`; returns false if there is none.
    pub fn corrupt_batch(&self, first_seq: u64, corruption: Corruption) -> bool {
        let mut state = self.lock();
        let Some(stored) = state
            .batches
            .iter_mut()
            .find(|s| s.batch.first_seq == first_seq)
        else {
            return false;
        };
        let payload = &mut Arc::make_mut(&mut stored.batch).payload;
        match corruption {
            Corruption::FlipPayloadBit if payload.is_empty() => stored.crc32 ^= 1,
            Corruption::FlipPayloadBit => payload[0] ^= 1,
            Corruption::TruncatePayload => payload.truncate(payload.len() / 2),
            Corruption::WrongCrc => stored.crc32 = !stored.crc32,
        }
        true
    }

    /// Damages the CRC of the stored snapshot at `seq`; returns false if there is none.
    pub fn corrupt_snapshot(&self, seq: u64) -> bool {
        let mut state = self.lock();
        let found = state
            .snapshots
            .iter_mut()
            .find(|stored| stored.snapshot.seq == seq);
        found.map(|stored| stored.crc32 = !stored.crc32).is_some()
    }
}

/// A journal held in a [`MemStorage`]; every append is "durable" as soon as it returns.
#[derive(Debug)]
pub struct MemJournal {
    storage: MemStorage,
    last_seq: u64,
    compacted_through: u64,
}

impl MemJournal {
    /// Opens a journal over `storage` with the same verification and repair as the SQLite
    /// backend. Only one journal may be open over a storage at a time.
    pub fn open(storage: &MemStorage) -> Result<(MemJournal, OpenReport), StoreError> {
        let mut state = storage.lock();
        let compacted_through = state.compacted_through;
        let mut tail_check = TailCheck::new(compacted_through);
        for stored in &state.batches {
            let batch = &stored.batch;
            let crc_ok =
                verify::batch_crc(batch.first_seq, batch.n_events, &batch.payload) == stored.crc32;
            let row = if crc_ok {
                Ok(batch.n_events)
            } else {
                Err("crc mismatch".to_owned())
            };
            tail_check.push(batch.first_seq, row);
        }
        let tail = tail_check.finish()?;
        let snapshots: Vec<(u64, bool)> = state
            .snapshots
            .iter()
            .rev()
            .map(|stored| (stored.snapshot.seq, snapshot_crc_ok(stored)))
            .collect();
        let report = verify::choose_snapshot(&tail, compacted_through, &snapshots)?;
        if let Some((cut_from, _, _)) = tail.cut {
            state
                .batches
                .retain(|stored| stored.batch.first_seq < cut_from);
        }
        state.snapshots.retain(snapshot_crc_ok);
        drop(state);
        let journal = MemJournal {
            storage: storage.clone(),
            last_seq: report.last_seq,
            compacted_through,
        };
        Ok((journal, report))
    }
}

fn snapshot_crc_ok(stored: &StoredSnapshot) -> bool {
    verify::snapshot_crc(stored.snapshot.seq, &stored.snapshot.payload) == stored.crc32
}

impl Journal for MemJournal {
    fn append(&mut self, batches: &[Batch]) -> Result<(), StoreError> {
        let new_last_seq = verify::check_append(self.last_seq, batches)?;
        let mut state = self.storage.lock();
        for batch in batches {
            let crc32 = verify::batch_crc(batch.first_seq, batch.n_events, &batch.payload);
            state.batches.push_back(StoredBatch {
                batch: Arc::new(batch.clone()),
                crc32,
            });
        }
        self.last_seq = new_last_seq;
        Ok(())
    }

    fn last_seq(&self) -> u64 {
        self.last_seq
    }

    fn compacted_through(&self) -> u64 {
        self.compacted_through
    }

    fn write_snapshot(&mut self, snapshot: &Snapshot) -> Result<(), StoreError> {
        let crc32 = verify::check_snapshot(snapshot, self.last_seq)?;
        let mut state = self.storage.lock();
        state
            .snapshots
            .retain(|stored| stored.snapshot.seq != snapshot.seq);
        state.snapshots.push(StoredSnapshot {
            snapshot: snapshot.clone(),
            crc32,
        });
        state.snapshots.sort_by_key(|stored| stored.snapshot.seq);
        let n_old = state.snapshots.len().saturating_sub(SNAPSHOTS_KEPT);
        state.snapshots.drain(..n_old);
        Ok(())
    }

    fn latest_snapshot(&mut self) -> Result<Option<Snapshot>, StoreError> {
        let state = self.storage.lock();
        let newest_valid = state
            .snapshots
            .iter()
            .rev()
            .find(|stored| snapshot_crc_ok(stored));
        Ok(newest_valid.map(|stored| stored.snapshot.clone()))
    }

    fn replay(
        &mut self,
        after_seq: u64,
        visit: &mut dyn FnMut(&Batch) -> Result<(), StoreError>,
    ) -> Result<u64, StoreError> {
        // The storage may hold more than this handle's `last_seq` knows: the batches decide.
        verify::check_replay_from(after_seq, self.compacted_through, self.last_seq)?;
        let start = {
            let state = self.storage.lock();
            state
                .batches
                .partition_point(|stored| stored.batch.last_seq() <= after_seq)
        };
        let mut replay_check = ReplayCheck::new(after_seq);
        let mut n_batches = 0;
        // The lock is taken per batch so a visitor may touch the storage without deadlocking.
        for index in start.. {
            let Some(stored) = self.storage.lock().batches.get(index).cloned() else {
                break;
            };
            replay_check.check(&stored.batch, stored.crc32)?;
            visit(&stored.batch)?;
            n_batches += 1;
        }
        replay_check.finish(self.last_seq)?;
        Ok(n_batches)
    }

    fn compact_through(&mut self, seq: u64) -> Result<(), StoreError> {
        let mut state = self.storage.lock();
        let newest_snapshot = state.snapshots.last().map(|stored| stored.snapshot.seq);
        if newest_snapshot.is_none_or(|snapshot_seq| seq > snapshot_seq) {
            return Err(StoreError::CompactPastSnapshot {
                seq,
                newest_snapshot,
            });
        }
        while let Some(front) = state.batches.front()
            && front.batch.last_seq() <= seq
        {
            state.compacted_through = front.batch.last_seq();
            state.batches.pop_front();
        }
        self.compacted_through = state.compacted_through;
        Ok(())
    }

    fn start_at(&mut self, seq: u64) -> Result<(), StoreError> {
        let mut state = self.storage.lock();
        if self.last_seq > 0 || !state.batches.is_empty() || !state.snapshots.is_empty() {
            return Err(StoreError::NotEmpty {
                last_seq: self.last_seq,
            });
        }
        verify::check_start(seq)?;
        state.compacted_through = seq;
        self.compacted_through = seq;
        self.last_seq = seq;
        Ok(())
    }
}
