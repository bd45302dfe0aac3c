//! Load generator and benchmark of the HTTP API against the real release binary.
//!
//! `cargo bench -p purser --bench http [-- all|http|restart|memory|monitoring]`, or
//! `PURSER_BENCH=...`.
//! Knobs (environment): `PURSER_BENCH_CONNS` (64), `PURSER_BENCH_SECS` (10),
//! `PURSER_BENCH_WARMUP_SECS` (2), `PURSER_BENCH_EVENTS` (10,000,000: the restart journal),
//! `PURSER_BENCH_BATCH` (1,000 reports per batch), `PURSER_BENCH_SNAPSHOT_EVERY` (the server's
//! default unless set), `PURSER_BENCH_BINARY` (another `purser` to measure, e.g. an older build),
//! `PURSER_BENCH_REDIS_REQUESTS` (200,000: the Redis baseline's requests per setting),
//! `PURSER_BENCH_MEMORY_TEAMS` (100 teams of 1,000 agents; 999 for a million accounts).
//!
//! The `http` part first measures the same run's baseline: Redis with the three-level Lua
//! budget script of `../shared/bench` at `appendfsync always` and `everysec` (`http/redis.rs`),
//! and prints each Purser scenario's reports per second against both.
//!
//! Every part starts `purser serve` as a child process on a free loopback port with a fresh
//! temporary data directory, and kills it at the end. Any error answer fails the bench.

#[path = "http/lag.rs"]
mod lag;
#[path = "http/load.rs"]
mod load;
#[path = "http/redis.rs"]
mod redis;
#[path = "http/report.rs"]
mod report;
#[path = "http/server.rs"]
mod server;
#[path = "http/watch.rs"]
mod watch;

use std::sync::Arc;
use std::time::{Duration, Instant};

use load::{Template, Until};
use report::{BuildRow, HttpRow, MemoryRow, RestartRow, Results};
use server::{Api, Server, create_tree, dir_bytes, last_seq, stat_ticks};

struct Settings {
    what: String,
    conns: usize,
    warmup: Duration,
    measure: Duration,
    events: u64,
    batch: usize,
    snapshot_every: Option<u64>,
}

fn env_or<T: std::str::FromStr>(name: &str, default: T) -> T {
    match std::env::var(name) {
        Ok(text) => text
            .parse()
            .unwrap_or_else(|_| panic!("{name}={text} does not parse")),
        Err(_) => default,
    }
}

impl Settings {
    fn read() -> Settings {
        // cargo passes `--bench` to a bench without harness; the first other argument names
        // the parts to run.
        let what = std::env::args()
            .skip(1)
            .find(|arg| !arg.starts_with('-'))
            .unwrap_or_else(|| env_or("PURSER_BENCH", "all".to_string()));
        assert!(
            ["all", "http", "restart", "memory", "monitoring"].contains(&what.as_str()),
            "PURSER_BENCH must be all, http, restart, memory or monitoring, not {what}"
        );
        Settings {
            what,
            conns: env_or("PURSER_BENCH_CONNS", 64),
            warmup: Duration::from_secs_f64(env_or("PURSER_BENCH_WARMUP_SECS", 2.0)),
            measure: Duration::from_secs_f64(env_or("PURSER_BENCH_SECS", 10.0)),
            events: env_or("PURSER_BENCH_EVENTS", 10_000_000),
            batch: env_or("PURSER_BENCH_BATCH", 1_000),
            snapshot_every: std::env::var("PURSER_BENCH_SNAPSHOT_EVERY")
                .ok()
                .map(|text| {
                    text.parse()
                        .expect("PURSER_BENCH_SNAPSHOT_EVERY is a number")
                }),
        }
    }

    fn runs(&self, part: &str) -> bool {
        self.what == "all" || self.what == part
    }
}

fn main() {
    let settings = Settings::read();
    let cores = std::thread::available_parallelism().map_or(0, |n| n.get());
    let model = std::fs::read_to_string("/proc/cpuinfo")
        .ok()
        .and_then(|info| {
            info.lines()
                .find_map(|line| line.strip_prefix("model name"))
                .map(|rest| rest.trim_start_matches([' ', '\t', ':']).to_string())
        })
        .unwrap_or_else(|| "unknown CPU".into());
    let header = format!(
        "purser HTTP bench ({}): {cores} cores ({model}), shared by the server and the load \
         generator (one tokio current-thread runtime); {:.0} s warm-up + {:.0} s measured per \
         scenario; server {}",
        settings.what,
        settings.warmup.as_secs_f64(),
        settings.measure.as_secs_f64(),
        server::binary(),
    );
    eprintln!("{header}");
    let mut results = Results::default();
    let mut outcome = Ok(());
    if settings.runs("http") {
        outcome = http(&settings, &mut results);
    }
    if outcome.is_ok() && settings.runs("restart") {
        outcome = restart(&settings, &mut results);
    }
    if outcome.is_ok() && settings.runs("memory") {
        outcome = memory(&mut results);
    }
    if outcome.is_ok() && settings.runs("monitoring") {
        outcome = temp_dir().and_then(|dir| {
            watch::run(
                dir.path(),
                settings.conns,
                settings.warmup,
                settings.measure,
            )
        });
    }
    report::print(&header, &results);
    if let Err(err) = outcome {
        eprintln!("\nBENCH FAILED: {err}");
        std::process::exit(1);
    }
}

fn temp_dir() -> Result<tempfile::TempDir, String> {
    tempfile::Builder::new()
        .prefix("purser-bench-")
        .tempdir()
        .map_err(|err| format!("a temporary directory: {err}"))
}

/// CPU ticks (1/100 s) this process used so far.
fn own_ticks() -> u64 {
    stat_ticks("/proc/self/stat").map_or(0, |(_, ticks)| ticks)
}

#[derive(Clone, Copy)]
enum Scenario {
    Healthz,
    Single { keys: bool },
    Batch { conns: usize, keys: bool },
}

fn http(settings: &Settings, results: &mut Results) -> Result<(), String> {
    let scenarios = [
        Scenario::Healthz,
        Scenario::Single { keys: true },
        Scenario::Single { keys: false },
        Scenario::Batch {
            conns: 8,
            keys: true,
        },
        Scenario::Batch {
            conns: 8,
            keys: false,
        },
        Scenario::Batch {
            conns: 4,
            keys: true,
        },
        Scenario::Batch {
            conns: 4,
            keys: false,
        },
    ];
    // The same run's baseline: Redis with the three-level script, at equal connections.
    let redis_requests = env_or("PURSER_BENCH_REDIS_REQUESTS", 200_000u64);
    match redis::run(settings.conns, redis_requests) {
        Ok(rows) => {
            for row in &rows {
                eprintln!(
                    "redis appendfsync {:8} EVAL three-level script  conns {:3}: {:>8} req/s, p50 {}",
                    row.appendfsync,
                    settings.conns,
                    report::rate(row.requests_per_s),
                    row.p50_ms.map_or("-".into(), |ms| format!("{ms:.2} ms")),
                );
            }
            results.redis = rows;
        }
        Err(why) => {
            eprintln!("{why}");
            results.redis_skipped = Some(why);
        }
    }
    let mut run = 0;
    // PostgreSQL (a database of its own on the machine's server) beside SQLite in the same run,
    // with a standby following the leader, whose lag is sampled during each scenario.
    let postgres = match purser_store::TempDatabase::create() {
        Ok(Some(database)) => Some(database),
        Ok(None) => None,
        Err(err) => {
            eprintln!("the PostgreSQL store is skipped: {err}");
            None
        }
    };
    let mut stores = vec![("fsync", None), ("os", None)];
    if let Some(database) = &postgres {
        stores.push(("postgres", Some(database.url().to_owned())));
    }
    for (durability, store_url) in stores {
        let dir = temp_dir()?;
        let more_config = store_url
            .as_ref()
            .map(|url| format!("store = \"{url}\"\n[cluster]\nfollow_every_ms = 100\n"))
            .unwrap_or_default();
        // PostgreSQL commits are durable as its server is configured (synchronous_commit).
        let config_durability = if store_url.is_some() {
            "fsync"
        } else {
            durability
        };
        let start = || {
            Server::start_with(
                dir.path(),
                &dir.path().join("data"),
                config_durability,
                settings.snapshot_every,
                &more_config,
            )
            .map(|(server, _)| server)
        };
        let server = start()?;
        let mut standby = None;
        if store_url.is_some() {
            wait_for_role(&Api::new(server.addr), "leader")?;
            let follower = start()?;
            wait_for_role(&Api::new(follower.addr), "standby")?;
            standby = Some(follower);
        }
        let agents = Arc::new(create_tree(&Api::new(server.addr), "org", 10, 100)?);
        let mut ceiling = f64::NAN;
        for scenario in scenarios {
            run += 1;
            let (label, conns, per_request, keys) = match scenario {
                Scenario::Healthz => ("GET /healthz".to_string(), settings.conns, 0, None),
                Scenario::Single { keys } => {
                    ("POST /v1/usage".to_string(), settings.conns, 1, Some(keys))
                }
                Scenario::Batch { conns, keys } => (
                    format!("POST /v1/usage:batch ×{}", settings.batch),
                    conns,
                    settings.batch,
                    Some(keys),
                ),
            };
            let templates = (0..conns)
                .map(|conn| match scenario {
                    Scenario::Healthz => Template::get("/healthz"),
                    Scenario::Single { keys } => Template::usage(run, conn, keys, &agents),
                    Scenario::Batch { keys, .. } => {
                        Template::batch(run, conn, keys, &agents, settings.batch)
                    }
                })
                .collect();
            let until = Until::Window {
                warmup: settings.warmup,
                measure: settings.measure,
            };
            let (server_before, engine_before) = server.cpu();
            let own_before = own_ticks();
            let snapshots_before = server.snapshot_ms().len();
            let sampler = standby
                .as_ref()
                .map(|follower| lag::Sampler::start(server.addr, follower.addr));
            let started = Instant::now();
            let outcome = load::run(
                server.addr,
                templates,
                agents.clone(),
                per_request as u64,
                until,
            );
            if let Some(sampler) = sampler {
                eprintln!("standby lag during {label}: {}", sampler.finish());
            }
            let cores = |ticks: u64| ticks as f64 / 100.0 / started.elapsed().as_secs_f64();
            let (server_after, engine_after) = server.cpu();
            if matches!(scenario, Scenario::Healthz) {
                ceiling = outcome.requests_per_s();
            }
            let row = HttpRow {
                durability,
                scenario: label,
                conns,
                keys,
                requests_per_s: outcome.requests_per_s(),
                reports_per_s: outcome.reports_per_s(),
                p50_us: outcome.quantile_us(0.5),
                p99_us: outcome.quantile_us(0.99),
                p999_us: outcome.quantile_us(0.999),
                samples: outcome.latencies_us.len(),
                errors: outcome.errors,
                ceiling,
                server_cpu: cores(server_after - server_before),
                engine_cpu: cores(engine_after - engine_before),
                generator_cpu: cores(own_ticks() - own_before),
                snapshots_ms: server.snapshot_ms().split_off(snapshots_before),
            };
            eprintln!(
                "{durability:5} {:28} conns {:3} keys {:5}: {:>8} req/s {:>8} reports/s, p50 {} p99 {} p999 {}, server {:.2} cores (engine {:.2}), generator {:.2}, snapshots {:?} ms, errors {}",
                row.scenario,
                row.conns,
                row.keys.map_or("-", |keys| if keys { "yes" } else { "no" }),
                report::rate(row.requests_per_s),
                report::rate(row.reports_per_s),
                report::micros(row.p50_us),
                report::micros(row.p99_us),
                report::micros(row.p999_us),
                row.server_cpu,
                row.engine_cpu,
                row.generator_cpu,
                row.snapshots_ms,
                row.errors,
            );
            results.http.push(row);
            if outcome.errors > 0 || outcome.requests == 0 {
                return Err(format!(
                    "{durability} {}: {} errors, {} requests; first: {}",
                    results.http.last().map_or("", |row| row.scenario.as_str()),
                    outcome.errors,
                    outcome.requests,
                    outcome.first_error.unwrap_or_default()
                ));
            }
        }
        server.kill();
        if let Some(follower) = standby {
            follower.kill();
        }
    }
    Ok(())
}

/// Waits until the server at `api` has `role` (a PostgreSQL leader takes its lease first).
fn wait_for_role(api: &Api, role: &str) -> Result<(), String> {
    let deadline = Instant::now() + Duration::from_secs(30);
    while server::readiness(api)?.0 != role {
        if Instant::now() > deadline {
            return Err(format!("the server did not become {role}"));
        }
        std::thread::sleep(Duration::from_millis(20));
    }
    Ok(())
}

fn restart(settings: &Settings, results: &mut Results) -> Result<(), String> {
    let dir = temp_dir()?;
    let data = dir.path().join("data");
    let (server, _) = Server::start(dir.path(), &data, "os", settings.snapshot_every)?;
    let api = Api::new(server.addr);
    let agents = Arc::new(create_tree(&api, "org", 10, 100)?);
    let batches = settings.events.div_ceil(settings.batch as u64);
    eprintln!(
        "restart: journaling {} reports in {batches} batches...",
        batches * settings.batch as u64
    );
    let templates = (0..8)
        .map(|conn| Template::batch(999, conn, true, &agents, settings.batch))
        .collect();
    let build = load::run(
        server.addr,
        templates,
        agents.clone(),
        settings.batch as u64,
        Until::Requests(batches),
    );
    if build.errors > 0 || build.requests != batches {
        return Err(format!(
            "building the journal: {} of {batches} batches, {} errors; first: {}",
            build.requests,
            build.errors,
            build.first_error.unwrap_or_default()
        ));
    }
    let events = last_seq(&api, &agents[0])?;
    if events < settings.events {
        return Err(format!(
            "the journal holds {events} events, not {}",
            settings.events
        ));
    }
    results.build = Some(BuildRow {
        events,
        took: build.elapsed,
        reports_per_s: build.reports_per_s(),
        disk_bytes: dir_bytes(&data),
        rss_kib: server.rss_kib(),
        snapshots_ms: server.snapshot_ms(),
    });
    server.kill();
    for attempt in 1..=3 {
        let (server, ready_after) =
            Server::start(dir.path(), &data, "os", settings.snapshot_every)?;
        let recovered = server
            .log_text()
            .lines()
            .find(|line| line.contains("recovered"))
            .unwrap_or("")
            .trim_start_matches("purser: ")
            .to_string();
        eprintln!(
            "restart {attempt}: ready after {} ms: {recovered}",
            ready_after.as_millis()
        );
        results.restarts.push(RestartRow {
            ready_after,
            rss_kib: server.rss_kib(),
            recovered,
        });
        server.kill();
    }
    Ok(())
}

fn memory(results: &mut Results) -> Result<(), String> {
    let dir = temp_dir()?;
    let (server, _) = Server::start(dir.path(), &dir.path().join("data"), "os", None)?;
    let empty_kib = server.rss_kib();
    let api = Api::new(server.addr);
    let started = Instant::now();
    // 100 teams of 1,000 agents (100,101 accounts); 999 teams fill the ledger's default
    // bound of 1,000,000 accounts.
    let teams = env_or("PURSER_BENCH_MEMORY_TEAMS", 100usize);
    let agents = create_tree(&api, "mem", teams, 1_000)?;
    let took = started.elapsed();
    let last_team = agents
        .last()
        .and_then(|agent| agent.rsplit_once('/'))
        .map_or("", |(team, _)| team);
    let team = api.call("GET", &format!("/v1/accounts/{last_team}"), None)?;
    let children = team["children"].as_array().map_or(0, Vec::len);
    if children != 1_000 {
        return Err(format!("{last_team} has {children} children, not 1000"));
    }
    let row = MemoryRow {
        accounts: 1 + teams + agents.len(),
        took,
        empty_kib,
        rss_kib: server.rss_kib(),
    };
    eprintln!(
        "memory: {} accounts in {:.1} s, RSS {} (empty {})",
        row.accounts,
        took.as_secs_f64(),
        report::mib(row.rss_kib),
        report::mib(empty_kib)
    );
    results.memory = Some(row);
    server.kill();
    Ok(())
}
