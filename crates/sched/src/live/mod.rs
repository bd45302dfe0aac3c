//! The live DAG state a server keeps: submitted DAGs, the state of each task, placements on
//! machines, leases held by workers.
//!
//! As in the ledger, [`DagState::apply`] *decides* a command against the state (`submit.rs`,
//! `tasks.rs`, `place.rs`; nothing changes on error) and every decided [`DagEvent`] is folded
//! by [`DagState::evolve`] (`evolve.rs`), the same fold [`DagState::replay`] runs on journaled
//! events. Time is an argument; there is no clock, no I/O. Tasks move only along the legal
//! transitions of [`TaskState`].
//!
//! One thing is deliberately outside the fold: which workers were seen lately (a worker's
//! `lease` call marks its machine present for one lease TTL). Placement only uses present
//! machines; presence is soft state, not journaled, and starts empty after a restart.

mod capacity;
mod charge;
mod command;
mod control;
mod error;
mod event;
mod evolve;
mod gauges;
mod ladder;
mod place;
mod snapshot;
mod submit;
mod tasks;
#[cfg(test)]
mod tests;
#[cfg(test)]
mod tests_capacity;
#[cfg(test)]
mod tests_charge;
#[cfg(test)]
mod tests_control;
#[cfg(test)]
mod tests_replay;
#[cfg(test)]
mod tests_submit;

use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::fmt;

use serde::{Deserialize, Serialize};

use crate::limits::LimitRanges;
use crate::planner::Weights;
use crate::platform::Pool;
use crate::quota::Quotas;
use crate::resources::Resources;
use crate::state::TaskState;

pub use capacity::{API_WINDOW_MS, ApiUse, ApiWindows};
pub use charge::{
    Budget, CostAsk, DagCharge, OpenCharge, SHARE_PPM_FULL, TaskCharge, Unaffordable, Unlimited,
    cost_micros, pool_price, runtime_on, share_ppm,
};
pub use command::{DagAnswer, DagCommand, SubmitDag, TaskNeeds, TaskRequest};
pub use error::{DagError, Refusal};
pub use event::{DagEvent, DagSubmitted, TaskMove, TaskSpec};
pub use gauges::{PoolGauge, QuotaGauge, SchedGauges};
pub use ladder::Rung;
pub use snapshot::DagSnapshot;

/// Bounds on what the live state keeps and accepts.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct DagLimits {
    /// DAGs kept; finished ones are forgotten oldest first to make room.
    pub dags_max: usize,
    pub tasks_per_dag_max: usize,
    /// Tasks kept over all DAGs.
    pub tasks_max: usize,
    pub parents_per_task_max: usize,
    /// Bytes of a task name, a DAG name, a tenant or an idempotency key.
    pub name_bytes_max: usize,
    pub checkpoint_bytes_max: usize,
    pub error_bytes_max: usize,
    pub attempts_max: u32,
    /// Leases released by one tick; the rest wait for the next.
    pub expiries_per_tick_max: usize,
    /// Eligible tasks one placement pass considers (the best by priority and rank).
    pub eligible_per_pass_max: usize,
}

impl Default for DagLimits {
    fn default() -> Self {
        DagLimits {
            dags_max: 10_000,
            tasks_per_dag_max: 100_000,
            tasks_max: 1_000_000,
            parents_per_task_max: 10_000,
            name_bytes_max: 256,
            checkpoint_bytes_max: 16 << 10,
            error_bytes_max: 1 << 10,
            attempts_max: 100,
            expiries_per_tick_max: 100_000,
            eligible_per_pass_max: 10_000,
        }
    }
}

/// Pools at most (a task's usable pools are a 64-bit mask).
pub const POOLS_MAX: usize = 64;
/// Machines at most, over all pools.
pub const MACHINES_MAX: usize = 100_000;
/// Attempts a task gets when its submission does not say.
pub const DEFAULT_ATTEMPTS: u32 = 3;

/// What the server's configuration gives the live state. Not journaled: events carry resolved
/// values (effective requests, pool masks, lease deadlines), so replay does not depend on it,
/// except for the machines, which must still exist.
#[derive(Debug, Clone)]
pub struct DagConfig {
    pub pools: Vec<Pool>,
    pub weights: Weights,
    pub lease_ttl_ms: u64,
    /// None when no quota is configured (nothing is managed).
    pub quotas: Option<Quotas>,
    pub limit_ranges: LimitRanges,
    pub limits: DagLimits,
    /// The names of the custom dimensions the pools offer, by `Dimension::Custom` index
    /// (`platform::custom_dimensions`).
    pub custom_dimensions: Vec<String>,
}

impl DagConfig {
    /// The lease TTL when none is configured.
    pub const LEASE_TTL_MS_DEFAULT: u64 = 30_000;

    /// Pools with everything else at its default: no quotas, no limit ranges, the default
    /// weights, bounds and lease TTL.
    pub fn of_pools(pools: Vec<Pool>) -> DagConfig {
        DagConfig {
            pools,
            weights: Weights::default(),
            lease_ttl_ms: DagConfig::LEASE_TTL_MS_DEFAULT,
            quotas: None,
            limit_ranges: LimitRanges::default(),
            limits: DagLimits::default(),
            custom_dimensions: Vec::new(),
        }
    }
}

/// A task of a DAG: `tsk_{dag}_{task}` on the wire.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
pub struct TaskRef {
    pub dag: u64,
    pub task: u32,
}

impl fmt::Display for TaskRef {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "tsk_{}_{}", self.dag, self.task)
    }
}

/// A task's live state.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct LiveTask {
    pub spec: TaskSpec,
    #[serde(with = "event::state_code")]
    pub state: TaskState,
    /// The machine of the current or last placement.
    pub machine: Option<u32>,
    /// Leases taken so far.
    pub attempts: u32,
    /// While SCHEDULED or RUNNING: the deadline; 0 otherwise.
    pub lease_expires_ms: u64,
    pub checkpoint: Option<String>,
    pub error: Option<String>,
    pub updated_ms: u64,
    /// Derived from the DAG on load, not snapshotted.
    #[serde(skip)]
    pub children: Vec<u32>,
    /// Parents not COMPLETED yet.
    #[serde(skip)]
    pub(crate) waiting_on: u32,
    /// Upward rank: the longest runtime (ms) from this task's start to the DAG's end.
    #[serde(skip)]
    pub rank_ms: u64,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Dag {
    pub id: u64,
    pub name: Option<String>,
    pub tenant: String,
    pub priority: i32,
    pub idempotency_key: Option<String>,
    pub submitted_ms: u64,
    pub tasks: Vec<LiveTask>,
    /// Tasks not COMPLETED, FAILED or CANCELLED.
    #[serde(skip)]
    pub(crate) n_open: u32,
}

/// Where a DAG stands as a whole.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum DagStatus {
    Running,
    Completed,
    /// Finished with a task FAILED for good (its descendants CANCELLED).
    Failed,
    /// Finished because it was cancelled: no task FAILED, some CANCELLED.
    Cancelled,
}

impl DagStatus {
    pub fn name(self) -> &'static str {
        match self {
            DagStatus::Running => "running",
            DagStatus::Completed => "completed",
            DagStatus::Failed => "failed",
            DagStatus::Cancelled => "cancelled",
        }
    }
}

impl Dag {
    pub fn status(&self) -> DagStatus {
        if self.n_open > 0 {
            DagStatus::Running
        } else if self
            .tasks
            .iter()
            .all(|task| task.state == TaskState::Completed)
        {
            DagStatus::Completed
        } else if self
            .tasks
            .iter()
            .any(|task| task.state == TaskState::Failed)
        {
            DagStatus::Failed
        } else {
            DagStatus::Cancelled
        }
    }
}

/// A machine: derived figures plus the soft presence of its worker.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct LiveMachine {
    pub pool: u32,
    pub index: u32,
    /// What SCHEDULED and RUNNING tasks on it hold.
    pub used: Resources,
    /// SCHEDULED tasks waiting for the worker's lease.
    pub scheduled: BTreeSet<TaskRef>,
    /// Soft: the worker counts as present until then.
    pub present_until_ms: u64,
}

/// An eligible task's place in line: higher priority, then higher rank, then older first.
pub(crate) type EligibleKey = (std::cmp::Reverse<i32>, std::cmp::Reverse<u64>, TaskRef);

/// Every DAG the server keeps, and the indexes placement and expiry need.
#[derive(Debug, Clone)]
pub struct DagState {
    pub(crate) config: DagConfig,
    pub(crate) machines: Vec<LiveMachine>,
    pub(crate) dags: BTreeMap<u64, Dag>,
    pub(crate) next_dag: u64,
    pub(crate) n_tasks: usize,
    pub(crate) eligible: BTreeSet<EligibleKey>,
    /// SCHEDULED and RUNNING tasks by deadline.
    pub(crate) expiry: BTreeSet<(u64, TaskRef)>,
    /// DAGs whose every task is closed, oldest first.
    pub(crate) finished: BTreeSet<u64>,
    pub(crate) by_key: HashMap<(String, String), u64>,
    /// Cores each tenant holds now (fair share).
    pub(crate) tenant_cores: HashMap<String, u64>,
    /// The charged DAGs: their accounts and what their tasks cost (`charge.rs`).
    pub(crate) charges: BTreeMap<u64, DagCharge>,
    /// DAGs whose next task the budget refused, until one of theirs is placed or they finish.
    pub(crate) paused: BTreeMap<u64, Unaffordable>,
    /// Per DAG, the tasks that use an API: (task, requests, tokens), in task order.
    pub(crate) api_uses: BTreeMap<u64, Vec<(u32, u64, u64)>>,
    /// The placements of the last minute on the API pools (`capacity.rs`).
    pub(crate) api_windows: ApiWindows,
}

impl DagState {
    /// An empty state on the configured machines.
    pub fn new(config: DagConfig) -> Result<DagState, DagError> {
        if config.pools.len() > POOLS_MAX {
            return Err(DagError::Config(format!(
                "{} pools configured, at most {POOLS_MAX}",
                config.pools.len()
            )));
        }
        let n_machines: u64 = config.pools.iter().map(|pool| pool.machines as u64).sum();
        if n_machines > MACHINES_MAX as u64 {
            return Err(DagError::Config(format!(
                "{n_machines} machines configured, at most {MACHINES_MAX}"
            )));
        }
        if config.lease_ttl_ms == 0 {
            return Err(DagError::Config("lease_ttl_ms must be at least 1".into()));
        }
        let mut machines = Vec::with_capacity(n_machines as usize);
        for (pool_idx, pool) in config.pools.iter().enumerate() {
            for index in 0..pool.machines {
                machines.push(LiveMachine {
                    pool: pool_idx as u32,
                    index,
                    used: Resources::ZERO,
                    scheduled: BTreeSet::new(),
                    present_until_ms: 0,
                });
            }
        }
        Ok(DagState {
            config,
            machines,
            dags: Default::default(),
            next_dag: 1,
            n_tasks: 0,
            eligible: BTreeSet::new(),
            expiry: BTreeSet::new(),
            finished: BTreeSet::new(),
            by_key: HashMap::new(),
            tenant_cores: HashMap::new(),
            charges: BTreeMap::new(),
            paused: BTreeMap::new(),
            api_uses: BTreeMap::new(),
            api_windows: ApiWindows::default(),
        })
    }

    /// Decides `command` at `now_ms` and folds what it decided, charging nothing. On error
    /// nothing changed.
    pub fn apply(
        &mut self,
        command: DagCommand,
        now_ms: u64,
    ) -> Result<(DagAnswer, Vec<DagEvent>), DagError> {
        self.apply_with(command, now_ms, &mut Unlimited)
    }

    /// [`DagState::apply`] with the budget that placements of charged DAGs take their holds
    /// from. A refused command took no hold.
    pub fn apply_with(
        &mut self,
        command: DagCommand,
        now_ms: u64,
        budget: &mut dyn Budget,
    ) -> Result<(DagAnswer, Vec<DagEvent>), DagError> {
        let mut events = Vec::new();
        let answer = match command {
            DagCommand::Submit(request) => self.submit(request, now_ms, &mut events, budget),
            DagCommand::Lease { worker } => self.lease(&worker, now_ms, &mut events, budget),
            DagCommand::Heartbeat { task, attempt } => {
                self.heartbeat(task, attempt, None, now_ms, &mut events)
            }
            DagCommand::Checkpoint {
                task,
                attempt,
                checkpoint,
            } => self.heartbeat(task, attempt, Some(checkpoint), now_ms, &mut events),
            DagCommand::Complete { task, attempt } => {
                self.complete(task, attempt, now_ms, &mut events)
            }
            DagCommand::Fail {
                task,
                attempt,
                error,
                retryable,
            } => self.fail(task, attempt, error, retryable, now_ms, &mut events),
            DagCommand::Tick => Ok(self.tick(now_ms, &mut events, budget)),
            DagCommand::Cancel { dag, reason } => {
                self.cancel(dag, reason, now_ms, &mut events, budget)
            }
            DagCommand::Interrupted { worker, reason } => {
                self.interrupted(&worker, reason, now_ms, &mut events, budget)
            }
        };
        // Invariant: a refused command emitted nothing (deciding never half-applies).
        debug_assert!(answer.is_ok() || events.is_empty());
        answer.map(|answer| (answer, events))
    }

    /// Folds a decided event in and keeps it for the journal.
    /// A move that takes a charged task off its machine brings the settlement of its attempt
    /// (`charge.rs`), whatever decided the move.
    pub(crate) fn emit(&mut self, event: DagEvent, events: &mut Vec<DagEvent>) {
        let ended = self.attempt_end_of(&event);
        for event in std::iter::once(event).chain(ended) {
            // Invariant: what deciding emits is what replay would accept.
            debug_assert_eq!(self.check_replayable(&event), Ok(()), "{event:?}");
            self.evolve(&event);
            events.push(event);
        }
    }

    /// Folds one journaled event in, after checking it fits the state.
    pub fn replay(&mut self, event: &DagEvent) -> Result<(), DagError> {
        self.check_replayable(event)?;
        self.evolve(event);
        Ok(())
    }

    /// The DAGs kept, by id, from the one after `after` on.
    pub fn dags_after(&self, after: u64) -> impl DoubleEndedIterator<Item = &Dag> {
        self.dags
            .range(after.saturating_add(1)..)
            .map(|(_, dag)| dag)
    }

    pub fn dag(&self, dag: u64) -> Option<&Dag> {
        self.dags.get(&dag)
    }

    pub fn task(&self, task: TaskRef) -> Option<(&Dag, &LiveTask)> {
        let dag = self.dags.get(&task.dag)?;
        Some((dag, dag.tasks.get(task.task as usize)?))
    }

    pub fn n_dags(&self) -> usize {
        self.dags.len()
    }

    pub fn n_tasks(&self) -> usize {
        self.n_tasks
    }

    /// A request's custom dimensions by name, those it asks any of.
    pub fn custom_requests(&self, requests: &crate::resources::Resources) -> Vec<(String, u64)> {
        self.config
            .custom_dimensions
            .iter()
            .zip(requests.custom)
            .filter(|(_, amount)| *amount > 0)
            .map(|(name, amount)| (name.clone(), amount))
            .collect()
    }

    pub fn lease_ttl_ms(&self) -> u64 {
        self.config.lease_ttl_ms
    }

    pub fn n_machines(&self) -> usize {
        self.machines.len()
    }

    /// `POOL#INDEX`, the name schedules use.
    pub fn machine_name(&self, machine: u32) -> String {
        match self.machines.get(machine as usize) {
            Some(found) => format!(
                "{}#{}",
                self.config.pools[found.pool as usize].name, found.index
            ),
            None => format!("machine-{machine}"),
        }
    }

    /// The machine of a worker id: `POOL#INDEX` or `POOL-INDEX`.
    pub fn worker_machine(&self, worker: &str) -> Option<u32> {
        let (pool_name, index) = worker
            .rsplit_once('#')
            .or_else(|| worker.rsplit_once('-'))?;
        if index.is_empty() || !index.bytes().all(|byte| byte.is_ascii_digit()) {
            return None;
        }
        let index: u32 = index.parse().ok()?;
        let pool_idx = self
            .config
            .pools
            .iter()
            .position(|pool| pool.name == pool_name)?;
        if index >= self.config.pools[pool_idx].machines {
            return None;
        }
        let first: u32 = self.config.pools[..pool_idx]
            .iter()
            .map(|pool| pool.machines)
            .sum();
        Some(first + index)
    }
}
