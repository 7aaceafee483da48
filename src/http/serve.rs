//! The accept loop: at most `max_connections` connections at once, each served by hyper
//! with a header-read timeout (which also closes idle kept-alive connections), upgrades for
//! websockets, and a graceful drain when the server stops.

use std::future::Future;
use std::sync::Arc;
use std::time::Duration;

use axum::Router;
use hyper::server::conn::http1;
use hyper_util::rt::{TokioIo, TokioTimer};
use hyper_util::service::TowerToHyperService;
use tokio::net::TcpListener;
use tokio::sync::{watch, Semaphore};
use tokio::task::JoinSet;

use crate::config::Limits;

/// How long stopping waits for open connections to finish their requests.
pub const DRAIN_TIMEOUT_SECONDS: u64 = 30;
/// How long the loop pauses after a failed accept (such as running out of descriptors).
const ACCEPT_RETRY_MILLISECONDS: u64 = 50;

/// Serves `router` on `listener` until `shutdown` resolves, then stops accepting and drains.
pub async fn serve(
    listener: TcpListener,
    router: Router,
    limits: &Limits,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> std::io::Result<()> {
    let connections = Arc::new(Semaphore::new(limits.max_connections.max(1)));
    let header_read_timeout = Duration::from_millis(limits.header_read_timeout_milliseconds);
    let (stop, stopping) = watch::channel(false);
    let mut tasks = JoinSet::new();
    tokio::pin!(shutdown);
    loop {
        let permit = tokio::select! {
            () = &mut shutdown => break,
            permit = connections.clone().acquire_owned() => match permit {
                Ok(permit) => permit,
                Err(_) => break,
            },
        };
        let (stream, _) = tokio::select! {
            () = &mut shutdown => break,
            accepted = listener.accept() => match accepted {
                Ok(accepted) => accepted,
                Err(error) => {
                    tracing::warn!(%error, "accept failed");
                    tokio::time::sleep(Duration::from_millis(ACCEPT_RETRY_MILLISECONDS)).await;
                    continue;
                }
            },
        };
        // Finished connections are reaped as new ones arrive, so the set stays small.
        while tasks.try_join_next().is_some() {}
        let service = TowerToHyperService::new(router.clone());
        let mut stopping = stopping.clone();
        tasks.spawn(async move {
            let _permit = permit;
            let connection = http1::Builder::new()
                .timer(TokioTimer::new())
                .header_read_timeout(header_read_timeout)
                .serve_connection(TokioIo::new(stream), service)
                .with_upgrades();
            tokio::pin!(connection);
            tokio::select! {
                _ = connection.as_mut() => return,
                _ = stopping.wait_for(|stop| *stop) => connection.as_mut().graceful_shutdown(),
            }
            let _ = connection.await;
        });
    }
    drop(listener);
    let _ = stop.send(true);
    let drained = tokio::time::timeout(Duration::from_secs(DRAIN_TIMEOUT_SECONDS), async {
        while tasks.join_next().await.is_some() {}
    })
    .await;
    if drained.is_err() {
        tracing::warn!("connections still open after the drain timeout; closing them");
        tasks.abort_all();
    }
    Ok(())
}
