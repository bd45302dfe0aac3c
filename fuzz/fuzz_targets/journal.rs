//! Journal decoding: a batch of records, or a snapshot, as the store hands them back, then the
//! recovery that folds them into the ledger and the DAGs. A journal that passed its checksum
//! may still hold anything: recovery must answer an error, never panic or allocate without
//! bound.

#![no_main]

use libfuzzer_sys::fuzz_target;
use purser_core::LedgerLimits;
use purser_fuzz as _;
use purser_sched::DagConfig;
use purser_server::audit::AuditLog;
use purser_server::engine;
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
        let decoded = engine::decode_records(&batch);
        if decoded.is_err() || n_events == 0 || journal.append(&[batch]).is_err() {
            return;
        }
    } else {
        // A snapshot: decoded, checked and rebuilt as recovery does before it replays.
        let seq = engine::decode_snapshot(payload).map_or(1, |state| state.ledger.last_seq);
        let _ = engine::state_from_snapshot(payload, seq, LedgerLimits::default(), dag_config());
        return;
    }
    let mut audit = AuditLog::new();
    let _ = engine::recover(
        &mut journal,
        LedgerLimits::default(),
        dag_config(),
        &mut audit,
    );
});

/// The scheduler of a small server: two pools, so that placements can name real machines.
fn dag_config() -> DagConfig {
    static CONFIG: OnceLock<DagConfig> = OnceLock::new();
    CONFIG
        .get_or_init(|| {
            let text = "[[pool]]\nname = \"local\"\nmachines = 2\ncores = 8\n\n[[pool]]\nname = \"spot\"\nmachines = 2\ncores = 4\nspot_per_hour_micros = 100000\n";
            let config = purser_server::Config::parse(text).expect("the fuzz config parses");
            purser_server::config_sched::dag_config(&config).expect("its scheduler is valid")
        })
        .clone()
}
