//! Serving several shards from one process: one [`Application`] per shard (its own
//! services, store, writer, chain, scheduler and webhook outbox) behind one HTTP front that
//! sends each request to the shard holding the API key it presents (`http/shard_front.rs`), so every read, commit
//! and timer of a platform happens on its shard. With one store none of this is used.

use tokio::net::TcpListener;
use tokio::sync::watch;

use crate::app::{AppError, Application};
use crate::config::Settings;
use crate::store::StoreUrl;

/// The applications of every shard, in the order the stores were named.
pub struct ShardedApplication {
    shards: Vec<Application>,
}

impl ShardedApplication {
    /// Opens every shard (each proves its own chain) and builds its services.
    pub fn build(settings: &Settings, stores: &[StoreUrl]) -> Result<ShardedApplication, AppError> {
        let mut shards = Vec::with_capacity(stores.len());
        for store in stores {
            let shard_settings = Settings {
                store: Some(store.clone()),
                ..settings.clone()
            };
            shards.push(Application::build(shard_settings)?);
        }
        Ok(ShardedApplication { shards })
    }

    /// The shards' applications, in order.
    pub fn shards(&self) -> &[Application] {
        &self.shards
    }

    /// Watches the policies folder in every shard.
    pub fn watch_policies(&mut self) -> Result<(), AppError> {
        for shard in &mut self.shards {
            shard.watch_policies()?;
        }
        Ok(())
    }

    /// Serves every shard on `listener` until `shutdown` resolves, then drains and closes
    /// every store.
    pub async fn serve(
        self,
        listener: TcpListener,
        shutdown: impl std::future::Future<Output = ()> + Send + 'static,
    ) -> Result<(), AppError> {
        let Some(first) = self.shards.first() else {
            return Err(AppError::Settings("no store named".into()));
        };
        let limits = first.services.settings.limits.clone();
        let address = listener.local_addr().map_err(|source| AppError::Listen {
            address: first.services.settings.listen.to_string(),
            source,
        })?;
        let (closing, closing_seen) = watch::channel(false);
        let mut routes = Vec::with_capacity(self.shards.len());
        let mut backgrounds = Vec::with_capacity(self.shards.len());
        for shard in &self.shards {
            let (shard_routes, background) = shard
                .start_serving(address, None, closing_seen.clone())
                .await?;
            routes.push(shard_routes);
            backgrounds.push(background);
        }
        let front = crate::http::shard_front::front(routes);
        let shutdown = async move {
            shutdown.await;
            let _ = closing.send(true);
        };
        let served = crate::http::serve::serve(listener, front, &limits, shutdown).await;
        for (shard, background) in self.shards.into_iter().zip(backgrounds) {
            shard.stop_serving(background).await;
        }
        served.map_err(AppError::Serve)
    }

    /// Closes every shard without serving.
    pub async fn close(self) {
        for shard in self.shards {
            shard.close().await;
        }
    }
}
