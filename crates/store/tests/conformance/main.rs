//! The store conformance suite: every case in `cases` and `props` runs against every backend,
//! followed by the few tests that only make sense for one backend.

mod cases;
mod harness;
mod props;
mod shared;
mod specific;

/// Instantiates every conformance case for one backend.
macro_rules! conformance_suite {
    ($module:ident, $backend:ty) => {
        mod $module {
            use crate::{cases, props};

            #[test]
            fn append_replay_round_trip() {
                cases::append_replay_round_trip::<$backend>();
            }
            #[test]
            fn seq_gap_rejected_with_nothing_written() {
                cases::seq_gap_rejected_with_nothing_written::<$backend>();
            }
            #[test]
            fn replay_skips_through_after_seq() {
                cases::replay_skips_through_after_seq::<$backend>();
            }
            #[test]
            fn replay_stops_on_visitor_error() {
                cases::replay_stops_on_visitor_error::<$backend>();
            }
            #[test]
            fn snapshot_round_trip_keeps_newest() {
                cases::snapshot_round_trip_keeps_newest::<$backend>();
            }
            #[test]
            fn compaction_deletes_whole_batches() {
                cases::compaction_deletes_whole_batches::<$backend>();
            }
            #[test]
            fn reopen_keeps_everything() {
                cases::reopen_keeps_everything::<$backend>();
            }
            #[test]
            fn torn_tail_is_cut_and_appendable() {
                cases::torn_tail_is_cut_and_appendable::<$backend>();
            }
            #[test]
            fn torn_tail_of_several_batches_is_cut() {
                cases::torn_tail_of_several_batches_is_cut::<$backend>();
            }
            #[test]
            fn corruption_in_the_middle_refuses_to_open() {
                cases::corruption_in_the_middle_refuses_to_open::<$backend>();
            }
            #[test]
            fn replay_detects_corruption_after_open() {
                cases::replay_detects_corruption_after_open::<$backend>();
            }
            #[test]
            fn corrupt_snapshot_behind_compaction_refuses_to_open() {
                cases::corrupt_snapshot_behind_compaction_refuses_to_open::<$backend>();
            }
            #[test]
            fn random_operations_replay_what_was_acknowledged() {
                props::random_operations_replay_what_was_acknowledged::<$backend>();
            }
        }
    };
}

conformance_suite!(mem, crate::harness::Mem);
conformance_suite!(sqlite, crate::harness::Sqlite);
conformance_suite!(postgres, crate::harness::Postgres);
