//! `purser recommend scale PROFILE` (the replica count the Kubernetes HPA would set, from the
//! server) and `purser recommend rightsize` (requests as the VPA recommender computes them:
//! from a CSV of usage samples on this machine, or from a profile's samples on the server).

use std::io::BufRead;
use std::path::{Path, PathBuf};
use std::process::ExitCode;

use anyhow::{Context, bail};
use clap::Subcommand;
use purser_k8s::vpa::{UsageSample, Workload};
use purser_server::wire::fleet::{
    AmountsOut, ContainerRightsizeOut, RightsizeOut, ScaleOut, containers_out,
};

use crate::Remote;
use crate::client::Client;
use crate::table;

#[derive(Subcommand)]
pub enum RecommendCommand {
    /// The replica count the Kubernetes HPA controller would set for a profile now.
    Scale {
        profile: String,
        #[command(flatten)]
        remote: Remote,
    },
    /// Container requests as the Kubernetes VPA recommender computes them.
    Rightsize {
        /// A profile whose samples the server holds (POST /v1/profiles/{name}/samples).
        profile: Option<String>,
        /// Or a CSV file of samples, read here: a header line naming `timestamp`,
        /// `container`, `cpu_millicores`, `memory_bytes` and optionally `oom`; timestamps in
        /// RFC 3339 or milliseconds since the epoch; empty cells for what was not measured.
        #[arg(long, conflicts_with = "profile")]
        samples: Option<PathBuf>,
        #[command(flatten)]
        remote: Remote,
    },
}

pub fn run(command: RecommendCommand) -> anyhow::Result<ExitCode> {
    match command {
        RecommendCommand::Scale { profile, remote } => scale(&remote, &profile),
        RecommendCommand::Rightsize {
            samples: Some(file),
            remote,
            ..
        } => rightsize_file(&file, remote.json),
        RecommendCommand::Rightsize {
            profile: Some(profile),
            remote,
            ..
        } => rightsize_remote(&remote, &profile),
        RecommendCommand::Rightsize { .. } => {
            bail!("name a profile (its samples on the server) or pass --samples FILE")
        }
    }
}

fn fetch<T: serde::de::DeserializeOwned>(
    remote: &Remote,
    path: &str,
) -> anyhow::Result<(T, serde_json::Value)> {
    let client = Client::new(&remote.server, remote.token.clone());
    match client.call("GET", path, None)? {
        Ok(value) => Ok((
            serde_json::from_value(value.clone()).with_context(|| {
                format!("the server's answer to {path} is not what this client reads")
            })?,
            value,
        )),
        Err(failure) => bail!("{failure}"),
    }
}

fn scale(remote: &Remote, profile: &str) -> anyhow::Result<ExitCode> {
    let (answer, raw): (ScaleOut, _) = fetch(remote, &format!("/v1/profiles/{profile}:scale"))?;
    if remote.json {
        println!("{}", serde_json::to_string_pretty(&raw)?);
        return Ok(ExitCode::SUCCESS);
    }
    println!(
        "{}: {} replicas now, the HPA would set {} (bounds {} to {}){}",
        answer.profile,
        answer.current_replicas,
        answer.desired_replicas,
        answer.replicas_min,
        answer.replicas_max,
        if answer.reason.is_empty() {
            String::new()
        } else {
            format!(": {}", answer.reason)
        }
    );
    let mut rows = vec![
        ["METRIC", "PROPOSES", "UTILIZATION", "ERROR"]
            .map(String::from)
            .to_vec(),
    ];
    for metric in &answer.metrics {
        rows.push(vec![
            metric.metric.clone(),
            metric.replicas.map_or("-".into(), |r| r.to_string()),
            metric
                .utilization_percent
                .map_or("-".into(), |u| format!("{u}%")),
            metric.error.clone().unwrap_or_default(),
        ]);
    }
    println!("\n{}", table::render(&rows));
    for condition in &answer.conditions {
        println!(
            "{} {}: {} ({})",
            condition.kind, condition.status, condition.reason, condition.message
        );
    }
    Ok(ExitCode::SUCCESS)
}

fn rightsize_remote(remote: &Remote, profile: &str) -> anyhow::Result<ExitCode> {
    let (answer, raw): (RightsizeOut, _) =
        fetch(remote, &format!("/v1/profiles/{profile}:rightsize"))?;
    if remote.json {
        println!("{}", serde_json::to_string_pretty(&raw)?);
        return Ok(ExitCode::SUCCESS);
    }
    println!(
        "{}: requests now cpu {} memory {}; {} samples ({} dropped)\n",
        answer.profile,
        answer.requests.cpu,
        answer.requests.memory,
        answer.samples_accepted,
        answer.samples_dropped
    );
    println!("{}", containers_table(&answer.containers));
    Ok(ExitCode::SUCCESS)
}

fn header() -> Vec<Vec<String>> {
    vec![
        [
            "CONTAINER",
            "HISTORY",
            "CPU",
            "CPU LOW",
            "CPU HIGH",
            "MEMORY",
            "MEM LOW",
            "MEM HIGH",
        ]
        .map(String::from)
        .to_vec(),
    ]
}

/// One row per container: how long it was sampled, and the target and bounds of each resource.
fn containers_table(containers: &[ContainerRightsizeOut]) -> String {
    let mut rows = header();
    let pick = |amounts: &AmountsOut| {
        (
            amounts.cpu.clone().unwrap_or_else(|| "-".into()),
            amounts.memory.clone().unwrap_or_else(|| "-".into()),
        )
    };
    for container in containers {
        let (lower, target, upper) = (
            pick(&container.lower_bound),
            pick(&container.target),
            pick(&container.upper_bound),
        );
        rows.push(vec![
            container.container.clone(),
            format!("{:.1} h", container.history_hours),
            target.0,
            lower.0,
            upper.0,
            target.1,
            lower.1,
            upper.1,
        ]);
    }
    table::render(&rows)
}

/// Rows a samples file may have at most.
const ROWS_MAX: u64 = 50_000_000;

fn rightsize_file(file: &Path, json: bool) -> anyhow::Result<ExitCode> {
    let reader = std::io::BufReader::new(
        std::fs::File::open(file).with_context(|| format!("opening {}", file.display()))?,
    );
    let mut workload = Workload::new(1_000);
    let mut columns: Option<Columns> = None;
    let mut rows = 0u64;
    for (idx, line) in reader.lines().enumerate() {
        let line_no = idx + 1;
        let line = line.with_context(|| format!("{}:{line_no}: reading", file.display()))?;
        if line.trim().is_empty() || line.starts_with('#') {
            continue;
        }
        let Some(cols) = &columns else {
            columns =
                Some(Columns::of(&line).with_context(|| format!("{}:{line_no}", file.display()))?);
            continue;
        };
        rows += 1;
        if rows > ROWS_MAX {
            bail!("{}: more than {ROWS_MAX} samples", file.display());
        }
        let sample = cols
            .sample(&line)
            .with_context(|| format!("{}:{line_no}", file.display()))?;
        workload
            .add(&sample)
            .map_err(|err| anyhow::anyhow!("{}:{line_no}: {err}", file.display()))?;
        if rows.is_multiple_of(1_000_000) {
            eprintln!("read {rows} samples...");
        }
    }
    if columns.is_none() {
        bail!("{}: no header line", file.display());
    }
    let (kept, dropped) = workload.counts();
    let containers = containers_out(workload.recommend(), &workload.lifespans());
    if json {
        let answer = serde_json::json!({"samples_accepted": kept, "samples_dropped": dropped,
                                        "containers": containers});
        println!("{}", serde_json::to_string_pretty(&answer)?);
        return Ok(ExitCode::SUCCESS);
    }
    eprintln!("{kept} samples used, {dropped} dropped (older than their container's last)");
    println!("{}", containers_table(&containers));
    Ok(ExitCode::SUCCESS)
}

/// Where each field is in a line of the samples file.
struct Columns {
    timestamp: usize,
    container: usize,
    cpu: Option<usize>,
    memory: Option<usize>,
    oom: Option<usize>,
    n: usize,
}

impl Columns {
    fn of(header: &str) -> anyhow::Result<Columns> {
        let names: Vec<&str> = header.split(',').map(str::trim).collect();
        let find = |name: &str| names.iter().position(|n| n.eq_ignore_ascii_case(name));
        let columns = Columns {
            timestamp: find("timestamp").context("the header names no `timestamp` column")?,
            container: find("container").context("the header names no `container` column")?,
            cpu: find("cpu_millicores"),
            memory: find("memory_bytes"),
            oom: find("oom"),
            n: names.len(),
        };
        if columns.cpu.is_none() && columns.memory.is_none() {
            bail!("the header names neither `cpu_millicores` nor `memory_bytes`");
        }
        Ok(columns)
    }

    fn sample(&self, line: &str) -> anyhow::Result<UsageSample> {
        let cells: Vec<&str> = line.split(',').map(str::trim).collect();
        if cells.len() != self.n {
            bail!("{} fields where the header has {}", cells.len(), self.n);
        }
        let number = |idx: Option<usize>, what: &str| -> anyhow::Result<Option<i64>> {
            match idx.map(|idx| cells[idx]).filter(|cell| !cell.is_empty()) {
                None => Ok(None),
                Some(cell) => {
                    let value: f64 = cell
                        .parse()
                        .with_context(|| format!("{what} {cell:?} is not a number"))?;
                    if !(0.0..=1e15).contains(&value) {
                        bail!("{what} {cell:?} is out of range");
                    }
                    Ok(Some(value.round() as i64))
                }
            }
        };
        let stamp = cells[self.timestamp];
        let t_ms = match stamp.parse::<i64>() {
            Ok(ms) => ms,
            Err(_) => stamp
                .parse::<jiff::Timestamp>()
                .with_context(|| {
                    format!("timestamp {stamp:?} is neither RFC 3339 nor milliseconds")
                })?
                .as_millisecond(),
        };
        // 1970 to 3000: the recommender's windows add to the times, which must not overflow.
        if !(0..=32_503_680_000_000).contains(&t_ms) {
            bail!("timestamp {stamp:?} is outside 1970 to 3000");
        }
        let oom = match self.oom.map(|idx| cells[idx]) {
            None | Some("") | Some("0") | Some("false") => false,
            Some("1") | Some("true") => true,
            Some(other) => bail!("oom {other:?} must be true/false or 1/0"),
        };
        let sample = UsageSample {
            container: cells[self.container].to_string(),
            t_ms,
            cpu_millicores: number(self.cpu, "cpu_millicores")?,
            memory_bytes: number(self.memory, "memory_bytes")?,
            oom,
        };
        if sample.cpu_millicores.is_none() && sample.memory_bytes.is_none() {
            bail!("a sample needs cpu_millicores, memory_bytes or both");
        }
        Ok(sample)
    }
}
