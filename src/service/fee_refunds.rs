//! Application fee refunds: on their own (`refundApplicationFee`), and in proportion with a
//! refund or a transfer reversal. The money goes back to the account the fee was taken from.

use serde::Serialize;

use super::idempotency::{self, IdempotencyKey, Prepared};
use super::{Caller, Draft, ServiceError, Services};
use crate::domain::charges::{ApplicationFee, FeeRefund};
use crate::domain::refunds::{refund_amount, FeeRefundRecord, RefundRuleError};
use crate::ids::{ApplicationFeeId, FeeRefundId, PlatformId};
use crate::ledger::{BalanceTransactionType, EntryBuilder, EntryKind, Holder, LineSpec};
use crate::money::MinorUnits;
use crate::store::Versioned;

/// A parsed `refundApplicationFee` input.
#[derive(Debug, Clone, Serialize)]
pub struct NewFeeRefund {
    pub fee: ApplicationFeeId,
    pub amount: Option<MinorUnits>,
}

/// What is left of a fee to refund.
pub fn fee_left(fee: &ApplicationFee) -> Result<MinorUnits, ServiceError> {
    fee.amount
        .checked_sub(fee.amount_refunded)
        .map_err(|error| ServiceError::internal("fee left", error))
}

impl Services {
    pub async fn refund_application_fee(
        &self,
        caller: &Caller,
        input: NewFeeRefund,
        key: Option<IdempotencyKey>,
    ) -> Result<(FeeRefund, ApplicationFee), ServiceError> {
        if caller.connect_account.is_some() {
            return Err(ServiceError::forbidden(
                Some("Connect-Account"),
                "Only the platform that took an application fee may refund it; send the request without Connect-Account",
            ));
        }
        let id = idempotency::run(
            self,
            caller,
            "refundApplicationFee",
            key.as_ref(),
            &input,
            || self.prepare_fee_refund(caller, &input),
        )
        .await?;
        self.fee_refund(caller, &id)?
            .ok_or_else(|| ServiceError::internal("fee refund", format!("{id} missing")))
    }

    /// An application fee refund by its id, with its fee.
    pub fn fee_refund(
        &self,
        caller: &Caller,
        id: &str,
    ) -> Result<Option<(FeeRefund, ApplicationFee)>, ServiceError> {
        let Some(record) = self.find::<FeeRefundRecord>(caller, id)? else {
            return Ok(None);
        };
        let Some(fee) = self.find::<ApplicationFee>(caller, record.value.fee.as_ref())? else {
            return Ok(None);
        };
        let fee = fee.value;
        let refund = fee
            .refunds
            .iter()
            .find(|refund| refund.id.as_ref() == id)
            .cloned();
        Ok(refund.map(|refund| (refund, fee)))
    }

    fn prepare_fee_refund(
        &self,
        caller: &Caller,
        input: &NewFeeRefund,
    ) -> Result<Prepared, ServiceError> {
        let found = self
            .find::<ApplicationFee>(caller, input.fee.as_ref())?
            .ok_or_else(|| {
                ServiceError::not_found("input.fee", "application fee", input.fee.as_ref())
            })?;
        let left = fee_left(&found.value)?;
        let amount = refund_amount(input.amount, left).map_err(|error| match error {
            RefundRuleError::NothingLeft => ServiceError::invalid(
                "input.fee",
                format!("{} has been refunded in full", input.fee),
            ),
            other => ServiceError::invalid("input.amount", format!("The fee refund: {other}")),
        })?;
        let now = self.clock.now(&caller.platform.id);
        let mut draft = Draft::new(&caller.platform.id, now);
        let mut entry = EntryBuilder::new(
            &self.ids,
            &caller.platform.id,
            EntryKind::ApplicationFeeRefund,
            input.fee.as_ref(),
            now,
        );
        let refund_id = self.return_application_fee(
            &caller.platform.id,
            found,
            amount,
            &mut draft,
            &mut entry,
        )?;
        draft.entry(
            entry
                .build()
                .map_err(|error| ServiceError::internal("fee refund entry", error))?,
        )?;
        Ok(Prepared {
            draft,
            object_id: refund_id.to_string(),
            error: None,
        })
    }

    /// Returns `amount` of an application fee from the platform to the account it was taken
    /// from: the two lines go into `entry`, the refund is recorded on the fee, and the
    /// `application_fee.refunded` event is written.
    pub(super) fn return_application_fee(
        &self,
        platform: &PlatformId,
        found: Versioned<ApplicationFee>,
        amount: MinorUnits,
        draft: &mut Draft,
        entry: &mut EntryBuilder<'_>,
    ) -> Result<FeeRefundId, ServiceError> {
        let mut fee = found.value;
        let refund_id: FeeRefundId = self.ids.next();
        let ledger_error = |error| ServiceError::internal("fee refund entry", error);
        let line = |holder: Holder, amount: MinorUnits| LineSpec {
            holder,
            transaction_type: BalanceTransactionType::ApplicationFeeRefund,
            source_id: refund_id.to_string(),
            currency: fee.currency,
            amount,
            fee_details: Vec::new(),
            available_on: None,
            description: None,
        };
        entry
            .line(line(Holder::Platform(platform.clone()), -amount))
            .map_err(ledger_error)?;
        entry
            .line(line(Holder::Account(fee.account.clone()), amount))
            .map_err(ledger_error)?;
        fee.amount_refunded = fee
            .amount_refunded
            .checked_add(amount)
            .map_err(|error| ServiceError::internal("fee", error))?;
        fee.refunds.push(FeeRefund {
            id: refund_id.clone(),
            amount,
            created: draft.now(),
        });
        draft.update(fee.id.as_ref(), &fee, found.revision)?;
        draft.insert(
            refund_id.as_ref(),
            &FeeRefundRecord {
                fee: fee.id.clone(),
            },
            &[],
        )?;
        draft.event(
            &self.ids,
            "application_fee.refunded",
            Some(&fee.account),
            &fee,
        )?;
        Ok(refund_id)
    }
}
