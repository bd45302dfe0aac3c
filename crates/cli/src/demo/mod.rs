//! `purser demo`: an embedded server with a temporary data directory, an org, a workflow of four
//! agents with different profiles making simulated LLM calls (a reservation before, a settlement
//! after), live progress per agent, the enforcement ladder with its reasons, an operator raising a
//! stopped agent's budget, and a closing summary.

use purser_core::amount::group_digits;
use std::io::IsTerminal;
use std::process::ExitCode;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use anyhow::{Context, bail};
use serde_json::{Value, json};

use purser_server::wire::AmountMap;
use purser_server::wire::accounts::{AccountOut, AllocateOut};

use crate::client::Client;

mod agents;
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

const PROFILES: [Profile; 4] = [
    Profile {
        name: "impl-1",
        role: "implementer",
        weight: 2.0,
        tokens_per_call: 9_000,
        calls: 80,
        pause_ms: 90,
    },
    Profile {
        name: "impl-2",
        role: "implementer",
        weight: 2.0,
        tokens_per_call: 8_000,
        calls: 80,
        pause_ms: 110,
    },
    Profile {
        name: "review",
        role: "quality reviewer",
        weight: 1.0,
        tokens_per_call: 4_500,
        calls: 30,
        pause_ms: 200,
    },
    Profile {
        name: "test",
        role: "tester",
        weight: 1.0,
        tokens_per_call: 3_000,
        calls: 25,
        pause_ms: 220,
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

    /// Uniform in [mean / 2, 3 mean / 2].
    fn around(&mut self, mean: u64) -> u64 {
        mean / 2 + self.next() % mean.max(1)
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
    views: Mutex<Vec<AgentView>>,
    log: Mutex<Vec<String>>,
    started: Instant,
    tty: bool,
    /// Whether a frame is on the screen, to be drawn over.
    drawn: std::sync::atomic::AtomicBool,
}

impl Shared {
    fn say(&self, line: String) {
        let line = format!("{:>5.1}s  {line}", self.started.elapsed().as_secs_f64());
        if !self.tty {
            println!("{line}");
        }
        self.log.lock().expect("log lock").push(line);
    }
}

pub fn run(seconds: u64, seed: u64, keep: bool) -> anyhow::Result<ExitCode> {
    let data_dir = tempfile::tempdir().context("making a temporary data directory")?;
    let (address, stop_server, server_thread) = start_server(data_dir.path().to_path_buf())?;
    let client = Client::new(&format!("http://{address}"), None);
    println!(
        "purser demo: embedded server on http://{address}, data in {}",
        data_dir.path().display()
    );
    println!(
        "purser demo: the dashboard is at http://{address}/ (open it while the agents run{})",
        if keep {
            "; it stays up after them"
        } else {
            ", or run with --keep"
        }
    );
    setup(&client)?;
    let shared = Arc::new(Shared {
        views: Mutex::new(vec![
            AgentView {
                action: "continue".into(),
                ..AgentView::default()
            };
            PROFILES.len()
        ]),
        log: Mutex::new(Vec::new()),
        started: Instant::now(),
        tty: std::io::stdout().is_terminal(),
        drawn: std::sync::atomic::AtomicBool::new(false),
    });
    let deadline = Instant::now() + Duration::from_secs(seconds.clamp(5, 600));
    let agents: Vec<_> = (0..PROFILES.len())
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
    operate(&client, &shared, deadline)?;
    for agent in agents {
        if let Err(err) = agent.join().expect("agent thread") {
            eprintln!("agent failed: {err:#}");
        }
    }
    draw(&client, &shared, true)?;
    summary(&client, &shared)?;
    if keep {
        println!(
            "purser demo: the agents are done; the dashboard stays at http://{address}/ until Ctrl-C"
        );
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
    data_dir: std::path::PathBuf,
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
            let config = purser_server::Config {
                data_dir,
                ..purser_server::Config::default()
            };
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

fn setup(client: &Client) -> anyhow::Result<()> {
    expect::<AccountOut>(
        client,
        "PUT",
        "/v1/accounts/acme",
        Some(&json!({"kind": "org", "limits": {"tokens": 2_000_000, "cost_micros": 60_000_000}})),
    )?;
    expect::<AccountOut>(
        client,
        "PUT",
        &format!("/v1/accounts/{WORKFLOW}"),
        Some(
            &json!({"kind": "workflow", "limits": {"tokens": 1_000_000, "cost_micros": 20_000_000}}),
        ),
    )?;
    let children: Vec<Value> = PROFILES
        .iter()
        .map(|p| json!({"name": p.name, "weight": p.weight}))
        .collect();
    // 800,000 tokens go to the agents; 100,000 stay in the pool for grants, 100,000 are the reserve.
    let answer: AllocateOut = expect(
        client,
        "POST",
        &format!("/v1/accounts/{WORKFLOW}:allocate"),
        Some(&json!({
            "strategy": "proportional", "total": {"tokens": 800_000, "cost_micros": 16_000_000},
            "children": children
        })),
    )?;
    println!(
        "org acme: 2,000,000 tokens, $60; workflow {WORKFLOW}: 1,000,000 tokens, $20, allocated by weight:"
    );
    for (allocation, profile) in answer.allocations.iter().zip(&PROFILES) {
        println!(
            "  {:<28} {:<17} weight {}  {} tokens",
            allocation.path,
            profile.role,
            profile.weight,
            group_digits(tokens(&allocation.limits))
        );
    }
    println!(
        "  pool {} tokens (of which 100,000 is the reserve, never handed out)\n",
        group_digits(tokens(&answer.pool))
    );
    Ok(())
}

/// The tokens of an amount map.
fn tokens(amounts: &AmountMap) -> u64 {
    amounts.get("tokens").copied().unwrap_or(0)
}
