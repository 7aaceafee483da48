//! The `events` subscription: the calling platform's events as they are committed.

use async_graphql::{Context, Subscription};
use futures::{Stream, StreamExt};
use tokio_stream::wrappers::BroadcastStream;

use crate::graphql::context::{caller, services};
use crate::graphql::types::platform::EventObject;

#[derive(Default)]
pub struct SubscriptionRoot;

#[Subscription(name = "Subscription")]
impl SubscriptionRoot {
    /// The calling platform's events as they happen, optionally only these types.
    async fn events(
        &self,
        ctx: &Context<'_>,
        types: Option<Vec<String>>,
    ) -> async_graphql::Result<impl Stream<Item = EventObject>> {
        let platform = caller(ctx)?.platform.id.clone();
        let receiver = services(ctx).event_stream.subscribe();
        Ok(BroadcastStream::new(receiver).filter_map(move |published| {
            let keep = published.ok().filter(|published| {
                published.platform == platform
                    && types
                        .as_ref()
                        .is_none_or(|types| types.contains(&published.event.event_type))
            });
            async move { keep.map(|published| EventObject(published.event)) }
        }))
    }
}
