//! Builds the application state once, starts the writer, the scheduler and the HTTP server,
//! and shuts them down in order: stop accepting, drain requests, stop the writer, flush.

use std::sync::Arc;

use chrono::Utc;
use tokio::net::TcpListener;
use tokio::sync::{broadcast, mpsc, watch, Mutex};

use crate::clock::{from_micros, Clock};
use crate::config::Settings;
use crate::ids::IdGenerator;
use crate::policy::{PolicyEngine, PolicyRegistry, PolicyWatcher, RegistryError};
use crate::service::scheduler::CLOCK_META;
use crate::service::webhooks::WebhookRuntime;
use crate::service::{AppState, ServiceError, Services, EVENT_STREAM_CAPACITY};
use crate::store::{Key, Keyspace, Store, StoreError, WriterThread};

/// How many times, and how far apart, closing waits for the state to be released.
const CLOSE_ATTEMPTS: usize = 500;
const CLOSE_RETRY_MILLISECONDS: u64 = 10;

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
    #[error("could not load the policies: {0}")]
    Policies(#[from] RegistryError),
    #[error("{0}")]
    Webhooks(#[from] crate::service::webhook_client::WebhookClientError),
}

/// The state and the writer thread behind it.
pub struct Application {
    pub services: AppState,
    writer: WriterThread,
    /// Keeps the policies folder watched while the server runs.
    watcher: Option<PolicyWatcher>,
}

impl Application {
    /// Opens the store and builds the services; the clock resumes where it was left.
    pub fn build(settings: Settings) -> Result<Application, AppError> {
        std::fs::create_dir_all(&settings.data_dir)
            .map_err(|error| StoreError::Io(error.to_string()))?;
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
        let (policy_changes, changes) = mpsc::unbounded_channel();
        let policies = PolicyRegistry::load(
            &settings.policies_dir,
            Arc::new(PolicyEngine::new()),
            move |change| {
                // Recorded by a task; a closed channel means the server is stopping.
                let _ = policy_changes.send(change);
            },
        )?;
        let webhooks = WebhookRuntime::new(&settings, store.with_own_read_count())?;
        let services = Arc::new(Services {
            store,
            clock,
            ids: IdGenerator::new(),
            settings,
            scheduler_lock: Mutex::new(()),
            event_stream,
            policies,
            webhooks,
        });
        tokio::spawn(Services::record_policy_changes(
            Arc::downgrade(&services),
            changes,
        ));
        Ok(Application {
            services,
            writer,
            watcher: None,
        })
    }

    /// The demo platform's secret key, creating and seeding the platform the first time.
    pub async fn ensure_demo(&self) -> Result<String, AppError> {
        let (demo, created) = self.services.ensure_demo().await?;
        if created {
            let schema = crate::graphql::build_schema(Some(self.services.clone()));
            let platform = self.services.authenticate(&demo.secret_key)?;
            let caller = self.services.caller(platform, None)?;
            if let Err(error) = crate::graphql::demo::seed(&schema, &caller).await {
                tracing::error!(%error, "the demo data could not be made");
            }
        }
        Ok(demo.secret_key)
    }

    /// Watches the policies folder: changed files are compiled, tested and swapped in.
    pub fn watch_policies(&mut self) -> Result<(), AppError> {
        self.watcher = Some(self.services.policies.watch()?);
        Ok(())
    }

    /// Stops the writer after it has flushed everything it was given. Tasks that still
    /// hold the state (connections finishing) get a bounded time to let go; past it the
    /// store is flushed and left to close when they do.
    pub async fn close(self) {
        let Application {
            mut services,
            writer,
            watcher,
        } = self;
        drop(watcher);
        for _ in 0..CLOSE_ATTEMPTS {
            match Arc::try_unwrap(services) {
                Ok(owned) => {
                    owned.store.close();
                    writer.join();
                    return;
                }
                Err(shared) => {
                    services = shared;
                    tokio::time::sleep(std::time::Duration::from_millis(CLOSE_RETRY_MILLISECONDS))
                        .await;
                }
            }
        }
        tracing::warn!("the state is still in use; flushing instead of closing the store");
        if let Err(error) = services.store.flush() {
            tracing::error!(%error, "flush at shutdown failed");
        }
    }

    /// Serves HTTP on `listener` until `shutdown` resolves, then drains and flushes.
    pub async fn serve(
        self,
        listener: TcpListener,
        demo_secret_key: Option<String>,
        shutdown: impl std::future::Future<Output = ()> + Send + 'static,
    ) -> Result<(), AppError> {
        let schema = crate::graphql::build_schema(Some(self.services.clone()));
        let (closing, closing_seen) = watch::channel(false);
        let router = crate::http::router(
            self.services.clone(),
            schema,
            demo_secret_key.as_deref(),
            closing_seen,
        );
        // Subscriptions are told as soon as shutdown starts, so they close cleanly (1001)
        // while requests drain.
        let shutdown = async move {
            shutdown.await;
            let _ = closing.send(true);
        };
        let (stop_scheduler, scheduler_stopped) = watch::channel(false);
        let outbox = tokio::spawn(Services::run_webhook_outbox(
            Arc::downgrade(&self.services),
            scheduler_stopped.clone(),
        ));
        let scheduler = if self.services.clock.is_simulated() {
            None
        } else {
            Some(tokio::spawn(
                self.services.clone().run_scheduler(scheduler_stopped),
            ))
        };
        let served = axum::serve(listener, router)
            .with_graceful_shutdown(shutdown)
            .await;
        let _ = stop_scheduler.send(true);
        if let Some(scheduler) = scheduler {
            let _ = scheduler.await;
        }
        let _ = outbox.await;
        self.close().await;
        served.map_err(AppError::Serve)
    }
}
