//! The only code that knows GraphQL: the schema, its types, roots and error mapping.

pub mod context;
pub mod cost;
pub mod demo;
pub mod errors;
pub mod guard;
pub mod loaders;
pub mod operator;
pub mod read_only;
pub mod roots;
pub mod scalars;
pub mod types;

use async_graphql::{MergedObject, Schema};

use crate::config::{Limits, MAX_QUERY_DEPTH};
use crate::service::AppState;
use roots::accounts::{AccountsMutation, AccountsQuery};
use roots::api_keys::{ApiKeysMutation, ApiKeysQuery};
use roots::backtests::BacktestsMutation;
use roots::charges::{ChargesMutation, ChargesQuery};
use roots::connect::ConnectMutation;
use roots::core::{CoreMutation, CoreQuery};
use roots::disputes::{DisputesMutation, DisputesQuery};
use roots::external_accounts::ExternalAccountsMutation;
use roots::login_links::LoginLinksMutation;
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
    ApiKeysQuery,
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
    BacktestsMutation,
    LoginLinksMutation,
    ConnectMutation,
    ApiKeysMutation,
    ExternalAccountsMutation,
);

pub type TollgateSchema = Schema<QueryRoot, MutationRoot, SubscriptionRoot>;

/// Builds the schema with its limits; `state` is `None` only when exporting the SDL. The
/// guard (cost, rate limits, deadline) takes its limits from the state's settings; the
/// read-only rule refuses every mutation of a read-only caller.
pub fn build_schema(state: Option<AppState>) -> TollgateSchema {
    let limits = state
        .as_ref()
        .map_or_else(Limits::default, |state| state.settings.limits.clone());
    build_schema_with(state, limits)
}

/// Builds the schema with the given limits.
pub fn build_schema_with(state: Option<AppState>, limits: Limits) -> TollgateSchema {
    let mut builder = Schema::build(
        QueryRoot::default(),
        MutationRoot::default(),
        SubscriptionRoot,
    )
    .limit_depth(MAX_QUERY_DEPTH)
    .extension(read_only::ReadOnlyRule)
    .extension(guard::Guard::new(limits));
    if let Some(state) = state {
        builder = builder.data(state);
    }
    builder.finish()
}

/// The schema in SDL, as committed in `schema.graphql`.
pub fn sdl() -> String {
    build_schema(None).sdl()
}

/// The names of the Query, Mutation and Subscription fields (read back from the SDL), so
/// requests can be labelled by the field they call without trusting client input.
pub fn root_field_names(schema: &TollgateSchema) -> Vec<String> {
    use async_graphql::parser::types::{TypeKind, TypeSystemDefinition};
    let Ok(document) = async_graphql::parser::parse_schema(schema.sdl()) else {
        tracing::error!("the schema's own SDL does not parse");
        return Vec::new();
    };
    let mut names = Vec::new();
    for definition in document.definitions {
        let TypeSystemDefinition::Type(definition) = definition else {
            continue;
        };
        let definition = definition.node;
        if !["Query", "Mutation", "Subscription"].contains(&definition.name.node.as_str()) {
            continue;
        }
        if let TypeKind::Object(object) = definition.kind {
            names.extend(
                object
                    .fields
                    .into_iter()
                    .map(|field| field.node.name.node.to_string()),
            );
        }
    }
    names
}
