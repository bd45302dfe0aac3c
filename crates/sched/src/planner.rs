//! `heft` and `purser`: the two algorithms, and the simulation of spot interruptions.

use std::str::FromStr;

use crate::SchedError;
use crate::costs::Costs;
use crate::engine::{Engine, Selection, SpotRule};
use crate::platform::Platform;
use crate::rng::SplitMix64;
use crate::schedule::{Schedule, build};
use crate::workflow::Workflow;

/// Bound on simulated interruptions per plan; each one kills a machine, so it is never reached
/// with sane rates.
const MAX_INTERRUPTIONS: u32 = 10_000;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Algorithm {
    /// Classic HEFT (Topcuoglu et al. 2002): upward rank, insertion-based earliest finish,
    /// on-demand machines only. The baseline.
    Heft,
    /// Priority, then rank; placement by weighted objective with PEFT's lookahead; spot where
    /// slack allows.
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

/// Seeded perturbations of the upward rank tried when costs are ignored (a GRASP-style search:
/// each is a complete plan, the best is kept).
const N_PERTURBED: usize = 12;
/// Each perturbed rank is the rank times a factor drawn in [1 - spread, 1 + spread].
const PERTURBATION_SPREAD: f64 = 0.15;

#[derive(Clone, Copy)]
enum Order {
    UpwardRank,
    OctRank,
    Perturbed(usize),
}

struct Variant {
    order: Order,
    selection: Selection,
}

pub fn plan_with(
    workflow: &Workflow,
    platform: &Platform,
    options: &PlanOptions,
) -> Result<Schedule, SchedError> {
    options.weights.validate()?;
    let costs = Costs::new(workflow, platform)?;
    let critical_path_s = costs.critical_path_s();
    let upward = costs.upward_rank();
    let mut rng = SplitMix64::new(options.seed);
    if options.algorithm == Algorithm::Heft {
        let mut engine = Engine::new(&costs, None);
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
        noise: 0.0,
    };
    let mut variants = vec![
        Variant {
            order: Order::OctRank,
            selection: weighted(true),
        },
        Variant {
            order: Order::UpwardRank,
            selection: weighted(true),
        },
        Variant {
            order: Order::UpwardRank,
            selection: weighted(false),
        },
        Variant {
            order: Order::OctRank,
            selection: weighted(false),
        },
    ];
    if weights.cost == 0.0 {
        // Costs ignored: HEFT's own plan is one of the candidates, so purser never does worse
        // than HEFT on makespan (when all priorities are equal, the order is HEFT's).
        variants.push(Variant {
            order: Order::UpwardRank,
            selection: Selection::EARLIEST_FINISH,
        });
        for perturbed_idx in 0..N_PERTURBED {
            let lookahead = perturbed_idx % 2 == 0;
            variants.push(Variant {
                order: Order::Perturbed(perturbed_idx),
                selection: weighted(lookahead),
            });
        }
    }
    let perturbed: Vec<Vec<f64>> = (0..N_PERTURBED)
        .map(|_| {
            upward
                .iter()
                .map(|rank| rank * (1.0 + PERTURBATION_SPREAD * (2.0 * rng.next_f64() - 1.0)))
                .collect()
        })
        .collect();
    let run = |variant: &Variant, spot: Option<&SpotRule>, rng: &mut SplitMix64| {
        let rank = match variant.order {
            Order::UpwardRank => &upward,
            Order::OctRank => &oct_rank,
            Order::Perturbed(perturbed_idx) => &perturbed[perturbed_idx],
        };
        let oct_ref = variant.selection.lookahead.then_some(oct.as_slice());
        let mut engine = Engine::new(&costs, oct_ref);
        engine.place_all(rank, &variant.selection, spot, rng);
        (engine, rank)
    };
    // Plan every variant on demand and keep the best; each is a complete, feasible plan.
    let mut best: Option<(usize, Schedule)> = None;
    for (variant_idx, variant) in variants.iter().enumerate() {
        let (engine, _) = run(variant, None, &mut rng);
        let schedule = build(&engine, critical_path_s, 0);
        let better = match &best {
            None => true,
            Some((_, incumbent)) => score(&schedule, &weights) < score(incumbent, &weights),
        };
        if better {
            best = Some((variant_idx, schedule));
        }
    }
    let (best_idx, mut on_demand) = best.expect("at least one variant");
    let iterations: usize = std::env::var("ITERS")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(0);
    if weights.cost == 0.0 && iterations > 0 {
        let variant = &variants[best_idx];
        let rank = match variant.order {
            Order::UpwardRank => upward.clone(),
            Order::OctRank => oct_rank.clone(),
            Order::Perturbed(i) => perturbed[i].clone(),
        };
        let (rank, selection, makespan) = crate::search::search(
            &costs,
            &oct,
            rank,
            variant.selection,
            on_demand.makespan_s,
            iterations,
            &mut rng,
        );
        if makespan < on_demand.makespan_s {
            let mut engine = Engine::new(&costs, selection.lookahead.then_some(oct.as_slice()));
            engine.place_all(&rank, &selection, None, &mut rng);
            on_demand = build(&engine, critical_path_s, 0);
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
    let restart_wait_s = (0..workflow.len())
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
    let rule = SpotRule {
        latest_finish: tail.iter().map(|tail_s| deadline - tail_s).collect(),
        restart_wait_s,
    };
    let (mut engine, rank) = run(&variants[best_idx], Some(&rule), &mut rng);
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
        engine.place_all(rank, &variants[best_idx].selection, Some(&rule), &mut rng);
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
