//! `GET /metrics`: what Prometheus scrapes. Any configured token may scrape; a token with a
//! scope sees its accounts only, and not the process's or the scheduler's figures.

use std::sync::atomic::Ordering::Relaxed;

use axum::extract::State;
use axum::http::{HeaderMap, HeaderValue, header};
use axum::response::{IntoResponse, Response};
use purser_engine::QUEUE_MAX;
use purser_engine::view::metrics::MetricsQuery;

use super::AppState;
use crate::error::ApiError;
use crate::metrics::{Process, Scrape, render};

/// Unfinished DAGs whose cost one scrape lists at most.
const DAG_COSTS_MAX: usize = 1_000;

#[utoipa::path(get, path = "/metrics", tag = "routes",
    responses(
        (status = 200, description = "The Prometheus text exposition (OpenMetrics when asked for)",
            body = String, content_type = "text/plain"),
        (status = 401, description = "Tokens are configured and none or an unknown one was given",
            body = crate::wire::ErrorBody),
    ))]
pub async fn metrics(State(state): State<AppState>, headers: HeaderMap) -> Response {
    match scrape(&state, &headers).await {
        Ok(response) => response,
        Err(err) => err.into_response(),
    }
}

async fn scrape(state: &AppState, headers: &HeaderMap) -> Result<Response, ApiError> {
    let caller = state.tokens.caller(headers)?;
    let scope = caller.scope();
    let config = &state.metrics;
    let query = MetricsQuery {
        depth: config.account_depth,
        series_max: config.series_max,
        dags_max: DAG_COSTS_MAX,
    };
    let view = state.engine.metrics(query, scope.clone()).await?;
    let process = if scope.is_everything() {
        let omitted_total = state.omitted.fetch_add(view.omitted, Relaxed) + view.omitted;
        Some(Process {
            engine: state.engine.stats(),
            http: state.http_stats.clone(),
            queue_depth: state.engine.queue_depth() as u64,
            queue_capacity: QUEUE_MAX as u64,
            journal_bytes: journal_bytes(&state.data_dir),
            omitted_total,
            fleet: state.fleet.gauges(),
        })
    } else {
        None
    };
    let openmetrics = wants_openmetrics(headers);
    let scrape = Scrape {
        prefix: config.prefix.clone(),
        view,
        process,
    };
    // Encoding 10,000 accounts takes milliseconds: off the runtime's threads.
    let text = tokio::task::spawn_blocking(move || render(scrape, openmetrics))
        .await
        .map_err(|err| {
            ApiError::new(
                500,
                "internal",
                format!("encoding the metrics failed: {err}"),
            )
        })?;
    let content_type = if openmetrics {
        "application/openmetrics-text; version=1.0.0; charset=utf-8"
    } else {
        "text/plain; version=0.0.4; charset=utf-8"
    };
    let mut response = text.into_response();
    response
        .headers_mut()
        .insert(header::CONTENT_TYPE, HeaderValue::from_static(content_type));
    Ok(response)
}

/// Whether the scraper's `Accept` header asks for OpenMetrics.
fn wants_openmetrics(headers: &HeaderMap) -> bool {
    headers
        .get_all(header::ACCEPT)
        .iter()
        .filter_map(|value| value.to_str().ok())
        .any(|value| value.contains("application/openmetrics-text"))
}

/// The journal's files in the data directory (the database, its write-ahead log and
/// snapshots), in bytes.
fn journal_bytes(data_dir: &std::path::Path) -> u64 {
    let Ok(entries) = std::fs::read_dir(data_dir) else {
        return 0;
    };
    entries
        .filter_map(Result::ok)
        .filter(|entry| entry.file_name().to_string_lossy().starts_with("journal"))
        .filter_map(|entry| entry.metadata().ok())
        .map(|metadata| metadata.len())
        .sum()
}
