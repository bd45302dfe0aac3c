//! The routes of DAGs, workers and tasks: parse, check the caller, call the engine.
//!
//! Submitting and reading a DAG need a token whose scope covers the DAG's tenant (an account
//! path). Workers serve every tenant: leasing and reporting on tasks need a token without a
//! scope (any role).

use axum::Router;
use axum::body::Body;
use axum::extract::{RawQuery, State};
use axum::http::HeaderMap;
use axum::routing::{get, post};
use purser_sched::DagCommand;

use crate::auth::Need;
use crate::dag_wire::{self, CheckpointIn, DagIn, FailIn, TaskOpIn};
use crate::dags::{DagListQuery, DagOp};
use crate::engine::{Op, Reply};
use crate::error::ApiError;
use crate::routes::{AppState, BATCH_BODY_MAX, BODY_MAX, Target, read_body};
use crate::wire;

pub fn routes() -> Router<AppState> {
    Router::new()
        .route("/v1/dags", post(post_dag).get(list_dags))
        .route("/v1/dags/{id}", get(get_dag).post(post_dag_action))
        .route("/v1/workers/{action}", post(lease))
        .route("/v1/tasks/{action}", post(post_task_action))
}

#[utoipa::path(post, path = "/v1/dags", request_body = DagIn,
    responses((status = 200, body = dag_wire::DagOut),
              (status = 400, description = "Invalid, or outside a limit range (names tenant, pool, dimension)", body = crate::error::ErrorBody),
              (status = 409, description = "Over what a quota can ever admit (names tenant, pool, dimension), or too many dags", body = crate::error::ErrorBody),
              (status = 413, body = crate::error::ErrorBody)))]
pub async fn post_dag(
    State(state): State<AppState>,
    headers: HeaderMap,
    body: Body,
) -> Result<Reply, ApiError> {
    let caller = state.tokens.caller(&headers)?;
    // A DAG of 100,000 tasks does not fit the single-request limit; it gets the batch's.
    let body = read_body(body, BATCH_BODY_MAX).await?;
    let request = wire::parse::<DagIn>(&body)?.into_request()?;
    caller.allow(Need::Spend, Some(&request.tenant))?;
    Ok(state.engine.call(Op::Dag(DagOp::Submit(request))).await)
}

#[utoipa::path(get, path = "/v1/dags/{id}", params(("id" = String, Path, description = "dag_...")),
    responses((status = 200, body = dag_wire::DagOut), (status = 404, body = crate::error::ErrorBody)))]
pub async fn get_dag(
    State(state): State<AppState>,
    headers: HeaderMap,
    uri: axum::http::Uri,
) -> Result<Reply, ApiError> {
    // The scope is checked against the DAG's tenant on the engine thread.
    let caller = state.tokens.caller(&headers)?;
    let target = Target::of(&uri, "/v1/dags/")?;
    if let Some(method) = &target.method {
        return Err(ApiError::not_found(format!(
            "no method :{method} for GET on dags"
        )));
    }
    let dag = dag_wire::dag_id(&target.name)?;
    Ok(state.engine.call(Op::Dag(DagOp::Status(dag, caller))).await)
}

/// Page size of `GET /v1/dags` by default and at most.
const LIST_DEFAULT: usize = 100;
const LIST_MAX: usize = 1_000;

#[utoipa::path(get, path = "/v1/dags",
    params(("tenant" = Option<String>, Query, description = "Only DAGs of this account and below"),
           ("state" = Option<String>, Query, description = "running, completed, failed or cancelled"),
           ("after" = Option<String>, Query, description = "dag_...: the page after this DAG (see next_after)"),
           ("limit" = Option<usize>, Query, description = "At most this many (default 100, max 1,000)")),
    responses((status = 200, body = dag_wire::DagListOut), (status = 400, body = crate::error::ErrorBody)))]
pub async fn list_dags(
    State(state): State<AppState>,
    headers: HeaderMap,
    RawQuery(raw): RawQuery,
) -> Result<Reply, ApiError> {
    let caller = state.tokens.caller(&headers)?;
    let mut query = DagListQuery {
        caller,
        tenant: None,
        state: None,
        after: 0,
        limit: LIST_DEFAULT,
    };
    let allowed = ["tenant", "state", "after", "limit"];
    for (key, value) in crate::routes_manage::params(raw.as_deref(), &allowed)? {
        match key.as_str() {
            "tenant" => {
                wire::account_path(&value, "tenant")?;
                query.tenant = Some(value);
            }
            "state" => {
                if !["running", "completed", "failed", "cancelled"].contains(&value.as_str()) {
                    return Err(ApiError::invalid(
                        "invalid_field",
                        "state",
                        format!(
                            "state must be running, completed, failed or cancelled, not {value:?}"
                        ),
                    ));
                }
                query.state = Some(value);
            }
            "after" => {
                query.after = dag_wire::dag_id(&value).map_err(|_| {
                    ApiError::invalid(
                        "invalid_field",
                        "after",
                        format!("after must be a DAG id such as dag_12, not {value:?}"),
                    )
                })?
            }
            _ => {
                let limit = crate::routes_manage::number(&value, "limit")? as usize;
                query.limit = limit.clamp(1, LIST_MAX);
            }
        }
    }
    Ok(state.engine.call(Op::Dag(DagOp::List(query))).await)
}

#[utoipa::path(post, path = "/v1/dags/{id}:cancel", params(("id" = String, Path, description = "dag_...")),
    request_body = Option<dag_wire::ReasonIn>,
    responses((status = 200, description = "Every open task CANCELLED; the DAG as GET shows it", body = dag_wire::DagOut),
              (status = 403, body = crate::error::ErrorBody), (status = 404, body = crate::error::ErrorBody)))]
pub async fn post_dag_action(
    State(state): State<AppState>,
    headers: HeaderMap,
    uri: axum::http::Uri,
    body: Body,
) -> Result<Reply, ApiError> {
    let caller = state.tokens.caller(&headers)?;
    let target = Target::of(&uri, "/v1/dags/")?;
    let (id_text, method) = target.action("dag", ":cancel")?;
    if method != "cancel" {
        return Err(ApiError::not_found(format!("no method :{method} on dags")));
    }
    let dag = dag_wire::dag_id(id_text)?;
    let reason = reason(body).await?;
    let reason = reason.unwrap_or_else(|| "cancelled by the API".to_string());
    Ok(state
        .engine
        .call(Op::Dag(DagOp::Cancel {
            dag,
            caller,
            reason,
        }))
        .await)
}

/// An empty body, or `{"reason": "..."}`.
async fn reason(body: Body) -> Result<Option<String>, ApiError> {
    let body = read_body(body, BODY_MAX).await?;
    if body.iter().all(u8::is_ascii_whitespace) {
        return Ok(None);
    }
    Ok(wire::parse::<dag_wire::ReasonIn>(&body)?.reason)
}

/// Workers serve every tenant: their token has no scope.
fn worker_caller(state: &AppState, headers: &HeaderMap) -> Result<(), ApiError> {
    let caller = state.tokens.caller(headers)?;
    caller.allow(Need::Spend, None).map_err(|_| {
        ApiError::forbidden("workers need a token without a scope: they serve every tenant")
    })
}

#[utoipa::path(post, path = "/v1/workers/{id}:lease",
    params(("id" = String, Path, description = "The worker's machine, POOL-INDEX (local-0)")),
    request_body = Option<dag_wire::LeaseIn>,
    responses((status = 200, description = "The next task placed on the machine, or {\"task\": null}; with max_tasks, up to that many in `tasks`", body = dag_wire::LeaseOut),
              (status = 404, body = crate::error::ErrorBody)))]
pub async fn lease(
    State(state): State<AppState>,
    headers: HeaderMap,
    uri: axum::http::Uri,
    body: Body,
) -> Result<Reply, ApiError> {
    worker_caller(&state, &headers)?;
    let target = Target::of(&uri, "/v1/workers/")?;
    let (worker, method) = target.action("worker", ":lease or :interrupted")?;
    if method == "interrupted" {
        return interrupted(&state, worker, body).await;
    }
    if method != "lease" {
        return Err(ApiError::not_found(format!(
            "no method :{method} on workers"
        )));
    }
    let body = read_body(body, BODY_MAX).await?;
    let mut max_tasks = None;
    if !body.iter().all(u8::is_ascii_whitespace) {
        max_tasks = wire::parse::<dag_wire::LeaseIn>(&body)?.max_tasks;
    }
    if let Some(max) = max_tasks
        && !(1..=dag_wire::LEASE_BATCH_MAX).contains(&max)
    {
        return Err(ApiError::invalid(
            "invalid_field",
            "max_tasks",
            format!(
                "max_tasks must be 1 to {}, not {max}",
                dag_wire::LEASE_BATCH_MAX
            ),
        ));
    }
    Ok(state
        .engine
        .call(Op::Dag(DagOp::Lease(worker.to_string(), max_tasks)))
        .await)
}

#[utoipa::path(post, path = "/v1/workers/{id}:interrupted",
    params(("id" = String, Path, description = "The worker's machine, POOL-INDEX (spot-0)")),
    request_body = Option<dag_wire::ReasonIn>,
    responses((status = 200, description = "What ran or waited there is ELIGIBLE again and resumes from its checkpoint; the machine takes nothing until its worker leases again", body = dag_wire::InterruptedOut),
              (status = 404, body = crate::error::ErrorBody)))]
pub async fn interrupted(state: &AppState, worker: &str, body: Body) -> Result<Reply, ApiError> {
    let reason = reason(body)
        .await?
        .unwrap_or_else(|| "reported by its worker".to_string());
    Ok(state
        .engine
        .call(Op::Dag(DagOp::Interrupted {
            worker: worker.to_string(),
            reason,
        }))
        .await)
}

/// `POST /v1/tasks/{id}:heartbeat|checkpoint|complete|fail` share one route; each has its
/// own function so that all appear in /openapi.json.
pub async fn post_task_action(
    State(state): State<AppState>,
    headers: HeaderMap,
    uri: axum::http::Uri,
    body: Body,
) -> Result<Reply, ApiError> {
    worker_caller(&state, &headers)?;
    let target = Target::of(&uri, "/v1/tasks/")?;
    let (id_text, method) = target.action("task", ":heartbeat, :checkpoint, :complete or :fail")?;
    let task = dag_wire::task_id(id_text)?;
    let body = read_body(body, BODY_MAX).await?;
    let empty = body.iter().all(u8::is_ascii_whitespace);
    let command = match method {
        "heartbeat" => heartbeat_task(
            task,
            if empty {
                None
            } else {
                Some(wire::parse(&body)?)
            },
        ),
        "checkpoint" => checkpoint_task(task, wire::parse(&body)?),
        "complete" => complete_task(
            task,
            if empty {
                None
            } else {
                Some(wire::parse(&body)?)
            },
        ),
        "fail" => fail_task(
            task,
            if empty {
                FailIn::default()
            } else {
                wire::parse(&body)?
            },
        ),
        other => {
            return Err(ApiError::not_found(format!("no method :{other} on tasks")));
        }
    };
    Ok(state.engine.call(Op::Dag(DagOp::Task(command))).await)
}

#[utoipa::path(post, path = "/v1/tasks/{id}:heartbeat", params(("id" = String, Path, description = "tsk_...")), request_body = Option<TaskOpIn>,
    responses((status = 200, description = "The lease is renewed for one TTL", body = dag_wire::TaskStateOut),
              (status = 404, body = crate::error::ErrorBody), (status = 409, description = "Not RUNNING, or a stale attempt", body = crate::error::ErrorBody)))]
pub fn heartbeat_task(task: purser_sched::TaskRef, input: Option<TaskOpIn>) -> DagCommand {
    DagCommand::Heartbeat {
        task,
        attempt: input.and_then(|input| input.attempt),
    }
}

#[utoipa::path(post, path = "/v1/tasks/{id}:checkpoint", params(("id" = String, Path, description = "tsk_...")), request_body = CheckpointIn,
    responses((status = 200, description = "Kept for the next attempt; the lease is renewed", body = dag_wire::TaskStateOut),
              (status = 404, body = crate::error::ErrorBody), (status = 409, body = crate::error::ErrorBody)))]
pub fn checkpoint_task(task: purser_sched::TaskRef, input: CheckpointIn) -> DagCommand {
    DagCommand::Checkpoint {
        task,
        attempt: input.attempt,
        checkpoint: input.checkpoint,
    }
}

#[utoipa::path(post, path = "/v1/tasks/{id}:complete", params(("id" = String, Path, description = "tsk_...")), request_body = Option<TaskOpIn>,
    responses((status = 200, description = "COMPLETED; children whose parents are all done become ELIGIBLE", body = dag_wire::TaskStateOut),
              (status = 404, body = crate::error::ErrorBody), (status = 409, body = crate::error::ErrorBody)))]
pub fn complete_task(task: purser_sched::TaskRef, input: Option<TaskOpIn>) -> DagCommand {
    DagCommand::Complete {
        task,
        attempt: input.and_then(|input| input.attempt),
    }
}

#[utoipa::path(post, path = "/v1/tasks/{id}:fail", params(("id" = String, Path, description = "tsk_...")), request_body = Option<FailIn>,
    responses((status = 200, description = "ELIGIBLE again while attempts remain (retryable), else FAILED", body = dag_wire::TaskStateOut),
              (status = 404, body = crate::error::ErrorBody), (status = 409, body = crate::error::ErrorBody)))]
pub fn fail_task(task: purser_sched::TaskRef, input: FailIn) -> DagCommand {
    DagCommand::Fail {
        task,
        attempt: input.attempt,
        error: input.error,
        retryable: input.retryable.unwrap_or(true),
    }
}
