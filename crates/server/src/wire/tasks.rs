//! Wire types of workers and tasks: leases, heartbeats, checkpoints, outcomes and
//! interruptions.

use purser_sched::TaskRef;
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

use purser_engine::view::dag::{InterruptedView, LeaseView, LeasedTaskView, TaskStateView};

use super::dags::{ResourcesOut, dag_name, resources};
use super::{WireError, rfc3339};

/// `POST /v1/workers/{id}:interrupted`: how many tasks went back to ELIGIBLE.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct InterruptedOut {
    pub machine: String,
    pub returned: usize,
}

/// Tasks one lease call may hand out.
pub const LEASE_BATCH_MAX: u32 = 64;

/// `POST /v1/workers/{id}:lease`: an empty body, an empty object, or how many tasks at most.
#[derive(Debug, Default, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct LeaseIn {
    /// Lease up to this many tasks placed on the machine in one call (1 to 64): a worker with
    /// room for several small tasks takes them in one round trip. The answer then has `tasks`.
    pub max_tasks: Option<u32>,
}

/// `POST /v1/tasks/{id}:heartbeat` and `:complete`. `attempt`, when given, must be the
/// current one (a worker whose lease ran out is refused with 409).
#[derive(Debug, Default, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct TaskOpIn {
    pub attempt: Option<u32>,
}

/// `POST /v1/tasks/{id}:checkpoint`: an opaque string the next attempt resumes from.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct CheckpointIn {
    pub checkpoint: String,
    pub attempt: Option<u32>,
}

/// `POST /v1/tasks/{id}:fail`. A retryable failure goes back to ELIGIBLE while attempts
/// remain; otherwise the task stays FAILED and its descendants are CANCELLED.
#[derive(Debug, Default, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct FailIn {
    #[serde(default)]
    pub error: String,
    pub retryable: Option<bool>,
    pub attempt: Option<u32>,
}

/// A leased task: what a worker needs to run it.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct LeasedTaskOut {
    pub id: String,
    pub dag: String,
    pub name: String,
    pub tenant: String,
    /// Pass it back with heartbeats and the outcome.
    pub attempt: u32,
    pub machine: String,
    pub runtime_ms: u64,
    pub requests: ResourcesOut,
    /// The last checkpoint of an earlier attempt, to resume from.
    pub checkpoint: Option<String>,
    pub lease_expires_at: String,
    pub lease_ttl_ms: u64,
    /// The account the task's work is charged to, when its DAG is charged: report the
    /// agent's own usage (`POST /v1/usage`) there.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub account: Option<String>,
}

/// `POST /v1/workers/{id}:lease`: the next task placed on the worker's machine, or null.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct LeaseOut {
    /// The first task leased, or null.
    pub task: Option<LeasedTaskOut>,
    /// With `max_tasks`: every task leased, the first included.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub tasks: Option<Vec<LeasedTaskOut>>,
}

/// The answer to a heartbeat, checkpoint, complete or fail: the task's state now.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct TaskStateOut {
    pub id: String,
    pub dag: String,
    pub state: String,
    pub attempts: u32,
    pub machine: Option<String>,
    pub lease_expires_at: Option<String>,
}

/// `tsk_12_3` to the task.
pub fn task_id(text: &str) -> Result<TaskRef, WireError> {
    let not_found = || WireError::not_found("task_not_found", format!("task {text} not found"));
    let (dag, task) = text
        .strip_prefix("tsk_")
        .and_then(|rest| rest.split_once('_'))
        .ok_or_else(not_found)?;
    let digits = |part: &str| !part.is_empty() && part.bytes().all(|b| b.is_ascii_digit());
    if !digits(dag) || !digits(task) {
        return Err(not_found());
    }
    Ok(TaskRef {
        dag: dag.parse().map_err(|_| not_found())?,
        task: task.parse().map_err(|_| not_found())?,
    })
}

impl From<LeasedTaskView> for LeasedTaskOut {
    fn from(view: LeasedTaskView) -> LeasedTaskOut {
        LeasedTaskOut {
            id: view.task.to_string(),
            dag: dag_name(view.dag),
            name: view.name,
            tenant: view.tenant,
            attempt: view.attempt,
            machine: view.machine,
            runtime_ms: view.runtime_ms,
            requests: resources(&view.requests, view.custom_requests),
            checkpoint: view.checkpoint,
            lease_expires_at: rfc3339(view.lease_expires_ms),
            lease_ttl_ms: view.lease_ttl_ms,
            account: view.account,
        }
    }
}

impl From<LeaseView> for LeaseOut {
    fn from(view: LeaseView) -> LeaseOut {
        let tasks: Vec<LeasedTaskOut> = view.tasks.into_iter().map(LeasedTaskOut::from).collect();
        LeaseOut {
            task: tasks.first().cloned(),
            tasks: view.batch.then_some(tasks),
        }
    }
}

impl From<TaskStateView> for TaskStateOut {
    fn from(view: TaskStateView) -> TaskStateOut {
        TaskStateOut {
            id: view.task.to_string(),
            dag: dag_name(view.task.dag),
            state: view.state.name().to_string(),
            attempts: view.attempts,
            machine: view.machine,
            lease_expires_at: view.lease_expires_ms.map(rfc3339),
        }
    }
}

impl From<InterruptedView> for InterruptedOut {
    fn from(view: InterruptedView) -> InterruptedOut {
        InterruptedOut {
            machine: view.machine,
            returned: view.returned,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn task_ids_parse_or_are_not_found() {
        assert_eq!(task_id("tsk_12_3").unwrap(), TaskRef { dag: 12, task: 3 });
        for bad in ["tsk_12", "tsk__3", "tsk_1_x", "tsk_1_2_3", "rsv_1"] {
            assert_eq!(
                task_id(bad).unwrap_err().refusal,
                super::super::Refusal::NotFound,
                "{bad}"
            );
        }
    }
}
