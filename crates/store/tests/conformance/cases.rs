//! The conformance cases, written once over `Backend` and run against every backend by `main.rs`.

use purser_store::{Corruption, Journal, SNAPSHOTS_KEPT, Snapshot, StoreError};

use crate::harness::{Backend, append_sizes, batch, replay_all};

fn snapshot(seq: u64) -> Snapshot {
    Snapshot {
        seq,
        payload: format!("state as of {seq}").into_bytes(),
    }
}

pub fn append_replay_round_trip<B: Backend>() {
    let Some(backend) = B::new_or_skip() else {
        return;
    };
    let mut journal = backend.open_clean();
    assert_eq!(journal.last_seq(), 0);
    assert_eq!(replay_all(&mut journal, 0).unwrap(), vec![]);
    let mut appended = append_sizes(&mut journal, &[3, 1, 1000]);
    let group = vec![batch(1005, 2), batch(1007, 5)];
    journal.append(&group).unwrap();
    appended.extend(group);
    journal.append(&[]).unwrap();
    assert_eq!(journal.last_seq(), 1011);
    assert_eq!(replay_all(&mut journal, 0).unwrap(), appended);
}

pub fn seq_gap_rejected_with_nothing_written<B: Backend>() {
    let Some(backend) = B::new_or_skip() else {
        return;
    };
    let mut journal = backend.open_clean();
    let appended = append_sizes(&mut journal, &[3]);
    let cases = [
        (
            vec![batch(5, 1)],
            "journal batch seq gap: expected first_seq 4, got 5",
        ),
        (
            vec![batch(3, 1)],
            "journal batch seq gap: expected first_seq 4, got 3",
        ),
        (
            vec![batch(4, 2), batch(7, 1)],
            "journal batch seq gap: expected first_seq 6, got 7",
        ),
        (
            vec![batch(4, 2), batch(6, 0)],
            "journal batch at seq 6 has no events",
        ),
    ];
    for (batches, expected) in cases {
        let error = journal.append(&batches).unwrap_err();
        assert_eq!(error.to_string(), expected);
        assert_eq!(journal.last_seq(), 3);
    }
    assert_eq!(replay_all(&mut journal, 0).unwrap(), appended);
    drop(journal);
    let mut journal = backend.open_clean();
    assert_eq!(journal.last_seq(), 3);
    assert_eq!(replay_all(&mut journal, 0).unwrap(), appended);
}

pub fn replay_skips_through_after_seq<B: Backend>() {
    let Some(backend) = B::new_or_skip() else {
        return;
    };
    let mut journal = backend.open_clean();
    let appended = append_sizes(&mut journal, &[3, 3, 3]);
    // (after_seq, index of the first batch given): a straddling batch is given whole.
    for (after_seq, first_index) in [
        (0, 0),
        (1, 0),
        (2, 0),
        (3, 1),
        (4, 1),
        (6, 2),
        (8, 2),
        (9, 3),
    ] {
        let replayed = replay_all(&mut journal, after_seq).unwrap();
        assert_eq!(replayed, appended[first_index..], "after_seq {after_seq}");
    }
    assert_eq!(replay_all(&mut journal, 100).unwrap(), vec![]);
}

pub fn replay_stops_on_visitor_error<B: Backend>() {
    let Some(backend) = B::new_or_skip() else {
        return;
    };
    let mut journal = backend.open_clean();
    append_sizes(&mut journal, &[1, 1, 1]);
    let mut n_visited = 0;
    let result = journal.replay(0, &mut |_| {
        n_visited += 1;
        Err(StoreError::ReplayAborted("undecodable event".into()))
    });
    let error = result.unwrap_err();
    assert_eq!(
        error.to_string(),
        "journal replay aborted by its visitor: undecodable event"
    );
    assert_eq!(n_visited, 1);
}

pub fn snapshot_round_trip_keeps_newest<B: Backend>() {
    let Some(backend) = B::new_or_skip() else {
        return;
    };
    let mut journal = backend.open_clean();
    assert_eq!(journal.latest_snapshot().unwrap(), None);
    append_sizes(&mut journal, &[3, 3, 3]);
    let ahead = journal.write_snapshot(&snapshot(10)).unwrap_err();
    assert_eq!(
        ahead.to_string(),
        "snapshot at seq 10 is ahead of the journal, which ends at seq 9"
    );
    // (seq written, newest seq after it): an older snapshot written late is not the latest.
    for (seq, latest) in [(3, 3), (5, 5), (9, 9), (7, 9)] {
        journal.write_snapshot(&snapshot(seq)).unwrap();
        assert_eq!(journal.latest_snapshot().unwrap(), Some(snapshot(latest)));
    }
    // Rewriting a seq replaces that snapshot.
    let rewritten = Snapshot {
        seq: 9,
        payload: b"rewritten".to_vec(),
    };
    journal.write_snapshot(&rewritten).unwrap();
    assert_eq!(journal.latest_snapshot().unwrap(), Some(rewritten.clone()));
    drop(journal);
    let (mut journal, report) = backend.open();
    assert_eq!(report.snapshot_seq, Some(9));
    assert!(report.is_clean());
    assert_eq!(journal.latest_snapshot().unwrap(), Some(rewritten));
    // The newest SNAPSHOTS_KEPT (9 and 7) are kept: corrupting 9 falls back to 7, not to 5.
    assert_eq!(SNAPSHOTS_KEPT, 2);
    drop(journal);
    backend.corrupt_snapshot(9);
    let (mut journal, report) = backend.open();
    assert_eq!(
        (report.snapshot_seq, report.corrupt_snapshots),
        (Some(7), vec![9])
    );
    assert_eq!(journal.latest_snapshot().unwrap(), Some(snapshot(7)));
    drop(journal);
    backend.corrupt_snapshot(7);
    let (mut journal, report) = backend.open();
    assert_eq!(
        (report.snapshot_seq, report.corrupt_snapshots),
        (None, vec![7])
    );
    assert_eq!(journal.latest_snapshot().unwrap(), None);
    drop(journal);
    assert!(
        backend.open().1.is_clean(),
        "corrupt snapshots are deleted once reported"
    );
}

pub fn compaction_deletes_whole_batches<B: Backend>() {
    let Some(backend) = B::new_or_skip() else {
        return;
    };
    let mut journal = backend.open_clean();
    let appended = append_sizes(&mut journal, &[3, 3, 3]);
    let refused = journal.compact_through(3).unwrap_err();
    assert_eq!(
        refused.to_string(),
        "cannot compact the journal through seq 3: the newest snapshot is absent"
    );
    journal.write_snapshot(&snapshot(5)).unwrap();
    let refused = journal.compact_through(6).unwrap_err();
    assert!(matches!(
        refused,
        StoreError::CompactPastSnapshot {
            seq: 6,
            newest_snapshot: Some(5)
        }
    ));
    // Batch 4..=6 straddles 5 and stays.
    journal.compact_through(5).unwrap();
    assert_eq!(journal.compacted_through(), 3);
    assert_eq!(journal.last_seq(), 9);
    let error = replay_all(&mut journal, 2).unwrap_err();
    assert_eq!(
        error.to_string(),
        "journal compacted through seq 3, cannot replay after seq 2"
    );
    assert_eq!(replay_all(&mut journal, 5).unwrap(), appended[1..]);
    drop(journal);
    let mut journal = backend.open_clean();
    assert_eq!((journal.compacted_through(), journal.last_seq()), (3, 9));
    assert_eq!(replay_all(&mut journal, 3).unwrap(), appended[1..]);
    // Compacting everything keeps last_seq, and appending continues after it.
    journal.write_snapshot(&snapshot(9)).unwrap();
    journal.compact_through(9).unwrap();
    drop(journal);
    let (mut journal, report) = backend.open();
    assert_eq!(
        (report.last_seq, report.compacted_through, report.n_batches),
        (9, 9, 0)
    );
    assert_eq!(replay_all(&mut journal, 9).unwrap(), vec![]);
    let more = append_sizes(&mut journal, &[2]);
    assert_eq!(replay_all(&mut journal, 9).unwrap(), more);
}

pub fn reopen_keeps_everything<B: Backend>() {
    let Some(backend) = B::new_or_skip() else {
        return;
    };
    let mut journal = backend.open_clean();
    let mut appended = append_sizes(&mut journal, &[5, 1, 7]);
    journal.write_snapshot(&snapshot(6)).unwrap();
    drop(journal);
    let (mut journal, report) = backend.open();
    assert!(report.is_clean());
    assert_eq!(
        (report.last_seq, report.n_batches, report.snapshot_seq),
        (13, 3, Some(6))
    );
    assert_eq!(replay_all(&mut journal, 0).unwrap(), appended);
    appended.extend(append_sizes(&mut journal, &[2]));
    drop(journal);
    let mut journal = backend.open_clean();
    assert_eq!(replay_all(&mut journal, 0).unwrap(), appended);
    assert_eq!(journal.latest_snapshot().unwrap(), Some(snapshot(6)));
}

pub fn torn_tail_is_cut_and_appendable<B: Backend>() {
    for corruption in [
        Corruption::FlipPayloadBit,
        Corruption::TruncatePayload,
        Corruption::WrongCrc,
    ] {
        let Some(backend) = B::new_or_skip() else {
            return;
        };
        let mut journal = backend.open_clean();
        let appended = append_sizes(&mut journal, &[3, 3, 3]);
        drop(journal);
        backend.corrupt_batch(7, corruption);
        let (mut journal, report) = backend.open();
        assert_eq!(report.cut_batches, 1, "{corruption:?}");
        assert_eq!(
            report.cut_reason.as_deref(),
            Some("batch at seq 7 crc mismatch")
        );
        assert_eq!((report.last_seq, report.n_batches), (6, 2));
        assert_eq!(journal.last_seq(), 6);
        assert_eq!(replay_all(&mut journal, 0).unwrap(), appended[..2]);
        let again = append_sizes(&mut journal, &[4]);
        drop(journal);
        let mut journal = backend.open_clean();
        assert_eq!(journal.last_seq(), 10);
        assert_eq!(
            replay_all(&mut journal, 3).unwrap(),
            [&appended[1..2], &again[..]].concat()
        );
    }
}

pub fn torn_tail_of_several_batches_is_cut<B: Backend>() {
    let Some(backend) = B::new_or_skip() else {
        return;
    };
    let mut journal = backend.open_clean();
    let appended = append_sizes(&mut journal, &[2, 2, 2, 2]);
    drop(journal);
    backend.corrupt_batch(5, Corruption::WrongCrc);
    backend.corrupt_batch(7, Corruption::TruncatePayload);
    let (mut journal, report) = backend.open();
    assert_eq!((report.cut_batches, report.last_seq), (2, 4));
    assert_eq!(replay_all(&mut journal, 0).unwrap(), appended[..2]);
}

pub fn corruption_in_the_middle_refuses_to_open<B: Backend>() {
    let Some(backend) = B::new_or_skip() else {
        return;
    };
    let mut journal = backend.open_clean();
    append_sizes(&mut journal, &[3, 3, 3, 3]);
    drop(journal);
    backend.corrupt_batch(4, Corruption::FlipPayloadBit);
    for _ in 0..2 {
        let Err(error) = backend.try_open() else {
            panic!("opened a journal corrupt in the middle")
        };
        assert_eq!(
            error.to_string(),
            "journal batch at seq 4 is corrupt (crc mismatch) and followed by 2 valid batches: \
             refusing to open rather than drop acknowledged events"
        );
    }
}

pub fn replay_detects_corruption_after_open<B: Backend>() {
    let Some(backend) = B::new_or_skip() else {
        return;
    };
    let mut journal = backend.open_clean();
    append_sizes(&mut journal, &[3, 3, 3]);
    backend.corrupt_batch(4, Corruption::FlipPayloadBit);
    let error = replay_all(&mut journal, 0).unwrap_err();
    assert_eq!(
        error.to_string(),
        "journal batch at seq 4 is corrupt: crc mismatch"
    );
}

pub fn corrupt_snapshot_behind_compaction_refuses_to_open<B: Backend>() {
    let Some(backend) = B::new_or_skip() else {
        return;
    };
    let mut journal = backend.open_clean();
    append_sizes(&mut journal, &[3, 3, 3]);
    journal.write_snapshot(&snapshot(3)).unwrap();
    journal.write_snapshot(&snapshot(6)).unwrap();
    journal.compact_through(6).unwrap();
    drop(journal);
    backend.corrupt_snapshot(6);
    let Err(error) = backend.try_open() else {
        panic!("opened with events lost")
    };
    assert_eq!(
        error.to_string(),
        "journal compacted through seq 6 but the newest usable snapshot is at seq 3: \
         the events in between are lost"
    );
}
