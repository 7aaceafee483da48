//! Claims on webhook deliveries, so several servers over one store never send one attempt
//! twice: before an attempt goes out, the sending server commits a claim on the delivery
//! (its id and a wall-clock expiry), expecting the revision it read. Of two servers looking
//! at one delivery only one claim commits; the other sees the claim and leaves the delivery
//! alone until the attempt is recorded (which ends the claim) or the claim runs out (its
//! server died mid-attempt), when another server sends it again: at least once.

use chrono::Utc;

use super::{Draft, ServiceError, Services};
use crate::config::WEBHOOK_DELIVERY_LEASE_SECONDS;
use crate::domain::webhooks::WebhookDelivery;
use crate::ids::PlatformId;
use crate::store::{StoreError, Versioned};

impl Services {
    /// Whether another server holds a live claim on the delivery.
    pub(super) fn claimed_elsewhere(&self, delivery: &WebhookDelivery) -> bool {
        delivery.claimed_by_another(&self.server_id, Utc::now())
    }

    /// Claims the delivery for this server's next attempt; `None` when another server
    /// changed it first (claimed, sent or settled it).
    pub(super) async fn claim_delivery(
        &self,
        platform: &str,
        found: &Versioned<WebhookDelivery>,
    ) -> Result<Option<Versioned<WebhookDelivery>>, ServiceError> {
        let platform_id = PlatformId::parse(platform)
            .map_err(|error| ServiceError::internal("webhook claim", error))?;
        let until = Utc::now() + chrono::Duration::seconds(WEBHOOK_DELIVERY_LEASE_SECONDS);
        let claimed = found.value.claimed(&self.server_id, until);
        let mut draft = Draft::new(&platform_id, self.clock.now(&platform_id));
        draft.update(claimed.id.as_ref(), &claimed, found.revision)?;
        match self.webhooks.store.commit(draft.commit).await {
            Ok(_) => Ok(Some(Versioned {
                revision: found.revision.saturating_add(1),
                value: claimed,
            })),
            Err(StoreError::RevisionConflict { .. }) => Ok(None),
            Err(error) => Err(error.into()),
        }
    }
}
