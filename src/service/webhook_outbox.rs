//! The webhook outbox. Every event's commit also writes an outbox entry for it; the router
//! turns each entry into one delivery per endpoint that wants the event (in one commit that
//! deletes the entry), and the delivery worker sends each endpoint's deliveries oldest
//! first, one at a time per endpoint and a bounded number overall. A failed attempt is
//! recorded with a retry timer on the business clock; a 2xx is recorded before the next
//! delivery starts, so a restart resumes exactly where the outbox says. Several servers may
//! run the router and the worker over one store: routing an event deletes its outbox entry
//! on the condition that it is still there, and each attempt is claimed before it is sent
//! (`webhook_leases`).

use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::sync::{Arc, Weak};
use std::time::Duration;

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use tokio::sync::{watch, Semaphore};
use tokio::task::JoinSet;

use super::idempotency::{self, MAX_COMMIT_ATTEMPTS};
use super::webhook_client::{send_attempt, signature_header};
use super::webhooks::{endpoints_in, new_delivery, pending_index, queue_delivery, settle_delivery};
use super::{Draft, ServiceError, Services};
use crate::config::{MAX_WEBHOOK_DELIVERIES_IN_FLIGHT, MAX_WEBHOOK_ENDPOINTS_TRACKED};
use crate::domain::events::Event;
use crate::domain::webhooks::{
    AfterAttempt, AttemptOutcome, DeliveryStatus, WebhookDelivery, WebhookEndpoint,
};
use crate::ids::{EventId, PlatformId};
use crate::store::{to_payload, Condition, Key, StoreError, Versioned, MAX_SCAN_ITEMS};

/// A delivery's next attempt coming due.
pub const TIMER_WEBHOOK_RETRY: &str = "webhook_retry";
/// The most events routed in one commit (each may fan out to every endpoint).
const MAX_EVENTS_ROUTED_PER_COMMIT: usize = 32;
/// The most deliveries failed in one commit when their endpoint goes away.
const MAX_DELIVERIES_SETTLED_PER_COMMIT: usize = 256;
/// How often the router looks for events even without being told (a safety net only).
const ROUTER_SWEEP_SECONDS: u64 = 5;
/// How often the worker looks at every endpoint with deliveries even without being told,
/// so one that stopped on a storage error is picked up again.
const OUTBOX_SWEEP_SECONDS: u64 = 60;
/// How long shutting down waits for attempts in flight to be answered and recorded;
/// any still open after it are sent again after the restart.
const SHUTDOWN_GRACE_SECONDS: u64 = 5;
/// How many stale outbox entries one look at an endpoint clears before giving way.
const MAX_STALE_ENTRIES_PER_LOOK: usize = 16;

/// The payload of a retry timer.
#[derive(Serialize, Deserialize)]
struct RetryTimer {
    endpoint: String,
    delivery: String,
}

/// Everything one attempt needs, read before the HTTP call so no state is held during it.
pub(super) struct PreparedAttempt {
    delivery: Versioned<WebhookDelivery>,
    endpoint: Versioned<WebhookEndpoint>,
    body: String,
    signature: String,
}

fn internal(context: &str, error: impl std::fmt::Display) -> ServiceError {
    ServiceError::internal(context, error)
}

/// The JSON an endpoint receives: the event as its GraphQL type shows it.
pub fn event_payload(event: &Event, pending_webhooks: usize) -> serde_json::Value {
    serde_json::json!({
        "id": event.id,
        "object": "event",
        "type": event.event_type,
        "created": event.created,
        "account": event.account,
        "data": {
            "object": event.data,
            "previousAttributes": event.previous_attributes,
        },
        "pendingWebhooks": pending_webhooks,
    })
}

impl Services {
    /// Routes waiting events to the endpoints that want them, until none is left.
    pub async fn route_events(&self) -> Result<usize, ServiceError> {
        let mut routed = 0;
        loop {
            let waiting = self
                .webhooks
                .store
                .outbox_events(MAX_EVENTS_ROUTED_PER_COMMIT)?;
            if waiting.is_empty() {
                return Ok(routed);
            }
            let mut by_platform: BTreeMap<String, Vec<(String, String)>> = BTreeMap::new();
            for (platform, event, event_type) in waiting {
                by_platform
                    .entry(platform)
                    .or_default()
                    .push((event, event_type));
            }
            for (platform, events) in by_platform {
                routed += events.len();
                self.route_platform_events(&platform, &events).await?;
            }
        }
    }

    /// The business time of the platform a key names; wall time for a name that is not a
    /// platform id (never written by this code).
    fn platform_now(&self, platform: &str) -> DateTime<Utc> {
        match PlatformId::parse(platform) {
            Ok(platform) => self.clock.now(&platform),
            Err(_) => Utc::now(),
        }
    }

    async fn route_platform_events(
        &self,
        platform: &str,
        events: &[(String, String)],
    ) -> Result<(), ServiceError> {
        let platform_id = PlatformId::parse(platform).map_err(|error| internal("outbox", error))?;
        let endpoints = endpoints_in(&self.webhooks.store, platform)?;
        let now = self.clock.now(&platform_id);
        let mut draft = Draft::new(&platform_id, now);
        let mut woken = BTreeSet::new();
        for (event_id, event_type) in events {
            let key = Key::outbox_event(platform, event_id);
            draft.condition(
                Condition::Exists { key: key.clone() },
                ServiceError::already_handled("outbox", "event already routed"),
            );
            draft.delete(key);
            let wanting: Vec<&WebhookEndpoint> = endpoints
                .iter()
                .filter(|endpoint| endpoint.wants(event_type))
                .collect();
            if wanting.is_empty() {
                continue;
            }
            let Some(event) = self
                .webhooks
                .store
                .get_object::<Event>(platform, event_id)?
            else {
                continue;
            };
            let event_id = EventId::parse(event_id).map_err(|error| internal("outbox", error))?;
            for endpoint in wanting {
                // An endpoint hears only of events from its own creation on.
                if event.value.created < endpoint.created {
                    continue;
                }
                let delivery = new_delivery(self.ids.next(), &endpoint.id, &event_id, now);
                queue_delivery(&mut draft, platform, &delivery)?;
                woken.insert(endpoint.id.to_string());
            }
        }
        match self.webhooks.store.commit(draft.commit).await {
            Ok(_) => {}
            // Another pass routed them first.
            Err(StoreError::ConditionFailed { .. }) => return Ok(()),
            Err(error) => return Err(error.into()),
        }
        for endpoint in woken {
            self.webhooks.wake(platform, &endpoint);
        }
        Ok(())
    }

    /// The head of an endpoint's queue, ready to send; `None` when there is nothing to
    /// send now (empty, waiting for a retry, or the endpoint is gone or disabled).
    pub(super) async fn next_attempt(
        &self,
        platform: &str,
        endpoint_id: &str,
    ) -> Result<Option<PreparedAttempt>, ServiceError> {
        for _ in 0..MAX_STALE_ENTRIES_PER_LOOK {
            let Some(delivery_id) = self
                .store
                .outbox_deliveries(platform, endpoint_id, 1)?
                .into_iter()
                .next()
            else {
                return Ok(None);
            };
            let delivery = self
                .store
                .get_object::<WebhookDelivery>(platform, &delivery_id)?
                .filter(|found| found.value.status == DeliveryStatus::Pending);
            let Some(delivery) = delivery else {
                self.drop_outbox_entry(platform, endpoint_id, &delivery_id)
                    .await?;
                continue;
            };
            if delivery
                .value
                .next_retry_at
                .is_some_and(|due| due > self.platform_now(platform))
                || self.claimed_elsewhere(&delivery.value)
            {
                return Ok(None);
            }
            let endpoint = self
                .store
                .get_object::<WebhookEndpoint>(platform, endpoint_id)?;
            let endpoint = match endpoint {
                Some(endpoint) if !endpoint.value.disabled => endpoint,
                Some(_) => {
                    self.fail_pending_deliveries(
                        platform,
                        endpoint_id,
                        "the endpoint was disabled",
                    )
                    .await?;
                    return Ok(None);
                }
                None => {
                    self.fail_pending_deliveries(platform, endpoint_id, "the endpoint was deleted")
                        .await?;
                    return Ok(None);
                }
            };
            let Some(event) = self
                .store
                .get_object::<Event>(platform, delivery.value.event.as_ref())?
            else {
                self.drop_outbox_entry(platform, endpoint_id, &delivery_id)
                    .await?;
                continue;
            };
            let pending = self
                .store
                .scan_index(
                    platform,
                    &pending_index(event.value.id.as_ref()),
                    None,
                    MAX_SCAN_ITEMS,
                )?
                .len();
            let body = event_payload(&event.value, pending).to_string();
            // Claimed last, just before it goes: another server that claimed it first
            // sends it, and this one looks at the queue again.
            let Some(delivery) = self.claim_delivery(platform, &delivery).await? else {
                continue;
            };
            // Receivers check the timestamp against their own clock: wall time, always.
            let secrets = endpoint.value.signing_secrets(self.platform_now(platform));
            let signature = signature_header(&secrets, Utc::now().timestamp(), &body)
                .map_err(|error| internal("webhook signature", error))?;
            return Ok(Some(PreparedAttempt {
                delivery,
                endpoint,
                body,
                signature,
            }));
        }
        Ok(None)
    }

    async fn drop_outbox_entry(
        &self,
        platform: &str,
        endpoint: &str,
        delivery: &str,
    ) -> Result<(), ServiceError> {
        let mut draft = Draft::system(self.platform_now(platform));
        draft.delete(Key::outbox_delivery(platform, endpoint, delivery));
        self.webhooks.store.commit(draft.commit).await?;
        Ok(())
    }

    /// Records an attempt's outcome; `true` when the endpoint's next delivery may go now.
    pub(super) async fn record_attempt(
        &self,
        platform: &str,
        prepared: PreparedAttempt,
        outcome: AttemptOutcome,
    ) -> Result<bool, ServiceError> {
        let platform_id = PlatformId::parse(platform).map_err(|error| internal("outbox", error))?;
        let now = self.clock.now(&platform_id);
        let mut delivery = prepared.delivery.value.clone();
        let endpoint_id = delivery.endpoint.to_string();
        let after = delivery.record(&outcome, now);
        if after != AfterAttempt::Delivered {
            self.webhooks
                .log_failure(&endpoint_id, delivery.id.as_ref(), &outcome);
        }
        let mut draft = Draft::new(&platform_id, now);
        draft.update(delivery.id.as_ref(), &delivery, prepared.delivery.revision)?;
        match &after {
            AfterAttempt::Delivered => settle_delivery(&mut draft, platform, &delivery),
            AfterAttempt::RetryAt(due) => draft.raw(
                Key::timer(
                    due.timestamp_micros(),
                    TIMER_WEBHOOK_RETRY,
                    platform,
                    &format!("{endpoint_id}/{}", delivery.id),
                ),
                to_payload(&RetryTimer {
                    endpoint: endpoint_id.clone(),
                    delivery: delivery.id.to_string(),
                })?,
            ),
            AfterAttempt::DisableEndpoint => {
                let mut endpoint = prepared.endpoint.value.clone();
                endpoint.disabled = true;
                draft.update(&endpoint_id, &endpoint, prepared.endpoint.revision)?;
                draft.event(
                    &self.ids,
                    "webhook_endpoint.disabled",
                    None,
                    &endpoint.public_view(),
                )?;
            }
        }
        let published = std::mem::take(&mut draft.published);
        match self.webhooks.store.commit(draft.commit).await {
            Ok(_) => self.publish(&platform_id, published),
            // Changed meanwhile (disabled, deleted, resent): look at the queue again.
            Err(StoreError::RevisionConflict { .. }) => return Ok(true),
            Err(error) => return Err(error.into()),
        }
        if after == AfterAttempt::DisableEndpoint {
            tracing::warn!(
                endpoint = %endpoint_id,
                "webhook endpoint disabled after failing every attempt for three days"
            );
            self.fail_pending_deliveries(
                platform,
                &endpoint_id,
                "the endpoint failed every attempt for three days and was disabled",
            )
            .await?;
        }
        Ok(after == AfterAttempt::Delivered)
    }

    /// Fails every pending delivery of an endpoint that was disabled or deleted, in
    /// bounded commits.
    pub(super) async fn fail_pending_deliveries(
        &self,
        platform: &str,
        endpoint: &str,
        reason: &str,
    ) -> Result<(), ServiceError> {
        let platform_id = PlatformId::parse(platform).map_err(|error| internal("outbox", error))?;
        let mut conflicts = 0;
        loop {
            let ids = self.webhooks.store.outbox_deliveries(
                platform,
                endpoint,
                MAX_DELIVERIES_SETTLED_PER_COMMIT,
            )?;
            if ids.is_empty() {
                return Ok(());
            }
            let mut draft = Draft::new(&platform_id, self.clock.now(&platform_id));
            for id in ids {
                draft.delete(Key::outbox_delivery(platform, endpoint, &id));
                let Some(found) = self
                    .webhooks
                    .store
                    .get_object::<WebhookDelivery>(platform, &id)?
                else {
                    continue;
                };
                let mut delivery = found.value;
                if delivery.status != DeliveryStatus::Pending {
                    continue;
                }
                if let Some(due) = delivery.next_retry_at.take() {
                    draft.delete(Key::timer(
                        due.timestamp_micros(),
                        TIMER_WEBHOOK_RETRY,
                        platform,
                        &format!("{endpoint}/{id}"),
                    ));
                }
                delivery.status = DeliveryStatus::Failed;
                delivery.error = Some(reason.to_owned());
                draft.update(&id, &delivery, found.revision)?;
                settle_delivery(&mut draft, platform, &delivery);
            }
            match self.webhooks.store.commit(draft.commit).await {
                Ok(_) => {}
                Err(StoreError::RevisionConflict { .. }) if conflicts < MAX_COMMIT_ATTEMPTS => {
                    conflicts += 1;
                }
                Err(error) => return Err(error.into()),
            }
        }
    }

    /// A retry timer came due: the timer goes, and the worker looks at the endpoint.
    pub(super) async fn webhook_retry_due(
        &self,
        platform: &str,
        key: Key,
        payload: &[u8],
    ) -> Result<(), ServiceError> {
        let timer: RetryTimer = crate::store::from_payload(payload)?;
        idempotency::apply(self, || {
            let mut draft = Draft::system(self.platform_now(platform));
            draft.condition(
                Condition::Exists { key: key.clone() },
                ServiceError::already_handled("webhook retry", "already handled"),
            );
            draft.delete(key.clone());
            Ok(Some(draft))
        })
        .await?;
        self.webhooks.wake(platform, &timer.endpoint);
        Ok(())
    }

    /// Routes events and sends deliveries until the server stops. Holds the services
    /// weakly, and never across an HTTP call, so shutting down is never held up by it.
    pub async fn run_webhook_outbox(services: Weak<Self>, shutdown: watch::Receiver<bool>) {
        let router = tokio::spawn(route_loop(services.clone(), shutdown.clone()));
        deliver_loop(services, shutdown).await;
        let _ = router.await;
    }
}

async fn route_loop(services: Weak<Services>, mut shutdown: watch::Receiver<bool>) {
    let Some(committed) = services
        .upgrade()
        .map(|services| services.webhooks.events_committed.clone())
    else {
        return;
    };
    let mut sweep = tokio::time::interval(Duration::from_secs(ROUTER_SWEEP_SECONDS));
    loop {
        {
            let Some(services) = services.upgrade() else {
                return;
            };
            if let Err(error) = services.route_events().await {
                tracing::error!(%error, "routing events to webhook endpoints failed; will retry");
            }
        }
        tokio::select! {
            () = committed.notified() => {}
            _ = sweep.tick() => {}
            _ = shutdown.changed() => return,
        }
    }
}

type EndpointKey = (String, String);

async fn deliver_loop(services: Weak<Services>, mut shutdown: watch::Receiver<bool>) {
    let Some(ready) = services
        .upgrade()
        .map(|services| services.webhooks.deliveries_ready.clone())
    else {
        return;
    };
    // The first tick is at once: after a restart every endpoint with deliveries in the
    // outbox is looked at.
    let mut sweep = tokio::time::interval(Duration::from_secs(OUTBOX_SWEEP_SECONDS));
    let permits = Arc::new(Semaphore::new(MAX_WEBHOOK_DELIVERIES_IN_FLIGHT));
    // Endpoints with a task, and whether they were woken again while it ran.
    let mut busy: HashMap<EndpointKey, bool> = HashMap::new();
    let mut task_endpoints: HashMap<tokio::task::Id, EndpointKey> = HashMap::new();
    let mut tasks: JoinSet<()> = JoinSet::new();
    let mut again: Vec<EndpointKey> = Vec::new();
    loop {
        {
            let Some(services) = services.upgrade() else {
                tasks.abort_all();
                return;
            };
            let mut woken = services.webhooks.take_ready();
            woken.extend(again.drain(..));
            for endpoint in woken {
                if let Some(woken_again) = busy.get_mut(&endpoint) {
                    *woken_again = true;
                    continue;
                }
                busy.insert(endpoint.clone(), false);
                let handle = tasks.spawn(drain_endpoint(
                    services_weak(&services),
                    endpoint.clone(),
                    permits.clone(),
                    shutdown.clone(),
                ));
                task_endpoints.insert(handle.id(), endpoint);
            }
        }
        tokio::select! {
            () = ready.notified() => {}
            _ = sweep.tick() => {
                if let Some(services) = services.upgrade() {
                    wake_outbox_endpoints(&services);
                }
            }
            Some(joined) = tasks.join_next_with_id(), if !tasks.is_empty() => {
                let id = match &joined {
                    Ok((id, ())) => *id,
                    Err(error) => {
                        tracing::error!(%error, "a webhook delivery task failed");
                        error.id()
                    }
                };
                if let Some(endpoint) = task_endpoints.remove(&id) {
                    if busy.remove(&endpoint) == Some(true) {
                        again.push(endpoint);
                    }
                }
            }
            _ = shutdown.changed() => {
                // Attempts in flight get a moment to be answered and recorded, so a 2xx
                // is not sent again after the restart; no new attempt starts.
                let drained = tokio::time::timeout(
                    Duration::from_secs(SHUTDOWN_GRACE_SECONDS),
                    async { while tasks.join_next().await.is_some() {} },
                )
                .await;
                if drained.is_err() {
                    tasks.abort_all();
                }
                return;
            }
        }
    }
}

fn wake_outbox_endpoints(services: &Services) {
    match services
        .store
        .outbox_endpoints(MAX_WEBHOOK_ENDPOINTS_TRACKED)
    {
        Ok(endpoints) => {
            for (platform, endpoint) in endpoints {
                services.webhooks.wake(&platform, &endpoint);
            }
        }
        Err(error) => tracing::error!(%error, "could not read the webhook outbox"),
    }
}

fn services_weak(services: &Arc<Services>) -> Weak<Services> {
    Arc::downgrade(services)
}

/// Sends one endpoint's deliveries in order until its queue is empty or waiting, or the
/// server stops.
async fn drain_endpoint(
    services: Weak<Services>,
    endpoint: EndpointKey,
    permits: Arc<Semaphore>,
    shutdown: watch::Receiver<bool>,
) {
    let (platform, endpoint_id) = endpoint;
    loop {
        if *shutdown.borrow() {
            return;
        }
        let Ok(_permit) = permits.clone().acquire_owned().await else {
            return;
        };
        if *shutdown.borrow() {
            return;
        }
        let (prepared, client, allow_private, url) = {
            let Some(services) = services.upgrade() else {
                return;
            };
            match services.next_attempt(&platform, &endpoint_id).await {
                Ok(Some(prepared)) => {
                    let url = prepared.endpoint.value.url.clone();
                    services.webhooks.attempt_started();
                    (
                        prepared,
                        services.webhooks.client.clone(),
                        services.webhooks.allow_private,
                        url,
                    )
                }
                Ok(None) => return,
                Err(error) => {
                    tracing::error!(%error, endpoint = %endpoint_id, "could not prepare a webhook delivery");
                    return;
                }
            }
        };
        let outcome = send_attempt(
            &client,
            &url,
            allow_private,
            prepared.body.clone(),
            &prepared.signature,
        )
        .await;
        let Some(services) = services.upgrade() else {
            return;
        };
        services.webhooks.attempt_ended();
        match services.record_attempt(&platform, prepared, outcome).await {
            Ok(true) => continue,
            Ok(false) => return,
            Err(error) => {
                tracing::error!(%error, endpoint = %endpoint_id, "could not record a webhook attempt");
                return;
            }
        }
    }
}
