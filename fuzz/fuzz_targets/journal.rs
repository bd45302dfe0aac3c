//! Journal decoding: a batch of records, or a snapshot, as the store hands them back, then the
//! recovery that folds them into the ledger and the DAGs. A journal that passed its checksum
//! may still hold anything: recovery must answer an error, never panic or allocate without
//! bound.

#![no_main]

use libfuzzer_sys::fuzz_target;
use purser_core::LedgerLimits;
use purser_engine::record;
use purser_engine::recover::recover;
use purser_fuzz as _;
use purser_sched::DagConfig;
use purser_sched::Pool;
use purser_store::{Batch, Journal, MemJournal, MemStorage};
use std::sync::OnceLock;

fuzz_target!(|data: &[u8]| {
    let Some((&kind, payload)) = data.split_first() else {
        return;
    };
    let storage = MemStorage::new();
    let Ok((mut journal, _)) = MemJournal::open(&storage) else {
        return;
    };
    if kind & 1 == 0 {
        // A batch: the next byte is how many records it claims.
        let Some((&n_events, payload)) = payload.split_first() else {
            return;
        };
        let batch = Batch {
            first_seq: 1,
            n_events: u32::from(n_events),
            payload: payload.to_vec(),
        };
        let decoded = record::decode_records(&batch);
        if decoded.is_err() || n_events == 0 || journal.append(&[batch]).is_err() {
            return;
        }
    } else {
        // A snapshot: decoded, checked and rebuilt as recovery does before it replays.
        let seq = record::decode_snapshot(payload).map_or(1, |state| state.ledger.last_seq);
        let _ = record::state_from_snapshot(payload, seq, LedgerLimits::default(), dag_config());
        return;
    }
    let _ = recover(&mut journal, LedgerLimits::default(), dag_config());
});

/// The scheduler of a small server: two pools, so that placements can name real machines.
fn dag_config() -> DagConfig {
    static CONFIG: OnceLock<DagConfig> = OnceLock::new();
    CONFIG
        .get_or_init(|| {
            let mut spot = Pool::local("spot", 2, 4);
            spot.spot_per_hour_micros = Some(100_000);
            DagConfig::of_pools(vec![Pool::local("local", 2, 8), spot])
        })
        .clone()
}
