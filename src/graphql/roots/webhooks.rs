//! Webhook endpoints: the type and `createWebhookEndpoint`.

use async_graphql::{Context, InputObject, Object, ID};

use crate::domain::webhooks::WebhookEndpoint;
use crate::graphql::context::{caller, services};
use crate::graphql::errors::GqlResult;
use crate::graphql::scalars::DateTimeScalar;

/// An endpoint and whether its secret may be shown (only when it is created).
pub struct WebhookEndpointObject {
    pub endpoint: WebhookEndpoint,
    pub show_secret: bool,
}

#[Object(name = "WebhookEndpoint")]
impl WebhookEndpointObject {
    /// we_…
    pub async fn id(&self) -> ID {
        ID(self.endpoint.id.to_string())
    }

    async fn url(&self) -> &str {
        &self.endpoint.url
    }

    async fn enabled_events(&self) -> &[String] {
        &self.endpoint.enabled_events
    }

    /// Only returned by createWebhookEndpoint: verify `Tollgate-Signature` with it.
    async fn secret(&self) -> Option<&str> {
        self.show_secret.then_some(self.endpoint.secret.as_str())
    }

    async fn created(&self) -> DateTimeScalar {
        DateTimeScalar::output(self.endpoint.created)
    }
}

#[derive(InputObject)]
pub struct CreateWebhookEndpointInput {
    pub url: String,
    pub enabled_events: Vec<String>,
}

#[derive(Default)]
pub struct WebhooksMutation;

#[Object]
impl WebhooksMutation {
    /// Events of the types listed ("*" for all) are POSTed to the URL, signed.
    async fn create_webhook_endpoint(
        &self,
        ctx: &Context<'_>,
        input: CreateWebhookEndpointInput,
    ) -> async_graphql::Result<WebhookEndpointObject> {
        let CreateWebhookEndpointInput {
            url,
            enabled_events,
        } = input;
        services(ctx)
            .create_webhook_endpoint(caller(ctx)?, &url, enabled_events)
            .await
            .map(|endpoint| WebhookEndpointObject {
                endpoint,
                show_secret: true,
            })
            .gql()
    }
}
