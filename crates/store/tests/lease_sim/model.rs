//! The store of the simulation: the lease table and the journal's fenced append, with the
//! semantics of PostgreSQL's statements, on the store's virtual clock.

use std::collections::BTreeMap;

use purser_store::{LeaseHolder, Leases, StoreError};

use crate::SHARDS;

/// splitmix64: a seeded schedule without a dependency.
pub(crate) struct Rng(pub(crate) u64);

impl Rng {
    pub(crate) fn next_u64(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }

    /// Uniform in `low..=high`.
    pub(crate) fn range(&mut self, low: u64, high: u64) -> u64 {
        low + self.next_u64() % (high - low + 1)
    }
}

/// The store under test: the real protocol, or one with a flaw the checker must catch.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub(crate) enum Protocol {
    #[default]
    Sound,
    /// The append ignores the lease: whoever believes it leads commits.
    UncheckedAppend,
    /// A takeover keeps the epoch instead of bumping it: the fence cannot tell leaders apart.
    EpochKeptOnTakeover,
}

/// A row of `purser_leases`.
pub(crate) struct Row {
    pub(crate) owner: String,
    pub(crate) epoch: u64,
    pub(crate) expires_at_ms: u64,
    pub(crate) address: String,
}

/// The lease table on the store's clock, with the semantics of `PostgresLeases`' statements.
#[derive(Default)]
pub(crate) struct ModelLeases {
    pub(crate) protocol: Protocol,
    pub(crate) rows: BTreeMap<String, Row>,
    /// The store's `now()`, set by the driver before every call.
    pub(crate) now_ms: u64,
    /// The caller cannot reach the store: its calls fail as on a broken connection.
    pub(crate) unreachable: bool,
}

impl ModelLeases {
    pub(crate) fn reach(&self) -> Result<(), StoreError> {
        if self.unreachable {
            return Err(StoreError::Postgres("unreachable (simulated)".into()));
        }
        Ok(())
    }

    /// The epoch in the shard's row, expired or not: what the append's fence reads.
    pub(crate) fn epoch_of(&self, shard: &str) -> Option<u64> {
        self.rows.get(shard).map(|row| row.epoch)
    }

    /// The shard's row if `owner` holds it at `epoch`, expired or not (nobody took it).
    pub(crate) fn held(&mut self, shard: &str, owner: &str, epoch: u64) -> Option<&mut Row> {
        let row = self.rows.get_mut(shard)?;
        (row.owner == owner && row.epoch == epoch).then_some(row)
    }
}

impl Leases for ModelLeases {
    fn try_acquire(
        &mut self,
        shard: &str,
        owner: &str,
        address: &str,
        ttl_ms: u64,
    ) -> Result<Option<u64>, StoreError> {
        self.reach()?;
        let expires_at_ms = self.now_ms + ttl_ms;
        let Some(row) = self.rows.get_mut(shard) else {
            let (owner, address) = (owner.to_owned(), address.to_owned());
            let row = Row {
                owner,
                epoch: 1,
                expires_at_ms,
                address,
            };
            self.rows.insert(shard.to_owned(), row);
            return Ok(Some(1));
        };
        // `WHERE lease.expires_at < now()`: free only strictly after its expiry.
        if row.expires_at_ms >= self.now_ms {
            return Ok(None);
        }
        if self.protocol != Protocol::EpochKeptOnTakeover {
            row.epoch += 1;
        }
        owner.clone_into(&mut row.owner);
        address.clone_into(&mut row.address);
        row.expires_at_ms = expires_at_ms;
        Ok(Some(row.epoch))
    }

    fn renew(
        &mut self,
        shard: &str,
        owner: &str,
        epoch: u64,
        ttl_ms: u64,
    ) -> Result<bool, StoreError> {
        self.reach()?;
        let expires_at_ms = self.now_ms + ttl_ms;
        let Some(row) = self.held(shard, owner, epoch) else {
            return Ok(false);
        };
        row.expires_at_ms = expires_at_ms;
        Ok(true)
    }

    fn release(&mut self, shard: &str, owner: &str, epoch: u64) -> Result<(), StoreError> {
        self.reach()?;
        let expired_ms = self.now_ms.saturating_sub(1);
        if let Some(row) = self.held(shard, owner, epoch) {
            row.expires_at_ms = expired_ms;
        }
        Ok(())
    }

    fn holders(&mut self) -> Result<Vec<LeaseHolder>, StoreError> {
        self.reach()?;
        let holders = self.rows.iter().map(|(shard, row)| LeaseHolder {
            shard: shard.clone(),
            owner: row.owner.clone(),
            epoch: row.epoch,
            address: row.address.clone(),
            live: row.expires_at_ms >= self.now_ms,
        });
        Ok(holders.collect())
    }
}

/// A group commit that went in.
pub(crate) struct Commit {
    pub(crate) shard: usize,
    pub(crate) epoch: u64,
    pub(crate) owner: String,
    pub(crate) seq: u64,
    pub(crate) at_ms: u64,
    /// The epoch in the shard's lease row at that moment.
    pub(crate) table_epoch: Option<u64>,
}

/// Every shard's journal, in commit order.
#[derive(Default)]
pub(crate) struct ModelJournal {
    pub(crate) last_seqs: [u64; SHARDS.len()],
    pub(crate) commits: Vec<Commit>,
}

impl ModelJournal {
    /// Commits under `epoch` if the shard's lease row holds it, read in the same step (the
    /// statement's `FOR SHARE` orders it with any takeover); refused as `Fenced` otherwise.
    pub(crate) fn fenced_append(
        &mut self,
        leases: &ModelLeases,
        shard: usize,
        owner: &str,
        epoch: u64,
    ) -> Result<u64, StoreError> {
        let table_epoch = leases.epoch_of(SHARDS[shard]);
        if table_epoch != Some(epoch) && leases.protocol != Protocol::UncheckedAppend {
            let shard = SHARDS[shard].to_owned();
            return Err(StoreError::Fenced { shard, epoch });
        }
        self.last_seqs[shard] += 1;
        let (seq, at_ms, owner) = (self.last_seqs[shard], leases.now_ms, owner.to_owned());
        let commit = Commit {
            shard,
            epoch,
            owner,
            seq,
            at_ms,
            table_epoch,
        };
        self.commits.push(commit);
        Ok(seq)
    }
}
