//! What only the shared backend does: fencing by the lease's epoch, standbys following the
//! leader's appends, and the lease table itself.

use purser_store::{
    Epoch, Journal, LeaseKeeper, Leases, PostgresJournal, PostgresLeases, Snapshot, StoreError,
    Transition,
};

use crate::harness::{Backend, Postgres, SHARD, append_sizes, batch, replay_all};

fn open(backend: &Postgres, epoch: &Epoch) -> PostgresJournal {
    PostgresJournal::open(backend.url(), SHARD, epoch.clone())
        .unwrap()
        .0
}

#[test]
fn a_stale_leader_is_fenced_and_writes_nothing() {
    let Some(backend) = Postgres::new_or_skip() else {
        return;
    };
    let mut old = open(&backend, &backend.epoch);
    append_sizes(&mut old, &[2, 3]);
    // The lease expires (its holder paused) and another process takes it over.
    let mut leases = PostgresLeases::connect(backend.url()).unwrap();
    let old_epoch = backend.epoch.get().unwrap();
    leases.release(SHARD, "harness", old_epoch).unwrap();
    let new_epoch = leases.try_acquire(SHARD, "other", "", 10_000).unwrap();
    assert_eq!(new_epoch, Some(old_epoch + 1));
    let error = old.append(&[batch(6, 1)]).unwrap_err();
    assert!(
        matches!(&error, StoreError::Fenced { epoch, .. } if *epoch == old_epoch),
        "{error}"
    );
    assert_eq!(old.last_seq(), 5);
    let snapshot = Snapshot {
        seq: 5,
        payload: b"state".to_vec(),
    };
    assert!(matches!(
        old.write_snapshot(&snapshot),
        Err(StoreError::Fenced { .. })
    ));
    let mut writer = old.snapshot_writer().unwrap().unwrap();
    assert!(matches!(
        writer.write_snapshot(&snapshot),
        Err(StoreError::Fenced { .. })
    ));
    // The new leader appends where the journal ends; the old one's batch is nowhere.
    let epoch = Epoch::default();
    epoch.set(new_epoch);
    let mut new = open(&backend, &epoch);
    assert_eq!(new.last_seq(), 5);
    new.append(&[batch(6, 4)]).unwrap();
    assert_eq!(replay_all(&mut new, 5).unwrap(), vec![batch(6, 4)]);
    // A renewal by the old holder is refused: it is no longer the lease's.
    assert!(!leases.renew(SHARD, "harness", old_epoch, 10_000).unwrap());
    assert!(leases.renew(SHARD, "other", old_epoch + 1, 10_000).unwrap());
}

#[test]
fn a_standby_refuses_to_append_and_follows_the_leader() {
    let Some(backend) = Postgres::new_or_skip() else {
        return;
    };
    let mut leader = open(&backend, &backend.epoch);
    let mut standby = open(&backend, &Epoch::default());
    assert!(matches!(
        standby.append(&[batch(1, 1)]),
        Err(StoreError::NotLeader { .. })
    ));
    let appended = append_sizes(&mut leader, &[3, 1, 2]);
    assert_eq!(standby.last_seq(), 0);
    assert_eq!(standby.refresh().unwrap(), 6);
    assert_eq!(replay_all(&mut standby, 0).unwrap(), appended);
    // Batches appended after the standby looked wait for its next refresh.
    let more = append_sizes(&mut leader, &[5]);
    assert_eq!(replay_all(&mut standby, 6).unwrap(), vec![]);
    assert_eq!(standby.refresh().unwrap(), 11);
    assert_eq!(replay_all(&mut standby, 6).unwrap(), more);
    // After a snapshot and compaction by the leader, the standby sees how far it went.
    leader
        .write_snapshot(&Snapshot {
            seq: 6,
            payload: b"six".to_vec(),
        })
        .unwrap();
    leader.compact_through(6).unwrap();
    standby.refresh().unwrap();
    assert_eq!(standby.compacted_through(), 6);
    assert!(matches!(
        replay_all(&mut standby, 3),
        Err(StoreError::Compacted { .. })
    ));
    assert_eq!(standby.latest_snapshot().unwrap().unwrap().seq, 6);
}

#[test]
fn keepers_take_over_only_after_expiry_with_a_new_epoch() {
    let Some(backend) = Postgres::new_or_skip() else {
        return;
    };
    let mut leases = PostgresLeases::connect(backend.url()).unwrap();
    let mut first = LeaseKeeper::new("s2", "first", "http://a", 300);
    let mut second = LeaseKeeper::new("s2", "second", "http://b", 300);
    assert_eq!(
        first.round(&mut leases, 0),
        Transition::Promoted { epoch: 1 }
    );
    assert_eq!(second.round(&mut leases, 0), Transition::Stay);
    assert_eq!(first.round(&mut leases, 100), Transition::Stay);
    let holders = leases.holders().unwrap();
    let s2 = holders.iter().find(|holder| holder.shard == "s2").unwrap();
    assert_eq!(
        (s2.owner.as_str(), s2.address.as_str(), s2.live),
        ("first", "http://a", true)
    );
    // The first stops renewing (paused): past the TTL, the second takes over.
    std::thread::sleep(std::time::Duration::from_millis(400));
    assert_eq!(
        second.round(&mut leases, 500),
        Transition::Promoted { epoch: 2 }
    );
    assert!(matches!(
        first.round(&mut leases, 600),
        Transition::Demoted { epoch: 1, .. }
    ));
    // A clean release lets the other take over at once.
    second.release(&mut leases).unwrap();
    assert_eq!(
        first.round(&mut leases, 700),
        Transition::Promoted { epoch: 3 }
    );
}

#[test]
fn the_journal_and_its_snapshot_writer_reconnect_after_the_database_drops_them() {
    let Some(backend) = Postgres::new_or_skip() else {
        return;
    };
    let mut journal = open(&backend, &backend.epoch);
    let mut writer = journal.snapshot_writer().unwrap().unwrap();
    append_sizes(&mut journal, &[2]);
    // The database restarts, as far as these connections can tell.
    let mut raw = backend.raw();
    raw.execute(
        "SELECT pg_terminate_backend(pid) FROM pg_stat_activity \
         WHERE datname = current_database() AND pid <> pg_backend_pid()",
        &[],
    )
    .unwrap();
    // The first call on a dropped connection fails (an append's outcome is then unknown to the
    // caller: the engine steps down and re-reads the journal); the next one connects again.
    let next = batch(3, 3);
    assert!(journal.append(std::slice::from_ref(&next)).is_err());
    journal.refresh().unwrap();
    assert_eq!(
        journal.last_seq(),
        2,
        "the refused append was not committed"
    );
    journal.append(std::slice::from_ref(&next)).unwrap();
    let snapshot = Snapshot {
        seq: 5,
        payload: b"five".to_vec(),
    };
    assert!(writer.write_snapshot(&snapshot).is_err());
    writer.write_snapshot(&snapshot).unwrap();
    assert_eq!(journal.latest_snapshot().unwrap().unwrap().seq, 5);
    assert_eq!(replay_all(&mut journal, 0).unwrap().len(), 2);
}
