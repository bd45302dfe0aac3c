//! `purser demo`: the whole manager in under a minute on an embedded server with a temporary
//! data directory. A workflow's agents (four simulated in Rust, one on the Python client when an
//! interpreter can run it) make LLM calls with a hold before and a settlement after, under the
//! enforcement ladder; the manager, on a compressed clock, raises forecast alerts before the
//! stops, reclaims an idle agent's budget and grants it to those forecast to run out; a DAG runs
//! on a free and a priced pool, charged to the same workflow; a closing summary gives each
//! agent's and task's figures, the workflow's utilization, Jain's fairness and the moves.

use purser_core::amount::group_digits;
use std::io::IsTerminal;
use std::process::ExitCode;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use anyhow::{Context, bail};
use serde_json::{Value, json};

use purser_server::wire::AmountMap;
use purser_server::wire::accounts::{AccountOut, AllocateOut};

use crate::client::Client;

mod agents;
mod dag;
mod manager;
mod python;
mod screen;

use agents::{agent, operate};
use screen::{draw, summary};

/// What kind of agent, and how it spends.
struct Profile {
    name: &'static str,
    role: &'static str,
    weight: f64,
    /// Mean tokens of one call.
    tokens_per_call: u64,
    /// Calls it wants to make in all.
    calls: u32,
    /// Mean pause between calls, before any throttle.
    pause_ms: u64,
}

/// The Rust agents. Two implementers and a reviewer want more than their share; the tester is
/// done early and leaves most of its budget idle, for the optimizer to move.
const PROFILES: [Profile; 4] = [
    Profile {
        name: "impl-1",
        role: "implementer",
        weight: 2.0,
        tokens_per_call: 3_500,
        calls: 400,
        pause_ms: 300,
    },
    Profile {
        name: "impl-2",
        role: "implementer",
        weight: 2.0,
        tokens_per_call: 3_200,
        calls: 400,
        pause_ms: 300,
    },
    Profile {
        name: "review",
        role: "quality reviewer",
        weight: 1.0,
        tokens_per_call: 1_800,
        calls: 400,
        pause_ms: 300,
    },
    Profile {
        name: "test",
        role: "tester",
        weight: 1.0,
        tokens_per_call: 1_500,
        calls: 20,
        pause_ms: 300,
    },
];
/// Micro-dollars per token of the large model and of the small one agents degrade to.
const LARGE_MODEL_MICROS_PER_TOKEN: u64 = 10;
const SMALL_MODEL_MICROS_PER_TOKEN: u64 = 2;
const WORKFLOW: &str = "acme/wf-demo";

/// A tiny deterministic generator (xorshift64*), so every run with a seed is the same run.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_F491_4F6C_DD1D)
    }

    /// Uniform within 15 % of `mean`: agents working at a steady cadence, as a loop of
    /// similar calls does, which is what lets a minute of history give confident forecasts.
    fn around(&mut self, mean: u64) -> u64 {
        let spread = (mean * 3 / 10).max(1);
        mean - spread / 2 + self.next() % spread
    }
}

#[derive(Clone, Default)]
struct AgentView {
    calls: u32,
    action: String,
    outcome: String,
    stopped: bool,
    done: bool,
    degraded: bool,
}

struct Shared {
    /// The agents' names and roles, in the order of `views`: `PROFILES`, then the Python agent.
    agents: Vec<(&'static str, &'static str)>,
    views: Mutex<Vec<AgentView>>,
    log: Mutex<Vec<String>>,
    started: Instant,
    tty: bool,
    /// Whether a frame is on the screen, to be drawn over.
    drawn: AtomicBool,
    /// Whether the DAG's workers are done.
    dag_done: AtomicBool,
}

impl Shared {
    fn say(&self, line: String) {
        let line = format!("{:>5.1}s  {line}", self.started.elapsed().as_secs_f64());
        if !self.tty {
            println!("{line}");
        }
        self.log.lock().expect("log lock").push(line);
    }

    /// The Python agent's process ended.
    fn python_done(&self, outcome: String) {
        let mut views = self.views.lock().expect("views lock");
        if let Some(view) = views.get_mut(PROFILES.len()) {
            view.done = true;
            view.outcome = outcome;
        }
    }
}

/// The demo's server: the manager on a compressed clock, so that a minute shows what an hour
/// would, and the DAG's pools.
fn demo_config(data_dir: std::path::PathBuf) -> anyhow::Result<purser_server::Config> {
    let text = format!("{MANAGER}{}", dag::POOLS);
    let config = purser_server::Config::parse(&text)
        .map_err(|err| anyhow::anyhow!("the demo's config: {err}"))?;
    Ok(purser_server::Config { data_dir, ..config })
}

/// The `[manager]` section of the demo's server (the defaults are for hours, not a minute).
const MANAGER: &str = r#"
[manager]
optimizer_every_ms = 1000
alerts_every_ms = 500
lead_time_ms = 8000
alert_confidence = 0.6
idle_after_ms = 4000
reclaim_share = 0.8
grant_above = 0.6
horizon_ms = 60000
backtest_horizon_ms = 3000
"#;

pub fn run(seconds: u64, seed: u64, keep: bool) -> anyhow::Result<ExitCode> {
    let data_dir = tempfile::tempdir().context("making a temporary data directory")?;
    let config = demo_config(data_dir.path().join("data"))?;
    let (address, stop_server, server_thread) = start_server(config)?;
    let url = format!("http://{address}");
    let client = Client::new(&url, None);
    println!(
        "purser demo: embedded server on {url}, data in {}",
        data_dir.path().display()
    );
    println!(
        "purser demo: the dashboard is at {url}/ (open it while the agents run{})",
        if keep {
            "; it stays up after them"
        } else {
            ", or run with --keep"
        }
    );
    println!(
        "purser demo: the manager runs on a compressed clock (its [manager] settings for a minute, \
         not hours): an agent idle 4 s gives back 80 % of what it left unused, an agent past 60 % \
         forecast to run out is granted from the pool, alerts look 8 s ahead at confidence 0.6, \
         the optimizer runs every second and forecasts end at the minute"
    );
    let python = python::find();
    let mut agents: Vec<(&str, &str)> = PROFILES.iter().map(|p| (p.name, p.role)).collect();
    match &python {
        Ok(_) => agents.push((python::NAME, "writer (Python)")),
        Err(why) => println!("purser demo: the Python agent is skipped: {why}"),
    }
    setup(&client, &agents)?;
    let dag_id = dag::submit(&client)?;
    let shared = Arc::new(Shared {
        views: Mutex::new(vec![
            AgentView {
                action: "continue".into(),
                ..AgentView::default()
            };
            agents.len()
        ]),
        agents,
        log: Mutex::new(Vec::new()),
        started: Instant::now(),
        tty: std::io::stdout().is_terminal(),
        drawn: AtomicBool::new(false),
        dag_done: AtomicBool::new(false),
    });
    let deadline = Instant::now() + Duration::from_secs(seconds.clamp(10, 600));
    let mut threads: Vec<std::thread::JoinHandle<anyhow::Result<()>>> = (0..PROFILES.len())
        .map(|idx| {
            let (client, shared) = (client.clone(), shared.clone());
            std::thread::spawn(move || {
                agent(
                    idx,
                    &client,
                    &shared,
                    seed.wrapping_add(idx as u64 * 7919) | 1,
                    deadline,
                )
            })
        })
        .collect();
    {
        let (client, shared, dag_id) = (client.clone(), shared.clone(), dag_id.clone());
        threads.push(std::thread::spawn(move || {
            let ran = dag::run_workers(&client, &shared, &dag_id, deadline);
            shared.dag_done.store(true, Ordering::Relaxed);
            ran
        }));
    }
    let python_thread = match python {
        Ok(python) => Some(python::start(
            &python,
            &url,
            &format!("{WORKFLOW}/{}", python::NAME),
            seed,
            deadline,
            shared.clone(),
            data_dir.path(),
        )?),
        Err(_) => None,
    };
    let follower = operate(&client, &shared, deadline)?;
    for thread in threads {
        if let Err(err) = thread.join().expect("demo thread") {
            eprintln!("purser demo: {err:#}");
        }
    }
    if let Some(thread) = python_thread {
        let _ = thread.join();
    }
    draw(&client, &shared, true)?;
    summary(&client, &shared, &follower, &dag_id)?;
    if keep {
        println!("purser demo: the agents are done; the dashboard stays at {url}/ until Ctrl-C");
        keep_serving();
    }
    let _ = stop_server.send(());
    let _ = server_thread.join();
    Ok(ExitCode::SUCCESS)
}

/// Waits for Ctrl-C (or SIGTERM) while the server keeps serving.
fn keep_serving() {
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build();
    if let Ok(runtime) = runtime {
        runtime.block_on(async {
            let _ = tokio::signal::ctrl_c().await;
        });
    }
}

fn start_server(
    config: purser_server::Config,
) -> anyhow::Result<(
    std::net::SocketAddr,
    tokio::sync::oneshot::Sender<()>,
    std::thread::JoinHandle<()>,
)> {
    let (address_tx, address_rx) = std::sync::mpsc::channel();
    let (stop_tx, stop_rx) = tokio::sync::oneshot::channel::<()>();
    let thread = std::thread::spawn(move || {
        let runtime = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(2)
            .enable_all()
            .build()
            .expect("runtime");
        runtime.block_on(async move {
            let listener = match tokio::net::TcpListener::bind("127.0.0.1:0").await {
                Ok(listener) => listener,
                Err(err) => return address_tx.send(Err(err.to_string())).unwrap_or(()),
            };
            let _ = address_tx.send(listener.local_addr().map_err(|err| err.to_string()));
            if let Err(err) = purser_server::run(config, listener, async {
                let _ = stop_rx.await;
            })
            .await
            {
                eprintln!("purser demo: server stopped: {err}");
            }
        });
    });
    let address = address_rx
        .recv()
        .context("the embedded server did not start")?
        .map_err(|err| anyhow::anyhow!("binding: {err}"))?;
    // Wait until it answers.
    let client = Client::new(&format!("http://{address}"), None);
    for _ in 0..100 {
        if matches!(client.call("GET", "/readyz", None), Ok(Ok(_))) {
            return Ok((address, stop_tx, thread));
        }
        std::thread::sleep(Duration::from_millis(50));
    }
    bail!("the embedded server did not become ready")
}

/// Calls the API and insists on success, reading the answer as `T`.
fn expect<T: serde::de::DeserializeOwned>(
    client: &Client,
    method: &str,
    path: &str,
    body: Option<&Value>,
) -> anyhow::Result<T> {
    match client.call_as::<T>(method, path, body)? {
        Ok((answer, _)) => Ok(answer),
        Err(failure) => Err(anyhow::anyhow!("{failure}")),
    }
}

/// Tokens the workflow hands its agents; the rest of its 1,000,000 is its pool.
const HANDED_OUT: u64 = 900_000;

fn setup(client: &Client, agents: &[(&str, &str)]) -> anyhow::Result<()> {
    expect::<AccountOut>(
        client,
        "PUT",
        "/v1/accounts/acme",
        // One workflow in the org: the org's budget is the workflow's, so the optimizer's moves
        // stay among the agents. Its ladder sits above theirs, as the workflow's does.
        Some(&json!({
            "kind": "org", "limits": {"tokens": 1_000_000, "cost_micros": 20_000_000}, "reserve": 0.0,
            "thresholds": {"warn": 0.8, "throttle": 0.9, "degrade": 0.95, "stop": 1.0}
        })),
    )?;
    // The workflow's own ladder sits above its agents' (they enforce), and it keeps 5 % back.
    expect::<AccountOut>(
        client,
        "PUT",
        &format!("/v1/accounts/{WORKFLOW}"),
        Some(&json!({
            "kind": "workflow", "limits": {"tokens": 1_000_000, "cost_micros": 20_000_000},
            "reserve": 0.05,
            "thresholds": {"warn": 0.8, "throttle": 0.9, "degrade": 0.95, "stop": 1.0}
        })),
    )?;
    let children: Vec<Value> = agents
        .iter()
        .map(|(name, _)| {
            let weight = PROFILES
                .iter()
                .find(|p| p.name == *name)
                .map_or(1.0, |p| p.weight);
            json!({"name": name, "weight": weight})
        })
        .collect();
    let answer: AllocateOut = expect(
        client,
        "POST",
        &format!("/v1/accounts/{WORKFLOW}:allocate"),
        Some(&json!({
            "strategy": "proportional",
            "total": {"tokens": HANDED_OUT, "cost_micros": 18_000_000},
            "children": children
        })),
    )?;
    println!("org acme and its workflow {WORKFLOW}: 1,000,000 tokens, $20, allocated by weight:");
    for allocation in &answer.allocations {
        let name = allocation.path.rsplit('/').next().unwrap_or_default();
        let (role, weight) = agents
            .iter()
            .find(|(agent, _)| *agent == name)
            .map(|(_, role)| {
                let weight = PROFILES
                    .iter()
                    .find(|p| p.name == name)
                    .map_or(1.0, |p| p.weight);
                (*role, weight)
            })
            .unwrap_or(("", 1.0));
        println!(
            "  {:<28} {:<17} weight {}  {} tokens",
            allocation.path,
            role,
            weight,
            group_digits(tokens(&allocation.limits))
        );
    }
    println!(
        "  pool {} tokens (of which 50,000 is the reserve, never handed out); the DAG feature-42 \
         charges its machine time to the workflow\n",
        group_digits(tokens(&answer.pool))
    );
    Ok(())
}

/// The tokens of an amount map.
fn tokens(amounts: &AmountMap) -> u64 {
    amounts.get("tokens").copied().unwrap_or(0)
}
