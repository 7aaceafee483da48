//! Builds the application state once, starts the writer, the scheduler and the HTTP server,
//! and shuts them down in order: stop accepting, drain requests, stop the writer, flush.

use std::sync::Arc;

use chrono::Utc;
use tokio::net::TcpListener;
use tokio::sync::{broadcast, mpsc, watch, Mutex, Semaphore};

use crate::clock::{from_micros, Clock, CLOCK_META};
use crate::config::{Settings, MAX_IDEMPOTENCY_RETENTION_HOURS, MIN_IDEMPOTENCY_RETENTION_HOURS};
use crate::ids::IdGenerator;
use crate::policy::{PolicyEngine, PolicyRegistry, PolicyWatcher, RegistryError};
use crate::service::account_links::PublicBaseUrl;
use crate::service::backtests::MAX_CONCURRENT_BACKTESTS;
use crate::service::event_feed::EventFeed;
use crate::service::shared_secrets::HOSTED_PAGES_SECRET;
use crate::service::webhooks::WebhookRuntime;
use crate::service::{AppState, ServiceError, Services};
use crate::store::{Key, Keyspace, Store, StoreError, StoreLocation, StoreOptions, WriterThread};

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
    Settings(String),
    #[error("{0}")]
    Webhooks(#[from] crate::service::webhook_client::WebhookClientError),
}

/// The state and the writer thread behind it.
pub struct Application {
    pub services: AppState,
    /// The writer of the store this application opened; `None` for one opened over a store
    /// another application owns ([`Application::over_store`]).
    writer: Option<WriterThread>,
    /// Keeps the policies folder watched while the server runs.
    watcher: Option<PolicyWatcher>,
}

impl Application {
    /// Opens the store and builds the services; the clock resumes where it was left.
    pub fn build(settings: Settings) -> Result<Application, AppError> {
        Application::open(settings, true)
    }

    /// Opens the store and the policies for a command that only reads (a policy backtest
    /// from the command line): policy versions are not recorded and no events are written.
    pub fn open_for_reading(settings: Settings) -> Result<Application, AppError> {
        Application::open(settings, false)
    }

    /// Another server over a store this process has already opened, as several servers run
    /// over one database: it shares nothing with the others but the store (its data
    /// directory setting is not used). The application that opened the store owns the
    /// writer, so it is closed last.
    pub fn over_store(settings: Settings, store: &Store) -> Result<Application, AppError> {
        check_retention(&settings)?;
        Application::assemble(settings, store.with_own_read_count(), None, true)
    }

    fn open(settings: Settings, record_policy_changes: bool) -> Result<Application, AppError> {
        check_retention(&settings)?;
        let location = StoreLocation::resolve(settings.store.as_ref(), &settings.data_dir);
        if let StoreLocation::Sled(path) = &location {
            std::fs::create_dir_all(path).map_err(|error| StoreError::Io(error.to_string()))?;
        }
        let (store, writer) = Store::open_at(
            &location,
            StoreOptions {
                cache_capacity_bytes: settings.cache_mb.saturating_mul(1024 * 1024),
                ..StoreOptions::default()
            },
        )?;
        Application::assemble(settings, store, Some(writer), record_policy_changes)
    }

    /// Builds the services over an open store.
    fn assemble(
        settings: Settings,
        store: Store,
        writer: Option<WriterThread>,
        record_policy_changes: bool,
    ) -> Result<Application, AppError> {
        let clock = if settings.simulated_clock {
            // A platform without a clock of its own starts at the server-wide time an
            // earlier version saved, or now.
            let start = store
                .get_raw(&Key::new(Keyspace::Meta, CLOCK_META))?
                .and_then(|bytes| <[u8; 8]>::try_from(bytes.as_slice()).ok())
                .map(|bytes| from_micros(i64::from_be_bytes(bytes)));
            Clock::simulated(start.unwrap_or_else(Utc::now), store.with_own_read_count())
        } else {
            Clock::System
        };
        let (event_stream, _) = broadcast::channel(settings.limits.event_stream_capacity.max(1));
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
        let ids = IdGenerator::new();
        let server_id = format!("srv_{}", ids.body());
        let event_feed = EventFeed::new(settings.event_feed);
        let services = Arc::new(Services {
            store,
            clock,
            ids,
            settings,
            scheduler_lock: Mutex::new(()),
            key_cache: Default::default(),
            event_stream,
            policies,
            backtest_slots: Semaphore::new(MAX_CONCURRENT_BACKTESTS),
            webhooks,
            server_id,
            event_feed,
        });
        if record_policy_changes {
            tokio::spawn(Services::record_policy_changes(
                Arc::downgrade(&services),
                changes,
            ));
        }
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
            let caller = self
                .services
                .caller(platform, None, crate::service::Access::Change)?;
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
                    // Every handle to the store goes (the webhook outbox holds one of its
                    // own): the writer ends when the last sender is dropped.
                    drop(owned);
                    if let Some(writer) = writer {
                        writer.join();
                    }
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
        let address = listener.local_addr().map_err(|source| AppError::Listen {
            address: self.services.settings.listen.to_string(),
            source,
        })?;
        let (closing, closing_seen) = watch::channel(false);
        let (routes, background) = self
            .start_serving(address, demo_secret_key, closing_seen)
            .await?;
        // Subscriptions are told as soon as shutdown starts, so they close cleanly (1001)
        // while requests drain.
        let shutdown = async move {
            shutdown.await;
            let _ = closing.send(true);
        };
        let limits = self.services.settings.limits.clone();
        let served =
            crate::http::serve::serve(listener, routes.into_router(), &limits, shutdown).await;
        self.stop_serving(background).await;
        served.map_err(AppError::Serve)
    }

    /// Brings the store up to date, builds the routes and starts the background work
    /// (webhook outbox, event feed, scheduler); `closing` turning true ends subscriptions.
    pub(crate) async fn start_serving(
        &self,
        address: std::net::SocketAddr,
        demo_secret_key: Option<String>,
        closing: watch::Receiver<bool>,
    ) -> Result<(crate::http::Routes, Background), AppError> {
        // A store from an earlier version is brought up to date before any request.
        self.services.migrate().await?;
        let hosted_pages_secret = self.services.shared_secret(HOSTED_PAGES_SECRET).await?;
        let schema = crate::graphql::build_schema(Some(self.services.clone()));
        // The demo key is shown only to someone on this machine.
        let demo_secret_key = demo_secret_key.filter(|_| {
            let loopback = address.ip().is_loopback();
            if !loopback {
                tracing::warn!(%address, "not pre-filling the demo key: the server is not on loopback");
            }
            loopback
        });
        let public_base_url = PublicBaseUrl(match &self.services.settings.public_url {
            Some(url) => url.as_str().to_owned(),
            None => format!("http://{address}"),
        });
        let routes = crate::http::router(
            self.services.clone(),
            schema,
            demo_secret_key.as_deref(),
            public_base_url,
            closing,
            hosted_pages_secret,
        );
        let (stop_scheduler, scheduler_stopped) = watch::channel(false);
        let outbox = tokio::spawn(Services::run_webhook_outbox(
            Arc::downgrade(&self.services),
            scheduler_stopped.clone(),
        ));
        let event_feed = self.services.event_feed.enabled().then(|| {
            tokio::spawn(Services::run_event_feed(
                Arc::downgrade(&self.services),
                scheduler_stopped.clone(),
            ))
        });
        let scheduler = if self.services.clock.is_simulated() {
            None
        } else {
            Some(tokio::spawn(
                self.services.clone().run_scheduler(scheduler_stopped),
            ))
        };
        Ok((
            routes,
            Background {
                stop_scheduler,
                scheduler,
                outbox,
                event_feed,
            },
        ))
    }

    /// Stops the background work, then closes the store.
    pub(crate) async fn stop_serving(self, background: Background) {
        let Background {
            stop_scheduler,
            scheduler,
            outbox,
            event_feed,
        } = background;
        let _ = stop_scheduler.send(true);
        if let Some(scheduler) = scheduler {
            let _ = scheduler.await;
        }
        let _ = outbox.await;
        if let Some(event_feed) = event_feed {
            let _ = event_feed.await;
        }
        self.close().await;
    }
}

/// The background work of a serving application.
pub(crate) struct Background {
    stop_scheduler: watch::Sender<bool>,
    scheduler: Option<tokio::task::JoinHandle<()>>,
    outbox: tokio::task::JoinHandle<()>,
    event_feed: Option<tokio::task::JoinHandle<()>>,
}

/// Idempotency keys are kept between the bounds every other rule assumes.
fn check_retention(settings: &Settings) -> Result<(), AppError> {
    let retention = settings.idempotency_retention_hours;
    if !(MIN_IDEMPOTENCY_RETENTION_HOURS..=MAX_IDEMPOTENCY_RETENTION_HOURS).contains(&retention) {
        return Err(AppError::Settings(format!(
            "idempotency keys must be kept {MIN_IDEMPOTENCY_RETENTION_HOURS} to \
             {MAX_IDEMPOTENCY_RETENTION_HOURS} hours, not {retention}"
        )));
    }
    Ok(())
}
