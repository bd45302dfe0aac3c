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
pub async fn readyz(State(state): State<AppState>) -> Json<serde_json::Value> {
    // The server binds only after the journal is open and replayed. On a shared store it says
    // which role this process has (a standby is ready: it serves reads).
    let mut ready = serde_json::json!({
        "status": "ready",
        "role": "single",
        "seq": *state.engine.changes().borrow(),
    });
    if let Some(cluster) = &state.cluster {
        ready = cluster.describe(&state.engine);
        ready["status"] = "ready".into();
    }
    Json(ready)
}

#[utoipa::path(get, path = "/openapi.json", tag = "routes",
    responses((status = 200, description = "This document")))]
pub async fn openapi(State(state): State<AppState>) -> Response {
    Json(state.openapi.as_ref()).into_response()
}
