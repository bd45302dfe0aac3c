//! Budget-constrained planning: the fastest plan whose cost stays within a budget, or the
//! answer that none exists and what the cheapest plan costs.
//!
//! No single rule wins on every workflow, so several on-demand plans are made and the one that
//! ends first within the budget is kept: BHEFT (each task takes the earliest-finishing machine
//! its share of the budget affords) at the budget and at tighter fractions of it (a plan's real
//! cost includes the machines' idle gaps, which BHEFT's per-task shares do not see), the
//! placement objective with a growing weight on cost, HEFT itself, and the cheapest plan.
//! Each plan is one list-scheduling pass, so a 1,000-task workflow is decided in milliseconds.

use crate::SchedError;
use crate::costs::Costs;
use crate::list_scheduler::{ListScheduler, Selection};
use crate::platform::Platform;
use crate::rng::SplitMix64;
use crate::schedule::{Schedule, build};
use crate::workflow::Workflow;

/// Fractions of the budget BHEFT is run at.
const BHEFT_SHARES: [f64; 6] = [1.0, 0.95, 0.9, 0.8, 0.65, 0.5];
/// Weights on cost (finish time weighs 1) of the objective's passes.
const COST_WEIGHTS: [f64; 10] = [0.05, 0.1, 0.2, 0.5, 1.0, 2.0, 5.0, 10.0, 100.0, 1e4];

/// What planning under a budget found.
#[derive(Debug, Clone)]
pub enum BudgetPlan {
    /// The fastest plan found within the budget.
    Within(Schedule),
    /// No plan found stays within it; this is the cheapest found.
    Impossible { cheapest: Schedule },
}

/// The fastest plan found whose cost is at most `budget_micros` (on-demand machines only).
pub fn plan_within_budget(
    workflow: &Workflow,
    platform: &Platform,
    budget_micros: u64,
    start_ms: u64,
) -> Result<BudgetPlan, SchedError> {
    let costs = Costs::new(workflow, platform)?.at_epoch(start_ms);
    let plans = candidate_plans(&costs, Some(budget_micros as f64));
    let within = plans
        .iter()
        .filter(|plan| plan.cost_micros <= budget_micros)
        .min_by(|a, b| {
            a.makespan_s
                .total_cmp(&b.makespan_s)
                .then(a.cost_micros.cmp(&b.cost_micros))
        });
    if let Some(best) = within {
        return Ok(BudgetPlan::Within(best.clone()));
    }
    let cheapest = plans
        .into_iter()
        .min_by(|a, b| {
            a.cost_micros
                .cmp(&b.cost_micros)
                .then(a.makespan_s.total_cmp(&b.makespan_s))
        })
        .expect("at least one plan");
    Ok(BudgetPlan::Impossible { cheapest })
}

/// The cheapest plan of the same passes (every task on the machine that costs it least).
pub fn cheapest_plan(
    workflow: &Workflow,
    platform: &Platform,
    start_ms: u64,
) -> Result<Schedule, SchedError> {
    let costs = Costs::new(workflow, platform)?.at_epoch(start_ms);
    Ok(candidate_plans(&costs, None)
        .into_iter()
        .min_by(|a, b| {
            a.cost_micros
                .cmp(&b.cost_micros)
                .then(a.makespan_s.total_cmp(&b.makespan_s))
        })
        .expect("at least one plan"))
}

/// Every pass's plan: HEFT, the objective with growing cost weights, cost alone, and (with a
/// budget) BHEFT at fractions of it.
fn candidate_plans(costs: &Costs<'_>, budget_micros: Option<f64>) -> Vec<Schedule> {
    let upward = costs.upward_rank();
    let critical_path_s = costs.critical_path_s();
    // On demand only: nothing draws from the generator.
    let mut rng = SplitMix64::new(0);
    let mut run = |selection: &Selection, budget: Option<f64>| {
        let mut engine = ListScheduler::new(costs, None);
        if let Some(budget) = budget {
            engine = engine.with_budget(budget);
        }
        engine.place_all(&upward, selection, None, &mut rng);
        build(&engine, critical_path_s, 0)
    };
    let weighted = |cost_weight: f64, finish_weight: f64| Selection {
        lookahead: false,
        finish_weight,
        cost_weight,
        fragmentation_weight: 0.0,
    };
    let mut plans = vec![
        run(&Selection::EARLIEST_FINISH, None),
        run(&weighted(1.0, 0.0), None),
    ];
    plans.extend(
        COST_WEIGHTS
            .iter()
            .map(|&cost_weight| run(&weighted(cost_weight, 1.0), None)),
    );
    if let Some(budget) = budget_micros {
        plans.extend(
            BHEFT_SHARES
                .iter()
                .map(|share| run(&Selection::EARLIEST_FINISH, Some(budget * share))),
        );
    }
    plans
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::generate::random_layered_workflow;
    use crate::planner::{Algorithm, PlanOptions, Weights, plan_with};
    use crate::platform::Pool;
    use crate::verify::verify;

    /// A slow cheap pool and a fast dear one: every plan costs something.
    fn platform() -> Platform {
        let pool = |name: &str, speed: f64, price: u64| Pool {
            speed,
            on_demand_per_hour_micros: price,
            ..Pool::local(name, 4, 8)
        };
        Platform {
            pools: vec![pool("slow", 1.0, 100_000), pool("fast", 3.0, 900_000)],
            bandwidth_mbps: 1000.0,
        }
    }

    #[test]
    fn plans_stay_within_their_budget_and_a_full_budget_is_as_fast_as_heft() {
        let platform = platform();
        for seed in 0..8 {
            let workflow = random_layered_workflow(60, seed);
            let heft = plan_with(
                &workflow,
                &platform,
                &PlanOptions::new(Algorithm::Heft, 1, Weights::MAKESPAN),
            )
            .unwrap();
            let cheapest = cheapest_plan(&workflow, &platform, 0).unwrap();
            assert!(cheapest.cost_micros <= heft.cost_micros);
            let mut last_makespan = f64::INFINITY;
            for share in [0.25, 0.5, 0.75, 1.0, 1.5] {
                let budget = (heft.cost_micros as f64 * share) as u64;
                match plan_within_budget(&workflow, &platform, budget, 0).unwrap() {
                    BudgetPlan::Within(plan) => {
                        verify(&workflow, &platform, &plan).unwrap();
                        assert!(plan.cost_micros <= budget, "seed {seed} share {share}");
                        // HEFT's own plan is a candidate once the budget covers it.
                        if share >= 1.0 {
                            assert!(plan.makespan_s <= heft.makespan_s + 1e-9);
                        }
                        last_makespan = plan.makespan_s;
                    }
                    BudgetPlan::Impossible { cheapest: found } => {
                        assert!(budget < found.cost_micros, "seed {seed} share {share}");
                        assert_eq!(found.cost_micros, cheapest.cost_micros);
                        assert!(last_makespan.is_infinite(), "a larger budget found none");
                    }
                }
            }
        }
    }

    #[test]
    fn a_budget_below_the_cheapest_plan_says_what_that_costs() {
        let platform = platform();
        let workflow = random_layered_workflow(30, 7);
        let cheapest = cheapest_plan(&workflow, &platform, 0).unwrap();
        assert!(cheapest.cost_micros > 0);
        match plan_within_budget(&workflow, &platform, cheapest.cost_micros - 1, 0).unwrap() {
            BudgetPlan::Impossible { cheapest: found } => {
                assert_eq!(found.cost_micros, cheapest.cost_micros)
            }
            BudgetPlan::Within(plan) => panic!("found a plan below the cheapest: {plan:?}"),
        }
        assert!(matches!(
            plan_within_budget(&workflow, &platform, cheapest.cost_micros, 0).unwrap(),
            BudgetPlan::Within(_)
        ));
    }
}
