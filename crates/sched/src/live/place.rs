//! Placement: eligible tasks onto present machines with free capacity, by the live [`tick`]
//! (priority, rank, fair share, then the objective's weights) under the tenants' quotas.
//!
//! Spot: in the server, a pool with a spot price runs spot machines (their workers may be
//! interrupted, see `control.rs`). A task goes there only if its slack absorbs an interruption:
//! the longest remaining path of its DAG (the highest rank among the DAG's tasks in line or
//! holding a machine) minus its own rank must cover a restart (the shortest start-up of its
//! pools) plus the work it could lose (its runtime, or one lease TTL when it checkpoints). A task
//! without that slack keeps its on-demand pools, or the spot ones when it has nothing else.

use std::collections::{BTreeMap, BTreeSet, HashMap, HashSet};

use super::control::{Denied, PREEMPTORS_PER_PASS};
use super::ladder::Ladder;
use super::{
    Budget, CostAsk, DagEvent, DagState, LiveTask, OpenCharge, TaskMove, TaskRef, Unaffordable,
};
use crate::quota::Quotas;
use crate::state::TaskState;
use crate::tick::{EligibleTask, FreeMachine, TickPool, tick};

impl DagState {
    /// Places what fits now, preempting borrowed quota for higher priority work when the quotas
    /// refuse it; answers how many tasks were placed.
    pub(crate) fn place(
        &mut self,
        now_ms: u64,
        events: &mut Vec<DagEvent>,
        budget: &mut dyn Budget,
    ) -> usize {
        self.place_pass(now_ms, events, true, budget)
    }

    fn place_pass(
        &mut self,
        now_ms: u64,
        events: &mut Vec<DagEvent>,
        preempt: bool,
        budget: &mut dyn Budget,
    ) -> usize {
        if self.eligible.is_empty() {
            return 0;
        }
        let mut free: Vec<FreeMachine> = self
            .machines
            .iter()
            .enumerate()
            .filter(|(_, machine)| machine.present_until_ms > now_ms)
            // People take tasks only within their working hours.
            .filter(|(machine_idx, _)| !self.off_hours(*machine_idx as u32, now_ms))
            .filter_map(|(machine_idx, machine)| {
                let capacity = self.config.pools[machine.pool as usize].capacity;
                // A config that shrank a pool leaves no room rather than panicking.
                let free = capacity.checked_sub(&machine.used)?;
                (free.cores > 0).then_some(FreeMachine {
                    id: machine_idx as u32,
                    pool: machine.pool as usize,
                    free,
                })
            })
            .collect();
        // With quotas, a full platform may still preempt borrowed capacity below.
        if free.is_empty() && (self.config.quotas.is_none() || !preempt) {
            return 0;
        }
        let mut quotas = self.quotas_in_use();
        let candidates: Vec<TaskRef> = self
            .eligible
            .iter()
            .take(self.config.limits.eligible_per_pass_max)
            .map(|&(_, _, task)| task)
            .collect();
        let spot_mask = self.spot_mask();
        let dag_reach = self.dag_reach(&candidates, spot_mask);
        let mut tenants: Vec<&str> = Vec::new();
        let mut tenant_idx: HashMap<&str, u32> = HashMap::new();
        // Holds taken for the placements of charged DAGs, and why a DAG's task was refused.
        let mut charged: HashMap<TaskRef, OpenCharge> = HashMap::new();
        let mut refused: BTreeMap<u64, Unaffordable> = BTreeMap::new();
        let mut ladder = Ladder::default();
        // What this pass placed on each API pool: (requests, tokens).
        let mut api_placed: HashMap<usize, (u64, u64)> = HashMap::new();
        // Tasks grouped by the pools they may use; most tasks share one mask.
        let mut groups: BTreeMap<u64, Vec<EligibleTask>> = BTreeMap::new();
        for (candidate_idx, task_ref) in candidates.iter().enumerate() {
            let (dag, task) = self.task(*task_ref).expect("an eligible task exists");
            let mask = self.usable_pools(task, dag_reach.get(&task_ref.dag).copied(), spot_mask);
            let mask = match self.ladder_mask(*task_ref, mask, &mut ladder, budget) {
                Ok(mask) => mask,
                Err(why) => {
                    refused.entry(task_ref.dag).or_insert(why);
                    continue;
                }
            };
            let tenant = *tenant_idx.entry(dag.tenant.as_str()).or_insert_with(|| {
                tenants.push(dag.tenant.as_str());
                tenants.len() as u32 - 1
            });
            groups.entry(mask).or_default().push(EligibleTask {
                id: candidate_idx as u64,
                tenant,
                priority: task.spec.priority,
                rank: task.rank_ms as f64,
                runtime_s: task.spec.runtime_ms as f64 / 1e3,
                requests: task.spec.requests,
                tenant_usage: self.tenant_cores.get(&dag.tenant).copied().unwrap_or(0),
            });
        }
        // The group holding the best task goes first (candidates are in line order).
        let mut order: Vec<(u64, u64)> = groups
            .iter()
            .map(|(&mask, tasks)| (tasks[0].id, mask))
            .collect();
        order.sort_unstable();
        let pools: Vec<TickPool> = self
            .config
            .pools
            .iter()
            .map(|pool| TickPool {
                name: pool.name.clone(),
                speed: pool.speed,
                price_per_hour_micros: pool
                    .spot_per_hour_micros
                    .unwrap_or(pool.on_demand_per_hour_micros),
            })
            .collect();
        let mut placements: Vec<(TaskRef, u32)> = Vec::new();
        for (_, mask) in order {
            let tasks = &groups[&mask];
            let usable_idx: Vec<usize> = (0..free.len())
                .filter(|&idx| mask & (1u64 << free[idx].pool) != 0)
                .collect();
            let mut usable: Vec<FreeMachine> =
                usable_idx.iter().map(|&idx| free[idx].clone()).collect();
            if usable.is_empty() {
                continue;
            }
            let assignments = tick(
                now_ms as f64 / 1e3,
                &pools,
                tasks,
                &mut usable,
                &self.config.weights,
                |task, pool_idx| {
                    let (tenant, pool) = (tenants[task.tenant as usize], &pools[pool_idx].name);
                    // Quotas first: a hold is taken only for a placement that happens.
                    if let Some(quotas) = &quotas
                        && !quotas.admits(tenant, pool, &task.requests)
                    {
                        return false;
                    }
                    let task_ref = candidates[task.id as usize];
                    if !ladder.has_room(task_ref.dag) {
                        return false;
                    }
                    let api_extra = api_placed.get(&pool_idx).copied().unwrap_or((0, 0));
                    if !self.api_fits(task_ref, pool_idx, api_extra, now_ms) {
                        // The window is full: the task waits for it to slide.
                        return false;
                    }
                    if let Some(open) = self.price_placement(task_ref, pool_idx) {
                        match self.hold_for(task_ref, open, budget) {
                            Ok(open) => {
                                charged.insert(task_ref, open);
                            }
                            Err(why) => {
                                refused.entry(task_ref.dag).or_insert(why);
                                return false;
                            }
                        }
                    }
                    if let Some(quotas) = &mut quotas {
                        let admitted = quotas.try_admit(tenant, pool, &task.requests);
                        debug_assert!(admitted.is_ok(), "the quotas admitted it a moment ago");
                    }
                    ladder.count(task_ref.dag);
                    let (requests, tokens) = self.api_use(task_ref);
                    if requests > 0 || tokens > 0 {
                        let placed = api_placed.entry(pool_idx).or_insert((0, 0));
                        *placed = (placed.0 + requests, placed.1 + tokens);
                    }
                    true
                },
            );
            for (machine, &idx) in usable.iter().zip(&usable_idx) {
                free[idx].free = machine.free;
            }
            placements.extend(
                assignments
                    .iter()
                    .map(|assignment| (candidates[assignment.task as usize], assignment.machine)),
            );
        }
        let resumed: BTreeSet<u64> = placements
            .iter()
            .map(|(task, _)| task.dag)
            .filter(|dag| self.paused.contains_key(dag))
            .collect();
        for dag in resumed {
            self.emit(DagEvent::Resumed { dag, at_ms: now_ms }, events);
        }
        for &(task, machine) in &placements {
            if let Some(charge) = charged.remove(&task) {
                let event = DagEvent::Charged {
                    task,
                    charge,
                    at_ms: now_ms,
                };
                self.emit(event, events);
            }
            let moved = TaskMove {
                machine: Some(machine),
                lease_expires_ms: self.deadline(task, machine, now_ms),
                ..self.move_of(task, TaskState::Scheduled, now_ms)
            };
            self.emit(DagEvent::Moved(moved), events);
        }
        for (dag, why) in refused {
            let progressed = placements.iter().any(|(task, _)| task.dag == dag);
            if !progressed && !self.paused.contains_key(&dag) {
                let paused = DagEvent::Paused {
                    dag,
                    why,
                    at_ms: now_ms,
                };
                self.emit(paused, events);
            }
        }
        let mut n_placed = placements.len();
        if !preempt {
            return n_placed;
        }
        let Some(quotas) = &mut quotas else {
            return n_placed;
        };
        // Tasks left in line that the quotas refuse (machines may be full as well: preemption
        // frees both), the first in line first.
        let placed: HashSet<TaskRef> = placements.iter().map(|&(task, _)| task).collect();
        let mut denied: Vec<Denied> = Vec::new();
        for &task_ref in candidates.iter().filter(|task| !placed.contains(task)) {
            if denied.len() >= PREEMPTORS_PER_PASS {
                break;
            }
            let (dag, task) = self.task(task_ref).expect("a candidate exists");
            let mask = self.usable_pools(task, dag_reach.get(&task_ref.dag).copied(), spot_mask);
            for (pool_idx, pool) in self.config.pools.iter().enumerate() {
                if mask & (1u64 << pool_idx) != 0
                    && !quotas.admits(&dag.tenant, &pool.name, &task.spec.requests)
                {
                    denied.push(Denied {
                        task: task_ref,
                        pool: pool_idx,
                    });
                }
            }
        }
        if !denied.is_empty() && self.preempt_for(&denied, quotas, now_ms, events) > 0 {
            // The preemptors are first in line for what was freed; one more pass, without
            // preemption, so that a decision never chains.
            n_placed += self.place_pass(now_ms, events, false, budget);
        }
        n_placed
    }

    /// Bit `p` set: pool `p` runs spot machines (in the server, a pool with a spot price).
    fn spot_mask(&self) -> u64 {
        self.config
            .pools
            .iter()
            .enumerate()
            .filter(|(_, pool)| pool.spot_per_hour_micros.is_some())
            .fold(0, |mask, (pool_idx, _)| mask | (1u64 << pool_idx))
    }

    /// Per DAG among the candidates, the longest remaining path: the highest rank among its
    /// candidates and its tasks holding a machine (ranks fall along edges, so a waiting task
    /// never has the highest). Empty when no pool is spot: nothing needs it.
    fn dag_reach(&self, candidates: &[TaskRef], spot_mask: u64) -> HashMap<u64, u64> {
        let mut reach: HashMap<u64, u64> = HashMap::new();
        if spot_mask == 0 {
            return reach;
        }
        let held = self.expiry.iter().map(|&(_, task)| task);
        for task_ref in candidates.iter().copied().chain(held) {
            let (_, task) = self.task(task_ref).expect("an indexed task exists");
            let entry = reach.entry(task_ref.dag).or_insert(0);
            *entry = (*entry).max(task.rank_ms);
        }
        reach
    }

    /// The pools a task may be placed on now: without the slack to absorb an interruption, not
    /// the spot ones (unless it fits nothing else).
    fn usable_pools(&self, task: &LiveTask, reach_ms: Option<u64>, spot_mask: u64) -> u64 {
        let mask = task.spec.pools;
        if mask & spot_mask == 0 || mask & !spot_mask == 0 {
            return mask;
        }
        let restart_ms = self
            .config
            .pools
            .iter()
            .enumerate()
            .filter(|(pool_idx, _)| mask & (1u64 << pool_idx) != 0)
            .map(|(_, pool)| (pool.startup_s * 1e3) as u64)
            .min()
            .unwrap_or(0);
        let lost_ms = if task.spec.checkpointing {
            task.spec.runtime_ms.min(self.config.lease_ttl_ms)
        } else {
            task.spec.runtime_ms
        };
        let slack_ms = reach_ms.unwrap_or(0).saturating_sub(task.rank_ms);
        if slack_ms >= restart_ms.saturating_add(lost_ms) {
            mask
        } else {
            mask & !spot_mask
        }
    }

    /// The configured quotas with what SCHEDULED and RUNNING tasks hold counted in.
    pub(crate) fn quotas_in_use(&self) -> Option<Quotas> {
        let mut quotas = self.config.quotas.clone()?;
        for &(_, task_ref) in &self.expiry {
            let (dag, task) = self.task(task_ref).expect("an indexed task exists");
            let machine =
                &self.machines[task.machine.expect("a placed task has a machine") as usize];
            let pool = &self.config.pools[machine.pool as usize].name;
            // A quota lowered since this task was admitted refuses it: it then counts for
            // nothing here, which only matters until it finishes.
            let _ = quotas.try_admit(&dag.tenant, pool, &task.spec.requests);
        }
        Some(quotas)
    }
}

impl DagState {
    /// Takes the hold of `open` (a priced placement of `task`) from the budget, on the account
    /// the task pays from.
    fn hold_for(
        &self,
        task: TaskRef,
        mut open: OpenCharge,
        budget: &mut dyn Budget,
    ) -> Result<OpenCharge, Unaffordable> {
        let charge = self
            .charges
            .get(&task.dag)
            .expect("a priced task is charged");
        let ask = CostAsk {
            task,
            attempt: open.attempt,
            account: charge.account_of(task.task),
            cost_micros: open.estimate_micros,
            time_ms: open.estimate_time_ms,
        };
        open.reservation = budget.reserve(&ask)?;
        Ok(open)
    }
}
