//! Refunds of charges: the money comes back from where it went (the connected account of a
//! direct charge, the platform otherwise), optionally with the application fee and the
//! charge's transfers in proportion; an uncaptured charge's authorization is released.

use std::collections::BTreeMap;

use serde::Serialize;

use super::draft::TIMER_AUTHORIZATION_EXPIRY;
use super::fee_refunds::fee_left;
use super::idempotency::{self, IdempotencyKey, Prepared};
use super::{Caller, Draft, ServiceError, Services};
use crate::domain::charges::{ApplicationFee, Charge, ChargeFlowKind, ChargeStatus, Transfer};
use crate::domain::refunds::{
    refund_amount, share_in_proportion, Refund, RefundReason, RefundRuleError, RefundStatus,
    ReversalOfTransfer,
};
use crate::ids::{AccountId, ChargeId, RefundId, TransferReversalId};
use crate::ledger::{
    BalanceTransactionType, Bucket, EntryBuilder, EntryKind, Holder, LedgerAccount, LineSpec,
};
use crate::money::MinorUnits;
use crate::store::{Condition, Key, Versioned};

/// A parsed `createRefund` input.
#[derive(Debug, Clone, Serialize)]
pub struct NewRefund {
    pub charge: ChargeId,
    pub amount: Option<MinorUnits>,
    pub reason: Option<RefundReason>,
    pub refund_application_fee: bool,
    pub reverse_transfer: bool,
}

fn money_error(context: &'static str) -> impl Fn(crate::money::MoneyError) -> ServiceError {
    move |error| ServiceError::internal(context, error)
}

/// The indexes a refund is listed under.
fn refund_indexes(refund: &Refund) -> Vec<String> {
    vec![
        "refunds".to_owned(),
        format!("refunds_charge:{}", refund.charge),
    ]
}

impl Services {
    pub fn refund(&self, caller: &Caller, id: &str) -> Result<Refund, ServiceError> {
        self.find::<Refund>(caller, id)?
            .map(|found| found.value)
            .ok_or_else(|| ServiceError::not_found("id", "refund", id))
    }

    pub async fn create_refund(
        &self,
        caller: &Caller,
        input: NewRefund,
        key: Option<IdempotencyKey>,
    ) -> Result<Refund, ServiceError> {
        let id = idempotency::run(self, caller, "createRefund", key.as_ref(), &input, || {
            self.prepare_refund(caller, &input)
        })
        .await?;
        self.refund(caller, &id)
    }

    /// Reads the charge to refund and checks who may refund it and with which flags.
    ///
    /// The flags move the platform's money (its application fee, its transfers), so only
    /// the platform that created the charge may use them: a request with a Connect-Account
    /// header acts as the connected account and may refund only that account's (direct)
    /// charges, without the flags. The platform itself, without the header, may refund any
    /// of its charges with the flags, including the direct charges it made on an account.
    fn refundable_charge(
        &self,
        caller: &Caller,
        input: &NewRefund,
    ) -> Result<Versioned<Charge>, ServiceError> {
        let not_found = || ServiceError::not_found("input.charge", "charge", input.charge.as_ref());
        let found = self
            .find::<Charge>(caller, input.charge.as_ref())?
            .ok_or_else(not_found)?;
        if let Some(account) = &caller.connect_account {
            if found.value.account.as_ref() != Some(account) {
                return Err(not_found());
            }
            for (used, param) in [
                (input.refund_application_fee, "input.refundApplicationFee"),
                (input.reverse_transfer, "input.reverseTransfer"),
            ] {
                if used {
                    return Err(ServiceError::forbidden(
                        Some(param),
                        format!("Only the platform that created {} may use {param}; send the request without Connect-Account", input.charge),
                    ));
                }
            }
        }
        let charge = &found.value;
        if charge.status == ChargeStatus::Failed {
            return Err(ServiceError::invalid(
                "input.charge",
                format!("{} failed and has nothing to refund", charge.id),
            ));
        }
        if charge.disputed {
            return Err(ServiceError::invalid(
                "input.charge",
                format!(
                    "{} has been disputed; the dispute decides what is returned",
                    charge.id
                ),
            ));
        }
        Ok(found)
    }

    fn prepare_refund(&self, caller: &Caller, input: &NewRefund) -> Result<Prepared, ServiceError> {
        let found = self.refundable_charge(caller, input)?;
        if !found.value.captured {
            return self.release_authorization(caller, input, found);
        }
        let revision = found.revision;
        let mut charge = found.value;
        let left = charge
            .amount_captured
            .checked_sub(charge.amount_refunded)
            .map_err(money_error("refund"))?;
        let amount = refund_amount(input.amount, left).map_err(|error| refusal(&charge, error))?;
        let after = left.checked_sub(amount).map_err(money_error("refund"))?;
        let now = self.clock.now(&caller.platform.id);
        let mut draft = Draft::new(&caller.platform.id, now);
        let id: RefundId = self.ids.next();
        let mut entry = EntryBuilder::new(
            &self.ids,
            &caller.platform.id,
            EntryKind::Refund,
            id.as_ref(),
            now,
        );
        // The money comes back from where the charge's money went.
        let bearer = match (&charge.flow, &charge.account) {
            (ChargeFlowKind::Direct, Some(account)) => Holder::Account(account.clone()),
            _ => Holder::Platform(caller.platform.id.clone()),
        };
        let balance_transaction = entry
            .line(LineSpec {
                holder: bearer,
                transaction_type: BalanceTransactionType::Refund,
                source_id: id.to_string(),
                currency: charge.currency,
                amount: -amount,
                fee_details: Vec::new(),
                available_on: None,
                description: None,
            })
            .map_err(|error| ServiceError::internal("refund entry", error))?;
        entry.system(Holder::CardNetwork, charge.currency, amount);
        let mut refund = Refund {
            id: id.clone(),
            charge: charge.id.clone(),
            currency: charge.currency,
            amount,
            status: RefundStatus::Succeeded,
            reason: input.reason,
            application_fee: None,
            application_fee_refund: None,
            transfer_reversals: Vec::new(),
            balance_transaction: Some(balance_transaction),
            created: now,
        };
        if input.reverse_transfer {
            self.reverse_transfers_in_proportion(
                caller,
                &charge,
                amount,
                after,
                &mut refund,
                &mut draft,
                &mut entry,
            )?;
        }
        if input.refund_application_fee {
            self.refund_fee_with_refund(
                caller,
                &charge,
                amount,
                after,
                &mut refund,
                &mut draft,
                &mut entry,
            )?;
        }
        draft.entry(
            entry
                .build()
                .map_err(|error| ServiceError::internal("refund entry", error))?,
        )?;
        charge.amount_refunded = charge
            .amount_refunded
            .checked_add(amount)
            .map_err(money_error("refund"))?;
        self.record_refund(&mut draft, &mut charge, revision, &refund)?;
        Ok(Prepared {
            draft,
            object_id: id.to_string(),
            error: None,
        })
    }

    /// Stores the refund, adds it to the charge and writes `charge.refunded`.
    fn record_refund(
        &self,
        draft: &mut Draft,
        charge: &mut Charge,
        revision: u64,
        refund: &Refund,
    ) -> Result<(), ServiceError> {
        charge.refunds.push(refund.id.clone());
        draft.update(charge.id.as_ref(), charge, revision)?;
        draft.insert(refund.id.as_ref(), refund, &refund_indexes(refund))?;
        let account = charge
            .account
            .clone()
            .or_else(|| charge.destination.clone());
        draft.event(&self.ids, "charge.refunded", account.as_ref(), charge)
    }

    /// Refunding an uncaptured charge releases its authorization whole: nothing moves.
    fn release_authorization(
        &self,
        caller: &Caller,
        input: &NewRefund,
        found: Versioned<Charge>,
    ) -> Result<Prepared, ServiceError> {
        let mut charge = found.value;
        let Some(expires_at) = charge.authorization_expires_at else {
            return Err(refusal(&charge, RefundRuleError::NothingLeft));
        };
        if input.amount.is_some_and(|amount| amount != charge.amount) {
            return Err(refusal(
                &charge,
                RefundRuleError::PartialRelease {
                    authorized: charge.amount,
                },
            ));
        }
        let now = self.clock.now(&caller.platform.id);
        let mut draft = Draft::new(&caller.platform.id, now);
        draft.delete(Key::timer(
            expires_at.timestamp_micros(),
            TIMER_AUTHORIZATION_EXPIRY,
            caller.platform.id.as_ref(),
            charge.id.as_ref(),
        ));
        charge.authorization_expires_at = None;
        charge.amount_refunded = charge.amount;
        let id: RefundId = self.ids.next();
        let refund = Refund {
            id: id.clone(),
            charge: charge.id.clone(),
            currency: charge.currency,
            amount: charge.amount,
            status: RefundStatus::Succeeded,
            reason: input.reason,
            application_fee: None,
            application_fee_refund: None,
            transfer_reversals: Vec::new(),
            balance_transaction: None,
            created: now,
        };
        self.record_refund(&mut draft, &mut charge, found.revision, &refund)?;
        Ok(Prepared {
            draft,
            object_id: id.to_string(),
            error: None,
        })
    }

    /// Reverses each of the charge's transfers in proportion to the amount refunded; all
    /// of what is left of them on the refund that leaves nothing of the charge.
    #[allow(clippy::too_many_arguments)]
    fn reverse_transfers_in_proportion(
        &self,
        caller: &Caller,
        charge: &Charge,
        amount: MinorUnits,
        after: MinorUnits,
        refund: &mut Refund,
        draft: &mut Draft,
        entry: &mut EntryBuilder<'_>,
    ) -> Result<(), ServiceError> {
        if charge.transfers.is_empty() {
            return Err(ServiceError::invalid(
                "input.reverseTransfer",
                format!("{} has no transfer to reverse", charge.id),
            ));
        }
        // What the reversals take from each account that must cover them: each reversal's
        // own condition sees the balance before the commit, so two reversals to one account
        // need their sum covered too.
        let mut covered: BTreeMap<AccountId, MinorUnits> = BTreeMap::new();
        for transfer_id in &charge.transfers {
            let found = self
                .find::<Transfer>(caller, transfer_id.as_ref())?
                .ok_or_else(|| {
                    ServiceError::internal("refund", format!("{transfer_id} missing"))
                })?;
            let share = share_in_proportion(
                found.value.amount,
                found.value.reversible(),
                amount,
                charge.amount_captured,
                after,
            )
            .map_err(money_error("reversal"))?;
            if share.is_zero() {
                continue;
            }
            if !found.value.for_destination_charge {
                let total = covered.entry(found.value.destination.clone()).or_default();
                *total = total.checked_add(share).map_err(money_error("reversal"))?;
            }
            let reversal: TransferReversalId = self.ids.next();
            self.reverse_transfer_into(&caller.platform.id, found, &reversal, share, draft, entry)?;
            refund.transfer_reversals.push(ReversalOfTransfer {
                transfer: transfer_id.clone(),
                reversal,
            });
        }
        for (account, total) in covered {
            draft.condition(
                Condition::BalanceAtLeast {
                    account: LedgerAccount::new(
                        Holder::Account(account.clone()),
                        charge.currency,
                        Bucket::Available,
                    ),
                    minimum_minor: total.get(),
                },
                ServiceError::insufficient_funds(format!(
                    "{account}'s available {} balance does not cover the reversals of {total}",
                    charge.currency
                )),
            );
        }
        Ok(())
    }

    /// Returns the application fee in proportion to the amount refunded; all of what is
    /// left of it on the refund that leaves nothing of the charge.
    #[allow(clippy::too_many_arguments)]
    fn refund_fee_with_refund(
        &self,
        caller: &Caller,
        charge: &Charge,
        amount: MinorUnits,
        after: MinorUnits,
        refund: &mut Refund,
        draft: &mut Draft,
        entry: &mut EntryBuilder<'_>,
    ) -> Result<(), ServiceError> {
        let Some(fee_id) = &charge.application_fee else {
            return Err(ServiceError::invalid(
                "input.refundApplicationFee",
                format!("{} has no application fee to refund", charge.id),
            ));
        };
        let found = self
            .find::<ApplicationFee>(caller, fee_id.as_ref())?
            .ok_or_else(|| ServiceError::internal("refund", format!("{fee_id} missing")))?;
        let share = share_in_proportion(
            found.value.amount,
            fee_left(&found.value)?,
            amount,
            charge.amount_captured,
            after,
        )
        .map_err(money_error("fee refund"))?;
        refund.application_fee = Some(fee_id.clone());
        if share.is_zero() {
            return Ok(());
        }
        let fee_refund =
            self.return_application_fee(&caller.platform.id, found, share, draft, entry)?;
        refund.application_fee_refund = Some(fee_refund);
        Ok(())
    }
}

/// The refusal of a refund amount, on the parameter that caused it.
fn refusal(charge: &Charge, error: RefundRuleError) -> ServiceError {
    match error {
        RefundRuleError::NothingLeft => ServiceError::invalid(
            "input.charge",
            format!("{} has nothing left to refund", charge.id),
        ),
        other => ServiceError::invalid("input.amount", format!("Refund of {}: {other}", charge.id)),
    }
}
