//! Placement: eligible tasks onto present machines with free capacity, by the live [`tick`]
//! (priority, rank, fair share, then the objective's weights) under the tenants' quotas.

use std::collections::{BTreeMap, HashMap};

use super::{DagEvent, DagState, TaskMove, TaskRef};
use crate::quota::Quotas;
use crate::state::TaskState;
use crate::tick::{EligibleTask, FreeMachine, TickPool, tick};

impl DagState {
    /// Places what fits now; answers how many tasks were placed.
    pub(crate) fn place(&mut self, now_ms: u64, events: &mut Vec<DagEvent>) -> usize {
        if self.eligible.is_empty() {
            return 0;
        }
        let mut free: Vec<FreeMachine> = self
            .machines
            .iter()
            .enumerate()
            .filter(|(_, machine)| machine.present_until_ms > now_ms)
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
        if free.is_empty() {
            return 0;
        }
        let mut quotas = self.quotas_in_use();
        let candidates: Vec<TaskRef> = self
            .eligible
            .iter()
            .take(self.config.limits.eligible_per_pass_max)
            .map(|&(_, _, task)| task)
            .collect();
        let mut tenants: Vec<&str> = Vec::new();
        let mut tenant_idx: HashMap<&str, u32> = HashMap::new();
        // Tasks grouped by the pools they may use; most tasks share one mask.
        let mut groups: BTreeMap<u64, Vec<EligibleTask>> = BTreeMap::new();
        for (candidate_idx, task_ref) in candidates.iter().enumerate() {
            let (dag, task) = self.task(*task_ref).expect("an eligible task exists");
            let tenant = *tenant_idx.entry(dag.tenant.as_str()).or_insert_with(|| {
                tenants.push(dag.tenant.as_str());
                tenants.len() as u32 - 1
            });
            groups
                .entry(task.spec.pools)
                .or_default()
                .push(EligibleTask {
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
                price_per_hour_micros: pool.on_demand_per_hour_micros,
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
                |task, pool_idx| match &mut quotas {
                    Some(quotas) => quotas
                        .try_admit(
                            tenants[task.tenant as usize],
                            &pools[pool_idx].name,
                            &task.requests,
                        )
                        .is_ok(),
                    None => true,
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
        let lease_expires_ms = now_ms.saturating_add(self.config.lease_ttl_ms);
        for &(task, machine) in &placements {
            let moved = TaskMove {
                machine: Some(machine),
                lease_expires_ms,
                ..self.move_of(task, TaskState::Scheduled, now_ms)
            };
            self.emit(DagEvent::Moved(moved), events);
        }
        placements.len()
    }

    /// The configured quotas with what SCHEDULED and RUNNING tasks hold counted in.
    fn quotas_in_use(&self) -> Option<Quotas> {
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
