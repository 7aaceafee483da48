//! The `events` subscription: the calling platform's events as they are committed, within
//! the connection's and the platform's subscription slots.

use std::sync::Arc;

use async_graphql::{Context, Subscription};
use futures::{future, Stream, StreamExt};
use tokio::sync::{watch, OwnedSemaphorePermit, Semaphore};
use tokio_stream::wrappers::errors::BroadcastStreamRecvError;
use tokio_stream::wrappers::BroadcastStream;

use crate::graphql::context::caller;
use crate::graphql::errors::GqlResult;
use crate::graphql::types::platform::EventObject;
use crate::service::{AppState, ServiceError};

/// What a websocket connection lends its subscriptions: a slot of its own and one of its
/// platform's (held while the subscription lives), and the signal that drops the
/// connection when a subscriber falls behind.
pub struct SubscriptionSlots {
    per_connection: Arc<Semaphore>,
    per_platform: Arc<Semaphore>,
    fell_behind: watch::Sender<Option<u64>>,
}

impl SubscriptionSlots {
    pub fn new(
        per_connection: Arc<Semaphore>,
        per_platform: Arc<Semaphore>,
        fell_behind: watch::Sender<Option<u64>>,
    ) -> SubscriptionSlots {
        SubscriptionSlots {
            per_connection,
            per_platform,
            fell_behind,
        }
    }

    fn take(&self) -> Result<(OwnedSemaphorePermit, OwnedSemaphorePermit), ServiceError> {
        let connection = self
            .per_connection
            .clone()
            .try_acquire_owned()
            .map_err(|_| ServiceError::RateLimited {
                message:
                    "This connection holds as many subscriptions as it may; complete one first"
                        .into(),
            })?;
        let platform = self.per_platform.clone().try_acquire_owned().map_err(|_| {
            ServiceError::RateLimited {
                message: "This platform holds as many subscriptions as it may; complete one first"
                    .into(),
            }
        })?;
        Ok((connection, platform))
    }
}

#[derive(Default)]
pub struct SubscriptionRoot;

#[Subscription(name = "Subscription")]
impl SubscriptionRoot {
    /// The calling platform's events as they happen (with Connect-Account, the account's),
    /// optionally only these types.
    async fn events(
        &self,
        ctx: &Context<'_>,
        types: Option<Vec<String>>,
    ) -> async_graphql::Result<impl Stream<Item = EventObject>> {
        let caller = caller(ctx)?.clone();
        let services = ctx.data_unchecked::<AppState>().clone();
        let slots = ctx.data_opt::<SubscriptionSlots>();
        let permits = slots.map(SubscriptionSlots::take).transpose().gql()?;
        let fell_behind = slots.map(|slots| slots.fell_behind.clone());
        let receiver = services.event_stream.subscribe();
        Ok(BroadcastStream::new(receiver)
            .take_while(move |published| {
                // A subscriber that missed events is dropped rather than silently skipping.
                let keep = match published {
                    Ok(_) => true,
                    Err(BroadcastStreamRecvError::Lagged(missed)) => {
                        if let Some(fell_behind) = &fell_behind {
                            fell_behind.send_replace(Some(*missed));
                        }
                        false
                    }
                };
                future::ready(keep)
            })
            .filter_map(move |published| {
                // The slots are held for as long as the stream lives.
                let _held = &permits;
                let keep = published.ok().filter(|published| {
                    published.platform == caller.platform.id
                        && types
                            .as_ref()
                            .is_none_or(|types| types.contains(&published.event.event_type))
                        && services.visible(&caller, &published.event).unwrap_or(false)
                });
                future::ready(keep.map(|published| EventObject(published.event)))
            }))
    }
}
