//! The live placement step a server calls on every tick: eligible tasks onto machines that
//! have free capacity now. No lookahead and no DAG: the plan already gave each task its rank.

use std::collections::BTreeSet;

use crate::planner::Weights;
use crate::resources::Resources;

/// What the tick needs to know about a pool.
#[derive(Debug, Clone, PartialEq)]
pub struct TickPool {
    pub name: String,
    pub speed: f64,
    /// The price the machines of this pool are paid at (0 for a free pool).
    pub price_per_hour_micros: u64,
}

/// A running machine and what is free on it now.
#[derive(Debug, Clone, PartialEq)]
pub struct FreeMachine {
    pub id: u32,
    pub pool: usize,
    pub free: Resources,
}

#[derive(Debug, Clone, PartialEq)]
pub struct EligibleTask {
    pub id: u64,
    pub tenant: u32,
    pub priority: i32,
    /// Upward rank from the plan; higher goes first within a priority.
    pub rank: f64,
    pub runtime_s: f64,
    pub requests: Resources,
    /// What the tenant holds now (e.g. cores); among equals the smaller share goes first.
    pub tenant_usage: u64,
}

#[derive(Debug, Clone, PartialEq)]
pub struct Assignment {
    pub task: u64,
    pub machine: u32,
    pub start_s: f64,
    pub finish_s: f64,
}

/// Places what fits now: tasks by priority, then rank, then fair share (least-served tenant
/// first); for each, the pool by the objective (finish time, cost; fragmentation through
/// best fit) and, within the pool, the machine whose free cores fit most tightly. `admit` is
/// asked before each placement (quotas); a refused task waits for a later tick.
/// Cost: sorting the tasks plus O(pools x log machines) per task.
pub fn tick(
    now_s: f64,
    pools: &[TickPool],
    tasks: &[EligibleTask],
    machines: &mut [FreeMachine],
    weights: &Weights,
    mut admit: impl FnMut(&EligibleTask, usize) -> bool,
) -> Vec<Assignment> {
    let mut order: Vec<usize> = (0..tasks.len()).collect();
    order.sort_by(|&a, &b| {
        let (a, b) = (&tasks[a], &tasks[b]);
        b.priority
            .cmp(&a.priority)
            .then(b.rank.total_cmp(&a.rank))
            .then(a.tenant_usage.cmp(&b.tenant_usage))
            .then(a.id.cmp(&b.id))
    });
    let mut free_by_pool: Vec<BTreeSet<(u64, usize)>> = vec![BTreeSet::new(); pools.len()];
    for (machine_idx, machine) in machines.iter().enumerate() {
        if machine.pool < pools.len() && machine.free.cores > 0 {
            free_by_pool[machine.pool].insert((machine.free.cores, machine_idx));
        }
    }
    let mut assignments = Vec::new();
    let mut fits: Vec<Option<usize>> = vec![None; pools.len()];
    for task_idx in order {
        if free_by_pool.iter().all(BTreeSet::is_empty) {
            break;
        }
        let task = &tasks[task_idx];
        for (pool_idx, free) in free_by_pool.iter().enumerate() {
            fits[pool_idx] = free
                .range((task.requests.cores, 0)..)
                .map(|&(_, machine_idx)| machine_idx)
                .find(|&machine_idx| task.requests.fits_in(&machines[machine_idx].free));
        }
        let Some(pool_idx) = best_pool(task, pools, &fits, weights) else {
            continue;
        };
        if !admit(task, pool_idx) {
            continue;
        }
        let machine_idx = fits[pool_idx].expect("best_pool picks a pool with a fitting machine");
        let machine = &mut machines[machine_idx];
        free_by_pool[pool_idx].remove(&(machine.free.cores, machine_idx));
        machine.free = machine
            .free
            .checked_sub(&task.requests)
            .expect("the request fits");
        if machine.free.cores > 0 {
            free_by_pool[pool_idx].insert((machine.free.cores, machine_idx));
        }
        let duration = task.runtime_s / pools[pool_idx].speed;
        assignments.push(Assignment {
            task: task.id,
            machine: machine.id,
            start_s: now_s,
            finish_s: now_s + duration,
        });
    }
    assignments
}

fn best_pool(
    task: &EligibleTask,
    pools: &[TickPool],
    fits: &[Option<usize>],
    weights: &Weights,
) -> Option<usize> {
    let usable = || (0..pools.len()).filter(|&pool_idx| fits[pool_idx].is_some());
    let duration = |pool_idx: usize| task.runtime_s / pools[pool_idx].speed;
    let cost = |pool_idx: usize| {
        duration(pool_idx) * pools[pool_idx].price_per_hour_micros as f64 / 3600.0
    };
    let min_duration = usable().map(duration).fold(f64::INFINITY, f64::min);
    let min_cost = usable().map(cost).fold(f64::INFINITY, f64::min);
    let max_cost = usable().map(cost).fold(0.0, f64::max);
    let score = |pool_idx: usize| {
        weights.finish * (duration(pool_idx) - min_duration) / min_duration.max(1.0)
            + weights.cost * (cost(pool_idx) - min_cost) / (max_cost - min_cost).max(1e-9)
    };
    usable().min_by(|&a, &b| score(a).total_cmp(&score(b)))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn pools() -> Vec<TickPool> {
        vec![
            TickPool {
                name: "local".into(),
                speed: 1.0,
                price_per_hour_micros: 0,
            },
            TickPool {
                name: "cloud".into(),
                speed: 2.0,
                price_per_hour_micros: 3_600_000,
            },
        ]
    }

    fn task(id: u64, priority: i32, rank: f64, cores: u64) -> EligibleTask {
        EligibleTask {
            id,
            tenant: 0,
            priority,
            rank,
            runtime_s: 100.0,
            requests: Resources::cores(cores),
            tenant_usage: 0,
        }
    }

    fn check(
        tasks: &[EligibleTask],
        machines: &[(usize, u64)],
        weights: Weights,
        expected: &[(u64, u32)],
    ) {
        let mut machines: Vec<FreeMachine> = machines
            .iter()
            .enumerate()
            .map(|(id, &(pool, cores))| FreeMachine {
                id: id as u32,
                pool,
                free: Resources::cores(cores),
            })
            .collect();
        let got: Vec<(u64, u32)> =
            tick(10.0, &pools(), tasks, &mut machines, &weights, |_, _| true)
                .iter()
                .map(|assignment| (assignment.task, assignment.machine))
                .collect();
        assert_eq!(got, expected);
    }

    #[test]
    fn places_by_priority_rank_objective_and_best_fit() {
        // Speed wins when costs are ignored; the free pool wins when cost weighs enough.
        check(
            &[task(1, 0, 1.0, 1)],
            &[(0, 4), (1, 4)],
            Weights::MAKESPAN,
            &[(1, 1)],
        );
        check(
            &[task(1, 0, 1.0, 1)],
            &[(0, 4), (1, 4)],
            Weights {
                finish: 0.3,
                cost: 0.7,
                fragmentation: 0.0,
            },
            &[(1, 0)],
        );
        // Higher priority first, then higher rank; the last one does not fit.
        check(
            &[task(1, 0, 5.0, 2), task(2, 1, 1.0, 2), task(3, 0, 9.0, 2)],
            &[(0, 4)],
            Weights::MAKESPAN,
            &[(2, 0), (3, 0)],
        );
        // Best fit: the 2-core machine takes the 2-core task, leaving the 8-core one whole.
        check(
            &[task(1, 0, 1.0, 2), task(2, 0, 0.5, 8)],
            &[(0, 8), (0, 2)],
            Weights::MAKESPAN,
            &[(1, 1), (2, 0)],
        );
    }

    #[test]
    fn fair_share_breaks_ties_and_admit_can_refuse() {
        let mut heavy = task(1, 0, 1.0, 1);
        heavy.tenant_usage = 50;
        let light = EligibleTask {
            tenant: 1,
            ..task(2, 0, 1.0, 1)
        };
        check(
            &[heavy.clone(), light.clone()],
            &[(0, 1)],
            Weights::MAKESPAN,
            &[(2, 0)],
        );
        let mut machines = vec![FreeMachine {
            id: 0,
            pool: 0,
            free: Resources::cores(4),
        }];
        let placed = tick(
            0.0,
            &pools(),
            &[heavy, light],
            &mut machines,
            &Weights::MAKESPAN,
            |task, _| task.tenant == 0,
        );
        assert_eq!(placed.len(), 1);
        assert_eq!(machines[0].free.cores, 3);
    }
}
