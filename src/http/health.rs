//! `/healthz` (the process answers) and `/readyz` (it can serve: the writer takes commits,
//! the store reads, policies are loaded and the scheduler keeps up with due timers).

use axum::extract::State;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::Json;
use serde_json::json;

use crate::config::MAX_READY_SCHEDULER_LAG_SECONDS;
use crate::service::scheduler::CLOCK_META;
use crate::service::AppState;
use crate::store::{Key, Keyspace, StoreError};

/// Liveness: the process is up and answering.
pub async fn healthz() -> &'static str {
    "ok\n"
}

/// How long the earliest due timer has waited, in whole seconds (0 when none is due). On
/// simulated clocks timers run only with advanceClock, so nothing can lag.
pub fn scheduler_lag_seconds(services: &AppState) -> Result<i64, StoreError> {
    if services.clock.is_simulated() {
        return Ok(0);
    }
    let now_micros = chrono::Utc::now().timestamp_micros();
    let earliest = services.store.earliest_timer_micros()?;
    Ok(earliest.map_or(0, |due_micros| {
        now_micros.saturating_sub(due_micros).max(0) / 1_000_000
    }))
}

/// Readiness, with each check's result; 503 when any fails.
pub async fn readyz(State(services): State<AppState>) -> Response {
    let writer_alive = services.store.writer_alive();
    let store_open = services
        .store
        .get_raw(&Key::new(Keyspace::Meta, CLOCK_META))
        .inspect_err(|error| tracing::error!(%error, "readiness: the store cannot be read"))
        .is_ok();
    let policies = services.policies.status();
    let policies_loaded = !policies.is_empty();
    let lag = scheduler_lag_seconds(&services)
        .inspect_err(|error| tracing::error!(%error, "readiness: timers cannot be read"));
    let scheduler_keeps_up = lag
        .as_ref()
        .is_ok_and(|lag| *lag <= MAX_READY_SCHEDULER_LAG_SECONDS);
    let ready = writer_alive && store_open && policies_loaded && scheduler_keeps_up;
    let body = json!({
        "ready": ready,
        "writerAlive": writer_alive,
        "storeOpen": store_open,
        "policiesLoaded": policies.len(),
        "schedulerLagSeconds": lag.ok(),
    });
    let status = if ready {
        StatusCode::OK
    } else {
        StatusCode::SERVICE_UNAVAILABLE
    };
    (status, Json(body)).into_response()
}
