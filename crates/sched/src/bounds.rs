//! Lower bounds on the makespan of any plan of a workflow on a platform, in the planner's model
//! (a fresh machine takes tasks only after its pool's start-up; a task runs its runtime on its
//! pool; transfers are never negative). No plan, HEFT's or Purser's, can beat their maximum, so
//! they tell where a scheduler is already optimal.

use crate::SchedError;
use crate::costs::Costs;
use crate::platform::Platform;
use crate::workflow::Workflow;

/// Three lower bounds on the makespan, in seconds; the largest one is the bound.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct LowerBound {
    /// The longest path with each task on its fastest pool, after that pool's start-up, with
    /// unlimited machines and no transfers.
    pub critical_path_s: f64,
    /// The earliest time by which the platform, every machine busy on every core from the end
    /// of its start-up, has done the workflow's work (core-seconds at speed 1).
    pub work_s: f64,
    /// The largest, over tasks, of: the work of all its ancestors done as above, then the task
    /// on its fastest pool, then the work of all its descendants. Catches a long task that
    /// waits for many parents (a merge) or that many tasks wait for.
    pub precedence_work_s: f64,
}

impl LowerBound {
    pub fn makespan_s(&self) -> f64 {
        self.critical_path_s
            .max(self.work_s)
            .max(self.precedence_work_s)
    }
}

/// All three; fails only where planning would (an invalid platform, a task that fits nowhere).
pub fn lower_bound(workflow: &Workflow, platform: &Platform) -> Result<LowerBound, SchedError> {
    let costs = Costs::new(workflow, platform)?;
    let (critical_path_s, earliest_start) = critical_path(&costs);
    Ok(LowerBound {
        critical_path_s,
        work_s: work_s(&costs),
        precedence_work_s: precedence_work_s(&costs, &earliest_start),
    })
}

/// The critical path bound, and each task's earliest start on it.
fn critical_path(costs: &Costs) -> (f64, Vec<f64>) {
    let pools = &costs.platform.pools;
    let n_tasks = costs.workflow.len();
    let (mut earliest_start, mut earliest_finish) = (vec![0.0f64; n_tasks], vec![0.0f64; n_tasks]);
    for &task_idx in costs.workflow.topo_order() {
        earliest_start[task_idx] = costs.workflow.tasks()[task_idx]
            .parents
            .iter()
            .map(|dep| earliest_finish[dep.parent])
            .fold(0.0, f64::max);
        earliest_finish[task_idx] = pools
            .iter()
            .enumerate()
            .map(|(pool_idx, pool)| {
                earliest_start[task_idx].max(pool.startup_s) + costs.runtime(task_idx, pool_idx)
            })
            .fold(f64::INFINITY, f64::min);
    }
    let bound = earliest_finish.into_iter().fold(0.0, f64::max);
    (bound, earliest_start)
}

/// A task's work: its cores times its shortest runtime scaled back to speed 1 (exact for
/// runtimes derived from speeds, a relaxation for explicit ones).
fn task_work(costs: &Costs) -> Vec<f64> {
    let pools = &costs.platform.pools;
    (0..costs.workflow.len())
        .map(|task_idx| {
            let cores = costs.workflow.tasks()[task_idx].requests.cores as f64;
            let shortest = pools
                .iter()
                .enumerate()
                .map(|(pool_idx, pool)| costs.runtime(task_idx, pool_idx) * pool.speed)
                .fold(f64::INFINITY, f64::min);
            cores * shortest
        })
        .collect()
}

/// The platform's capacity over time: a pool does `machines x cores x speed` of work per second
/// once its start-up is over.
struct Capacity {
    /// (start-up, rate), by start-up.
    steps: Vec<(f64, f64)>,
}

impl Capacity {
    fn new(platform: &Platform) -> Self {
        let mut steps: Vec<(f64, f64)> = platform
            .pools
            .iter()
            .map(|pool| {
                let rate = pool.machines as f64 * pool.capacity.cores as f64 * pool.speed;
                (pool.startup_s, rate)
            })
            .collect();
        steps.sort_by(|a, b| a.0.total_cmp(&b.0));
        Capacity { steps }
    }

    /// The earliest time by which `work` can be done when starting at `from`.
    fn done_by(&self, from: f64, work: f64) -> f64 {
        if work <= 0.0 {
            return from;
        }
        let (mut time, mut rate, mut done) = (from, 0.0, 0.0);
        // Between two start-ups the platform works at a constant rate.
        for (idx, &(startup_s, pool_rate)) in self.steps.iter().enumerate() {
            if startup_s > time {
                done += rate * (startup_s - time);
                time = startup_s;
            }
            rate += pool_rate;
            let next = self.steps.get(idx + 1).map_or(f64::INFINITY, |next| next.0);
            let segment_end = next.max(time);
            if rate > 0.0 && done + rate * (segment_end - time) >= work {
                return time + (work - done) / rate;
            }
        }
        unreachable!("the last segment never ends and its rate is positive")
    }
}

fn work_s(costs: &Costs) -> f64 {
    let work: f64 = task_work(costs).iter().sum();
    Capacity::new(costs.platform).done_by(0.0, work)
}

/// For each task: all the work of its ancestors is done before it starts (and after the
/// earliest start of its path), and all the work of its descendants after it ends. Ancestor
/// and descendant sets are bitsets built in topological order: O(tasks^2 / 64) words.
fn precedence_work_s(costs: &Costs, earliest_start: &[f64]) -> f64 {
    let workflow = costs.workflow;
    let pools = &costs.platform.pools;
    let n_tasks = workflow.len();
    let words = n_tasks.div_ceil(64);
    let work = task_work(costs);
    let capacity = Capacity::new(costs.platform);
    let set_work = |set: &[u64]| -> f64 {
        let mut sum = 0.0;
        for (word_idx, &word) in set.iter().enumerate() {
            let mut bits = word;
            while bits != 0 {
                sum += work[word_idx * 64 + bits.trailing_zeros() as usize];
                bits &= bits - 1;
            }
        }
        sum
    };
    let mut ancestors = vec![0u64; n_tasks * words];
    for &task_idx in workflow.topo_order() {
        for dep in &workflow.tasks()[task_idx].parents {
            let (parent_row, row) = (dep.parent * words, task_idx * words);
            for word in 0..words {
                ancestors[row + word] |= ancestors[parent_row + word];
            }
            ancestors[row + dep.parent / 64] |= 1 << (dep.parent % 64);
        }
    }
    let mut descendants = vec![0u64; n_tasks * words];
    for &task_idx in workflow.topo_order().iter().rev() {
        for child in workflow.children(task_idx) {
            let (child_row, row) = (child.parent * words, task_idx * words);
            for word in 0..words {
                descendants[row + word] |= descendants[child_row + word];
            }
            descendants[row + child.parent / 64] |= 1 << (child.parent % 64);
        }
    }
    let mut bound: f64 = 0.0;
    for task_idx in 0..n_tasks {
        let row = task_idx * words..(task_idx + 1) * words;
        let start = capacity
            .done_by(0.0, set_work(&ancestors[row.clone()]))
            .max(earliest_start[task_idx]);
        let finish = pools
            .iter()
            .enumerate()
            .map(|(pool_idx, pool)| start.max(pool.startup_s) + costs.runtime(task_idx, pool_idx))
            .fold(f64::INFINITY, f64::min);
        bound = bound.max(capacity.done_by(finish, set_work(&descendants[row])));
    }
    bound
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::platform::Pool;
    use crate::resources::Resources;
    use crate::workflow::{Dep, Task};

    fn pool(machines: u32, cores: u64, speed: f64, startup_s: f64) -> Pool {
        Pool {
            name: format!("p{machines}-{cores}-{speed}-{startup_s}"),
            machines,
            capacity: Resources::cores(cores),
            speed,
            on_demand_per_hour_micros: 0,
            spot_per_hour_micros: None,
            startup_s,
            interruptions_per_hour: 0.0,
        }
    }

    /// `tasks`: (runtime, cores, parents).
    fn check(tasks: &[(f64, u64, &[usize])], pools: Vec<Pool>, expected: (f64, f64)) {
        let tasks = tasks
            .iter()
            .enumerate()
            .map(|(idx, &(runtime, cores, parents))| {
                let mut task = Task::new(format!("t{idx}"), runtime);
                task.requests = Resources::cores(cores);
                task.parents = parents
                    .iter()
                    .map(|&parent| Dep {
                        parent,
                        bytes: 1_000_000_000,
                    })
                    .collect();
                task
            })
            .collect();
        let workflow = Workflow::new("w", tasks).unwrap();
        let platform = Platform {
            bandwidth_mbps: 1.0,
            pools,
        };
        let bound = lower_bound(&workflow, &platform).unwrap();
        let got = (bound.critical_path_s, bound.work_s);
        assert!(bound.precedence_work_s <= bound.makespan_s());
        assert!(
            (got.0 - expected.0).abs() < 1e-9 && (got.1 - expected.1).abs() < 1e-9,
            "got {got:?}, want {expected:?}"
        );
    }

    #[test]
    fn bounds_of_small_cases() {
        // A chain of two: the path adds up, transfers are ignored; 20 core-s on 1 core.
        check(
            &[(10.0, 1, &[]), (10.0, 1, &[0])],
            vec![pool(1, 1, 1.0, 0.0)],
            (20.0, 20.0),
        );
        // Ten independent tasks on 2 machines of 2 cores: work 100 / 4 cores.
        let ten: Vec<(f64, u64, &[usize])> = vec![(10.0, 1, &[]); 10];
        check(&ten, vec![pool(2, 2, 1.0, 0.0)], (10.0, 25.0));
        // A faster pool that starts late: the path takes the slow pool at once (10 s) rather
        // than the fast one after its start-up (60 + 5 s); the slow pool alone (5 core-s/s)
        // does the 100 core-s of work in 20 s.
        check(
            &ten,
            vec![pool(1, 5, 1.0, 0.0), pool(4, 1, 2.0, 60.0)],
            (10.0, 20.0),
        );
        // 300 core-s: done by the slow pool exactly when the fast one starts.
        let thirty: Vec<(f64, u64, &[usize])> = vec![(10.0, 1, &[]); 30];
        check(
            &thirty,
            vec![pool(1, 5, 1.0, 0.0), pool(4, 1, 2.0, 60.0)],
            (10.0, 60.0),
        );
        // 430 core-s: 300 by 60 s, then 130 at 5 + 4 x 2 = 13 per second.
        let forty_three: Vec<(f64, u64, &[usize])> = vec![(10.0, 1, &[]); 43];
        check(
            &forty_three,
            vec![pool(1, 5, 1.0, 0.0), pool(4, 1, 2.0, 60.0)],
            (10.0, 70.0),
        );
        // Wide tasks count their cores; the fast pool halves a long task's path.
        check(
            &[(100.0, 4, &[]), (10.0, 1, &[0])],
            vec![pool(1, 4, 1.0, 0.0), pool(1, 4, 2.0, 0.0)],
            (55.0, 410.0 / 12.0),
        );
    }
}
