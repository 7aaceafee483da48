//! The `events` subscription: the calling platform's events as they are committed.

use async_graphql::{Context, Subscription};
use futures::{Stream, StreamExt};
use tokio_stream::wrappers::BroadcastStream;

use crate::graphql::context::caller;
use crate::graphql::types::platform::EventObject;
use crate::service::AppState;

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
        let receiver = services.event_stream.subscribe();
        Ok(BroadcastStream::new(receiver).filter_map(move |published| {
            let keep = published.ok().filter(|published| {
                published.platform == caller.platform.id
                    && types
                        .as_ref()
                        .is_none_or(|types| types.contains(&published.event.event_type))
                    && services.visible(&caller, &published.event).unwrap_or(false)
            });
            async move { keep.map(|published| EventObject(published.event)) }
        }))
    }
}
