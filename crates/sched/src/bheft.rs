//! BHEFT's rule for placing under a budget (Zheng and Sakellariou, 2013), used by the list
//! scheduler when a budget is set (`budget_plan.rs` makes those plans).

use crate::costs::Costs;

/// BHEFT's rule (Zheng and Sakellariou, 2013): the budget left beyond every task's cheapest
/// cost is spread over the tasks in proportion to their cheapest cost; each task takes the
/// earliest-finishing machine it can afford with its share, else the cheapest one, and what it
/// did not spend goes on to the tasks after it.
#[derive(Debug, Clone)]
pub(crate) struct BudgetRule {
    /// The budget beyond the cheapest costs still to place (micro-units).
    spare: f64,
    /// Each task's cheapest cost (its runtime on the cheapest pool it fits, on demand).
    cheapest: Vec<f64>,
    /// The cheapest costs of the tasks not placed yet.
    cheapest_left: f64,
}

impl BudgetRule {
    pub(crate) fn new(costs: &Costs<'_>, budget_micros: f64) -> BudgetRule {
        let platform = costs.platform;
        let cheapest: Vec<f64> = (0..costs.workflow.len())
            .map(|task_idx| {
                platform
                    .pools
                    .iter()
                    .enumerate()
                    .map(|(pool_idx, pool)| {
                        costs.runtime(task_idx, pool_idx) * pool.on_demand_per_hour_micros as f64
                            / 3600.0
                    })
                    .filter(|cost| cost.is_finite())
                    .fold(f64::INFINITY, f64::min)
            })
            .map(|cost| if cost.is_finite() { cost } else { 0.0 })
            .collect();
        let total: f64 = cheapest.iter().sum();
        BudgetRule {
            spare: budget_micros - total,
            cheapest,
            cheapest_left: total,
        }
    }

    /// Which of a task's candidate placements, given as (finish, cost), it takes under its
    /// share of the budget; notes what it spends.
    pub(crate) fn choose(&mut self, task_idx: usize, options: &[(f64, f64)]) -> usize {
        let cheapest = self.cheapest[task_idx];
        let share = if self.cheapest_left > 0.0 {
            cheapest / self.cheapest_left
        } else {
            1.0
        };
        let allowance = cheapest + self.spare.max(0.0) * share;
        let by_finish = |a: &(usize, &(f64, f64)), b: &(usize, &(f64, f64))| {
            a.1.0.total_cmp(&b.1.0).then(a.1.1.total_cmp(&b.1.1))
        };
        let by_cost = |a: &(usize, &(f64, f64)), b: &(usize, &(f64, f64))| {
            a.1.1.total_cmp(&b.1.1).then(a.1.0.total_cmp(&b.1.0))
        };
        let affordable = options
            .iter()
            .enumerate()
            .filter(|(_, (_, cost))| *cost <= allowance + 1e-6)
            .min_by(by_finish);
        let (chosen, &(_, cost)) = affordable
            .or_else(|| options.iter().enumerate().min_by(by_cost))
            .expect("a task has a candidate");
        self.spare -= cost - cheapest;
        chosen
    }

    /// A task was placed: its cheapest cost no longer waits.
    pub(crate) fn spend(&mut self, task_idx: usize) {
        if let Some(&cheapest) = self.cheapest.get(task_idx) {
            self.cheapest_left = (self.cheapest_left - cheapest).max(0.0);
        }
    }
}
