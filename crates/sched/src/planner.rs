//! `heft` and `purser`: the two algorithms, and the simulation of spot interruptions.

use std::str::FromStr;

use crate::SchedError;
use crate::costs::Costs;
use crate::list_scheduler::{ListScheduler, Selection, SpotRule};
use crate::platform::Platform;
use crate::rng::SplitMix64;
use crate::schedule::{Schedule, build};
use crate::search::{self, Candidate};
use crate::workflow::Workflow;

/// Bound on simulated interruptions per plan; each one kills a machine, so it is never reached
/// with sane rates.
const MAX_INTERRUPTIONS: u32 = 10_000;

/// Where between the on-demand makespan (0) and the spot deadline (1) the slack rule measures
/// slack, tried in turn: a later line lets more tasks on spot, an earlier one protects the
/// deadline when tasks on spot machines crowd out the ones placed after them.
const SPOT_DEADLINE_SHARES: [f64; 4] = [1.0, 0.5, 0.0, -1.0];

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Algorithm {
    /// Classic HEFT (Topcuoglu et al. 2002): upward rank, insertion-based earliest finish,
    /// on-demand machines only. The baseline.
    Heft,
    /// Priority, then rank; placement by weighted objective with PEFT's lookahead; an iterated
    /// local search over the ranks when costs are ignored; spot where slack allows.
    Purser,
}

impl FromStr for Algorithm {
    type Err = SchedError;

    fn from_str(name: &str) -> Result<Self, SchedError> {
        match name {
            "heft" => Ok(Algorithm::Heft),
            "purser" => Ok(Algorithm::Purser),
            other => Err(SchedError::UnknownAlgorithm(other.to_string())),
        }
    }
}

/// Weights of the placement objective; they need not sum to 1.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Weights {
    pub finish: f64,
    pub cost: f64,
    pub fragmentation: f64,
}

impl Default for Weights {
    fn default() -> Self {
        Weights {
            finish: 0.6,
            cost: 0.3,
            fragmentation: 0.1,
        }
    }
}

impl Weights {
    /// Costs ignored: the shortest makespan, fragmentation only as a tie-break.
    pub const MAKESPAN: Weights = Weights {
        finish: 1.0,
        cost: 0.0,
        fragmentation: 0.0,
    };

    fn validate(&self) -> Result<(), SchedError> {
        let all = [self.finish, self.cost, self.fragmentation];
        if all.iter().any(|w| !(w.is_finite() && *w >= 0.0)) || all.iter().sum::<f64>() <= 0.0 {
            return Err(SchedError::InvalidWeights(format!(
                "finish {}, cost {}, fragmentation {} must be zero or more and not all zero",
                self.finish, self.cost, self.fragmentation
            )));
        }
        Ok(())
    }
}

/// Everything `plan` needs besides the workflow and the platform.
#[derive(Debug, Clone, PartialEq)]
pub struct PlanOptions {
    pub algorithm: Algorithm,
    pub seed: u64,
    pub weights: Weights,
    /// Purser only, and only with a cost weight above 0: use spot machines where slack allows.
    pub spot: bool,
    /// Draw spot interruptions from the seed at each pool's `interruptions_per_hour`.
    pub interruptions: bool,
    /// Spot deadline = on-demand makespan x (1 + stretch); slack is measured against it.
    pub deadline_stretch: f64,
    /// A task without the slack to absorb an interruption may still go on a spot machine when
    /// the chance that the machine is interrupted before the task ends is at most this.
    pub spot_risk_max: f64,
    /// The instant (ms since the epoch) the plan starts at: people work by the calendar.
    pub start_ms: u64,
}

impl PlanOptions {
    pub fn new(algorithm: Algorithm, seed: u64, weights: Weights) -> Self {
        PlanOptions {
            algorithm,
            seed,
            weights,
            spot: true,
            interruptions: true,
            deadline_stretch: 0.05,
            spot_risk_max: 0.01,
            start_ms: 0,
        }
    }
}

/// Plans with spot and interruptions on (purser, when the cost weight is above 0).
pub fn plan(
    workflow: &Workflow,
    platform: &Platform,
    algorithm: Algorithm,
    seed: u64,
    weights: &Weights,
) -> Result<Schedule, SchedError> {
    plan_with(
        workflow,
        platform,
        &PlanOptions::new(algorithm, seed, *weights),
    )
}

/// Plans a workflow. HEFT: one list-scheduling pass. Purser: the best of several passes (PEFT's
/// and HEFT's orders, with and without PEFT's lookahead, and HEFT itself when costs are
/// ignored); with costs ignored, then an iterated local search over the priorities (see
/// `search`); with a cost weight and spot pools, the chosen pass again with spot machines
/// where slack allows, and simulated interruptions re-planned from the moment they hit.
pub fn plan_with(
    workflow: &Workflow,
    platform: &Platform,
    options: &PlanOptions,
) -> Result<Schedule, SchedError> {
    options.weights.validate()?;
    let costs = Costs::new(workflow, platform)?.at_epoch(options.start_ms);
    let critical_path_s = costs.critical_path_s();
    let upward = costs.upward_rank();
    let mut rng = SplitMix64::new(options.seed);
    if options.algorithm == Algorithm::Heft {
        let mut engine = ListScheduler::new(&costs, None);
        engine.place_all(&upward, &Selection::EARLIEST_FINISH, None, &mut rng);
        return Ok(build(&engine, critical_path_s, 0));
    }
    let oct = costs.optimistic_cost_table();
    let oct_rank = costs.oct_rank(&oct);
    let weights = options.weights;
    let weighted = |lookahead| Selection {
        lookahead,
        finish_weight: weights.finish,
        cost_weight: weights.cost,
        fragmentation_weight: weights.fragmentation,
    };
    let candidate = |rank: &Vec<f64>, selection| Candidate {
        rank: rank.clone(),
        selection,
    };
    let mut candidates = vec![
        candidate(&oct_rank, weighted(true)),
        candidate(&upward, weighted(true)),
        candidate(&upward, weighted(false)),
        candidate(&oct_rank, weighted(false)),
    ];
    if weights.cost == 0.0 {
        // Costs ignored: HEFT's own plan is one of the candidates, so purser never does worse
        // than HEFT on makespan (when all priorities are equal, the order is HEFT's).
        candidates.push(candidate(&upward, Selection::EARLIEST_FINISH));
    }
    let run = |candidate: &Candidate, spot: Option<&SpotRule>, rng: &mut SplitMix64| {
        let oct_ref = candidate.selection.lookahead.then_some(oct.as_slice());
        let mut engine = ListScheduler::new(&costs, oct_ref);
        engine.place_all(&candidate.rank, &candidate.selection, spot, rng);
        engine
    };
    // Plan every candidate on demand and keep the best; each is a complete, feasible plan.
    let mut best: Option<(usize, Schedule)> = None;
    for (candidate_idx, candidate) in candidates.iter().enumerate() {
        let schedule = build(&run(candidate, None, &mut rng), critical_path_s, 0);
        let better = match &best {
            None => true,
            Some((_, incumbent)) => score(&schedule, &weights) < score(incumbent, &weights),
        };
        if better {
            best = Some((candidate_idx, schedule));
        }
    }
    let (best_idx, mut on_demand) = best.expect("at least one candidate");
    let mut chosen = candidates.swap_remove(best_idx);
    if weights.cost == 0.0 {
        let n_steps = search::steps_for(&costs);
        let start = chosen.clone();
        if let Some((found, found_makespan_s)) =
            search::improve(&costs, &oct, start, on_demand.makespan_s, n_steps, &mut rng)
        {
            on_demand = build(&run(&found, None, &mut rng), critical_path_s, 0);
            // Invariant: without spot machines planning draws nothing from the generator, so
            // the candidate plans again exactly as the search saw it.
            debug_assert_eq!(on_demand.makespan_s, found_makespan_s);
            chosen = found;
        }
    }
    let has_spot = platform
        .pools
        .iter()
        .any(|pool| pool.spot_per_hour_micros.is_some());
    if !(options.spot && weights.cost > 0.0 && has_spot) {
        return Ok(on_demand);
    }
    let deadline = on_demand.makespan_s * (1.0 + options.deadline_stretch.max(0.0));
    let tail = costs.optimistic_tail();
    let restart_wait_s: Vec<f64> = (0..workflow.len())
        .map(|task_idx| {
            let fitting = platform
                .pools
                .iter()
                .enumerate()
                .filter(|(pool_idx, _)| costs.runtime(task_idx, *pool_idx).is_finite());
            fitting
                .map(|(_, pool)| pool.startup_s)
                .fold(f64::INFINITY, f64::min)
        })
        .collect();
    // Interruptions arrive at a pool's rate from the machine's start (at 0 s or later), so by
    // time t the chance is at most 1 - exp(-rate x t).
    let risk = options.spot_risk_max.clamp(0.0, 1.0 - f64::EPSILON);
    let safe_until_s: Vec<f64> = platform
        .pools
        .iter()
        .map(|pool| {
            let rate_per_s = pool.interruptions_per_hour / 3600.0;
            if rate_per_s > 0.0 {
                -(1.0 - risk).ln() / rate_per_s
            } else {
                f64::INFINITY
            }
        })
        .collect();
    let rule_for = |slack_deadline: f64| SpotRule {
        latest_finish: tail.iter().map(|tail_s| slack_deadline - tail_s).collect(),
        restart_wait_s: restart_wait_s.clone(),
        safe_until_s: safe_until_s.clone(),
    };
    // The slack rule judges each task alone, so a spot machine opened for one task can delay the
    // tasks placed after it past the deadline. Plan the rule against shrinking deadlines, without
    // interruptions (the choice must not see the draws), and keep the cheapest plan that still
    // ends by the deadline; if none does, stay on demand. Each plan draws from its own copy of the
    // generator, and the kept one continues from its copy.
    let mut spot_plan: Option<(u64, ListScheduler, SpotRule, SplitMix64)> = None;
    for share in SPOT_DEADLINE_SHARES {
        let rule = rule_for(on_demand.makespan_s + (deadline - on_demand.makespan_s) * share);
        let mut variant_rng = rng.clone();
        let engine = run(&chosen, Some(&rule), &mut variant_rng);
        let planned = build(&engine, critical_path_s, 0);
        let cheaper = spot_plan
            .as_ref()
            .is_none_or(|(cost, ..)| planned.cost_micros < *cost);
        if planned.makespan_s <= deadline && planned.cost_micros < on_demand.cost_micros && cheaper
        {
            spot_plan = Some((planned.cost_micros, engine, rule, variant_rng));
        }
    }
    let Some((_, mut engine, rule, variant_rng)) = spot_plan else {
        return Ok(on_demand);
    };
    rng = variant_rng;
    let mut n_interruptions = 0;
    while options.interruptions && n_interruptions <= MAX_INTERRUPTIONS {
        let Some((time, machine_idx)) = engine.next_interruption() else {
            break;
        };
        n_interruptions += 1;
        if n_interruptions > MAX_INTERRUPTIONS {
            return Err(SchedError::SimulationBound(workflow.name.clone()));
        }
        engine.interrupt(machine_idx, time);
        engine.place_all(&chosen.rank, &chosen.selection, Some(&rule), &mut rng);
    }
    Ok(build(&engine, critical_path_s, n_interruptions))
}

/// Lower is better. With costs ignored: makespan, then cost. Otherwise the weighted sum of
/// makespan and cost, each relative to a unit (1 s, 1 micro-dollar) so both stay finite.
fn score(schedule: &Schedule, weights: &Weights) -> (f64, f64) {
    if weights.cost == 0.0 {
        return (schedule.makespan_s, schedule.cost_micros as f64);
    }
    let value = weights.finish * (schedule.makespan_s + 1.0).ln()
        + weights.cost * (schedule.cost_micros as f64 + 1.0).ln();
    (value, schedule.makespan_s)
}
