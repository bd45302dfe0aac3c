//! Routes of the manager: forecasts, the optimizer, the audit log and the event stream.

use std::collections::VecDeque;
use std::convert::Infallible;
use std::sync::Arc;
use std::time::Duration;

use axum::extract::{RawQuery, State};
use axum::http::HeaderMap;
use axum::response::sse::{Event as SseEvent, KeepAlive, Sse};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::{Json, Router};
use purser_core::AccountPath;
use tokio::sync::broadcast;

use crate::audit::{AUDIT_PAGE_MAX, AuditEntry, under};
use crate::auth::Need;
use crate::engine::{Engine, Op, Reply};
use crate::engine_manage::AuditQuery;
use crate::error::ApiError;
use crate::routes::AppState;
use crate::wire::{self, AuditOut};

pub fn routes() -> Router<AppState> {
    Router::new()
        .route("/v1/optimizer:run", post(run_optimizer))
        .route("/v1/audit", get(audit))
        .route("/v1/events", get(events))
}

/// The query's parameters (`routes::query_params`).
pub(crate) fn params(
    raw: Option<&str>,
    allowed: &[&str],
) -> Result<Vec<(String, String)>, ApiError> {
    crate::routes::query_params(raw, allowed)
}

pub(crate) fn number(value: &str, field: &str) -> Result<u64, ApiError> {
    value.parse().map_err(|_| {
        ApiError::invalid(
            "invalid_field",
            field,
            format!("{field} must be a non-negative integer, not {value:?}"),
        )
    })
}

/// `GET /v1/accounts/{path}:forecast?dimension=tokens` (dispatched by `routes::get_account`).
#[utoipa::path(get, path = "/v1/accounts/{path}:forecast",
    params(("path" = String, Path, description = "The account path"),
           ("dimension" = String, Query, description = "A dimension the account limits, e.g. tokens")),
    responses((status = 200, body = wire::ForecastOut),
              (status = 404, description = "No such account, or a dimension counted nowhere", body = crate::error::ErrorBody),
              (status = 409, description = "The account has no limit in the dimension, or no forecast yet", body = crate::error::ErrorBody)))]
pub async fn forecast(
    engine: &Engine,
    path: AccountPath,
    raw: Option<&str>,
) -> Result<Response, ApiError> {
    let mut dimension = None;
    for (key, value) in params(raw, &["dimension"])? {
        if key == "dimension" {
            dimension = Some(value);
        }
    }
    let dimension = dimension.ok_or_else(|| {
        ApiError::invalid(
            "missing_field",
            "dimension",
            "dimension is required, e.g. ?dimension=tokens",
        )
    })?;
    Ok(engine
        .call(Op::Forecast { path, dimension })
        .await
        .into_response())
}

#[utoipa::path(post, path = "/v1/optimizer:run",
    params(("dry_run" = Option<bool>, Query, description = "Decide without applying (default false)")),
    responses((status = 200, body = wire::OptimizerOut), (status = 403, body = crate::error::ErrorBody)))]
pub async fn run_optimizer(
    State(state): State<AppState>,
    headers: HeaderMap,
    RawQuery(raw): RawQuery,
) -> Result<Reply, ApiError> {
    let caller = state.tokens.caller(&headers)?;
    // The pass spans every account: only an unscoped operator or an admin may run it.
    caller.allow(Need::Manage, None)?;
    let mut dry_run = false;
    for (key, value) in params(raw.as_deref(), &["dry_run"])? {
        if key == "dry_run" {
            dry_run = match value.as_str() {
                "" | "true" | "1" => true,
                "false" | "0" => false,
                other => {
                    return Err(ApiError::invalid(
                        "invalid_field",
                        "dry_run",
                        format!("dry_run must be true or false, not {other:?}"),
                    ));
                }
            };
        }
    }
    Ok(state.engine.call(Op::Optimize { dry_run }).await)
}

/// The prefix a caller reads under: the one asked, which must be in the token's scope.
fn scoped_prefix(
    state: &AppState,
    headers: &HeaderMap,
    prefix: Option<String>,
) -> Result<Option<AccountPath>, ApiError> {
    let caller = state.tokens.caller(headers)?;
    let prefix = prefix
        .map(|text| wire::account_path(&text, "prefix"))
        .transpose()?;
    caller.allow(Need::Read, prefix.as_ref().map(AccountPath::as_str))?;
    Ok(prefix)
}

#[utoipa::path(get, path = "/v1/audit",
    params(("prefix" = Option<String>, Query, description = "Only entries of this account and below"),
           ("since_seq" = Option<u64>, Query, description = "Only entries after this sequence number"),
           ("limit" = Option<usize>, Query, description = "At most this many (default and max 10,000)")),
    responses((status = 200, body = wire::AuditOut), (status = 400, body = crate::error::ErrorBody)))]
pub async fn audit(
    State(state): State<AppState>,
    headers: HeaderMap,
    RawQuery(raw): RawQuery,
) -> Result<Response, ApiError> {
    let (mut prefix, mut since_seq, mut limit) = (None, 0, AUDIT_PAGE_MAX);
    for (key, value) in params(raw.as_deref(), &["prefix", "since_seq", "limit"])? {
        match key.as_str() {
            "prefix" => prefix = Some(value),
            "since_seq" => since_seq = number(&value, "since_seq")?,
            _ => limit = (number(&value, "limit")? as usize).min(AUDIT_PAGE_MAX),
        }
    }
    let prefix = scoped_prefix(&state, &headers, prefix)?;
    let query = AuditQuery {
        prefix,
        since_seq,
        limit,
        streamed_only: false,
    };
    match state.engine.call(Op::Audit(query)).await {
        Reply::Audit(events) => Ok(Json(AuditOut { events }).into_response()),
        other => Ok(other.into_response()),
    }
}

struct Stream {
    backlog: VecDeque<Arc<AuditEntry>>,
    live: broadcast::Receiver<Arc<AuditEntry>>,
    prefix: Option<AccountPath>,
    last_seq: u64,
    closing: tokio::sync::watch::Receiver<bool>,
}

fn sse_event(entry: &AuditEntry) -> SseEvent {
    SseEvent::default()
        .id(entry.seq.to_string())
        .event(entry.kind)
        .json_data(entry)
        .unwrap_or_else(|_| SseEvent::default().comment("unencodable entry"))
}

#[utoipa::path(get, path = "/v1/events",
    params(("prefix" = Option<String>, Query, description = "Only events of this account and below")),
    responses((status = 200, description = "text/event-stream: enforcement, alert, reallocation, reservation_expired, period, task; `id:` is the sequence number, `Last-Event-ID` resumes")))]
pub async fn events(
    State(state): State<AppState>,
    headers: HeaderMap,
    RawQuery(raw): RawQuery,
) -> Result<Response, ApiError> {
    let mut prefix = None;
    for (key, value) in params(raw.as_deref(), &["prefix"])? {
        if key == "prefix" {
            prefix = Some(value);
        }
    }
    let prefix = scoped_prefix(&state, &headers, prefix)?;
    // Subscribe first, then read the backlog: nothing falls between the two.
    let live = match state.engine.call(Op::Subscribe).await {
        Reply::Stream(live) => live,
        other => return Ok(other.into_response()),
    };
    let resume = headers
        .get("last-event-id")
        .and_then(|value| value.to_str().ok())
        .map(|value| number(value.trim(), "Last-Event-ID"))
        .transpose()?;
    let mut backlog = VecDeque::new();
    if let Some(since_seq) = resume {
        let query = AuditQuery {
            prefix: prefix.clone(),
            since_seq,
            limit: AUDIT_PAGE_MAX,
            streamed_only: true,
        };
        if let Reply::Audit(entries) = state.engine.call(Op::Audit(query)).await {
            backlog.extend(entries);
        }
    }
    let stream = Stream {
        backlog,
        live,
        prefix,
        last_seq: resume.unwrap_or(0),
        closing: state.closing.clone(),
    };
    let events = futures_util::stream::unfold(stream, |mut stream| async move {
        loop {
            if let Some(entry) = stream.backlog.pop_front() {
                stream.last_seq = stream.last_seq.max(entry.seq);
                return Some((Ok::<_, Infallible>(sse_event(&entry)), stream));
            }
            if *stream.closing.borrow() {
                return None;
            }
            let received = tokio::select! {
                received = stream.live.recv() => received,
                _ = stream.closing.changed() => return None,
            };
            match received {
                Ok(entry) => {
                    // The backlog may already have carried it; the stream has no duplicates.
                    if entry.seq <= stream.last_seq && stream.last_seq > 0
                        || !under(
                            entry.account.as_deref(),
                            stream.prefix.as_ref().map(AccountPath::as_str),
                        )
                    {
                        continue;
                    }
                    stream.last_seq = entry.seq;
                    return Some((Ok(sse_event(&entry)), stream));
                }
                Err(broadcast::error::RecvError::Lagged(n_lost)) => {
                    let event = SseEvent::default()
                        .event("lagged")
                        .json_data(crate::audit::lagged(n_lost))
                        .unwrap_or_default();
                    return Some((Ok(event), stream));
                }
                Err(broadcast::error::RecvError::Closed) => return None,
            }
        }
    });
    Ok(Sse::new(events)
        .keep_alive(KeepAlive::new().interval(Duration::from_secs(15)))
        .into_response())
}
