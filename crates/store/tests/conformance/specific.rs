//! Tests of one backend only: the SQLite file's format and settings, the memory crash switch.

use purser_store::{Durability, Journal, MemJournal, MemStorage, SqliteJournal, StoreError};
use rusqlite::params;

use crate::harness::{Backend, Sqlite, append_sizes, replay_all};

#[test]
fn sqlite_os_durability_round_trips() {
    let backend = Sqlite {
        dir: tempfile::tempdir().unwrap(),
        durability: Durability::Os,
    };
    let mut journal = backend.open_clean();
    let appended = append_sizes(&mut journal, &[2, 2]);
    drop(journal);
    let mut journal = backend.open_clean();
    assert_eq!(replay_all(&mut journal, 0).unwrap(), appended);
}

#[test]
fn sqlite_file_is_wal_with_a_schema_version() {
    let backend = Sqlite::new();
    let journal = backend.open_clean();
    let raw = backend.raw();
    let mode: String = raw
        .query_row("PRAGMA journal_mode", [], |row| row.get(0))
        .unwrap();
    assert_eq!(mode, "wal");
    let version: i64 = raw
        .query_row(
            "SELECT value FROM meta WHERE key = 'schema_version'",
            [],
            |row| row.get(0),
        )
        .unwrap();
    assert_eq!(version, 1);
    drop(journal);
}

#[test]
fn sqlite_future_schema_refuses_to_open() {
    let backend = Sqlite::new();
    drop(backend.open_clean());
    backend
        .raw()
        .execute("UPDATE meta SET value = 2 WHERE key = 'schema_version'", [])
        .unwrap();
    let Err(error) = backend.try_open() else {
        panic!("opened a future schema")
    };
    assert_eq!(
        error.to_string(),
        "journal schema version 2 is not supported (this build reads version 1)"
    );
}

#[test]
fn sqlite_not_a_database_names_the_file() {
    let backend = Sqlite::new();
    std::fs::write(backend.path(), vec![7_u8; 8192]).unwrap();
    let Err(error) = backend.try_open() else {
        panic!("opened garbage")
    };
    assert!(matches!(error, StoreError::Open { .. }), "{error}");
    assert!(error.to_string().contains("journal.sqlite"), "{error}");
}

#[test]
fn sqlite_damaged_fields_in_the_tail_are_cut() {
    // (damage to the batch at seq 5, expected cut reason): a field the CRC cannot vouch for
    // must still be caught.
    let damages = [
        ("n_events = 0", "batch at seq 5 has an invalid event count"),
        ("n_events = -1", "batch at seq 5 has an invalid event count"),
        ("crc32 = 'x'", "batch at seq 5 has an invalid crc32"),
        (
            "payload = 'text'",
            "batch at seq 5 has a payload that is not a blob",
        ),
        (
            "payload = NULL",
            "batch at seq 5 has a payload that is not a blob",
        ),
        ("first_seq = 9", "batch at seq 9 crc mismatch"),
    ];
    for (update, expected_reason) in damages {
        let backend = Sqlite::new();
        let mut journal = backend.open_clean();
        append_sizes(&mut journal, &[4, 4]);
        drop(journal);
        let raw = backend.raw();
        // `payload` and `n_events` are NOT NULL: damage them by rebuilding the table loosely.
        raw.execute_batch(
            "CREATE TABLE loose AS SELECT * FROM batches; DROP TABLE batches; \
             CREATE TABLE batches (first_seq INTEGER PRIMARY KEY, n_events, crc32, payload); \
             INSERT INTO batches SELECT * FROM loose; DROP TABLE loose;",
        )
        .unwrap();
        raw.execute(
            &format!("UPDATE batches SET {update} WHERE first_seq = ?1"),
            params![5],
        )
        .unwrap();
        drop(raw);
        let (mut journal, report) = backend.open();
        assert_eq!(
            report.cut_reason.as_deref(),
            Some(expected_reason),
            "{update}"
        );
        assert_eq!(journal.last_seq(), 4, "{update}");
        append_sizes(&mut journal, &[1]);
    }
}

#[test]
fn mem_crash_after_loses_unacknowledged_tail() {
    let storage = MemStorage::new();
    let (mut journal, _) = MemJournal::open(&storage).unwrap();
    let appended = append_sizes(&mut journal, &[3, 3, 3]);
    journal
        .write_snapshot(&purser_store::Snapshot {
            seq: 9,
            payload: vec![1],
        })
        .unwrap();
    drop(journal);
    // Seq 7 is inside the last batch: the whole batch goes, and the snapshot after it.
    storage.crash_after(7);
    let (mut journal, report) = MemJournal::open(&storage).unwrap();
    assert!(report.is_clean());
    assert_eq!((report.last_seq, report.snapshot_seq), (6, None));
    assert_eq!(replay_all(&mut journal, 0).unwrap(), appended[..2]);
}

// The engine moves its journal to its own thread: both backends must be `Send`.
const _: () = {
    const fn assert_send<T: Send>() {}
    assert_send::<SqliteJournal>();
    assert_send::<MemJournal>();
};

/// A snapshot written in chunks from a second connection while the journal keeps appending is
/// found whole on reopen; compaction from that connection keeps the file consistent; chunks
/// left without their row (a write cut short) are deleted on open and never read.
#[test]
fn sqlite_snapshot_writer_writes_in_chunks_beside_appends() {
    use purser_store::{SNAPSHOT_CHUNK_BYTES, Snapshot};
    let backend = Sqlite::new();
    let mut journal = backend.open_clean();
    let appended = append_sizes(&mut journal, &[3, 4, 5, 2]);
    let mut writer = journal
        .snapshot_writer()
        .unwrap()
        .expect("sqlite has a writer");
    // Larger than two chunks, and not a multiple of the chunk.
    let payload: Vec<u8> = (0..SNAPSHOT_CHUNK_BYTES * 2 + 12_345)
        .map(|idx| (idx % 251) as u8)
        .collect();
    let snapshot = Snapshot { seq: 7, payload };
    writer.write_snapshot(&snapshot).unwrap();
    // The journal appends on while the writer works.
    let more = append_sizes(&mut journal, &[1]);
    assert_eq!(journal.latest_snapshot().unwrap(), Some(snapshot.clone()));
    // A snapshot ahead of the journal is refused.
    assert!(matches!(
        writer.write_snapshot(&Snapshot {
            seq: 1_000,
            payload: vec![1]
        }),
        Err(StoreError::SnapshotAhead { .. })
    ));
    // Compaction through the snapshot deletes the whole batches at or below it.
    writer.compact_through(7).unwrap();
    drop((journal, writer));
    let mut journal = backend.open_clean();
    assert_eq!(journal.compacted_through(), 7);
    assert_eq!(journal.latest_snapshot().unwrap(), Some(snapshot.clone()));
    let after: Vec<_> = appended[2..].iter().chain(&more).cloned().collect();
    assert_eq!(replay_all(&mut journal, 7).unwrap(), after);
    // Chunks of a write cut short (no row) are not a snapshot and go on open.
    backend
        .raw()
        .execute(
            "INSERT INTO snapshot_chunks (seq, idx, bytes) VALUES (14, 0, x'01')",
            [],
        )
        .unwrap();
    drop(journal);
    let mut journal = backend.open_clean();
    assert_eq!(journal.latest_snapshot().unwrap(), Some(snapshot));
    let orphans: i64 = backend
        .raw()
        .query_row(
            "SELECT count(*) FROM snapshot_chunks WHERE seq = 14",
            [],
            |row| row.get(0),
        )
        .unwrap();
    assert_eq!(orphans, 0);
}
