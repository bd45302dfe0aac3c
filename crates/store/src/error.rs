//! The one error type of the store.

use std::path::PathBuf;

/// Everything that can go wrong in the journal or the snapshots.
///
/// The variants are what a caller can act on: a caller bug (`SeqGap`, `EmptyBatch`,
/// `SnapshotAhead`, ...), damage found on disk (`CorruptBatch`, `CorruptMiddle`, ...) that needs
/// an operator, or an I/O failure from the database (`Database`, `Open`).
#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    /// A batch does not continue the journal; nothing of the call was written.
    #[error("journal batch seq gap: expected first_seq {expected}, got {found}")]
    SeqGap { expected: u64, found: u64 },

    /// A batch with zero events; it would have no seq of its own.
    #[error("journal batch at seq {first_seq} has no events")]
    EmptyBatch { first_seq: u64 },

    /// A batch whose seqs do not fit the journal's range (0 < seq <= i64::MAX).
    #[error("journal batch at seq {first_seq} with {n_events} events is outside the seq range")]
    SeqOutOfRange { first_seq: u64, n_events: u32 },

    /// A snapshot claims a seq the journal does not have yet.
    #[error("snapshot at seq {snapshot_seq} is ahead of the journal, which ends at seq {last_seq}")]
    SnapshotAhead { snapshot_seq: u64, last_seq: u64 },

    /// Compaction would delete events that no snapshot covers.
    #[error(
        "cannot compact the journal through seq {seq}: the newest snapshot is {}",
        describe_snapshot(.newest_snapshot)
    )]
    CompactPastSnapshot {
        seq: u64,
        newest_snapshot: Option<u64>,
    },

    /// Replay asked for events that compaction already deleted.
    #[error(
        "journal compacted through seq {compacted_through}, cannot replay after seq {after_seq}"
    )]
    Compacted {
        after_seq: u64,
        compacted_through: u64,
    },

    /// A batch failed its check while replaying (CRC, seq chain, or a missing batch).
    #[error("journal batch at seq {first_seq} is corrupt: {reason}")]
    CorruptBatch { first_seq: u64, reason: String },

    /// A corrupt batch is followed by valid ones: cutting it would drop acknowledged events.
    #[error(
        "journal batch at seq {first_seq} is corrupt ({reason}) and followed by {n_valid_after} \
         valid batches: refusing to open rather than drop acknowledged events"
    )]
    CorruptMiddle {
        first_seq: u64,
        reason: String,
        n_valid_after: u64,
    },

    /// On open, no usable snapshot covers the events that compaction deleted.
    #[error(
        "journal compacted through seq {compacted_through} but the newest usable snapshot is {}: \
         the events in between are lost",
        describe_snapshot(.usable_snapshot)
    )]
    UncoveredCompaction {
        compacted_through: u64,
        usable_snapshot: Option<u64>,
    },

    /// The database was written by a format this build does not read.
    #[error(
        "journal schema version {found} is not supported (this build reads version {supported})"
    )]
    UnsupportedSchema { found: i64, supported: i64 },

    /// The visitor given to `replay` stopped it.
    #[error("journal replay aborted by its visitor: {0}")]
    ReplayAborted(Box<dyn std::error::Error + Send + Sync>),

    /// The database file could not be opened or set up.
    #[error("journal database {path} could not be opened: {source}")]
    Open {
        path: PathBuf,
        source: rusqlite::Error,
    },

    /// Any other failure of the database.
    #[error("journal database error: {0}")]
    Database(#[from] rusqlite::Error),

    /// A failure of PostgreSQL or of the connection to it, with its cause.
    #[error("journal database error (PostgreSQL): {0}")]
    Postgres(String),

    /// The shard's lease moved to a newer epoch: another leader took over, and this process's
    /// append (or snapshot) was refused. Nothing of the call was written.
    #[error(
        "shard {shard}: epoch {epoch} no longer holds the lease (another leader took over); \
         nothing was written"
    )]
    Fenced { shard: String, epoch: u64 },

    /// This process does not hold the shard's lease: it follows the journal and cannot append.
    #[error("shard {shard}: this process is a standby and does not append")]
    NotLeader { shard: String },

    /// An export file that cannot be read back whole (damaged, truncated, another format), or
    /// one that could not be written.
    #[error("export: {0}")]
    Export(String),

    /// An import (or a journal asked to start after a seq) needs an empty journal.
    #[error("the journal is not empty (it ends at seq {last_seq}): refusing to overwrite it")]
    NotEmpty { last_seq: u64 },
}

impl From<postgres::Error> for StoreError {
    fn from(error: postgres::Error) -> StoreError {
        // The driver's own message is terse ("db error"): the server's message and detail are in
        // its source.
        let mut message = error.to_string();
        if let Some(db) = error.as_db_error() {
            message = format!("{}: {}", db.code().code(), db.message());
            if let Some(detail) = db.detail() {
                message.push_str(&format!(" ({detail})"));
            }
        } else {
            let mut source = std::error::Error::source(&error);
            while let Some(cause) = source {
                message.push_str(&format!(": {cause}"));
                source = cause.source();
            }
        }
        StoreError::Postgres(message)
    }
}

fn describe_snapshot(seq: &Option<u64>) -> String {
    match seq {
        Some(seq) => format!("at seq {seq}"),
        None => "absent".to_owned(),
    }
}
