//! DAGs on the engine thread: commands to the live state (`purser_sched::DagState`), each of
//! its events journaled under the ledger's one sequence, and answers rendered for the wire.

use std::collections::BTreeMap;

use axum::Json;
use axum::response::{IntoResponse, Response};
use purser_sched::{
    Dag, DagAnswer, DagCommand, DagError, DagEvent, DagState, LiveTask, SubmitDag, TaskRef,
    TaskState,
};
use serde_json::{Value, json};

use crate::audit::AuditEntry;
use crate::auth::Caller;
use crate::dag_wire::{
    DagListOut, DagOut, DagSummaryOut, InterruptedOut, LeaseOut, LeasedTaskOut, TaskOut,
    TaskStateOut, resources,
};
use crate::engine::{EngineCore, Reply};
use crate::error::ApiError;
use crate::wire::rfc3339;

/// What a request asks of the DAGs. Scopes are checked here when they depend on the DAG.
pub enum DagOp {
    Submit(SubmitDag),
    Status(u64, Caller),
    /// A worker, and how many tasks at most when it asked for a batch.
    Lease(String, Option<u32>),
    /// Heartbeat, checkpoint, complete or fail.
    Task(DagCommand),
    Cancel {
        dag: u64,
        caller: Caller,
        reason: String,
    },
    Interrupted {
        worker: String,
        reason: String,
    },
    List(DagListQuery),
}

/// `GET /v1/dags`: the caller sees the DAGs of tenants in its scope.
pub struct DagListQuery {
    pub caller: Caller,
    /// Only this tenant and the accounts below it.
    pub tenant: Option<String>,
    pub state: Option<String>,
    pub after: u64,
    pub limit: usize,
}

/// DAGs one listing looks at, matching or not: a bound on its work.
const LIST_SCAN_MAX: usize = 100_000;

/// Rendered answers.
pub enum DagReply {
    Dag(Box<DagOut>),
    Lease(Box<LeaseOut>),
    Task(TaskStateOut),
    List(Box<DagListOut>),
    Interrupted(InterruptedOut),
}

impl IntoResponse for DagReply {
    fn into_response(self) -> Response {
        match self {
            DagReply::Dag(out) => Json(out).into_response(),
            DagReply::Lease(out) => Json(out).into_response(),
            DagReply::Task(out) => Json(out).into_response(),
            DagReply::List(out) => Json(out).into_response(),
            DagReply::Interrupted(out) => Json(out).into_response(),
        }
    }
}

pub fn handle(core: &mut EngineCore, op: DagOp, now_ms: u64) -> Reply {
    let outcome = match op {
        DagOp::Submit(request) => match apply(core, DagCommand::Submit(request), now_ms) {
            Ok(DagAnswer::Submitted { dag, duplicate }) => {
                let found = core.dags.dag(dag).expect("a submitted dag exists");
                let mut out = dag_out(&core.dags, found);
                out.duplicate = duplicate;
                Ok(DagReply::Dag(Box::new(out)))
            }
            Ok(other) => unreachable!("a submission answered {other:?}"),
            Err(err) => Err(err),
        },
        // Another tenant's DAG is answered as an unknown one: its id is not confirmed.
        DagOp::Status(dag, caller) => match core.dags.dag(dag) {
            Some(found) if caller.may_touch(&found.tenant) => {
                Ok(DagReply::Dag(Box::new(dag_out(&core.dags, found))))
            }
            _ => Err(DagError::DagNotFound(dag).into()),
        },
        DagOp::Lease(worker, max_tasks) => lease(core, worker, max_tasks, now_ms),
        DagOp::Task(command) => match apply(core, command, now_ms) {
            Ok(DagAnswer::Task(task)) => Ok(DagReply::Task(task_state(&core.dags, task))),
            Ok(other) => unreachable!("a task command answered {other:?}"),
            Err(err) => Err(err),
        },
        DagOp::Cancel {
            dag,
            caller,
            reason,
        } => cancel(core, dag, &caller, reason, now_ms),
        DagOp::Interrupted { worker, reason } => {
            match apply(core, DagCommand::Interrupted { worker, reason }, now_ms) {
                Ok(DagAnswer::Interrupted {
                    machine,
                    n_returned,
                }) => Ok(DagReply::Interrupted(InterruptedOut {
                    machine: core.dags.machine_name(machine),
                    returned: n_returned,
                })),
                Ok(other) => unreachable!("an interruption answered {other:?}"),
                Err(err) => Err(err),
            }
        }
        DagOp::List(query) => Ok(DagReply::List(Box::new(list(&core.dags, &query)))),
    };
    match outcome {
        Ok(reply) => Reply::Dag(reply),
        Err(err) => Reply::Error(err),
    }
}

/// One lease, or up to `max_tasks`: each is the same command, so a batch is what that many
/// calls in a row would give (the machine fills with what fits, the first in line first).
fn lease(
    core: &mut EngineCore,
    worker: String,
    max_tasks: Option<u32>,
    now_ms: u64,
) -> Result<DagReply, ApiError> {
    let mut tasks = Vec::new();
    for _ in 0..max_tasks.unwrap_or(1) {
        let command = DagCommand::Lease {
            worker: worker.clone(),
        };
        match apply(core, command, now_ms) {
            Ok(DagAnswer::Leased(Some(task))) => tasks.push(leased(&core.dags, task)),
            Ok(DagAnswer::Leased(None)) => break,
            Ok(other) => unreachable!("a lease answered {other:?}"),
            // Only the first call can be refused (an unknown worker); nothing was leased then.
            Err(err) => return Err(err),
        }
    }
    Ok(DagReply::Lease(Box::new(LeaseOut {
        task: tasks.first().cloned(),
        tasks: max_tasks.map(|_| tasks),
    })))
}

fn cancel(
    core: &mut EngineCore,
    dag: u64,
    caller: &Caller,
    reason: String,
    now_ms: u64,
) -> Result<DagReply, ApiError> {
    core.dags
        .dag(dag)
        .filter(|found| caller.may_touch(&found.tenant))
        .ok_or(DagError::DagNotFound(dag))?;
    match apply(core, DagCommand::Cancel { dag, reason }, now_ms)? {
        DagAnswer::Cancelled { .. } => {
            let found = core.dags.dag(dag).expect("a cancelled dag is kept");
            Ok(DagReply::Dag(Box::new(dag_out(&core.dags, found))))
        }
        other => unreachable!("a cancel answered {other:?}"),
    }
}

fn list(state: &DagState, query: &DagListQuery) -> DagListOut {
    let mut dags = Vec::new();
    let mut next_after = None;
    for (n_seen, dag) in state.dags_after(query.after).enumerate() {
        if n_seen >= LIST_SCAN_MAX || dags.len() >= query.limit {
            // More may follow: the caller goes on from the last one looked at.
            next_after = Some(format!("dag_{}", dag.id - 1));
            break;
        }
        let in_tenant = query
            .tenant
            .as_deref()
            .is_none_or(|tenant| crate::auth::within(&dag.tenant, tenant));
        let status = dag.status().name();
        if !query.caller.may_touch(&dag.tenant)
            || !in_tenant
            || query.state.as_deref().is_some_and(|state| state != status)
        {
            continue;
        }
        dags.push(DagSummaryOut {
            id: format!("dag_{}", dag.id),
            name: dag.name.clone(),
            tenant: dag.tenant.clone(),
            priority: dag.priority,
            state: status,
            submitted_at: rfc3339(dag.submitted_ms),
            n_tasks: dag.tasks.len(),
            counts: counts(dag),
        });
    }
    DagListOut { dags, next_after }
}

/// The clock's part for DAGs: lapsed leases and placements go back, then placement runs.
pub fn tick(core: &mut EngineCore, now_ms: u64) {
    if let Err(err) = apply(core, DagCommand::Tick, now_ms) {
        unreachable!("a tick cannot be refused: {}", err.detail.message);
    }
}

/// Applies a command and queues its events for the journal, each with the next global seq.
fn apply(core: &mut EngineCore, command: DagCommand, now_ms: u64) -> Result<DagAnswer, ApiError> {
    let (answer, events) = core.dags.apply(command, now_ms)?;
    for event in events {
        core.ledger.take_foreign_seq();
        core.dag_events.push(event);
    }
    Ok(answer)
}

fn task_name(task: TaskRef) -> String {
    task.to_string()
}

fn lease_expiry(task: &LiveTask) -> Option<String> {
    matches!(task.state, TaskState::Scheduled | TaskState::Running)
        .then(|| rfc3339(task.lease_expires_ms))
}

/// Tasks per state, as `counts` on the wire.
fn counts(dag: &Dag) -> BTreeMap<String, u32> {
    let mut counts: BTreeMap<String, u32> = BTreeMap::new();
    for task in &dag.tasks {
        *counts.entry(task.state.name().to_string()).or_insert(0) += 1;
    }
    counts
}

pub fn dag_out(state: &DagState, dag: &Dag) -> DagOut {
    let tasks = dag
        .tasks
        .iter()
        .enumerate()
        .map(|(task_idx, task)| TaskOut {
            id: task_name(TaskRef {
                dag: dag.id,
                task: task_idx as u32,
            }),
            name: task.spec.name.clone(),
            state: task.state.name(),
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
            requests: resources(&task.spec.requests),
            priority: task.spec.priority,
            checkpointing: task.spec.checkpointing,
            checkpoint: task.checkpoint.clone(),
            lease_expires_at: lease_expiry(task),
            error: task.error.clone(),
            updated_at: rfc3339(task.updated_ms),
        })
        .collect();
    DagOut {
        id: format!("dag_{}", dag.id),
        name: dag.name.clone(),
        tenant: dag.tenant.clone(),
        priority: dag.priority,
        state: dag.status().name(),
        submitted_at: rfc3339(dag.submitted_ms),
        counts: counts(dag),
        tasks,
        duplicate: false,
    }
}

fn leased(state: &DagState, task_ref: TaskRef) -> LeasedTaskOut {
    let (dag, task) = state.task(task_ref).expect("a leased task exists");
    LeasedTaskOut {
        id: task_name(task_ref),
        dag: format!("dag_{}", dag.id),
        name: task.spec.name.clone(),
        tenant: dag.tenant.clone(),
        attempt: task.attempts,
        machine: state.machine_name(task.machine.expect("a leased task has a machine")),
        runtime_ms: task.spec.runtime_ms,
        requests: resources(&task.spec.requests),
        checkpoint: task.checkpoint.clone(),
        lease_expires_at: rfc3339(task.lease_expires_ms),
        lease_ttl_ms: state.lease_ttl_ms(),
    }
}

fn task_state(state: &DagState, task_ref: TaskRef) -> TaskStateOut {
    let (dag, task) = state.task(task_ref).expect("an answered task exists");
    TaskStateOut {
        id: task_name(task_ref),
        dag: format!("dag_{}", dag.id),
        state: task.state.name(),
        attempts: task.attempts,
        machine: task.machine.map(|machine| state.machine_name(machine)),
        lease_expires_at: lease_expiry(task),
    }
}

/// A DAG event as a server-sent event: the name `task` and its JSON data, for task state
/// changes (`{"dag", "task", "name", "from", "to", "machine", "at"}`); None for the others.
/// `state` is read for the task's name and the machine's, after the event was applied.
pub fn render_event(state: &DagState, event: &DagEvent) -> Option<(&'static str, Value)> {
    let moved = event.task_move()?;
    let name = state
        .task(moved.task)
        .map(|(_, task)| task.spec.name.clone());
    Some((
        "task",
        json!({
            "dag": format!("dag_{}", moved.task.dag),
            "task": task_name(moved.task),
            "name": name,
            "from": moved.from.name(),
            "to": moved.to.name(),
            "machine": moved.machine.map(|machine| state.machine_name(machine)),
            "error": moved.error,
            "at": rfc3339(moved.at_ms),
        }),
    ))
}

/// A committed DAG event as an entry of the audit log and the event stream (`audit.rs`): task
/// changes only, under the DAG's tenant (an account path, so `?prefix=` filters them).
pub fn audit_entry(state: &DagState, seq: u64, event: &DagEvent) -> Option<AuditEntry> {
    let moved = event.task_move()?;
    let (_, data) = render_event(state, event)?;
    let tenant = state.dag(moved.task.dag).map(|dag| dag.tenant.clone());
    // The clock's tick places tasks and takes back lapsed leases; workers do the rest.
    let by_clock = matches!(
        (moved.from, moved.to),
        (TaskState::Eligible, TaskState::Scheduled)
            | (TaskState::Scheduled, TaskState::Eligible)
            | (TaskState::Running, TaskState::Preempted)
            | (TaskState::Preempted, TaskState::Eligible)
    );
    let machine = match data["machine"].as_str() {
        Some(machine) => format!(" on {machine}"),
        None => String::new(),
    };
    Some(AuditEntry {
        seq,
        at: rfc3339(moved.at_ms),
        kind: "task",
        account: tenant,
        actor: std::borrow::Cow::Borrowed(if by_clock { "clock" } else { "api" }),
        reason: format!(
            "task {} of dag_{} moved from {} to {}{machine}{}",
            moved.task,
            moved.task.dag,
            moved.from.name(),
            moved.to.name(),
            moved
                .error
                .as_ref()
                .map(|why| format!(": {why}"))
                .unwrap_or_default()
        ),
        data,
        streamed: true,
        level: None,
    })
}

impl From<DagError> for ApiError {
    fn from(err: DagError) -> ApiError {
        let message = err.to_string();
        let code = err.code();
        let status = match &err {
            DagError::Invalid { .. } | DagError::LimitRange(_) | DagError::NoPoolFits(_) => 400,
            DagError::DagNotFound(_) | DagError::TaskNotFound(_) | DagError::WorkerNotFound(_) => {
                404
            }
            DagError::Quota(_)
            | DagError::NoPools
            | DagError::LimitReached { .. }
            | DagError::NotRunning { .. }
            | DagError::StaleAttempt { .. }
            | DagError::NotCheckpointing { .. } => 409,
            DagError::Replay(_) | DagError::Config(_) => 500,
        };
        let mut error = ApiError::new(status, code, message);
        match err {
            DagError::Invalid { field, .. } => error.detail.field = Some(field),
            DagError::LimitRange(refusal)
            | DagError::NoPoolFits(refusal)
            | DagError::Quota(refusal) => {
                let detail = &mut error.detail;
                detail.field = Some(refusal.field);
                detail.tenant = Some(refusal.tenant);
                detail.pool = Some(refusal.pool);
                detail.dimension = Some(refusal.dimension.to_string());
                detail.requested = Some(refusal.requested);
                detail.available = refusal.available;
            }
            _ => {}
        }
        error
    }
}
