//! What machine time costs, and which account pays for it.
//!
//! A DAG submitted with an account is charged: each attempt of its tasks takes a hold of its
//! estimated cost when it is placed (through the [`Budget`] the caller passes, which is the
//! ledger in the server) and is settled with what it ran when the attempt ends. A task pays its
//! machine's price x its share of the machine (its largest share over the dimensions it
//! requests) x the time it ran, from its lease to the end of the attempt.
//!
//! The facts are events like any other ([`DagEvent::Accounted`], [`DagEvent::Charged`],
//! [`DagEvent::AttemptEnded`]), so replay rebuilds what was charged without asking the budget
//! again. A DAG without an account is never charged and is placed exactly as before.

use serde::{Deserialize, Serialize};

use std::collections::BTreeMap;

use super::{Dag, DagError, DagEvent, DagState, LiveTask, SubmitDag, TaskRef};
use crate::platform::Pool;
use crate::resources::{Dimension, Resources};
use crate::state::TaskState;

/// Parts per million: a task's share of its machine.
pub const SHARE_PPM_FULL: u32 = 1_000_000;
const MS_PER_HOUR: u128 = 3_600_000;

/// What one placement is asked to hold.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CostAsk<'a> {
    pub task: TaskRef,
    /// The attempt this placement starts (1 for the first).
    pub attempt: u32,
    pub account: &'a str,
    /// The estimated cost in micro-units of money.
    pub cost_micros: u64,
    /// The estimated machine time.
    pub time_ms: u64,
}

/// Why a placement could not be afforded: the account's dimension has less left than needed.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Unaffordable {
    pub account: String,
    pub dimension: String,
    pub needed: u64,
    pub available: u64,
}

/// Where placements take their holds. The server's is the ledger; [`Unlimited`] charges
/// nothing and refuses nothing.
pub trait Budget {
    /// Holds what `ask` estimates and answers the hold's id, or why it cannot be afforded.
    fn reserve(&mut self, ask: &CostAsk<'_>) -> Result<u64, Unaffordable>;

    /// What the enforcement level of `account` asks of placement (`ladder.rs`).
    fn rung(&mut self, _account: &str) -> super::Rung {
        super::Rung::Continue
    }

    /// What a hold on `account` may still take in money; None when nothing limits it.
    /// Placement leaves the pools a task could not afford to the others.
    fn left(&mut self, _account: &str) -> Option<u64> {
        None
    }
}

/// A budget that admits everything without a hold (id 0): tests and callers without a ledger.
#[derive(Debug, Clone, Copy, Default)]
pub struct Unlimited;

impl Budget for Unlimited {
    fn reserve(&mut self, _ask: &CostAsk<'_>) -> Result<u64, Unaffordable> {
        Ok(0)
    }
}

/// The attempt a task is running (or placed for) and what it was priced at.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct OpenCharge {
    pub attempt: u32,
    pub reservation: u64,
    pub price_per_hour_micros: u64,
    pub share_ppm: u32,
    pub estimate_micros: u64,
    pub estimate_time_ms: u64,
    /// When its lease started it (None while only placed).
    pub started_ms: Option<u64>,
}

/// What one task of a charged DAG has cost.
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
pub struct TaskCharge {
    /// The account it pays from, when not the DAG's.
    pub account: Option<String>,
    pub spent_micros: u64,
    pub time_ms: u64,
    pub open: Option<OpenCharge>,
}

/// The account of a charged DAG and what its tasks have cost.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct DagCharge {
    pub account: String,
    pub tasks: Vec<TaskCharge>,
}

impl DagCharge {
    /// The account a task pays from.
    pub fn account_of(&self, task: u32) -> &str {
        self.tasks
            .get(task as usize)
            .and_then(|charge| charge.account.as_deref())
            .unwrap_or(&self.account)
    }

    /// Settled so far over all attempts.
    pub fn spent_micros(&self) -> u64 {
        self.tasks
            .iter()
            .fold(0u64, |sum, task| sum.saturating_add(task.spent_micros))
    }

    /// Held for the attempts placed or running now.
    pub fn reserved_micros(&self) -> u64 {
        self.tasks
            .iter()
            .filter_map(|task| task.open.as_ref())
            .fold(0u64, |sum, open| sum.saturating_add(open.estimate_micros))
    }
}

/// A task's share of a machine of `capacity`, rounded up: its largest share over the
/// dimensions it requests (2 of 8 cores is 250,000 ppm).
pub fn share_ppm(requests: &Resources, capacity: &Resources) -> u32 {
    Dimension::ALL
        .iter()
        .filter(|&&dim| requests.get(dim) > 0 && capacity.get(dim) > 0)
        .map(|&dim| {
            let ppm = (requests.get(dim) as u128 * SHARE_PPM_FULL as u128)
                .div_ceil(capacity.get(dim) as u128);
            ppm.min(SHARE_PPM_FULL as u128) as u32
        })
        .max()
        .unwrap_or(0)
}

/// The cost of holding `share_ppm` of a machine at `price_per_hour_micros` for `ms`, in
/// micro-units, rounded up (one rule for estimates and settlements alike).
pub fn cost_micros(price_per_hour_micros: u64, share_ppm: u32, ms: u64) -> u64 {
    let Some(numerator) =
        (price_per_hour_micros as u128 * share_ppm as u128).checked_mul(ms as u128)
    else {
        return u64::MAX;
    };
    let cost = numerator.div_ceil(MS_PER_HOUR * SHARE_PPM_FULL as u128);
    cost.min(u64::MAX as u128) as u64
}

/// A pool's price per hour for the machines it runs (spot where it offers spot).
pub fn pool_price(pool: &Pool) -> u64 {
    pool.spot_per_hour_micros
        .unwrap_or(pool.on_demand_per_hour_micros)
}

/// The runtime of `runtime_ms` of recorded work on a pool of `speed`, rounded up.
pub fn runtime_on(runtime_ms: u64, speed: f64) -> u64 {
    if speed > 0.0 {
        (runtime_ms as f64 / speed).ceil() as u64
    } else {
        runtime_ms
    }
}

impl DagState {
    /// The charge of a DAG, when it has an account.
    pub fn charge(&self, dag: u64) -> Option<&DagCharge> {
        self.charges.get(&dag)
    }

    /// Why a DAG's next task could not be placed for its budget, until one of its tasks is
    /// (or it finishes).
    pub fn paused(&self, dag: u64) -> Option<&Unaffordable> {
        self.paused.get(&dag)
    }

    /// The projected cost to finish a charged DAG: what is spent, plus the estimates of the
    /// attempts open now, plus each task not started yet on its cheapest usable pool.
    pub fn projected_micros(&self, dag: u64) -> Option<u64> {
        let charge = self.charges.get(&dag)?;
        let found = self.dags.get(&dag)?;
        let total = charge
            .spent_micros()
            .saturating_add(charge.reserved_micros());
        Some(
            self.unstarted(found, charge)
                .fold(total, |total, (_, cost)| total.saturating_add(cost)),
        )
    }

    /// What the charged DAGs still to finish will spend on tasks not started yet (on their
    /// cheapest pools), per account that pays: committed work the budget has not held yet.
    pub fn unstarted_costs(&self) -> BTreeMap<String, u64> {
        let mut costs: BTreeMap<String, u64> = BTreeMap::new();
        for (dag, charge) in &self.charges {
            let found = &self.dags[dag];
            for (task, cost) in self.unstarted(found, charge) {
                let entry = costs
                    .entry(charge.account_of(task).to_string())
                    .or_insert(0);
                *entry = entry.saturating_add(cost);
            }
        }
        costs
    }

    /// The tasks of a charged DAG not started yet (waiting, not placed), with their estimated
    /// cost on the cheapest pool they may use.
    fn unstarted<'a>(
        &'a self,
        dag: &'a Dag,
        charge: &'a DagCharge,
    ) -> impl Iterator<Item = (u32, u64)> + 'a {
        dag.tasks
            .iter()
            .zip(&charge.tasks)
            .enumerate()
            .filter(|(_, (task, task_charge))| {
                task_charge.open.is_none()
                    && matches!(
                        task.state,
                        TaskState::Queued | TaskState::Eligible | TaskState::Preempted
                    )
            })
            .map(|(task_idx, (task, _))| {
                let cheapest = self
                    .estimates(task, task.spec.pools)
                    .into_iter()
                    .map(|(_, cost)| cost)
                    .min()
                    .unwrap_or(0);
                (task_idx as u32, cheapest)
            })
    }

    /// The estimated cost of an attempt of `task` on each pool of `mask`: (pool, micro-units).
    pub(crate) fn estimates(&self, task: &LiveTask, mask: u64) -> Vec<(usize, u64)> {
        self.config
            .pools
            .iter()
            .enumerate()
            .filter(|(pool_idx, _)| mask & (1u64 << pool_idx) != 0)
            .map(|(pool_idx, pool)| (pool_idx, estimate_on(task, pool).estimate_micros))
            .collect()
    }

    /// The hold a placement of `task` on a machine of `pool_idx` asks for, and the charge it
    /// opens, or None when its DAG is not charged.
    pub(crate) fn price_placement(&self, task: TaskRef, pool_idx: usize) -> Option<OpenCharge> {
        self.charges.get(&task.dag)?;
        let (_, live) = self.task(task)?;
        Some(estimate_on(live, &self.config.pools[pool_idx]))
    }

    /// The settlement of the attempt `event` ends, if it moves a charged task off its
    /// machine: what it ran from its lease to the move. Asked before the move is folded.
    pub(crate) fn attempt_end_of(&self, event: &DagEvent) -> Option<DagEvent> {
        let DagEvent::Moved(moved) = event else {
            return None;
        };
        if !super::evolve::holds_machine(moved.from) || moved.to == TaskState::Running {
            return None;
        }
        let open = self.open_charge(moved.task)?;
        let time_ms = open
            .started_ms
            .map_or(0, |started| moved.at_ms.saturating_sub(started));
        Some(DagEvent::AttemptEnded {
            task: moved.task,
            attempt: open.attempt,
            reservation: open.reservation,
            cost_micros: cost_micros(open.price_per_hour_micros, open.share_ppm, time_ms),
            time_ms,
            at_ms: moved.at_ms,
        })
    }

    pub(crate) fn open_charge(&self, task: TaskRef) -> Option<&OpenCharge> {
        self.charges
            .get(&task.dag)?
            .tasks
            .get(task.task as usize)?
            .open
            .as_ref()
    }

    pub(crate) fn task_charge_mut(&mut self, task: TaskRef) -> Option<&mut TaskCharge> {
        self.charges
            .get_mut(&task.dag)?
            .tasks
            .get_mut(task.task as usize)
    }
}

impl DagState {
    /// The fold of the three charge events (see `evolve.rs`).
    pub(crate) fn fold_charge(&mut self, event: &DagEvent) {
        match event {
            DagEvent::Accounted {
                dag,
                account,
                tasks,
                ..
            } => {
                let n_tasks = self.dags[dag].tasks.len();
                let mut charge = DagCharge {
                    account: account.clone(),
                    tasks: vec![TaskCharge::default(); n_tasks],
                };
                for (task, task_account) in tasks {
                    charge.tasks[*task as usize].account = Some(task_account.clone());
                }
                self.charges.insert(*dag, charge);
            }
            DagEvent::Charged { task, charge, .. } => {
                let task_charge = self.task_charge_mut(*task).expect("a checked charge");
                task_charge.open = Some(charge.clone());
            }
            DagEvent::AttemptEnded {
                task,
                cost_micros,
                time_ms,
                ..
            } => {
                let task_charge = self.task_charge_mut(*task).expect("a checked charge");
                task_charge.open = None;
                task_charge.spent_micros = task_charge.spent_micros.saturating_add(*cost_micros);
                task_charge.time_ms = task_charge.time_ms.saturating_add(*time_ms);
            }
            DagEvent::Paused { dag, why, .. } => {
                self.paused.insert(*dag, why.clone());
            }
            DagEvent::Resumed { dag, .. } => {
                self.paused.remove(dag);
            }
            _ => unreachable!("not a charge event: {event:?}"),
        }
    }

    /// What replay checks of a charge event before folding it.
    pub(crate) fn check_charge(&self, event: &DagEvent) -> Result<(), super::DagError> {
        let fail = |message: String| Err(super::DagError::Replay(message));
        match event {
            DagEvent::Accounted { dag, tasks, .. } => {
                let Some(found) = self.dags.get(dag) else {
                    return fail(format!("dag_{dag} is charged before it was submitted"));
                };
                let n_tasks = found.tasks.len() as u64;
                let in_order = tasks.windows(2).all(|pair| pair[0].0 < pair[1].0);
                if self.charges.contains_key(dag)
                    || !in_order
                    || tasks.iter().any(|(task, _)| *task as u64 >= n_tasks)
                {
                    return fail(format!("dag_{dag}: its accounts do not fit it"));
                }
                Ok(())
            }
            DagEvent::Charged { task, .. } => match (self.task(*task), self.open_charge(*task)) {
                (Some((_, live)), None)
                    if live.state == TaskState::Eligible
                        && self.charges.contains_key(&task.dag) =>
                {
                    Ok(())
                }
                _ => fail(format!("task {task} is charged where it cannot be placed")),
            },
            DagEvent::AttemptEnded {
                task,
                attempt,
                reservation,
                ..
            } => match (self.task(*task), self.open_charge(*task)) {
                (Some((_, live)), Some(open))
                    if open.attempt == *attempt
                        && open.reservation == *reservation
                        && !super::evolve::holds_machine(live.state) =>
                {
                    Ok(())
                }
                _ => fail(format!(
                    "task {task} settles attempt {attempt}, which is not open or still runs"
                )),
            },
            DagEvent::Paused { dag, .. } => match self.dags.get(dag) {
                Some(found)
                    if found.n_open > 0
                        && self.charges.contains_key(dag)
                        && !self.paused.contains_key(dag) =>
                {
                    Ok(())
                }
                _ => fail(format!("dag_{dag} is paused where it cannot be")),
            },
            DagEvent::Resumed { dag, .. } => {
                if self.paused.contains_key(dag) {
                    Ok(())
                } else {
                    fail(format!("dag_{dag} resumes without being paused"))
                }
            }
            _ => unreachable!("not a charge event: {event:?}"),
        }
    }
}

/// Bytes of an account path at most (the ledger checks the path itself).
const ACCOUNT_BYTES_MAX: usize = 1024;

/// The tasks that name an account other than the DAG's, in task order. Only a charged DAG's
/// tasks may name one.
pub(crate) fn charged_tasks(request: &SubmitDag) -> Result<Vec<(u32, String)>, DagError> {
    let check = |field: String, account: &str| {
        if account.is_empty() || account.len() > ACCOUNT_BYTES_MAX {
            return Err(DagError::invalid(
                field,
                format!("an account path is 1 to {ACCOUNT_BYTES_MAX} bytes"),
            ));
        }
        Ok(())
    };
    if let Some(account) = &request.account {
        check("account".into(), account)?;
    }
    let mut named = Vec::new();
    for (task_idx, task) in request.tasks.iter().enumerate() {
        let Some(account) = &task.account else {
            continue;
        };
        let field = format!("tasks[{task_idx}].account");
        check(field.clone(), account)?;
        match &request.account {
            None => {
                return Err(DagError::invalid(
                    field,
                    format!("task {} names an account, the dag none", task.name),
                ));
            }
            Some(dag_account) if dag_account == account => {}
            Some(_) => named.push((task_idx as u32, account.clone())),
        }
    }
    Ok(named)
}

/// An attempt of `task` on a machine of `pool`, priced: its share, the price, the estimated
/// runtime and cost (not held yet: no reservation, not started).
pub(crate) fn estimate_on(task: &LiveTask, pool: &Pool) -> OpenCharge {
    let price = pool_price(pool);
    let share = share_ppm(&task.spec.requests, &pool.capacity);
    let time_ms = runtime_on(task.spec.runtime_ms, pool.speed);
    OpenCharge {
        attempt: task.attempts + 1,
        reservation: 0,
        price_per_hour_micros: price,
        share_ppm: share,
        estimate_micros: cost_micros(price, share, time_ms),
        estimate_time_ms: time_ms,
        started_ms: None,
    }
}
