//! Throughput and latency of `SqliteJournal` in a temporary directory, both durabilities.
//!
//! Run with `cargo bench -p purser-store --bench journal`. Plain `std::time::Instant`; each
//! figure is one run, so expect noise on a shared machine.

use std::time::{Duration, Instant};

use purser_store::{Batch, Durability, Journal, SqliteJournal};

const EVENT_BYTES: usize = 40;
const EVENTS_PER_BIG_BATCH: u32 = 1_000;
const TINY_BATCHES_PER_GROUP: usize = 64;
const REPLAY_EVENTS: u64 = 10_000_000;
/// Each timed loop stops after this long or its count, whichever comes first.
const TIME_BUDGET: Duration = Duration::from_secs(3);

fn batch(first_seq: u64, n_events: u32) -> Batch {
    let payload = (0..n_events as usize * EVENT_BYTES)
        .map(|i| (i as u64 ^ first_seq) as u8)
        .collect();
    Batch {
        first_seq,
        n_events,
        payload,
    }
}

fn open(dir: &tempfile::TempDir, durability: Durability) -> SqliteJournal {
    SqliteJournal::open(dir.path().join("journal.sqlite"), durability)
        .unwrap()
        .0
}

/// Commits of `batches_per_commit` batches of `events_per_batch` events; returns
/// (events/s, commits/s, p50, p99 commit latency).
fn appends(
    durability: Durability,
    batches_per_commit: usize,
    events_per_batch: u32,
    max_commits: usize,
) -> (f64, f64, Duration, Duration) {
    let dir = tempfile::tempdir().unwrap();
    let mut journal = open(&dir, durability);
    let mut latencies = Vec::with_capacity(max_commits);
    let started = Instant::now();
    while latencies.len() < max_commits && started.elapsed() < TIME_BUDGET {
        let mut batches = Vec::with_capacity(batches_per_commit);
        let mut next_seq = journal.last_seq() + 1;
        for _ in 0..batches_per_commit {
            batches.push(batch(next_seq, events_per_batch));
            next_seq += u64::from(events_per_batch);
        }
        let commit_started = Instant::now();
        journal.append(&batches).unwrap();
        latencies.push(commit_started.elapsed());
    }
    let elapsed: Duration = latencies.iter().sum();
    let n_commits = latencies.len() as f64;
    latencies.sort();
    let percentile = |p: f64| latencies[((latencies.len() - 1) as f64 * p) as usize];
    let n_events = journal.last_seq() as f64;
    let seconds = elapsed.as_secs_f64();
    (
        n_events / seconds,
        n_commits / seconds,
        percentile(0.50),
        percentile(0.99),
    )
}

/// Opens (verifying every CRC) and replays a journal of `REPLAY_EVENTS`; returns
/// (open seconds, replay seconds, replay events/s).
fn replay(durability: Durability) -> (f64, f64, f64) {
    let dir = tempfile::tempdir().unwrap();
    let mut journal = open(&dir, Durability::Os);
    let groups = REPLAY_EVENTS / u64::from(EVENTS_PER_BIG_BATCH) / 10;
    for _ in 0..groups {
        let first_seq = journal.last_seq() + 1;
        let batches: Vec<Batch> = (0..10)
            .map(|i| {
                batch(
                    first_seq + i * u64::from(EVENTS_PER_BIG_BATCH),
                    EVENTS_PER_BIG_BATCH,
                )
            })
            .collect();
        journal.append(&batches).unwrap();
    }
    drop(journal);
    let open_started = Instant::now();
    let mut journal = open(&dir, durability);
    let open_seconds = open_started.elapsed().as_secs_f64();
    let mut n_events = 0_u64;
    let mut n_bytes = 0_usize;
    let replay_started = Instant::now();
    journal
        .replay(0, &mut |batch| {
            n_events += u64::from(batch.n_events);
            n_bytes += batch.payload.len();
            Ok(())
        })
        .unwrap();
    let replay_seconds = replay_started.elapsed().as_secs_f64();
    assert_eq!(
        (n_events, n_bytes),
        (REPLAY_EVENTS, REPLAY_EVENTS as usize * EVENT_BYTES)
    );
    (
        open_seconds,
        replay_seconds,
        n_events as f64 / replay_seconds,
    )
}

fn main() {
    println!("SqliteJournal, {EVENT_BYTES}-byte events, WAL; one run per figure\n");
    println!(
        "{:<44} {:>8} {:>14} {:>11} {:>10} {:>10}",
        "workload", "durab.", "events/s", "commits/s", "p50", "p99"
    );
    for durability in [Durability::Fsync, Durability::Os] {
        let name = format!("{durability:?}");
        // (label, batches per commit, events per batch, most commits to time)
        let workloads = [
            (
                "1 batch x 1000 events per commit",
                1,
                EVENTS_PER_BIG_BATCH,
                2_000,
            ),
            (
                "10 batches x 1000 events per commit",
                10,
                EVENTS_PER_BIG_BATCH,
                500,
            ),
            ("1 batch x 1 event per commit", 1, 1, 20_000),
            (
                "64 batches x 1 event per commit",
                TINY_BATCHES_PER_GROUP,
                1,
                20_000,
            ),
        ];
        for (label, batches_per_commit, events_per_batch, max_commits) in workloads {
            let (events_per_s, commits_per_s, p50, p99) = appends(
                durability,
                batches_per_commit,
                events_per_batch,
                max_commits,
            );
            println!(
                "{label:<44} {name:>8} {events_per_s:>14.0} {commits_per_s:>11.0} {:>10.1?} {:>10.1?}",
                p50, p99
            );
        }
    }
    println!();
    for durability in [Durability::Fsync, Durability::Os] {
        let (open_seconds, replay_seconds, events_per_s) = replay(durability);
        println!(
            "open (verify all) + replay of {REPLAY_EVENTS} events, {durability:?}: open {open_seconds:.2} s, \
             replay {replay_seconds:.2} s = {events_per_s:.0} events/s"
        );
    }
}
