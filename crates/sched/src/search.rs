//! Iterated local search over task priorities, used by purser when costs are ignored.
//!
//! A list scheduler is only as good as its priority list. Starting from the best of the fixed
//! candidates (HEFT's, PEFT's), each step multiplies every task's rank by a random factor near 1
//! (the spread itself drawn among a few sizes, from a nudge to a shake-up), sometimes switches
//! PEFT's lookahead on or off, plans the whole workflow again and keeps the result when its
//! makespan is no longer. Equal makespans are accepted so the search drifts across plateaus.
//! Every step is a complete, feasible plan, so the search can stop at any time.
//!
//! The number of steps is bounded by a budget of (task x machine slot) evaluations, which keeps
//! a plan of a 1,000-task workflow on the bench platform well under 100 ms, and by a cap for
//! small workflows. The search draws from the caller's seeded generator: same seed, same plan.

use crate::costs::Costs;
use crate::list_scheduler::{ListScheduler, Selection};
use crate::rng::SplitMix64;

/// Placement evaluations (tasks x machine slots per plan) the search may spend.
const EVALUATION_BUDGET: usize = 300_000;
/// Most steps, whatever the size: beyond this the search has long stopped finding anything on
/// the bench workflows.
const MAX_STEPS: usize = 1000;
/// Sizes of the multiplicative noise on ranks; one is drawn per step.
const SPREADS: [f64; 5] = [0.02, 0.05, 0.1, 0.2, 0.4];
/// Chance that a step switches PEFT's lookahead.
const LOOKAHEAD_FLIP: f64 = 0.1;

/// A priority list and the machine choice rule it was planned with.
#[derive(Debug, Clone)]
pub(crate) struct Candidate {
    pub rank: Vec<f64>,
    pub selection: Selection,
}

/// How many steps the budget allows for this workflow on this platform.
pub(crate) fn steps_for(costs: &Costs) -> usize {
    let platform = costs.platform;
    let slots: usize = platform
        .pools
        .iter()
        .map(|pool| pool.machines as usize)
        .sum::<usize>()
        + platform.pools.len();
    let per_plan = costs.workflow.len().max(1) * slots;
    (EVALUATION_BUDGET / per_plan).min(MAX_STEPS)
}

/// Plans a candidate on demand.
fn plan_on_demand<'a>(
    costs: &'a Costs<'a>,
    oct: &'a [f64],
    candidate: &Candidate,
    rng: &mut SplitMix64,
) -> ListScheduler<'a> {
    let mut engine = ListScheduler::new(costs, candidate.selection.lookahead.then_some(oct));
    engine.place_all(&candidate.rank, &candidate.selection, None, rng);
    engine
}

/// Plans `start` perturbed `n_steps` times; returns the best candidate found if it beats
/// `start_makespan_s`. Spot machines are not used (on-demand planning only).
pub(crate) fn improve<'a>(
    costs: &'a Costs<'a>,
    oct: &'a [f64],
    start: Candidate,
    start_makespan_s: f64,
    n_steps: usize,
    rng: &mut SplitMix64,
) -> Option<(Candidate, f64)> {
    let mut incumbent = start;
    let mut incumbent_makespan_s = start_makespan_s;
    let mut improved = false;
    for _ in 0..n_steps {
        let spread = SPREADS[rng.range_u64(0, SPREADS.len() as u64 - 1) as usize];
        let rank: Vec<f64> = incumbent
            .rank
            .iter()
            .map(|rank| rank * (1.0 + spread * (2.0 * rng.next_f64() - 1.0)))
            .collect();
        let mut selection = incumbent.selection;
        if rng.next_f64() < LOOKAHEAD_FLIP {
            selection.lookahead = !selection.lookahead;
        }
        let candidate = Candidate { rank, selection };
        let engine = plan_on_demand(costs, oct, &candidate, rng);
        let makespan = engine.makespan_s();
        if makespan <= incumbent_makespan_s {
            improved |= makespan < start_makespan_s;
            incumbent = candidate;
            incumbent_makespan_s = makespan;
        }
    }
    improved.then_some((incumbent, incumbent_makespan_s))
}
