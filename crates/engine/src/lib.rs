//! The engine of Purser: the single writer and everything it owns. It applies requests to the
//! ledger and the DAGs in batches, commits each batch's records to the journal in one durable
//! append (group commit) before answering, recovers from the journal at start, runs the clock's
//! tick (expiries, alerts, the optimizer, budget periods, leases and placement), and keeps the
//! audit log and its stream.
//!
//! Main types: [`Engine`] (the handle: one async method per request), [`EngineState`] (the
//! writer's state; `step` applies a batch, the thread and the simulation drive it), [`Op`]
//! (a request with its reply channel), [`Record`] (what the journal holds), [`Clock`] and
//! [`EngineError`]. Answers are views ([`view`]) with names resolved.
//!
//! By design it is handed a [`Clock`] and a `Box<dyn Journal>` and knows nothing of the web: no
//! web framework, no status codes (a check in `.ci/run` keeps it so). Its dependencies are the core, the
//! scheduler, the store, serde and postcard (records), jiff (periods on the calendar) and
//! tokio's channels.

pub mod audit;
pub mod clock;
pub mod directory;
pub mod error;
mod follow;
pub mod jobs;
pub mod periods;
pub mod record;
pub mod recover;
mod run;
pub mod scope;
pub mod snapshotter;
pub mod state;
pub mod stats;
pub mod time;
pub mod view;

use std::sync::Arc;
use std::time::Instant;

use purser_core::foresight::{Foresight, ForesightConfig};
use purser_core::{AccountConfig, LedgerLimits};
use purser_sched::DagConfig;
use purser_store::Journal;
use tokio::sync::mpsc;

pub use clock::{Clock, ManualClock, WallClock};
pub use error::EngineError;
pub use jobs::Op;
pub use jobs::{ACCOUNTS_LIST_MAX, Engine, QUEUE_MAX};
pub use record::Record;
pub use run::BATCH_JOBS_MAX;
pub use scope::Scope;
pub use state::EngineState;

/// How the engine runs: the ledger's bounds and defaults, the scheduler, foresight, and how
/// often the state is snapshotted.
#[derive(Clone, Debug)]
pub struct EngineConfig {
    pub limits: LedgerLimits,
    /// What a new account starts with (thresholds, reserve, throttle rate).
    pub defaults: AccountConfig,
    pub dags: DagConfig,
    pub foresight: ForesightConfig,
    /// A snapshot is written after this many records; a restart replays at most this many.
    pub snapshot_every_events: u64,
    /// Start as a standby: follow the (shared) journal, serve reads, refuse writes, until
    /// promoted (`Engine::promote`).
    pub standby: bool,
}

/// What recovery found.
#[derive(Clone, Debug, PartialEq)]
pub struct RecoveryReport {
    pub n_accounts: usize,
    pub n_dags: usize,
    pub last_seq: u64,
    pub snapshot_seq: u64,
    pub n_records: u64,
    pub elapsed_ms: u64,
}

/// Recovers the state from `journal`, synchronously: what the thread runs, and what a
/// simulation steps by hand.
pub fn open_state(
    mut journal: Box<dyn Journal>,
    config: &EngineConfig,
) -> Result<(EngineState, RecoveryReport), String> {
    let started = Instant::now();
    let recovered = recover::recover(journal.as_mut(), config.limits, config.dags.clone())?;
    let mut ledger = recovered.ledger;
    ledger.set_defaults(config.defaults.clone());
    let report = RecoveryReport {
        n_accounts: ledger.n_accounts(),
        n_dags: recovered.dags.n_dags(),
        last_seq: ledger.last_seq(),
        snapshot_seq: recovered.snapshot_seq,
        n_records: recovered.n_records,
        elapsed_ms: started.elapsed().as_millis() as u64,
    };
    let state = EngineState::new(state::StateParts {
        ledger,
        dags: recovered.dags,
        foresight: Foresight::new(config.foresight),
        audit: recovered.audit,
        journal,
        snapshot_every_events: config.snapshot_every_events,
        snapshot_seq: recovered.snapshot_seq,
        config: config.clone(),
    });
    Ok((state, report))
}

/// Recovers the state and starts the writer's thread; it runs until every handle is dropped.
pub fn open(
    journal: Box<dyn Journal>,
    clock: Arc<dyn Clock>,
    config: &EngineConfig,
) -> Result<(Engine, std::thread::JoinHandle<()>, RecoveryReport), String> {
    let (mut state, report) = open_state(journal, config)?;
    if !config.standby {
        state.follow()?;
    }
    let stats = state.stats();
    let changes = state.changes();
    let directory = state.directory();
    let (queue, jobs) = mpsc::channel(QUEUE_MAX);
    let thread = std::thread::Builder::new()
        .name("purser-engine".into())
        .spawn(move || run::run(state, clock, jobs))
        .map_err(|err| format!("the engine thread cannot start: {err}"))?;
    Ok((
        Engine::new(queue, stats, changes, directory),
        thread,
        report,
    ))
}
