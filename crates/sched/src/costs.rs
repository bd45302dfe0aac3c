//! Runtimes per task and pool, and the ranks computed from them (HEFT's upward rank, PEFT's
//! optimistic cost table, and the optimistic tail used for spot slack).

use crate::SchedError;
use crate::platform::Platform;
use crate::workflow::Workflow;

/// Precomputed runtimes; `f64::INFINITY` where a task does not fit a pool.
#[derive(Debug, Clone)]
pub(crate) struct Costs<'a> {
    pub workflow: &'a Workflow,
    pub platform: &'a Platform,
    n_pools: usize,
    runtime_s: Vec<f64>,
    /// The instant (ms since the epoch) plan time 0 stands for: people work by the calendar.
    pub epoch_ms: u64,
}

impl<'a> Costs<'a> {
    pub(crate) fn new(workflow: &'a Workflow, platform: &'a Platform) -> Result<Self, SchedError> {
        platform.validate()?;
        let n_pools = platform.pools.len();
        let explicit = workflow.explicit_runtimes();
        if let Some(rows) = explicit
            && rows.iter().any(|row| row.len() != n_pools)
        {
            return Err(SchedError::ExplicitRuntimes(format!(
                "every row needs {n_pools} pools"
            )));
        }
        let mut runtime_s = Vec::with_capacity(workflow.len() * n_pools);
        for (task_idx, task) in workflow.tasks().iter().enumerate() {
            let mut fits_somewhere = false;
            for (pool_idx, pool) in platform.pools.iter().enumerate() {
                // A person's task goes to people, any other to machines; API callers take none.
                let kind_fits = match pool.kind {
                    crate::platform::PoolKind::Machines => !task.person,
                    crate::platform::PoolKind::People(_) => task.person,
                    crate::platform::PoolKind::Api { .. } => false,
                };
                let runtime = if !kind_fits || !task.requests.fits_in(&pool.capacity) {
                    f64::INFINITY
                } else if let Some(rows) = explicit {
                    rows[task_idx][pool_idx]
                } else {
                    task.runtime_s / pool.speed
                };
                fits_somewhere |= runtime.is_finite();
                runtime_s.push(runtime);
            }
            if !fits_somewhere {
                return Err(SchedError::NoPoolFits {
                    task: task.id.clone(),
                });
            }
        }
        Ok(Costs {
            workflow,
            platform,
            n_pools,
            runtime_s,
            epoch_ms: 0,
        })
    }

    /// The same, with plan time 0 at `epoch_ms` on the calendar.
    pub(crate) fn at_epoch(mut self, epoch_ms: u64) -> Self {
        self.epoch_ms = epoch_ms;
        self
    }

    /// A plan time as an instant on the calendar (rounded up to the millisecond).
    pub(crate) fn instant_ms(&self, time_s: f64) -> u64 {
        self.epoch_ms
            .saturating_add((time_s.max(0.0) * 1e3).ceil() as u64)
    }

    /// An instant on the calendar as a plan time.
    pub(crate) fn plan_time_s(&self, instant_ms: u64) -> f64 {
        instant_ms.saturating_sub(self.epoch_ms) as f64 / 1e3
    }

    pub(crate) fn runtime(&self, task_idx: usize, pool_idx: usize) -> f64 {
        self.runtime_s[task_idx * self.n_pools + pool_idx]
    }

    /// Mean over machines (HEFT's w-bar), counting each pool once per machine.
    pub(crate) fn mean_runtime(&self, task_idx: usize) -> f64 {
        let (mut sum, mut n_machines) = (0.0, 0.0);
        for (pool_idx, pool) in self.platform.pools.iter().enumerate() {
            let runtime = self.runtime(task_idx, pool_idx);
            if runtime.is_finite() {
                sum += runtime * pool.machines as f64;
                n_machines += pool.machines as f64;
            }
        }
        sum / n_machines
    }

    pub(crate) fn min_runtime(&self, task_idx: usize) -> f64 {
        (0..self.n_pools)
            .map(|pool_idx| self.runtime(task_idx, pool_idx))
            .fold(f64::INFINITY, f64::min)
    }

    pub(crate) fn transfer_s(&self, bytes: u64) -> f64 {
        self.platform.transfer_s(bytes)
    }

    /// HEFT's upward rank: mean runtime plus the longest mean path (with transfers) to an exit.
    pub(crate) fn upward_rank(&self) -> Vec<f64> {
        let mut rank = vec![0.0; self.workflow.len()];
        for &task_idx in self.workflow.topo_order().iter().rev() {
            let tail = self
                .workflow
                .children(task_idx)
                .iter()
                .map(|child| self.transfer_s(child.bytes) + rank[child.parent])
                .fold(0.0, f64::max);
            rank[task_idx] = self.mean_runtime(task_idx) + tail;
        }
        rank
    }

    /// PEFT's optimistic cost table, `oct[task * n_pools + pool]`: the shortest possible time
    /// from the end of `task` on `pool` to the end of the workflow. A pool stands for its
    /// machines, so a child on the same pool is taken to be on the same machine (no transfer).
    pub(crate) fn optimistic_cost_table(&self) -> Vec<f64> {
        let n_pools = self.n_pools;
        let mut oct = vec![0.0; self.workflow.len() * n_pools];
        for &task_idx in self.workflow.topo_order().iter().rev() {
            for pool_idx in 0..n_pools {
                let mut worst_child: f64 = 0.0;
                for child in self.workflow.children(task_idx) {
                    let child_idx = child.parent;
                    let transfer = self.transfer_s(child.bytes);
                    let best = (0..n_pools)
                        .map(|child_pool| {
                            let comm = if child_pool == pool_idx {
                                0.0
                            } else {
                                transfer
                            };
                            oct[child_idx * n_pools + child_pool]
                                + self.runtime(child_idx, child_pool)
                                + comm
                        })
                        .fold(f64::INFINITY, f64::min);
                    worst_child = worst_child.max(best);
                }
                oct[task_idx * n_pools + pool_idx] = worst_child;
            }
        }
        oct
    }

    /// PEFT's rank: the optimistic cost averaged over the pools the task fits.
    pub(crate) fn oct_rank(&self, oct: &[f64]) -> Vec<f64> {
        (0..self.workflow.len())
            .map(|task_idx| {
                let (mut sum, mut n) = (0.0, 0.0);
                for pool_idx in 0..self.n_pools {
                    if self.runtime(task_idx, pool_idx).is_finite() {
                        sum += oct[task_idx * self.n_pools + pool_idx];
                        n += 1.0;
                    }
                }
                sum / n
            })
            .collect()
    }

    /// Shortest time from a task's end to the workflow's end: fastest runtimes, no transfers.
    pub(crate) fn optimistic_tail(&self) -> Vec<f64> {
        let mut tail = vec![0.0; self.workflow.len()];
        for &task_idx in self.workflow.topo_order().iter().rev() {
            tail[task_idx] = self
                .workflow
                .children(task_idx)
                .iter()
                .map(|child| self.min_runtime(child.parent) + tail[child.parent])
                .fold(0.0, f64::max);
        }
        tail
    }

    /// Length of the critical path with the fastest runtimes and no transfers: a lower bound.
    pub(crate) fn critical_path_s(&self) -> f64 {
        let tail = self.optimistic_tail();
        (0..self.workflow.len())
            .filter(|&task_idx| self.workflow.tasks()[task_idx].parents.is_empty())
            .map(|task_idx| self.min_runtime(task_idx) + tail[task_idx])
            .fold(0.0, f64::max)
    }
}
