//! Webhook endpoints a platform registers, lists, changes, deletes and rolls the secret of;
//! their deliveries; resending an event; and the in-memory state the delivery worker
//! (`webhook_outbox`) shares with the request path.

use std::collections::{BTreeSet, HashMap};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Instant;

use chrono::Duration;
use rand::RngCore;
use tokio::sync::Notify;

use super::idempotency::{self, Prepared};
use super::webhook_client::{webhook_client, WebhookClientError};
use super::{Caller, Draft, Page, PageRequest, ServiceError, Services};
use crate::config::{
    Settings, MAX_WEBHOOK_ENDPOINTS_TRACKED, WEBHOOK_FAILURE_LOG_INTERVAL_SECONDS,
};
use crate::domain::events::Event;
use crate::domain::webhooks::{
    parse_enabled_events, parse_url, AttemptOutcome, DeliveryStatus, WebhookDelivery,
    WebhookEndpoint, PREVIOUS_SECRET_HOURS,
};
use crate::ids::{EventId, WebhookDeliveryId, WebhookEndpointId};
use crate::store::{Key, Store, MAX_SCAN_ITEMS};

/// The most endpoints one platform may register.
pub const MAX_ENDPOINTS_PER_PLATFORM: usize = 16;
pub(super) const ENDPOINTS_INDEX: &str = "webhook_endpoints";

/// The index of one endpoint's deliveries, optionally only those in one status.
pub(super) fn deliveries_index(endpoint: &str, status: Option<DeliveryStatus>) -> String {
    match status {
        None => format!("webhook_deliveries:{endpoint}"),
        Some(status) => format!("webhook_deliveries:{endpoint}:{}", status.as_str()),
    }
}

/// The index of an event's deliveries that are not acknowledged yet.
pub(super) fn pending_index(event: &str) -> String {
    format!("webhook_pending:{event}")
}

/// What the request path and the delivery worker share.
pub struct WebhookRuntime {
    pub client: reqwest::Client,
    /// The store as the router and worker read it: its reads are counted apart, since
    /// they are background work and no request's cost.
    pub(super) store: Store,
    pub allow_private: bool,
    /// Endpoints with deliveries to look at, and the signal that there are some.
    ready: Mutex<BTreeSet<(String, String)>>,
    pub(super) deliveries_ready: Arc<Notify>,
    /// Events were committed: the router has work.
    pub(super) events_committed: Arc<Notify>,
    /// Per endpoint: when a failure was last logged, and how many were not logged since.
    failure_log: Mutex<HashMap<String, (Instant, u64)>>,
    /// Attempts waiting for an answer now, and the most there have been at once.
    in_flight: AtomicUsize,
    most_in_flight: AtomicUsize,
}

impl WebhookRuntime {
    pub fn new(settings: &Settings, store: Store) -> Result<WebhookRuntime, WebhookClientError> {
        Ok(WebhookRuntime {
            store,
            client: webhook_client(
                settings.webhooks_allow_private,
                settings.webhooks_extra_ca.as_deref(),
            )?,
            allow_private: settings.webhooks_allow_private,
            ready: Mutex::default(),
            deliveries_ready: Arc::new(Notify::new()),
            events_committed: Arc::new(Notify::new()),
            failure_log: Mutex::default(),
            in_flight: AtomicUsize::new(0),
            most_in_flight: AtomicUsize::new(0),
        })
    }

    /// Attempts waiting for an answer now.
    pub fn in_flight(&self) -> usize {
        self.in_flight.load(Ordering::SeqCst)
    }

    /// The most attempts that have waited for an answer at once since the server started.
    pub fn most_in_flight(&self) -> usize {
        self.most_in_flight.load(Ordering::SeqCst)
    }

    pub(super) fn attempt_started(&self) {
        let now = self.in_flight.fetch_add(1, Ordering::SeqCst) + 1;
        self.most_in_flight.fetch_max(now, Ordering::SeqCst);
    }

    pub(super) fn attempt_ended(&self) {
        self.in_flight.fetch_sub(1, Ordering::SeqCst);
    }

    /// Asks the worker to look at an endpoint's deliveries.
    pub fn wake(&self, platform: &str, endpoint: &str) {
        if let Ok(mut ready) = self.ready.lock() {
            if ready.len() < MAX_WEBHOOK_ENDPOINTS_TRACKED {
                ready.insert((platform.to_owned(), endpoint.to_owned()));
            }
        }
        self.deliveries_ready.notify_one();
    }

    pub(super) fn take_ready(&self) -> BTreeSet<(String, String)> {
        self.ready
            .lock()
            .map(|mut ready| std::mem::take(&mut *ready))
            .unwrap_or_default()
    }

    /// Logs a failed attempt unless this endpoint logged one less than a minute ago; the
    /// next line says how many were left out. Returns whether it logged.
    pub(super) fn log_failure(
        &self,
        endpoint: &str,
        delivery: &str,
        outcome: &AttemptOutcome,
    ) -> bool {
        self.log_failure_at(Instant::now(), endpoint, delivery, outcome)
    }

    fn log_failure_at(
        &self,
        now: Instant,
        endpoint: &str,
        delivery: &str,
        outcome: &AttemptOutcome,
    ) -> bool {
        let suppressed = {
            let Ok(mut log) = self.failure_log.lock() else {
                return false;
            };
            if log.len() >= MAX_WEBHOOK_ENDPOINTS_TRACKED {
                log.clear();
            }
            match log.get_mut(endpoint) {
                Some((last, suppressed))
                    if now.duration_since(*last).as_secs()
                        < WEBHOOK_FAILURE_LOG_INTERVAL_SECONDS =>
                {
                    *suppressed = suppressed.saturating_add(1);
                    return false;
                }
                Some((last, suppressed)) => {
                    *last = now;
                    std::mem::take(suppressed)
                }
                None => {
                    log.insert(endpoint.to_owned(), (now, 0));
                    0
                }
            }
        };
        match outcome {
            AttemptOutcome::Refused { status } => tracing::warn!(
                endpoint,
                delivery,
                status,
                suppressed,
                "webhook delivery refused by the endpoint; it will be retried"
            ),
            AttemptOutcome::Unreachable { error } => tracing::warn!(
                endpoint, delivery, %error, suppressed,
                "webhook delivery failed; it will be retried"
            ),
            AttemptOutcome::Acknowledged { .. } => {}
        }
        true
    }
}

fn invalid_webhook(error: crate::domain::webhooks::WebhookError) -> ServiceError {
    ServiceError::invalid(format!("input.{}", error.param()), error.to_string())
}

fn new_secret() -> String {
    let mut secret = [0u8; 24];
    rand::thread_rng().fill_bytes(&mut secret);
    format!("whsec_{}", hex::encode(secret))
}

/// What an endpoint update changes; `None` leaves a field as it is.
pub struct EndpointChanges {
    pub url: Option<String>,
    pub enabled_events: Option<Vec<String>>,
    pub disabled: Option<bool>,
}

impl Services {
    pub async fn create_webhook_endpoint(
        &self,
        caller: &Caller,
        url: &str,
        enabled_events: Vec<String>,
    ) -> Result<WebhookEndpoint, ServiceError> {
        caller.require_platform("Webhook endpoints receive all of the platform's events")?;
        let url = parse_url(url, self.webhooks.allow_private).map_err(invalid_webhook)?;
        let enabled_events = parse_enabled_events(enabled_events).map_err(invalid_webhook)?;
        let existing = self.store.scan_index(
            &caller.platform_key(),
            ENDPOINTS_INDEX,
            None,
            MAX_ENDPOINTS_PER_PLATFORM,
        )?;
        if existing.len() >= MAX_ENDPOINTS_PER_PLATFORM {
            return Err(ServiceError::invalid(
                "input.url",
                format!("A platform may register at most {MAX_ENDPOINTS_PER_PLATFORM} webhook endpoints; delete one first"),
            ));
        }
        let endpoint = WebhookEndpoint {
            id: self.ids.next(),
            url,
            enabled_events,
            secret: new_secret(),
            previous_secret: None,
            disabled: false,
            created: self.clock.now(&caller.platform.id),
        };
        idempotency::run(self, caller, "createWebhookEndpoint", None, &(), || {
            let mut draft = Draft::new(&caller.platform.id, self.clock.now(&caller.platform.id));
            draft.insert(
                endpoint.id.as_ref(),
                &endpoint,
                &[ENDPOINTS_INDEX.to_owned()],
            )?;
            draft.event(
                &self.ids,
                "webhook_endpoint.created",
                None,
                &endpoint.public_view(),
            )?;
            Ok(Prepared {
                draft,
                object_id: endpoint.id.to_string(),
                error: None,
            })
        })
        .await?;
        Ok(endpoint)
    }

    pub fn webhook_endpoint(
        &self,
        caller: &Caller,
        id: &WebhookEndpointId,
    ) -> Result<Option<WebhookEndpoint>, ServiceError> {
        Ok(self
            .find::<WebhookEndpoint>(caller, id.as_ref())?
            .map(|found| found.value))
    }

    fn require_endpoint(
        &self,
        caller: &Caller,
        id: &WebhookEndpointId,
    ) -> Result<crate::store::Versioned<WebhookEndpoint>, ServiceError> {
        self.find::<WebhookEndpoint>(caller, id.as_ref())?
            .ok_or_else(|| ServiceError::not_found("input.id", "webhook endpoint", id.as_ref()))
    }

    pub fn webhook_endpoints(
        &self,
        caller: &Caller,
        request: &PageRequest,
    ) -> Result<Page<WebhookEndpoint>, ServiceError> {
        self.page(caller, ENDPOINTS_INDEX, request)
    }

    /// Changes an endpoint's URL, event types or disabled state. Disabling it fails its
    /// pending deliveries; enabling it again starts with the events that come next.
    pub async fn update_webhook_endpoint(
        &self,
        caller: &Caller,
        id: &WebhookEndpointId,
        changes: EndpointChanges,
    ) -> Result<WebhookEndpoint, ServiceError> {
        caller.require_platform("Webhook endpoints receive all of the platform's events")?;
        let url = changes
            .url
            .map(|url| parse_url(&url, self.webhooks.allow_private))
            .transpose()
            .map_err(invalid_webhook)?;
        let enabled_events = changes
            .enabled_events
            .map(parse_enabled_events)
            .transpose()
            .map_err(invalid_webhook)?;
        self.change_endpoint(caller, id, "updateWebhookEndpoint", |endpoint| {
            if let Some(url) = &url {
                endpoint.url = url.clone();
            }
            if let Some(enabled_events) = &enabled_events {
                endpoint.enabled_events = enabled_events.clone();
            }
            if let Some(disabled) = changes.disabled {
                endpoint.disabled = disabled;
            }
        })
        .await
    }

    /// A new secret; the old one keeps signing beside it for a day, so receivers can
    /// switch without losing an event.
    pub async fn roll_webhook_endpoint_secret(
        &self,
        caller: &Caller,
        id: &WebhookEndpointId,
    ) -> Result<WebhookEndpoint, ServiceError> {
        caller.require_platform("Webhook endpoints receive all of the platform's events")?;
        let secret = new_secret();
        let until = self.clock.now(&caller.platform.id) + Duration::hours(PREVIOUS_SECRET_HOURS);
        self.change_endpoint(caller, id, "rollWebhookEndpointSecret", |endpoint| {
            let previous = std::mem::replace(&mut endpoint.secret, secret.clone());
            endpoint.previous_secret = Some((previous, until));
        })
        .await
    }

    async fn change_endpoint(
        &self,
        caller: &Caller,
        id: &WebhookEndpointId,
        operation: &str,
        change: impl Fn(&mut WebhookEndpoint),
    ) -> Result<WebhookEndpoint, ServiceError> {
        let mut changed = None;
        idempotency::run(self, caller, operation, None, &(), || {
            let found = self.require_endpoint(caller, id)?;
            let mut endpoint = found.value.clone();
            change(&mut endpoint);
            let mut draft = Draft::new(&caller.platform.id, self.clock.now(&caller.platform.id));
            draft.update(id.as_ref(), &endpoint, found.revision)?;
            draft.event_update(
                &self.ids,
                "webhook_endpoint.updated",
                None,
                &found.value.public_view(),
                &endpoint.public_view(),
            )?;
            changed = Some(endpoint);
            Ok(Prepared {
                draft,
                object_id: id.to_string(),
                error: None,
            })
        })
        .await?;
        let platform = caller.platform_key();
        let endpoint = changed.ok_or_else(|| ServiceError::internal(operation, "no change"))?;
        if endpoint.disabled {
            self.fail_pending_deliveries(&platform, id.as_ref(), "the endpoint was disabled")
                .await?;
        }
        Ok(endpoint)
    }

    /// Deletes an endpoint; its pending deliveries fail.
    pub async fn delete_webhook_endpoint(
        &self,
        caller: &Caller,
        id: &WebhookEndpointId,
    ) -> Result<WebhookEndpoint, ServiceError> {
        caller.require_platform("Webhook endpoints receive all of the platform's events")?;
        let platform = caller.platform_key();
        let mut deleted = None;
        idempotency::run(self, caller, "deleteWebhookEndpoint", None, &(), || {
            let found = self.require_endpoint(caller, id)?;
            let mut draft = Draft::new(&caller.platform.id, self.clock.now(&caller.platform.id));
            // Only its current revision may be deleted, so a concurrent change is retried.
            draft.update(id.as_ref(), &found.value, found.revision)?;
            draft.delete(Key::object(&platform, id.as_ref()));
            draft.delete(Key::index(&platform, ENDPOINTS_INDEX, id.as_ref()));
            draft.event(
                &self.ids,
                "webhook_endpoint.deleted",
                None,
                &found.value.public_view(),
            )?;
            deleted = Some(found.value);
            Ok(Prepared {
                draft,
                object_id: id.to_string(),
                error: None,
            })
        })
        .await?;
        self.fail_pending_deliveries(&platform, id.as_ref(), "the endpoint was deleted")
            .await?;
        deleted.ok_or_else(|| ServiceError::internal("deleteWebhookEndpoint", "nothing deleted"))
    }

    /// An endpoint's deliveries, newest first, optionally only those in one status.
    pub fn webhook_deliveries(
        &self,
        caller: &Caller,
        endpoint: &WebhookEndpointId,
        status: Option<DeliveryStatus>,
        request: &PageRequest,
    ) -> Result<Page<WebhookDelivery>, ServiceError> {
        self.page(
            caller,
            &deliveries_index(endpoint.as_ref(), status),
            request,
        )
    }

    /// Queues one more delivery of an event to an endpoint.
    pub async fn resend_event(
        &self,
        caller: &Caller,
        event: &EventId,
        endpoint: &WebhookEndpointId,
    ) -> Result<WebhookDelivery, ServiceError> {
        caller.require_platform("Webhook endpoints receive all of the platform's events")?;
        let platform = caller.platform_key();
        if self.find::<Event>(caller, event.as_ref())?.is_none() {
            return Err(ServiceError::not_found(
                "input.event",
                "event",
                event.as_ref(),
            ));
        }
        let found = self
            .find::<WebhookEndpoint>(caller, endpoint.as_ref())?
            .ok_or_else(|| {
                ServiceError::not_found("input.endpoint", "webhook endpoint", endpoint.as_ref())
            })?;
        if found.value.disabled {
            return Err(ServiceError::invalid(
                "input.endpoint",
                "The endpoint is disabled: enable it with updateWebhookEndpoint first",
            ));
        }
        let delivery = new_delivery(
            self.ids.next(),
            endpoint,
            event,
            self.clock.now(&caller.platform.id),
        );
        idempotency::run(self, caller, "resendEvent", None, &(), || {
            let mut draft = Draft::new(&caller.platform.id, self.clock.now(&caller.platform.id));
            // The endpoint must still be there, unchanged, when the delivery lands.
            draft.update(endpoint.as_ref(), &found.value, found.revision)?;
            queue_delivery(&mut draft, &platform, &delivery)?;
            Ok(Prepared {
                draft,
                object_id: delivery.id.to_string(),
                error: None,
            })
        })
        .await?;
        self.webhooks.wake(&platform, endpoint.as_ref());
        Ok(delivery)
    }

    /// How many enabled endpoints have not acknowledged an event yet: its pending
    /// deliveries, or, before it is routed, the endpoints that want it.
    pub fn pending_webhooks(&self, caller: &Caller, event: &Event) -> Result<usize, ServiceError> {
        let platform = caller.platform_key();
        let unrouted = self
            .store
            .get_raw(&Key::outbox_event(&platform, event.id.as_ref()))?
            .is_some();
        if unrouted {
            return Ok(self
                .endpoints_of(&platform)?
                .iter()
                .filter(|endpoint| {
                    endpoint.wants(&event.event_type) && event.created >= endpoint.created
                })
                .count());
        }
        Ok(self
            .store
            .scan_index(
                &platform,
                &pending_index(event.id.as_ref()),
                None,
                MAX_SCAN_ITEMS,
            )?
            .len())
    }

    /// A platform's endpoints.
    pub(super) fn endpoints_of(
        &self,
        platform: &str,
    ) -> Result<Vec<WebhookEndpoint>, ServiceError> {
        endpoints_in(&self.store, platform)
    }
}

/// A platform's endpoints, read from the store: the router reads them after the events it
/// routes were committed, so an endpoint made before an event always hears of it.
pub(super) fn endpoints_in(
    store: &Store,
    platform: &str,
) -> Result<Vec<WebhookEndpoint>, ServiceError> {
    let ids = store.scan_index(platform, ENDPOINTS_INDEX, None, MAX_ENDPOINTS_PER_PLATFORM)?;
    let mut endpoints = Vec::with_capacity(ids.len());
    for id in ids {
        if let Some(found) = store.get_object::<WebhookEndpoint>(platform, &id)? {
            endpoints.push(found.value);
        }
    }
    Ok(endpoints)
}

pub(super) fn new_delivery(
    id: WebhookDeliveryId,
    endpoint: &WebhookEndpointId,
    event: &EventId,
    now: chrono::DateTime<chrono::Utc>,
) -> WebhookDelivery {
    WebhookDelivery {
        id,
        endpoint: endpoint.clone(),
        event: event.clone(),
        status: DeliveryStatus::Pending,
        attempts: 0,
        response_code: None,
        error: None,
        last_attempt_at: None,
        next_retry_at: None,
        failing_since: None,
        created: now,
        lease: None,
    }
}

/// A pending delivery with its indexes and its place in the endpoint's outbox queue.
pub(super) fn queue_delivery(
    draft: &mut Draft,
    platform: &str,
    delivery: &WebhookDelivery,
) -> Result<(), ServiceError> {
    let endpoint = delivery.endpoint.as_ref();
    draft.insert(
        delivery.id.as_ref(),
        delivery,
        &[
            deliveries_index(endpoint, None),
            deliveries_index(endpoint, Some(DeliveryStatus::Pending)),
            pending_index(delivery.event.as_ref()),
        ],
    )?;
    draft.raw(
        Key::outbox_delivery(platform, endpoint, delivery.id.as_ref()),
        Vec::new(),
    );
    Ok(())
}

/// Moves a delivery out of the pending state: out of the outbox and the pending indexes.
pub(super) fn settle_delivery(draft: &mut Draft, platform: &str, delivery: &WebhookDelivery) {
    let endpoint = delivery.endpoint.as_ref();
    let id = delivery.id.as_ref();
    draft.delete(Key::outbox_delivery(platform, endpoint, id));
    draft.delete(Key::index(
        platform,
        &deliveries_index(endpoint, Some(DeliveryStatus::Pending)),
        id,
    ));
    draft.delete(Key::index(
        platform,
        &pending_index(delivery.event.as_ref()),
        id,
    ));
    draft.index(&deliveries_index(endpoint, Some(delivery.status)), id);
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration as StdDuration;

    #[test]
    fn failures_log_at_most_once_a_minute_per_endpoint() {
        let temp = tempfile::tempdir().expect("temp dir");
        let (store, _writer) = Store::open(temp.path()).expect("store");
        let runtime = WebhookRuntime::new(&Settings::new("data".into(), "policies".into()), store)
            .expect("runtime");
        let refused = AttemptOutcome::Refused { status: 500 };
        let start = Instant::now();
        let logged: Vec<bool> = (0..400u64)
            .map(|second| {
                runtime.log_failure_at(
                    start + StdDuration::from_secs(second),
                    "we_dead",
                    "whd_1",
                    &refused,
                )
            })
            .collect();
        // 400 failures over 400 seconds: one line at 0 s, 60 s, 120 s … 360 s.
        assert_eq!(logged.iter().filter(|logged| **logged).count(), 7);
        assert!(runtime.log_failure_at(start, "we_other", "whd_2", &refused));
    }
}
