//! The plan handed to callers: one entry per attempt, its makespan and cost, and a summary.

use std::collections::BTreeMap;
use std::fmt::Write;

use serde::{Deserialize, Serialize};

use crate::list_scheduler::ListScheduler;

/// One attempt of one task. Serialized with exactly these field names.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ScheduledTask {
    /// The task id from the workflow file.
    pub id: String,
    /// `POOL#INDEX`, machines counted from 0 within the pool (a replacement gets a new index).
    pub machine: String,
    pub start_s: f64,
    pub finish_s: f64,
    pub spot: bool,
    /// This entry's attempt number, from 1; a task's last entry carries its total.
    pub attempts: u32,
}

/// Figures the summary uses that the JSON does not carry.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct PlanStats {
    /// Longest path with the fastest runtimes and no transfers: a lower bound on the makespan.
    pub critical_path_s: f64,
    /// Cores per machine of each pool, by pool name.
    pub pool_cores: Vec<(String, u64)>,
    /// Cores each task holds, by task id.
    pub task_cores: BTreeMap<String, u64>,
    pub interruptions: u32,
}

/// A plan in virtual time. `decision_ms` is filled by the caller (the library never reads a clock).
///
/// Cost: a machine is billed per second from its boot (its first task's start minus the pool's
/// `startup_s`) until its last task ends or the machine is interrupted, at its spot or
/// on-demand price; a pool without a price costs 0. Summed over machines, rounded up to a micro.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Schedule {
    pub makespan_s: f64,
    pub cost_micros: u64,
    pub decision_ms: f64,
    pub tasks: Vec<ScheduledTask>,
    #[serde(skip)]
    pub stats: Option<PlanStats>,
}

pub(crate) fn build(engine: &ListScheduler, critical_path_s: f64, interruptions: u32) -> Schedule {
    let costs = engine.costs;
    let pools = &costs.platform.pools;
    let tasks = costs.workflow.tasks();
    let mut entries: Vec<ScheduledTask> = engine
        .attempts
        .iter()
        .map(|attempt| {
            let machine = &engine.machines[attempt.machine];
            ScheduledTask {
                id: tasks[attempt.task].id.clone(),
                machine: format!("{}#{}", pools[machine.pool].name, machine.index),
                start_s: attempt.start,
                finish_s: attempt.finish,
                spot: machine.spot,
                attempts: attempt.number,
            }
        })
        .collect();
    entries.sort_by(|a, b| {
        a.start_s
            .total_cmp(&b.start_s)
            .then_with(|| a.id.cmp(&b.id))
            .then(a.attempts.cmp(&b.attempts))
    });
    let makespan_s = entries
        .iter()
        .map(|entry| entry.finish_s)
        .fold(0.0, f64::max);
    let mut cost_micros: u64 = 0;
    for machine in engine
        .machines
        .iter()
        .filter(|machine| machine.last_end.is_finite())
    {
        let pool = &pools[machine.pool];
        let per_hour = if machine.spot {
            pool.spot_per_hour_micros.unwrap_or(0)
        } else {
            pool.on_demand_per_hour_micros
        };
        let boot = (machine.first_start - pool.startup_s).max(0.0);
        let billed_ms = ((machine.last_end - boot) * 1000.0).ceil().max(0.0) as u128;
        let micros = (billed_ms * per_hour as u128).div_ceil(3_600_000);
        cost_micros = cost_micros.saturating_add(u64::try_from(micros).unwrap_or(u64::MAX));
    }
    let stats = PlanStats {
        critical_path_s,
        pool_cores: pools
            .iter()
            .map(|pool| (pool.name.clone(), pool.capacity.cores))
            .collect(),
        task_cores: tasks
            .iter()
            .map(|task| (task.id.clone(), task.requests.cores))
            .collect(),
        interruptions,
    };
    Schedule {
        makespan_s,
        cost_micros,
        decision_ms: 0.0,
        tasks: entries,
        stats: Some(stats),
    }
}

/// A one-screen human summary: makespan, cost, machines used, per-pool utilisation (core-seconds
/// of tasks over core-seconds of machines from their first start to their last end) and the
/// critical path length.
pub fn summary(schedule: &Schedule) -> String {
    struct PoolUse {
        machines: BTreeMap<String, (f64, f64)>,
        task_core_s: f64,
        spot_attempts: usize,
    }
    let stats = schedule.stats.clone().unwrap_or_default();
    let mut pools: BTreeMap<String, PoolUse> = BTreeMap::new();
    for entry in &schedule.tasks {
        let pool_name = entry.machine.split('#').next().unwrap_or("").to_string();
        let pool = pools.entry(pool_name).or_insert_with(|| PoolUse {
            machines: BTreeMap::new(),
            task_core_s: 0.0,
            spot_attempts: 0,
        });
        let span = pool
            .machines
            .entry(entry.machine.clone())
            .or_insert((f64::INFINITY, 0.0));
        span.0 = span.0.min(entry.start_s);
        span.1 = span.1.max(entry.finish_s);
        let cores = stats.task_cores.get(&entry.id).copied().unwrap_or(1) as f64;
        pool.task_core_s += cores * (entry.finish_s - entry.start_s);
        pool.spot_attempts += usize::from(entry.spot);
    }
    let n_tasks = schedule
        .tasks
        .iter()
        .filter(|entry| entry.attempts == 1)
        .count();
    let n_retries = schedule.tasks.len() - n_tasks;
    let mut out = String::new();
    let _ = writeln!(out, "makespan      {:.1} s", schedule.makespan_s);
    let _ = writeln!(
        out,
        "cost          {} micros (${:.4})",
        schedule.cost_micros,
        schedule.cost_micros as f64 / 1e6
    );
    let _ = writeln!(
        out,
        "tasks         {n_tasks} ({n_retries} retried attempts)"
    );
    let n_machines: usize = pools.values().map(|pool| pool.machines.len()).sum();
    let _ = writeln!(out, "machines used {n_machines}");
    if stats.critical_path_s > 0.0 {
        let _ = writeln!(
            out,
            "critical path {:.1} s (makespan is {:.2}x)",
            stats.critical_path_s,
            schedule.makespan_s / stats.critical_path_s
        );
    } else {
        let _ = writeln!(out, "critical path n/a");
    }
    let _ = writeln!(out, "decision      {:.2} ms", schedule.decision_ms);
    for (name, pool) in &pools {
        let cores = stats
            .pool_cores
            .iter()
            .find(|(pool_name, _)| pool_name == name)
            .map_or(1, |(_, c)| *c);
        let machine_core_s: f64 = pool
            .machines
            .values()
            .map(|(first, last)| (last - first) * cores as f64)
            .sum();
        let utilisation = if machine_core_s > 0.0 {
            pool.task_core_s / machine_core_s
        } else {
            0.0
        };
        let _ = writeln!(
            out,
            "pool {name:<16} machines {:>3}  utilisation {:>5.1}%  spot attempts {}",
            pool.machines.len(),
            utilisation * 100.0,
            pool.spot_attempts
        );
    }
    out
}
