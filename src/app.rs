//! Builds the application state once, starts the writer, the scheduler and the HTTP server,
//! and shuts them down in order: stop accepting, drain requests, stop the writer, flush.

use std::sync::Arc;

use chrono::Utc;
use tokio::net::TcpListener;
use tokio::sync::{broadcast, watch, Mutex};

use crate::clock::{from_micros, Clock};
use crate::config::Settings;
use crate::ids::IdGenerator;
use crate::service::scheduler::CLOCK_META;
use crate::service::{AppState, ServiceError, Services, EVENT_STREAM_CAPACITY};
use crate::store::{Key, Keyspace, Store, StoreError, WriterThread};

#[derive(Debug, thiserror::Error)]
pub enum AppError {
    #[error("could not open the data directory: {0}")]
    Store(#[from] StoreError),
    #[error("{0}")]
    Service(#[from] ServiceError),
    #[error("could not listen on {address}: {source}")]
    Listen {
        address: String,
        source: std::io::Error,
    },
    #[error("the server failed: {0}")]
    Serve(std::io::Error),
}

/// The state and the writer thread behind it.
pub struct Application {
    pub services: AppState,
    writer: WriterThread,
}

impl Application {
    /// Opens the store and builds the services; the clock resumes where it was left.
    pub fn build(settings: Settings) -> Result<Application, AppError> {
        std::fs::create_dir_all(&settings.data_dir).map_err(|error| StoreError::Io(error.to_string()))?;
        let (store, writer) = Store::open(&settings.data_dir)?;
        let clock = if settings.simulated_clock {
            let saved = store
                .get_raw(&Key::new(Keyspace::Meta, CLOCK_META))?
                .and_then(|bytes| <[u8; 8]>::try_from(bytes.as_slice()).ok())
                .map(|bytes| from_micros(i64::from_be_bytes(bytes)));
            Clock::simulated(saved.unwrap_or_else(Utc::now))
        } else {
            Clock::System
        };
        let (event_stream, _) = broadcast::channel(EVENT_STREAM_CAPACITY);
        let services = Arc::new(Services {
            store,
            clock,
            ids: IdGenerator::new(),
            settings,
            scheduler_lock: Mutex::new(()),
            event_stream,
        });
        Ok(Application { services, writer })
    }

    /// Stops the writer after it has flushed everything it was given.
    pub fn close(self) {
        let Application { services, writer } = self;
        match Arc::try_unwrap(services) {
            Ok(services) => services.store.close(),
            Err(shared) => {
                // Something still holds the state; flushing is all that can be done.
                if let Err(error) = shared.store.flush() {
                    tracing::error!(%error, "flush at shutdown failed");
                }
                return;
            }
        }
        writer.join();
    }

    /// Serves HTTP on `listener` until `shutdown` resolves, then drains and flushes.
    pub async fn serve(
        self,
        listener: TcpListener,
        demo_secret_key: Option<String>,
        shutdown: impl std::future::Future<Output = ()> + Send + 'static,
    ) -> Result<(), AppError> {
        let schema = crate::graphql::build_schema(Some(self.services.clone()));
        let router = crate::http::router(self.services.clone(), schema, demo_secret_key.as_deref());
        let (stop_scheduler, scheduler_stopped) = watch::channel(false);
        let scheduler = if self.services.clock.is_simulated() {
            None
        } else {
            Some(tokio::spawn(self.services.clone().run_scheduler(scheduler_stopped)))
        };
        let served = axum::serve(listener, router).with_graceful_shutdown(shutdown).await;
        let _ = stop_scheduler.send(true);
        if let Some(scheduler) = scheduler {
            let _ = scheduler.await;
        }
        self.close();
        served.map_err(AppError::Serve)
    }
}
