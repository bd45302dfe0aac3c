//! The HTTP routes: parse, check the caller, call the engine, render. Nothing else.

use std::sync::Arc;

use axum::body::Body;
use axum::extract::{RawQuery, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::{Json, Router};
use purser_core::{AccountPath, Command};

use crate::auth::{Need, Tokens};
use crate::engine::{Engine, Op, Reply};
use crate::error::ApiError;
use crate::wire::{self, AccountIn, AllocateIn, ReserveIn, SettleIn, UsageBatchIn, UsageIn};

/// The prefix of account routes; the account path and its `:method` follow.
const ACCOUNTS: &str = "/v1/accounts/";
/// The largest body of a single request, and of a batch.
pub const BODY_MAX: usize = 1 << 20;
pub const BATCH_BODY_MAX: usize = 16 << 20;
/// Beyond a route's limit, a body this much larger is still read (and dropped) before the 413.
const DISCARD_MAX: usize = 1 << 20;
/// The most reports one batch may carry.
pub const BATCH_REPORTS_MAX: usize = 10_000;
/// The deepest a listing goes below its prefix.
pub const LIST_DEPTH_MAX: usize = 8;

#[derive(Clone)]
pub struct AppState {
    pub engine: Engine,
    pub tokens: Arc<Tokens>,
    /// Turns true when the server begins to shut down (event streams end then).
    pub closing: tokio::sync::watch::Receiver<bool>,
    /// A request body must arrive within this long of its head.
    pub body_read_timeout: std::time::Duration,
    /// `GET /openapi.json`, built at start for the server's configuration.
    pub openapi: Arc<serde_json::Value>,
}

pub fn router(state: AppState) -> Router {
    Router::new()
        .route("/healthz", get(healthz))
        .route("/readyz", get(readyz))
        .route("/openapi.json", get(openapi))
        .route("/v1/accounts", get(list_accounts))
        .route(
            "/v1/accounts/{*rest}",
            get(get_account)
                .put(put_account)
                .delete(delete_account)
                .post(post_account),
        )
        .route("/v1/usage", post(post_usage))
        .route("/v1/usage:batch", post(post_usage_batch))
        .route("/v1/reservations", post(post_reservation))
        .route("/v1/reservations/{action}", post(post_reservation_action))
        .merge(crate::dag_routes::routes())
        .merge(crate::routes_manage::routes())
        .fallback(|| async { ApiError::not_found("no such endpoint") })
        .layer(axum::middleware::from_fn_with_state(
            state.clone(),
            guard_body,
        ))
        .layer(axum::extract::DefaultBodyLimit::disable())
        .with_state(state)
}

/// The largest body `method` on `path` may carry: a batch of reports and a DAG get the batch's.
fn body_max(method: &axum::http::Method, path: &str) -> usize {
    let batch =
        *method == axum::http::Method::POST && (path == "/v1/usage:batch" || path == "/v1/dags");
    if batch { BATCH_BODY_MAX } else { BODY_MAX }
}

/// Whether `method` on `path` reads a query string; the others refuse one, so that a typo
/// (`POST /v1/usage?dry_run=true`) does not pass silently.
fn takes_query(method: &axum::http::Method, path: &str) -> bool {
    use axum::http::Method;
    match *method {
        Method::GET => {
            ["/v1/accounts", "/v1/dags", "/v1/audit", "/v1/events"].contains(&path)
                || (path.starts_with(ACCOUNTS)
                    && (path.ends_with(":report") || path.ends_with(":forecast")))
        }
        Method::POST => path == "/v1/optimizer:run",
        _ => false,
    }
}

/// Whether a `Content-Type` names JSON (`application/json`, with parameters or not, or a
/// `+json` type).
fn is_json(content_type: Option<&axum::http::HeaderValue>) -> bool {
    let Some(media_type) = content_type
        .and_then(|value| value.to_str().ok())
        .and_then(|value| value.split(';').next())
        .map(str::trim)
    else {
        return false;
    };
    media_type.eq_ignore_ascii_case("application/json")
        || (media_type.len() > 5
            && media_type[..media_type.len() - 5]
                .to_ascii_lowercase()
                .starts_with("application/")
            && media_type[media_type.len() - 5..].eq_ignore_ascii_case("+json"))
}

/// Every request with a body: it must be JSON and say so, no larger than its route allows
/// (refused up front when `Content-Length` says so), and arrive within the body-read timeout.
/// The handler then reads it from memory.
async fn guard_body(
    State(state): State<AppState>,
    request: axum::extract::Request,
    next: axum::middleware::Next,
) -> Response {
    let (parts, body) = request.into_parts();
    if parts.uri.query().is_some_and(|query| !query.is_empty())
        && !takes_query(&parts.method, parts.uri.path())
    {
        let query = parts.uri.query().unwrap_or_default();
        let key = query.split(['=', '&']).next().unwrap_or_default();
        return ApiError::invalid(
            "unknown_field",
            key,
            format!(
                "{} {} takes no query parameters, not {query:?}",
                parts.method,
                parts.uri.path()
            ),
        )
        .into_response();
    }
    let max = body_max(&parts.method, parts.uri.path());
    let declared = parts
        .headers
        .get(axum::http::header::CONTENT_LENGTH)
        .and_then(|value| value.to_str().ok())
        .and_then(|value| value.parse::<u64>().ok());
    if let Some(length) = declared.filter(|length| *length > max as u64) {
        // Refused before the body is read. A client that did not ask `Expect: 100-continue`
        // is sending it anyway: a little over the limit is read and dropped, so that it can
        // read the answer; more is not waited for.
        let expects = parts.headers.contains_key(axum::http::header::EXPECT);
        if !expects && length <= (max + DISCARD_MAX) as u64 {
            let discard = axum::body::to_bytes(body, length as usize);
            let _ = tokio::time::timeout(state.body_read_timeout, discard).await;
        }
        return too_large(max).into_response();
    }
    let has_body = match declared {
        Some(length) => length > 0,
        None => parts
            .headers
            .contains_key(axum::http::header::TRANSFER_ENCODING),
    };
    if !has_body {
        return next
            .run(axum::extract::Request::from_parts(parts, body))
            .await;
    }
    if !is_json(parts.headers.get(axum::http::header::CONTENT_TYPE)) {
        let given = parts
            .headers
            .get(axum::http::header::CONTENT_TYPE)
            .and_then(|value| value.to_str().ok())
            .unwrap_or("none");
        return ApiError::new(
            415,
            "unsupported_media_type",
            format!("the body must be JSON with Content-Type: application/json, not {given}"),
        )
        .with_field("Content-Type")
        .into_response();
    }
    let read = tokio::time::timeout(state.body_read_timeout, axum::body::to_bytes(body, max));
    let bytes = match read.await {
        Ok(Ok(bytes)) => bytes,
        Ok(Err(_)) => return too_large(max).into_response(),
        Err(_) => {
            return ApiError::new(
                408,
                "request_timeout",
                format!(
                    "the body did not arrive within {} ms",
                    state.body_read_timeout.as_millis()
                ),
            )
            .into_response();
        }
    };
    next.run(axum::extract::Request::from_parts(parts, Body::from(bytes)))
        .await
}

fn too_large(max: usize) -> ApiError {
    ApiError::new(
        413,
        "body_too_large",
        format!("the body is larger than {max} bytes"),
    )
}

impl IntoResponse for Reply {
    fn into_response(self) -> Response {
        match self {
            Reply::Account(out) => Json(out).into_response(),
            Reply::Accounts(out) => Json(out).into_response(),
            Reply::Closed(out) => Json(out).into_response(),
            Reply::Allocated(out) => Json(out).into_response(),
            Reply::Usage(out) => Json(out).into_response(),
            Reply::Reserved(out) => (StatusCode::CREATED, Json(out)).into_response(),
            Reply::Voided(out) => Json(out).into_response(),
            Reply::Batch(out) => Json(out).into_response(),
            Reply::Expired(count) => Json(serde_json::json!({ "expired": count })).into_response(),
            Reply::Dag(out) => out.into_response(),
            Reply::Report(report) => Json(crate::report::ReportOut::from(&*report)).into_response(),
            Reply::Forecast(out) => Json(out).into_response(),
            Reply::Optimized(out) => Json(out).into_response(),
            Reply::Audit(events) => Json(wire::AuditOut { events }).into_response(),
            Reply::Stream(_) => {
                ApiError::new(500, "internal", "a stream is not an answer".to_string())
                    .into_response()
            }
            Reply::Error(err) => err.into_response(),
        }
    }
}

/// The body of a request, already read and checked by `guard_body`.
pub(crate) async fn read_body(body: Body, max: usize) -> Result<axum::body::Bytes, ApiError> {
    axum::body::to_bytes(body, max)
        .await
        .map_err(|_| too_large(max))
}

/// The last part of a request's path after its route's fixed prefix, split at its first
/// literal colon into a name and a `:method`, each percent-decoded. The split comes first, so
/// an encoded colon (`%3A`) is part of the name, never a method.
pub struct Target {
    pub name: String,
    pub method: Option<String>,
}

impl Target {
    /// The target of `uri`, whose path starts with `prefix`.
    pub(crate) fn of(uri: &axum::http::Uri, prefix: &str) -> Result<Target, ApiError> {
        let raw = uri.path().strip_prefix(prefix).unwrap_or_default();
        let decode = |text: &str| {
            percent_encoding::percent_decode_str(text)
                .decode_utf8()
                .map(|decoded| decoded.into_owned())
                .map_err(|_| ApiError::invalid("invalid_path", "path", "the path is not UTF-8"))
        };
        let (name, method) = match raw.split_once(':') {
            Some((name, method)) => (decode(name)?, Some(decode(method)?)),
            None => (decode(raw)?, None),
        };
        Ok(Target { name, method })
    }

    /// The account path this target names. A trailing slash is refused as it is in a body:
    /// `acme/` is not a path.
    fn account(&self) -> Result<AccountPath, ApiError> {
        wire::account_path(&self.name, "path")
    }

    /// The account path of a request that takes no `:method`.
    fn plain_account(&self, verb: &str) -> Result<AccountPath, ApiError> {
        if let Some(method) = &self.method {
            return Err(ApiError::not_found(format!(
                "no method :{method} for {verb} on accounts"
            )));
        }
        self.account()
    }

    /// `ID:METHOD`: 405 naming the methods of `what` when there is no method.
    pub(crate) fn action(&self, what: &str, methods: &str) -> Result<(&str, &str), ApiError> {
        match &self.method {
            Some(method) => Ok((&self.name, method)),
            None => Err(ApiError::new(
                405,
                "method_not_allowed",
                format!("POST on a {what} needs {methods}"),
            )),
        }
    }
}

#[utoipa::path(get, path = "/healthz", responses((status = 200, description = "The process is alive")))]
pub async fn healthz() -> Json<serde_json::Value> {
    Json(serde_json::json!({ "status": "ok" }))
}

#[utoipa::path(get, path = "/readyz", responses((status = 200, description = "The store is open and replayed")))]
pub async fn readyz() -> Json<serde_json::Value> {
    // The server binds only after the journal is open and replayed.
    Json(serde_json::json!({ "status": "ready" }))
}

#[utoipa::path(get, path = "/openapi.json", responses((status = 200, description = "This document")))]
pub async fn openapi(State(state): State<AppState>) -> Response {
    Json(state.openapi.as_ref()).into_response()
}

/// The parameters of a query string, decoded, refusing any not in `allowed` and any given
/// twice (a typo must not pass silently).
pub fn query_params(
    raw: Option<&str>,
    allowed: &[&str],
) -> Result<Vec<(String, String)>, ApiError> {
    let mut params: Vec<(String, String)> = Vec::new();
    for (key, value) in form_urlencoded::parse(raw.unwrap_or_default().as_bytes()) {
        if !allowed.contains(&key.as_ref()) {
            return Err(ApiError::invalid(
                "unknown_field",
                &key,
                format!("unknown query parameter {key:?}; expected one of {allowed:?}"),
            ));
        }
        if params.iter().any(|(seen, _)| *seen == key) {
            return Err(ApiError::invalid(
                "duplicate_field",
                &key,
                format!("query parameter {key} is given twice"),
            ));
        }
        params.push((key.into_owned(), value.into_owned()));
    }
    Ok(params)
}

#[utoipa::path(get, path = "/v1/accounts",
    params(("prefix" = Option<String>, Query, description = "An account path; its subtree is listed"),
           ("depth" = Option<usize>, Query, description = "Levels below the prefix, default 1")),
    responses((status = 200, body = wire::AccountsOut), (status = 404, body = crate::error::ErrorBody)))]
pub async fn list_accounts(
    State(state): State<AppState>,
    headers: HeaderMap,
    RawQuery(raw): RawQuery,
) -> Result<Reply, ApiError> {
    let caller = state.tokens.caller(&headers)?;
    let mut prefix = None;
    let mut depth = 1;
    for (key, value) in query_params(raw.as_deref(), &["prefix", "depth"])? {
        match key.as_str() {
            "prefix" if !value.is_empty() => prefix = Some(wire::account_path(&value, "prefix")?),
            "prefix" => {}
            "depth" => {
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
            _ => unreachable!("query_params allows only prefix and depth"),
        }
    }
    if let Some(prefix) = &prefix {
        caller.allow(Need::Read, Some(prefix.as_str()))?;
    }
    Ok(state
        .engine
        .call(Op::List {
            prefix,
            depth,
            caller,
        })
        .await)
}

#[utoipa::path(get, path = "/v1/accounts/{path}", params(("path" = String, Path, description = "The account path")),
    responses((status = 200, body = wire::AccountOut), (status = 404, body = crate::error::ErrorBody)))]
pub async fn get_account(
    State(state): State<AppState>,
    headers: HeaderMap,
    uri: axum::http::Uri,
    RawQuery(raw): RawQuery,
) -> Result<Response, ApiError> {
    let caller = state.tokens.caller(&headers)?;
    let target = Target::of(&uri, ACCOUNTS)?;
    let (path, method) = (target.account()?, target.method.as_deref());
    caller.allow(Need::Read, Some(path.as_str()))?;
    match method {
        None => Ok(state.engine.call(Op::Status(path)).await.into_response()),
        Some("report") => crate::report::report(&state.engine, path, raw.as_deref()).await,
        Some("forecast") => {
            crate::routes_manage::forecast(&state.engine, path, raw.as_deref()).await
        }
        Some(other) => Err(ApiError::not_found(format!(
            "no method :{other} for GET on accounts"
        ))),
    }
}

#[utoipa::path(put, path = "/v1/accounts/{path}", params(("path" = String, Path, description = "The account path")), request_body = AccountIn,
    responses((status = 200, body = wire::AccountOut), (status = 400, body = crate::error::ErrorBody), (status = 409, body = crate::error::ErrorBody)))]
pub async fn put_account(
    State(state): State<AppState>,
    headers: HeaderMap,
    uri: axum::http::Uri,
    body: Body,
) -> Result<Reply, ApiError> {
    let caller = state.tokens.caller(&headers)?;
    let path = Target::of(&uri, ACCOUNTS)?.plain_account("PUT")?;
    caller.allow_change(&path)?;
    let body = read_body(body, BODY_MAX).await?;
    let input: AccountIn = if body.iter().all(u8::is_ascii_whitespace) {
        AccountIn::default()
    } else {
        wire::parse(&body)?
    };
    let spec = input.into_spec()?;
    let command = Command::UpsertAccount { path, spec };
    Ok(state.engine.call(Op::Manage(command, caller.name)).await)
}

#[utoipa::path(delete, path = "/v1/accounts/{path}", params(("path" = String, Path, description = "The account path")),
    responses((status = 200, body = wire::ClosedOut), (status = 409, body = crate::error::ErrorBody)))]
pub async fn delete_account(
    State(state): State<AppState>,
    headers: HeaderMap,
    uri: axum::http::Uri,
) -> Result<Reply, ApiError> {
    let caller = state.tokens.caller(&headers)?;
    let path = Target::of(&uri, ACCOUNTS)?.plain_account("DELETE")?;
    caller.allow_change(&path)?;
    let command = Command::CloseAccount { path };
    Ok(state.engine.call(Op::Manage(command, caller.name)).await)
}

#[utoipa::path(post, path = "/v1/accounts/{path}:allocate", params(("path" = String, Path, description = "The parent account path")), request_body = AllocateIn,
    responses((status = 200, body = wire::AllocateOut), (status = 409, body = crate::error::ErrorBody)))]
pub async fn post_account(
    State(state): State<AppState>,
    headers: HeaderMap,
    uri: axum::http::Uri,
    body: Body,
) -> Result<Reply, ApiError> {
    let caller = state.tokens.caller(&headers)?;
    let target = Target::of(&uri, ACCOUNTS)?;
    let (path, method) = (target.account()?, target.method.as_deref());
    match method {
        Some("allocate") => {
            caller.allow(Need::Manage, Some(path.as_str()))?;
            let body = read_body(body, BODY_MAX).await?;
            let request = wire::parse::<AllocateIn>(&body)?.into_request()?;
            let command = Command::Allocate { path, request };
            Ok(state.engine.call(Op::Manage(command, caller.name)).await)
        }
        Some(other) => Err(ApiError::not_found(format!(
            "no method :{other} on accounts"
        ))),
        None => Err(ApiError::new(
            405,
            "method_not_allowed",
            "POST on an account needs a method such as :allocate",
        )),
    }
}

#[utoipa::path(post, path = "/v1/usage", request_body = UsageIn,
    responses((status = 200, body = wire::UsageOut), (status = 400, body = crate::error::ErrorBody), (status = 404, body = crate::error::ErrorBody)))]
pub async fn post_usage(
    State(state): State<AppState>,
    headers: HeaderMap,
    body: Body,
) -> Result<Reply, ApiError> {
    let caller = state.tokens.caller(&headers)?;
    let body = read_body(body, BODY_MAX).await?;
    let report = wire::parse::<UsageIn>(&body)?.into_report()?;
    caller.allow(Need::Spend, Some(report.account.as_str()))?;
    Ok(state.engine.call(Op::Command(Command::Usage(report))).await)
}

#[utoipa::path(post, path = "/v1/usage:batch", request_body = UsageBatchIn,
    responses((status = 200, body = wire::UsageBatchOut), (status = 400, body = crate::error::ErrorBody), (status = 413, body = crate::error::ErrorBody)))]
pub async fn post_usage_batch(
    State(state): State<AppState>,
    headers: HeaderMap,
    body: Body,
) -> Result<Reply, ApiError> {
    let caller = state.tokens.caller(&headers)?;
    // Every role may spend; each report's account is checked against the scope by the engine.
    let body = read_body(body, BATCH_BODY_MAX).await?;
    let batch: UsageBatchIn = wire::parse(&body)?;
    if batch.reports.len() > BATCH_REPORTS_MAX {
        return Err(ApiError::invalid(
            "too_many_reports",
            "reports",
            format!(
                "a batch holds at most {BATCH_REPORTS_MAX} reports, this one {}",
                batch.reports.len()
            ),
        ));
    }
    let items = batch
        .reports
        .iter()
        .enumerate()
        .map(|(idx, raw)| {
            wire::parse::<UsageIn>(raw.get().as_bytes())
                .and_then(UsageIn::into_report)
                .map_err(|mut err| {
                    err.detail.field = Some(match err.detail.field.take() {
                        Some(field) => format!("reports[{idx}].{field}"),
                        None => format!("reports[{idx}]"),
                    });
                    err
                })
        })
        .collect();
    Ok(state.engine.call(Op::UsageBatch(items, caller)).await)
}

#[utoipa::path(post, path = "/v1/reservations", request_body = ReserveIn,
    responses((status = 201, body = wire::ReservationOut),
              (status = 404, description = "No such account", body = crate::error::ErrorBody),
              (status = 409, description = "The hold would take an account on its path to its stop threshold", body = crate::error::ErrorBody)))]
pub async fn post_reservation(
    State(state): State<AppState>,
    headers: HeaderMap,
    body: Body,
) -> Result<Reply, ApiError> {
    let caller = state.tokens.caller(&headers)?;
    let body = read_body(body, BODY_MAX).await?;
    let request = wire::parse::<ReserveIn>(&body)?.into_request()?;
    caller.allow(Need::Spend, Some(request.account.as_str()))?;
    Ok(state
        .engine
        .call(Op::Command(Command::Reserve(request)))
        .await)
}

/// `POST /v1/reservations/{id}:settle` and `:void` share one route (the method follows a colon
/// inside the last segment); each has its own function so that both appear in /openapi.json.
pub async fn post_reservation_action(
    State(state): State<AppState>,
    headers: HeaderMap,
    uri: axum::http::Uri,
    body: Body,
) -> Result<Reply, ApiError> {
    let caller = state.tokens.caller(&headers)?;
    let target = Target::of(&uri, "/v1/reservations/")?;
    let (id_text, method) = target.action("reservation", ":settle or :void")?;
    let reservation = wire::reservation_id(id_text)?;
    let body = read_body(body, BODY_MAX).await?;
    let command = match method {
        "settle" => settle_reservation(reservation, &body)?,
        "void" => void_reservation(reservation),
        other => {
            return Err(ApiError::not_found(format!(
                "no method :{other} on reservations"
            )));
        }
    };
    Ok(state.engine.call(Op::ByReservation(command, caller)).await)
}

#[utoipa::path(post, path = "/v1/reservations/{id}:settle", params(("id" = String, Path, description = "rsv_...")), request_body = SettleIn,
    responses((status = 200, body = wire::UsageOut), (status = 404, body = crate::error::ErrorBody), (status = 409, body = crate::error::ErrorBody)))]
pub fn settle_reservation(reservation: u64, body: &[u8]) -> Result<Command, ApiError> {
    let input: SettleIn = if body.iter().all(u8::is_ascii_whitespace) {
        SettleIn::default()
    } else {
        wire::parse(body)?
    };
    Ok(Command::Settle(input.into_request(reservation)))
}

#[utoipa::path(post, path = "/v1/reservations/{id}:void", params(("id" = String, Path, description = "rsv_...")),
    responses((status = 200, body = wire::VoidOut), (status = 404, body = crate::error::ErrorBody), (status = 409, body = crate::error::ErrorBody)))]
pub fn void_reservation(reservation: u64) -> Command {
    Command::Void { reservation }
}
