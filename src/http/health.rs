//! `/healthz` (the process answers) and `/readyz` (it can serve: the writer takes commits,
//! the store reads, policies are loaded and the scheduler keeps up with due timers).

use axum::extract::State;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::Json;
use serde_json::json;

use crate::service::AppState;

/// Liveness: the process is up and answering.
pub async fn healthz() -> &'static str {
    "ok\n"
}

/// Readiness, with each check's result; 503 when any fails.
pub async fn readyz(State(services): State<AppState>) -> Response {
    let readiness = services.readiness();
    let ready = readiness.ready();
    let body = json!({
        "ready": ready,
        "writerAlive": readiness.writer_alive,
        "storeOpen": readiness.store_open,
        "policiesLoaded": readiness.policies_loaded,
        "schedulerLagSeconds": readiness.scheduler_lag_seconds,
    });
    let status = if ready {
        StatusCode::OK
    } else {
        StatusCode::SERVICE_UNAVAILABLE
    };
    (status, Json(body)).into_response()
}
