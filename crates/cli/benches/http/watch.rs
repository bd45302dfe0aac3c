//! The bench's `monitoring` part: what watching Purser costs. Single reports (fsync, no keys)
//! with and without a `GET /metrics` every second, alternated in one run (A B A B) so that the
//! machine's drift falls on both; then the time and size of a scrape at about 1,000 and 10,000
//! accounts, and of the dashboard's first page of the account tree at 10,000.

use std::io::{Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use crate::load::{self, Template, Until};
use crate::server::{Api, Server, create_tree};

/// Scrapes and page loads timed per point.
const SAMPLES: usize = 20;

/// One GET over a fresh connection: how long until the whole answer was read, and its body's
/// size. Any status but 200 is an error.
fn get(addr: SocketAddr, path: &str) -> Result<(Duration, usize), String> {
    let started = Instant::now();
    let mut stream = TcpStream::connect(addr).map_err(|err| format!("connect: {err}"))?;
    stream
        .write_all(
            format!("GET {path} HTTP/1.1\r\nhost: bench\r\nconnection: close\r\n\r\n").as_bytes(),
        )
        .map_err(|err| format!("GET {path}: {err}"))?;
    let mut answer = Vec::with_capacity(1 << 20);
    stream
        .read_to_end(&mut answer)
        .map_err(|err| format!("GET {path}: {err}"))?;
    let elapsed = started.elapsed();
    let text = String::from_utf8_lossy(&answer);
    if !text.starts_with("HTTP/1.1 200") {
        return Err(format!("GET {path}: {}", text.lines().next().unwrap_or("")));
    }
    let body = text.find("\r\n\r\n").map_or(0, |at| answer.len() - at - 4);
    Ok((elapsed, body))
}

/// The median and the largest of `SAMPLES` GETs of `path`, and the body's size.
fn timed(addr: SocketAddr, path: &str) -> Result<(f64, f64, usize), String> {
    let mut times = Vec::with_capacity(SAMPLES);
    let mut size = 0;
    for _ in 0..SAMPLES {
        let (elapsed, bytes) = get(addr, path)?;
        times.push(elapsed.as_secs_f64() * 1e3);
        size = bytes;
    }
    times.sort_by(f64::total_cmp);
    Ok((times[SAMPLES / 2], times[SAMPLES - 1], size))
}

/// Runs single reports for one window; with `scrape`, a thread scrapes every second meanwhile.
fn window(
    addr: SocketAddr,
    agents: &Arc<Vec<String>>,
    run: usize,
    conns: usize,
    until: Until,
    scrape: bool,
) -> Result<(f64, usize), String> {
    let stop = Arc::new(AtomicBool::new(false));
    let scraper = scrape.then(|| {
        let stop = stop.clone();
        std::thread::spawn(move || {
            let mut scrapes = 0;
            while !stop.load(Ordering::Relaxed) {
                let tick = Instant::now();
                get(addr, "/metrics")?;
                scrapes += 1;
                std::thread::sleep(Duration::from_secs(1).saturating_sub(tick.elapsed()));
            }
            Ok::<usize, String>(scrapes)
        })
    });
    let templates = (0..conns)
        .map(|conn| Template::usage(run, conn, false, agents))
        .collect();
    let outcome = load::run(addr, templates, agents.clone(), 1, until);
    stop.store(true, Ordering::Relaxed);
    let scrapes = match scraper {
        Some(thread) => thread
            .join()
            .map_err(|_| "the scraper panicked".to_string())??,
        None => 0,
    };
    if outcome.errors > 0 {
        return Err(format!(
            "{} errors; first: {}",
            outcome.errors,
            outcome.first_error.unwrap_or_default()
        ));
    }
    Ok((outcome.reports_per_s(), scrapes))
}

pub fn run(
    dir: &std::path::Path,
    conns: usize,
    warmup: Duration,
    measure: Duration,
) -> Result<(), String> {
    let (server, _) = Server::start(dir, &dir.join("data"), "fsync", None)?;
    let api = Api::new(server.addr);
    let agents = Arc::new(create_tree(&api, "org", 10, 100)?);
    let until = Until::Window { warmup, measure };
    let mut without = Vec::new();
    let mut with = Vec::new();
    let mut scrapes = 0;
    for round in 0..4 {
        let scrape = round % 2 == 1;
        let (rate, n) = window(server.addr, &agents, 100 + round, conns, until, scrape)?;
        eprintln!(
            "monitoring: single reports {} a scrape every second: {:.0} reports/s",
            if scrape { "with" } else { "without" },
            rate
        );
        if scrape {
            with.push(rate);
            scrapes += n;
        } else {
            without.push(rate);
        }
    }
    let mean = |rates: &[f64]| rates.iter().sum::<f64>() / rates.len() as f64;
    let small = timed(server.addr, "/metrics")?;
    create_tree(&api, "big", 10, 900)?;
    let large = timed(server.addr, "/metrics")?;
    let page = timed(server.addr, "/ui/accounts")?;
    server.kill();

    println!(
        "\nmonitoring ({conns} connections, fsync, single reports without keys, A B A B windows)\n"
    );
    println!("| measure | figure |");
    println!("|---|---|");
    println!(
        "| single reports/s without scrapes (mean of 2 windows) | {:.0} |",
        mean(&without)
    );
    println!(
        "| single reports/s with a scrape every second (mean of 2 windows, {scrapes} scrapes) | {:.0} |",
        mean(&with)
    );
    println!("| with / without | {:.3} |", mean(&with) / mean(&without));
    println!(
        "| GET /metrics at 1,011 accounts: median / max of {SAMPLES} (ms), body | {:.1} / {:.1}, {} KB |",
        small.0,
        small.1,
        small.2 / 1024
    );
    println!(
        "| GET /metrics at 10,022 accounts: median / max of {SAMPLES} (ms), body | {:.1} / {:.1}, {} KB |",
        large.0,
        large.1,
        large.2 / 1024
    );
    println!(
        "| GET /ui/accounts (first page) at 10,022 accounts: median / max (ms), weight | {:.1} / {:.1}, {} KB |",
        page.0,
        page.1,
        page.2 / 1024
    );
    Ok(())
}
