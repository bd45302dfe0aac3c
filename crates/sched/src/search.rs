//! Iterated local search over priority vectors (prototype).

use crate::costs::Costs;
use crate::engine::{Engine, Selection};
use crate::rng::SplitMix64;

pub(crate) fn makespan(engine: &Engine) -> f64 {
    engine.attempts.iter().map(|a| a.finish).fold(0.0, f64::max)
}

/// Tasks on the chain that ends last: walk back from the last finish through the parent (or
/// machine predecessor) that made each task wait.
pub(crate) fn critical_chain(engine: &Engine) -> Vec<usize> {
    let costs = engine.costs;
    let mut chain = Vec::new();
    let Some(mut cur) = engine
        .attempts
        .iter()
        .max_by(|a, b| a.finish.total_cmp(&b.finish))
        .map(|a| a.task)
    else {
        return chain;
    };
    loop {
        chain.push(cur);
        let attempt = &engine.attempts[engine.placed[cur].unwrap()];
        let mut next = None;
        for dep in &costs.workflow.tasks()[cur].parents {
            let parent = &engine.attempts[engine.placed[dep.parent].unwrap()];
            let transfer = if parent.machine == attempt.machine {
                0.0
            } else {
                costs.transfer_s(dep.bytes)
            };
            if (parent.finish + transfer - attempt.start).abs() < 1e-9 {
                next = Some(dep.parent);
                break;
            }
        }
        if next.is_none() {
            // Waiting for the machine: the task on the same machine that ended at our start.
            next = engine
                .attempts
                .iter()
                .filter(|other| {
                    other.machine == attempt.machine && (other.finish - attempt.start).abs() < 1e-9
                })
                .map(|other| other.task)
                .next();
        }
        match next {
            Some(task) if !chain.contains(&task) => cur = task,
            _ => break,
        }
    }
    chain
}

pub(crate) fn search<'a>(
    costs: &'a Costs<'a>,
    oct: &'a [f64],
    mut best_rank: Vec<f64>,
    mut best_selection: Selection,
    mut best: f64,
    iterations: usize,
    rng: &mut SplitMix64,
) -> (Vec<f64>, Selection, f64) {
    let mode = std::env::var("MODE").unwrap_or_default();
    let mut best_chain = {
        let mut engine = Engine::new(costs, best_selection.lookahead.then_some(oct));
        engine.place_all(&best_rank, &best_selection, None, rng);
        critical_chain(&engine)
    };
    for _ in 0..iterations {
        let spread = [0.02, 0.05, 0.1, 0.2, 0.4][rng.range_u64(0, 4) as usize];
        let mut rank = best_rank.clone();
        if mode.contains("noise") || (mode.contains("mix") && rng.next_f64() < 0.5) {
            for r in rank.iter_mut() {
                *r *= 1.0 + spread * (2.0 * rng.next_f64() - 1.0);
            }
        } else {
            // Raise a random member of the critical chain.
            let pick = best_chain[rng.range_u64(0, best_chain.len() as u64 - 1) as usize];
            let max = rank.iter().copied().fold(0.0, f64::max);
            rank[pick] += spread * max;
        }
        let mut selection = best_selection;
        if rng.next_f64() < 0.1 {
            selection.lookahead = !selection.lookahead;
        }
        if mode.contains("mnoise") {
            selection.noise = if rng.next_f64() < 0.5 {
                0.0
            } else {
                [0.01, 0.03, 0.1][rng.range_u64(0, 2) as usize]
            };
        }
        let mut engine = Engine::new(costs, selection.lookahead.then_some(oct));
        engine.place_all(&rank, &selection, None, rng);
        let m = makespan(&engine);
        if m <= best {
            if m < best - 1e-9 || true {
                best_chain = critical_chain(&engine);
            }
            best = m;
            best_rank = rank;
            best_selection = selection;
        }
    }
    (best_rank, best_selection, best)
}
