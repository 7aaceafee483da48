//! Charges: created directly on an account, with a destination, or on the platform
//! (separate charges and transfers); authorized and captured; declined; expired.

use super::captures::AuthorizationTimer;
use chrono::{DateTime, Duration, Utc};

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
        let request = &input;
        let id = idempotency::run_async(
            self,
            caller,
            "createCharge",
            key.as_ref(),
            &input,
            move || self.prepare_charge(caller, request),
        )
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

    pub(super) async fn prepare_charge(
        &self,
        caller: &Caller,
        input: &NewCharge,
    ) -> Result<Prepared, ServiceError> {
        let parties = self.charge_parties(caller, input)?;
        self.check_on_behalf_of(caller, input, &parties)?;
        let priced = self
            .price_charge(caller, input, &parties, input.amount, input.application_fee)
            .await?;
        let pricing = priced.pricing.clone();
        let now = self.clock.now(&caller.platform.id);
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
        let dispute = self.dispute_if_card_disputes(&mut draft, &mut charge, &priced)?;
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
    pub(super) fn capture_into(
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
            draft.insert(fee_id.as_ref(), &fee, &[])?;
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
}
