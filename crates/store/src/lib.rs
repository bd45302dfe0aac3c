//! The journal and the snapshots of Purser, behind one trait.
//!
//! The engine thread appends batches of already-encoded events to a durable [`Journal`], takes
//! [`Snapshot`]s of its state, and on restart loads the newest snapshot and replays the batches
//! after it. The store never looks inside a payload: events are opaque bytes, numbered by a
//! sequence (`seq`) that starts at 1 and has no gaps.
//!
//! Backends:
//! - [`SqliteJournal`]: one SQLite file in WAL mode, the embedded default. Inspectable with any
//!   SQLite tool (`batches`, `snapshots` and `meta` tables).
//! - [`MemJournal`] over a [`MemStorage`]: in memory, for tests and the simulation, which can
//!   lose unacknowledged writes or corrupt records on demand.
//!
//! Integrity: every batch and snapshot carries a CRC32. Opening a journal verifies every batch;
//! a corrupt tail (a torn write) is cut and reported in [`OpenReport`], a corrupt batch followed by
//! valid ones refuses to open, and a corrupt newest snapshot falls back to the previous one.
//!
//! Dependencies by design: rusqlite (bundled SQLite), crc32fast, thiserror. No serde, no async,
//! no knowledge of the event format.

mod error;
pub mod export;
pub mod lease;
mod mem;
mod pg;
mod sqlite;
mod verify;

pub use error::StoreError;
pub use lease::{Epoch, LeaseHolder, LeaseKeeper, Leases, Transition};
pub use mem::{Corruption, MemJournal, MemStorage};
pub use pg::{
    PostgresJournal, PostgresLeases, PostgresSnapshotWriter, TEST_SERVER_ENV, TempDatabase,
};
pub use sqlite::{Durability, SNAPSHOT_CHUNK_BYTES, SqliteJournal, SqliteSnapshotWriter};

/// How many snapshots a journal keeps; older ones are deleted when a new one is written.
pub const SNAPSHOTS_KEPT: usize = 2;

/// Events `first_seq ..= first_seq + n_events - 1`, encoded and concatenated by the caller.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Batch {
    pub first_seq: u64,
    pub n_events: u32,
    pub payload: Vec<u8>,
}

impl Batch {
    /// The seq of the batch's last event.
    pub fn last_seq(&self) -> u64 {
        self.first_seq + u64::from(self.n_events) - 1
    }

    /// Takes a stored row's fields, reusing the payload's buffer (replay streams rows through
    /// one batch).
    pub(crate) fn refill(&mut self, first_seq: u64, n_events: u32, payload: &[u8]) {
        self.first_seq = first_seq;
        self.n_events = n_events;
        self.payload.clear();
        self.payload.extend_from_slice(payload);
    }
}

/// The engine's state as of event `seq` (inclusive), encoded by the caller.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Snapshot {
    pub seq: u64,
    pub payload: Vec<u8>,
}

/// What opening a journal found and repaired; the server logs it.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct OpenReport {
    /// The seq of the last event kept (0 for an empty journal).
    pub last_seq: u64,
    /// Events at or below this seq were deleted by compaction.
    pub compacted_through: u64,
    /// Batches verified and kept.
    pub n_batches: u64,
    /// Batches cut from the tail because they were corrupt (a torn write).
    pub cut_batches: u64,
    /// Why the first cut batch was corrupt.
    pub cut_reason: Option<String>,
    /// The newest snapshot whose CRC checks, the one to load.
    pub snapshot_seq: Option<u64>,
    /// Seqs of the snapshots deleted because their CRC failed, newest first.
    pub corrupt_snapshots: Vec<u64>,
}

impl OpenReport {
    /// True when open found nothing to repair.
    pub fn is_clean(&self) -> bool {
        self.cut_batches == 0 && self.corrupt_snapshots.is_empty()
    }
}

/// A durable, append-only journal of event batches plus the newest few snapshots.
///
/// One writer: the engine thread owns the journal and calls it synchronously.
pub trait Journal: Send {
    /// Appends `batches` in one transaction and returns once they are durable.
    ///
    /// The seqs must continue exactly from `last_seq() + 1`, batch after batch, else
    /// `StoreError::SeqGap` (or `EmptyBatch`, `SeqOutOfRange`) and nothing is written.
    fn append(&mut self, batches: &[Batch]) -> Result<(), StoreError>;

    /// The seq of the last appended event, 0 for an empty journal.
    fn last_seq(&self) -> u64;

    /// Events at or below this seq were deleted by compaction (0 if none were).
    fn compacted_through(&self) -> u64;

    /// Writes a snapshot durably, replacing one with the same seq, and keeps the newest
    /// [`SNAPSHOTS_KEPT`]. `snapshot.seq` must not be past `last_seq()`.
    fn write_snapshot(&mut self, snapshot: &Snapshot) -> Result<(), StoreError>;

    /// The newest snapshot whose CRC checks, if any.
    fn latest_snapshot(&mut self) -> Result<Option<Snapshot>, StoreError>;

    /// Calls `visit` for every batch holding events after `after_seq`, in seq order, streaming.
    ///
    /// A batch straddling `after_seq` is given whole; the caller skips its events at or below
    /// `after_seq`. Every batch's CRC and the seq chain are checked as it streams, and the batches
    /// given cover exactly `after_seq + 1 ..= last_seq()`. Returns the number of batches visited.
    fn replay(
        &mut self,
        after_seq: u64,
        visit: &mut dyn FnMut(&Batch) -> Result<(), StoreError>,
    ) -> Result<u64, StoreError>;

    /// Deletes the batches whose events are all at or below `seq` (compaction after a snapshot).
    ///
    /// `seq` must not be past the newest snapshot. Compact through the *previous* snapshot's seq
    /// to keep the fallback usable should the newest snapshot turn out corrupt.
    fn compact_through(&mut self, seq: u64) -> Result<(), StoreError>;

    /// A handle that writes snapshots and compacts from another thread, in transactions small
    /// enough that an append waits at most for one of them; `None` when this backend has none
    /// (the caller then snapshots through the journal itself).
    fn snapshot_writer(&self) -> Result<Option<Box<dyn SnapshotWriter>>, StoreError> {
        Ok(None)
    }

    /// The snapshot writer is gone: the journal takes its own housekeeping back (SQLite:
    /// checkpoints on commit again).
    fn snapshot_writer_stopped(&mut self) -> Result<(), StoreError> {
        Ok(())
    }

    /// True when other processes share this journal (PostgreSQL): one leader appends, standbys
    /// follow, and a failed append means "step down and re-read", not "stop".
    fn is_shared(&self) -> bool {
        false
    }

    /// Re-reads where the journal ends and how far it is compacted, which another process may
    /// have moved (a standby following its leader); answers the new `last_seq`.
    fn refresh(&mut self) -> Result<u64, StoreError> {
        Ok(self.last_seq())
    }

    /// Makes an empty journal start after `seq`, as if events `1..=seq` had been journaled and
    /// compacted: an import then writes a snapshot at or after `seq` and the batches after it.
    /// Refused (`NotEmpty`) when the journal holds any batch or snapshot.
    fn start_at(&mut self, seq: u64) -> Result<(), StoreError>;
}

/// Snapshots and compaction off the appender's thread (see [`Journal::snapshot_writer`]). The
/// same promises as the journal's methods of the same names: a snapshot is durable and found by
/// `latest_snapshot` only once whole, and compaction never passes the newest snapshot.
pub trait SnapshotWriter: Send {
    fn write_snapshot(&mut self, snapshot: &Snapshot) -> Result<(), StoreError>;
    fn compact_through(&mut self, seq: u64) -> Result<(), StoreError>;
    /// Moves what the backend's write-ahead log holds into its main file without blocking
    /// appends (SQLite: a passive checkpoint; the journal's own connection stops checkpointing
    /// once a writer exists). Called about once a second.
    fn checkpoint(&mut self) -> Result<(), StoreError> {
        Ok(())
    }
}
