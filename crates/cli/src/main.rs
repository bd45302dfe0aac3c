//! `purser`: serve the API, run the demo, and operate on accounts from the command line.

mod accounts;
mod backup;
mod budget;
mod client;
mod dag;
mod demo;
mod k8s;
mod monitoring;
mod recommend;
mod replay;
mod report;
mod schedule;
mod table;

use std::path::PathBuf;
use std::process::ExitCode;

/// mimalloc instead of glibc's allocator: a report is allocated on a request task and freed on
/// the writer's thread (or the other way round), which glibc's arenas pay for in locks and
/// consolidation (about a quarter of the server's time under batches, by `perf`); see
/// BENCHMARKS.md for the same run with and without it.
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

use anyhow::{Context, bail};
use clap::{Args, Parser, Subcommand};

#[derive(Parser)]
#[command(
    name = "purser",
    version,
    about = "Budgets, usage and enforcement for fleets of AI agents"
)]
struct Cli {
    #[command(subcommand)]
    command: Commands,
}

#[derive(Args, Clone)]
struct Remote {
    /// The server's base URL.
    #[arg(
        long,
        env = "PURSER_URL",
        default_value = "http://127.0.0.1:7543",
        global = true
    )]
    server: String,
    /// A bearer token.
    #[arg(long, env = "PURSER_TOKEN", global = true, hide_env_values = true)]
    token: Option<String>,
    /// Print the server's JSON answer instead of a table.
    #[arg(long, global = true)]
    json: bool,
}

#[derive(Subcommand)]
enum Commands {
    /// Run the service.
    Serve {
        /// Listen address (default 127.0.0.1:7543, or the config's).
        #[arg(long)]
        listen: Option<std::net::SocketAddr>,
        #[command(flatten)]
        store: backup::StoreArgs,
    },
    /// Write a consistent copy of a running or stopped server's state (its newest snapshot and
    /// the journal after it, checksummed) to a file: a backup, or a move to another store.
    Export(backup::ExportArgs),
    /// Load a file written by `purser export` into an empty store (an empty data directory or
    /// PostgreSQL shard). A damaged or truncated file is refused with nothing written.
    Import(backup::ImportArgs),
    /// Write a commented example config.
    Init {
        /// Where to write it.
        #[arg(default_value = "purser.toml")]
        path: PathBuf,
        /// Replace the file if it exists.
        #[arg(long)]
        force: bool,
    },
    /// Show the whole manager on an embedded server: agents, alerts, the optimizer and a DAG
    /// sharing one workflow's budget.
    Demo {
        /// Seconds the agents may run at most.
        #[arg(long, default_value_t = 60)]
        seconds: u64,
        /// Seed of the simulated LLM calls.
        #[arg(long, default_value_t = 7)]
        seed: u64,
        /// Keep the server (and its dashboard) up after the agents finish, until Ctrl-C.
        #[arg(long)]
        keep: bool,
    },
    /// Show an account and its subtree as a table.
    Status {
        /// An account path; without it, every top-level account.
        path: Option<String>,
        /// Levels below the account to show.
        #[arg(long, default_value_t = 2)]
        depth: usize,
        #[command(flatten)]
        remote: Remote,
    },
    /// Report on an account and its children: utilization, efficiency, fairness, waste,
    /// forecasts, time per level and recommendations.
    Report {
        path: String,
        /// markdown, html or json (--json also asks for json).
        #[arg(long, default_value = "markdown", value_parser = ["markdown", "html", "json"])]
        format: String,
        /// Write the report here instead of standard output.
        #[arg(long)]
        out: Option<PathBuf>,
        #[command(flatten)]
        remote: Remote,
    },
    /// Create, update or close an account.
    Account {
        path: String,
        /// Limits as DIM=N, e.g. tokens=500000 cost_micros=50000000.
        #[arg(long = "limit", value_name = "DIM=N")]
        limits: Vec<String>,
        #[arg(long)]
        kind: Option<String>,
        #[arg(long)]
        weight: Option<f64>,
        /// Close the account (a leaf without open reservations).
        #[arg(long, conflicts_with_all = ["limits", "kind", "weight"])]
        close: bool,
        #[command(flatten)]
        remote: Remote,
    },
    /// Budget rules' actions: reset a window, start a run, ask for more and decide requests.
    Budget {
        #[command(subcommand)]
        action: budget::Budget,
        #[command(flatten)]
        remote: Remote,
    },
    /// Distribute budget to children by a strategy.
    Allocate {
        path: String,
        /// equal, proportional, priority, pool or fair_share.
        #[arg(long)]
        strategy: String,
        /// Children as NAME or NAME:WEIGHT.
        #[arg(long = "child", value_name = "NAME[:WEIGHT]", required = true)]
        children: Vec<String>,
        /// What to distribute, as DIM=N (default: the pool less the reserve).
        #[arg(long = "total", value_name = "DIM=N")]
        total: Vec<String>,
        #[arg(long)]
        min_share: Option<f64>,
        #[arg(long)]
        max_share: Option<f64>,
        #[command(flatten)]
        remote: Remote,
    },
    /// Report usage that already happened.
    ReportUsage {
        path: String,
        /// Usage as DIM=N.
        #[arg(value_name = "DIM=N", required = true)]
        usage: Vec<String>,
        #[arg(long)]
        key: Option<String>,
        #[arg(long)]
        operation: Option<String>,
        #[arg(long)]
        work_units: Option<u64>,
        #[command(flatten)]
        remote: Remote,
    },
    /// Hold an estimate before spending.
    Reserve {
        path: String,
        #[arg(value_name = "DIM=N", required = true)]
        amount: Vec<String>,
        #[arg(long)]
        ttl_ms: Option<u64>,
        #[arg(long)]
        key: Option<String>,
        #[command(flatten)]
        remote: Remote,
    },
    /// Charge the actual usage of a reservation and release it.
    Settle {
        id: String,
        #[arg(value_name = "DIM=N")]
        usage: Vec<String>,
        #[arg(long)]
        operation: Option<String>,
        #[arg(long)]
        work_units: Option<u64>,
        #[command(flatten)]
        remote: Remote,
    },
    /// Plan a workflow (WfFormat JSON or Pegasus DAX) on a platform, in virtual time.
    Schedule {
        /// The workflow file (.json: WfFormat; .xml or .dax: Pegasus DAX).
        #[arg(long)]
        workflow: PathBuf,
        /// The platform file (TOML: pools of machines, prices, bandwidth).
        #[arg(long)]
        platform: PathBuf,
        /// purser or heft.
        #[arg(long, default_value = "purser")]
        algorithm: String,
        /// Fixes the simulated spot interruptions.
        #[arg(long, default_value_t = 1)]
        seed: u64,
        /// Write the schedule here instead of standard output.
        #[arg(long)]
        out: Option<PathBuf>,
        /// Objective weights: finish time, cost, fragmentation (default 0.6,0.3,0.1).
        #[arg(long)]
        weights: Option<String>,
        /// Use on-demand capacity only.
        #[arg(long)]
        no_spot: bool,
        /// Simulate no spot interruptions.
        #[arg(long)]
        no_interruptions: bool,
        /// The fastest plan whose cost stays within this many micro-units (on-demand capacity;
        /// `--algorithm`, `--weights` and spot do not apply). Exit code 2 when none exists.
        #[arg(long, value_name = "MICROS")]
        budget_micros: Option<u64>,
        /// When the plan starts (RFC 3339; default now): people work by their calendar.
        #[arg(long)]
        start: Option<String>,
    },
    /// Replay a usage trace through the ledger in virtual time; JSON lines out.
    Replay {
        /// JSON lines in time order: {"at_ms": 0, "account": "acme/wf-1/agent-3", "usage": {"tokens": 1520}}.
        #[arg(long)]
        trace: PathBuf,
        /// purser, or mooncake (the FAST'25 trace: timestamp, input_length, output_length).
        #[arg(long, default_value = "purser")]
        trace_format: replay::TraceFormat,
        /// The account a mooncake trace is charged to.
        #[arg(long, default_value = "mooncake")]
        account: String,
        /// Limits of each account the trace names, as DIM=N,DIM=N.
        #[arg(long, value_delimiter = ',', value_name = "DIM=N")]
        limits: Vec<String>,
        /// `equal`: the limits are each top-level account's, spread equally down the tree.
        #[arg(long)]
        allocate: Option<String>,
        /// The budget period, from the trace's first timestamp.
        #[arg(long, default_value = "1h")]
        horizon: humantime::Duration,
        #[arg(long, default_value = "60s")]
        forecast_every: humantime::Duration,
        /// Warn this long before a forecast exhaustion.
        #[arg(long, default_value = "60s")]
        lead_time: humantime::Duration,
        /// How often the optimizer runs (0s: never).
        #[arg(long, default_value = "10s")]
        optimizer_every: humantime::Duration,
        /// Write the lines here instead of standard output.
        #[arg(long)]
        out: Option<PathBuf>,
    },
    /// DAGs of tasks on the server's pools: submit one, show one.
    Dag {
        #[command(subcommand)]
        command: dag::DagCommand,
    },
    /// Kubernetes manifests of the agent profiles and of Purser.
    K8s {
        #[command(subcommand)]
        command: k8s::K8sCommand,
    },
    /// What Kubernetes would do with a profile: the HPA's replicas, the VPA's requests.
    Recommend {
        #[command(subcommand)]
        command: recommend::RecommendCommand,
    },
    /// Alert rules and a Grafana board for Prometheus and Grafana.
    Monitoring {
        #[command(subcommand)]
        command: monitoring::MonitoringCommand,
    },
    /// Release a reservation without spending.
    Void {
        id: String,
        #[command(flatten)]
        remote: Remote,
    },
}

fn main() -> ExitCode {
    match run(Cli::parse()) {
        Ok(code) => code,
        Err(err) => {
            eprintln!("purser: {err:#}");
            ExitCode::from(1)
        }
    }
}

fn run(cli: Cli) -> anyhow::Result<ExitCode> {
    match cli.command {
        Commands::Serve { listen, store } => serve(listen, &store),
        Commands::Export(args) => backup::export(&args),
        Commands::Import(args) => backup::import(&args),
        Commands::Init { path, force } => init(&path, force),
        Commands::Demo {
            seconds,
            seed,
            keep,
        } => demo::run(seconds, seed, keep),
        Commands::Replay {
            trace,
            trace_format,
            account,
            limits,
            allocate,
            horizon,
            forecast_every,
            lead_time,
            optimizer_every,
            out,
        } => {
            let timing = replay::Timing {
                horizon,
                forecast_every,
                lead_time,
                optimizer_every,
            };
            replay::run_command(trace, trace_format, account, &limits, allocate, timing, out)
        }
        Commands::Report {
            path,
            format,
            out,
            remote,
        } => report::run(&remote, &path, &format, out.as_deref()),
        Commands::Status {
            path,
            depth,
            remote,
        } => accounts::status(&remote, path.as_deref(), depth),
        Commands::Account {
            path,
            limits,
            kind,
            weight,
            close,
            remote,
        } if close => {
            let _ = (limits, kind, weight);
            accounts::close(&remote, &path)
        }
        Commands::Account {
            path,
            limits,
            kind,
            weight,
            remote,
            ..
        } => accounts::put(&remote, &path, &limits, kind, weight),
        Commands::Budget { action, remote } => budget::run(&remote, action),
        Commands::Allocate {
            path,
            strategy,
            children,
            total,
            min_share,
            max_share,
            remote,
        } => accounts::allocate(
            &remote,
            &path,
            accounts::Allocation {
                strategy,
                children,
                total,
                min_share,
                max_share,
            },
        ),
        Commands::ReportUsage {
            path,
            usage,
            key,
            operation,
            work_units,
            remote,
        } => accounts::report_usage(&remote, &path, &usage, key, operation, work_units),
        Commands::Reserve {
            path,
            amount,
            ttl_ms,
            key,
            remote,
        } => accounts::reserve(&remote, &path, &amount, ttl_ms, key),
        Commands::Settle {
            id,
            usage,
            operation,
            work_units,
            remote,
        } => accounts::settle(&remote, &id, &usage, operation, work_units),
        Commands::Schedule {
            workflow,
            platform,
            algorithm,
            seed,
            out,
            weights,
            no_spot,
            no_interruptions,
            budget_micros,
            start,
        } => schedule::run(schedule::ScheduleArgs {
            workflow: &workflow,
            platform: &platform,
            algorithm: &algorithm,
            seed,
            out: out.as_deref(),
            no_spot,
            no_interruptions,
            weights: weights.as_deref(),
            budget_micros,
            start: start.as_deref(),
        }),
        Commands::Dag { command } => dag::run(command),
        Commands::Monitoring { command } => monitoring::run(command),
        Commands::Recommend { command } => recommend::run(command),
        Commands::K8s { command } => k8s::run(command),
        Commands::Void { id, remote } => accounts::void(&remote, &id),
    }
}

fn init(path: &std::path::Path, force: bool) -> anyhow::Result<ExitCode> {
    if path.exists() && !force {
        bail!("{} exists; pass --force to replace it", path.display());
    }
    std::fs::write(path, purser_server::Config::example())
        .with_context(|| format!("writing {}", path.display()))?;
    println!("wrote {}", path.display());
    Ok(ExitCode::SUCCESS)
}

/// The config at `path`, or the defaults.
pub(crate) fn load_config(path: Option<&std::path::Path>) -> anyhow::Result<purser_server::Config> {
    Ok(match path {
        Some(path) => {
            let text = std::fs::read_to_string(path)
                .with_context(|| format!("reading {}", path.display()))?;
            purser_server::Config::parse(&text)
                .map_err(|err| anyhow::anyhow!("{}: {err}", path.display()))?
        }
        None => purser_server::Config::default(),
    })
}

fn serve(
    listen: Option<std::net::SocketAddr>,
    store: &backup::StoreArgs,
) -> anyhow::Result<ExitCode> {
    let mut config = store.config()?;
    if let Some(listen) = listen {
        config.listen = listen;
    }
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()?;
    runtime.block_on(async move {
        let listener = tokio::net::TcpListener::bind(config.listen)
            .await
            .with_context(|| format!("binding {}", config.listen))?;
        // Ctrl-C or SIGTERM (what a supervisor sends): a leader releases its lease on the way.
        let mut terminate =
            tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate())?;
        let shutdown = async move {
            tokio::select! {
                _ = tokio::signal::ctrl_c() => {}
                _ = terminate.recv() => {}
            }
            eprintln!("purser: shutting down");
        };
        purser_server::run(config, listener, shutdown).await?;
        Ok::<_, anyhow::Error>(())
    })?;
    Ok(ExitCode::SUCCESS)
}
