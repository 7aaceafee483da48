//! Charges: created directly on an account, with a destination, or on the platform
//! (separate charges and transfers); authorized and captured; declined; expired.

use chrono::{DateTime, Duration, Utc};
use serde::{Deserialize, Serialize};

use super::draft::TIMER_AUTHORIZATION_EXPIRY;
use super::idempotency::{self, IdempotencyKey, Prepared};
use super::pricing::{ChargeParties, NewCharge};
use super::{Caller, Draft, ServiceError, Services};
use crate::config::DEFAULT_AVAILABILITY_DELAY_DAYS;
use crate::domain::charges::{
    ApplicationFee, Charge, ChargeFlowKind, ChargeStatus, Pricing, Transfer,
    AUTHORIZATION_VALID_DAYS,
};
use crate::domain::payment_methods::Behaviour;
use crate::ids::{ApplicationFeeId, ChargeId, PaymentId, TransferId};
use crate::ledger::flows::{charge_lines, ChargeFlow, ChargeMovement, FeeLeg, TransferLeg};
use crate::ledger::{EntryBuilder, EntryKind};
use crate::money::MinorUnits;
use crate::store::{to_payload, Key};

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

/// The indexes a charge is listed under.
pub fn charge_indexes(charge: &Charge) -> Vec<String> {
    let mut indexes = vec!["charges".to_owned()];
    for account in [&charge.account, &charge.destination].into_iter().flatten() {
        indexes.push(format!("charges_acct:{account}"));
    }
    if let Some(group) = &charge.transfer_group {
        indexes.push(format!("charges_group:{group}"));
    }
    indexes
}

pub fn transfer_indexes(transfer: &Transfer) -> Vec<String> {
    let mut indexes = vec![
        "transfers".to_owned(),
        format!("transfers_dest:{}", transfer.destination),
    ];
    if let Some(group) = &transfer.transfer_group {
        indexes.push(format!("transfers_group:{group}"));
    }
    indexes
}

impl Services {
    pub async fn create_charge(
        &self,
        caller: &Caller,
        input: NewCharge,
        key: Option<IdempotencyKey>,
    ) -> Result<Charge, ServiceError> {
        let id = idempotency::run(self, caller, "createCharge", key.as_ref(), &input, || {
            self.prepare_charge(caller, &input)
        })
        .await?;
        self.charge(caller, &id)
    }

    pub fn charge(&self, caller: &Caller, id: &str) -> Result<Charge, ServiceError> {
        self.find::<Charge>(caller, id)?
            .map(|found| found.value)
            .ok_or_else(|| ServiceError::not_found("id", "charge", id))
    }

    fn available_on(
        &self,
        now: DateTime<Utc>,
        pricing: &Pricing,
        parties: &ChargeParties,
    ) -> Option<DateTime<Utc>> {
        if parties.payment_method.behaviour == Behaviour::SucceedsAvailableAtOnce {
            return None;
        }
        Some(now + Duration::days(DEFAULT_AVAILABILITY_DELAY_DAYS + i64::from(pricing.hold_days)))
    }

    fn prepare_charge(&self, caller: &Caller, input: &NewCharge) -> Result<Prepared, ServiceError> {
        let parties = self.charge_parties(caller, input)?;
        let pricing =
            self.price_charge(caller, input, &parties, input.amount, input.application_fee)?;
        let now = self.clock.now();
        let id: ChargeId = self.ids.next();
        let mut charge = Charge {
            id: id.clone(),
            flow: parties.flow,
            status: ChargeStatus::Succeeded,
            currency: input.currency,
            amount: input.amount,
            amount_captured: MinorUnits::ZERO,
            amount_refunded: MinorUnits::ZERO,
            captured: false,
            disputed: false,
            payment_method: input.payment_method.clone(),
            failure_code: None,
            failure_message: None,
            account: caller.connect_account.clone(),
            on_behalf_of: input.on_behalf_of.clone(),
            destination: input.destination.clone(),
            transfer_amount: input.transfer_amount,
            application_fee: None,
            pricing,
            transfers: Vec::new(),
            transfer_group: input.transfer_group.clone(),
            refunds: Vec::new(),
            dispute: None,
            balance_transaction: None,
            destination_payment: None,
            available_on: None,
            amount_transferred: MinorUnits::ZERO,
            authorization_expires_at: None,
            description: input.description.clone(),
            metadata: input.metadata.clone(),
            created: now,
        };
        let mut draft = Draft::new(&caller.platform.id, now);
        let account_for_events = charge
            .account
            .clone()
            .or_else(|| charge.destination.clone());
        if let Behaviour::Declined {
            decline_code,
            message,
        } = parties.payment_method.behaviour
        {
            charge.status = ChargeStatus::Failed;
            charge.failure_code = Some("card_declined".to_owned());
            charge.failure_message = Some(message.to_owned());
            draft.insert(id.as_ref(), &charge, &charge_indexes(&charge))?;
            draft.event(
                &self.ids,
                "charge.failed",
                account_for_events.as_ref(),
                &charge,
            )?;
            return Ok(Prepared {
                draft,
                object_id: id.to_string(),
                error: Some(ServiceError::CardDeclined {
                    message: message.to_owned(),
                    decline_code: decline_code.to_owned(),
                    charge: id.to_string(),
                }),
            });
        }
        if input.capture {
            self.capture_into(&mut draft, &mut charge, &parties, input.amount)?;
        } else {
            let expires_at = now + Duration::days(AUTHORIZATION_VALID_DAYS);
            charge.authorization_expires_at = Some(expires_at);
            let timer = AuthorizationTimer {
                charge: id.to_string(),
            };
            draft.raw(
                Key::timer(
                    expires_at.timestamp_micros(),
                    TIMER_AUTHORIZATION_EXPIRY,
                    caller.platform.id.as_ref(),
                    id.as_ref(),
                ),
                to_payload(&timer)?,
            );
        }
        let dispute =
            self.dispute_if_card_disputes(&mut draft, &mut charge, caller, input, &parties)?;
        draft.insert(id.as_ref(), &charge, &charge_indexes(&charge))?;
        draft.event(
            &self.ids,
            "charge.succeeded",
            account_for_events.as_ref(),
            &charge,
        )?;
        if let Some(dispute) = &dispute {
            self.dispute_created(&mut draft, dispute, &charge)?;
        }
        Ok(Prepared {
            draft,
            object_id: id.to_string(),
            error: None,
        })
    }

    /// Moves the money of a captured amount: the ledger entry, the application fee, and the
    /// transfers of destination and routed separate charges.
    fn capture_into(
        &self,
        draft: &mut Draft,
        charge: &mut Charge,
        parties: &ChargeParties,
        amount: MinorUnits,
    ) -> Result<(), ServiceError> {
        let now = draft.now();
        let platform = draft
            .commit
            .platform
            .clone()
            .ok_or_else(|| ServiceError::internal("capture", "no platform"))?;
        let available_on = self.available_on(now, &charge.pricing, parties);
        let fee_leg = charge
            .pricing
            .application_fee
            .filter(|fee| !fee.is_zero())
            .map(|amount| FeeLeg {
                fee_id: self.ids.next::<ApplicationFeeId>().to_string(),
                amount,
            });
        let new_transfer = |destination: &crate::ids::AccountId, amount: MinorUnits| TransferLeg {
            destination: destination.clone(),
            transfer_id: self.ids.next::<TransferId>().to_string(),
            payment_id: self.ids.next::<PaymentId>().to_string(),
            amount,
        };
        let flow = match (charge.flow, &charge.account, &charge.destination) {
            (ChargeFlowKind::Direct, Some(account), _) => ChargeFlow::Direct {
                account: account.clone(),
                application_fee: fee_leg.clone(),
                platform_pays_processing_fee: charge.pricing.platform_pays_processing_fee,
            },
            (ChargeFlowKind::Destination, _, Some(destination)) => ChargeFlow::Destination {
                transfer: new_transfer(
                    destination,
                    charge.transfer_amount.unwrap_or(amount).min(amount),
                ),
                application_fee: fee_leg.clone(),
            },
            (ChargeFlowKind::Separate, _, _) => ChargeFlow::Separate {
                transfers: charge
                    .pricing
                    .splits
                    .iter()
                    .map(|split| new_transfer(&split.destination, split.amount))
                    .collect(),
            },
            _ => {
                return Err(ServiceError::internal(
                    "capture",
                    "charge flow without its account",
                ))
            }
        };
        let movement = ChargeMovement {
            platform: platform.clone(),
            charge_id: charge.id.to_string(),
            currency: charge.currency,
            amount,
            processing_fee: charge.pricing.processing_fee,
            available_on,
            description: charge.description.clone(),
            flow: flow.clone(),
        };
        let mut entry = EntryBuilder::new(
            &self.ids,
            &platform,
            EntryKind::Charge,
            charge.id.as_ref(),
            now,
        );
        let lines = charge_lines(&mut entry, &movement)
            .map_err(|error| ServiceError::internal("charge entry", error))?;
        draft.entry(
            entry
                .build()
                .map_err(|error| ServiceError::internal("charge entry", error))?,
        )?;
        charge.captured = true;
        charge.amount_captured = amount;
        charge.available_on = available_on;
        charge.balance_transaction = lines.charge.clone();
        charge.authorization_expires_at = None;
        let account_for_events = charge
            .account
            .clone()
            .or_else(|| charge.destination.clone());
        if let Some(leg) = &fee_leg {
            let fee_account = charge
                .account
                .clone()
                .or_else(|| charge.destination.clone())
                .ok_or_else(|| ServiceError::internal("application fee", "no account"))?;
            let fee_id = ApplicationFeeId::parse(&leg.fee_id)
                .map_err(|error| ServiceError::internal("fee id", error))?;
            let fee = ApplicationFee {
                id: fee_id.clone(),
                currency: charge.currency,
                amount: leg.amount,
                amount_refunded: MinorUnits::ZERO,
                account: fee_account,
                charge: charge.id.clone(),
                refunds: Vec::new(),
                balance_transaction: lines.application_fee.clone(),
                created: now,
            };
            draft.insert(fee_id.as_ref(), &fee, &["application_fees".to_owned()])?;
            draft.event(
                &self.ids,
                "application_fee.created",
                account_for_events.as_ref(),
                &fee,
            )?;
            charge.application_fee = Some(fee_id);
        }
        let legs: Vec<TransferLeg> = match flow {
            ChargeFlow::Destination { transfer, .. } => vec![transfer],
            ChargeFlow::Separate { transfers } => transfers,
            ChargeFlow::Direct { .. } => Vec::new(),
        };
        for leg in legs {
            let transfer = Transfer {
                id: TransferId::parse(&leg.transfer_id)
                    .map_err(|error| ServiceError::internal("transfer id", error))?,
                currency: charge.currency,
                amount: leg.amount,
                amount_reversed: MinorUnits::ZERO,
                destination: leg.destination.clone(),
                destination_payment: PaymentId::parse(&leg.payment_id)
                    .map_err(|error| ServiceError::internal("payment id", error))?,
                source_charge: Some(charge.id.clone()),
                for_destination_charge: charge.flow == ChargeFlowKind::Destination,
                transfer_group: charge.transfer_group.clone(),
                reversals: Vec::new(),
                description: charge.description.clone(),
                metadata: Default::default(),
                available_on,
                created: now,
            };
            draft.insert(
                transfer.id.as_ref(),
                &transfer,
                &transfer_indexes(&transfer),
            )?;
            draft.event(
                &self.ids,
                "transfer.created",
                Some(&transfer.destination),
                &transfer,
            )?;
            if charge.flow == ChargeFlowKind::Destination {
                charge.destination_payment = Some(transfer.destination_payment.clone());
            }
            charge.amount_transferred = charge
                .amount_transferred
                .checked_add(transfer.amount)
                .map_err(|error| ServiceError::internal("transfer", error))?;
            charge.transfers.push(transfer.id);
        }
        Ok(())
    }

    pub async fn capture_charge(
        &self,
        caller: &Caller,
        input: CaptureCharge,
        key: Option<IdempotencyKey>,
    ) -> Result<Charge, ServiceError> {
        let id = idempotency::run(self, caller, "captureCharge", key.as_ref(), &input, || {
            self.prepare_capture(caller, &input)
        })
        .await?;
        self.charge(caller, &id)
    }

    fn prepare_capture(
        &self,
        caller: &Caller,
        input: &CaptureCharge,
    ) -> Result<Prepared, ServiceError> {
        let found = self
            .find::<Charge>(caller, input.charge.as_ref())?
            .ok_or_else(|| {
                ServiceError::not_found("input.charge", "charge", input.charge.as_ref())
            })?;
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
        charge.pricing = self.price_charge(
            &caller_for_charge,
            &request,
            &parties,
            amount,
            request.application_fee,
        )?;
        let now = self.clock.now();
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
        let dispute = self.dispute_if_card_disputes(
            &mut draft,
            &mut charge,
            &caller_for_charge,
            &request,
            &parties,
        )?;
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
            let now = self.clock.now();
            let mut draft = Draft::new(&platform_id, now);
            draft.condition(
                crate::store::Condition::Exists {
                    key: timer_key.clone(),
                },
                ServiceError::internal("expiry", "already handled"),
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
