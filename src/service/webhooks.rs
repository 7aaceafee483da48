//! Webhooks: endpoints a platform registers, and the delivery of its committed events to
//! them, signed `Tollgate-Signature: t=<unix>,v1=<hex HMAC-SHA256 of "t.body">` and retried
//! with exponential backoff. Delivery runs beside the write path, never in it.

use std::collections::HashMap;
use std::sync::Weak;
use std::time::Duration;

use hmac::{Hmac, Mac};
use rand::RngCore;
use sha2::Sha256;
use tokio::sync::broadcast;

use super::idempotency::{self, Prepared};
use super::{Caller, Draft, PublishedEvent, ServiceError, Services};
use crate::domain::events::Event;
use crate::domain::webhooks::{parse_enabled_events, parse_url, WebhookEndpoint};
use crate::ids::WebhookEndpointId;

/// The header carrying the signature.
pub const SIGNATURE_HEADER: &str = "Tollgate-Signature";
/// How many times one event is tried at one endpoint.
pub const MAX_DELIVERY_ATTEMPTS: u32 = 6;
/// The wait before the first retry; each later retry waits twice as long.
pub const FIRST_RETRY_MILLISECONDS: u64 = 250;
/// How long one delivery attempt may take.
pub const DELIVERY_TIMEOUT_SECONDS: u64 = 10;
/// The most endpoints one platform may register.
pub const MAX_ENDPOINTS_PER_PLATFORM: usize = 16;
const ENDPOINTS_INDEX: &str = "webhook_endpoints";
/// The event that tells the delivery task a platform's endpoints changed.
const ENDPOINT_CREATED: &str = "webhook_endpoint.created";
/// The most platforms whose endpoints the delivery task keeps in memory.
const MAX_CACHED_PLATFORMS: usize = 10_000;

/// The signature header's value for a body sent at `timestamp` (unix seconds).
pub fn signature(
    secret: &str,
    timestamp: i64,
    body: &str,
) -> Result<String, hmac::digest::InvalidLength> {
    let mut mac = <Hmac<Sha256> as Mac>::new_from_slice(secret.as_bytes())?;
    mac.update(format!("{timestamp}.{body}").as_bytes());
    Ok(format!(
        "t={timestamp},v1={}",
        hex::encode(mac.finalize().into_bytes())
    ))
}

impl Services {
    pub async fn create_webhook_endpoint(
        &self,
        caller: &Caller,
        url: &str,
        enabled_events: Vec<String>,
    ) -> Result<WebhookEndpoint, ServiceError> {
        caller.require_platform("Webhook endpoints receive all of the platform's events")?;
        let url = parse_url(url).map_err(|error| {
            ServiceError::invalid(format!("input.{}", error.param()), error.to_string())
        })?;
        let enabled_events = parse_enabled_events(enabled_events).map_err(|error| {
            ServiceError::invalid(format!("input.{}", error.param()), error.to_string())
        })?;
        let existing = self.store.scan_index(
            &caller.platform_key(),
            ENDPOINTS_INDEX,
            None,
            MAX_ENDPOINTS_PER_PLATFORM,
        )?;
        if existing.len() >= MAX_ENDPOINTS_PER_PLATFORM {
            return Err(ServiceError::invalid(
                "input.url",
                format!("A platform may register at most {MAX_ENDPOINTS_PER_PLATFORM} webhook endpoints"),
            ));
        }
        let mut secret = [0u8; 24];
        rand::thread_rng().fill_bytes(&mut secret);
        let endpoint = WebhookEndpoint {
            id: self.ids.next(),
            url,
            enabled_events,
            secret: format!("whsec_{}", hex::encode(secret)),
            created: self.clock.now(&caller.platform.id),
        };
        let id = idempotency::run(self, caller, "createWebhookEndpoint", None, &(), || {
            let mut draft = Draft::new(&caller.platform.id, self.clock.now(&caller.platform.id));
            draft.insert(
                endpoint.id.as_ref(),
                &endpoint,
                &[ENDPOINTS_INDEX.to_owned()],
            )?;
            // The event never carries the secret.
            let data = serde_json::json!({"id": endpoint.id, "url": endpoint.url, "enabled_events": endpoint.enabled_events});
            draft.event(&self.ids, ENDPOINT_CREATED, None, &data)?;
            Ok(Prepared {
                draft,
                object_id: endpoint.id.to_string(),
                error: None,
            })
        })
        .await?;
        WebhookEndpointId::parse(&id).map_err(|error| ServiceError::internal("webhook", error))?;
        Ok(endpoint)
    }

    fn endpoints_of(&self, platform: &str) -> Result<Vec<WebhookEndpoint>, ServiceError> {
        let ids =
            self.store
                .scan_index(platform, ENDPOINTS_INDEX, None, MAX_ENDPOINTS_PER_PLATFORM)?;
        let mut endpoints = Vec::with_capacity(ids.len());
        for id in ids {
            if let Some(found) = self.store.get_object::<WebhookEndpoint>(platform, &id)? {
                endpoints.push(found.value);
            }
        }
        Ok(endpoints)
    }

    /// Sends committed events to the endpoints that want them, until the stream closes or
    /// the server stops. Holds the services weakly so it never keeps them alive.
    pub async fn deliver_webhooks(
        services: Weak<Self>,
        mut events: broadcast::Receiver<PublishedEvent>,
    ) {
        let client = reqwest::Client::builder()
            .timeout(Duration::from_secs(DELIVERY_TIMEOUT_SECONDS))
            .build()
            .unwrap_or_default();
        // Each platform's endpoints, read once and again only after one is created.
        let mut endpoints: HashMap<String, Vec<WebhookEndpoint>> = HashMap::new();
        loop {
            let published = match events.recv().await {
                Ok(published) => published,
                Err(broadcast::error::RecvError::Lagged(missed)) => {
                    tracing::warn!(
                        missed,
                        "webhook delivery fell behind; some events were not sent"
                    );
                    continue;
                }
                Err(broadcast::error::RecvError::Closed) => return,
            };
            let Some(services) = services.upgrade() else {
                return;
            };
            let platform = published.platform.to_string();
            if published.event.event_type == ENDPOINT_CREATED {
                endpoints.remove(&platform);
            }
            if !endpoints.contains_key(&platform) {
                if endpoints.len() >= MAX_CACHED_PLATFORMS {
                    endpoints.clear();
                }
                match services.endpoints_of(&platform) {
                    Ok(found) => {
                        endpoints.insert(platform.clone(), found);
                    }
                    Err(error) => {
                        tracing::error!(%error, "could not read webhook endpoints");
                        continue;
                    }
                }
            }
            // Signatures carry wall time, whatever the platform's business clock says.
            let timestamp = chrono::Utc::now().timestamp();
            drop(services);
            let wanting = endpoints
                .get(&platform)
                .into_iter()
                .flatten()
                .filter(|endpoint| endpoint.wants(&published.event.event_type));
            for endpoint in wanting {
                tokio::spawn(deliver(
                    client.clone(),
                    endpoint.clone(),
                    published.event.clone(),
                    timestamp,
                ));
            }
        }
    }
}

/// One event to one endpoint: tried until a 2xx answer, waiting longer after each failure.
async fn deliver(client: reqwest::Client, endpoint: WebhookEndpoint, event: Event, timestamp: i64) {
    let body = serde_json::json!({
        "id": event.id,
        "type": event.event_type,
        "account": event.account,
        "created": event.created,
        "data": event.data,
    })
    .to_string();
    let header = match signature(&endpoint.secret, timestamp, &body) {
        Ok(header) => header,
        Err(error) => {
            tracing::error!(endpoint = %endpoint.id, %error, "could not sign a webhook");
            return;
        }
    };
    let mut wait = Duration::from_millis(FIRST_RETRY_MILLISECONDS);
    for attempt in 1..=MAX_DELIVERY_ATTEMPTS {
        let sent = client
            .post(&endpoint.url)
            .header(SIGNATURE_HEADER, &header)
            .header("content-type", "application/json")
            .body(body.clone())
            .send()
            .await;
        match sent {
            Ok(response) if response.status().is_success() => {
                metrics::counter!("tollgate_webhook_deliveries_total", "outcome" => "delivered")
                    .increment(1);
                return;
            }
            Ok(response) => {
                metrics::counter!("tollgate_webhook_deliveries_total", "outcome" => "refused")
                    .increment(1);
                tracing::warn!(endpoint = %endpoint.id, attempt, status = %response.status(), "webhook refused")
            }
            Err(error) => {
                metrics::counter!("tollgate_webhook_deliveries_total", "outcome" => "unreachable")
                    .increment(1);
                tracing::warn!(endpoint = %endpoint.id, attempt, %error, "webhook not delivered")
            }
        }
        if attempt < MAX_DELIVERY_ATTEMPTS {
            tokio::time::sleep(wait).await;
            wait *= 2;
        }
    }
    tracing::error!(endpoint = %endpoint.id, event = %event.id, "webhook given up after every attempt");
}
