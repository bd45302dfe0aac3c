//! One `Backend` per journal implementation, so every case runs against each of them.

use purser_store::{
    Batch, Corruption, Durability, Epoch, Journal, Leases, MemJournal, MemStorage, OpenReport,
    PostgresJournal, PostgresLeases, SqliteJournal, StoreError, TempDatabase,
};
use rusqlite::{Connection, params};
use tempfile::TempDir;

/// A place a journal lives (a file, a `MemStorage`) that survives closing and reopening it, and
/// can be damaged from outside.
pub trait Backend {
    type Journal: Journal;

    fn new() -> Self;
    fn try_open(&self) -> Result<(Self::Journal, OpenReport), StoreError>;
    fn corrupt_batch(&self, first_seq: u64, corruption: Corruption);
    fn corrupt_snapshot(&self, seq: u64);

    /// True (having said why) when this backend's tests are switched off.
    fn skipped(&self) -> bool {
        false
    }

    /// A new backend, or `None` when its tests are switched off.
    fn new_or_skip() -> Option<Self>
    where
        Self: Sized,
    {
        let backend = Self::new();
        (!backend.skipped()).then_some(backend)
    }

    fn open(&self) -> (Self::Journal, OpenReport) {
        self.try_open()
            .unwrap_or_else(|error| panic!("open failed: {error}"))
    }

    fn open_clean(&self) -> Self::Journal {
        let (journal, report) = self.open();
        assert!(report.is_clean(), "unexpected repair: {report:?}");
        journal
    }
}

pub struct Mem {
    pub storage: MemStorage,
}

impl Backend for Mem {
    type Journal = MemJournal;

    fn new() -> Mem {
        Mem {
            storage: MemStorage::new(),
        }
    }

    fn try_open(&self) -> Result<(MemJournal, OpenReport), StoreError> {
        MemJournal::open(&self.storage)
    }

    fn corrupt_batch(&self, first_seq: u64, corruption: Corruption) {
        assert!(
            self.storage.corrupt_batch(first_seq, corruption),
            "no batch at {first_seq}"
        );
    }

    fn corrupt_snapshot(&self, seq: u64) {
        assert!(self.storage.corrupt_snapshot(seq), "no snapshot at {seq}");
    }
}

pub struct Sqlite {
    pub dir: TempDir,
    pub durability: Durability,
}

impl Sqlite {
    pub fn path(&self) -> std::path::PathBuf {
        self.dir.path().join("journal.sqlite")
    }

    /// A second connection, the way an operator (or a disk) would change the file.
    pub fn raw(&self) -> Connection {
        Connection::open(self.path()).unwrap()
    }
}

impl Backend for Sqlite {
    type Journal = SqliteJournal;

    fn new() -> Sqlite {
        Sqlite {
            dir: tempfile::tempdir().unwrap(),
            durability: Durability::Fsync,
        }
    }

    fn try_open(&self) -> Result<(SqliteJournal, OpenReport), StoreError> {
        SqliteJournal::open(self.path(), self.durability)
    }

    fn corrupt_batch(&self, first_seq: u64, corruption: Corruption) {
        let raw = self.raw();
        let (crc32, mut payload): (i64, Vec<u8>) = raw
            .query_row(
                "SELECT crc32, payload FROM batches WHERE first_seq = ?1",
                [first_seq as i64],
                |row| Ok((row.get(0)?, row.get(1)?)),
            )
            .unwrap();
        let crc32 = damage(crc32, &mut payload, corruption);
        let n_updated = raw
            .execute(
                "UPDATE batches SET crc32 = ?1, payload = ?2 WHERE first_seq = ?3",
                params![crc32, payload, first_seq as i64],
            )
            .unwrap();
        assert_eq!(n_updated, 1);
    }

    fn corrupt_snapshot(&self, seq: u64) {
        let n_updated = self
            .raw()
            .execute(
                "UPDATE snapshots SET crc32 = (crc32 + 1) % 4294967296 WHERE seq = ?1",
                [seq as i64],
            )
            .unwrap();
        assert_eq!(n_updated, 1);
    }
}

/// A shard of a database of its own on the machine's PostgreSQL, appended under a lease this
/// harness holds (the server's case). `PURSER_TEST_POSTGRES=off` makes these tests pass
/// without running, saying so.
pub struct Postgres {
    pub database: Option<TempDatabase>,
    pub epoch: Epoch,
}

pub const SHARD: &str = "main";

impl Postgres {
    pub fn raw(&self) -> postgres::Client {
        postgres::Client::connect(self.url(), postgres::NoTls).unwrap()
    }

    pub fn url(&self) -> &str {
        self.database.as_ref().expect("not skipped").url()
    }
}

impl Backend for Postgres {
    type Journal = PostgresJournal;

    fn new() -> Postgres {
        let database = TempDatabase::create().unwrap_or_else(|err| {
            panic!(
                "the PostgreSQL tests need a server ({} or postgres://postgres@127.0.0.1:5432; \
                 set it to `off` to skip them): {err}",
                purser_store::TEST_SERVER_ENV
            )
        });
        let epoch = Epoch::default();
        if let Some(database) = &database {
            let mut leases = PostgresLeases::connect(database.url()).unwrap();
            let granted = leases.try_acquire(SHARD, "harness", "", 60_000).unwrap();
            epoch.set(granted);
        }
        Postgres { database, epoch }
    }

    fn try_open(&self) -> Result<(PostgresJournal, OpenReport), StoreError> {
        PostgresJournal::open(self.url(), SHARD, self.epoch.clone())
    }

    fn corrupt_batch(&self, first_seq: u64, corruption: Corruption) {
        let mut raw = self.raw();
        let row = raw
            .query_one(
                "SELECT crc32, payload FROM purser_batches WHERE shard = $1 AND first_seq = $2",
                &[&SHARD, &(first_seq as i64)],
            )
            .unwrap();
        let (crc32, mut payload): (i64, Vec<u8>) = (row.get(0), row.get(1));
        let crc32 = damage(crc32, &mut payload, corruption);
        let n_updated = raw
            .execute(
                "UPDATE purser_batches SET crc32 = $1, payload = $2 \
                 WHERE shard = $3 AND first_seq = $4",
                &[&crc32, &payload, &SHARD, &(first_seq as i64)],
            )
            .unwrap();
        assert_eq!(n_updated, 1);
    }

    fn corrupt_snapshot(&self, seq: u64) {
        let n_updated = self
            .raw()
            .execute(
                "UPDATE purser_snapshots SET crc32 = (crc32 + 1) % 4294967296 \
                 WHERE shard = $1 AND seq = $2",
                &[&SHARD, &(seq as i64)],
            )
            .unwrap();
        assert_eq!(n_updated, 1);
    }

    fn skipped(&self) -> bool {
        if self.database.is_none() {
            eprintln!("skipped: {}=off", purser_store::TEST_SERVER_ENV);
        }
        self.database.is_none()
    }
}

/// Damages a stored batch's payload or CRC (as stored: an integer column) the way `corruption`
/// says; answers the CRC to store.
fn damage(crc32: i64, payload: &mut Vec<u8>, corruption: Corruption) -> i64 {
    match corruption {
        Corruption::FlipPayloadBit => payload[0] ^= 1,
        Corruption::TruncatePayload => payload.truncate(payload.len() / 2),
        Corruption::WrongCrc => return crc32 ^ 0xffff_ffff,
    }
    crc32
}

/// A batch of `n_events` whose payload is derived from its seqs, so any mix-up shows.
pub fn batch(first_seq: u64, n_events: u32) -> Batch {
    let payload = (first_seq..first_seq + u64::from(n_events))
        .flat_map(|seq| seq.to_le_bytes())
        .collect();
    Batch {
        first_seq,
        n_events,
        payload,
    }
}

/// Appends batches of the given sizes after `journal.last_seq()`, one call each; returns them.
pub fn append_sizes(journal: &mut impl Journal, sizes: &[u32]) -> Vec<Batch> {
    let mut appended = Vec::new();
    for n_events in sizes {
        let next = batch(journal.last_seq() + 1, *n_events);
        journal.append(std::slice::from_ref(&next)).unwrap();
        appended.push(next);
    }
    appended
}

/// Everything `replay(after_seq)` gives.
pub fn replay_all(journal: &mut impl Journal, after_seq: u64) -> Result<Vec<Batch>, StoreError> {
    let mut batches = Vec::new();
    let n_batches = journal.replay(after_seq, &mut |batch| {
        batches.push(batch.clone());
        Ok(())
    })?;
    assert_eq!(n_batches, batches.len() as u64);
    Ok(batches)
}
