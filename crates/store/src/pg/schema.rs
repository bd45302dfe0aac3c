//! The tables of the PostgreSQL backend, their setup, and the verification on open.

use postgres::{Client, IsolationLevel, Transaction};

use crate::verify::{self, TailCheck};
use crate::{OpenReport, StoreError};

/// The format written by this build; a future format bumps it and migrates.
pub(crate) const SCHEMA_VERSION: i64 = 1;

/// Serializes the setup of concurrent first starts (`CREATE TABLE IF NOT EXISTS` races).
const SETUP_LOCK: i64 = 0x7075_7273_6572; // "purser"

/// Every shard's rows live in the same tables, keyed by the shard's name.
const CREATE_TABLES: &str = "
    CREATE TABLE IF NOT EXISTS purser_meta (
        key text PRIMARY KEY,
        value bigint NOT NULL
    );
    CREATE TABLE IF NOT EXISTS purser_shards (
        shard text PRIMARY KEY,
        compacted_through bigint NOT NULL DEFAULT 0
    );
    CREATE TABLE IF NOT EXISTS purser_batches (
        shard text NOT NULL,
        first_seq bigint NOT NULL,
        n_events bigint NOT NULL,
        crc32 bigint NOT NULL,
        epoch bigint NOT NULL,
        payload bytea NOT NULL,
        PRIMARY KEY (shard, first_seq)
    );
    CREATE TABLE IF NOT EXISTS purser_snapshots (
        shard text NOT NULL,
        seq bigint NOT NULL,
        crc32 bigint NOT NULL,
        PRIMARY KEY (shard, seq)
    );
    CREATE TABLE IF NOT EXISTS purser_snapshot_chunks (
        shard text NOT NULL,
        seq bigint NOT NULL,
        idx integer NOT NULL,
        bytes bytea NOT NULL,
        PRIMARY KEY (shard, seq, idx)
    );
    CREATE TABLE IF NOT EXISTS purser_leases (
        shard text PRIMARY KEY,
        owner text NOT NULL,
        epoch bigint NOT NULL,
        expires_at timestamptz NOT NULL,
        address text NOT NULL
    );
";

/// Creates the tables and records the schema version, once, whoever starts first.
pub(crate) fn set_up_tables(client: &mut Client) -> Result<(), StoreError> {
    let mut transaction = client.transaction()?;
    transaction.execute("SELECT pg_advisory_xact_lock($1)", &[&SETUP_LOCK])?;
    transaction.batch_execute(CREATE_TABLES)?;
    transaction.execute(
        "INSERT INTO purser_meta (key, value) VALUES ('schema_version', $1) \
         ON CONFLICT DO NOTHING",
        &[&SCHEMA_VERSION],
    )?;
    transaction.commit()?;
    Ok(())
}

/// Checks the schema version (the tables exist: `set_up_tables`), registers the shard, and
/// answers how far its journal is compacted.
pub(crate) fn set_up(client: &mut Client, shard: &str) -> Result<u64, StoreError> {
    let mut transaction = client.transaction()?;
    let found: Option<i64> = transaction
        .query_opt(
            "SELECT value FROM purser_meta WHERE key = 'schema_version'",
            &[],
        )?
        .map(|row| row.get(0));
    if let Some(found) = found
        && found != SCHEMA_VERSION
    {
        return Err(StoreError::UnsupportedSchema {
            found,
            supported: SCHEMA_VERSION,
        });
    }
    transaction.execute(
        "INSERT INTO purser_shards (shard) VALUES ($1) ON CONFLICT DO NOTHING",
        &[&shard],
    )?;
    let compacted_through = read_compacted_through(&mut transaction, shard)?;
    transaction.commit()?;
    Ok(compacted_through)
}

pub(crate) fn read_compacted_through(
    transaction: &mut Transaction<'_>,
    shard: &str,
) -> Result<u64, StoreError> {
    let value: i64 = transaction
        .query_one(
            "SELECT compacted_through FROM purser_shards WHERE shard = $1",
            &[&shard],
        )?
        .get(0);
    Ok(value.max(0).unsigned_abs())
}

/// Verifies every batch and snapshot of the shard in one consistent read (a leader may be
/// appending and compacting meanwhile), then cuts a damaged tail and deletes corrupt snapshots
/// in the same transaction. Nothing is changed when the journal refuses to open.
pub(crate) fn verify_and_repair(
    client: &mut Client,
    shard: &str,
) -> Result<OpenReport, StoreError> {
    let mut transaction = client
        .build_transaction()
        .isolation_level(IsolationLevel::RepeatableRead)
        .start()?;
    let compacted_through = read_compacted_through(&mut transaction, shard)?;
    let mut tail_check = TailCheck::new(compacted_through);
    for row in transaction.query(
        "SELECT first_seq, n_events, crc32, payload FROM purser_batches \
         WHERE shard = $1 ORDER BY first_seq",
        &[&shard],
    )? {
        let first_seq = seq_from_sql(row.get(0));
        let checked = read_batch_row(&row).and_then(|(n_events, crc32, payload)| {
            if verify::batch_crc(first_seq, n_events, payload) == crc32 {
                Ok(n_events)
            } else {
                Err("crc mismatch".to_owned())
            }
        });
        tail_check.push(first_seq, checked);
    }
    let tail = tail_check.finish()?;
    let mut snapshots = Vec::new();
    for row in transaction.query(
        "SELECT seq, crc32 FROM purser_snapshots WHERE shard = $1 ORDER BY seq DESC",
        &[&shard],
    )? {
        let seq = seq_from_sql(row.get(0));
        let crc32: i64 = row.get(1);
        let ok = read_snapshot(&mut transaction, shard, seq, crc32)?.is_some();
        snapshots.push((seq, ok));
    }
    let report = verify::choose_snapshot(&tail, compacted_through, &snapshots)?;
    if let Some((cut_from, _, _)) = &tail.cut {
        transaction.execute(
            "DELETE FROM purser_batches WHERE shard = $1 AND first_seq >= $2",
            &[&shard, &seq_to_sql(*cut_from)],
        )?;
    }
    for seq in &report.corrupt_snapshots {
        delete_snapshot(&mut transaction, shard, *seq)?;
    }
    transaction.commit()?;
    Ok(report)
}

/// Reads a snapshot's chunks in order and checks them against `crc32`; `None` when they do not
/// match (damage, or chunks missing).
pub(crate) fn read_snapshot(
    transaction: &mut Transaction<'_>,
    shard: &str,
    seq: u64,
    crc32: i64,
) -> Result<Option<Vec<u8>>, StoreError> {
    let mut payload = Vec::new();
    for row in transaction.query(
        "SELECT bytes FROM purser_snapshot_chunks WHERE shard = $1 AND seq = $2 ORDER BY idx",
        &[&shard, &seq_to_sql(seq)],
    )? {
        payload.extend_from_slice(row.get::<_, &[u8]>(0));
    }
    let ok = i64::from(verify::snapshot_crc(seq, &payload)) == crc32;
    Ok(ok.then_some(payload))
}

pub(crate) fn delete_snapshot(
    transaction: &mut Transaction<'_>,
    shard: &str,
    seq: u64,
) -> Result<(), StoreError> {
    let seq = seq_to_sql(seq);
    transaction.execute(
        "DELETE FROM purser_snapshots WHERE shard = $1 AND seq = $2",
        &[&shard, &seq],
    )?;
    transaction.execute(
        "DELETE FROM purser_snapshot_chunks WHERE shard = $1 AND seq = $2",
        &[&shard, &seq],
    )?;
    Ok(())
}

/// Reads `n_events, crc32, payload` at columns 1..=3, or says which field is out of range.
pub(crate) fn read_batch_row(row: &postgres::Row) -> Result<(u32, u32, &[u8]), String> {
    let n_events = row
        .try_get::<_, i64>(1)
        .ok()
        .and_then(|n| u32::try_from(n).ok())
        .filter(|n| *n > 0)
        .ok_or_else(|| "has an invalid event count".to_owned())?;
    let crc32 = row
        .try_get::<_, i64>(2)
        .ok()
        .and_then(|crc| u32::try_from(crc).ok())
        .ok_or_else(|| "has an invalid crc32".to_owned())?;
    let payload = row
        .try_get::<_, &[u8]>(3)
        .map_err(|_| "has a payload that is not bytes".to_owned())?;
    Ok((n_events, crc32, payload))
}

/// Seqs are checked to fit in an i64 before they are written (see `verify::MAX_SEQ`).
pub(crate) fn seq_to_sql(seq: u64) -> i64 {
    i64::try_from(seq).unwrap_or(i64::MAX)
}

/// A seq read back; a negative value, which only damage can produce, reads as 0.
pub(crate) fn seq_from_sql(value: i64) -> u64 {
    value.max(0).unsigned_abs()
}
