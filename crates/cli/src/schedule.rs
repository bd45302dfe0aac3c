//! `purser schedule`: plan a workflow (WfFormat JSON or Pegasus DAX) on a platform file, in
//! virtual time, and write the schedule as JSON with a summary for people.

use std::path::Path;
use std::process::ExitCode;
use std::time::Instant;

use anyhow::{Context, bail};
use purser_core::amount::group_digits;
use purser_sched::{Algorithm, BudgetPlan, PlanOptions, Weights, WorkflowFormat};

pub struct ScheduleArgs<'a> {
    pub workflow: &'a Path,
    pub platform: &'a Path,
    pub algorithm: &'a str,
    pub seed: u64,
    pub out: Option<&'a Path>,
    pub no_spot: bool,
    pub no_interruptions: bool,
    pub weights: Option<&'a str>,
    /// Plan the fastest schedule whose cost stays within this (on demand).
    pub budget_micros: Option<u64>,
    /// When plan time 0 is (RFC 3339), for people's working hours; default now.
    pub start: Option<&'a str>,
}

/// The most an input file (workflow, platform, DAG) may weigh.
const FILE_BYTES_MAX: u64 = 256 << 20;

/// Reads a whole input file, refusing one over `FILE_BYTES_MAX`.
pub(crate) fn read(path: &Path) -> anyhow::Result<String> {
    let size = std::fs::metadata(path)
        .with_context(|| format!("reading {}", path.display()))?
        .len();
    if size > FILE_BYTES_MAX {
        bail!(
            "{} is {size} bytes, more than the {FILE_BYTES_MAX} an input file may have",
            path.display()
        );
    }
    std::fs::read_to_string(path).with_context(|| format!("reading {}", path.display()))
}

/// `0.6,0.3,0.1` to the objective's weights (finish time, cost, fragmentation).
fn parse_weights(text: &str) -> anyhow::Result<Weights> {
    let parts: Vec<f64> = text
        .split(',')
        .map(|part| part.trim().parse::<f64>())
        .collect::<Result<_, _>>()
        .with_context(|| format!("--weights {text:?}: three numbers, e.g. 0.6,0.3,0.1"))?;
    match parts[..] {
        [finish, cost, fragmentation] if parts.iter().all(|w| w.is_finite() && *w >= 0.0) => {
            Ok(Weights {
                finish,
                cost,
                fragmentation,
            })
        }
        _ => bail!("--weights {text:?}: three non-negative numbers, e.g. 0.6,0.3,0.1"),
    }
}

pub fn run(args: ScheduleArgs<'_>) -> anyhow::Result<ExitCode> {
    let text = read(args.workflow)?;
    let format = match args.workflow.extension().and_then(|ext| ext.to_str()) {
        Some("xml") | Some("dax") => WorkflowFormat::Dax,
        // The API's DAG shape has tasks at the top; WfFormat has a `workflow` object.
        _ if serde_json::from_str::<serde_json::Value>(&text)
            .is_ok_and(|value| value.get("workflow").is_none() && value.get("tasks").is_some()) =>
        {
            WorkflowFormat::Dag
        }
        _ => WorkflowFormat::WfFormat,
    };
    let workflow = purser_sched::parse_workflow(&text, format)
        .with_context(|| format!("parsing {}", args.workflow.display()))?;
    let start_ms = match args.start {
        Some(text) => text
            .parse::<jiff::Timestamp>()
            .map_err(|err| anyhow::anyhow!("--start {text:?}: not an RFC 3339 time: {err}"))?
            .as_millisecond()
            .max(0) as u64,
        None => jiff::Timestamp::now().as_millisecond().max(0) as u64,
    };
    let platform = purser_sched::parse_platform(&read(args.platform)?)
        .with_context(|| format!("parsing {}", args.platform.display()))?;
    let algorithm: Algorithm = args
        .algorithm
        .parse()
        .map_err(|_| anyhow::anyhow!("--algorithm {:?}: purser or heft", args.algorithm))?;
    let weights = match args.weights {
        Some(text) => parse_weights(text)?,
        None => Weights::default(),
    };
    let mut options = PlanOptions::new(algorithm, args.seed, weights);
    options.start_ms = start_ms;
    options.spot = !args.no_spot;
    options.interruptions = !args.no_interruptions;
    let started = Instant::now();
    let mut schedule = match args.budget_micros {
        None => purser_sched::plan_with(&workflow, &platform, &options).context("planning")?,
        Some(budget) => {
            match purser_sched::plan_within_budget(&workflow, &platform, budget, start_ms)
                .context("planning")?
            {
                BudgetPlan::Within(schedule) => schedule,
                BudgetPlan::Impossible { cheapest } => {
                    eprintln!(
                        "no plan costs at most {} micro-units: the cheapest plan found costs {} ({:.1} s); raise --budget-micros to at least that",
                        group_digits(budget),
                        group_digits(cheapest.cost_micros),
                        cheapest.makespan_s
                    );
                    return Ok(ExitCode::from(2));
                }
            }
        }
    };
    schedule.decision_ms = started.elapsed().as_secs_f64() * 1e3;
    let json = serde_json::to_string_pretty(&schedule)?;
    let mut summary = purser_sched::summary(&schedule);
    if !summary.ends_with('\n') {
        summary.push('\n');
    }
    match args.out {
        Some(path) => {
            std::fs::write(path, json + "\n")
                .with_context(|| format!("writing {}", path.display()))?;
            eprint!("{summary}");
            eprintln!("schedule written to {}", path.display());
        }
        None => {
            println!("{json}");
            eprint!("{summary}");
        }
    }
    Ok(ExitCode::SUCCESS)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn weights() {
        let weights = parse_weights("1,0,0").unwrap();
        assert_eq!(
            (weights.finish, weights.cost, weights.fragmentation),
            (1.0, 0.0, 0.0)
        );
        assert!(parse_weights("1,0").is_err());
        assert!(parse_weights("a,b,c").is_err());
        assert!(parse_weights("-1,0,0").is_err());
    }
}
