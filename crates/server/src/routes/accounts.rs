//! Accounts: listing, status, create or update, close, `:allocate`, and the `:report` and
//! `:forecast` reads of an account.

use axum::body::Body;
use axum::extract::{RawQuery, State};
use axum::http::HeaderMap;
use axum::http::header::CONTENT_TYPE;
use axum::response::{IntoResponse, Response};
use purser_core::{AccountPath, Command};

use super::{
    ACCOUNTS, AppState, BODY_MAX, Target, json, parse_or_default, query_params, read_body,
};
use crate::auth::Need;
use crate::error::ApiError;
use crate::report::{self, Format};
use crate::wire::accounts::{AccountIn, AccountOut, AccountsOut, AllocateIn, ManagedOut, MeOut};
use crate::wire::manage::ForecastOut;
use crate::wire::{self, ErrorBody};

/// The deepest a listing goes below its prefix.
pub const LIST_DEPTH_MAX: usize = 8;

#[utoipa::path(get, path = "/v1/accounts", tag = "routes",
    params(("prefix" = Option<String>, Query, description = "An account path; its subtree is listed"),
           ("depth" = Option<usize>, Query, description = "Levels below the prefix, default 1")),
    responses((status = 200, body = AccountsOut), (status = 404, body = ErrorBody)))]
pub async fn list_accounts(
    State(state): State<AppState>,
    headers: HeaderMap,
    RawQuery(raw): RawQuery,
) -> Result<Response, ApiError> {
    let caller = state.tokens.caller(&headers)?;
    let mut prefix = None;
    let mut depth = 1;
    for (key, value) in query_params(raw.as_deref(), &["prefix", "depth"])? {
        match key.as_str() {
            "prefix" if !value.is_empty() => prefix = Some(wire::account_path(&value, "prefix")?),
            "prefix" => {}
            _ => {
                depth = value
                    .parse::<usize>()
                    .ok()
                    .filter(|depth| *depth <= LIST_DEPTH_MAX)
                    .ok_or_else(|| {
                        ApiError::invalid(
                            "invalid_field",
                            "depth",
                            format!("depth must be 0 to {LIST_DEPTH_MAX}"),
                        )
                    })?;
            }
        }
    }
    if let Some(prefix) = &prefix {
        caller.allow(Need::Read, Some(prefix.as_str()))?;
    }
    let views = state.engine.accounts(prefix, depth, caller.scope()).await?;
    let accounts = views.into_iter().map(AccountOut::from).collect();
    Ok(json(AccountsOut { accounts }))
}

#[utoipa::path(get, path = "/v1/me", tag = "routes",
    responses((status = 200, body = MeOut), (status = 401, body = ErrorBody)))]
pub async fn me(State(state): State<AppState>, headers: HeaderMap) -> Result<Response, ApiError> {
    let caller = state.tokens.caller(&headers)?;
    let role = match caller.role {
        crate::auth::Role::Admin => "admin",
        crate::auth::Role::Operator => "operator",
        crate::auth::Role::Agent => "agent",
    };
    let views = if caller.scope.is_empty() {
        state.engine.accounts(None, 0, caller.scope()).await?
    } else {
        let scope = wire::account_path(&caller.scope, "scope")?;
        // A scope whose account does not exist yet has nothing to show.
        match state.engine.accounts(Some(scope), 1, caller.scope()).await {
            Ok(views) => views,
            Err(purser_engine::EngineError::Ledger(
                purser_core::LedgerError::AccountNotFound { .. },
            )) => Vec::new(),
            Err(err) => return Err(err.into()),
        }
    };
    Ok(json(MeOut {
        name: caller.name.to_string(),
        role: role.into(),
        scope: caller.scope.to_string(),
        accounts: views.into_iter().map(AccountOut::from).collect(),
    }))
}

#[utoipa::path(get, path = "/v1/accounts/{path}", tag = "routes",
    params(("path" = String, Path, description = "The account path")),
    responses((status = 200, body = AccountOut), (status = 404, body = ErrorBody)))]
pub async fn get_account(
    State(state): State<AppState>,
    headers: HeaderMap,
    uri: axum::http::Uri,
    RawQuery(raw): RawQuery,
) -> Result<Response, ApiError> {
    let caller = state.tokens.caller(&headers)?;
    let target = Target::of(&uri, ACCOUNTS)?;
    let path = target.account()?;
    caller.allow(Need::Read, Some(path.as_str()))?;
    match target.method.as_deref() {
        None => Ok(json(AccountOut::from(state.engine.account(path).await?))),
        Some("report") => report(&state, path, raw.as_deref()).await,
        Some("forecast") => forecast(&state, path, raw.as_deref()).await,
        Some(other) => Err(ApiError::not_found(format!(
            "no method :{other} for GET on accounts"
        ))),
    }
}

/// Asks the engine for the report of `path` and renders it here, off the engine thread.
#[utoipa::path(get, path = "/v1/accounts/{path}:report", tag = "report",
    params(("path" = String, Path, description = "The account path"),
           ("format" = Option<String>, Query, description = "json (default), markdown or html")),
    responses(
        (status = 200, description = "The report of the account and its children",
         content((report::ReportOut = "application/json"), (String = "text/markdown"), (String = "text/html"))),
        (status = 400, body = ErrorBody),
        (status = 404, body = ErrorBody)))]
pub async fn report(
    state: &AppState,
    path: AccountPath,
    raw: Option<&str>,
) -> Result<Response, ApiError> {
    let mut format = Format::Json;
    for (_, value) in query_params(raw, &["format"])? {
        format = Format::parse(&value).ok_or_else(|| {
            ApiError::invalid(
                "invalid_field",
                "format",
                "format must be one of json, markdown, html",
            )
        })?;
    }
    let built = state.engine.report(path).await?;
    let body = report::render(&built, format);
    Ok(([(CONTENT_TYPE, format.content_type())], body).into_response())
}

/// `GET /v1/accounts/{path}:forecast?dimension=tokens` (dispatched by `routes::get_account`).
#[utoipa::path(get, path = "/v1/accounts/{path}:forecast", tag = "routes_manage",
    params(("path" = String, Path, description = "The account path"),
           ("dimension" = String, Query, description = "A dimension the account limits, e.g. tokens")),
    responses((status = 200, body = ForecastOut),
              (status = 404, description = "No such account, or a dimension counted nowhere", body = ErrorBody),
              (status = 409, description = "The account has no limit in the dimension, or no forecast yet", body = ErrorBody)))]
pub async fn forecast(
    state: &AppState,
    path: AccountPath,
    raw: Option<&str>,
) -> Result<Response, ApiError> {
    let dimension = query_params(raw, &["dimension"])?
        .into_iter()
        .next()
        .map(|(_, value)| value)
        .ok_or_else(|| {
            ApiError::invalid(
                "missing_field",
                "dimension",
                "dimension is required, e.g. ?dimension=tokens",
            )
        })?;
    let view = state.engine.forecast(path, dimension).await?;
    Ok(json(ForecastOut::from(view)))
}

#[utoipa::path(put, path = "/v1/accounts/{path}", tag = "routes",
    params(("path" = String, Path, description = "The account path")), request_body = AccountIn,
    responses((status = 200, body = AccountOut), (status = 400, body = ErrorBody), (status = 409, body = ErrorBody)))]
pub async fn put_account(
    State(state): State<AppState>,
    headers: HeaderMap,
    uri: axum::http::Uri,
    body: Body,
) -> Result<Response, ApiError> {
    let caller = state.tokens.caller(&headers)?;
    let path = Target::of(&uri, ACCOUNTS)?.plain_account("PUT")?;
    caller.allow_change(&path)?;
    let body = read_body(body, BODY_MAX).await?;
    let spec = parse_or_default::<AccountIn>(&body)?.into_spec()?;
    let command = Command::UpsertAccount { path, spec };
    let view = state.engine.manage(command, caller.name).await?;
    Ok(json(ManagedOut::from(view)))
}

#[utoipa::path(delete, path = "/v1/accounts/{path}", tag = "routes",
    params(("path" = String, Path, description = "The account path")),
    responses((status = 200, body = crate::wire::accounts::ClosedOut), (status = 409, body = ErrorBody)))]
pub async fn delete_account(
    State(state): State<AppState>,
    headers: HeaderMap,
    uri: axum::http::Uri,
) -> Result<Response, ApiError> {
    let caller = state.tokens.caller(&headers)?;
    let path = Target::of(&uri, ACCOUNTS)?.plain_account("DELETE")?;
    caller.allow_change(&path)?;
    let command = Command::CloseAccount { path };
    let view = state.engine.manage(command, caller.name).await?;
    Ok(json(ManagedOut::from(view)))
}

#[utoipa::path(post, path = "/v1/accounts/{path}:allocate", tag = "routes",
    params(("path" = String, Path, description = "The parent account path")), request_body = AllocateIn,
    responses((status = 200, body = crate::wire::accounts::AllocateOut), (status = 409, body = ErrorBody)))]
pub async fn post_account(
    State(state): State<AppState>,
    headers: HeaderMap,
    uri: axum::http::Uri,
    body: Body,
) -> Result<Response, ApiError> {
    let caller = state.tokens.caller(&headers)?;
    let target = Target::of(&uri, ACCOUNTS)?;
    let path = target.account()?;
    match target.method.as_deref() {
        Some("allocate") => {
            caller.allow(Need::Manage, Some(path.as_str()))?;
            let body = read_body(body, BODY_MAX).await?;
            let request = wire::parse::<AllocateIn>(&body)?.into_request()?;
            let command = Command::Allocate { path, request };
            let view = state.engine.manage(command, caller.name).await?;
            Ok(json(ManagedOut::from(view)))
        }
        Some("reset") => super::requests::reset(&state, caller, path).await,
        Some("run") => super::requests::start_run(&state, caller, path).await,
        Some("request") => {
            let body = read_body(body, BODY_MAX).await?;
            super::requests::request(&state, caller, path, &body).await
        }
        Some(other) => Err(ApiError::not_found(format!(
            "no method :{other} on accounts (allocate, reset, run, request)"
        ))),
        None => Err(ApiError::new(
            405,
            "method_not_allowed",
            "POST on an account needs a method: :allocate, :reset, :run or :request",
        )),
    }
}
