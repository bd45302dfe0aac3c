//! The routes of DAGs, workers and tasks: parse, check the caller, call the engine.
//!
//! Submitting and reading a DAG need a token whose scope covers the DAG's tenant (an account
//! path). Workers serve every tenant: leasing and reporting on tasks need a token without a
//! scope (any role).

use axum::body::Body;
use axum::extract::{RawQuery, State};
use axum::http::HeaderMap;
use axum::response::Response;
use purser_engine::jobs::DagListQuery;
use purser_sched::DagCommand;

use super::{
    AppState, BATCH_BODY_MAX, BODY_MAX, Target, json, number, parse_or_default, query_params,
    read_body,
};
use crate::auth::Need;
use crate::error::ApiError;
use crate::wire::dags::{self as dag_wire, DagIn, DagListOut, DagOut, ReasonIn};
use crate::wire::tasks::{
    self as task_wire, CheckpointIn, FailIn, InterruptedOut, LeaseIn, LeaseOut, TaskOpIn,
    TaskStateOut,
};
use crate::wire::{self, ErrorBody};

#[utoipa::path(post, path = "/v1/dags", tag = "dag_routes", request_body = DagIn,
    responses((status = 200, body = DagOut),
              (status = 400, description = "Invalid, or outside a limit range (names tenant, pool, dimension)", body = ErrorBody),
              (status = 409, description = "Over what a quota can ever admit (names tenant, pool, dimension), or too many dags", body = ErrorBody),
              (status = 413, body = ErrorBody)))]
pub async fn post_dag(
    State(state): State<AppState>,
    headers: HeaderMap,
    body: Body,
) -> Result<Response, ApiError> {
    let caller = state.tokens.caller(&headers)?;
    // A DAG of 100,000 tasks does not fit the single-request limit; it gets the batch's.
    let body = read_body(body, BATCH_BODY_MAX).await?;
    let request = wire::parse::<DagIn>(&body)?.into_request()?;
    caller.allow(Need::Spend, Some(&request.tenant))?;
    Ok(json(DagOut::from(state.engine.submit_dag(request).await?)))
}

#[utoipa::path(get, path = "/v1/dags/{id}", tag = "dag_routes", params(("id" = String, Path, description = "dag_...")),
    responses((status = 200, body = DagOut), (status = 404, body = ErrorBody)))]
pub async fn get_dag(
    State(state): State<AppState>,
    headers: HeaderMap,
    uri: axum::http::Uri,
) -> Result<Response, ApiError> {
    // The scope is checked against the DAG's tenant on the engine thread.
    let caller = state.tokens.caller(&headers)?;
    let target = Target::of(&uri, "/v1/dags/")?;
    if let Some(method) = &target.method {
        return Err(ApiError::not_found(format!(
            "no method :{method} for GET on dags"
        )));
    }
    let dag = dag_wire::dag_id(&target.name)?;
    Ok(json(DagOut::from(
        state.engine.dag(dag, caller.scope()).await?,
    )))
}

/// Page size of `GET /v1/dags` by default and at most.
const LIST_DEFAULT: usize = 100;
const LIST_MAX: usize = 1_000;

#[utoipa::path(get, path = "/v1/dags", tag = "dag_routes",
    params(("tenant" = Option<String>, Query, description = "Only DAGs of this account and below"),
           ("state" = Option<String>, Query, description = "running, paused, completed, failed or cancelled"),
           ("after" = Option<String>, Query, description = "dag_...: the page after this DAG (see next_after)"),
           ("limit" = Option<usize>, Query, description = "At most this many (default 100, max 1,000)")),
    responses((status = 200, body = DagListOut), (status = 400, body = ErrorBody)))]
pub async fn list_dags(
    State(state): State<AppState>,
    headers: HeaderMap,
    RawQuery(raw): RawQuery,
) -> Result<Response, ApiError> {
    let caller = state.tokens.caller(&headers)?;
    let mut query = DagListQuery {
        scope: caller.scope(),
        tenant: None,
        state: None,
        after: 0,
        limit: LIST_DEFAULT,
    };
    let allowed = ["tenant", "state", "after", "limit"];
    for (key, value) in query_params(raw.as_deref(), &allowed)? {
        match key.as_str() {
            "tenant" => query.tenant = Some(wire::account_path(&value, "tenant")?),
            "state" => {
                let states = ["running", "paused", "completed", "failed", "cancelled"];
                if !states.contains(&value.as_str()) {
                    return Err(ApiError::invalid(
                        "invalid_field",
                        "state",
                        format!(
                            "state must be running, paused, completed, failed or cancelled, not {value:?}"
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
                let limit = number(&value, "limit")? as usize;
                query.limit = limit.clamp(1, LIST_MAX);
            }
        }
    }
    Ok(json(DagListOut::from(state.engine.dags(query).await?)))
}

#[utoipa::path(post, path = "/v1/dags/{id}:cancel", tag = "dag_routes", params(("id" = String, Path, description = "dag_...")),
    request_body = Option<ReasonIn>,
    responses((status = 200, description = "Every open task CANCELLED; the DAG as GET shows it", body = DagOut),
              (status = 403, body = ErrorBody), (status = 404, body = ErrorBody)))]
pub async fn post_dag_action(
    State(state): State<AppState>,
    headers: HeaderMap,
    uri: axum::http::Uri,
    body: Body,
) -> Result<Response, ApiError> {
    let caller = state.tokens.caller(&headers)?;
    let target = Target::of(&uri, "/v1/dags/")?;
    let (id_text, method) = target.action("dag", ":cancel")?;
    if method != "cancel" {
        return Err(ApiError::not_found(format!("no method :{method} on dags")));
    }
    let dag = dag_wire::dag_id(id_text)?;
    let reason = reason(body).await?;
    let reason = reason.unwrap_or_else(|| "cancelled by the API".to_string());
    let view = state.engine.cancel_dag(dag, caller.scope(), reason).await?;
    Ok(json(DagOut::from(view)))
}

/// An empty body, or `{"reason": "..."}`.
async fn reason(body: Body) -> Result<Option<String>, ApiError> {
    let body = read_body(body, BODY_MAX).await?;
    Ok(parse_or_default::<ReasonIn>(&body)?.reason)
}

/// Workers serve every tenant: their token has no scope.
fn worker_caller(state: &AppState, headers: &HeaderMap) -> Result<(), ApiError> {
    let caller = state.tokens.caller(headers)?;
    caller.allow(Need::Spend, None).map_err(|_| {
        ApiError::forbidden("workers need a token without a scope: they serve every tenant")
    })
}

#[utoipa::path(post, path = "/v1/workers/{id}:lease", tag = "dag_routes",
    params(("id" = String, Path, description = "The worker's machine, POOL-INDEX (local-0)")),
    request_body = Option<LeaseIn>,
    responses((status = 200, description = "The next task placed on the machine, or {\"task\": null}; with max_tasks, up to that many in `tasks`", body = LeaseOut),
              (status = 404, body = ErrorBody)))]
pub async fn lease(
    State(state): State<AppState>,
    headers: HeaderMap,
    uri: axum::http::Uri,
    body: Body,
) -> Result<Response, ApiError> {
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
    let max_tasks = parse_or_default::<LeaseIn>(&body)?.max_tasks;
    if let Some(max) = max_tasks
        && !(1..=task_wire::LEASE_BATCH_MAX).contains(&max)
    {
        return Err(ApiError::invalid(
            "invalid_field",
            "max_tasks",
            format!(
                "max_tasks must be 1 to {}, not {max}",
                task_wire::LEASE_BATCH_MAX
            ),
        ));
    }
    let view = state.engine.lease(worker.to_string(), max_tasks).await?;
    Ok(json(LeaseOut::from(view)))
}

#[utoipa::path(post, path = "/v1/workers/{id}:interrupted", tag = "dag_routes",
    params(("id" = String, Path, description = "The worker's machine, POOL-INDEX (spot-0)")),
    request_body = Option<ReasonIn>,
    responses((status = 200, description = "What ran or waited there is ELIGIBLE again and resumes from its checkpoint; the machine takes nothing until its worker leases again", body = InterruptedOut),
              (status = 404, body = ErrorBody)))]
pub async fn interrupted(state: &AppState, worker: &str, body: Body) -> Result<Response, ApiError> {
    let reason = reason(body)
        .await?
        .unwrap_or_else(|| "reported by its worker".to_string());
    let view = state.engine.interrupted(worker.to_string(), reason).await?;
    Ok(json(InterruptedOut::from(view)))
}

/// `POST /v1/tasks/{id}:heartbeat|checkpoint|complete|fail` share one route; each has its
/// own function so that all appear in /openapi.json.
pub async fn post_task_action(
    State(state): State<AppState>,
    headers: HeaderMap,
    uri: axum::http::Uri,
    body: Body,
) -> Result<Response, ApiError> {
    worker_caller(&state, &headers)?;
    let target = Target::of(&uri, "/v1/tasks/")?;
    let (id_text, method) = target.action("task", ":heartbeat, :checkpoint, :complete or :fail")?;
    let task = task_wire::task_id(id_text)?;
    let body = read_body(body, BODY_MAX).await?;
    let command = match method {
        "heartbeat" => heartbeat_task(task, Some(parse_or_default(&body)?)),
        "checkpoint" => checkpoint_task(task, wire::parse(&body)?),
        "complete" => complete_task(task, Some(parse_or_default(&body)?)),
        "fail" => fail_task(task, parse_or_default::<FailIn>(&body)?),
        other => {
            return Err(ApiError::not_found(format!("no method :{other} on tasks")));
        }
    };
    Ok(json(TaskStateOut::from(state.engine.task(command).await?)))
}

#[utoipa::path(post, path = "/v1/tasks/{id}:heartbeat", tag = "dag_routes", params(("id" = String, Path, description = "tsk_...")), request_body = Option<TaskOpIn>,
    responses((status = 200, description = "The lease is renewed for one TTL", body = TaskStateOut),
              (status = 404, body = ErrorBody), (status = 409, description = "Not RUNNING, or a stale attempt", body = ErrorBody)))]
pub fn heartbeat_task(task: purser_sched::TaskRef, input: Option<TaskOpIn>) -> DagCommand {
    DagCommand::Heartbeat {
        task,
        attempt: input.and_then(|input| input.attempt),
    }
}

#[utoipa::path(post, path = "/v1/tasks/{id}:checkpoint", tag = "dag_routes", params(("id" = String, Path, description = "tsk_...")), request_body = CheckpointIn,
    responses((status = 200, description = "Kept for the next attempt; the lease is renewed", body = TaskStateOut),
              (status = 404, body = ErrorBody), (status = 409, body = ErrorBody)))]
pub fn checkpoint_task(task: purser_sched::TaskRef, input: CheckpointIn) -> DagCommand {
    DagCommand::Checkpoint {
        task,
        attempt: input.attempt,
        checkpoint: input.checkpoint,
    }
}

#[utoipa::path(post, path = "/v1/tasks/{id}:complete", tag = "dag_routes", params(("id" = String, Path, description = "tsk_...")), request_body = Option<TaskOpIn>,
    responses((status = 200, description = "COMPLETED; children whose parents are all done become ELIGIBLE", body = TaskStateOut),
              (status = 404, body = ErrorBody), (status = 409, body = ErrorBody)))]
pub fn complete_task(task: purser_sched::TaskRef, input: Option<TaskOpIn>) -> DagCommand {
    DagCommand::Complete {
        task,
        attempt: input.and_then(|input| input.attempt),
    }
}

#[utoipa::path(post, path = "/v1/tasks/{id}:fail", tag = "dag_routes", params(("id" = String, Path, description = "tsk_...")), request_body = Option<FailIn>,
    responses((status = 200, description = "ELIGIBLE again while attempts remain (retryable), else FAILED", body = TaskStateOut),
              (status = 404, body = ErrorBody), (status = 409, body = ErrorBody)))]
pub fn fail_task(task: purser_sched::TaskRef, input: FailIn) -> DagCommand {
    DagCommand::Fail {
        task,
        attempt: input.attempt,
        error: input.error,
        retryable: input.retryable.unwrap_or(true),
    }
}
