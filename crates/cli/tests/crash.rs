//! The real binary ingesting usage from concurrent clients is killed with SIGKILL at random
//! moments, several times. Clients retry what was not acknowledged with the same idempotency key,
//! as real agents do. After each restart the consumed totals equal the sum of the reports exactly:
//! nothing acknowledged was lost and nothing retried was counted twice.

use std::process::{Child, Command, Stdio};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use serde_json::{Value, json};

mod common;

use common::{call, free_port};

const CLIENTS: usize = 6;
const CRASHES: usize = 4;
const AGENTS: usize = 8;

struct Server {
    child: Child,
    url: String,
}

fn start(data_dir: &std::path::Path, config: Option<&std::path::Path>) -> Server {
    let port = free_port();
    let mut command = Command::new(env!("CARGO_BIN_EXE_purser"));
    command
        .args([
            "serve",
            "--listen",
            &format!("127.0.0.1:{port}"),
            "--data-dir",
        ])
        .arg(data_dir);
    if let Some(config) = config {
        command.arg("--config").arg(config);
    }
    let child = command
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .expect("the purser binary starts");
    let server = Server {
        child,
        url: format!("http://127.0.0.1:{port}"),
    };
    let deadline = Instant::now() + Duration::from_secs(30);
    while Instant::now() < deadline {
        if call(&agent(), "GET", &format!("{}/readyz", server.url), None).is_ok() {
            return server;
        }
        std::thread::sleep(Duration::from_millis(20));
    }
    panic!("the server did not become ready");
}

fn agent() -> ureq::Agent {
    ureq::Agent::config_builder()
        .http_status_as_error(false)
        .timeout_global(Some(Duration::from_secs(5)))
        .build()
        .into()
}

/// A report: its key, its account and its tokens.
#[derive(Clone, Debug)]
struct Report {
    key: String,
    account: String,
    tokens: u64,
}

#[derive(Default)]
struct Ledger {
    acknowledged: Vec<Report>,
    in_doubt: Vec<Report>,
}

fn send(agent: &ureq::Agent, url: &str, report: &Report) -> Result<Value, String> {
    let body = json!({"account": report.account, "usage": {"tokens": report.tokens}, "idempotency_key": report.key});
    match call(agent, "POST", &format!("{url}/v1/usage"), Some(&body))? {
        (200, answer) => Ok(answer),
        (status, answer) => panic!("report {report:?} answered {status}: {answer}"),
    }
}

/// Sends `reports` as one batch; every item must be answered as usage.
fn send_batch(agent: &ureq::Agent, url: &str, reports: &[Report]) -> Result<(), String> {
    let items: Vec<Value> = reports
        .iter()
        .map(|report| {
            json!({"account": report.account, "usage": {"tokens": report.tokens}, "idempotency_key": report.key})
        })
        .collect();
    let body = json!({ "reports": items });
    match call(agent, "POST", &format!("{url}/v1/usage:batch"), Some(&body))? {
        (200, answer) => {
            let results = answer["results"].as_array().expect("results");
            assert_eq!(results.len(), reports.len());
            for result in results {
                assert!(result.get("error").is_none(), "an item failed: {result}");
            }
            Ok(())
        }
        (status, answer) => panic!("a batch answered {status}: {answer}"),
    }
}

/// How the clients report.
#[derive(Clone, Copy)]
enum Mode {
    /// One report per request, the default server.
    Single,
    /// Batches of this many reports, against a server that snapshots every few thousand
    /// events: kills land in the middle of snapshots written off the writer's thread (in
    /// chunks), compactions and checkpoints.
    Batch(usize),
}

impl Mode {
    /// Sends `reports` as this mode does. On an error every one of them is in doubt: those
    /// that were counted are not counted again when retried with their keys.
    fn deliver(self, agent: &ureq::Agent, url: &str, reports: &[Report]) -> Result<(), String> {
        match self {
            Mode::Single => reports
                .iter()
                .try_for_each(|report| send(agent, url, report).map(|_| ())),
            Mode::Batch(_) => send_batch(agent, url, reports),
        }
    }
}

/// A plain-text GET.
fn call_text(url: &str) -> (u16, String) {
    let mut response = agent().get(url).call().expect("the server answers");
    let status = response.status().as_u16();
    let text = response.body_mut().read_to_string().expect("a text body");
    (status, text)
}

fn consumed(url: &str, path: &str) -> u64 {
    let (status, body) = call(&agent(), "GET", &format!("{url}/v1/accounts/{path}"), None).unwrap();
    assert_eq!(status, 200, "{body}");
    body["consumed"]["tokens"].as_u64().unwrap_or(0)
}

#[test]
fn sigkill_loses_no_acknowledged_usage() {
    crash_test(Mode::Single);
}

#[test]
fn sigkill_loses_no_acknowledged_usage_of_batches_while_snapshotting() {
    crash_test(Mode::Batch(200));
}

fn crash_test(mode: Mode) {
    let seed = std::env::var("CRASH_SEED")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or_else(|| {
            SystemTime::now()
                .duration_since(UNIX_EPOCH)
                .unwrap()
                .as_nanos() as u64
                | 1
        });
    println!("CRASH_SEED={seed}");
    let mut next = common::xorshift(seed);
    let data = tempfile::tempdir().unwrap();
    let config = match mode {
        Mode::Single => None,
        Mode::Batch(_) => {
            let path = data.path().join("purser.toml");
            std::fs::write(&path, "snapshot_every_events = 3000\n").unwrap();
            Some(path)
        }
    };
    let config = config.as_deref();
    let mut server = start(&data.path().join("data"), config);
    let setup = agent();
    let put = |url: &str, path: &str, tokens: u64| {
        let (status, body) = call(
            &setup,
            "PUT",
            &format!("{url}/v1/accounts/{path}"),
            Some(&json!({"limits": {"tokens": tokens}})),
        )
        .unwrap();
        assert_eq!(status, 200, "{body}");
    };
    put(&server.url, "org", 1_000_000_000_000);
    for idx in 0..AGENTS {
        put(&server.url, &format!("org/agent-{idx}"), 100_000_000_000);
    }
    let books: Vec<Arc<Mutex<Ledger>>> = (0..CLIENTS)
        .map(|_| Arc::new(Mutex::new(Ledger::default())))
        .collect();
    for crash in 0..=CRASHES {
        let running = Arc::new(AtomicBool::new(true));
        let clients: Vec<_> = (0..CLIENTS)
            .map(|client| {
                let (url, running, book) =
                    (server.url.clone(), running.clone(), books[client].clone());
                let client_seed = next();
                std::thread::spawn(move || {
                    let agent = agent();
                    let mut book = book.lock().unwrap();
                    // First the reports of the last run that got no answer: same keys, same
                    // figures.
                    if !book.in_doubt.is_empty() {
                        if mode.deliver(&agent, &url, &book.in_doubt).is_err() {
                            return;
                        }
                        let retried = std::mem::take(&mut book.in_doubt);
                        book.acknowledged.extend(retried);
                    }
                    let mut n = book.acknowledged.len();
                    let mut state = client_seed;
                    let per_request = match mode {
                        Mode::Single => 1,
                        Mode::Batch(size) => size,
                    };
                    while running.load(Ordering::Relaxed) {
                        let reports: Vec<Report> = (0..per_request)
                            .map(|_| {
                                state ^= state << 13;
                                state ^= state >> 7;
                                state ^= state << 17;
                                n += 1;
                                Report {
                                    key: format!("c{client}-{n}"),
                                    account: format!("org/agent-{}", state % AGENTS as u64),
                                    tokens: 1 + state % 10_000,
                                }
                            })
                            .collect();
                        match mode.deliver(&agent, &url, &reports) {
                            Ok(()) => book.acknowledged.extend(reports),
                            Err(_) => {
                                book.in_doubt.extend(reports);
                                return;
                            }
                        }
                    }
                })
            })
            .collect();
        if crash < CRASHES {
            std::thread::sleep(Duration::from_millis(150 + next() % 600));
            server.child.kill().unwrap(); // SIGKILL
            server.child.wait().unwrap();
        } else {
            std::thread::sleep(Duration::from_millis(300));
            running.store(false, Ordering::Relaxed);
        }
        for client in clients {
            client.join().unwrap();
        }
        if crash < CRASHES {
            server = start(&data.path().join("data"), config);
        }
    }
    // Whatever is still in doubt is retried now, so that every report has its answer.
    let agent = agent();
    for book in &books {
        let mut book = book.lock().unwrap();
        mode.deliver(&agent, &server.url, &book.in_doubt).unwrap();
        let retried = std::mem::take(&mut book.in_doubt);
        book.acknowledged.extend(retried);
    }
    let mut expected_total = 0;
    let mut expected = [0u64; AGENTS];
    let mut n_reports = 0;
    for book in &books {
        for report in &book.lock().unwrap().acknowledged {
            expected_total += report.tokens;
            let idx: usize = report.account.rsplit('-').next().unwrap().parse().unwrap();
            expected[idx] += report.tokens;
            n_reports += 1;
        }
    }
    assert!(n_reports > 100, "only {n_reports} reports were made");
    assert_eq!(
        consumed(&server.url, "org"),
        expected_total,
        "CRASH_SEED={seed}"
    );
    for (idx, tokens) in expected.iter().enumerate() {
        assert_eq!(
            consumed(&server.url, &format!("org/agent-{idx}")),
            *tokens,
            "agent-{idx}, CRASH_SEED={seed}"
        );
    }
    if let Mode::Batch(_) = mode {
        // The last server snapshotted (off its writer's thread) while the clients ran.
        let (status, metrics) = call_text(&format!("{}/metrics", server.url));
        assert_eq!(status, 200);
        let snapshot_seq: f64 = metrics
            .lines()
            .find_map(|line| line.strip_prefix("purser_snapshot_last_seq "))
            .and_then(|value| value.trim().parse().ok())
            .expect("purser_snapshot_last_seq in /metrics");
        assert!(
            snapshot_seq > 0.0,
            "no snapshot was written: {snapshot_seq}"
        );
    }
    println!("{n_reports} reports over {CRASHES} SIGKILLs: totals exact");
    server.child.kill().unwrap();
    server.child.wait().unwrap();
}
