//! What the bench measured, and the tables it prints (Markdown, to paste as is).

use std::time::Duration;

/// One HTTP scenario on one server.
pub struct HttpRow {
    pub durability: &'static str,
    pub scenario: String,
    pub conns: usize,
    /// Whether every report carried an idempotency key (None: no reports).
    pub keys: Option<bool>,
    pub requests_per_s: f64,
    pub reports_per_s: f64,
    pub p50_us: u32,
    pub p99_us: u32,
    pub p999_us: u32,
    pub samples: usize,
    pub errors: u64,
    /// The same server's `GET /healthz` requests per second.
    pub ceiling: f64,
    /// CPU cores used during the run (warm-up included): the server, its engine thread, and the
    /// load generator.
    pub server_cpu: f64,
    pub engine_cpu: f64,
    pub generator_cpu: f64,
    /// How long each snapshot the server wrote during the run took, in ms.
    pub snapshots_ms: Vec<u64>,
}

/// Building the journal for the restart measurement.
pub struct BuildRow {
    pub events: u64,
    pub took: Duration,
    pub reports_per_s: f64,
    pub disk_bytes: u64,
    pub rss_kib: u64,
    pub snapshots_ms: Vec<u64>,
}

pub struct RestartRow {
    pub ready_after: Duration,
    pub rss_kib: u64,
    /// The server's own `recovered ...` line.
    pub recovered: String,
}

pub struct MemoryRow {
    pub accounts: usize,
    pub took: Duration,
    pub empty_kib: u64,
    pub rss_kib: u64,
}

#[derive(Default)]
pub struct Results {
    pub redis: Vec<crate::redis::RedisRow>,
    /// Why the Redis baseline did not run.
    pub redis_skipped: Option<String>,
    pub http: Vec<HttpRow>,
    pub build: Option<BuildRow>,
    pub restarts: Vec<RestartRow>,
    pub memory: Option<MemoryRow>,
}

pub fn rate(per_s: f64) -> String {
    if per_s >= 1e6 {
        format!("{:.2}M", per_s / 1e6)
    } else if per_s >= 1e4 {
        format!("{:.1}k", per_s / 1e3)
    } else {
        format!("{per_s:.0}")
    }
}

pub fn micros(us: u32) -> String {
    if us < 1_000 {
        format!("{us} µs")
    } else if us < 1_000_000 {
        format!("{:.2} ms", f64::from(us) / 1e3)
    } else {
        format!("{:.2} s", f64::from(us) / 1e6)
    }
}

/// How many snapshots, and the longest.
fn snapshots(ms: &[u64]) -> String {
    match ms.iter().max() {
        Some(longest) => format!("{}, longest {longest} ms", ms.len()),
        None => "0".into(),
    }
}

pub fn mib(kib: u64) -> String {
    format!("{:.1} MiB", kib as f64 / 1024.0)
}

/// A Markdown table with its columns padded.
fn table(head: &[&str], rows: &[Vec<String>]) -> String {
    let mut widths: Vec<usize> = head.iter().map(|cell| cell.chars().count()).collect();
    for row in rows {
        for (width, cell) in widths.iter_mut().zip(row) {
            *width = (*width).max(cell.chars().count());
        }
    }
    let line = |cells: Vec<String>| {
        let padded: Vec<String> = cells
            .iter()
            .zip(&widths)
            .map(|(cell, width)| format!("{cell}{}", " ".repeat(width - cell.chars().count())))
            .collect();
        format!("| {} |\n", padded.join(" | "))
    };
    let mut out = line(head.iter().map(|cell| cell.to_string()).collect());
    out.push_str(&line(
        widths.iter().map(|width| "-".repeat(*width)).collect(),
    ));
    for row in rows {
        out.push_str(&line(row.clone()));
    }
    out
}

pub fn print(header: &str, results: &Results) {
    println!("\n{header}\n");
    print_redis(results);
    if !results.http.is_empty() {
        let rows: Vec<Vec<String>> = results
            .http
            .iter()
            .map(|row| {
                vec![
                    row.durability.to_string(),
                    row.scenario.clone(),
                    row.conns.to_string(),
                    row.keys
                        .map_or("-", |keys| if keys { "yes" } else { "no" })
                        .into(),
                    rate(row.requests_per_s),
                    if row.keys.is_some() {
                        rate(row.reports_per_s)
                    } else {
                        "-".into()
                    },
                    micros(row.p50_us),
                    micros(row.p99_us),
                    micros(row.p999_us),
                    if row.keys.is_some() {
                        format!("{:.2}", row.reports_per_s / row.ceiling)
                    } else {
                        "1 (ceiling)".into()
                    },
                    format!("{:.2}", row.server_cpu),
                    format!("{:.2}", row.engine_cpu),
                    format!("{:.2}", row.generator_cpu),
                    snapshots(&row.snapshots_ms),
                    row.samples.to_string(),
                    row.errors.to_string(),
                ]
            })
            .collect();
        println!(
            "{}",
            table(
                &[
                    "durability",
                    "scenario",
                    "conns",
                    "keys",
                    "req/s",
                    "reports/s",
                    "p50",
                    "p99",
                    "p999",
                    "reports/s ÷ healthz req/s",
                    "server cores",
                    "engine thread",
                    "generator cores",
                    "snapshots",
                    "samples",
                    "errors",
                ],
                &rows,
            )
        );
    }
    if let Some(build) = &results.build {
        println!(
            "restart data: {} events journaled in {:.1} s ({} reports/s, durability os, batches of \
             1,000 with keys over 8 connections); data dir {:.0} MiB; snapshots written: {}; \
             server RSS after the load {}\n",
            build.events,
            build.took.as_secs_f64(),
            rate(build.reports_per_s),
            build.disk_bytes as f64 / (1 << 20) as f64,
            snapshots(&build.snapshots_ms),
            mib(build.rss_kib),
        );
    }
    if !results.restarts.is_empty() {
        let rows: Vec<Vec<String>> = results
            .restarts
            .iter()
            .enumerate()
            .map(|(idx, row)| {
                vec![
                    (idx + 1).to_string(),
                    format!("{:.0} ms", row.ready_after.as_secs_f64() * 1e3),
                    mib(row.rss_kib),
                    row.recovered.clone(),
                ]
            })
            .collect();
        println!(
            "{}",
            table(
                &[
                    "restart after kill -9",
                    "spawn → /readyz 200",
                    "RSS when ready",
                    "the server's log",
                ],
                &rows,
            )
        );
    }
    if let Some(memory) = &results.memory {
        let per_account =
            (memory.rss_kib.saturating_sub(memory.empty_kib) * 1024) / memory.accounts as u64;
        println!(
            "{}",
            table(
                &[
                    "accounts",
                    "created in",
                    "RSS empty",
                    "RSS with the accounts",
                    "per account"
                ],
                &[vec![
                    memory.accounts.to_string(),
                    format!("{:.1} s", memory.took.as_secs_f64()),
                    mib(memory.empty_kib),
                    mib(memory.rss_kib),
                    format!("{per_account} B"),
                ]],
            )
        );
    }
}

/// The Redis baseline and every Purser report scenario against it.
fn print_redis(results: &Results) {
    if let Some(why) = &results.redis_skipped {
        println!("{why}\n");
        return;
    }
    if results.redis.is_empty() {
        return;
    }
    for row in &results.redis {
        println!(
            "Redis, three-level Lua script, appendfsync {}: {} req/s (p50 {})",
            row.appendfsync,
            rate(row.requests_per_s),
            row.p50_ms.map_or("-".into(), |ms| format!("{ms:.2} ms"))
        );
    }
    let of = |setting: &str| {
        results
            .redis
            .iter()
            .find(|row| row.appendfsync == setting)
            .map_or(f64::NAN, |row| row.requests_per_s)
    };
    let rows: Vec<Vec<String>> = results
        .http
        .iter()
        .filter(|row| row.keys.is_some())
        .map(|row| {
            vec![
                row.durability.to_string(),
                row.scenario.clone(),
                row.conns.to_string(),
                if row.keys == Some(true) { "yes" } else { "no" }.into(),
                rate(row.reports_per_s),
                format!("{:.2}", row.reports_per_s / of("always")),
                format!("{:.2}", row.reports_per_s / of("everysec")),
            ]
        })
        .collect();
    if !rows.is_empty() {
        println!(
            "\n{}",
            table(
                &[
                    "durability",
                    "scenario",
                    "conns",
                    "keys",
                    "reports/s",
                    "x Redis always",
                    "x Redis everysec",
                ],
                &rows
            )
        );
    }
    println!();
}
