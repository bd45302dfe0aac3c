//! `purser demo`: an embedded server with a temporary data directory, an org, a workflow of four
//! agents with different profiles making simulated LLM calls (a reservation before, a settlement
//! after), live progress per agent, the enforcement ladder with its reasons, an operator raising a
//! stopped agent's budget, and a closing summary.

use purser_core::amount::group_digits;
use std::io::{IsTerminal, Write};
use std::process::ExitCode;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use anyhow::{Context, bail};
use serde_json::{Value, json};

use purser_server::wire::AmountMap;
use purser_server::wire::accounts::{AccountOut, AccountsOut, AllocateOut};
use purser_server::wire::usage::{ReservationOut, UsageOut};
use purser_server::wire::{ActionOut, FiredOut};

use crate::client::Client;
use crate::table;

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

pub fn run(seconds: u64, seed: u64) -> anyhow::Result<ExitCode> {
    let data_dir = tempfile::tempdir().context("making a temporary data directory")?;
    let (address, stop_server, server_thread) = start_server(data_dir.path().to_path_buf())?;
    let client = Client::new(&format!("http://{address}"), None);
    println!(
        "purser demo: embedded server on http://{address}, data in {}",
        data_dir.path().display()
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
    let _ = stop_server.send(());
    let _ = server_thread.join();
    Ok(ExitCode::SUCCESS)
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

fn reason(fired: Option<&FiredOut>) -> String {
    match fired {
        Some(fired) => format!(
            "{} {} at {:.1}%",
            fired.account,
            fired.dimension,
            fired.fraction * 100.0
        ),
        None => "within budget".into(),
    }
}

fn action_text(action: &ActionOut) -> String {
    match action.rate {
        Some(rate) => format!("throttle x{rate}"),
        None => action.kind.clone(),
    }
}

/// One agent: reserve an estimate, make the call, settle the actual use, obey the action.
fn agent(
    idx: usize,
    client: &Client,
    shared: &Shared,
    seed: u64,
    deadline: Instant,
) -> anyhow::Result<()> {
    let profile = &PROFILES[idx];
    let account = format!("{WORKFLOW}/{}", profile.name);
    let mut rng = Rng(seed);
    let mut slow = 1.0f64;
    let mut degraded = false;
    let mut last_action = "continue".to_string();
    let mut calls = 0;
    while calls < profile.calls && Instant::now() < deadline {
        let mean_tokens = if degraded {
            profile.tokens_per_call / 2
        } else {
            profile.tokens_per_call
        };
        let price = if degraded {
            SMALL_MODEL_MICROS_PER_TOKEN
        } else {
            LARGE_MODEL_MICROS_PER_TOKEN
        };
        let estimate = mean_tokens * 6 / 5;
        let hold = json!({"account": account, "amount": {"tokens": estimate, "cost_micros": estimate * price}, "ttl_ms": 30_000});
        let held = client.call_as::<ReservationOut>("POST", "/v1/reservations", Some(&hold))?;
        let reservation = match held {
            Ok((reservation, _)) => reservation,
            Err(denied) if denied.detail.code == "budget_exhausted" => {
                let error = &denied.detail;
                shared.say(format!(
                    "{:<7} STOP: a hold of {} {} denied: {} would reach its stop threshold ({} available)",
                    profile.name,
                    group_digits(error.requested.unwrap_or(0)),
                    error.dimension.as_deref().unwrap_or(""),
                    error.account.as_deref().unwrap_or(""),
                    group_digits(error.available.unwrap_or(0)),
                ));
                if !wait_for_budget(client, shared, idx, &account, deadline)? {
                    return Ok(());
                }
                continue;
            }
            Err(other) => bail!("{} reserve: {other}", profile.name),
        };
        std::thread::sleep(Duration::from_millis(
            (rng.around(profile.pause_ms) as f64 * slow) as u64,
        ));
        let used = rng.around(mean_tokens);
        let settled: UsageOut = expect(
            client,
            "POST",
            &format!("/v1/reservations/{}:settle", reservation.id),
            Some(
                &json!({"usage": {"tokens": used, "cost_micros": used * price}, "operation": "llm_call", "work_units": 1}),
            ),
        )?;
        calls += 1;
        let action = action_text(&settled.action);
        if action != last_action {
            shared.say(format!(
                "{:<7} {} -> {}: {} ({})",
                profile.name,
                last_action,
                settled.level,
                action,
                reason(settled.fired.as_ref())
            ));
            last_action = action.clone();
        }
        match settled.action.kind.as_str() {
            "throttle" => slow = 1.0 / settled.action.rate.unwrap_or(1.0).max(0.05),
            "degrade" => {
                if !degraded {
                    shared.say(format!(
                        "{:<7} degrades to the small model: half the tokens, a fifth of the price",
                        profile.name
                    ));
                }
                degraded = true;
                slow = 2.0;
            }
            "stop" => {
                if !wait_for_budget(client, shared, idx, &account, deadline)? {
                    return Ok(());
                }
            }
            _ => slow = 1.0,
        }
        let mut views = shared.views.lock().expect("views lock");
        views[idx].calls = calls;
        views[idx].action = action;
        views[idx].degraded = degraded;
    }
    let mut views = shared.views.lock().expect("views lock");
    views[idx].done = true;
    views[idx].outcome = if calls >= profile.calls {
        format!("finished its {calls} calls")
    } else {
        "out of time".into()
    };
    Ok(())
}

/// A stopped agent waits until its budget is raised; false if it never is.
fn wait_for_budget(
    client: &Client,
    shared: &Shared,
    idx: usize,
    account: &str,
    deadline: Instant,
) -> anyhow::Result<bool> {
    {
        let mut views = shared.views.lock().expect("views lock");
        views[idx].stopped = true;
        views[idx].action = "stop".into();
    }
    let status_path = format!("/v1/accounts/{account}");
    let limit_at_stop = tokens(&expect::<AccountOut>(client, "GET", &status_path, None)?.limits);
    while Instant::now() < deadline {
        let status: AccountOut = expect(client, "GET", &status_path, None)?;
        if tokens(&status.limits) > limit_at_stop {
            shared.say(format!(
                "{:<7} resumes: its budget was raised, level {} ({})",
                PROFILES[idx].name,
                status.level,
                action_text(&status.action)
            ));
            let mut views = shared.views.lock().expect("views lock");
            views[idx].stopped = false;
            return Ok(true);
        }
        let all_idle = shared
            .views
            .lock()
            .expect("views lock")
            .iter()
            .all(|view| view.stopped || view.done);
        if all_idle && shared.started.elapsed() > Duration::from_secs(3) {
            break;
        }
        std::thread::sleep(Duration::from_millis(150));
    }
    let mut views = shared.views.lock().expect("views lock");
    views[idx].done = true;
    views[idx].outcome = "stopped: budget exhausted".into();
    Ok(false)
}

/// The operator: draws the dashboard, and grants impl-1 more budget from the pool once it stops.
fn operate(client: &Client, shared: &Shared, deadline: Instant) -> anyhow::Result<()> {
    let mut raised = false;
    let mut stopped_since: Option<Instant> = None;
    loop {
        draw(client, shared, false)?;
        let views = shared.views.lock().expect("views lock").clone();
        if views.iter().all(|view| view.done) || Instant::now() >= deadline {
            return Ok(());
        }
        if !raised && views[0].stopped {
            let since = *stopped_since.get_or_insert_with(Instant::now);
            if since.elapsed() > Duration::from_millis(800) {
                let status: AccountOut =
                    expect(client, "GET", "/v1/accounts/acme/wf-demo/impl-1", None)?;
                let limit = tokens(&status.limits);
                let raised_to = limit + 60_000;
                expect::<AccountOut>(
                    client,
                    "PUT",
                    "/v1/accounts/acme/wf-demo/impl-1",
                    Some(&json!({"limits": {"tokens": raised_to}})),
                )?;
                shared.say(format!("operator raises acme/wf-demo/impl-1 from {} to {} tokens out of the workflow's pool", group_digits(limit), group_digits(raised_to)));
                raised = true;
            }
        }
        std::thread::sleep(Duration::from_millis(120));
    }
}

fn colour(level: &str) -> &'static str {
    match level {
        "green" => "\x1b[32m",
        "yellow" => "\x1b[33m",
        "orange" => "\x1b[38;5;208m",
        "red" => "\x1b[31m",
        _ => "\x1b[90m",
    }
}

/// The server's status of each agent, in the order of `PROFILES`.
fn agent_statuses(client: &Client) -> anyhow::Result<Vec<Option<AccountOut>>> {
    let listing: AccountsOut = expect(
        client,
        "GET",
        &format!("/v1/accounts?prefix={WORKFLOW}&depth=1"),
        None,
    )?;
    Ok(PROFILES
        .iter()
        .map(|profile| {
            let path = format!("{WORKFLOW}/{}", profile.name);
            listing
                .accounts
                .iter()
                .find(|account| account.path == path)
                .cloned()
        })
        .collect())
}

/// Redraws the bars and the latest events in place on a terminal; elsewhere only the events print.
fn draw(client: &Client, shared: &Shared, last: bool) -> anyhow::Result<()> {
    if !shared.tty {
        return Ok(());
    }
    let statuses = agent_statuses(client)?;
    let views = shared.views.lock().expect("views lock").clone();
    let mut screen = String::new();
    for (idx, profile) in PROFILES.iter().enumerate() {
        let Some(status) = &statuses[idx] else {
            continue;
        };
        let limit = tokens(&status.limits).max(1);
        let spent = tokens(&status.consumed);
        let cost = status.consumed.get("cost_micros").copied().unwrap_or(0);
        let level = status.level.as_str();
        let filled = ((spent as f64 / limit as f64) * 30.0)
            .round()
            .clamp(0.0, 30.0) as usize;
        screen.push_str(&format!(
            "  {:<7} {:<17} {}{}{}\x1b[0m {:>5.1}%  {:>7}/{:<7} tokens  ${:>6.2}  {:<6} {:<13} calls {:>3}\x1b[K\n",
            profile.name,
            profile.role,
            colour(level),
            "█".repeat(filled),
            "░".repeat(30 - filled),
            spent as f64 * 100.0 / limit as f64,
            group_digits(spent),
            group_digits(limit),
            cost as f64 / 1e6,
            level,
            if views[idx].stopped { "stop".to_string() } else { action_text(&status.action) },
            views[idx].calls,
        ));
    }
    let log = shared.log.lock().expect("log lock");
    let tail: Vec<&String> = log.iter().rev().take(10).collect();
    screen.push('\n');
    for idx in 0..10 {
        match tail.get(9 - idx) {
            Some(line) => screen.push_str(&format!("  {line}\x1b[K\n")),
            None => screen.push_str("\x1b[K\n"),
        }
    }
    let height = PROFILES.len() + 11;
    let mut out = std::io::stdout().lock();
    // Move back to the top of the previous frame, then draw over it.
    let up = if shared
        .drawn
        .swap(true, std::sync::atomic::Ordering::Relaxed)
    {
        format!("\x1b[{height}A")
    } else {
        String::new()
    };
    write!(out, "{up}{screen}")?;
    if last {
        writeln!(out)?;
    }
    out.flush()?;
    Ok(())
}

fn summary(client: &Client, shared: &Shared) -> anyhow::Result<()> {
    let statuses = agent_statuses(client)?;
    let views = shared.views.lock().expect("views lock").clone();
    let mut rows = vec![
        [
            "AGENT", "PROFILE", "CALLS", "TOKENS", "LIMIT", "USED", "COST", "LEVEL", "OUTCOME",
        ]
        .map(String::from)
        .to_vec(),
    ];
    for (idx, profile) in PROFILES.iter().enumerate() {
        let Some(status) = &statuses[idx] else {
            continue;
        };
        let spent = tokens(&status.consumed);
        let limit = tokens(&status.limits);
        rows.push(vec![
            profile.name.to_string(),
            profile.role.to_string(),
            views[idx].calls.to_string(),
            group_digits(spent),
            group_digits(limit),
            format!("{:.1}%", spent as f64 * 100.0 / limit.max(1) as f64),
            format!(
                "${:.2}",
                status.consumed.get("cost_micros").copied().unwrap_or(0) as f64 / 1e6
            ),
            status.level.clone(),
            format!(
                "{}{}",
                views[idx].outcome,
                if views[idx].degraded {
                    " (degraded)"
                } else {
                    ""
                }
            ),
        ]);
    }
    println!(
        "Summary after {:.1} s\n\n{}",
        shared.started.elapsed().as_secs_f64(),
        table::render(&rows)
    );
    let tree: AccountsOut = expect(client, "GET", "/v1/accounts?prefix=acme&depth=2", None)?;
    println!(
        "The account tree, as `purser status acme` shows it:\n\n{}",
        table::accounts(&tree.accounts)
    );
    println!(
        "Every answer above was sent only after its events were durable in the SQLite journal."
    );
    Ok(())
}
