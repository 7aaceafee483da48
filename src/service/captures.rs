//! Capturing authorized charges, in whole or in part, and letting lapsed authorizations go.

use serde::{Deserialize, Serialize};

use super::draft::TIMER_AUTHORIZATION_EXPIRY;
use super::idempotency::{self, IdempotencyKey, Prepared};
use super::pricing::NewCharge;
use super::{Caller, Draft, ServiceError, Services};
use crate::domain::charges::{Charge, ChargeStatus};
use crate::ids::ChargeId;
use crate::money::MinorUnits;
use crate::store::Key;

/// A timer's payload: the charge whose authorization lapses.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct AuthorizationTimer {
    pub charge: String,
}

/// A parsed `captureCharge` input.
#[derive(Debug, Clone, Serialize)]
pub struct CaptureCharge {
    pub charge: ChargeId,
    pub amount: Option<MinorUnits>,
    pub application_fee: Option<MinorUnits>,
}

impl Services {
    pub async fn capture_charge(
        &self,
        caller: &Caller,
        input: CaptureCharge,
        key: Option<IdempotencyKey>,
    ) -> Result<Charge, ServiceError> {
        let request = &input;
        let id = idempotency::run_async(
            self,
            caller,
            "captureCharge",
            key.as_ref(),
            &input,
            move || self.prepare_capture(caller, request),
        )
        .await?;
        self.charge(caller, &id)
    }

    async fn prepare_capture(
        &self,
        caller: &Caller,
        input: &CaptureCharge,
    ) -> Result<Prepared, ServiceError> {
        let found =
            self.find_named::<Charge>(caller, input.charge.as_ref(), "input.charge", "charge")?;
        let mut charge = found.value;
        let refuse = |message: String| Err(ServiceError::invalid("input.charge", message));
        match (
            charge.status,
            charge.captured,
            charge.authorization_expires_at,
        ) {
            (ChargeStatus::Failed, _, _) => {
                return refuse(format!("{} failed and cannot be captured", charge.id))
            }
            (_, true, _) => return refuse(format!("{} has already been captured", charge.id)),
            (_, false, None) => {
                return refuse(format!("{} has expired and cannot be captured", charge.id))
            }
            _ => {}
        }
        let amount = input.amount.unwrap_or(charge.amount);
        if amount > charge.amount {
            return Err(ServiceError::invalid(
                "input.amount",
                format!(
                    "The capture amount {amount} is more than the authorized amount {}",
                    charge.amount
                ),
            ));
        }
        let caller_for_charge = Caller {
            platform: caller.platform.clone(),
            connect_account: charge.account.clone(),
            access: caller.access,
            read_only: caller.read_only,
        };
        let request = NewCharge {
            amount,
            currency: charge.currency,
            payment_method: charge.payment_method.clone(),
            capture: true,
            application_fee: input.application_fee.or(
                if charge.pricing.application_fee_from_request {
                    charge.pricing.application_fee
                } else {
                    None
                },
            ),
            on_behalf_of: charge.on_behalf_of.clone(),
            destination: charge.destination.clone(),
            transfer_amount: charge.transfer_amount.map(|transfer| transfer.min(amount)),
            transfer_group: charge.transfer_group.clone(),
            description: charge.description.clone(),
            metadata: charge.metadata.clone(),
        };
        let parties = self.charge_parties(&caller_for_charge, &request)?;
        let priced = self
            .price_charge(
                &caller_for_charge,
                &request,
                &parties,
                amount,
                request.application_fee,
            )
            .await?;
        charge.pricing = priced.pricing.clone();
        let now = self.clock.now(&caller.platform.id);
        let mut draft = Draft::new(&caller.platform.id, now);
        if let Some(expires_at) = charge.authorization_expires_at {
            draft.delete(Key::timer(
                expires_at.timestamp_micros(),
                TIMER_AUTHORIZATION_EXPIRY,
                caller.platform.id.as_ref(),
                charge.id.as_ref(),
            ));
        }
        self.capture_into(&mut draft, &mut charge, &parties, amount)?;
        let dispute = self.dispute_if_card_disputes(&mut draft, &mut charge, &priced)?;
        // The part not captured is released back to the customer.
        charge.amount_refunded = MinorUnits::ZERO;
        draft.update(charge.id.as_ref(), &charge, found.revision)?;
        let account_for_events = charge
            .account
            .clone()
            .or_else(|| charge.destination.clone());
        draft.event(
            &self.ids,
            "charge.captured",
            account_for_events.as_ref(),
            &charge,
        )?;
        if let Some(dispute) = &dispute {
            self.dispute_created(&mut draft, dispute, &charge)?;
        }
        Ok(Prepared {
            draft,
            object_id: charge.id.to_string(),
            error: None,
        })
    }

    /// An uncaptured authorization lapsed: the hold is released and nothing moves.
    pub async fn expire_authorization(
        &self,
        platform: &str,
        timer_key: Key,
        payload: &[u8],
    ) -> Result<(), ServiceError> {
        let timer: AuthorizationTimer = crate::store::from_payload(payload)?;
        let platform_id = crate::ids::PlatformId::parse(platform)
            .map_err(|error| ServiceError::internal("timer", error))?;
        idempotency::apply(self, || {
            let now = self.clock.now(&platform_id);
            let mut draft = Draft::new(&platform_id, now);
            draft.condition(
                crate::store::Condition::Exists {
                    key: timer_key.clone(),
                },
                ServiceError::already_handled("expiry", "already handled"),
            );
            draft.delete(timer_key.clone());
            let Some(found) = self.store.get_object::<Charge>(platform, &timer.charge)? else {
                return Ok(Some(draft));
            };
            let mut charge = found.value;
            if !charge.captured && charge.status == ChargeStatus::Succeeded {
                charge.authorization_expires_at = None;
                charge.amount_refunded = charge.amount;
                draft.update(&timer.charge, &charge, found.revision)?;
                let account = charge
                    .account
                    .clone()
                    .or_else(|| charge.destination.clone());
                draft.event(&self.ids, "charge.expired", account.as_ref(), &charge)?;
            }
            Ok(Some(draft))
        })
        .await
    }
}
