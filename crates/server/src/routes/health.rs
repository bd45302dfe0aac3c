//! `/healthz`, `/readyz` and `/openapi.json`: no token needed.

use axum::Json;
use axum::extract::State;
use axum::response::{IntoResponse, Response};

use super::AppState;

#[utoipa::path(get, path = "/healthz", tag = "routes",
    responses((status = 200, description = "The process is alive")))]
pub async fn healthz() -> Json<serde_json::Value> {
    Json(serde_json::json!({ "status": "ok" }))
}

#[utoipa::path(get, path = "/readyz", tag = "routes",
    responses((status = 200, description = "The store is open and replayed")))]
pub async fn readyz() -> Json<serde_json::Value> {
    // The server binds only after the journal is open and replayed.
    Json(serde_json::json!({ "status": "ready" }))
}

#[utoipa::path(get, path = "/openapi.json", tag = "routes",
    responses((status = 200, description = "This document")))]
pub async fn openapi(State(state): State<AppState>) -> Response {
    Json(state.openapi.as_ref()).into_response()
}
