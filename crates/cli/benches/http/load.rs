//! The load generator: N keep-alive HTTP/1.1 connections over raw TCP, each with one request in
//! flight, reading every answer in full (status line, Content-Length, body).
//!
//! Requests are built once per connection; before each send only the fixed-width request counter
//! (inside every idempotency key) and, for one-report requests, the fixed-width account path are
//! overwritten in place, so the generator spends its time on the socket and not on formatting.

use std::net::SocketAddr;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use tokio::net::TcpStream;

/// Digits of the request counter in idempotency keys.
const COUNTER_WIDTH: usize = 10;
/// Tokens each report carries.
const TOKENS_PER_REPORT: u64 = 100;

/// One connection's request, ready to send once [`Template::prepare`] has stamped it.
pub struct Template {
    bytes: Vec<u8>,
    /// Where the request counter's digits go (one place per idempotency key).
    counter_at: Vec<usize>,
    /// Where the account path goes, for one-report requests rotating over the agents.
    account_at: Option<usize>,
    /// The first agent this connection reports for.
    agent_base: usize,
}

fn with_head(method: &str, path: &str, body: &[u8]) -> (Vec<u8>, usize) {
    let mut bytes = if body.is_empty() {
        format!("{method} {path} HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n").into_bytes()
    } else {
        format!(
            "{method} {path} HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: application/json\r\nContent-Length: {}\r\n\r\n",
            body.len()
        )
        .into_bytes()
    };
    let head = bytes.len();
    bytes.extend_from_slice(body);
    (bytes, head)
}

/// Appends one usage report; notes where its counter (and account) go.
fn push_report(
    body: &mut String,
    account: &str,
    key: Option<String>,
    counter_at: &mut Vec<usize>,
) -> usize {
    body.push_str("{\"account\":\"");
    let account_at = body.len();
    body.push_str(account);
    body.push_str(&format!("\",\"usage\":{{\"tokens\":{TOKENS_PER_REPORT}}}"));
    if let Some(key) = key {
        body.push_str(",\"idempotency_key\":\"");
        body.push_str(&key);
        counter_at.push(body.len() - COUNTER_WIDTH);
        body.push('"');
    }
    body.push('}');
    account_at
}

impl Template {
    /// A GET without body (the ceiling of the HTTP stack: `/healthz`).
    pub fn get(path: &str) -> Template {
        Template {
            bytes: with_head("GET", path, &[]).0,
            counter_at: Vec::new(),
            account_at: None,
            agent_base: 0,
        }
    }

    /// `POST /v1/usage`, one report for the next agent each time; keys are
    /// `r{run}c{conn}n{counter}`, unique over the whole bench.
    pub fn usage(run: usize, conn: usize, keys: bool, agents: &[String]) -> Template {
        let mut body = String::new();
        let mut counter_at = Vec::new();
        let key = keys.then(|| format!("r{run:03}c{conn:04}n{:0COUNTER_WIDTH$}", 0));
        let account_at = push_report(&mut body, &agents[0], key, &mut counter_at);
        let (bytes, head) = with_head("POST", "/v1/usage", body.as_bytes());
        Template {
            bytes,
            counter_at: counter_at.into_iter().map(|at| at + head).collect(),
            account_at: Some(account_at + head),
            agent_base: conn * 17,
        }
    }

    /// `POST /v1/usage:batch` of `n` reports over the agents in turn; keys are
    /// `r{run}c{conn}n{counter}i{item}`.
    pub fn batch(run: usize, conn: usize, keys: bool, agents: &[String], n: usize) -> Template {
        let mut body = String::from("{\"reports\":[");
        let mut counter_at = Vec::new();
        for item in 0..n {
            if item > 0 {
                body.push(',');
            }
            let agent = &agents[(item + conn * 17) % agents.len()];
            let key = keys.then(|| format!("r{run:03}c{conn:04}i{item:05}n{:0COUNTER_WIDTH$}", 0));
            push_report(&mut body, agent, key, &mut counter_at);
        }
        body.push_str("]}");
        let (bytes, head) = with_head("POST", "/v1/usage:batch", body.as_bytes());
        Template {
            bytes,
            counter_at: counter_at.into_iter().map(|at| at + head).collect(),
            account_at: None,
            agent_base: 0,
        }
    }

    /// Stamps request number `n` of this connection.
    fn prepare(&mut self, n: u64, agents: &[String]) {
        if !self.counter_at.is_empty() {
            let digits = format!("{n:0COUNTER_WIDTH$}");
            assert_eq!(digits.len(), COUNTER_WIDTH, "the counter overflowed");
            for &at in &self.counter_at {
                self.bytes[at..at + COUNTER_WIDTH].copy_from_slice(digits.as_bytes());
            }
        }
        if let Some(at) = self.account_at {
            let agent = &agents[(self.agent_base + n as usize) % agents.len()];
            self.bytes[at..at + agent.len()].copy_from_slice(agent.as_bytes());
        }
    }
}

/// How long to drive the load.
#[derive(Clone, Copy)]
pub enum Until {
    /// A warm-up (not measured), then a measured window.
    Window { warmup: Duration, measure: Duration },
    /// This many requests in all, every one measured.
    Requests(u64),
}

/// What a run measured.
#[derive(Default)]
pub struct Outcome {
    pub requests: u64,
    pub reports: u64,
    /// Non-200 answers, batch items answered with an error, duplicates, broken connections
    /// (warm-up included).
    pub errors: u64,
    pub first_error: Option<String>,
    pub elapsed: Duration,
    /// Microseconds per request, sorted.
    pub latencies_us: Vec<u32>,
}

impl Outcome {
    pub fn requests_per_s(&self) -> f64 {
        self.requests as f64 / self.elapsed.as_secs_f64()
    }

    pub fn reports_per_s(&self) -> f64 {
        self.reports as f64 / self.elapsed.as_secs_f64()
    }

    /// The latency at quantile `q` (0.5, 0.99, 0.999), in microseconds.
    pub fn quantile_us(&self, q: f64) -> u32 {
        if self.latencies_us.is_empty() {
            return 0;
        }
        let rank = (q * self.latencies_us.len() as f64).ceil() as usize;
        self.latencies_us[rank.clamp(1, self.latencies_us.len()) - 1]
    }

    fn error(&mut self, count: u64, message: impl FnOnce() -> String) {
        self.errors += count;
        if self.first_error.is_none() {
            self.first_error = Some(message());
        }
    }

    fn merge(&mut self, other: Outcome) {
        self.requests += other.requests;
        self.reports += other.reports;
        if let Some(message) = other.first_error {
            self.error(other.errors, || message);
        }
        self.latencies_us.extend(other.latencies_us);
    }
}

/// Drives one template per connection against `addr` and answers what was measured.
pub fn run(
    addr: SocketAddr,
    templates: Vec<Template>,
    agents: Arc<Vec<String>>,
    reports_per_request: u64,
    until: Until,
) -> Outcome {
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .expect("a tokio runtime");
    runtime.block_on(async move {
        let started = Instant::now();
        let (start, end, budget) = match until {
            Until::Window { warmup, measure } => {
                (started + warmup, started + warmup + measure, None)
            }
            Until::Requests(n) => (started, started + Duration::from_secs(86_400), Some(n)),
        };
        let issued = Arc::new(AtomicU64::new(0));
        let tasks: Vec<_> = templates
            .into_iter()
            .map(|template| {
                let agents = agents.clone();
                let issued = issued.clone();
                tokio::spawn(async move {
                    let quota = budget.map(|n| (issued, n));
                    drive(addr, template, &agents, (start, end), quota).await
                })
            })
            .collect();
        let mut total = Outcome::default();
        for task in tasks {
            total.merge(task.await.expect("a connection task panicked"));
        }
        total.elapsed = match until {
            Until::Window { measure, .. } => measure,
            Until::Requests(_) => started.elapsed(),
        };
        total.reports = total.requests * reports_per_request;
        total.latencies_us.sort_unstable();
        total
    })
}

async fn drive(
    addr: SocketAddr,
    mut template: Template,
    agents: &[String],
    (start, end): (Instant, Instant),
    quota: Option<(Arc<AtomicU64>, u64)>,
) -> Outcome {
    let mut out = Outcome::default();
    let stream = match TcpStream::connect(addr).await {
        Ok(stream) => stream,
        Err(err) => {
            out.error(1, || format!("connecting to {addr}: {err}"));
            return out;
        }
    };
    let _ = stream.set_nodelay(true);
    let mut inbox = Inbox {
        buf: vec![0; 1 << 16],
        filled: 0,
    };
    for n in 0u64.. {
        if let Some((issued, limit)) = &quota
            && issued.fetch_add(1, Ordering::Relaxed) >= *limit
        {
            break;
        }
        template.prepare(n, agents);
        let sent = Instant::now();
        let answer = roundtrip(&stream, &template.bytes, &mut inbox).await;
        let done = Instant::now();
        let head = match answer {
            Ok(head) => head,
            Err(err) => {
                out.error(1, || format!("connection broken: {err}"));
                break;
            }
        };
        check(head, inbox.bytes(), &mut out);
        if done >= start && done < end {
            out.requests += 1;
            let micros = (done - sent).as_micros();
            out.latencies_us
                .push(u32::try_from(micros).unwrap_or(u32::MAX));
        }
        if done >= end {
            break;
        }
    }
    out
}

/// Counts what is wrong with an answer: a status other than 200, error items, duplicates.
fn check((status, head_len): (u16, usize), buf: &[u8], out: &mut Outcome) {
    let body = String::from_utf8_lossy(&buf[head_len..]);
    let shown = || format!("{status}: {}", body.chars().take(400).collect::<String>());
    if status != 200 {
        out.error(1, shown);
        return;
    }
    // std's substring search is vectorised: the common case (nothing found) stays cheap.
    if body.contains("\"error\":") {
        out.error(body.matches("\"error\":").count() as u64, shown);
    }
    if body.contains("\"duplicate\":true") {
        out.error(body.matches("\"duplicate\":true").count() as u64, || {
            format!("duplicate idempotency key: {}", shown())
        });
    }
}

fn invalid(message: String) -> std::io::Error {
    std::io::Error::new(std::io::ErrorKind::InvalidData, message)
}

/// What a connection read so far: `buf` is zeroed once and only grows, `filled` says how much
/// of it holds the answer.
struct Inbox {
    buf: Vec<u8>,
    filled: usize,
}

impl Inbox {
    fn bytes(&self) -> &[u8] {
        &self.buf[..self.filled]
    }

    /// Reads what the socket has, at least one byte.
    async fn fill(&mut self, stream: &TcpStream) -> std::io::Result<()> {
        if self.buf.len() - self.filled < 8192 {
            let grown = (self.buf.len() * 2).max(self.filled + (1 << 16));
            self.buf.resize(grown, 0);
        }
        loop {
            stream.readable().await?;
            match stream.try_read(&mut self.buf[self.filled..]) {
                Ok(0) => {
                    return Err(std::io::Error::new(
                        std::io::ErrorKind::UnexpectedEof,
                        "the server closed the connection",
                    ));
                }
                Ok(n) => {
                    self.filled += n;
                    return Ok(());
                }
                Err(err) if err.kind() == std::io::ErrorKind::WouldBlock => continue,
                Err(err) => return Err(err),
            }
        }
    }
}

async fn write_all(stream: &TcpStream, mut data: &[u8]) -> std::io::Result<()> {
    while !data.is_empty() {
        stream.writable().await?;
        match stream.try_write(data) {
            Ok(n) => data = &data[n..],
            Err(err) if err.kind() == std::io::ErrorKind::WouldBlock => continue,
            Err(err) => return Err(err),
        }
    }
    Ok(())
}

/// Sends one request and reads its whole answer into `inbox`; answers the status and where the
/// body starts.
async fn roundtrip(
    stream: &TcpStream,
    request: &[u8],
    inbox: &mut Inbox,
) -> std::io::Result<(u16, usize)> {
    write_all(stream, request).await?;
    inbox.filled = 0;
    let mut scanned: usize = 0;
    let head_len = loop {
        inbox.fill(stream).await?;
        let from = scanned.saturating_sub(3);
        if let Some(at) = inbox.bytes()[from..]
            .windows(4)
            .position(|w| w == b"\r\n\r\n")
        {
            break from + at + 4;
        }
        scanned = inbox.filled;
    };
    let (status, length) = parse_head(&inbox.bytes()[..head_len])?;
    let total = head_len + length;
    while inbox.filled < total {
        if inbox.buf.len() < total {
            inbox.buf.resize(total, 0);
        }
        inbox.fill(stream).await?;
    }
    if inbox.filled > total {
        return Err(invalid(format!(
            "{} bytes after the answer with nothing asked",
            inbox.filled - total
        )));
    }
    Ok((status, head_len))
}

/// The status and Content-Length of a response head.
fn parse_head(head: &[u8]) -> std::io::Result<(u16, usize)> {
    let text = std::str::from_utf8(head).map_err(|_| invalid("a head that is not UTF-8".into()))?;
    let mut lines = text.split("\r\n");
    let status_line = lines.next().unwrap_or("");
    let status = status_line
        .strip_prefix("HTTP/1.1 ")
        .and_then(|rest| rest.get(..3))
        .and_then(|code| code.parse::<u16>().ok())
        .ok_or_else(|| invalid(format!("bad status line {status_line:?}")))?;
    let mut length = None;
    for line in lines {
        let Some((name, value)) = line.split_once(':') else {
            continue;
        };
        if name.eq_ignore_ascii_case("content-length") {
            length = value.trim().parse::<usize>().ok();
        } else if name.eq_ignore_ascii_case("transfer-encoding") {
            return Err(invalid(format!("unsupported transfer-encoding {value}")));
        }
    }
    let length = length.ok_or_else(|| invalid(format!("no content-length in {text:?}")))?;
    Ok((status, length))
}
