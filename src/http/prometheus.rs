//! `/metrics` in the Prometheus text format, from the `metrics` facade: request counts and
//! latency by operation, commits per writer group, flush latency, writer queue depth,
//! policy evaluation time by platform, webhook deliveries and scheduler lag.

use std::sync::OnceLock;

use axum::extract::State;
use axum::http::{header, StatusCode};
use axum::response::{IntoResponse, Response};
use metrics_exporter_prometheus::{Matcher, PrometheusBuilder, PrometheusHandle};

use crate::service::AppState;

/// Latency buckets, in seconds: from half a millisecond to ten seconds.
const SECONDS_BUCKETS: [f64; 14] = [
    0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0,
];
/// Commits per writer group, up to the writer's largest group.
const GROUP_BUCKETS: [f64; 10] = [1.0, 2.0, 4.0, 8.0, 16.0, 32.0, 64.0, 128.0, 256.0, 512.0];

/// The process's one recorder: the `metrics` facade is process-wide, so servers started
/// in the same process (tests) share it.
static HANDLE: OnceLock<Option<PrometheusHandle>> = OnceLock::new();

/// Installs the recorder the first time; `None` when another recorder was installed first.
pub fn install() -> Option<&'static PrometheusHandle> {
    HANDLE
        .get_or_init(|| {
            let built = PrometheusBuilder::new()
                .set_buckets_for_metric(Matcher::Suffix("_seconds".into()), &SECONDS_BUCKETS)
                .and_then(|builder| {
                    builder.set_buckets_for_metric(
                        Matcher::Full("tollgate_writer_group_commits".into()),
                        &GROUP_BUCKETS,
                    )
                })
                .and_then(PrometheusBuilder::install_recorder);
            match built {
                Ok(handle) => Some(handle),
                Err(error) => {
                    tracing::warn!(%error, "metrics are off: no recorder could be installed");
                    None
                }
            }
        })
        .as_ref()
}

/// The metrics page; gauges read from the state are refreshed first.
pub async fn metrics_page(State(services): State<AppState>) -> Response {
    let Some(handle) = install() else {
        return (StatusCode::SERVICE_UNAVAILABLE, "metrics are off\n").into_response();
    };
    metrics::gauge!("tollgate_writer_queue_depth").set(services.writer_queue_depth() as f64);
    match services.scheduler_lag_seconds() {
        Ok(lag) => metrics::gauge!("tollgate_scheduler_lag_seconds").set(lag as f64),
        Err(error) => tracing::error!(%error, "could not read the scheduler's lag"),
    }
    handle.run_upkeep();
    (
        [(
            header::CONTENT_TYPE,
            "text/plain; version=0.0.4; charset=utf-8",
        )],
        handle.render(),
    )
        .into_response()
}
