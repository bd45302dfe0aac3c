//! The lease table in PostgreSQL: times are the database's `now()`, so the processes' clocks
//! never matter.

use postgres::Client;

use super::link::Link;

use crate::StoreError;
use crate::lease::{LeaseHolder, Leases};

/// The shards' leases, on a connection of their own (a renewal never waits behind an append).
pub struct PostgresLeases {
    link: Link<()>,
}

impl PostgresLeases {
    /// Connects and creates the tables if this is the database's first use.
    pub fn connect(url: &str) -> Result<PostgresLeases, StoreError> {
        Ok(PostgresLeases {
            link: Link::connect(url, super::schema::set_up_tables)?,
        })
    }

    fn with<T>(
        &mut self,
        call: impl FnOnce(&mut Client) -> Result<T, postgres::Error>,
    ) -> Result<T, StoreError> {
        self.link.with(|client, _| Ok(call(client)?))
    }
}

impl Leases for PostgresLeases {
    fn try_acquire(
        &mut self,
        shard: &str,
        owner: &str,
        address: &str,
        ttl_ms: u64,
    ) -> Result<Option<u64>, StoreError> {
        let ttl_ms = i64::try_from(ttl_ms).unwrap_or(i64::MAX / 2);
        let row = self.with(|client| {
            client.query_opt(
                "INSERT INTO purser_leases AS lease (shard, owner, epoch, expires_at, address) \
                 VALUES ($1, $2, 1, now() + $3::bigint * interval '1 millisecond', $4) \
                 ON CONFLICT (shard) DO UPDATE SET owner = EXCLUDED.owner, \
                     epoch = lease.epoch + 1, expires_at = EXCLUDED.expires_at, \
                     address = EXCLUDED.address \
                 WHERE lease.expires_at < now() \
                 RETURNING epoch",
                &[&shard, &owner, &ttl_ms, &address],
            )
        })?;
        Ok(row.map(|row| row.get::<_, i64>(0).max(0).unsigned_abs()))
    }

    fn renew(
        &mut self,
        shard: &str,
        owner: &str,
        epoch: u64,
        ttl_ms: u64,
    ) -> Result<bool, StoreError> {
        let ttl_ms = i64::try_from(ttl_ms).unwrap_or(i64::MAX / 2);
        let n = self.with(|client| {
            client.execute(
                "UPDATE purser_leases SET expires_at = now() + $4::bigint * interval '1 millisecond' \
                 WHERE shard = $1 AND owner = $2 AND epoch = $3",
                &[&shard, &owner, &(epoch as i64), &ttl_ms],
            )
        })?;
        Ok(n == 1)
    }

    fn release(&mut self, shard: &str, owner: &str, epoch: u64) -> Result<(), StoreError> {
        self.with(|client| {
            client.execute(
                "UPDATE purser_leases SET expires_at = now() - interval '1 millisecond' \
                 WHERE shard = $1 AND owner = $2 AND epoch = $3",
                &[&shard, &owner, &(epoch as i64)],
            )
        })?;
        Ok(())
    }

    fn holders(&mut self) -> Result<Vec<LeaseHolder>, StoreError> {
        let rows = self.with(|client| {
            client.query(
                "SELECT shard, owner, epoch, address, expires_at >= now() \
                 FROM purser_leases ORDER BY shard",
                &[],
            )
        })?;
        Ok(rows
            .iter()
            .map(|row| LeaseHolder {
                shard: row.get(0),
                owner: row.get(1),
                epoch: row.get::<_, i64>(2).max(0).unsigned_abs(),
                address: row.get(3),
                live: row.get(4),
            })
            .collect())
    }
}
