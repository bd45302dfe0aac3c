//! Budget rules' actions: an account's `:reset`, `:run` and `:request` (dispatched by
//! `accounts::post_account`), and the increase requests under `/v1/requests`.

use axum::body::Body;
use axum::extract::{RawQuery, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use purser_core::{AccountPath, Command};

use super::{AppState, BODY_MAX, Target, json, parse_or_default, query_params, read_body};
use crate::auth::{Caller, Need};
use crate::error::ApiError;
use crate::wire::accounts::ManagedOut;
use crate::wire::rules::{DecisionIn, IncreaseIn, RequestOut, RequestsOut};
use crate::wire::{self, ErrorBody};

/// The most requests one listing shows.
pub const REQUESTS_LIST_MAX: usize = 1_000;

#[utoipa::path(post, path = "/v1/accounts/{path}:reset", tag = "routes_manage",
    params(("path" = String, Path, description = "The account path")),
    responses((status = 200, body = crate::wire::accounts::AccountOut),
              (status = 403, body = ErrorBody), (status = 404, body = ErrorBody)))]
pub async fn reset(
    state: &AppState,
    caller: Caller,
    path: AccountPath,
) -> Result<Response, ApiError> {
    on_account(state, caller, Command::ResetUsage { path }).await
}

#[utoipa::path(post, path = "/v1/accounts/{path}:run", tag = "routes_manage",
    params(("path" = String, Path, description = "The account path")),
    responses((status = 200, body = crate::wire::accounts::AccountOut),
              (status = 409, description = "The account has no run caps", body = ErrorBody)))]
pub async fn start_run(
    state: &AppState,
    caller: Caller,
    path: AccountPath,
) -> Result<Response, ApiError> {
    on_account(state, caller, Command::StartRun { path }).await
}

/// An operator's command on one account the caller may change; answers the account.
async fn on_account(
    state: &AppState,
    caller: Caller,
    command: Command,
) -> Result<Response, ApiError> {
    let (Command::ResetUsage { path } | Command::StartRun { path }) = &command else {
        unreachable!("a command on one account")
    };
    caller.allow_change(path)?;
    let view = state.engine.manage(command, caller.name).await?;
    Ok(json(ManagedOut::from(view)))
}

#[utoipa::path(post, path = "/v1/accounts/{path}:request", tag = "routes_manage",
    params(("path" = String, Path, description = "The account path")), request_body = IncreaseIn,
    responses((status = 201, body = RequestOut), (status = 400, body = ErrorBody),
              (status = 409, description = "A dimension the account does not limit", body = ErrorBody)))]
pub async fn request(
    state: &AppState,
    caller: Caller,
    path: AccountPath,
    body: &[u8],
) -> Result<Response, ApiError> {
    // An agent may ask for its own account: asking changes nothing until an operator decides.
    caller.allow(Need::Spend, Some(path.as_str()))?;
    let input = wire::parse::<IncreaseIn>(body)?;
    let command = Command::RequestIncrease {
        path,
        amount: wire::named(input.amount),
        reason: input.reason,
        idempotency_key: input.idempotency_key,
    };
    let view = state.engine.manage(command, caller.name).await?;
    Ok((StatusCode::CREATED, axum::Json(ManagedOut::from(view))).into_response())
}

#[utoipa::path(get, path = "/v1/requests", tag = "routes_manage",
    params(("state" = Option<String>, Query, description = "pending (default) or all")),
    responses((status = 200, body = RequestsOut)))]
pub async fn list_requests(
    State(state): State<AppState>,
    headers: HeaderMap,
    RawQuery(raw): RawQuery,
) -> Result<Response, ApiError> {
    // A scoped token sees the requests of the accounts in its scope.
    let caller = state.tokens.caller(&headers)?;
    let mut pending_only = true;
    for (_, value) in query_params(raw.as_deref(), &["state"])? {
        pending_only = match value.as_str() {
            "pending" => true,
            "all" => false,
            _ => {
                return Err(ApiError::invalid(
                    "invalid_field",
                    "state",
                    "state must be pending or all",
                ));
            }
        };
    }
    let views = state
        .engine
        .requests(pending_only, caller.scope(), REQUESTS_LIST_MAX)
        .await?;
    Ok(json(RequestsOut {
        requests: views.into_iter().map(RequestOut::from).collect(),
    }))
}

#[utoipa::path(get, path = "/v1/requests/{id}", tag = "routes_manage",
    params(("id" = String, Path, description = "req_...")),
    responses((status = 200, body = RequestOut), (status = 404, body = ErrorBody)))]
pub async fn get_request(
    State(state): State<AppState>,
    headers: HeaderMap,
    uri: axum::http::Uri,
) -> Result<Response, ApiError> {
    let caller = state.tokens.caller(&headers)?;
    let target = Target::of(&uri, "/v1/requests/")?;
    if let Some(method) = &target.method {
        return Err(ApiError::not_found(format!(
            "no method :{method} for GET on requests"
        )));
    }
    let id = request_id(&target.name)?;
    let view = state.engine.request(id, caller.scope()).await?;
    Ok(json(RequestOut::from(view)))
}

#[utoipa::path(post, path = "/v1/requests/{id}:approve", tag = "routes_manage",
    params(("id" = String, Path, description = "req_...")), request_body = DecisionIn,
    responses((status = 200, body = RequestOut), (status = 404, body = ErrorBody),
              (status = 409, description = "Already decided, or the parent's pool is short", body = ErrorBody)))]
pub async fn post_request_action(
    State(state): State<AppState>,
    headers: HeaderMap,
    uri: axum::http::Uri,
    body: Body,
) -> Result<Response, ApiError> {
    let caller = state.tokens.caller(&headers)?;
    let target = Target::of(&uri, "/v1/requests/")?;
    let (id_text, method) = target.action("request", ":approve or :reject")?;
    let id = request_id(id_text)?;
    let approve = match method {
        "approve" => true,
        "reject" => false,
        other => {
            return Err(ApiError::not_found(format!(
                "no method :{other} on requests"
            )));
        }
    };
    let body = read_body(body, BODY_MAX).await?;
    let note = parse_or_default::<DecisionIn>(&body)?
        .note
        .unwrap_or_default();
    // Deciding changes the account's limit out of its parent's pool: the caller must be able
    // to change the account.
    let found = state.engine.request(id, caller.scope()).await?;
    let path = wire::account_path(&found.account, "account")?;
    caller.allow_change(&path)?;
    let command = Command::DecideIncrease {
        request: id,
        approve,
        note,
    };
    let view = state.engine.manage(command, caller.name).await?;
    Ok(json(ManagedOut::from(view)))
}

/// `:reject` is the same route as `:approve` (`post_request_action`); this documents it.
#[utoipa::path(post, path = "/v1/requests/{id}:reject", tag = "routes_manage",
    params(("id" = String, Path, description = "req_...")), request_body = DecisionIn,
    responses((status = 200, body = RequestOut), (status = 404, body = ErrorBody),
              (status = 409, description = "Already decided", body = ErrorBody)))]
pub fn reject_request() {}

fn request_id(text: &str) -> Result<u64, ApiError> {
    purser_core::ledger::parse_request_name(text).ok_or_else(|| {
        ApiError::not_found(format!(
            "increase request {text:?} not found: ids look like req_42"
        ))
    })
}
