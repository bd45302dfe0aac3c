//! The server under test: `purser serve` from the release binary as a child process, its setup
//! through the API (ureq), and what /proc says about it (resident memory, CPU per thread).

use std::io::{Read, Write};
use std::net::{SocketAddr, TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use serde_json::{Value, json};

/// A running server; killed (SIGKILL) when dropped.
pub struct Server {
    pub addr: SocketAddr,
    child: Child,
    log: PathBuf,
}

/// A port nobody listens on right now.
fn free_port() -> Result<u16, String> {
    let listener = TcpListener::bind("127.0.0.1:0").map_err(|err| format!("free port: {err}"))?;
    Ok(listener.local_addr().map_err(|err| err.to_string())?.port())
}

impl Server {
    /// Starts `purser serve` on a free loopback port with a config of `durability` (and
    /// `snapshot_every_events` when given); answers once `GET /readyz` answers 200, with the
    /// time from spawn to that answer.
    pub fn start(
        dir: &Path,
        data_dir: &Path,
        durability: &str,
        snapshot_every: Option<u64>,
    ) -> Result<(Server, Duration), String> {
        Server::start_with(dir, data_dir, durability, snapshot_every, "")
    }

    /// [`Server::start`] with more of the config (`store = ...` and `[cluster]`) after the rest.
    pub fn start_with(
        dir: &Path,
        data_dir: &Path,
        durability: &str,
        snapshot_every: Option<u64>,
        more_config: &str,
    ) -> Result<(Server, Duration), String> {
        let port = free_port()?;
        let addr = SocketAddr::from(([127, 0, 0, 1], port));
        let config = dir.join(format!("purser-{port}.toml"));
        let mut text = format!("durability = \"{durability}\"\n");
        if let Some(every) = snapshot_every {
            text.push_str(&format!("snapshot_every_events = {every}\n"));
        }
        text.push_str(more_config);
        std::fs::write(&config, text).map_err(|err| format!("writing the config: {err}"))?;
        let log = dir.join(format!("server-{port}.log"));
        let log_file =
            std::fs::File::create(&log).map_err(|err| format!("creating the log: {err}"))?;
        let spawned = Instant::now();
        let child = Command::new(binary())
            .arg("serve")
            .arg("--listen")
            .arg(addr.to_string())
            .arg("--data-dir")
            .arg(data_dir)
            .arg("--config")
            .arg(&config)
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(log_file)
            .spawn()
            .map_err(|err| format!("spawning {}: {err}", binary()))?;
        let mut server = Server { addr, child, log };
        server.wait_ready(spawned + Duration::from_secs(900))?;
        Ok((server, spawned.elapsed()))
    }

    fn wait_ready(&mut self, deadline: Instant) -> Result<(), String> {
        loop {
            if let Ok(Some(status)) = self.child.try_wait() {
                return Err(format!("the server exited ({status}): {}", self.log_text()));
            }
            if Instant::now() > deadline {
                return Err(format!("the server is not ready: {}", self.log_text()));
            }
            // The server binds before it replays: a connection may wait in the backlog until
            // it serves, so the answer comes as soon as it is ready.
            match ask_readyz(self.addr, deadline) {
                Ok(true) => return Ok(()),
                Ok(false) => std::thread::sleep(Duration::from_millis(5)),
                Err(_) => std::thread::sleep(Duration::from_millis(2)),
            }
        }
    }

    pub fn pid(&self) -> u32 {
        self.child.id()
    }

    /// The server's stderr so far.
    pub fn log_text(&self) -> String {
        std::fs::read_to_string(&self.log).unwrap_or_default()
    }

    /// How long each snapshot written so far took, in ms (from the server's log).
    pub fn snapshot_ms(&self) -> Vec<u64> {
        self.log_text()
            .lines()
            .filter(|line| line.contains("snapshot at event"))
            .filter_map(|line| {
                line.rsplit(" in ")
                    .next()?
                    .strip_suffix(" ms")?
                    .parse()
                    .ok()
            })
            .collect()
    }

    /// Resident memory now, in KiB (`VmRSS` of /proc/PID/status).
    pub fn rss_kib(&self) -> u64 {
        let status =
            std::fs::read_to_string(format!("/proc/{}/status", self.pid())).unwrap_or_default();
        status
            .lines()
            .find_map(|line| line.strip_prefix("VmRSS:"))
            .and_then(|rest| rest.trim().trim_end_matches("kB").trim().parse().ok())
            .unwrap_or(0)
    }

    /// CPU ticks so far: the whole process, and its engine thread.
    pub fn cpu(&self) -> (u64, u64) {
        let pid = self.pid();
        let total = stat_ticks(&format!("/proc/{pid}/stat")).map_or(0, |(_, ticks)| ticks);
        let mut engine = 0;
        if let Ok(tasks) = std::fs::read_dir(format!("/proc/{pid}/task")) {
            for task in tasks.flatten() {
                if let Some((name, ticks)) = stat_ticks(&task.path().join("stat").to_string_lossy())
                    && name == "purser-engine"
                {
                    engine += ticks;
                }
            }
        }
        (total, engine)
    }

    /// Kills the server the hard way (SIGKILL), as a crash would.
    pub fn kill(mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// The name and user + system CPU ticks of a /proc `stat` file.
pub fn stat_ticks(path: &str) -> Option<(String, u64)> {
    let text = std::fs::read_to_string(path).ok()?;
    let name = text.get(text.find('(')? + 1..text.rfind(')')?)?.to_string();
    // After the name: state is field 3; utime and stime are fields 14 and 15.
    let fields: Vec<&str> = text[text.rfind(')')? + 1..].split_whitespace().collect();
    let utime: u64 = fields.get(11)?.parse().ok()?;
    let stime: u64 = fields.get(12)?.parse().ok()?;
    Some((name, utime + stime))
}

/// Whether `GET /readyz` answers 200 (an error when nothing listens yet).
fn ask_readyz(addr: SocketAddr, deadline: Instant) -> std::io::Result<bool> {
    let mut stream = TcpStream::connect_timeout(&addr, Duration::from_secs(1))?;
    let wait = deadline.saturating_duration_since(Instant::now()) + Duration::from_millis(1);
    stream.set_read_timeout(Some(wait))?;
    stream.write_all(b"GET /readyz HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n\r\n")?;
    let mut answer = Vec::new();
    stream.read_to_end(&mut answer)?;
    Ok(answer.starts_with(b"HTTP/1.1 200"))
}

/// Bytes of the files under `dir`.
pub fn dir_bytes(dir: &Path) -> u64 {
    std::fs::read_dir(dir).map_or(0, |entries| {
        entries
            .flatten()
            .map(|entry| match entry.metadata() {
                Ok(meta) if meta.is_dir() => dir_bytes(&entry.path()),
                Ok(meta) => meta.len(),
                Err(_) => 0,
            })
            .sum()
    })
}

/// What `/readyz` says: the role (`single`, `leader`, `standby`) and the seq reflected.
pub fn readiness(api: &Api) -> Result<(String, u64), String> {
    let ready = api.call("GET", "/readyz", None)?;
    Ok((
        ready["role"].as_str().unwrap_or("").to_owned(),
        ready["seq"].as_u64().unwrap_or(0),
    ))
}

/// A blocking API client for the setup (keep-alive through ureq's pool).
pub struct Api {
    base: String,
    agent: ureq::Agent,
}

impl Api {
    pub fn new(addr: SocketAddr) -> Api {
        let agent: ureq::Agent = ureq::Agent::config_builder()
            .http_status_as_error(false)
            .timeout_global(Some(Duration::from_secs(120)))
            .build()
            .into();
        Api {
            base: format!("http://{addr}"),
            agent,
        }
    }

    /// Sends a request; answers the JSON of a 2xx, or an error naming the call.
    pub fn call(&self, method: &str, path: &str, body: Option<&Value>) -> Result<Value, String> {
        let request = ureq::http::Request::builder()
            .method(method)
            .uri(format!("{}{path}", self.base))
            .header("content-type", "application/json")
            .body(body.map(Value::to_string).unwrap_or_default())
            .map_err(|err| err.to_string())?;
        let mut response = self
            .agent
            .run(request)
            .map_err(|err| format!("{method} {path}: {err}"))?;
        let status = response.status().as_u16();
        let text = response
            .body_mut()
            .read_to_string()
            .map_err(|err| format!("{method} {path}: {err}"))?;
        if !(200..300).contains(&status) {
            return Err(format!("{method} {path} answered {status}: {text}"));
        }
        serde_json::from_str(&text).map_err(|err| format!("{method} {path}: {err}: {text}"))
    }
}

/// The limit the org starts with; each level below gets 80% of its parent's split between the
/// children (the parent keeps its 10% reserve), so nothing is ever denied.
const ORG_TOKENS: u64 = 1_000_000_000_000_000;

/// Creates `org` / `teams` teams / `agents` agents per team (created by `:allocate`, `equal`),
/// names zero-padded to a fixed width; answers the agents' paths.
pub fn create_tree(
    api: &Api,
    org: &str,
    teams: usize,
    agents: usize,
) -> Result<Vec<String>, String> {
    let team_width = (teams - 1).to_string().len();
    let agent_width = (agents - 1).to_string().len();
    let team_tokens = ORG_TOKENS * 8 / 10 / teams as u64;
    let limits = |tokens: u64| json!({ "limits": { "tokens": tokens } });
    api.call(
        "PUT",
        &format!("/v1/accounts/{org}"),
        Some(&limits(ORG_TOKENS)),
    )?;
    let mut paths = Vec::with_capacity(teams * agents);
    for team in 0..teams {
        let team_path = format!("{org}/t{team:0team_width$}");
        api.call(
            "PUT",
            &format!("/v1/accounts/{team_path}"),
            Some(&limits(team_tokens)),
        )?;
        let names: Vec<String> = (0..agents)
            .map(|agent| format!("a{agent:0agent_width$}"))
            .collect();
        let children: Vec<Value> = names.iter().map(|name| json!({ "name": name })).collect();
        let body = json!({
            "strategy": "equal",
            "total": { "tokens": team_tokens * 8 / 10 },
            "children": children,
        });
        let answer = api.call(
            "POST",
            &format!("/v1/accounts/{team_path}:allocate"),
            Some(&body),
        )?;
        let made = answer["allocations"].as_array().map_or(0, Vec::len);
        if made != agents {
            return Err(format!(
                "{team_path}:allocate made {made} of {agents} agents"
            ));
        }
        paths.extend(names.iter().map(|name| format!("{team_path}/{name}")));
    }
    Ok(paths)
}

/// The sequence number of the last event, by reporting once more (which adds one event).
pub fn last_seq(api: &Api, agent: &str) -> Result<u64, String> {
    let answer = api.call(
        "POST",
        "/v1/usage",
        Some(&json!({ "account": agent, "usage": { "tokens": 1 } })),
    )?;
    answer["seq"]
        .as_u64()
        .ok_or_else(|| format!("a usage answer without seq: {answer}"))
}

/// The binary under test: this build's `purser`, or `PURSER_BENCH_BINARY` (another build, to
/// compare two versions in one run on one machine).
pub fn binary() -> String {
    std::env::var("PURSER_BENCH_BINARY")
        .unwrap_or_else(|_| env!("CARGO_BIN_EXE_purser").to_string())
}
