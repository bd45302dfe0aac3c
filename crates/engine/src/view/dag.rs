//! Views of DAGs, tasks and leases.

use std::collections::BTreeMap;

use purser_sched::{
    Dag, DagState, DagStatus, LiveTask, Resources, TaskRef, TaskState, Unaffordable,
};

/// A task in a DAG's status.
#[derive(Clone, Debug, PartialEq)]
pub struct TaskView {
    pub task: TaskRef,
    /// The id it was submitted with.
    pub name: String,
    pub state: TaskState,
    /// `POOL-INDEX` of the current or last placement.
    pub machine: Option<String>,
    pub attempts: u32,
    pub max_attempts: u32,
    pub depends_on: Vec<String>,
    pub runtime_ms: u64,
    pub requests: Resources,
    /// Its custom dimensions by name.
    pub custom_requests: Vec<(String, u64)>,
    pub priority: i32,
    pub checkpointing: bool,
    pub checkpoint: Option<String>,
    /// While SCHEDULED or RUNNING.
    pub lease_expires_ms: Option<u64>,
    pub error: Option<String>,
    pub updated_ms: u64,
    /// Of a charged DAG: the account the task pays from, and what its attempts have cost.
    pub account: Option<String>,
    pub cost_micros: Option<u64>,
}

/// What a charged DAG's machine time costs, in micro-units of money.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct DagCostView {
    /// Settled: attempts that ended.
    pub spent_micros: u64,
    /// Held for the attempts placed or running now (their estimates).
    pub reserved_micros: u64,
    /// Spent, plus reserved, plus the estimates of the tasks not started (on their cheapest
    /// pool).
    pub projected_micros: u64,
}

/// A DAG's figures without its tasks.
#[derive(Clone, Debug, PartialEq)]
pub struct DagSummaryView {
    pub id: u64,
    pub name: Option<String>,
    pub tenant: String,
    pub priority: i32,
    /// `running`, `paused`, `completed`, `failed` or `cancelled`.
    pub state: &'static str,
    pub submitted_ms: u64,
    pub n_tasks: usize,
    /// Tasks per state.
    pub counts: BTreeMap<String, u32>,
    /// The account its machine time is charged to (None: not charged).
    pub account: Option<String>,
    pub cost: Option<DagCostView>,
    /// While paused: the account, dimension, need and what is left.
    pub paused: Option<Unaffordable>,
}

/// A DAG with its tasks.
#[derive(Clone, Debug, PartialEq)]
pub struct DagView {
    pub summary: DagSummaryView,
    pub tasks: Vec<TaskView>,
    /// The answer to a submission whose idempotency key was seen.
    pub duplicate: bool,
}

/// A page of DAGs, oldest first.
#[derive(Clone, Debug, PartialEq)]
pub struct DagPageView {
    pub dags: Vec<DagSummaryView>,
    /// Where the next page starts (`after`), when more may follow.
    pub next_after: Option<u64>,
}

/// A leased task: what a worker needs to run it.
#[derive(Clone, Debug, PartialEq)]
pub struct LeasedTaskView {
    pub task: TaskRef,
    pub dag: u64,
    pub name: String,
    pub tenant: String,
    pub attempt: u32,
    pub machine: String,
    pub runtime_ms: u64,
    pub requests: Resources,
    pub custom_requests: Vec<(String, u64)>,
    pub checkpoint: Option<String>,
    pub lease_expires_ms: u64,
    pub lease_ttl_ms: u64,
    /// The account the task's usage belongs to (its own, else its DAG's), when charged.
    pub account: Option<String>,
}

/// The tasks one lease call handed out, the first in line first.
#[derive(Clone, Debug, PartialEq)]
pub struct LeaseView {
    pub tasks: Vec<LeasedTaskView>,
    /// Whether the worker asked for a batch (`max_tasks`).
    pub batch: bool,
}

/// A task's state after a heartbeat, checkpoint, completion or failure.
#[derive(Clone, Debug, PartialEq)]
pub struct TaskStateView {
    pub task: TaskRef,
    pub state: TaskState,
    pub attempts: u32,
    pub machine: Option<String>,
    pub lease_expires_ms: Option<u64>,
}

/// What a worker's interruption sent back to ELIGIBLE.
#[derive(Clone, Debug, PartialEq)]
pub struct InterruptedView {
    pub machine: String,
    pub returned: usize,
}

fn lease_expiry(task: &LiveTask) -> Option<u64> {
    matches!(task.state, TaskState::Scheduled | TaskState::Running).then_some(task.lease_expires_ms)
}

/// Tasks per state.
fn counts(dag: &Dag) -> BTreeMap<String, u32> {
    let mut counts: BTreeMap<String, u32> = BTreeMap::new();
    for task in &dag.tasks {
        *counts.entry(task.state.name().to_string()).or_insert(0) += 1;
    }
    counts
}

/// A DAG's state: its status, or `paused` while the budget holds it back.
pub fn state_name(state: &DagState, dag: &Dag) -> &'static str {
    match dag.status() {
        DagStatus::Running if state.paused(dag.id).is_some() => "paused",
        status => status.name(),
    }
}

pub fn summary(state: &DagState, dag: &Dag) -> DagSummaryView {
    let charge = state.charge(dag.id);
    DagSummaryView {
        id: dag.id,
        name: dag.name.clone(),
        tenant: dag.tenant.clone(),
        priority: dag.priority,
        state: state_name(state, dag),
        submitted_ms: dag.submitted_ms,
        n_tasks: dag.tasks.len(),
        counts: counts(dag),
        account: charge.map(|charge| charge.account.clone()),
        cost: charge.map(|charge| DagCostView {
            spent_micros: charge.spent_micros(),
            reserved_micros: charge.reserved_micros(),
            projected_micros: state.projected_micros(dag.id).unwrap_or(0),
        }),
        paused: state.paused(dag.id).cloned(),
    }
}

pub fn dag(state: &DagState, dag: &Dag) -> DagView {
    let charge = state.charge(dag.id);
    let tasks = dag
        .tasks
        .iter()
        .enumerate()
        .map(|(task_idx, task)| TaskView {
            task: TaskRef {
                dag: dag.id,
                task: task_idx as u32,
            },
            name: task.spec.name.clone(),
            state: task.state,
            machine: task.machine.map(|machine| state.machine_name(machine)),
            attempts: task.attempts,
            max_attempts: task.spec.max_attempts,
            depends_on: task
                .spec
                .parents
                .iter()
                .map(|&parent| dag.tasks[parent as usize].spec.name.clone())
                .collect(),
            runtime_ms: task.spec.runtime_ms,
            requests: task.spec.requests,
            custom_requests: state.custom_requests(&task.spec.requests),
            priority: task.spec.priority,
            checkpointing: task.spec.checkpointing,
            checkpoint: task.checkpoint.clone(),
            lease_expires_ms: lease_expiry(task),
            error: task.error.clone(),
            updated_ms: task.updated_ms,
            account: charge.map(|charge| charge.account_of(task_idx as u32).to_string()),
            cost_micros: charge.map(|charge| charge.tasks[task_idx].spent_micros),
        })
        .collect();
    DagView {
        summary: summary(state, dag),
        tasks,
        duplicate: false,
    }
}

pub fn leased(state: &DagState, task_ref: TaskRef) -> LeasedTaskView {
    let (dag, task) = state.task(task_ref).expect("a leased task exists");
    LeasedTaskView {
        task: task_ref,
        dag: dag.id,
        name: task.spec.name.clone(),
        tenant: dag.tenant.clone(),
        attempt: task.attempts,
        machine: state.machine_name(task.machine.expect("a leased task has a machine")),
        runtime_ms: task.spec.runtime_ms,
        requests: task.spec.requests,
        custom_requests: state.custom_requests(&task.spec.requests),
        checkpoint: task.checkpoint.clone(),
        lease_expires_ms: task.lease_expires_ms,
        lease_ttl_ms: state.lease_ttl_ms(),
        account: state
            .charge(dag.id)
            .map(|charge| charge.account_of(task_ref.task).to_string()),
    }
}

pub fn task_state(state: &DagState, task_ref: TaskRef) -> TaskStateView {
    let (_, task) = state.task(task_ref).expect("an answered task exists");
    TaskStateView {
        task: task_ref,
        state: task.state,
        attempts: task.attempts,
        machine: task.machine.map(|machine| state.machine_name(machine)),
        lease_expires_ms: lease_expiry(task),
    }
}

/// DAGs a report lists at most (the newest), and tasks per DAG (the most expensive).
pub const REPORT_DAGS_MAX: usize = 100;
pub const REPORT_TASKS_MAX: usize = 20;

/// The machine time of the DAGs charged to `path` or below it, newest first, for reports.
pub fn dag_costs(state: &DagState, path: &str) -> Vec<purser_core::report::DagCost> {
    let mut costs = Vec::new();
    for dag in state.dags_after(0).rev() {
        if costs.len() >= REPORT_DAGS_MAX {
            break;
        }
        let Some(charge) = state.charge(dag.id) else {
            continue;
        };
        if !purser_core::path::is_within(&charge.account, path) {
            continue;
        }
        let mut tasks: Vec<purser_core::report::TaskCost> = dag
            .tasks
            .iter()
            .zip(&charge.tasks)
            .enumerate()
            .filter(|(_, (_, task_charge))| task_charge.spent_micros > 0 || task_charge.time_ms > 0)
            .map(|(idx, (task, task_charge))| purser_core::report::TaskCost {
                id: TaskRef {
                    dag: dag.id,
                    task: idx as u32,
                }
                .to_string(),
                name: task.spec.name.clone(),
                account: charge.account_of(idx as u32).to_string(),
                attempts: task.attempts,
                spent_micros: task_charge.spent_micros,
                time_ms: task_charge.time_ms,
            })
            .collect();
        tasks.sort_by(|a, b| b.spent_micros.cmp(&a.spent_micros).then(a.id.cmp(&b.id)));
        let n_tasks_omitted = tasks.len().saturating_sub(REPORT_TASKS_MAX);
        tasks.truncate(REPORT_TASKS_MAX);
        costs.push(purser_core::report::DagCost {
            id: dag.id,
            name: dag.name.clone(),
            account: charge.account.clone(),
            state: state_name(state, dag),
            spent_micros: charge.spent_micros(),
            reserved_micros: charge.reserved_micros(),
            projected_micros: state.projected_micros(dag.id).unwrap_or(0),
            tasks,
            n_tasks_omitted,
        });
    }
    costs
}
