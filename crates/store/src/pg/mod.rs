//! The shared backend: the journal and snapshots of each shard in PostgreSQL, appended by the
//! shard's one leader under its lease's epoch and followed by its standbys.

mod leases;
mod link;
mod schema;
mod temp;

use postgres::fallible_iterator::FallibleIterator;
use postgres::types::{ToSql, Type};
use postgres::{Client, Statement, Transaction};

use crate::lease::Epoch;
use crate::verify::{self, ReplayCheck};
use crate::{Batch, Journal, OpenReport, SNAPSHOTS_KEPT, Snapshot, SnapshotWriter, StoreError};
use link::Link;
use schema::{seq_from_sql, seq_to_sql};

pub use leases::PostgresLeases;
pub use temp::{TEST_SERVER_ENV, TempDatabase};

/// The bytes of a snapshot per row of `purser_snapshot_chunks`.
const SNAPSHOT_CHUNK_BYTES: usize = 1 << 20;

/// The group commit: every batch of the call in one statement (one round trip), inserted only
/// if the appender's epoch still holds the shard's lease. `FOR SHARE` makes a takeover (which
/// updates the lease row) wait for an append in flight, and an append wait for a takeover in
/// flight, after which it sees the new epoch and inserts nothing.
const APPEND: &str = "
    WITH fence AS (
        SELECT 1 FROM purser_leases WHERE shard = $1 AND epoch = $2 FOR SHARE
    )
    INSERT INTO purser_batches (shard, first_seq, n_events, crc32, epoch, payload)
    SELECT $1, b.first_seq, b.n_events, b.crc32, $2, b.payload
    FROM unnest($3::bigint[], $4::bigint[], $5::bigint[], $6::bytea[])
        AS b(first_seq, n_events, crc32, payload)
    WHERE EXISTS (SELECT 1 FROM fence)";

/// The batches holding events after `$2` through `$3`, starting with the one straddling `$2`.
const REPLAY: &str = "SELECT first_seq, n_events, crc32, payload FROM purser_batches \
     WHERE shard = $1 AND first_seq <= $3 AND first_seq >= coalesce( \
         (SELECT first_seq FROM purser_batches WHERE shard = $1 AND first_seq <= $2 \
          ORDER BY first_seq DESC LIMIT 1), $2) \
     ORDER BY first_seq";

/// Where the shard's journal ends and how far it is compacted, in one read.
const TAIL: &str = "SELECT (SELECT compacted_through FROM purser_shards WHERE shard = $1), \
     (SELECT first_seq + n_events - 1 FROM purser_batches WHERE shard = $1 \
      ORDER BY first_seq DESC LIMIT 1)";

struct Statements {
    append: Statement,
    replay: Statement,
    tail: Statement,
}

/// Makes the tables if needed and prepares the journal's statements on a new connection.
fn prepare(client: &mut Client) -> Result<Statements, StoreError> {
    // The statements name the tables: they exist before they are prepared.
    schema::set_up_tables(client)?;
    Ok(Statements {
        append: client.prepare_typed(
            APPEND,
            &[
                Type::TEXT,
                Type::INT8,
                Type::INT8_ARRAY,
                Type::INT8_ARRAY,
                Type::INT8_ARRAY,
                Type::BYTEA_ARRAY,
            ],
        )?,
        replay: client.prepare_typed(REPLAY, &[Type::TEXT, Type::INT8, Type::INT8])?,
        tail: client.prepare_typed(TAIL, &[Type::TEXT])?,
    })
}

/// The journal of one shard in a PostgreSQL database (`store = "postgres://..."`).
///
/// Tables (shared by every shard): `purser_batches (shard, first_seq, n_events, crc32, epoch,
/// payload)`, `purser_snapshots (shard, seq, crc32)` with `purser_snapshot_chunks`,
/// `purser_shards (shard, compacted_through)`, `purser_leases` and `purser_meta`. Appends are
/// fenced by [`Epoch`]: while it is empty the process is a standby and `append` refuses.
pub struct PostgresJournal {
    shard: String,
    epoch: Epoch,
    link: Link<Statements>,
    last_seq: u64,
    compacted_through: u64,
}

impl PostgresJournal {
    /// Connects, creates the tables on first use, verifies the shard's batches and snapshots
    /// and repairs a damaged tail (see [`OpenReport`]).
    pub fn open(
        url: &str,
        shard: &str,
        epoch: Epoch,
    ) -> Result<(PostgresJournal, OpenReport), StoreError> {
        let mut link = Link::connect(url, prepare)?;
        let report = link.with(|client, _| {
            schema::set_up(client, shard)?;
            schema::verify_and_repair(client, shard)
        })?;
        let journal = PostgresJournal {
            shard: shard.to_owned(),
            epoch,
            link,
            last_seq: report.last_seq,
            compacted_through: report.compacted_through,
        };
        Ok((journal, report))
    }

    pub fn shard(&self) -> &str {
        &self.shard
    }

    fn epoch(&self) -> Result<u64, StoreError> {
        self.epoch.get().ok_or_else(|| StoreError::NotLeader {
            shard: self.shard.clone(),
        })
    }
}

impl Journal for PostgresJournal {
    fn append(&mut self, batches: &[Batch]) -> Result<(), StoreError> {
        let new_last_seq = verify::check_append(self.last_seq, batches)?;
        if batches.is_empty() {
            return Ok(());
        }
        let epoch = self.epoch()? as i64;
        let first_seqs: Vec<i64> = batches.iter().map(|b| seq_to_sql(b.first_seq)).collect();
        let n_events: Vec<i64> = batches.iter().map(|b| i64::from(b.n_events)).collect();
        let crcs: Vec<i64> = batches
            .iter()
            .map(|b| i64::from(verify::batch_crc(b.first_seq, b.n_events, &b.payload)))
            .collect();
        let payloads: Vec<&[u8]> = batches.iter().map(|b| b.payload.as_slice()).collect();
        let shard = &self.shard;
        let inserted = self.link.with(|client, statements| {
            let params: [&(dyn ToSql + Sync); 6] =
                [shard, &epoch, &first_seqs, &n_events, &crcs, &payloads];
            Ok(client.execute(&statements.append, &params)?)
        })?;
        if inserted == 0 {
            return Err(StoreError::Fenced {
                shard: self.shard.clone(),
                epoch: epoch as u64,
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
        let (shard, epoch) = (&self.shard, &self.epoch);
        self.link
            .with(|client, _| write_snapshot(client, shard, epoch, snapshot))
    }

    fn latest_snapshot(&mut self) -> Result<Option<Snapshot>, StoreError> {
        let shard = &self.shard;
        self.link.with(|client, _| {
            let mut transaction = client
                .build_transaction()
                .isolation_level(postgres::IsolationLevel::RepeatableRead)
                .read_only(true)
                .start()?;
            let rows = transaction.query(
                "SELECT seq, crc32 FROM purser_snapshots WHERE shard = $1 ORDER BY seq DESC",
                &[shard],
            )?;
            for row in rows {
                let seq = seq_from_sql(row.get(0));
                // A snapshot damaged since open is skipped like on open: the previous one is
                // next.
                if let Some(payload) =
                    schema::read_snapshot(&mut transaction, shard, seq, row.get(1))?
                {
                    return Ok(Some(Snapshot { seq, payload }));
                }
            }
            Ok(None)
        })
    }

    fn replay(
        &mut self,
        after_seq: u64,
        visit: &mut dyn FnMut(&Batch) -> Result<(), StoreError>,
    ) -> Result<u64, StoreError> {
        if !verify::check_replay_from(after_seq, self.compacted_through, self.last_seq)? {
            return Ok(0);
        }
        let (shard, last_seq) = (&self.shard, self.last_seq);
        self.link.with(|client, statements| {
            // Batches a leader appended after this journal last looked wait for the next
            // `refresh`: replay covers exactly `..= last_seq()`.
            let (after, last) = (seq_to_sql(after_seq), seq_to_sql(last_seq));
            let params: [&(dyn ToSql + Sync); 3] = [shard, &after, &last];
            let mut rows = client.query_raw(&statements.replay, params)?;
            let mut replay_check = ReplayCheck::new(after_seq);
            let mut batch = Batch {
                first_seq: 0,
                n_events: 0,
                payload: Vec::new(),
            };
            let mut n_batches = 0;
            while let Some(row) = rows.next()? {
                let first_seq = seq_from_sql(row.get(0));
                let (n_events, crc32, payload) = schema::read_batch_row(&row)
                    .map_err(|reason| StoreError::CorruptBatch { first_seq, reason })?;
                if first_seq + u64::from(n_events) - 1 <= after_seq {
                    continue;
                }
                batch.refill(first_seq, n_events, payload);
                replay_check.check(&batch, crc32)?;
                visit(&batch)?;
                n_batches += 1;
            }
            replay_check.finish(last_seq)?;
            Ok(n_batches)
        })
    }

    fn compact_through(&mut self, seq: u64) -> Result<(), StoreError> {
        let (shard, epoch) = (&self.shard, &self.epoch);
        let compacted = self
            .link
            .with(|client, _| compact(client, shard, epoch, seq))?;
        if let Some(compacted_through) = compacted {
            self.compacted_through = compacted_through;
        }
        Ok(())
    }

    fn snapshot_writer(&self) -> Result<Option<Box<dyn SnapshotWriter>>, StoreError> {
        Ok(Some(Box::new(PostgresSnapshotWriter {
            link: Link::connect(self.link.url(), |_| Ok(()))?,
            shard: self.shard.clone(),
            epoch: self.epoch.clone(),
        })))
    }

    fn is_shared(&self) -> bool {
        true
    }

    fn refresh(&mut self) -> Result<u64, StoreError> {
        let shard = &self.shard;
        let (compacted_through, tail) = self.link.with(|client, statements| {
            let row = client.query_one(&statements.tail, &[shard])?;
            let compacted: Option<i64> = row.get(0);
            let tail: Option<i64> = row.get(1);
            Ok((
                seq_from_sql(compacted.unwrap_or(0)),
                seq_from_sql(tail.unwrap_or(0)),
            ))
        })?;
        self.compacted_through = compacted_through;
        self.last_seq = tail.max(compacted_through);
        Ok(self.last_seq)
    }

    fn start_at(&mut self, seq: u64) -> Result<(), StoreError> {
        verify::check_start(seq)?;
        let (shard, last_seq) = (&self.shard, self.last_seq);
        self.link.with(|client, _| {
            let mut transaction = client.transaction()?;
            let row = transaction.query_one(
                "SELECT (SELECT count(*) FROM purser_batches WHERE shard = $1) \
                 + (SELECT count(*) FROM purser_snapshots WHERE shard = $1) \
                 + (SELECT compacted_through FROM purser_shards WHERE shard = $1)",
                &[shard],
            )?;
            let n_rows: i64 = row.get(0);
            if n_rows > 0 || last_seq > 0 {
                return Err(StoreError::NotEmpty { last_seq });
            }
            transaction.execute(
                "UPDATE purser_shards SET compacted_through = $2 WHERE shard = $1",
                &[shard, &seq_to_sql(seq)],
            )?;
            transaction.commit()?;
            Ok(())
        })?;
        self.compacted_through = seq;
        self.last_seq = seq;
        Ok(())
    }
}

/// Checks, inside `transaction`, that `epoch` still holds the shard's lease (and keeps it so
/// until the transaction ends).
fn check_fence(
    transaction: &mut Transaction<'_>,
    shard: &str,
    epoch: &Epoch,
) -> Result<(), StoreError> {
    let Some(epoch) = epoch.get() else {
        return Err(StoreError::NotLeader {
            shard: shard.to_owned(),
        });
    };
    let held = transaction.query_opt(
        "SELECT 1 FROM purser_leases WHERE shard = $1 AND epoch = $2 FOR SHARE",
        &[&shard, &(epoch as i64)],
    )?;
    match held {
        Some(_) => Ok(()),
        None => Err(StoreError::Fenced {
            shard: shard.to_owned(),
            epoch,
        }),
    }
}

/// Writes a snapshot and keeps the newest [`SNAPSHOTS_KEPT`], in one fenced transaction (appends
/// go on meanwhile: they touch other rows).
fn write_snapshot(
    client: &mut Client,
    shard: &str,
    epoch: &Epoch,
    snapshot: &Snapshot,
) -> Result<(), StoreError> {
    let mut transaction = client.transaction()?;
    check_fence(&mut transaction, shard, epoch)?;
    let last: Option<i64> = transaction
        .query_one(
            "SELECT greatest((SELECT compacted_through FROM purser_shards WHERE shard = $1), \
             (SELECT max(first_seq + n_events - 1) FROM purser_batches WHERE shard = $1))",
            &[&shard],
        )?
        .get(0);
    let crc32 = verify::check_snapshot(snapshot, seq_from_sql(last.unwrap_or(0)))?;
    schema::delete_snapshot(&mut transaction, shard, snapshot.seq)?;
    let seq = seq_to_sql(snapshot.seq);
    let insert = transaction.prepare(
        "INSERT INTO purser_snapshot_chunks (shard, seq, idx, bytes) VALUES ($1, $2, $3, $4)",
    )?;
    for (idx, chunk) in snapshot.payload.chunks(SNAPSHOT_CHUNK_BYTES).enumerate() {
        transaction.execute(&insert, &[&shard, &seq, &(idx as i32), &chunk])?;
    }
    transaction.execute(
        "INSERT INTO purser_snapshots (shard, seq, crc32) VALUES ($1, $2, $3)",
        &[&shard, &seq, &i64::from(crc32)],
    )?;
    let old: Vec<i64> = transaction
        .query(
            "SELECT seq FROM purser_snapshots WHERE shard = $1 ORDER BY seq DESC OFFSET $2",
            &[&shard, &(SNAPSHOTS_KEPT as i64)],
        )?
        .iter()
        .map(|row| row.get(0))
        .collect();
    for seq in old {
        schema::delete_snapshot(&mut transaction, shard, seq_from_sql(seq))?;
    }
    transaction.commit()?;
    Ok(())
}

/// Deletes the batches wholly at or below `seq` in one fenced transaction (appends go on
/// meanwhile); answers the new `compacted_through`, if it moved.
fn compact(
    client: &mut Client,
    shard: &str,
    epoch: &Epoch,
    seq: u64,
) -> Result<Option<u64>, StoreError> {
    let mut transaction = client.transaction()?;
    check_fence(&mut transaction, shard, epoch)?;
    let newest_snapshot: Option<i64> = transaction
        .query_one(
            "SELECT max(seq) FROM purser_snapshots WHERE shard = $1",
            &[&shard],
        )?
        .get(0);
    let newest_snapshot = newest_snapshot.map(seq_from_sql);
    if newest_snapshot.is_none_or(|snapshot_seq| seq > snapshot_seq) {
        return Err(StoreError::CompactPastSnapshot {
            seq,
            newest_snapshot,
        });
    }
    let deleted_through: Option<i64> = transaction
        .query_one(
            "WITH gone AS (DELETE FROM purser_batches \
             WHERE shard = $1 AND first_seq + n_events - 1 <= $2 \
             RETURNING first_seq + n_events - 1 AS last_seq) \
             SELECT max(last_seq) FROM gone",
            &[&shard, &seq_to_sql(seq)],
        )?
        .get(0);
    let Some(deleted_through) = deleted_through else {
        return Ok(None);
    };
    transaction.execute(
        "UPDATE purser_shards SET compacted_through = greatest(compacted_through, $2) \
         WHERE shard = $1",
        &[&shard, &deleted_through],
    )?;
    transaction.commit()?;
    Ok(Some(seq_from_sql(deleted_through)))
}

/// Writes the shard's snapshots and compacts it on its own connection, from the snapshots'
/// follower thread; fenced like the appends.
pub struct PostgresSnapshotWriter {
    link: Link<()>,
    shard: String,
    epoch: Epoch,
}

impl SnapshotWriter for PostgresSnapshotWriter {
    fn write_snapshot(&mut self, snapshot: &Snapshot) -> Result<(), StoreError> {
        let (shard, epoch) = (&self.shard, &self.epoch);
        self.link
            .with(|client, _| write_snapshot(client, shard, epoch, snapshot))
    }

    fn compact_through(&mut self, seq: u64) -> Result<(), StoreError> {
        let (shard, epoch) = (&self.shard, &self.epoch);
        self.link
            .with(|client, _| compact(client, shard, epoch, seq).map(|_| ()))
    }
}
