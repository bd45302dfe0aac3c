//! The baseline of the same run: Redis with the three-level Lua budget script of
//! `../shared/bench/redis_budget3.lua` (what a team would write instead of Purser), driven by
//! `redis-benchmark` with as many connections as the Purser scenarios, on a `redis-server` this
//! bench starts on a free loopback port with its own append-only file: once with
//! `appendfsync always` (the promise Purser's `fsync` durability keeps) and once with
//! `everysec` (which may lose the last second of acknowledged usage).

use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

/// One Redis run.
pub struct RedisRow {
    pub appendfsync: &'static str,
    pub requests_per_s: f64,
    pub p50_ms: Option<f64>,
}

/// Agents the script's keys are drawn from (`budget:%012d`).
const AGENTS: u64 = 10_000;

fn script_path() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../../../shared/bench/redis_budget3.lua")
}

/// Runs both settings, or says why it cannot (no script beside the repository, no Redis).
pub fn run(conns: usize, requests: u64) -> Result<Vec<RedisRow>, String> {
    let script = std::fs::read_to_string(script_path()).map_err(|err| {
        format!(
            "the Redis baseline is skipped: {} cannot be read ({err})",
            script_path().display()
        )
    })?;
    for tool in ["redis-server", "redis-cli", "redis-benchmark"] {
        if Command::new(tool).arg("--version").output().is_err() {
            return Err(format!(
                "the Redis baseline is skipped: {tool} is not installed (Debian: redis-server, redis-tools)"
            ));
        }
    }
    let mut rows = Vec::new();
    for appendfsync in ["always", "everysec"] {
        rows.push(run_one(&script, appendfsync, conns, requests)?);
    }
    Ok(rows)
}

struct Redis {
    child: Child,
    port: u16,
    _dir: tempfile::TempDir,
}

impl Drop for Redis {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn cli(port: u16, args: &[&str]) -> Result<String, String> {
    let output = Command::new("redis-cli")
        .args(["-p", &port.to_string()])
        .args(args)
        .output()
        .map_err(|err| format!("redis-cli: {err}"))?;
    Ok(String::from_utf8_lossy(&output.stdout).trim().to_string())
}

fn start(appendfsync: &str) -> Result<Redis, String> {
    let dir = tempfile::Builder::new()
        .prefix("purser-bench-redis-")
        .tempdir()
        .map_err(|err| format!("a temporary directory: {err}"))?;
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .and_then(|listener| listener.local_addr())
        .map_err(|err| format!("a free port: {err}"))?
        .port();
    let child = Command::new("redis-server")
        .args(["--port", &port.to_string(), "--bind", "127.0.0.1"])
        .arg("--dir")
        .arg(dir.path())
        .args([
            "--save",
            "",
            "--appendonly",
            "yes",
            "--appendfsync",
            appendfsync,
        ])
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .map_err(|err| format!("redis-server: {err}"))?;
    let redis = Redis {
        child,
        port,
        _dir: dir,
    };
    let deadline = Instant::now() + Duration::from_secs(10);
    while cli(port, &["ping"])? != "PONG" {
        if Instant::now() > deadline {
            return Err(format!(
                "redis-server on port {port} did not answer in 10 s"
            ));
        }
        std::thread::sleep(Duration::from_millis(50));
    }
    Ok(redis)
}

fn run_one(
    script: &str,
    appendfsync: &'static str,
    conns: usize,
    requests: u64,
) -> Result<RedisRow, String> {
    let redis = start(appendfsync)?;
    // Every agent, the team and the org with an allocation no report reaches.
    let seed = format!(
        "for i = 0, {} do redis.call('HSET', string.format('budget:%012d', i), 'allocation', \
         '1000000000000') end redis.call('HSET', 'team:t1', 'allocation', '1000000000000000') \
         redis.call('HSET', 'org:o1', 'allocation', '10000000000000000') return 1",
        AGENTS - 1
    );
    let seeded = cli(redis.port, &["EVAL", &seed, "0"])?;
    if seeded != "1" && seeded != "(integer) 1" {
        return Err(format!("seeding Redis answered {seeded:?}"));
    }
    let output = Command::new("redis-benchmark")
        .args(["-p", &redis.port.to_string()])
        .args(["-c", &conns.to_string(), "-n", &requests.to_string()])
        .args(["-r", &AGENTS.to_string(), "-q"])
        .args([
            "EVAL",
            script,
            "3",
            "budget:__rand_int__",
            "team:t1",
            "org:o1",
        ])
        .args(["1500", "2.5", "3"])
        .output()
        .map_err(|err| format!("redis-benchmark: {err}"))?;
    let text = String::from_utf8_lossy(&output.stdout);
    // The last progress line holds the result: `EVAL ...: 31446.54 requests per second,
    // p50=1.511 msec`.
    let line = text
        .split(['\r', '\n'])
        .rfind(|line| line.contains("requests per second"))
        .ok_or_else(|| format!("redis-benchmark printed no result: {text}"))?;
    let requests_per_s = line
        .split(": ")
        .nth(1)
        .and_then(|rest| rest.split_whitespace().next())
        .and_then(|number| number.parse::<f64>().ok())
        .ok_or_else(|| format!("redis-benchmark's result does not parse: {line}"))?;
    let p50_ms = line
        .split("p50=")
        .nth(1)
        .and_then(|rest| rest.split_whitespace().next())
        .and_then(|number| number.parse::<f64>().ok());
    Ok(RedisRow {
        appendfsync,
        requests_per_s,
        p50_ms,
    })
}
