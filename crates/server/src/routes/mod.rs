//! The HTTP routes: parse, check the caller, call the engine, render. One module per resource
//! (`accounts`, `usage`, `dags`, `manage`, `events`, `health`); what they share is here: the
//! router and its state, the guard every request with a body passes, the target of a path
//! (`NAME:METHOD`), the query parser and the body helpers.

pub mod accounts;
pub mod dags;
pub mod events;
pub mod fleet;
pub mod health;
pub mod manage;
pub mod metrics;
pub mod requests;
pub mod usage;

use std::sync::Arc;

use axum::Router;
use axum::body::Body;
use axum::extract::State;
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use purser_core::AccountPath;
use purser_engine::Engine;
use serde::Deserialize;

use crate::auth::Tokens;
use crate::error::ApiError;
use crate::wire;

/// The prefix of account routes; the account path and its `:method` follow.
pub const ACCOUNTS: &str = "/v1/accounts/";
/// The largest body of a single request, and of a batch.
pub const BODY_MAX: usize = 1 << 20;
pub const BATCH_BODY_MAX: usize = 16 << 20;
/// Beyond a route's limit, a body this much larger is still read (and dropped) before the 413.
const DISCARD_MAX: usize = 1 << 20;

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
    /// `[metrics]` of the configuration.
    pub metrics: Arc<crate::config::metrics::MetricsSection>,
    /// Requests and their latency by route, counted by a middleware.
    pub http_stats: Arc<crate::metrics::http::HttpStats>,
    /// Series the scrapes left out so far.
    pub omitted: Arc<std::sync::atomic::AtomicU64>,
    /// Where the journal's files are (their size is a metric).
    pub data_dir: Arc<std::path::Path>,
    /// Agent profiles, agents and the resource monitor (soft state).
    pub fleet: Arc<crate::fleet::Fleet>,
    /// The engine's clock, for the fleet's times.
    pub clock: Arc<dyn purser_engine::Clock>,
    /// The shard, its lease and its peers, on a PostgreSQL store.
    pub cluster: Option<Arc<crate::cluster::Cluster>>,
}

/// The API's routes, with `pages` (the dashboard's, `crate::ui::router`) beside them, behind
/// the body guard and the request counter.
pub fn router(state: AppState, pages: Router<AppState>) -> Router {
    Router::new()
        .route("/healthz", get(health::healthz))
        .route("/readyz", get(health::readyz))
        .route("/openapi.json", get(health::openapi))
        .route("/metrics", get(metrics::metrics))
        .route("/v1/accounts", get(accounts::list_accounts))
        .route("/v1/me", get(accounts::me))
        .route(
            "/v1/accounts/{*rest}",
            get(accounts::get_account)
                .put(accounts::put_account)
                .delete(accounts::delete_account)
                .post(accounts::post_account),
        )
        .route("/v1/usage", post(usage::post_usage))
        .route("/v1/usage:batch", post(usage::post_usage_batch))
        .route("/v1/reservations", post(usage::post_reservation))
        .route(
            "/v1/reservations/{action}",
            post(usage::post_reservation_action),
        )
        .route("/v1/dags", post(dags::post_dag).get(dags::list_dags))
        .route(
            "/v1/dags/{id}",
            get(dags::get_dag).post(dags::post_dag_action),
        )
        .route("/v1/workers/{action}", post(dags::lease))
        .route("/v1/tasks/{action}", post(dags::post_task_action))
        .route("/v1/optimizer:run", post(manage::run_optimizer))
        .route("/v1/profiles", get(fleet::list_profiles))
        .route(
            "/v1/profiles/{*rest}",
            get(fleet::get_profile).post(fleet::post_samples),
        )
        .route("/v1/agents", get(fleet::list_agents))
        .route(
            "/v1/agents/{*rest}",
            get(fleet::get_agent)
                .put(fleet::put_agent)
                .post(fleet::post_agent)
                .delete(fleet::delete_agent),
        )
        .route("/v1/requests", get(requests::list_requests))
        .route(
            "/v1/requests/{action}",
            get(requests::get_request).post(requests::post_request_action),
        )
        .route("/v1/audit", get(manage::audit))
        .route("/v1/events", get(events::events))
        .merge(pages)
        .fallback(|| async { ApiError::not_found("no such endpoint") })
        .layer(axum::middleware::from_fn_with_state(
            state.body_read_timeout,
            guard_body,
        ))
        .layer(axum::extract::DefaultBodyLimit::disable())
        .layer(axum::middleware::from_fn_with_state(
            Arc::new(crate::cluster::Routing {
                engine: state.engine.clone(),
                changes: state.engine.changes(),
                cluster: state.cluster.clone(),
                body_max: BATCH_BODY_MAX,
                accounts_prefix: ACCOUNTS,
            }),
            crate::cluster::route,
        ))
        .layer(axum::middleware::from_fn_with_state(
            state.http_stats.clone(),
            crate::metrics::http::observe,
        ))
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
            [
                "/v1/accounts",
                "/v1/dags",
                "/v1/audit",
                "/v1/events",
                "/v1/agents",
                "/v1/requests",
            ]
            .contains(&path)
                || path.starts_with("/ui/")
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
    State(body_read_timeout): State<std::time::Duration>,
    request: axum::extract::Request,
    next: axum::middleware::Next,
) -> Response {
    let (parts, body) = request.into_parts();
    if let Some(refusal) = refuse_query(&parts) {
        return refusal.into_response();
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
            let _ = tokio::time::timeout(body_read_timeout, discard).await;
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
    // The dashboard's sign-in is an HTML form; everything else takes JSON.
    if !parts.uri.path().starts_with("/ui/")
        && let Some(refusal) = refuse_media_type(&parts)
    {
        return refusal.into_response();
    }
    match read_within(body, max, body_read_timeout).await {
        Ok(bytes) => {
            next.run(axum::extract::Request::from_parts(parts, Body::from(bytes)))
                .await
        }
        Err(refusal) => refusal.into_response(),
    }
}

/// A query string on a route that reads none is a typo, not something to ignore.
fn refuse_query(parts: &axum::http::request::Parts) -> Option<ApiError> {
    let query = parts.uri.query().filter(|query| !query.is_empty())?;
    if takes_query(&parts.method, parts.uri.path()) {
        return None;
    }
    let key = query.split(['=', '&']).next().unwrap_or_default();
    Some(ApiError::invalid(
        "unknown_field",
        key,
        format!(
            "{} {} takes no query parameters, not {query:?}",
            parts.method,
            parts.uri.path()
        ),
    ))
}

/// A body must say it is JSON.
fn refuse_media_type(parts: &axum::http::request::Parts) -> Option<ApiError> {
    let content_type = parts.headers.get(axum::http::header::CONTENT_TYPE);
    if is_json(content_type) {
        return None;
    }
    let given = content_type
        .and_then(|value| value.to_str().ok())
        .unwrap_or("none");
    Some(
        ApiError::new(
            415,
            "unsupported_media_type",
            format!("the body must be JSON with Content-Type: application/json, not {given}"),
        )
        .with_field("Content-Type"),
    )
}

/// Reads the whole body into memory: at most `max` bytes, within the body-read timeout.
async fn read_within(
    body: Body,
    max: usize,
    timeout: std::time::Duration,
) -> Result<axum::body::Bytes, ApiError> {
    match tokio::time::timeout(timeout, axum::body::to_bytes(body, max)).await {
        Ok(Ok(bytes)) => Ok(bytes),
        Ok(Err(_)) => Err(too_large(max)),
        Err(_) => Err(ApiError::new(
            408,
            "request_timeout",
            format!("the body did not arrive within {} ms", timeout.as_millis()),
        )),
    }
}

fn too_large(max: usize) -> ApiError {
    ApiError::new(
        413,
        "body_too_large",
        format!("the body is larger than {max} bytes"),
    )
}

/// The body of a request, already read and checked by `guard_body`.
pub(crate) async fn read_body(body: Body, max: usize) -> Result<axum::body::Bytes, ApiError> {
    axum::body::to_bytes(body, max)
        .await
        .map_err(|_| too_large(max))
}

/// The body's object, or `T`'s default when the body is empty.
pub(crate) fn parse_or_default<'de, T: Deserialize<'de> + Default>(
    body: &'de [u8],
) -> Result<T, ApiError> {
    if body.iter().all(u8::is_ascii_whitespace) {
        Ok(T::default())
    } else {
        Ok(wire::parse(body)?)
    }
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
    pub(crate) fn account(&self) -> Result<AccountPath, ApiError> {
        Ok(wire::account_path(&self.name, "path")?)
    }

    /// The account path of a request that takes no `:method`.
    pub(crate) fn plain_account(&self, verb: &str) -> Result<AccountPath, ApiError> {
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

/// A non-negative integer query parameter.
pub(crate) fn number(value: &str, field: &str) -> Result<u64, ApiError> {
    value.parse().map_err(|_| {
        ApiError::invalid(
            "invalid_field",
            field,
            format!("{field} must be a non-negative integer, not {value:?}"),
        )
    })
}

/// A boolean query parameter: `true`, `1` or empty, `false` or `0`.
pub(crate) fn boolean(value: &str, field: &str) -> Result<bool, ApiError> {
    match value {
        "" | "true" | "1" => Ok(true),
        "false" | "0" => Ok(false),
        other => Err(ApiError::invalid(
            "invalid_field",
            field,
            format!("{field} must be true or false, not {other:?}"),
        )),
    }
}

/// An answer of the engine as JSON.
pub(crate) fn json<T: serde::Serialize>(value: T) -> Response {
    axum::Json(value).into_response()
}
