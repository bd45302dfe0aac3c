//! The enforcement ladder on placement: what a charged DAG's account level does to where and
//! how much of it runs. At throttle its tasks leave the dearest capacity to others (they run
//! on spot where slack allows, on free local machines, on the cheaper pools) and at most
//! `rate` x its usual parallelism of it runs at once; at degrade only the cheapest capacity
//! that keeps the spot rule (which guards the deadline) is used; at stop no new attempt starts
//! and the DAG is paused with the account and the dimension that stopped it.

use std::collections::HashMap;

use super::{Budget, DagState, TaskRef, Unaffordable};

/// What an account's enforcement level asks of placement.
#[derive(Debug, Clone, PartialEq)]
pub enum Rung {
    Continue,
    /// Cheaper capacity, and at most `rate` of the DAG's usual parallelism.
    Throttle {
        rate: f64,
    },
    /// Only the cheapest capacity.
    Degrade,
    /// No new attempt; `dimension` is the one whose threshold stopped the account.
    Stop {
        dimension: String,
    },
}

/// What one placement pass decided of the charged DAGs among its candidates.
#[derive(Debug, Default)]
pub(crate) struct Ladder {
    rungs: HashMap<String, Rung>,
    /// Tasks of a throttled DAG that may hold machines at once.
    caps: HashMap<u64, usize>,
    /// Tasks of a capped DAG holding machines, counting this pass's placements.
    holding: HashMap<u64, usize>,
    /// What each account could still hold when the pass began.
    left: HashMap<String, Option<u64>>,
}

impl Ladder {
    /// Whether one more task of `dag` may hold a machine.
    pub fn has_room(&self, dag: u64) -> bool {
        self.caps
            .get(&dag)
            .is_none_or(|&cap| self.holding.get(&dag).copied().unwrap_or(0) < cap)
    }

    /// A task of `dag` was placed in this pass.
    pub fn count(&mut self, dag: u64) {
        if self.caps.contains_key(&dag) {
            *self.holding.entry(dag).or_insert(0) += 1;
        }
    }
}

impl DagState {
    /// The pools a candidate may use under its account's rung (`mask` already follows the
    /// spot rule), or why it may not start at all.
    pub(crate) fn ladder_mask(
        &self,
        task_ref: TaskRef,
        mask: u64,
        ladder: &mut Ladder,
        budget: &mut dyn Budget,
    ) -> Result<u64, Unaffordable> {
        let Some(charge) = self.charges.get(&task_ref.dag) else {
            return Ok(mask);
        };
        let account = charge.account_of(task_ref.task);
        let rung = ladder
            .rungs
            .entry(account.to_string())
            .or_insert_with(|| budget.rung(account))
            .clone();
        let (_, task) = self.task(task_ref).expect("a candidate exists");
        let left = *ladder
            .left
            .entry(account.to_string())
            .or_insert_with(|| budget.left(account));
        let mut estimates = self.estimates(task, mask);
        let mask = affordable(&mut estimates, mask, left);
        match rung {
            Rung::Continue => Ok(mask),
            Rung::Stop { dimension } => Err(Unaffordable {
                account: account.to_string(),
                dimension,
                needed: cheapest(&estimates).map_or(0, |(_, cost)| cost),
                available: 0,
            }),
            Rung::Degrade => Ok(cheapest(&estimates).map_or(mask, |(cheapest, _)| cheapest)),
            Rung::Throttle { rate } => {
                if let std::collections::hash_map::Entry::Vacant(entry) =
                    ladder.caps.entry(task_ref.dag)
                {
                    let (usual, holding) = self.parallelism(task_ref.dag);
                    entry.insert(((usual as f64 * rate).floor() as usize).max(1));
                    ladder.holding.insert(task_ref.dag, holding);
                }
                Ok(without_dearest(&estimates, mask))
            }
        }
    }

    /// A DAG's usual parallelism (its tasks that could run now: eligible, placed or running)
    /// and how many of them hold machines.
    fn parallelism(&self, dag: u64) -> (usize, usize) {
        let found = &self.dags[&dag];
        let holding = found
            .tasks
            .iter()
            .filter(|task| super::evolve::holds_machine(task.state))
            .count();
        let ready = found
            .tasks
            .iter()
            .filter(|task| task.state == crate::state::TaskState::Eligible)
            .count();
        (holding + ready, holding)
    }
}

/// The pools of a set of estimates (pool, cost) as a mask.
fn mask_of<'a>(estimates: impl Iterator<Item = &'a (usize, u64)>) -> u64 {
    estimates.fold(0u64, |pools, &(pool_idx, _)| pools | (1u64 << pool_idx))
}

/// The pools of `mask` whose estimate fits in `left`, unless none does (the refusal then
/// pauses the DAG with the need and what is left); `estimates` keeps only those.
fn affordable(estimates: &mut Vec<(usize, u64)>, mask: u64, left: Option<u64>) -> u64 {
    let Some(left) = left else {
        return mask;
    };
    if estimates.iter().any(|&(_, cost)| cost <= left) {
        estimates.retain(|&(_, cost)| cost <= left);
        mask_of(estimates.iter())
    } else {
        mask
    }
}

/// The pools where the task costs least, and that cost.
fn cheapest(estimates: &[(usize, u64)]) -> Option<(u64, u64)> {
    let least = estimates.iter().map(|&(_, cost)| cost).min()?;
    let pools = mask_of(estimates.iter().filter(|&&(_, cost)| cost == least));
    Some((pools, least))
}

/// `mask` without the pools where the task costs most, unless they are all it has.
fn without_dearest(estimates: &[(usize, u64)], mask: u64) -> u64 {
    let Some(most) = estimates.iter().map(|&(_, cost)| cost).max() else {
        return mask;
    };
    let cheaper = mask_of(estimates.iter().filter(|&&(_, cost)| cost < most));
    if cheaper == 0 { mask } else { cheaper }
}
