//! Lower bounds on the makespan of any plan of a workflow on a platform, in the planner's model
//! (a fresh machine takes tasks only after its pool's start-up; a task runs its runtime on its
//! pool; transfers are never negative). No plan, HEFT's or Purser's, can beat their maximum, so
//! they tell where a scheduler is already optimal and how much room is left elsewhere.

mod capacity;

use crate::SchedError;
use crate::costs::Costs;
use crate::platform::Platform;
use crate::workflow::Workflow;
use capacity::Capacity;

/// Three lower bounds on the makespan, in seconds; the largest one is the bound.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct LowerBound {
    /// The longest path with each task on its fastest pool, after that pool's start-up, with
    /// unlimited machines and no transfers.
    pub critical_path_s: f64,
    /// The earliest time by which the platform, every machine busy on every core from the end
    /// of its start-up, has done the workflow's work (core-seconds at speed 1).
    pub work_s: f64,
    /// The critical path again, where a task also waits until all of its ancestors could be
    /// done, and the workflow ends no earlier than all of a task's descendants could be done
    /// after it; "could be done" is the larger of the work bound above and a packing of whole
    /// tasks on cores (so `cores + 1` long tasks before a merge need a core to run two).
    pub precedence_s: f64,
}

impl LowerBound {
    pub fn makespan_s(&self) -> f64 {
        self.critical_path_s.max(self.work_s).max(self.precedence_s)
    }
}

/// All three; fails only where planning would (an invalid platform, a task that fits nowhere).
/// Cost: ancestor and descendant bitsets, O(tasks^2 / 64) words, and a sort of each set.
pub fn lower_bound(workflow: &Workflow, platform: &Platform) -> Result<LowerBound, SchedError> {
    let costs = Costs::new(workflow, platform)?;
    let capacity = Capacity::new(platform);
    let work = task_work(&costs);
    Ok(LowerBound {
        critical_path_s: propagate(&costs, |_, _| 0.0, |_, finish| finish),
        work_s: capacity.fluid_done_by(0.0, work.iter().sum()),
        precedence_s: precedence_s(&costs, &capacity, &work),
    })
}

/// Earliest starts and finishes in topological order: a task starts after its parents'
/// earliest finishes and after `ready(task, earliest_starts)`, on the pool where it ends
/// first; returns the largest of `end(task, finish)`.
fn propagate(
    costs: &Costs,
    mut ready: impl FnMut(usize, &[f64]) -> f64,
    mut end: impl FnMut(usize, f64) -> f64,
) -> f64 {
    let pools = &costs.platform.pools;
    let n_tasks = costs.workflow.len();
    let (mut earliest_start, mut earliest_finish) = (vec![0.0f64; n_tasks], vec![0.0f64; n_tasks]);
    let mut bound: f64 = 0.0;
    for &task_idx in costs.workflow.topo_order() {
        let after_parents = costs.workflow.tasks()[task_idx]
            .parents
            .iter()
            .map(|dep| earliest_finish[dep.parent])
            .fold(0.0, f64::max);
        // The ancestors' own starts are final here: they come first in topological order.
        let start = after_parents.max(ready(task_idx, &earliest_start));
        earliest_start[task_idx] = start;
        let finish = pools
            .iter()
            .enumerate()
            .map(|(pool_idx, pool)| start.max(pool.startup_s) + costs.runtime(task_idx, pool_idx))
            .fold(f64::INFINITY, f64::min);
        earliest_finish[task_idx] = finish;
        bound = bound.max(end(task_idx, finish));
    }
    bound
}

/// A task's work: its shortest runtime scaled back to speed 1 (exact for runtimes derived
/// from speeds, a relaxation for explicit ones), once per core it holds.
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

/// Ancestor (or, in reverse, descendant) sets as bitsets, one row of `words` per task.
fn closure(costs: &Costs, descendants: bool) -> (Vec<u64>, usize) {
    let workflow = costs.workflow;
    let words = workflow.len().div_ceil(64);
    let mut sets = vec![0u64; workflow.len() * words];
    let order: Vec<usize> = if descendants {
        workflow.topo_order().iter().rev().copied().collect()
    } else {
        workflow.topo_order().to_vec()
    };
    for task_idx in order {
        let linked = if descendants {
            workflow.children(task_idx)
        } else {
            &workflow.tasks()[task_idx].parents
        };
        for dep in linked {
            let (other_row, row) = (dep.parent * words, task_idx * words);
            for word in 0..words {
                sets[row + word] |= sets[other_row + word];
            }
            sets[row + dep.parent / 64] |= 1 << (dep.parent % 64);
        }
    }
    (sets, words)
}

/// Release levels the packing looks at in a set: its latest distinct earliest starts.
const MAX_RELEASE_LEVELS: usize = 8;

/// One task of a set: its work, its cores and the earliest it can start.
#[derive(Debug, Clone, Copy)]
struct Member {
    work: f64,
    cores: usize,
    release: f64,
}

/// How soon a set of tasks could be done from `from`: its total work as a fluid, and its
/// largest pieces (one per core a task holds) packed on cores. With `releases` (earliest
/// starts), the same again for the members released at each of the latest few release times,
/// from that time: nine long tasks that all wait for one short one cannot use its head start.
fn set_done_by(
    capacity: &Capacity,
    costs: &Costs,
    work: &[f64],
    set: &[u64],
    from: f64,
    releases: Option<&[f64]>,
) -> f64 {
    let mut members = Vec::new();
    for (word_idx, &word) in set.iter().enumerate() {
        let mut bits = word;
        while bits != 0 {
            let task_idx = word_idx * 64 + bits.trailing_zeros() as usize;
            bits &= bits - 1;
            members.push(Member {
                work: work[task_idx],
                cores: costs.workflow.tasks()[task_idx].requests.cores.max(1) as usize,
                release: releases.map_or(from, |releases| releases[task_idx].max(from)),
            });
        }
    }
    let mut levels: Vec<f64> = members.iter().map(|member| member.release).collect();
    levels.sort_by(|a, b| b.total_cmp(a));
    levels.dedup();
    levels.truncate(MAX_RELEASE_LEVELS);
    // The whole set, from `from`, is always one of the levels.
    levels.push(from);
    let mut bound = from;
    let mut pieces = Vec::new();
    for level in levels {
        pieces.clear();
        let mut total = 0.0;
        for member in members.iter().filter(|member| member.release >= level) {
            total += member.work;
            let piece = member.work / member.cores as f64;
            let n_pieces = member.cores.min(capacity.pieces_wanted());
            pieces.extend(std::iter::repeat_n(piece, n_pieces));
        }
        pieces.sort_by(|a, b| b.total_cmp(a));
        pieces.truncate(capacity.pieces_wanted());
        bound = bound
            .max(capacity.fluid_done_by(level, total))
            .max(capacity.packed_by(level, &pieces));
    }
    bound
}

fn precedence_s(costs: &Costs, capacity: &Capacity, work: &[f64]) -> f64 {
    let (ancestors, words) = closure(costs, false);
    let (descendants, _) = closure(costs, true);
    let row = |task_idx: usize| task_idx * words..(task_idx + 1) * words;
    propagate(
        costs,
        |task_idx, earliest_start| {
            let set = &ancestors[row(task_idx)];
            set_done_by(capacity, costs, work, set, 0.0, Some(earliest_start))
        },
        |task_idx, finish| {
            let set = &descendants[row(task_idx)];
            set_done_by(capacity, costs, work, set, finish, None)
        },
    )
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
            kind: Default::default(),
        }
    }

    /// `tasks`: (runtime, cores, parents).
    fn check(tasks: &[(f64, u64, &[usize])], pools: Vec<Pool>, expected: (f64, f64, f64)) {
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
        let got = (bound.critical_path_s, bound.work_s, bound.precedence_s);
        let close = |a: f64, b: f64| (a - b).abs() < 1e-9;
        assert!(
            close(got.0, expected.0) && close(got.1, expected.1) && close(got.2, expected.2),
            "got {got:?}, want {expected:?}"
        );
    }

    #[test]
    fn bounds_of_small_cases() {
        // A chain of two: the path adds up, transfers are ignored; 20 core-s on 1 core.
        check(
            &[(10.0, 1, &[]), (10.0, 1, &[0])],
            vec![pool(1, 1, 1.0, 0.0)],
            (20.0, 20.0, 20.0),
        );
        // Ten independent tasks on 2 machines of 2 cores: work 100 / 4 cores.
        let ten: Vec<(f64, u64, &[usize])> = vec![(10.0, 1, &[]); 10];
        check(&ten, vec![pool(2, 2, 1.0, 0.0)], (10.0, 25.0, 10.0));
        // A faster pool that starts late: the path takes the slow pool at once (10 s) rather
        // than the fast one after its start-up (60 + 5 s); the slow pool alone (5 core-s/s)
        // does the 100 core-s of work in 20 s.
        check(
            &ten,
            vec![pool(1, 5, 1.0, 0.0), pool(4, 1, 2.0, 60.0)],
            (10.0, 20.0, 10.0),
        );
        // 300 core-s: done by the slow pool exactly when the fast one starts.
        let thirty: Vec<(f64, u64, &[usize])> = vec![(10.0, 1, &[]); 30];
        check(
            &thirty,
            vec![pool(1, 5, 1.0, 0.0), pool(4, 1, 2.0, 60.0)],
            (10.0, 60.0, 10.0),
        );
        // 430 core-s: 300 by 60 s, then 130 at 5 + 4 x 2 = 13 per second.
        let forty_three: Vec<(f64, u64, &[usize])> = vec![(10.0, 1, &[]); 43];
        check(
            &forty_three,
            vec![pool(1, 5, 1.0, 0.0), pool(4, 1, 2.0, 60.0)],
            (10.0, 70.0, 10.0),
        );
        // Wide tasks count their cores; the fast pool halves a long task's path.
        check(
            &[(100.0, 4, &[]), (10.0, 1, &[0])],
            vec![pool(1, 4, 1.0, 0.0), pool(1, 4, 2.0, 0.0)],
            (55.0, 410.0 / 12.0, 55.0),
        );
        // Nine 50 s tasks before a 10 s merge, 8 local cores and a twice-as-fast pool from
        // 60 s: the path says 60, but one of the nine must wait for the fast pool (60 + 25),
        // so the merge starts at 85 and ends at 90 on the fast pool.
        let mut merge: Vec<(f64, u64, &[usize])> = vec![(50.0, 1, &[]); 9];
        merge.push((10.0, 1, &[0, 1, 2, 3, 4, 5, 6, 7, 8]));
        check(
            &merge,
            vec![pool(1, 8, 1.0, 0.0), pool(4, 8, 2.0, 60.0)],
            (60.0, 460.0 / 8.0, 90.0),
        );
    }
}
