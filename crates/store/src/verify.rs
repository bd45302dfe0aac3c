//! Checks shared by every backend: CRCs, the seq chain on append, on open and on replay, and the
//! choice of the snapshot to load. Pure functions over plain values, so each backend only feeds
//! them rows.

use crate::{Batch, OpenReport, StoreError};

/// The largest seq a journal can hold: SQLite integers are signed 64-bit.
pub(crate) const MAX_SEQ: u64 = i64::MAX as u64;

/// CRC32 over a batch's header (`first_seq`, `n_events`, little-endian) and payload.
pub(crate) fn batch_crc(first_seq: u64, n_events: u32, payload: &[u8]) -> u32 {
    let mut hasher = crc32fast::Hasher::new();
    hasher.update(&first_seq.to_le_bytes());
    hasher.update(&n_events.to_le_bytes());
    hasher.update(payload);
    hasher.finalize()
}

/// Checks a snapshot may be written after `last_seq` (it never holds events the journal does
/// not) and answers its checksum.
pub(crate) fn check_snapshot(snapshot: &crate::Snapshot, last_seq: u64) -> Result<u32, StoreError> {
    if snapshot.seq > last_seq {
        return Err(StoreError::SnapshotAhead {
            snapshot_seq: snapshot.seq,
            last_seq,
        });
    }
    Ok(snapshot_crc(snapshot.seq, &snapshot.payload))
}

/// CRC32 over a snapshot's seq (little-endian) and payload.
pub(crate) fn snapshot_crc(seq: u64, payload: &[u8]) -> u32 {
    let mut hasher = crc32fast::Hasher::new();
    hasher.update(&seq.to_le_bytes());
    hasher.update(payload);
    hasher.finalize()
}

/// Checks that `batches` continue a journal ending at `last_seq`; returns the new last seq.
pub(crate) fn check_append(last_seq: u64, batches: &[Batch]) -> Result<u64, StoreError> {
    let mut expected = last_seq + 1;
    for batch in batches {
        if batch.first_seq != expected {
            return Err(StoreError::SeqGap {
                expected,
                found: batch.first_seq,
            });
        }
        if batch.n_events == 0 {
            return Err(StoreError::EmptyBatch {
                first_seq: batch.first_seq,
            });
        }
        let end = batch.first_seq + u64::from(batch.n_events);
        // Invariant: every stored seq, and the next expected one, fit in an i64.
        if end > MAX_SEQ {
            return Err(StoreError::SeqOutOfRange {
                first_seq: batch.first_seq,
                n_events: batch.n_events,
            });
        }
        expected = end;
    }
    Ok(expected - 1)
}

/// Checks a journal may start after `seq` (`Journal::start_at`): the next seq must fit.
/// Refuses a replay from inside the compacted prefix; answers whether anything lies after
/// `after_seq`.
pub(crate) fn check_replay_from(
    after_seq: u64,
    compacted_through: u64,
    last_seq: u64,
) -> Result<bool, StoreError> {
    if after_seq < compacted_through {
        return Err(StoreError::Compacted {
            after_seq,
            compacted_through,
        });
    }
    Ok(after_seq < last_seq)
}

pub(crate) fn check_start(seq: u64) -> Result<(), StoreError> {
    if seq >= MAX_SEQ {
        return Err(StoreError::SeqOutOfRange {
            first_seq: seq,
            n_events: 1,
        });
    }
    Ok(())
}

/// The verdict of [`TailCheck`]: what to keep and what to cut.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct TailVerdict {
    pub last_seq: u64,
    pub n_batches: u64,
    /// The first seq of the first cut batch, the number cut, and why.
    pub cut: Option<(u64, u64, String)>,
}

/// Verifies the stored batches in seq order on open, one row at a time.
///
/// The first bad batch (CRC fails, a field is out of range, or its seq does not continue the
/// previous batch) starts the tail to cut; if any batch after it has a valid CRC, the damage is in
/// the middle and the journal refuses to open.
#[derive(Debug)]
pub(crate) struct TailCheck {
    next_seq: u64,
    n_good: u64,
    first_bad: Option<(u64, String)>,
    n_after_bad: u64,
    n_valid_after_bad: u64,
}

impl TailCheck {
    pub fn new(compacted_through: u64) -> TailCheck {
        TailCheck {
            next_seq: compacted_through + 1,
            n_good: 0,
            first_bad: None,
            n_after_bad: 0,
            n_valid_after_bad: 0,
        }
    }

    /// Feeds one stored row: its first seq and either its event count (the row is intact) or
    /// why it is not.
    pub fn push(&mut self, first_seq: u64, row: Result<u32, String>) {
        if self.first_bad.is_some() {
            self.n_after_bad += 1;
            self.n_valid_after_bad += u64::from(row.is_ok());
            return;
        }
        match row {
            Err(reason) => self.first_bad = Some((first_seq, reason)),
            Ok(_) if first_seq != self.next_seq => {
                let reason = format!("does not continue seq {}", self.next_seq - 1);
                self.first_bad = Some((first_seq, reason));
            }
            Ok(n_events) => {
                self.next_seq = first_seq + u64::from(n_events);
                self.n_good += 1;
            }
        }
    }

    pub fn finish(self) -> Result<TailVerdict, StoreError> {
        let last_seq = self.next_seq - 1;
        let Some((first_seq, reason)) = self.first_bad else {
            return Ok(TailVerdict {
                last_seq,
                n_batches: self.n_good,
                cut: None,
            });
        };
        if self.n_valid_after_bad > 0 {
            return Err(StoreError::CorruptMiddle {
                first_seq,
                reason,
                n_valid_after: self.n_valid_after_bad,
            });
        }
        let cut = Some((first_seq, 1 + self.n_after_bad, reason));
        Ok(TailVerdict {
            last_seq,
            n_batches: self.n_good,
            cut,
        })
    }
}

/// Picks the snapshot to load from `(seq, crc_ok)` pairs, newest first, and builds the report.
///
/// Refuses when the chosen snapshot is past the (possibly cut) journal, or when compaction
/// deleted events the chosen snapshot does not cover.
pub(crate) fn choose_snapshot(
    tail: &TailVerdict,
    compacted_through: u64,
    snapshots_newest_first: &[(u64, bool)],
) -> Result<OpenReport, StoreError> {
    let usable = snapshots_newest_first
        .iter()
        .find(|(_, crc_ok)| *crc_ok)
        .map(|(seq, _)| *seq);
    let corrupt_snapshots: Vec<u64> = snapshots_newest_first
        .iter()
        .filter(|(_, crc_ok)| !crc_ok)
        .map(|(seq, _)| *seq)
        .collect();
    if let Some(snapshot_seq) = usable
        && snapshot_seq > tail.last_seq
    {
        return Err(StoreError::SnapshotAhead {
            snapshot_seq,
            last_seq: tail.last_seq,
        });
    }
    if usable.unwrap_or(0) < compacted_through {
        return Err(StoreError::UncoveredCompaction {
            compacted_through,
            usable_snapshot: usable,
        });
    }
    let (cut_batches, cut_reason) = match &tail.cut {
        Some((first_seq, n_cut, reason)) => {
            (*n_cut, Some(format!("batch at seq {first_seq} {reason}")))
        }
        None => (0, None),
    };
    Ok(OpenReport {
        last_seq: tail.last_seq,
        compacted_through,
        n_batches: tail.n_batches,
        cut_batches,
        cut_reason,
        snapshot_seq: usable,
        corrupt_snapshots,
    })
}

/// Verifies batches as `replay` streams them: CRCs, the seq chain, and full coverage of
/// `after_seq + 1 ..= last_seq`.
#[derive(Debug)]
pub(crate) struct ReplayCheck {
    next_seq: Option<u64>,
    after_seq: u64,
}

impl ReplayCheck {
    pub fn new(after_seq: u64) -> ReplayCheck {
        ReplayCheck {
            next_seq: None,
            after_seq,
        }
    }

    pub fn check(&mut self, batch: &Batch, stored_crc: u32) -> Result<(), StoreError> {
        let corrupt = |reason: String| StoreError::CorruptBatch {
            first_seq: batch.first_seq,
            reason,
        };
        if batch.n_events == 0 {
            return Err(corrupt("has no events".to_owned()));
        }
        if batch_crc(batch.first_seq, batch.n_events, &batch.payload) != stored_crc {
            return Err(corrupt("crc mismatch".to_owned()));
        }
        match self.next_seq {
            Some(next_seq) if batch.first_seq != next_seq => {
                return Err(corrupt(format!("does not continue seq {}", next_seq - 1)));
            }
            None if batch.first_seq > self.after_seq + 1 => {
                return Err(corrupt(format!("does not continue seq {}", self.after_seq)));
            }
            _ => {}
        }
        self.next_seq = Some(batch.first_seq + u64::from(batch.n_events));
        Ok(())
    }

    pub fn finish(self, last_seq: u64) -> Result<(), StoreError> {
        let replayed_through = self
            .next_seq
            .map_or(self.after_seq, |next_seq| next_seq - 1);
        if replayed_through < last_seq {
            return Err(StoreError::CorruptBatch {
                first_seq: replayed_through + 1,
                reason: format!("missing: the journal ends at seq {last_seq}"),
            });
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Rows are `(first_seq, Ok(n_events) | Err(reason))`; expected is the verdict or the error
    /// message.
    fn check(compacted_through: u64, rows: &[(u64, Result<u32, &str>)], expected: &str) {
        let mut tail_check = TailCheck::new(compacted_through);
        for (first_seq, row) in rows {
            tail_check.push(*first_seq, row.map_err(str::to_owned));
        }
        let actual = match tail_check.finish() {
            Ok(verdict) => format!("{verdict:?}"),
            Err(error) => error.to_string(),
        };
        assert_eq!(actual, expected);
    }

    #[test]
    fn tail_check_cases() {
        check(
            0,
            &[],
            "TailVerdict { last_seq: 0, n_batches: 0, cut: None }",
        );
        check(
            7,
            &[],
            "TailVerdict { last_seq: 7, n_batches: 0, cut: None }",
        );
        check(
            0,
            &[(1, Ok(3)), (4, Ok(1))],
            "TailVerdict { last_seq: 4, n_batches: 2, cut: None }",
        );
        check(
            0,
            &[(1, Ok(3)), (4, Err("crc mismatch"))],
            r#"TailVerdict { last_seq: 3, n_batches: 1, cut: Some((4, 1, "crc mismatch")) }"#,
        );
        check(
            0,
            &[(1, Ok(3)), (5, Ok(1)), (6, Err("crc mismatch"))],
            r#"TailVerdict { last_seq: 3, n_batches: 1, cut: Some((5, 2, "does not continue seq 3")) }"#,
        );
        check(
            0,
            &[(1, Err("crc mismatch")), (4, Ok(1))],
            "journal batch at seq 1 is corrupt (crc mismatch) and followed by 1 valid batches: \
             refusing to open rather than drop acknowledged events",
        );
        check(
            10,
            &[(5, Ok(3))],
            r#"TailVerdict { last_seq: 10, n_batches: 0, cut: Some((5, 1, "does not continue seq 10")) }"#,
        );
    }

    #[test]
    fn check_append_cases() {
        let batch = |first_seq, n_events| Batch {
            first_seq,
            n_events,
            payload: vec![],
        };
        assert_eq!(check_append(0, &[]).unwrap(), 0);
        assert_eq!(check_append(0, &[batch(1, 2), batch(3, 1)]).unwrap(), 3);
        let gap = check_append(0, &[batch(1, 2), batch(4, 1)]).unwrap_err();
        assert_eq!(
            gap.to_string(),
            "journal batch seq gap: expected first_seq 3, got 4"
        );
        let empty = check_append(5, &[batch(6, 0)]).unwrap_err();
        assert_eq!(empty.to_string(), "journal batch at seq 6 has no events");
        assert!(matches!(
            check_append(MAX_SEQ - 1, &[batch(MAX_SEQ, 1)]),
            Err(StoreError::SeqOutOfRange { .. })
        ));
    }

    #[test]
    fn choose_snapshot_cases() {
        let tail = TailVerdict {
            last_seq: 20,
            n_batches: 3,
            cut: None,
        };
        let report = choose_snapshot(&tail, 10, &[(15, false), (12, true)]).unwrap();
        assert_eq!(
            (report.snapshot_seq, report.corrupt_snapshots),
            (Some(12), vec![15])
        );
        let uncovered = choose_snapshot(&tail, 13, &[(15, false), (12, true)]).unwrap_err();
        assert_eq!(
            uncovered.to_string(),
            "journal compacted through seq 13 but the newest usable snapshot is at seq 12: \
             the events in between are lost"
        );
        let ahead = choose_snapshot(&tail, 0, &[(21, true)]).unwrap_err();
        assert!(matches!(
            ahead,
            StoreError::SnapshotAhead {
                snapshot_seq: 21,
                last_seq: 20
            }
        ));
        assert_eq!(choose_snapshot(&tail, 0, &[]).unwrap().snapshot_seq, None);
    }
}
