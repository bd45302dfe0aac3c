//! Wire types of DAGs (submission, status, listing) and their conversion to the scheduler's
//! commands; the workers' and tasks' are in `tasks.rs`.

use std::collections::BTreeMap;

use purser_sched::{Resources, SubmitDag, TaskNeeds, TaskRequest};
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

use purser_engine::view::dag::{DagCostView, DagPageView, DagSummaryView, DagView, TaskView};

use super::{WireError, rfc3339};

/// What a task needs of a machine; an absent dimension takes the tenant's default on the pool
/// (from its limit range), and a task with no cores at all takes one. Any other key is a
/// custom dimension some pool offers in its `capacity` (`"licenses": 1`); one no pool offers
/// is refused with the field named.
#[derive(Debug, Default, Clone, PartialEq, Deserialize, Serialize, ToSchema)]
pub struct RequestsIn {
    pub cores: Option<u64>,
    pub memory_bytes: Option<u64>,
    pub gpu: Option<u64>,
    #[serde(flatten)]
    pub custom: BTreeMap<String, u64>,
}

/// One task of `POST /v1/dags`.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct TaskIn {
    /// Unique within the DAG; `depends_on` names tasks by it.
    pub id: String,
    /// The estimated runtime on a machine of speed 1.0.
    #[serde(default)]
    pub runtime_ms: u64,
    #[serde(default)]
    pub requests: RequestsIn,
    #[serde(default)]
    pub depends_on: Vec<String>,
    /// Higher goes first; default: the DAG's.
    pub priority: Option<i32>,
    /// The task saves checkpoints (`:checkpoint`) and resumes from the last one when retried.
    #[serde(default)]
    pub checkpointing: bool,
    /// Leases the task may take, 1 to 100 (default 3).
    pub max_attempts: Option<u32>,
    /// The account its machine time is charged to, within the DAG's account (the agent that
    /// runs it): its own usage reports and its machine time then land on the same account.
    pub account: Option<String>,
    /// What one attempt uses of an external API: it then runs on an API pool, placed only
    /// when no sliding minute of the pool's rate limits would be passed.
    pub uses: Option<UsesIn>,
    /// The task needs a person (a review, an approval): it runs on a people pool, started only
    /// within their working hours, and is completed by the person (`:complete`).
    #[serde(default)]
    pub person: bool,
}

/// An API task's use per attempt.
#[derive(Debug, Default, Clone, Copy, PartialEq, Deserialize, Serialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct UsesIn {
    #[serde(default)]
    pub requests: u64,
    #[serde(default)]
    pub tokens: u64,
}

/// `POST /v1/dags`.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct DagIn {
    pub name: Option<String>,
    /// An account path; tokens scoped to it (or above) may submit and read.
    pub tenant: String,
    #[serde(default)]
    pub priority: i32,
    /// A repeated key of the same tenant answers the first DAG with `"duplicate": true`.
    pub idempotency_key: Option<String>,
    pub tasks: Vec<TaskIn>,
    /// The account its machine time is charged to: the tenant or an account below it, which
    /// must exist. Default: the tenant, when it is an account; otherwise nothing is charged.
    pub account: Option<String>,
}

/// `POST /v1/dags/{id}:cancel` and `POST /v1/workers/{id}:interrupted`: an empty body, or why.
#[derive(Debug, Default, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct ReasonIn {
    /// Kept as the tasks' `error` and in the audit log (at most 1 KiB).
    pub reason: Option<String>,
}

/// One DAG of `GET /v1/dags`: its figures without its tasks.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct DagSummaryOut {
    pub id: String,
    pub name: Option<String>,
    pub tenant: String,
    pub priority: i32,
    /// One of `running paused completed failed cancelled`.
    pub state: String,
    pub submitted_at: String,
    pub n_tasks: usize,
    /// Tasks per state.
    pub counts: BTreeMap<String, u32>,
    /// The account its machine time is charged to; absent when it is not charged.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub account: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub cost: Option<DagCostOut>,
}

/// What a charged DAG's machine time costs, in micro-units of money (`cost_micros`).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct DagCostOut {
    /// Settled: attempts that ended (machine price x share of the machine x time run).
    pub spent_micros: u64,
    /// Held on the accounts for the attempts placed or running now (their estimates).
    pub reserved_micros: u64,
    /// Spent, plus reserved, plus the estimates of the tasks not started on their cheapest
    /// pool: the projected cost to finish.
    pub projected_micros: u64,
}

/// Why a DAG is paused: the budget cannot hold its next task's estimated cost.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct PausedOut {
    pub account: String,
    pub dimension: String,
    /// What the task needs.
    pub needed: u64,
    /// What is left before the account's stop threshold.
    pub available: u64,
}

/// `GET /v1/dags`: a page of DAGs, oldest first; pass `next_after` as `after` for the next.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct DagListOut {
    pub dags: Vec<DagSummaryOut>,
    pub next_after: Option<String>,
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct ResourcesOut {
    pub cores: u64,
    pub memory_bytes: u64,
    pub gpu: u64,
    /// Custom dimensions by name (`"licenses": 1`), those requested.
    #[serde(flatten)]
    pub custom: BTreeMap<String, u64>,
}

/// A task in a DAG's status.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct TaskOut {
    /// `tsk_{dag}_{index}`: the id of `/v1/tasks/{id}`.
    pub id: String,
    /// The id it was submitted with.
    pub name: String,
    /// One of QUEUED ELIGIBLE SCHEDULED RUNNING COMPLETED FAILED PREEMPTED CANCELLED ARCHIVED.
    pub state: String,
    /// `POOL#INDEX` of the current or last placement.
    pub machine: Option<String>,
    pub attempts: u32,
    pub max_attempts: u32,
    pub depends_on: Vec<String>,
    pub runtime_ms: u64,
    pub requests: ResourcesOut,
    pub priority: i32,
    pub checkpointing: bool,
    pub checkpoint: Option<String>,
    pub lease_expires_at: Option<String>,
    pub error: Option<String>,
    pub updated_at: String,
    /// Of a charged DAG: the account the task pays from.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub account: Option<String>,
    /// Of a charged DAG: what the task's attempts have cost so far.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub cost_micros: Option<u64>,
}

/// `GET /v1/dags/{id}`, and the answer to a submission.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct DagOut {
    pub id: String,
    pub name: Option<String>,
    pub tenant: String,
    pub priority: i32,
    /// One of `running paused completed failed cancelled`.
    pub state: String,
    pub submitted_at: String,
    /// Tasks per state.
    pub counts: BTreeMap<String, u32>,
    /// The account its machine time is charged to; absent when it is not charged.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub account: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub cost: Option<DagCostOut>,
    /// While `state` is `paused`: why.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub paused: Option<PausedOut>,
    pub tasks: Vec<TaskOut>,
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub duplicate: bool,
}

impl DagIn {
    pub fn into_request(self) -> Result<SubmitDag, WireError> {
        let tenant = super::account_path(&self.tenant, "tenant")?;
        if let Some(account) = &self.account {
            let account = super::account_path(account, "account")?;
            if !account.is_within(tenant.as_str()) {
                return Err(WireError::invalid(
                    "invalid_account",
                    "account",
                    format!("account {account} is not the tenant {tenant} or below it"),
                ));
            }
        }
        for (task_idx, task) in self.tasks.iter().enumerate() {
            if let Some(account) = &task.account {
                let field = format!("tasks[{task_idx}].account");
                let account = super::account_path(account, &field)?;
                if !account.is_within(tenant.as_str()) {
                    return Err(WireError::invalid(
                        "invalid_account",
                        &field,
                        format!("account {account} is not the tenant {tenant} or below it"),
                    ));
                }
            }
        }
        Ok(SubmitDag {
            account: self.account,
            name: self.name,
            tenant: self.tenant,
            priority: self.priority,
            idempotency_key: self.idempotency_key,
            tasks: self
                .tasks
                .into_iter()
                .map(|task| TaskRequest {
                    name: task.id,
                    runtime_ms: task.runtime_ms,
                    requests: Resources {
                        cores: task.requests.cores.unwrap_or(0),
                        memory_bytes: task.requests.memory_bytes.unwrap_or(0),
                        gpu: task.requests.gpu.unwrap_or(0),
                        ..Resources::ZERO
                    },
                    custom_requests: task.requests.custom.into_iter().collect(),
                    depends_on: task.depends_on,
                    priority: task.priority,
                    checkpointing: task.checkpointing,
                    max_attempts: task.max_attempts,
                    account: task.account,
                    needs: TaskNeeds {
                        requests: task.uses.map_or(0, |uses| uses.requests),
                        tokens: task.uses.map_or(0, |uses| uses.tokens),
                        person: task.person,
                    },
                })
                .collect(),
        })
    }
}

pub fn resources(resources: &Resources, custom: Vec<(String, u64)>) -> ResourcesOut {
    ResourcesOut {
        cores: resources.cores,
        memory_bytes: resources.memory_bytes,
        gpu: resources.gpu,
        custom: custom.into_iter().collect(),
    }
}

/// `dag_12` to 12.
pub fn dag_id(text: &str) -> Result<u64, WireError> {
    text.strip_prefix("dag_")
        .filter(|digits| !digits.is_empty() && digits.bytes().all(|b| b.is_ascii_digit()))
        .and_then(|digits| digits.parse().ok())
        .ok_or_else(|| WireError::not_found("dag_not_found", format!("dag {text} not found")))
}

/// `dag_N`, a DAG's id on the wire.
pub fn dag_name(id: u64) -> String {
    format!("dag_{id}")
}

impl From<DagSummaryView> for DagSummaryOut {
    fn from(view: DagSummaryView) -> DagSummaryOut {
        DagSummaryOut {
            id: dag_name(view.id),
            name: view.name,
            tenant: view.tenant,
            priority: view.priority,
            state: view.state.to_string(),
            submitted_at: rfc3339(view.submitted_ms),
            n_tasks: view.n_tasks,
            counts: view.counts,
            account: view.account,
            cost: view.cost.map(DagCostOut::from),
        }
    }
}

impl From<TaskView> for TaskOut {
    fn from(view: TaskView) -> TaskOut {
        TaskOut {
            id: view.task.to_string(),
            name: view.name,
            state: view.state.name().to_string(),
            machine: view.machine,
            attempts: view.attempts,
            max_attempts: view.max_attempts,
            depends_on: view.depends_on,
            runtime_ms: view.runtime_ms,
            requests: resources(&view.requests, view.custom_requests),
            priority: view.priority,
            checkpointing: view.checkpointing,
            checkpoint: view.checkpoint,
            lease_expires_at: view.lease_expires_ms.map(rfc3339),
            error: view.error,
            updated_at: rfc3339(view.updated_ms),
            account: view.account,
            cost_micros: view.cost_micros,
        }
    }
}

impl From<DagView> for DagOut {
    fn from(view: DagView) -> DagOut {
        let summary = view.summary;
        DagOut {
            id: dag_name(summary.id),
            name: summary.name,
            tenant: summary.tenant,
            priority: summary.priority,
            state: summary.state.to_string(),
            submitted_at: rfc3339(summary.submitted_ms),
            counts: summary.counts,
            account: summary.account,
            cost: summary.cost.map(DagCostOut::from),
            paused: summary.paused.map(|why| PausedOut {
                account: why.account,
                dimension: why.dimension,
                needed: why.needed,
                available: why.available,
            }),
            tasks: view.tasks.into_iter().map(TaskOut::from).collect(),
            duplicate: view.duplicate,
        }
    }
}

impl From<DagCostView> for DagCostOut {
    fn from(view: DagCostView) -> DagCostOut {
        DagCostOut {
            spent_micros: view.spent_micros,
            reserved_micros: view.reserved_micros,
            projected_micros: view.projected_micros,
        }
    }
}

impl From<DagPageView> for DagListOut {
    fn from(view: DagPageView) -> DagListOut {
        DagListOut {
            dags: view.dags.into_iter().map(DagSummaryOut::from).collect(),
            next_after: view.next_after.map(dag_name),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn dag_ids_parse_or_are_not_found() {
        assert_eq!(dag_id("dag_12").unwrap(), 12);
        for bad in ["dag_", "dag_x", "12", "dag_+1"] {
            assert_eq!(
                dag_id(bad).unwrap_err().refusal,
                super::super::Refusal::NotFound,
                "{bad}"
            );
        }
    }
}
