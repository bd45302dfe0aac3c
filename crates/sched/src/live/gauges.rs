//! What the scheduler holds now, counted for those who watch it (the metrics, the dashboard's
//! pools page): tasks by state and pool, what the pools' machines hold, the tenants' quotas
//! against what they use, the eligible queue and what unfinished DAGs have cost so far.

use std::collections::BTreeMap;

use super::DagState;
use crate::resources::Dimension;

/// One pool's capacity and use in one dimension, over all its machines.
#[derive(Clone, Debug, PartialEq)]
pub struct PoolGauge {
    pub pool: String,
    pub dimension: String,
    pub capacity: u64,
    pub used: u64,
}

impl PoolGauge {
    /// `used / capacity`, 0 for a dimension the pool does not offer.
    pub fn utilization(&self) -> f64 {
        if self.capacity == 0 {
            0.0
        } else {
            self.used as f64 / self.capacity as f64
        }
    }
}

/// One tenant's quota of one pool's dimension, and what its placed tasks hold of it.
#[derive(Clone, Debug, PartialEq)]
pub struct QuotaGauge {
    pub tenant: String,
    pub pool: String,
    pub dimension: String,
    pub used: u64,
    pub nominal: u64,
    /// What it uses beyond its nominal quota (lent by the cohort).
    pub borrowed: u64,
}

/// The scheduler's figures at one moment.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct SchedGauges {
    /// `(state, pool, tasks)`: the pool of the current or last placement, `none` before one;
    /// only pairs with tasks.
    pub tasks: Vec<(&'static str, String, u64)>,
    /// Every pool, in configuration order, each dimension it offers.
    pub pools: Vec<PoolGauge>,
    /// Empty when no quota is configured.
    pub quotas: Vec<QuotaGauge>,
    /// Tasks ELIGIBLE and waiting for a machine: what worker autoscaling follows.
    pub eligible: u64,
    /// `(dag, account, micros)` of the charged DAGs still running: settled plus held.
    pub dag_costs: Vec<(u64, String, u64)>,
}

impl DagState {
    /// The figures of the scheduler now; `dags_max` bounds the DAG costs listed (the oldest
    /// running DAGs first).
    pub fn gauges(&self, dags_max: usize) -> SchedGauges {
        let mut tasks: BTreeMap<(&'static str, &str), u64> = BTreeMap::new();
        for dag in self.dags.values() {
            for task in &dag.tasks {
                let pool = task.machine.map_or("none", |machine| {
                    let pool = self.machines[machine as usize].pool;
                    self.config.pools[pool as usize].name.as_str()
                });
                *tasks.entry((task.state.name(), pool)).or_default() += 1;
            }
        }
        let custom = &self.config.custom_dimensions;
        let mut pools = Vec::new();
        for (idx, pool) in self.config.pools.iter().enumerate() {
            let machines = self
                .machines
                .iter()
                .filter(|machine| machine.pool as usize == idx);
            let mut used = [0u64; Dimension::ALL.len()];
            for machine in machines {
                for (slot, dimension) in used.iter_mut().zip(Dimension::ALL) {
                    *slot = slot.saturating_add(machine.used.get(dimension));
                }
            }
            for (slot, dimension) in used.iter().zip(Dimension::ALL) {
                // 0: not offered; the largest value: not counted (a pool that does not say).
                let per_machine = pool.capacity.get(dimension);
                if per_machine == 0 || per_machine == u64::MAX {
                    continue;
                }
                let capacity = per_machine.saturating_mul(u64::from(pool.machines));
                pools.push(PoolGauge {
                    pool: pool.name.clone(),
                    dimension: dimension.name_in(custom),
                    capacity,
                    used: *slot,
                });
            }
        }
        let quotas = self.quotas_in_use().map_or_else(Vec::new, |quotas| {
            let mut gauges: Vec<QuotaGauge> = quotas
                .entries()
                .map(|(tenant, pool, dimension, limit, used)| QuotaGauge {
                    tenant: tenant.to_string(),
                    pool: pool.to_string(),
                    dimension: dimension.name_in(custom),
                    used,
                    nominal: limit.nominal,
                    borrowed: used.saturating_sub(limit.nominal),
                })
                .collect();
            gauges.sort_by(|a, b| {
                (&a.tenant, &a.pool, &a.dimension).cmp(&(&b.tenant, &b.pool, &b.dimension))
            });
            gauges
        });
        let dag_costs = self
            .charges
            .iter()
            .filter(|(dag, _)| !self.finished.contains(dag))
            .take(dags_max)
            .map(|(dag, charge)| {
                let micros = charge
                    .spent_micros()
                    .saturating_add(charge.reserved_micros());
                (*dag, charge.account.clone(), micros)
            })
            .collect();
        SchedGauges {
            tasks: tasks
                .into_iter()
                .map(|((state, pool), n)| (state, pool.to_string(), n))
                .collect(),
            pools,
            quotas,
            eligible: self.eligible.len() as u64,
            dag_costs,
        }
    }
}
