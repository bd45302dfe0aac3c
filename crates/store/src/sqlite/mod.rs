//! The embedded backend: one SQLite file in WAL mode.

mod schema;

use std::path::{Path, PathBuf};
use std::time::Duration;

use rusqlite::{Connection, OptionalExtension, TransactionBehavior, params};

use crate::verify::{self, ReplayCheck};
use crate::{Batch, Journal, OpenReport, SNAPSHOTS_KEPT, Snapshot, SnapshotWriter, StoreError};
use schema::{seq_from_sql, seq_to_sql};

/// What an acknowledged append survives.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub enum Durability {
    /// `synchronous=FULL`: every commit is fsynced; survives power loss. The default.
    #[default]
    Fsync,
    /// `synchronous=NORMAL`: survives a process crash or `kill -9`, not a power loss.
    Os,
}

/// How long a commit waits for another connection (an operator's `sqlite3` shell, say) to
/// release its lock before failing.
const BUSY_TIMEOUT: Duration = Duration::from_secs(5);

/// Prepared statements stay cached on the connection; the hot path uses about ten.
const STATEMENT_CACHE_CAPACITY: usize = 32;

/// A journal in one SQLite file (by convention `<data_dir>/journal.sqlite`).
///
/// Tables: `batches (first_seq INTEGER PRIMARY KEY, n_events, crc32, payload BLOB)`,
/// `snapshots (seq INTEGER PRIMARY KEY, crc32, payload BLOB)` and `meta (key, value)` holding
/// `schema_version` and `compacted_through`. One process writes it at a time.
pub struct SqliteJournal {
    connection: Connection,
    last_seq: u64,
    compacted_through: u64,
    path: PathBuf,
    durability: Durability,
}

impl SqliteJournal {
    /// Opens (creating if needed) the journal at `path`, verifies every batch and snapshot, and
    /// repairs a torn tail. See [`OpenReport`] for what was found.
    pub fn open(
        path: impl AsRef<Path>,
        durability: Durability,
    ) -> Result<(SqliteJournal, OpenReport), StoreError> {
        let path = path.as_ref();
        let open_error = |source| StoreError::Open {
            path: path.to_owned(),
            source,
        };
        let mut connection = Connection::open(path).map_err(open_error)?;
        configure(&connection, durability).map_err(open_error)?;
        let compacted_through = schema::set_up(&mut connection)?;
        let report = schema::verify_and_repair(&mut connection, compacted_through)?;
        let journal = SqliteJournal {
            connection,
            last_seq: report.last_seq,
            compacted_through,
            path: path.to_owned(),
            durability,
        };
        Ok((journal, report))
    }

    /// The batch holding `seq`, or else the last one before it: `(first_seq, n_events)`.
    fn batch_at_or_before(&self, seq: u64) -> Result<Option<(u64, u32)>, StoreError> {
        let mut statement = self.connection.prepare_cached(
            "SELECT first_seq, n_events FROM batches WHERE first_seq <= ?1 \
             ORDER BY first_seq DESC LIMIT 1",
        )?;
        let found: Option<(i64, i64)> = statement
            .query_row([seq_to_sql(seq)], |row| Ok((row.get(0)?, row.get(1)?)))
            .optional()?;
        let Some((first_seq, n_events)) = found else {
            return Ok(None);
        };
        match (seq_from_sql(first_seq), u32::try_from(n_events)) {
            (Some(first_seq), Ok(n_events)) if n_events > 0 => Ok(Some((first_seq, n_events))),
            _ => Err(StoreError::CorruptBatch {
                first_seq: first_seq.max(0).unsigned_abs(),
                reason: "has an invalid seq or event count".to_owned(),
            }),
        }
    }
}

/// Keeps the newest [`SNAPSHOTS_KEPT`] snapshots and deletes the others with their chunks.
fn prune_snapshots(transaction: &rusqlite::Transaction<'_>) -> Result<(), StoreError> {
    transaction
        .prepare_cached(
            "DELETE FROM snapshots WHERE seq NOT IN \
             (SELECT seq FROM snapshots ORDER BY seq DESC LIMIT ?1)",
        )?
        .execute([SNAPSHOTS_KEPT as i64])?;
    transaction.execute(schema::DELETE_ORPHAN_CHUNKS, [])?;
    Ok(())
}

/// Deletes the batches wholly at or below `seq` (a batch straddling it stays), oldest first,
/// [`COMPACT_SLICE_BATCHES`] per transaction, each moving `compacted_through` with it: the
/// file is consistent after every commit and an append waits at most for one slice. Answers
/// the new `compacted_through`, if it moved.
fn compact(connection: &mut Connection, seq: u64) -> Result<Option<u64>, StoreError> {
    let newest_snapshot: Option<u64> = connection
        .prepare_cached("SELECT max(seq) FROM snapshots")?
        .query_row([], |row| row.get::<_, Option<i64>>(0))?
        .and_then(seq_from_sql);
    if newest_snapshot.is_none_or(|snapshot_seq| seq > snapshot_seq) {
        return Err(StoreError::CompactPastSnapshot {
            seq,
            newest_snapshot,
        });
    }
    let mut compacted = None;
    loop {
        let transaction = connection.transaction_with_behavior(TransactionBehavior::Immediate)?;
        let slice: Vec<(i64, i64)> = transaction
            .prepare_cached("SELECT first_seq, n_events FROM batches ORDER BY first_seq LIMIT ?1")?
            .query_map([COMPACT_SLICE_BATCHES], |row| {
                Ok((row.get(0)?, row.get(1)?))
            })?
            .collect::<Result<_, _>>()?;
        let n_slice = slice.len();
        let whole = slice
            .into_iter()
            .take_while(|(first_seq, n_events)| {
                (first_seq + n_events - 1).max(0).unsigned_abs() <= seq
            })
            .enumerate()
            .last();
        let Some((idx, (last_first, last_n))) = whole else {
            return Ok(compacted);
        };
        let deleted_through = (last_first + last_n - 1).max(0).unsigned_abs();
        transaction
            .prepare_cached("DELETE FROM batches WHERE first_seq <= ?1")?
            .execute([last_first])?;
        transaction
            .prepare_cached("UPDATE meta SET value = ?1 WHERE key = 'compacted_through'")?
            .execute([seq_to_sql(deleted_through)])?;
        transaction.commit()?;
        compacted = Some(deleted_through);
        // A slice cut short by `seq`, or by the end of the journal, was the last.
        if idx + 1 < n_slice || (n_slice as i64) < COMPACT_SLICE_BATCHES {
            return Ok(compacted);
        }
    }
}

fn configure(connection: &Connection, durability: Durability) -> Result<(), rusqlite::Error> {
    connection.set_prepared_statement_cache_capacity(STATEMENT_CACHE_CAPACITY);
    connection.busy_timeout(BUSY_TIMEOUT)?;
    // WAL: a commit is one sequential append to the log (and one fsync under FULL), and readers
    // never block the writer.
    let mode: String = connection.query_row("PRAGMA journal_mode = WAL", [], |row| row.get(0))?;
    if !mode.eq_ignore_ascii_case("wal") {
        return Err(rusqlite::Error::InvalidParameterName(format!(
            "journal_mode {mode}"
        )));
    }
    let synchronous = match durability {
        Durability::Fsync => "FULL",
        Durability::Os => "NORMAL",
    };
    connection.pragma_update(None, "synchronous", synchronous)?;
    Ok(())
}

impl Journal for SqliteJournal {
    fn append(&mut self, batches: &[Batch]) -> Result<(), StoreError> {
        let new_last_seq = verify::check_append(self.last_seq, batches)?;
        if batches.is_empty() {
            return Ok(());
        }
        let transaction = self
            .connection
            .transaction_with_behavior(TransactionBehavior::Immediate)?;
        {
            let mut insert = transaction.prepare_cached(
                "INSERT INTO batches (first_seq, n_events, crc32, payload) VALUES (?1, ?2, ?3, ?4)",
            )?;
            for batch in batches {
                let crc32 = verify::batch_crc(batch.first_seq, batch.n_events, &batch.payload);
                insert.execute(params![
                    seq_to_sql(batch.first_seq),
                    batch.n_events,
                    crc32,
                    batch.payload
                ])?;
            }
        }
        transaction.commit()?;
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
        let transaction = self
            .connection
            .transaction_with_behavior(TransactionBehavior::Immediate)?;
        transaction
            .prepare_cached(
                "INSERT OR REPLACE INTO snapshots (seq, crc32, payload) VALUES (?1, ?2, ?3)",
            )?
            .execute(params![seq_to_sql(snapshot.seq), crc32, snapshot.payload])?;
        prune_snapshots(&transaction)?;
        transaction.commit()?;
        Ok(())
    }

    fn latest_snapshot(&mut self) -> Result<Option<Snapshot>, StoreError> {
        let mut statement = self
            .connection
            .prepare_cached("SELECT seq, crc32, payload FROM snapshots ORDER BY seq DESC")?;
        let mut rows = statement.query([])?;
        while let Some(row) = rows.next()? {
            let Some(seq) = seq_from_sql(row.get(0)?) else {
                continue;
            };
            // A snapshot damaged since open is skipped like on open: the previous one is next.
            if let Ok(payload) = schema::read_snapshot_row(&self.connection, row, seq) {
                return Ok(Some(Snapshot { seq, payload }));
            }
        }
        Ok(None)
    }

    fn replay(
        &mut self,
        after_seq: u64,
        visit: &mut dyn FnMut(&Batch) -> Result<(), StoreError>,
    ) -> Result<u64, StoreError> {
        if !verify::check_replay_from(after_seq, self.compacted_through, self.last_seq)? {
            return Ok(0);
        }
        let start = match self.batch_at_or_before(after_seq)? {
            Some((first_seq, n_events)) if first_seq + u64::from(n_events) - 1 > after_seq => {
                first_seq
            }
            _ => after_seq + 1,
        };
        let mut statement = self.connection.prepare_cached(
            "SELECT first_seq, n_events, crc32, payload FROM batches \
             WHERE first_seq >= ?1 ORDER BY first_seq",
        )?;
        let mut rows = statement.query([seq_to_sql(start)])?;
        let mut replay_check = ReplayCheck::new(after_seq);
        let mut batch = Batch {
            first_seq: 0,
            n_events: 0,
            payload: Vec::new(),
        };
        let mut n_batches = 0;
        while let Some(row) = rows.next()? {
            let first_seq = seq_from_sql(row.get(0)?).unwrap_or(0);
            let (n_events, crc32, payload) = schema::read_batch_row(row)
                .map_err(|reason| StoreError::CorruptBatch { first_seq, reason })?;
            batch.refill(first_seq, n_events, payload);
            replay_check.check(&batch, crc32)?;
            visit(&batch)?;
            n_batches += 1;
        }
        replay_check.finish(self.last_seq)?;
        Ok(n_batches)
    }

    fn compact_through(&mut self, seq: u64) -> Result<(), StoreError> {
        if let Some(compacted_through) = compact(&mut self.connection, seq)? {
            self.compacted_through = compacted_through;
        }
        Ok(())
    }

    fn snapshot_writer(&self) -> Result<Option<Box<dyn SnapshotWriter>>, StoreError> {
        let open_error = |source| StoreError::Open {
            path: self.path.clone(),
            source,
        };
        let connection = Connection::open(&self.path).map_err(open_error)?;
        configure(&connection, self.durability).map_err(open_error)?;
        // From now on the writer checkpoints (passively, about once a second): an append no
        // longer copies the log into the file when it crosses SQLite's threshold.
        self.connection
            .pragma_update(None, "wal_autocheckpoint", 0)
            .map_err(open_error)?;
        Ok(Some(Box::new(SqliteSnapshotWriter { connection })))
    }

    fn start_at(&mut self, seq: u64) -> Result<(), StoreError> {
        let transaction = self
            .connection
            .transaction_with_behavior(TransactionBehavior::Immediate)?;
        let n_rows: i64 = transaction.query_row(
            "SELECT (SELECT count(*) FROM batches) + (SELECT count(*) FROM snapshots)",
            [],
            |row| row.get(0),
        )?;
        if n_rows > 0 || self.last_seq > 0 {
            return Err(StoreError::NotEmpty {
                last_seq: self.last_seq,
            });
        }
        verify::check_start(seq)?;
        transaction.execute(
            "UPDATE meta SET value = ?1 WHERE key = 'compacted_through'",
            [seq_to_sql(seq)],
        )?;
        transaction.commit()?;
        self.compacted_through = seq;
        self.last_seq = seq;
        Ok(())
    }

    fn snapshot_writer_stopped(&mut self) -> Result<(), StoreError> {
        // SQLite's default threshold, in pages.
        self.connection
            .pragma_update(None, "wal_autocheckpoint", 1000)?;
        Ok(())
    }
}

/// The bytes of a snapshot written per transaction by [`SqliteSnapshotWriter`]: an append waits
/// at most for one such write (and its fsync).
pub const SNAPSHOT_CHUNK_BYTES: usize = 1 << 20;

/// Batches deleted per transaction when compacting from the writer.
const COMPACT_SLICE_BATCHES: i64 = 512;

/// Writes snapshots and compacts on its own connection to the journal's file, from another
/// thread than the appender's. A snapshot goes in chunks of [`SNAPSHOT_CHUNK_BYTES`], each its
/// own transaction, then one small transaction adds its row (the CRC of the whole) and prunes
/// the oldest: until that row exists the chunks are invisible, and a crash leaves only chunks
/// without a row, which the next open deletes. Compaction deletes the oldest batches in slices,
/// each moving `compacted_through` with it, so the file is consistent after every commit.
pub struct SqliteSnapshotWriter {
    connection: Connection,
}

impl SnapshotWriter for SqliteSnapshotWriter {
    fn write_snapshot(&mut self, snapshot: &Snapshot) -> Result<(), StoreError> {
        let last: Option<(i64, i64)> = self
            .connection
            .prepare_cached(
                "SELECT first_seq, n_events FROM batches ORDER BY first_seq DESC LIMIT 1",
            )?
            .query_row([], |row| Ok((row.get(0)?, row.get(1)?)))
            .optional()?;
        if let Some((first_seq, n_events)) = last {
            let last_seq = (first_seq + n_events - 1).max(0).unsigned_abs();
            if snapshot.seq > last_seq {
                return Err(StoreError::SnapshotAhead {
                    snapshot_seq: snapshot.seq,
                    last_seq,
                });
            }
        }
        let crc32 = verify::snapshot_crc(snapshot.seq, &snapshot.payload);
        let seq = seq_to_sql(snapshot.seq);
        self.connection
            .prepare_cached("DELETE FROM snapshot_chunks WHERE seq = ?1")?
            .execute([seq])?;
        for (idx, chunk) in snapshot.payload.chunks(SNAPSHOT_CHUNK_BYTES).enumerate() {
            self.connection
                .prepare_cached(
                    "INSERT INTO snapshot_chunks (seq, idx, bytes) VALUES (?1, ?2, ?3)",
                )?
                .execute(params![seq, idx as i64, chunk])?;
        }
        let transaction = self
            .connection
            .transaction_with_behavior(TransactionBehavior::Immediate)?;
        transaction
            .prepare_cached(
                "INSERT OR REPLACE INTO snapshots (seq, crc32, payload) VALUES (?1, ?2, x'')",
            )?
            .execute(params![seq, crc32])?;
        prune_snapshots(&transaction)?;
        transaction.commit()?;
        Ok(())
    }

    fn checkpoint(&mut self) -> Result<(), StoreError> {
        self.connection
            .query_row("PRAGMA wal_checkpoint(PASSIVE)", [], |_| Ok(()))?;
        Ok(())
    }

    fn compact_through(&mut self, seq: u64) -> Result<(), StoreError> {
        compact(&mut self.connection, seq).map(|_| ())
    }
}
