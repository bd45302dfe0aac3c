//! An independent check that a schedule is feasible for its workflow and platform.

use std::collections::HashMap;

use crate::SchedError;
use crate::costs::Costs;
use crate::platform::{Platform, PoolKind};
use crate::resources::Resources;
use crate::schedule::{Schedule, ScheduledTask};
use crate::workflow::Workflow;

/// Slack for float rounding in time comparisons, in seconds.
const EPSILON_S: f64 = 1e-6;

/// Checks that every task runs, attempts are numbered 1..k and do not overlap, each task's last
/// attempt starts after its parents' last attempts end plus the transfer between machines, a
/// single attempt lasts the task's runtime on its pool, nothing runs on a machine before its
/// pool's start-up has passed, no machine ever holds more than its capacity, and the makespan
/// is the last finish. Returns the first violation found. Plan time 0 is the epoch: see
/// [`verify_at`] for plans with people.
pub fn verify(workflow: &Workflow, platform: &Platform, schedule: &Schedule) -> Result<(), String> {
    verify_at(workflow, platform, schedule, 0)
}

/// [`verify`] for a plan whose time 0 is `start_ms` on the calendar: a person's task starts
/// within working hours and lasts its runtime in working time.
pub fn verify_at(
    workflow: &Workflow,
    platform: &Platform,
    schedule: &Schedule,
    start_ms: u64,
) -> Result<(), String> {
    let costs = Costs::new(workflow, platform)
        .map_err(|err: SchedError| err.to_string())?
        .at_epoch(start_ms);
    let index: HashMap<&str, usize> = workflow
        .tasks()
        .iter()
        .enumerate()
        .map(|(idx, task)| (task.id.as_str(), idx))
        .collect();
    let mut by_task: Vec<Vec<&ScheduledTask>> = vec![Vec::new(); workflow.len()];
    for entry in &schedule.tasks {
        let task_idx = *index
            .get(entry.id.as_str())
            .ok_or(format!("unknown task {}", entry.id))?;
        if !(entry.start_s >= -EPSILON_S && entry.finish_s >= entry.start_s) {
            return Err(format!(
                "task {} has times {}..{}",
                entry.id, entry.start_s, entry.finish_s
            ));
        }
        let pool = &platform.pools[pool_of(platform, &entry.machine)?];
        if entry.start_s + EPSILON_S < pool.startup_s {
            return Err(format!(
                "task {} starts at {} on {}, before its start-up of {} s",
                entry.id, entry.start_s, entry.machine, pool.startup_s
            ));
        }
        by_task[task_idx].push(entry);
    }
    let mut last: Vec<&ScheduledTask> = Vec::with_capacity(workflow.len());
    for (task_idx, entries) in by_task.iter_mut().enumerate() {
        let id = &workflow.tasks()[task_idx].id;
        entries.sort_by_key(|entry| entry.attempts);
        for (position, entry) in entries.iter().enumerate() {
            if entry.attempts as usize != position + 1 {
                return Err(format!(
                    "task {id} has attempts numbered {}",
                    entry.attempts
                ));
            }
            if position > 0 && entry.start_s + EPSILON_S < entries[position - 1].finish_s {
                return Err(format!(
                    "task {id} attempt {} overlaps the one before",
                    entry.attempts
                ));
            }
        }
        let final_entry = *entries.last().ok_or(format!("task {id} never runs"))?;
        let pool_idx = pool_of(platform, &final_entry.machine)?;
        let runtime = costs.runtime(task_idx, pool_idx);
        if let PoolKind::People(hours) = &platform.pools[pool_idx].kind {
            let start_ms = costs.instant_ms(final_entry.start_s);
            let done_ms = hours.add_working(start_ms, (runtime * 1e3).ceil() as u64);
            let finish_ms = costs.instant_ms(final_entry.finish_s);
            if !hours.is_working(start_ms)
                || done_ms.is_none_or(|done| done.abs_diff(finish_ms) > 1)
            {
                return Err(format!(
                    "task {id} is a person's {runtime} s from {start_ms} to {finish_ms}, which working hours do not give"
                ));
            }
            last.push(final_entry);
            continue;
        }
        let duration = final_entry.finish_s - final_entry.start_s;
        let exact = entries.len() == 1 && (duration - runtime).abs() > EPSILON_S * runtime.max(1.0);
        if exact || duration > runtime + EPSILON_S * runtime.max(1.0) {
            return Err(format!(
                "task {id} runs {duration} s for a runtime of {runtime} s"
            ));
        }
        last.push(final_entry);
    }
    for (task_idx, task) in workflow.tasks().iter().enumerate() {
        for dep in &task.parents {
            let (child, parent) = (last[task_idx], last[dep.parent]);
            let transfer = if child.machine == parent.machine {
                0.0
            } else {
                platform.transfer_s(dep.bytes)
            };
            if child.start_s + EPSILON_S < parent.finish_s + transfer {
                return Err(format!(
                    "task {} starts at {} before parent {} is done and sent at {}",
                    task.id,
                    child.start_s,
                    parent.id,
                    parent.finish_s + transfer
                ));
            }
        }
    }
    check_capacity(workflow, platform, schedule, &index)?;
    let makespan = schedule
        .tasks
        .iter()
        .map(|entry| entry.finish_s)
        .fold(0.0, f64::max);
    if (makespan - schedule.makespan_s).abs() > EPSILON_S {
        return Err(format!(
            "makespan {} but the last finish is {makespan}",
            schedule.makespan_s
        ));
    }
    Ok(())
}

fn pool_of(platform: &Platform, machine: &str) -> Result<usize, String> {
    let (pool_name, machine_index) = machine
        .split_once('#')
        .ok_or(format!("machine {machine} lacks '#'"))?;
    machine_index
        .parse::<u32>()
        .map_err(|_| format!("machine {machine} has a bad index"))?;
    platform
        .pool_index(pool_name)
        .ok_or(format!("machine {machine} is in no pool"))
}

fn check_capacity(
    workflow: &Workflow,
    platform: &Platform,
    schedule: &Schedule,
    index: &HashMap<&str, usize>,
) -> Result<(), String> {
    // Per machine: +request at start, -request at finish; releases sort before holds.
    let mut events: HashMap<&str, Vec<(f64, bool, Resources)>> = HashMap::new();
    for entry in &schedule.tasks {
        if entry.finish_s <= entry.start_s {
            continue;
        }
        let request = workflow.tasks()[index[entry.id.as_str()]].requests;
        let machine_events = events.entry(entry.machine.as_str()).or_default();
        machine_events.push((entry.start_s, true, request));
        machine_events.push((entry.finish_s, false, request));
    }
    for (machine, mut machine_events) in events {
        let capacity = platform.pools[pool_of(platform, machine)?].capacity;
        machine_events.sort_by(|a, b| a.0.total_cmp(&b.0).then(a.1.cmp(&b.1)));
        let mut used = Resources::ZERO;
        for (time, holds, request) in machine_events {
            used = if holds {
                used.checked_add(&request).ok_or("usage overflows")?
            } else {
                used.checked_sub(&request).ok_or("usage goes negative")?
            };
            if !used.fits_in(&capacity) {
                return Err(format!(
                    "machine {machine} holds {used:?} at {time}, over {capacity:?}"
                ));
            }
        }
    }
    Ok(())
}
