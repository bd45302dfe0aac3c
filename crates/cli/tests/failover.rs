//! Failover under load: two `purser serve` processes share one PostgreSQL journal, one leading
//! the shard and one following it. Concurrent clients send idempotent usage reports and
//! reservations to whichever leads, following 307s and retrying with the same keys. The leader
//! is killed with SIGKILL at random moments, and paused with SIGSTOP past its lease's TTL then
//! resumed (its appends must then be fenced by the new epoch: it steps down). After every round
//! the totals equal the sum of the acknowledged reports exactly, every acknowledged reservation
//! is held once, and the journal's epochs never go back along its seqs. The time from the kill
//! (or pause) to the first write the new leader accepts is printed for BENCHMARKS.md.
//!
//! Needs the machine's PostgreSQL (`PURSER_TEST_POSTGRES`, `off` to skip).

use std::collections::BTreeSet;
use std::process::{Child, Command, Stdio};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use common::{call, free_port};
use purser_store::TempDatabase;
use serde_json::{Value, json};

mod common;

const CLIENTS: usize = 4;
const AGENTS: u64 = 6;
const ROUNDS: usize = 5;
const TTL_MS: u64 = 1_500;

struct Process {
    child: Option<Child>,
    port: u16,
    config: std::path::PathBuf,
    store: String,
}

impl Process {
    fn url(&self) -> String {
        format!("http://127.0.0.1:{}", self.port)
    }

    fn start(&mut self) {
        let child = Command::new(env!("CARGO_BIN_EXE_purser"))
            .args(["serve", "--listen", &format!("127.0.0.1:{}", self.port)])
            .arg("--config")
            .arg(&self.config)
            .args(["--store", &self.store])
            .stdout(Stdio::null())
            .stderr(self.log())
            .spawn()
            .expect("the purser binary starts");
        self.child = Some(child);
        let deadline = Instant::now() + Duration::from_secs(30);
        while Instant::now() < deadline {
            if let Ok((200, _)) = call(&agent(), "GET", &format!("{}/readyz", self.url()), None) {
                return;
            }
            std::thread::sleep(Duration::from_millis(20));
        }
        panic!("the server did not become ready");
    }

    /// The process's log, kept across its restarts (`FAILOVER_LOGS` names the directory).
    fn log(&self) -> Stdio {
        let dir = std::env::var("FAILOVER_LOGS")
            .unwrap_or_else(|_| std::env::temp_dir().display().to_string());
        let path = format!("{dir}/purser-failover-{}.log", self.port);
        std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(path)
            .map_or_else(|_| Stdio::null(), Stdio::from)
    }

    fn role(&self) -> Option<String> {
        let (_, ready) = call(&agent(), "GET", &format!("{}/readyz", self.url()), None).ok()?;
        ready["role"].as_str().map(str::to_owned)
    }

    fn signal(&self, signal: &str) {
        let pid = self.child.as_ref().expect("running").id().to_string();
        let status = Command::new("kill").args([signal, &pid]).status().unwrap();
        assert!(status.success());
    }

    fn kill(&mut self) {
        if let Some(mut child) = self.child.take() {
            child.kill().unwrap(); // SIGKILL
            child.wait().unwrap();
        }
    }
}

impl Drop for Process {
    fn drop(&mut self) {
        if self.child.is_some() {
            self.signal("-CONT");
        }
        self.kill();
    }
}

fn agent() -> ureq::Agent {
    ureq::Agent::config_builder()
        .http_status_as_error(false)
        .max_redirects(0)
        .timeout_global(Some(Duration::from_millis(1_500)))
        .build()
        .into()
}

/// Sends `body` to `path` at whichever process leads, following redirects and trying the other
/// process when one does not answer, with the same body (and so the same key) until it is
/// acknowledged. Answers the acknowledgement.
fn deliver(agent: &ureq::Agent, urls: &[String; 2], path: &str, body: &Value) -> Value {
    let deadline = Instant::now() + Duration::from_secs(60);
    let mut target = urls[0].clone();
    let mut flip = 0;
    while Instant::now() < deadline {
        match call(agent, "POST", &format!("{target}{path}"), Some(body)) {
            Ok((200 | 201, answer)) => return answer,
            Ok((307, answer)) => {
                let location = answer["location"].as_str().expect("a 307 has a location");
                target = location.trim_end_matches(path).to_owned();
            }
            Ok((409, answer)) => panic!("{path} refused: {answer}"),
            Ok(_) | Err(_) => {
                // No leader yet (503), the engine stepping down, or a dead or paused process.
                flip += 1;
                target = urls[flip % 2].clone();
                std::thread::sleep(Duration::from_millis(30));
            }
        }
    }
    panic!("{path} {body} was never acknowledged");
}

#[derive(Default)]
struct Book {
    /// Tokens acknowledged per agent.
    consumed: [u64; AGENTS as usize],
    /// Reservation ids acknowledged, and their tokens.
    holds: Vec<(String, u64)>,
    n_reports: u64,
}

fn seed() -> u64 {
    std::env::var("FAILOVER_SEED")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or_else(|| {
            SystemTime::now()
                .duration_since(UNIX_EPOCH)
                .unwrap()
                .as_nanos() as u64
                | 1
        })
}

#[test]
fn failover_under_load_loses_nothing_and_counts_nothing_twice() {
    let Some(database) = TempDatabase::create().expect("the machine's PostgreSQL") else {
        eprintln!("skipped: {}=off", purser_store::TEST_SERVER_ENV);
        return;
    };
    let seed = seed();
    println!("FAILOVER_SEED={seed}");
    let mut next = common::xorshift(seed);
    let dir = tempfile::tempdir().unwrap();
    let config = dir.path().join("purser.toml");
    std::fs::write(
        &config,
        format!(
            "snapshot_every_events = 2000\n[cluster]\nlease_ttl_ms = {TTL_MS}\nfollow_every_ms = 50\n"
        ),
    )
    .unwrap();
    let mut processes: Vec<Process> = (0..2)
        .map(|_| Process {
            child: None,
            port: free_port(),
            config: config.clone(),
            store: database.url().to_owned(),
        })
        .collect();
    processes[0].start();
    processes[1].start();
    let urls = [processes[0].url(), processes[1].url()];
    let setup = agent();
    let put = |path: &str, tokens: u64| {
        let body = json!({"limits": {"tokens": tokens}});
        let mut last = None;
        for _ in 0..100 {
            for url in &urls {
                match call(
                    &setup,
                    "PUT",
                    &format!("{url}/v1/accounts/{path}"),
                    Some(&body),
                ) {
                    Ok((200 | 201, _)) => return,
                    answer => last = Some(answer),
                }
            }
            std::thread::sleep(Duration::from_millis(50));
        }
        panic!("{path} could not be created: {last:?}");
    };
    put("org", 1_000_000_000_000);
    for idx in 0..AGENTS {
        put(&format!("org/agent-{idx}"), 100_000_000_000);
    }
    let book = Arc::new(Mutex::new(Book::default()));
    let mut takeovers_ms = Vec::new();
    for round in 0..ROUNDS {
        let running = Arc::new(AtomicBool::new(true));
        let clients: Vec<_> = (0..CLIENTS)
            .map(|client| {
                let (urls, running, book) = (urls.clone(), running.clone(), book.clone());
                let mut state = next();
                std::thread::spawn(move || {
                    let agent = agent();
                    let mut n = 0;
                    while running.load(Ordering::Relaxed) {
                        state ^= state << 13;
                        state ^= state >> 7;
                        state ^= state << 17;
                        n += 1;
                        let agent_idx = state % AGENTS;
                        let tokens = 1 + state % 1_000;
                        let account = format!("org/agent-{agent_idx}");
                        let key = format!("r{round}-c{client}-{n}");
                        if state.is_multiple_of(10) {
                            let body = json!({"account": account, "amount": {"tokens": tokens},
                                "ttl_ms": 3_600_000, "idempotency_key": key});
                            let answer = deliver(&agent, &urls, "/v1/reservations", &body);
                            let id = answer["id"].as_str().expect("a hold id").to_owned();
                            book.lock().unwrap().holds.push((id, tokens));
                        } else {
                            let body = json!({"account": account, "usage": {"tokens": tokens},
                                "idempotency_key": key});
                            deliver(&agent, &urls, "/v1/usage", &body);
                            let mut book = book.lock().unwrap();
                            book.consumed[agent_idx as usize] += tokens;
                            book.n_reports += 1;
                        }
                    }
                })
            })
            .collect();
        std::thread::sleep(Duration::from_millis(300 + next() % 700));
        let leader = (0..2)
            .find(|idx| processes[*idx].role().as_deref() == Some("leader"))
            .expect("one process leads");
        let other = 1 - leader;
        let pause = round % 2 == 1;
        let started = Instant::now();
        if pause {
            processes[leader].signal("-STOP");
        } else {
            processes[leader].kill();
        }
        // The first write the other process accepts as the new leader.
        let probe = agent();
        let probe_body = json!({"account": "org", "usage": {"tokens": 1},
            "idempotency_key": format!("probe-{round}")});
        loop {
            if let Ok((200, _)) = call(
                &probe,
                "POST",
                &format!("{}/v1/usage", urls[other]),
                Some(&probe_body),
            ) {
                break;
            }
            assert!(started.elapsed() < Duration::from_secs(30), "no takeover");
            std::thread::sleep(Duration::from_millis(10));
        }
        takeovers_ms.push(started.elapsed().as_millis() as u64);
        std::thread::sleep(Duration::from_millis(300));
        if pause {
            // Resumed, the old leader believes it leads until its next renewal or append:
            // both are refused on the epoch, and it follows.
            processes[leader].signal("-CONT");
            let deadline = Instant::now() + Duration::from_secs(10);
            while processes[leader].role().as_deref() != Some("standby") {
                assert!(
                    Instant::now() < deadline,
                    "the paused leader did not step down"
                );
                std::thread::sleep(Duration::from_millis(20));
            }
        } else {
            processes[leader].start();
        }
        std::thread::sleep(Duration::from_millis(200));
        running.store(false, Ordering::Relaxed);
        for client in clients {
            client.join().unwrap();
        }
        println!(
            "round {round}: {} the leader, first write accepted after {} ms",
            if pause { "paused" } else { "killed" },
            takeovers_ms[round]
        );
        check(&processes, &book.lock().unwrap(), round as u64 + 1, seed);
        check_epochs(database.url());
    }
    takeovers_ms.sort_unstable();
    let book = book.lock().unwrap();
    println!(
        "failover: {} rounds, kill or pause to first accepted write: median {} ms, worst {} ms ({takeovers_ms:?}), {} reports and {} holds acknowledged",
        ROUNDS,
        takeovers_ms[takeovers_ms.len() / 2],
        takeovers_ms[takeovers_ms.len() - 1],
        book.n_reports,
        book.holds.len()
    );
}

/// Both processes, once the standby caught up, hold exactly what was acknowledged: the
/// tokens of every report once (and the probes', one token per round), every hold once.
fn check(processes: &[Process], book: &Book, probes: u64, seed: u64) {
    let leader_seq = {
        let leader = processes
            .iter()
            .find(|process| process.role().as_deref() == Some("leader"))
            .expect("a leader");
        let (_, ready) = call(&agent(), "GET", &format!("{}/readyz", leader.url()), None).unwrap();
        ready["seq"].as_u64().unwrap()
    };
    for process in processes {
        let deadline = Instant::now() + Duration::from_secs(10);
        loop {
            let (_, ready) =
                call(&agent(), "GET", &format!("{}/readyz", process.url()), None).unwrap();
            if ready["seq"].as_u64().unwrap() >= leader_seq {
                break;
            }
            assert!(Instant::now() < deadline, "the standby did not catch up");
            std::thread::sleep(Duration::from_millis(20));
        }
        let get = |path: &str| {
            let (status, body) = call(
                &agent(),
                "GET",
                &format!("{}/v1/accounts/{path}", process.url()),
                None,
            )
            .unwrap();
            assert_eq!(status, 200, "{body}");
            body
        };
        let mut total = 0;
        for idx in 0..AGENTS {
            let account = get(&format!("org/agent-{idx}"));
            let expected = book.consumed[idx as usize];
            assert_eq!(
                account["consumed"]["tokens"].as_u64().unwrap_or(0),
                expected,
                "agent-{idx} on {}, FAILOVER_SEED={seed}",
                process.url()
            );
            total += expected;
        }
        let org = get("org");
        assert_eq!(
            org["consumed"]["tokens"].as_u64().unwrap_or(0),
            total + probes,
            "org on {}, FAILOVER_SEED={seed}",
            process.url()
        );
        let ids: BTreeSet<&str> = book.holds.iter().map(|(id, _)| id.as_str()).collect();
        assert_eq!(
            ids.len(),
            book.holds.len(),
            "a retried hold got a second id"
        );
        let held: u64 = book.holds.iter().map(|(_, tokens)| tokens).sum();
        assert_eq!(
            org["reserved"]["tokens"].as_u64().unwrap_or(0),
            held,
            "holds on {}, FAILOVER_SEED={seed}",
            process.url()
        );
    }
}

/// Along the journal's seqs, the epochs of the batches never go back: no stale leader appended
/// after a newer one.
fn check_epochs(url: &str) {
    let mut client = postgres::Client::connect(url, postgres::NoTls).unwrap();
    let rows = client
        .query(
            "SELECT epoch FROM purser_batches WHERE shard = 'main' ORDER BY first_seq",
            &[],
        )
        .unwrap();
    let epochs: Vec<i64> = rows.iter().map(|row| row.get(0)).collect();
    assert!(
        epochs.windows(2).all(|pair| pair[0] <= pair[1]),
        "epochs go back along the journal"
    );
}

/// Tenants map to shards, each led by its own process at once; a request for another shard's
/// tenant (by its path, or by the account its body names) is redirected to that shard's leader.
#[test]
fn shards_have_leaders_of_their_own_and_redirect_to_each_other() {
    let Some(database) = TempDatabase::create().expect("the machine's PostgreSQL") else {
        eprintln!("skipped: {}=off", purser_store::TEST_SERVER_ENV);
        return;
    };
    let dir = tempfile::tempdir().unwrap();
    let config = dir.path().join("purser.toml");
    std::fs::write(
        &config,
        "[cluster]\ndefault_shard = \"s1\"\n[cluster.tenants]\nacme = \"s1\"\nglobex = \"s2\"\n",
    )
    .unwrap();
    let mut processes: Vec<Process> = ["s1", "s2"]
        .iter()
        .map(|shard| {
            let shard_config = dir.path().join(format!("{shard}.toml"));
            let text = std::fs::read_to_string(&config).unwrap();
            std::fs::write(
                &shard_config,
                text.replace("[cluster]\n", &format!("[cluster]\nshard = \"{shard}\"\n")),
            )
            .unwrap();
            Process {
                child: None,
                port: free_port(),
                config: shard_config,
                store: database.url().to_owned(),
            }
        })
        .collect();
    for process in &mut processes {
        process.start();
    }
    let (s1, s2) = (processes[0].url(), processes[1].url());
    let deadline = Instant::now() + Duration::from_secs(10);
    while processes
        .iter()
        .any(|process| process.role().as_deref() != Some("leader"))
    {
        assert!(Instant::now() < deadline, "both shards get a leader");
        std::thread::sleep(Duration::from_millis(20));
    }
    // Each learns where the other leads within a read of the lease table (250 ms).
    std::thread::sleep(Duration::from_millis(600));
    let agent = agent();
    let limits = json!({"limits": {"tokens": 1_000}});
    let (status, answer) = call(
        &agent,
        "PUT",
        &format!("{s1}/v1/accounts/globex"),
        Some(&limits),
    )
    .unwrap();
    assert_eq!(status, 307, "{answer}");
    assert_eq!(answer["location"], format!("{s2}/v1/accounts/globex"));
    for (url, tenant) in [(&s1, "acme"), (&s2, "globex")] {
        let (status, answer) = call(
            &agent,
            "PUT",
            &format!("{url}/v1/accounts/{tenant}"),
            Some(&limits),
        )
        .unwrap();
        assert!(status == 200 || status == 201, "{answer}");
    }
    let (status, answer) = call(&agent, "GET", &format!("{s2}/v1/accounts/acme"), None).unwrap();
    assert_eq!(
        (status, answer["location"].as_str()),
        (307, Some(format!("{s1}/v1/accounts/acme").as_str()))
    );
    let report = json!({"account": "globex", "usage": {"tokens": 5}, "idempotency_key": "g1"});
    let (status, answer) = call(&agent, "POST", &format!("{s1}/v1/usage"), Some(&report)).unwrap();
    assert_eq!(
        (status, answer["location"].as_str()),
        (307, Some(format!("{s2}/v1/usage").as_str()))
    );
    let answer = deliver(&agent, &[s1.clone(), s2.clone()], "/v1/usage", &report);
    assert_eq!(answer["remaining"]["tokens"], 995);
    let mixed = json!({"reports": [
        {"account": "acme", "usage": {"tokens": 1}},
        {"account": "globex", "usage": {"tokens": 1}}]});
    let (status, answer) = call(
        &agent,
        "POST",
        &format!("{s1}/v1/usage:batch"),
        Some(&mixed),
    )
    .unwrap();
    assert_eq!(
        (status, answer["error"]["code"].as_str()),
        (400, Some("shard_mismatch"))
    );
    // Each shard's journal is its own.
    let mut client = postgres::Client::connect(database.url(), postgres::NoTls).unwrap();
    let shards: Vec<String> = client
        .query(
            "SELECT DISTINCT shard FROM purser_batches ORDER BY shard",
            &[],
        )
        .unwrap()
        .iter()
        .map(|row| row.get(0))
        .collect();
    assert_eq!(shards, ["s1", "s2"]);
}
