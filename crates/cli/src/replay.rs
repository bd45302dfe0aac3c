//! `purser replay`: a usage trace through the ledger and the manager in virtual time, as fast as
//! the machine allows, written as JSON lines (`forecast`, `level`, `alert`, `grant`, `reclaim`
//! and a final `summary`). The trace is streamed: memory stays bounded however long it is.

use std::collections::BTreeMap;
use std::fs::File;
use std::io::{BufRead, BufReader, BufWriter, IsTerminal, Read, Write};
use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::time::{Duration, Instant};

use anyhow::{Context, bail};
use purser_core::AccountPath;
use purser_core::trace::{ReplayLine, ReplaySetup, Summary, TraceRecord, TraceReplay};
use serde::Deserialize;

/// The longest trace line read.
const LINE_MAX: usize = 1 << 20;

/// How the trace's lines are shaped.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum TraceFormat {
    /// `{"at_ms": 0, "account": "acme/wf-1/agent-3", "usage": {"tokens": 1520}}`
    Purser,
    /// The Mooncake FAST'25 trace: `timestamp`, `input_length`, `output_length` (one account).
    Mooncake,
}

impl std::str::FromStr for TraceFormat {
    type Err = String;

    fn from_str(name: &str) -> Result<Self, String> {
        match name {
            "purser" => Ok(TraceFormat::Purser),
            "mooncake" => Ok(TraceFormat::Mooncake),
            other => Err(format!(
                "unknown trace format {other:?}: purser or mooncake"
            )),
        }
    }
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct PurserLine {
    at_ms: u64,
    account: String,
    usage: BTreeMap<String, u64>,
    #[serde(default)]
    work_units: u64,
}

#[derive(Deserialize)]
struct MooncakeLine {
    timestamp: u64,
    input_length: u64,
    output_length: u64,
}

pub struct ReplayArgs {
    pub trace: PathBuf,
    pub format: TraceFormat,
    /// The account Mooncake requests are charged to.
    pub account: String,
    pub setup: ReplaySetup,
    pub out: Option<PathBuf>,
}

/// Reads one trace line as a record; `None` for a blank line.
fn parse_line(
    line: &str,
    format: TraceFormat,
    account: &AccountPath,
) -> Result<Option<TraceRecord>, String> {
    if line.trim().is_empty() {
        return Ok(None);
    }
    match format {
        TraceFormat::Purser => {
            let parsed: PurserLine = serde_json::from_str(line).map_err(|err| err.to_string())?;
            let account = AccountPath::parse(&parsed.account)
                .map_err(|message| format!("account: {message}"))?;
            Ok(Some(TraceRecord {
                at_ms: parsed.at_ms,
                account,
                usage: parsed.usage.into_iter().collect(),
                work_units: parsed.work_units,
            }))
        }
        TraceFormat::Mooncake => {
            let parsed: MooncakeLine = serde_json::from_str(line).map_err(|err| err.to_string())?;
            let tokens = parsed
                .input_length
                .checked_add(parsed.output_length)
                .ok_or("input_length + output_length overflows")?;
            Ok(Some(TraceRecord {
                at_ms: parsed.timestamp,
                account: account.clone(),
                usage: vec![("tokens".to_string(), tokens)],
                work_units: 1,
            }))
        }
    }
}

/// Calls `each` with every record of the trace, naming the line of any error.
fn for_each_record(
    path: &Path,
    format: TraceFormat,
    account: &AccountPath,
    mut each: impl FnMut(TraceRecord) -> anyhow::Result<()>,
) -> anyhow::Result<()> {
    let file = File::open(path).with_context(|| format!("opening {}", path.display()))?;
    let mut reader = BufReader::new(file);
    let mut line = String::new();
    let mut line_no = 0u64;
    loop {
        line.clear();
        let n = (&mut reader)
            .take(LINE_MAX as u64 + 1)
            .read_line(&mut line)
            .with_context(|| format!("reading {}", path.display()))?;
        if n == 0 {
            return Ok(());
        }
        line_no += 1;
        if n > LINE_MAX {
            bail!(
                "{}:{line_no}: line longer than {LINE_MAX} bytes",
                path.display()
            );
        }
        match parse_line(&line, format, account) {
            Ok(Some(record)) => {
                each(record).with_context(|| format!("{}:{line_no}", path.display()))?
            }
            Ok(None) => {}
            Err(message) => bail!("{}:{line_no}: {message}", path.display()),
        }
    }
}

/// The times of `purser replay`.
pub struct Timing {
    pub horizon: humantime::Duration,
    pub forecast_every: humantime::Duration,
    pub lead_time: humantime::Duration,
    pub optimizer_every: humantime::Duration,
}

/// `purser replay` as typed: the limits as `DIM=N` pairs, `--allocate equal` or nothing.
pub fn run_command(
    trace: PathBuf,
    format: TraceFormat,
    account: String,
    limits: &[String],
    allocate: Option<String>,
    timing: Timing,
    out: Option<PathBuf>,
) -> anyhow::Result<ExitCode> {
    let allocate_equal = match allocate.as_deref() {
        None => false,
        Some("equal") => true,
        Some(other) => bail!("--allocate {other:?}: only `equal` is supported"),
    };
    let mut limit_pairs = Vec::new();
    for (dim, value) in crate::accounts::amounts(limits)?
        .as_object()
        .into_iter()
        .flatten()
    {
        limit_pairs.push((dim.clone(), value.as_u64().unwrap_or(0)));
    }
    let mut setup = ReplaySetup {
        limits: limit_pairs,
        allocate_equal,
        horizon_ms: timing.horizon.as_millis() as u64,
        forecast_every_ms: (timing.forecast_every.as_millis() as u64).max(1),
        ..Default::default()
    };
    setup.manager.watch.lead_time_ms = timing.lead_time.as_millis() as u64;
    setup.manager.optimizer_every_ms = timing.optimizer_every.as_millis() as u64;
    run(ReplayArgs {
        trace,
        format,
        account,
        setup,
        out,
    })
}

pub fn run(args: ReplayArgs) -> anyhow::Result<ExitCode> {
    let account = AccountPath::parse(&args.account)
        .map_err(|message| anyhow::anyhow!("--account: {message}"))?;
    let planned = if args.setup.allocate_equal {
        let mut seen = std::collections::BTreeSet::new();
        for_each_record(&args.trace, args.format, &account, |record| {
            if seen.len() >= 1_000_000 && !seen.contains(record.account.as_str()) {
                bail!("more than 1,000,000 accounts in the trace");
            }
            seen.insert(record.account.as_str().to_string());
            Ok(())
        })?;
        seen.iter()
            .map(|path| AccountPath::parse(path).expect("parsed before"))
            .collect()
    } else {
        Vec::new()
    };
    let mut out: Box<dyn Write> = match &args.out {
        Some(path) => Box::new(BufWriter::new(
            File::create(path).with_context(|| format!("creating {}", path.display()))?,
        )),
        None => Box::new(BufWriter::new(std::io::stdout().lock())),
    };
    let mut replay = TraceReplay::new(args.setup, planned);
    let mut lines: Vec<ReplayLine> = Vec::new();
    let started = Instant::now();
    let mut last_progress = Instant::now();
    let show_progress = std::io::stderr().is_terminal();
    let mut n_records = 0u64;
    let write_lines = |lines: &mut Vec<ReplayLine>, out: &mut Box<dyn Write>| {
        for line in lines.drain(..) {
            serde_json::to_writer(&mut *out, &line)?;
            out.write_all(b"\n")?;
        }
        anyhow::Ok(())
    };
    for_each_record(&args.trace, args.format, &account, |record| {
        replay.push(record, &mut lines)?;
        write_lines(&mut lines, &mut out)?;
        n_records += 1;
        if show_progress && last_progress.elapsed() > Duration::from_secs(2) {
            eprint!("\rpurser replay: {n_records} records");
            last_progress = Instant::now();
        }
        Ok(())
    })?;
    let summary = replay.finish(&mut lines);
    write_lines(&mut lines, &mut out)?;
    out.flush()?;
    if show_progress {
        eprint!("\r");
    }
    eprint!("{}", describe(&summary, started.elapsed()));
    Ok(ExitCode::SUCCESS)
}

/// The summary for people, on standard error.
pub fn describe(summary: &Summary, took: Duration) -> String {
    let mut text = format!(
        "replayed {} records in {:.2} s ({} after the horizon, ignored); {} stops, {} warned at least {} s before\n",
        summary.n_records,
        took.as_secs_f64(),
        summary.n_after_horizon,
        summary.n_stops,
        summary.n_stops_warned_in_time,
        summary.lead_time_ms / 1000
    );
    for account in summary
        .accounts
        .iter()
        .filter(|a| a.n_forecasts > 0)
        .take(20)
    {
        let exhausted = account
            .exhausted_at_ms
            .map_or("never".to_string(), |at_ms| {
                format!("at +{:.0} s", (at_ms - summary.start_ms) as f64 / 1000.0)
            });
        let optional = |value: Option<f64>| value.map_or("n/a".to_string(), |v| format!("{v:.3}"));
        text.push_str(&format!(
            "{} {}: limit {}, total {}, exhausted {exhausted}; {} forecasts: within 10% {:.3}, exhaustion time right {}, interval coverage {:.3}, confident and within {} ({} confident), MAPE {:.4} vs naive {:.4}\n",
            account.account,
            account.dimension,
            account.limit.map_or("none".to_string(), |limit| limit.to_string()),
            account.real_total,
            account.n_forecasts,
            account.total_within_share,
            optional(account.exhaustion_within_share),
            account.interval_coverage,
            optional(account.confident_within_share),
            account.n_confident,
            account.mape,
            account.baseline_mape,
        ));
    }
    text
}
