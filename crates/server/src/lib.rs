//! The Purser service: the HTTP API, auth, the engine thread and group commit.
//!
//! Main pieces: [`run`] (open the store, recover, serve until shutdown), [`Config`]
//! (`purser.toml`), the engine thread ([`engine`]: one writer, batches, durable commit before
//! any answer), the routes ([`routes`]: parse, check the caller, call the engine, render) and the
//! wire types ([`wire`]). The ledger itself is `purser-core`; the journal is `purser-store`.
//! This crate is the only place that reads the clock or knows JSON.

pub mod audit;
pub mod auth;
pub mod config;
pub mod config_manager;
pub mod config_sched;
pub mod dag_routes;
pub mod dag_wire;
pub mod dags;
pub mod engine;
pub mod engine_manage;
pub mod error;
pub mod listen;
pub mod openapi;
pub mod periods;
pub mod render;
pub mod report;
pub mod routes;
pub mod routes_manage;
pub mod schemas;
pub mod wire;

use std::future::Future;
use std::sync::Arc;
use std::time::Duration;

use purser_core::{AccountSpec, Command, LedgerLimits};
use purser_store::{Durability, SqliteJournal};

pub use config::Config;
pub use engine::Engine;

/// How often the clock releases expired holds.
pub const TICK_MS: u64 = 200;

/// Everything that can stop the server from starting or running.
#[derive(Debug, thiserror::Error)]
pub enum ServerError {
    #[error(
        "refusing to listen on {0} without tokens: configure [[tokens]] or listen on a loopback address"
    )]
    OpenListener(std::net::SocketAddr),
    #[error("data directory {path}: {source}")]
    DataDir {
        path: String,
        source: std::io::Error,
    },
    #[error("store: {0}")]
    Store(#[from] purser_store::StoreError),
    #[error("recovery: {0}")]
    Recovery(String),
    #[error("config: {0}")]
    Config(String),
    #[error("http: {0}")]
    Http(#[from] std::io::Error),
}

/// Opens the data directory, recovers the ledger and starts the engine thread.
pub fn open_engine(config: &Config) -> Result<(Engine, std::thread::JoinHandle<()>), ServerError> {
    std::fs::create_dir_all(&config.data_dir).map_err(|source| ServerError::DataDir {
        path: config.data_dir.display().to_string(),
        source,
    })?;
    let durability = match config.durability {
        config::DurabilityConfig::Fsync => Durability::Fsync,
        config::DurabilityConfig::Os => Durability::Os,
    };
    let (mut journal, report) =
        SqliteJournal::open(config.data_dir.join("journal.sqlite"), durability)?;
    if !report.is_clean() {
        eprintln!("purser: repaired the journal on open: {report:?}");
    }
    let limits = LedgerLimits {
        idempotency_keys_max: config.idempotency_keys_max,
        amount_max: config.amount_max,
        ..LedgerLimits::default()
    };
    let dag_config = config_sched::dag_config(config).map_err(ServerError::Config)?;
    let manager_config = config.manager.to_config().map_err(ServerError::Config)?;
    let mut audit = audit::AuditLog::new();
    let recovered = engine::recover(&mut journal, limits, dag_config, &mut audit)
        .map_err(ServerError::Recovery)?;
    let mut ledger = recovered.ledger;
    let defaults = &config.defaults;
    let spec = AccountSpec {
        warn: defaults.warn,
        throttle: defaults.throttle,
        degrade: defaults.degrade,
        stop: defaults.stop,
        throttle_rate: defaults.throttle_rate,
        reserve: defaults.reserve,
        ..AccountSpec::default()
    };
    let base = purser_core::AccountConfig::default();
    let defaults = purser_core::ledger::merge_config(base, &spec)
        .map_err(|err| ServerError::Config(format!("defaults: {err}")))?;
    ledger.set_defaults(defaults);
    let core = engine::EngineCore {
        ledger,
        journal: Box::new(journal),
        snapshot_every_events: config.snapshot_every_events,
        last_snapshot_seq: recovered.snapshot_seq,
        previous_snapshot_seq: 0,
        last_now_ms: 0,
        dags: recovered.dags,
        dag_events: Vec::new(),
        manager: purser_core::foresight::Foresight::new(manager_config),
        audit,
        note: None,
    };
    Ok(engine::start(core))
}

/// Serves the API on `listener` until `shutdown` resolves, then drains the engine.
pub async fn run(
    config: Config,
    listener: tokio::net::TcpListener,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> Result<(), ServerError> {
    let address = listener.local_addr()?;
    if config.tokens.is_empty() && !address.ip().is_loopback() {
        return Err(ServerError::OpenListener(address));
    }
    let listen_limits =
        fit_to_descriptors(config.http.listen_limits().map_err(ServerError::Config)?);
    let body_read_timeout = config
        .http
        .body_read_timeout()
        .map_err(ServerError::Config)?;
    let (engine, engine_thread) = open_engine(&config)?;
    create_configured_accounts(&engine, &config).await?;
    if config.tokens.is_empty() {
        eprintln!(
            "purser: no tokens configured: accepting anonymous requests on loopback {address} only"
        );
    }
    let ticker = engine.clone();
    let tick_task = tokio::spawn(async move {
        let mut interval = tokio::time::interval(Duration::from_millis(TICK_MS));
        loop {
            interval.tick().await;
            ticker.try_send(engine::Op::Tick);
        }
    });
    // Event streams never end on their own: they end when the server begins to shut down.
    let (closing_tx, closing) = tokio::sync::watch::channel(false);
    let state = routes::AppState {
        engine,
        tokens: Arc::new(auth::Tokens::new(&config.tokens)),
        closing,
        body_read_timeout,
        openapi: Arc::new(openapi::document(config.amount_max)),
    };
    eprintln!("purser: listening on http://{address}");
    let shutdown = async move {
        shutdown.await;
        let _ = closing_tx.send(true);
    };
    listen::serve(listener, routes::router(state), &listen_limits, shutdown).await;
    tick_task.abort();
    let _ = tick_task.await;
    // The last handle is gone once the router and the ticker are: the engine drains and stops.
    tokio::task::spawn_blocking(move || engine_thread.join())
        .await
        .ok();
    Ok(())
}

/// Raises the soft limit of open files towards the hard one so that `connections_max` fit,
/// and lowers `connections_max` (saying so) where they cannot.
fn fit_to_descriptors(mut limits: listen::ListenLimits) -> listen::ListenLimits {
    // The journal, the snapshot writer and the runtime need a few descriptors of their own.
    const SPARE: u64 = 64;
    let wanted = limits.connections_max as u64 + SPARE;
    let available = match rlimit::increase_nofile_limit(wanted) {
        Ok(soft) => soft,
        Err(err) => {
            eprintln!("purser: cannot read the limit of open files: {err}");
            return limits;
        }
    };
    if available < wanted {
        let fitting = available.saturating_sub(SPARE).max(2) as usize;
        eprintln!(
            "purser: the limit of open files is {available}: serving {fitting} connections at once, not {}",
            limits.connections_max
        );
        limits.connections_max = fitting;
        limits.health_headroom = limits.health_headroom.min(fitting / 2).max(1);
    }
    limits
}

/// Creates the accounts of the config that do not exist yet, journaled like any request.
async fn create_configured_accounts(engine: &Engine, config: &Config) -> Result<(), ServerError> {
    for (idx, entry) in config.accounts.iter().enumerate() {
        let path = purser_core::AccountPath::parse(&entry.path)
            .map_err(|err| ServerError::Config(format!("accounts[{idx}].path: {err}")))?;
        if let engine::Reply::Account(_) = engine.call(engine::Op::Status(path.clone())).await {
            continue;
        }
        let spec = AccountSpec {
            limits: Some(entry.limits.clone().into_iter().collect()),
            kind: entry.kind.clone(),
            weight: entry.weight,
            ..AccountSpec::default()
        };
        let command = Command::UpsertAccount { path, spec };
        match engine
            .call(engine::Op::Manage(command, Arc::from("config")))
            .await
        {
            engine::Reply::Account(_) => {}
            engine::Reply::Error(err) => {
                return Err(ServerError::Config(format!(
                    "accounts[{idx}] ({}): {}",
                    entry.path, err.detail.message
                )));
            }
            _ => unreachable!("an upsert answers an account or an error"),
        }
    }
    Ok(())
}
