//! The Purser service: HTTP only. The router and one handler module per resource
//! ([`routes`]), the wire types ([`wire`]: what requests read and answers write), bearer tokens
//! ([`auth`]), the one place engine errors become status codes ([`error`]), the listener with
//! its timeouts and connection limit ([`listen`]), the OpenAPI document ([`openapi`]), report
//! rendering ([`report`]) and `purser.toml` ([`config`]).
//!
//! The writer, its journal and its clock are `purser-engine`'s: [`run`] opens a SQLite journal
//! in the data directory, hands it and the wall clock to the engine, and serves until shutdown.

pub mod auth;
pub mod cluster;
pub mod config;
pub mod error;
pub mod fleet;
pub mod listen;
pub mod metrics;
pub mod monitoring;
pub mod openapi;
pub mod report;
pub mod routes;
pub mod ui;
pub mod wire;

use std::future::Future;
use std::sync::Arc;
use std::time::Duration;

use purser_core::{AccountSpec, Command};
use purser_engine::{Clock, Engine, EngineConfig, EngineError, WallClock};
use purser_store::{Durability, Epoch, Journal, OpenReport, PostgresJournal, SqliteJournal};

pub use config::Config;

/// How often the clock's tick runs (expired holds are released within it).
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

/// What the engine runs with, from the config.
pub fn engine_config(config: &Config) -> Result<EngineConfig, ServerError> {
    let limits = purser_core::LedgerLimits {
        idempotency_keys_max: config.idempotency_keys_max,
        amount_max: config.amount_max,
        ..purser_core::LedgerLimits::default()
    };
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
    let defaults = purser_core::ledger::merge_config(purser_core::AccountConfig::default(), &spec)
        .map_err(|err| ServerError::Config(format!("defaults: {err}")))?;
    Ok(EngineConfig {
        limits,
        defaults,
        dags: config::sched::dag_config(config).map_err(ServerError::Config)?,
        foresight: config.manager.to_config().map_err(ServerError::Config)?,
        snapshot_every_events: config.snapshot_every_events,
        standby: false,
    })
}

/// Opens the journal (in the data directory, or the shard's in PostgreSQL: then as a standby
/// appending under `epoch` once promoted), recovers and starts the engine with `clock`.
pub fn open_engine(
    config: &Config,
    clock: Arc<dyn Clock>,
    epoch: &Epoch,
) -> Result<(Engine, std::thread::JoinHandle<()>), ServerError> {
    let mut engine_config = engine_config(config)?;
    let (journal, repair): (Box<dyn Journal>, OpenReport) = match config
        .store()
        .map_err(ServerError::Config)?
    {
        config::cluster::Store::Sqlite => {
            std::fs::create_dir_all(&config.data_dir).map_err(|source| ServerError::DataDir {
                path: config.data_dir.display().to_string(),
                source,
            })?;
            let durability = match config.durability {
                config::DurabilityConfig::Fsync => Durability::Fsync,
                config::DurabilityConfig::Os => Durability::Os,
            };
            let (journal, repair) =
                SqliteJournal::open(config.data_dir.join("journal.sqlite"), durability)?;
            (Box::new(journal), repair)
        }
        config::cluster::Store::Postgres(url) => {
            engine_config.standby = true;
            let (journal, repair) =
                PostgresJournal::open(&url, &config.cluster.shard, epoch.clone())?;
            (Box::new(journal), repair)
        }
    };
    if !repair.is_clean() {
        eprintln!("purser: repaired the journal on open: {repair:?}");
    }
    let (engine, thread, recovered) =
        purser_engine::open(journal, clock, &engine_config).map_err(ServerError::Recovery)?;
    eprintln!(
        "purser: recovered {} accounts and {} dags at event {} (snapshot {}, {} events replayed) in {} ms",
        recovered.n_accounts,
        recovered.n_dags,
        recovered.last_seq,
        recovered.snapshot_seq,
        recovered.n_records,
        recovered.elapsed_ms
    );
    Ok((engine, thread))
}

/// Serves the API on `listener` until `shutdown` resolves, then drains the engine.
pub async fn run(
    config: Config,
    listener: tokio::net::TcpListener,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> Result<(), ServerError> {
    run_with_clock(config, listener, shutdown, Arc::new(WallClock)).await
}

/// [`run`] on another clock: tests hand in a manual one and move time themselves.
pub async fn run_with_clock(
    config: Config,
    listener: tokio::net::TcpListener,
    shutdown: impl Future<Output = ()> + Send + 'static,
    clock: Arc<dyn Clock>,
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
    let fleet = Arc::new(fleet::Fleet::new(
        config.fleet().map_err(ServerError::Config)?,
    ));
    let epoch = Epoch::default();
    // Opening blocks (recovery; PostgreSQL's driver runs a runtime of its own).
    let (engine, engine_thread) = {
        let (config, clock, epoch) = (config.clone(), clock.clone(), epoch.clone());
        tokio::task::spawn_blocking(move || open_engine(&config, clock, &epoch))
            .await
            .map_err(|err| ServerError::Recovery(format!("the opening task failed: {err}")))??
    };
    // Event streams never end on their own: they end when the server begins to shut down.
    let (closing_tx, closing) = tokio::sync::watch::channel(false);
    let (cluster, keeper_thread, follow_task) = match config.store().map_err(ServerError::Config)? {
        config::cluster::Store::Sqlite => {
            create_configured_accounts(&engine, &config).await?;
            (None, None, None)
        }
        config::cluster::Store::Postgres(url) => {
            let address = config
                .cluster
                .advertise
                .clone()
                .unwrap_or_else(|| format!("http://{address}"));
            let cluster = Arc::new(cluster::Cluster::new(
                config.cluster.clone(),
                address,
                epoch.clone(),
            ));
            let accounts = Arc::new(config.clone());
            let on_promoted: cluster::OnPromoted = Arc::new(move |engine| {
                let accounts = accounts.clone();
                Box::pin(async move {
                    if let Err(err) = create_configured_accounts(&engine, &accounts).await {
                        eprintln!("purser: creating the config's accounts: {err}");
                    }
                })
            });
            let keeper = cluster::spawn_keeper(
                cluster.clone(),
                url.clone(),
                engine.clone(),
                tokio::runtime::Handle::current(),
                closing.clone(),
                on_promoted,
            );
            let follow = tokio::spawn(cluster::follow(
                engine.clone(),
                Duration::from_millis(config.cluster.follow_every_ms),
            ));
            eprintln!(
                "purser: shard {} of {} as {}",
                config.cluster.shard,
                config::cluster::redact(&url),
                cluster.owner
            );
            (Some(cluster), Some(keeper), Some(follow))
        }
    };
    if config.tokens.is_empty() {
        eprintln!(
            "purser: no tokens configured: accepting anonymous requests on loopback {address} only"
        );
    }
    let tick_task = tokio::spawn(engine.clone().run_ticker(Duration::from_millis(TICK_MS)));
    let fleet_task = tokio::spawn(fleet::watch(fleet.clone(), engine.clone(), clock.clone()));
    let state = routes::AppState {
        engine,
        tokens: Arc::new(auth::Tokens::new(&config.tokens)),
        closing,
        body_read_timeout,
        openapi: Arc::new(openapi::document(config.amount_max)),
        metrics: Arc::new(config.metrics.clone()),
        http_stats: Arc::default(),
        omitted: Arc::default(),
        data_dir: Arc::from(config.data_dir.as_path()),
        fleet,
        clock,
        cluster,
    };
    eprintln!("purser: listening on http://{address}");
    let shutdown = async move {
        shutdown.await;
        let _ = closing_tx.send(true);
    };
    listen::serve(
        listener,
        routes::router(state, ui::router()),
        &listen_limits,
        shutdown,
    )
    .await;
    if let Some(keeper) = keeper_thread {
        // `closing` turned true: the keeper demotes the engine and releases the lease.
        let _ = tokio::task::spawn_blocking(move || keeper.join()).await;
    }
    if let Some(follow) = follow_task {
        follow.abort();
        let _ = follow.await;
    }
    tick_task.abort();
    let _ = tick_task.await;
    fleet_task.abort();
    let _ = fleet_task.await;
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
    let sharded = config
        .store()
        .is_ok_and(|store| store != config::cluster::Store::Sqlite);
    for (idx, entry) in config.accounts.iter().enumerate() {
        let path = purser_core::AccountPath::parse(&entry.path)
            .map_err(|err| ServerError::Config(format!("accounts[{idx}].path: {err}")))?;
        let tenant = entry.path.split('/').next().unwrap_or_default();
        if sharded && config.cluster.shard_of(tenant) != config.cluster.shard {
            // Another shard's tenant: its own leader creates it.
            continue;
        }
        if engine.account(path.clone()).await.is_ok() {
            continue;
        }
        let spec = AccountSpec {
            limits: Some(entry.limits.clone().into_iter().collect()),
            kind: entry.kind.clone(),
            weight: entry.weight,
            ..AccountSpec::default()
        };
        let command = Command::UpsertAccount { path, spec };
        if let Err(err) = engine.manage(command, Arc::from("config")).await {
            let message = match err {
                EngineError::Ledger(err) => err.to_string(),
                other => other.to_string(),
            };
            return Err(ServerError::Config(format!(
                "accounts[{idx}] ({}): {message}",
                entry.path
            )));
        }
    }
    Ok(())
}
