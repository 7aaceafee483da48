//! Webhook endpoints and their deliveries on the wire: the types, the queries and the
//! mutations that create, change, delete, roll the secret of an endpoint, and resend events.

use async_graphql::connection::Connection;
use async_graphql::{Context, Enum, InputObject, Object, ID};

use crate::domain::events::Event;
use crate::domain::webhooks::{DeliveryStatus, WebhookDelivery, WebhookEndpoint};
use crate::graphql::context::{caller, connection, page_request, services};
use crate::graphql::errors::{to_graphql, GqlResult};
use crate::graphql::scalars::DateTimeScalar;
use crate::graphql::types::platform::EventObject;
use crate::ids::{EventId, WebhookEndpointId};
use crate::service::webhooks::EndpointChanges;
use crate::service::ServiceError;

/// An endpoint and whether its secret may be shown (only when it is made).
pub struct WebhookEndpointObject {
    pub endpoint: WebhookEndpoint,
    pub show_secret: bool,
}

impl WebhookEndpointObject {
    fn hidden(endpoint: WebhookEndpoint) -> WebhookEndpointObject {
        WebhookEndpointObject {
            endpoint,
            show_secret: false,
        }
    }

    fn shown(endpoint: WebhookEndpoint) -> WebhookEndpointObject {
        WebhookEndpointObject {
            endpoint,
            show_secret: true,
        }
    }
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

    /// Only returned by createWebhookEndpoint and rollWebhookEndpointSecret.
    async fn secret(&self) -> Option<&str> {
        self.show_secret.then_some(self.endpoint.secret.as_str())
    }

    /// A disabled endpoint gets no deliveries.
    async fn disabled(&self) -> bool {
        self.endpoint.disabled
    }

    async fn created(&self) -> DateTimeScalar {
        DateTimeScalar::output(self.endpoint.created)
    }

    /// The endpoint's deliveries, newest first, optionally only those in one status.
    async fn deliveries(
        &self,
        ctx: &Context<'_>,
        first: Option<i32>,
        after: Option<String>,
        status: Option<WebhookDeliveryStatusEnum>,
    ) -> async_graphql::Result<Connection<String, WebhookDeliveryObject>> {
        let request = page_request(first, after)?;
        let page = services(ctx)
            .webhook_deliveries(
                caller(ctx)?,
                &self.endpoint.id,
                status.map(Into::into),
                &request,
            )
            .gql()?;
        Ok(connection(page, WebhookDeliveryObject))
    }
}

#[derive(Enum, Clone, Copy, PartialEq, Eq, Debug)]
#[graphql(name = "WebhookDeliveryStatus")]
pub enum WebhookDeliveryStatusEnum {
    Pending,
    Succeeded,
    Failed,
}

impl From<WebhookDeliveryStatusEnum> for DeliveryStatus {
    fn from(value: WebhookDeliveryStatusEnum) -> Self {
        match value {
            WebhookDeliveryStatusEnum::Pending => DeliveryStatus::Pending,
            WebhookDeliveryStatusEnum::Succeeded => DeliveryStatus::Succeeded,
            WebhookDeliveryStatusEnum::Failed => DeliveryStatus::Failed,
        }
    }
}

impl From<DeliveryStatus> for WebhookDeliveryStatusEnum {
    fn from(value: DeliveryStatus) -> Self {
        match value {
            DeliveryStatus::Pending => WebhookDeliveryStatusEnum::Pending,
            DeliveryStatus::Succeeded => WebhookDeliveryStatusEnum::Succeeded,
            DeliveryStatus::Failed => WebhookDeliveryStatusEnum::Failed,
        }
    }
}

pub struct WebhookDeliveryObject(pub WebhookDelivery);

/// One event's delivery to one endpoint, with its latest attempt.
#[Object(name = "WebhookDelivery")]
impl WebhookDeliveryObject {
    /// whd_…
    async fn id(&self) -> ID {
        ID(self.0.id.to_string())
    }

    async fn event(&self, ctx: &Context<'_>) -> async_graphql::Result<EventObject> {
        services(ctx)
            .find::<Event>(caller(ctx)?, self.0.event.as_ref())
            .gql()?
            .map(|found| EventObject(found.value))
            .ok_or_else(|| {
                to_graphql(ServiceError::internal(
                    "webhook delivery",
                    format!("event {} is missing", self.0.event),
                ))
            })
    }

    async fn status(&self) -> WebhookDeliveryStatusEnum {
        self.0.status.into()
    }

    async fn attempts(&self) -> i32 {
        i32::try_from(self.0.attempts).unwrap_or(i32::MAX)
    }

    /// The HTTP status of the latest answer, if there was one.
    async fn response_code(&self) -> Option<i32> {
        self.0.response_code.map(i32::from)
    }

    /// Why the latest attempt failed.
    async fn error(&self) -> Option<&str> {
        self.0.error.as_deref()
    }

    async fn last_attempt_at(&self) -> Option<DateTimeScalar> {
        self.0.last_attempt_at.map(DateTimeScalar::output)
    }

    async fn next_retry_at(&self) -> Option<DateTimeScalar> {
        self.0.next_retry_at.map(DateTimeScalar::output)
    }
}

fn endpoint_id(param: &str, id: &ID) -> Result<WebhookEndpointId, ServiceError> {
    WebhookEndpointId::parse(id).map_err(|error| ServiceError::id(param, error))
}

#[derive(Default)]
pub struct WebhooksQuery;

#[Object]
impl WebhooksQuery {
    async fn webhook_endpoint(
        &self,
        ctx: &Context<'_>,
        id: ID,
    ) -> async_graphql::Result<Option<WebhookEndpointObject>> {
        let id = endpoint_id("id", &id).gql()?;
        services(ctx)
            .webhook_endpoint(caller(ctx)?, &id)
            .map(|found| found.map(WebhookEndpointObject::hidden))
            .gql()
    }

    async fn webhook_endpoints(
        &self,
        ctx: &Context<'_>,
        first: Option<i32>,
        after: Option<String>,
    ) -> async_graphql::Result<Connection<String, WebhookEndpointObject>> {
        let request = page_request(first, after)?;
        let page = services(ctx)
            .webhook_endpoints(caller(ctx)?, &request)
            .gql()?;
        Ok(connection(page, WebhookEndpointObject::hidden))
    }
}

#[derive(InputObject)]
pub struct CreateWebhookEndpointInput {
    pub url: String,
    pub enabled_events: Vec<String>,
}

#[derive(InputObject)]
pub struct UpdateWebhookEndpointInput {
    pub id: ID,
    pub url: Option<String>,
    pub enabled_events: Option<Vec<String>>,
    pub disabled: Option<bool>,
}

#[derive(InputObject)]
pub struct DeleteWebhookEndpointInput {
    pub id: ID,
}

#[derive(InputObject)]
pub struct RollWebhookEndpointSecretInput {
    pub id: ID,
}

#[derive(InputObject)]
pub struct ResendEventInput {
    pub event: ID,
    pub endpoint: ID,
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
            .map(WebhookEndpointObject::shown)
            .gql()
    }

    /// Changes the URL, the event types or the disabled state; omitted fields stay.
    async fn update_webhook_endpoint(
        &self,
        ctx: &Context<'_>,
        input: UpdateWebhookEndpointInput,
    ) -> async_graphql::Result<WebhookEndpointObject> {
        let UpdateWebhookEndpointInput {
            id,
            url,
            enabled_events,
            disabled,
        } = input;
        let id = endpoint_id("input.id", &id).gql()?;
        let changes = EndpointChanges {
            url,
            enabled_events,
            disabled,
        };
        services(ctx)
            .update_webhook_endpoint(caller(ctx)?, &id, changes)
            .await
            .map(WebhookEndpointObject::hidden)
            .gql()
    }

    /// Deletes the endpoint; its pending deliveries fail.
    async fn delete_webhook_endpoint(
        &self,
        ctx: &Context<'_>,
        input: DeleteWebhookEndpointInput,
    ) -> async_graphql::Result<WebhookEndpointObject> {
        let DeleteWebhookEndpointInput { id } = input;
        let id = endpoint_id("input.id", &id).gql()?;
        services(ctx)
            .delete_webhook_endpoint(caller(ctx)?, &id)
            .await
            .map(WebhookEndpointObject::hidden)
            .gql()
    }

    /// A new signing secret, shown once; the old one keeps signing beside it for 24 hours.
    async fn roll_webhook_endpoint_secret(
        &self,
        ctx: &Context<'_>,
        input: RollWebhookEndpointSecretInput,
    ) -> async_graphql::Result<WebhookEndpointObject> {
        let RollWebhookEndpointSecretInput { id } = input;
        let id = endpoint_id("input.id", &id).gql()?;
        services(ctx)
            .roll_webhook_endpoint_secret(caller(ctx)?, &id)
            .await
            .map(WebhookEndpointObject::shown)
            .gql()
    }

    /// Queues one more delivery of an event to an endpoint.
    async fn resend_event(
        &self,
        ctx: &Context<'_>,
        input: ResendEventInput,
    ) -> async_graphql::Result<WebhookDeliveryObject> {
        let ResendEventInput { event, endpoint } = input;
        let event = EventId::parse(&event)
            .map_err(|error| ServiceError::id("input.event", error))
            .gql()?;
        let endpoint = endpoint_id("input.endpoint", &endpoint).gql()?;
        services(ctx)
            .resend_event(caller(ctx)?, &event, &endpoint)
            .await
            .map(WebhookDeliveryObject)
            .gql()
    }
}
