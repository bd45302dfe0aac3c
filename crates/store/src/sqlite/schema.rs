//! Setting up the SQLite file and verifying it on open.

use rusqlite::types::ValueRef;
use rusqlite::{Connection, Row, TransactionBehavior};

use crate::verify::{self, TailCheck, TailVerdict};
use crate::{OpenReport, StoreError};

/// The format written by this build; a future format bumps it and migrates.
pub(crate) const SCHEMA_VERSION: i64 = 1;

const CREATE_TABLES: &str = "
    CREATE TABLE IF NOT EXISTS meta (
        key TEXT PRIMARY KEY,
        value INTEGER NOT NULL
    ) WITHOUT ROWID;
    CREATE TABLE IF NOT EXISTS batches (
        first_seq INTEGER PRIMARY KEY,
        n_events INTEGER NOT NULL,
        crc32 INTEGER NOT NULL,
        payload BLOB NOT NULL
    );
    CREATE TABLE IF NOT EXISTS snapshots (
        seq INTEGER PRIMARY KEY,
        crc32 INTEGER NOT NULL,
        payload BLOB NOT NULL
    );
    CREATE TABLE IF NOT EXISTS snapshot_chunks (
        seq INTEGER NOT NULL,
        idx INTEGER NOT NULL,
        bytes BLOB NOT NULL,
        PRIMARY KEY (seq, idx)
    ) WITHOUT ROWID;
";

/// Deletes the chunks of snapshots that have no row (pruned, corrupt, or a write cut short).
pub(crate) const DELETE_ORPHAN_CHUNKS: &str =
    "DELETE FROM snapshot_chunks WHERE seq NOT IN (SELECT seq FROM snapshots)";

/// Creates the tables of a new file, or checks the schema version of an existing one.
/// Returns the seq through which the journal was compacted.
pub(crate) fn set_up(connection: &mut Connection) -> Result<u64, StoreError> {
    let transaction = connection.transaction_with_behavior(TransactionBehavior::Immediate)?;
    transaction.execute_batch(CREATE_TABLES)?;
    let found: Option<i64> = read_meta(&transaction, "schema_version")?;
    match found {
        None => {
            transaction.execute(
                "INSERT INTO meta (key, value) VALUES ('schema_version', ?1), \
                 ('compacted_through', 0)",
                [SCHEMA_VERSION],
            )?;
        }
        Some(found) if found != SCHEMA_VERSION => {
            return Err(StoreError::UnsupportedSchema {
                found,
                supported: SCHEMA_VERSION,
            });
        }
        Some(_) => {}
    }
    let compacted_through = read_meta(&transaction, "compacted_through")?.unwrap_or(0);
    transaction.commit()?;
    Ok(seq_from_sql(compacted_through).unwrap_or(0))
}

fn read_meta(connection: &Connection, key: &str) -> Result<Option<i64>, StoreError> {
    let mut statement = connection.prepare_cached("SELECT value FROM meta WHERE key = ?1")?;
    let mut rows = statement.query([key])?;
    match rows.next()? {
        Some(row) => Ok(Some(row.get(0)?)),
        None => Ok(None),
    }
}

/// Verifies every batch and snapshot, then cuts a torn tail and deletes corrupt snapshots in one
/// transaction. Nothing is changed when the journal refuses to open.
pub(crate) fn verify_and_repair(
    connection: &mut Connection,
    compacted_through: u64,
) -> Result<OpenReport, StoreError> {
    let tail = verify_batches(connection, compacted_through)?;
    let snapshots = verify_snapshots(connection)?;
    let report = verify::choose_snapshot(&tail, compacted_through, &snapshots)?;
    if report.is_clean() {
        // The chunks of a chunked write cut short by a crash have no row: they go.
        connection.execute(DELETE_ORPHAN_CHUNKS, [])?;
        return Ok(report);
    }
    let transaction = connection.transaction_with_behavior(TransactionBehavior::Immediate)?;
    if let Some((cut_from, _, _)) = &tail.cut {
        transaction.execute(
            "DELETE FROM batches WHERE first_seq >= ?1",
            [seq_to_sql(*cut_from)],
        )?;
    }
    for seq in &report.corrupt_snapshots {
        transaction.execute("DELETE FROM snapshots WHERE seq = ?1", [seq_to_sql(*seq)])?;
    }
    transaction.execute(DELETE_ORPHAN_CHUNKS, [])?;
    transaction.commit()?;
    Ok(report)
}

fn verify_batches(
    connection: &Connection,
    compacted_through: u64,
) -> Result<TailVerdict, StoreError> {
    let mut tail_check = TailCheck::new(compacted_through);
    let mut statement = connection
        .prepare("SELECT first_seq, n_events, crc32, payload FROM batches ORDER BY first_seq")?;
    let mut rows = statement.query([])?;
    while let Some(row) = rows.next()? {
        let first_seq = seq_from_sql(row.get(0)?).unwrap_or(0);
        let checked = read_batch_row(row).and_then(|(n_events, crc32, payload)| {
            if verify::batch_crc(first_seq, n_events, payload) == crc32 {
                Ok(n_events)
            } else {
                Err("crc mismatch".to_owned())
            }
        });
        tail_check.push(first_seq, checked);
    }
    tail_check.finish()
}

/// Returns `(seq, crc_ok)` for every snapshot, newest first.
fn verify_snapshots(connection: &Connection) -> Result<Vec<(u64, bool)>, StoreError> {
    let mut statement =
        connection.prepare("SELECT seq, crc32, payload FROM snapshots ORDER BY seq DESC")?;
    let mut rows = statement.query([])?;
    let mut snapshots = Vec::new();
    while let Some(row) = rows.next()? {
        let seq = seq_from_sql(row.get(0)?).unwrap_or(0);
        snapshots.push((seq, read_snapshot_row(connection, row, seq).is_ok()));
    }
    Ok(snapshots)
}

/// Reads `n_events, crc32, payload` at columns 1..=3, or says which field is out of range.
pub(crate) fn read_batch_row<'row>(row: &'row Row<'_>) -> Result<(u32, u32, &'row [u8]), String> {
    let n_events = match row.get_ref(1) {
        Ok(ValueRef::Integer(n_events)) => u32::try_from(n_events).ok().filter(|n| *n > 0),
        _ => None,
    }
    .ok_or_else(|| "has an invalid event count".to_owned())?;
    let crc32 = read_crc(row, 2)?;
    match row.get_ref(3) {
        Ok(ValueRef::Blob(payload)) => Ok((n_events, crc32, payload)),
        _ => Err("has a payload that is not a blob".to_owned()),
    }
}

/// Reads a snapshot row (`seq, crc32, payload`) and checks its CRC. An empty payload means the
/// snapshot was written in chunks (`snapshot_chunks`, by a [`crate::SnapshotWriter`]): they are
/// read in order and joined.
pub(crate) fn read_snapshot_row(
    connection: &Connection,
    row: &Row<'_>,
    seq: u64,
) -> Result<Vec<u8>, String> {
    let crc32 = read_crc(row, 1)?;
    let mut payload = match row.get_ref(2) {
        Ok(ValueRef::Blob(payload)) => payload.to_vec(),
        _ => return Err("has a payload that is not a blob".to_owned()),
    };
    if payload.is_empty() {
        read_chunks(connection, seq, &mut payload)
            .map_err(|err| format!("its chunks cannot be read: {err}"))?;
    }
    if verify::snapshot_crc(seq, &payload) != crc32 {
        return Err("crc mismatch".to_owned());
    }
    Ok(payload)
}

fn read_chunks(connection: &Connection, seq: u64, out: &mut Vec<u8>) -> rusqlite::Result<()> {
    let mut statement = connection
        .prepare_cached("SELECT bytes FROM snapshot_chunks WHERE seq = ?1 ORDER BY idx")?;
    let mut rows = statement.query([seq_to_sql(seq)])?;
    while let Some(row) = rows.next()? {
        if let ValueRef::Blob(bytes) = row.get_ref(0)? {
            out.extend_from_slice(bytes);
        }
    }
    Ok(())
}

fn read_crc(row: &Row<'_>, column: usize) -> Result<u32, String> {
    match row.get_ref(column) {
        Ok(ValueRef::Integer(crc32)) => u32::try_from(crc32).ok(),
        _ => None,
    }
    .ok_or_else(|| "has an invalid crc32".to_owned())
}

/// Seqs are checked to fit in an i64 before they are written (see `verify::MAX_SEQ`).
pub(crate) fn seq_to_sql(seq: u64) -> i64 {
    i64::try_from(seq).unwrap_or(i64::MAX)
}

/// A seq read back from the file; `None` for a negative value, which only damage can produce.
pub(crate) fn seq_from_sql(value: i64) -> Option<u64> {
    u64::try_from(value).ok()
}
