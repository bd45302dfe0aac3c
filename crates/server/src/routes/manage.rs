//! The manager's routes: the optimizer on request and the audit log.

use axum::extract::{RawQuery, State};
use axum::http::HeaderMap;
use axum::response::Response;
use purser_core::AccountPath;
use purser_engine::audit::{AUDIT_PAGE_MAX, AuditQuery};

use super::{AppState, boolean, json, number, query_params};
use crate::auth::Need;
use crate::error::ApiError;
use crate::wire::manage::{AuditOut, MoveOut, OptimizerOut};
use crate::wire::{self, ErrorBody};

#[utoipa::path(post, path = "/v1/optimizer:run", tag = "routes_manage",
    params(("dry_run" = Option<bool>, Query, description = "Decide without applying (default false)")),
    responses((status = 200, body = OptimizerOut), (status = 403, body = ErrorBody)))]
pub async fn run_optimizer(
    State(state): State<AppState>,
    headers: HeaderMap,
    RawQuery(raw): RawQuery,
) -> Result<Response, ApiError> {
    let caller = state.tokens.caller(&headers)?;
    // The pass spans every account: only an unscoped operator or an admin may run it.
    caller.allow(Need::Manage, None)?;
    let mut dry_run = false;
    for (key, value) in query_params(raw.as_deref(), &["dry_run"])? {
        if key == "dry_run" {
            dry_run = boolean(&value, "dry_run")?;
        }
    }
    let moves = state.engine.optimize(dry_run).await?;
    Ok(json(OptimizerOut {
        dry_run,
        moves: moves.into_iter().map(MoveOut::from).collect(),
    }))
}

/// The prefix a caller reads under: the one asked, which must be in the token's scope.
pub(super) fn scoped_prefix(
    caller: &crate::auth::Caller,
    prefix: Option<String>,
) -> Result<Option<AccountPath>, ApiError> {
    let prefix = prefix
        .map(|text| wire::account_path(&text, "prefix"))
        .transpose()?;
    caller.allow(Need::Read, prefix.as_ref().map(AccountPath::as_str))?;
    Ok(prefix)
}

#[utoipa::path(get, path = "/v1/audit", tag = "routes_manage",
    params(("prefix" = Option<String>, Query, description = "Only entries of this account and below"),
           ("since_seq" = Option<u64>, Query, description = "Only entries after this sequence number"),
           ("limit" = Option<usize>, Query, description = "At most this many (default and max 10,000)")),
    responses((status = 200, body = AuditOut), (status = 400, body = ErrorBody)))]
pub async fn audit(
    State(state): State<AppState>,
    headers: HeaderMap,
    RawQuery(raw): RawQuery,
) -> Result<Response, ApiError> {
    let (mut prefix, mut since_seq, mut limit) = (None, 0, AUDIT_PAGE_MAX);
    for (key, value) in query_params(raw.as_deref(), &["prefix", "since_seq", "limit"])? {
        match key.as_str() {
            "prefix" => prefix = Some(value),
            "since_seq" => since_seq = number(&value, "since_seq")?,
            _ => limit = (number(&value, "limit")? as usize).min(AUDIT_PAGE_MAX),
        }
    }
    let prefix = scoped_prefix(&state.tokens.caller(&headers)?, prefix)?;
    let query = AuditQuery {
        prefix,
        since_seq,
        limit,
        streamed_only: false,
        newest_first: false,
    };
    let events = state.engine.audit(query).await?;
    Ok(json(AuditOut { events }))
}
