//! The only code that knows GraphQL: the schema, its types, roots and error mapping.

pub mod context;
pub mod demo;
pub mod errors;
pub mod loaders;
pub mod roots;
pub mod scalars;
pub mod types;

use async_graphql::{MergedObject, Schema};

use crate::config::{MAX_QUERY_COMPLEXITY, MAX_QUERY_DEPTH};
use crate::service::AppState;
use roots::accounts::{AccountsMutation, AccountsQuery};
use roots::charges::{ChargesMutation, ChargesQuery};
use roots::core::{CoreMutation, CoreQuery};
use roots::disputes::{DisputesMutation, DisputesQuery};
use roots::payouts::{PayoutsMutation, PayoutsQuery};
use roots::refunds::{RefundsMutation, RefundsQuery};
use roots::subscription::SubscriptionRoot;
use roots::webhooks::{WebhooksMutation, WebhooksQuery};

#[derive(MergedObject, Default)]
#[graphql(name = "Query")]
pub struct QueryRoot(
    CoreQuery,
    AccountsQuery,
    ChargesQuery,
    PayoutsQuery,
    RefundsQuery,
    DisputesQuery,
    WebhooksQuery,
);

#[derive(MergedObject, Default)]
#[graphql(name = "Mutation")]
pub struct MutationRoot(
    CoreMutation,
    AccountsMutation,
    ChargesMutation,
    PayoutsMutation,
    RefundsMutation,
    DisputesMutation,
    WebhooksMutation,
);

pub type TollgateSchema = Schema<QueryRoot, MutationRoot, SubscriptionRoot>;

/// Builds the schema with its limits; `state` is `None` only when exporting the SDL.
pub fn build_schema(state: Option<AppState>) -> TollgateSchema {
    let mut builder = Schema::build(
        QueryRoot::default(),
        MutationRoot::default(),
        SubscriptionRoot,
    )
    .limit_depth(MAX_QUERY_DEPTH)
    .limit_complexity(MAX_QUERY_COMPLEXITY);
    if let Some(state) = state {
        builder = builder.data(state);
    }
    builder.finish()
}

/// The schema in SDL, as committed in `schema.graphql`.
pub fn sdl() -> String {
    build_schema(None).sdl()
}
