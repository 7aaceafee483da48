//! Transfers from the platform to connected accounts, drawn on a charge or on the
//! platform's available balance, and their reversals.

use serde::Serialize;

use super::charges::transfer_indexes;
use super::fee_refunds::fee_left;
use super::idempotency::{self, IdempotencyKey, Prepared};
use super::{Caller, Draft, ServiceError, Services};
use crate::domain::account_record::AccountRecord;
use crate::domain::charges::{ApplicationFee, Charge, ChargeStatus, Transfer, TransferReversal};
use crate::domain::refunds::share_in_proportion;
use crate::ids::{AccountId, ChargeId, PaymentId, PlatformId, TransferId, TransferReversalId};
use crate::ledger::flows::{standalone_transfer_lines, TransferLeg};
use crate::ledger::{
    BalanceTransactionType, Bucket, EntryBuilder, EntryKind, Holder, LedgerAccount, LineSpec,
};
use crate::money::{Currency, MinorUnits};
use crate::store::{Condition, Versioned};

/// A parsed `createTransfer` input.
#[derive(Debug, Clone, Serialize)]
pub struct NewTransfer {
    pub amount: MinorUnits,
    pub currency: Currency,
    pub destination: AccountId,
    pub source_transaction: Option<ChargeId>,
    pub transfer_group: Option<String>,
    pub description: Option<String>,
    pub metadata: std::collections::BTreeMap<String, String>,
}

/// A parsed `createTransferReversal` input.
#[derive(Debug, Clone, Serialize)]
pub struct NewTransferReversal {
    pub transfer: TransferId,
    pub amount: Option<MinorUnits>,
    pub refund_application_fee: bool,
}

/// A stored reversal with the transfer it belongs to, so it can be read back by its id.
#[derive(Debug, Clone, Serialize, serde::Deserialize)]
pub struct StoredReversal {
    pub reversal: TransferReversal,
    pub transfer: TransferId,
}

fn internal(context: &'static str) -> impl Fn(crate::money::MoneyError) -> ServiceError {
    move |error| ServiceError::internal(context, error)
}

impl Services {
    pub fn transfer(&self, caller: &Caller, id: &str) -> Result<Transfer, ServiceError> {
        self.find::<Transfer>(caller, id)?
            .map(|found| found.value)
            .ok_or_else(|| ServiceError::not_found("id", "transfer", id))
    }

    pub async fn create_transfer(
        &self,
        caller: &Caller,
        input: NewTransfer,
        key: Option<IdempotencyKey>,
    ) -> Result<Transfer, ServiceError> {
        if caller.connect_account.is_some() {
            return Err(ServiceError::invalid(
                "Connect-Account",
                "Transfers are made by the platform; send the request without Connect-Account",
            ));
        }
        let id = idempotency::run(self, caller, "createTransfer", key.as_ref(), &input, || {
            self.prepare_transfer(caller, &input)
        })
        .await?;
        self.transfer(caller, &id)
    }

    fn prepare_transfer(
        &self,
        caller: &Caller,
        input: &NewTransfer,
    ) -> Result<Prepared, ServiceError> {
        let destination: AccountRecord = self
            .account_named(caller, &input.destination, "input.destination")?
            .value;
        if !destination.transfers_active() {
            return Err(ServiceError::AccountRestricted {
                message: format!(
                    "{} cannot receive transfers: its TRANSFERS capability is not active",
                    input.destination
                ),
                account: input.destination.to_string(),
                param: Some("input.destination".to_owned()),
            });
        }
        let now = self.clock.now(&caller.platform.id);
        let mut draft = Draft::new(&caller.platform.id, now);
        let platform = Holder::Platform(caller.platform.id.clone());
        let (available_on, source) = match &input.source_transaction {
            Some(source) => {
                let found = self
                    .find::<Charge>(caller, source.as_ref())?
                    .ok_or_else(|| {
                        ServiceError::not_found(
                            "input.sourceTransaction",
                            "charge",
                            source.as_ref(),
                        )
                    })?;
                let mut charge = found.value;
                if charge.account.is_some()
                    || charge.status != ChargeStatus::Succeeded
                    || !charge.captured
                {
                    return Err(ServiceError::invalid(
                        "input.sourceTransaction",
                        format!("{source} is not a captured charge on the platform"),
                    ));
                }
                if charge.currency != input.currency {
                    return Err(ServiceError::invalid(
                        "input.currency",
                        format!(
                            "The transfer's currency {} differs from its source charge's {}",
                            input.currency, charge.currency
                        ),
                    ));
                }
                if input.amount > charge.transferable() {
                    return Err(ServiceError::invalid(
                        "input.amount",
                        format!(
                            "The transfer amount {} is more than what is left of {source}: {}",
                            input.amount,
                            charge.transferable()
                        ),
                    ));
                }
                charge.amount_transferred = charge
                    .amount_transferred
                    .checked_add(input.amount)
                    .map_err(internal("transfer"))?;
                let available_on = charge.available_on.filter(|date| *date > now);
                (available_on, Some((charge, found.revision)))
            }
            None => {
                // The reserve against connected accounts' negative balances stays withheld.
                let (minimum, reserve) = self.platform_minimum_available(
                    &caller.platform.id,
                    input.currency,
                    input.amount,
                )?;
                let withheld = if reserve.is_zero() {
                    String::new()
                } else {
                    format!(" less its reserve of {reserve} (held against connected accounts' negative balances)")
                };
                draft.condition(
                    Condition::BalanceAtLeast {
                        account: LedgerAccount::new(platform.clone(), input.currency, Bucket::Available),
                        minimum_minor: minimum.get(),
                    },
                    ServiceError::insufficient_funds(format!(
                        "The platform's available {} balance{withheld} is less than the transfer amount {}; use sourceTransaction to draw on a charge's pending funds",
                        input.currency, input.amount
                    )),
                );
                (None, None)
            }
        };
        let id: TransferId = self.ids.next();
        let payment: PaymentId = self.ids.next();
        let leg = TransferLeg {
            destination: input.destination.clone(),
            transfer_id: id.to_string(),
            payment_id: payment.to_string(),
            amount: input.amount,
        };
        let mut entry = EntryBuilder::new(
            &self.ids,
            &caller.platform.id,
            EntryKind::Transfer,
            id.as_ref(),
            now,
        );
        standalone_transfer_lines(
            &mut entry,
            &caller.platform.id,
            input.currency,
            &leg,
            available_on,
            input.description.clone(),
        )
        .map_err(|error| ServiceError::internal("transfer entry", error))?;
        draft.entry(
            entry
                .build()
                .map_err(|error| ServiceError::internal("transfer entry", error))?,
        )?;
        if let Some((mut charge, revision)) = source {
            charge.transfers.push(id.clone());
            draft.update(charge.id.as_ref(), &charge, revision)?;
        }
        let transfer = Transfer {
            id: id.clone(),
            currency: input.currency,
            amount: input.amount,
            amount_reversed: MinorUnits::ZERO,
            destination: input.destination.clone(),
            destination_payment: payment,
            source_charge: input.source_transaction.clone(),
            for_destination_charge: false,
            transfer_group: input.transfer_group.clone(),
            reversals: Vec::new(),
            description: input.description.clone(),
            metadata: input.metadata.clone(),
            available_on,
            created: now,
        };
        draft.insert(id.as_ref(), &transfer, &transfer_indexes(&transfer))?;
        draft.event(
            &self.ids,
            "transfer.created",
            Some(&transfer.destination),
            &transfer,
        )?;
        Ok(Prepared {
            draft,
            object_id: id.to_string(),
            error: None,
        })
    }

    pub async fn create_transfer_reversal(
        &self,
        caller: &Caller,
        input: NewTransferReversal,
        key: Option<IdempotencyKey>,
    ) -> Result<StoredReversal, ServiceError> {
        let id = idempotency::run(
            self,
            caller,
            "createTransferReversal",
            key.as_ref(),
            &input,
            || self.prepare_reversal(caller, &input),
        )
        .await?;
        self.find::<StoredReversal>(caller, &id)?
            .map(|found| found.value)
            .ok_or_else(|| ServiceError::internal("reversal", format!("{id} missing after commit")))
    }

    fn prepare_reversal(
        &self,
        caller: &Caller,
        input: &NewTransferReversal,
    ) -> Result<Prepared, ServiceError> {
        let found = self
            .find::<Transfer>(caller, input.transfer.as_ref())?
            .ok_or_else(|| {
                ServiceError::not_found("input.transfer", "transfer", input.transfer.as_ref())
            })?;
        let before = found.value.clone();
        let left = before.reversible();
        let amount = input.amount.unwrap_or(left);
        if amount.is_zero() || amount > left {
            return Err(ServiceError::invalid(
                "input.amount",
                format!(
                    "The reversal amount {amount} is more than what is left of {}: {left}",
                    before.id
                ),
            ));
        }
        let now = self.clock.now(&caller.platform.id);
        let mut draft = Draft::new(&caller.platform.id, now);
        let reversal_id: TransferReversalId = self.ids.next();
        let mut entry = EntryBuilder::new(
            &self.ids,
            &caller.platform.id,
            EntryKind::TransferReversal,
            reversal_id.as_ref(),
            now,
        );
        self.reverse_transfer_into(
            &caller.platform.id,
            found,
            &reversal_id,
            amount,
            &mut draft,
            &mut entry,
        )?;
        if input.refund_application_fee {
            self.refund_fee_in_proportion(caller, &before, amount, &mut draft, &mut entry)?;
        }
        draft.entry(
            entry
                .build()
                .map_err(|error| ServiceError::internal("reversal entry", error))?,
        )?;
        Ok(Prepared {
            draft,
            object_id: reversal_id.to_string(),
            error: None,
        })
    }

    /// Reverses `amount` of a transfer: the platform's TRANSFER_REVERSAL and the
    /// destination's PAYMENT_REFUND go into `entry`; the reversal is recorded on the
    /// transfer and stored under its id. A transfer that is not a destination charge's may
    /// be reversed only as far as the destination's available balance covers it.
    pub(super) fn reverse_transfer_into(
        &self,
        platform: &PlatformId,
        found: Versioned<Transfer>,
        reversal_id: &TransferReversalId,
        amount: MinorUnits,
        draft: &mut Draft,
        entry: &mut EntryBuilder<'_>,
    ) -> Result<Transfer, ServiceError> {
        let mut transfer = found.value;
        let destination = Holder::Account(transfer.destination.clone());
        if !transfer.for_destination_charge {
            draft.condition(
                Condition::BalanceAtLeast {
                    account: LedgerAccount::new(
                        destination.clone(),
                        transfer.currency,
                        Bucket::Available,
                    ),
                    minimum_minor: amount.get(),
                },
                ServiceError::insufficient_funds(format!(
                    "{}'s available {} balance does not cover the reversal of {amount}",
                    transfer.destination, transfer.currency
                )),
            );
        }
        let line = |holder: Holder, transaction_type, amount: MinorUnits| LineSpec {
            holder,
            transaction_type,
            source_id: reversal_id.to_string(),
            currency: transfer.currency,
            amount,
            fee_details: Vec::new(),
            available_on: None,
            description: None,
        };
        let ledger_error = |error| ServiceError::internal("reversal entry", error);
        entry
            .line(line(
                Holder::Platform(platform.clone()),
                BalanceTransactionType::TransferReversal,
                amount,
            ))
            .map_err(ledger_error)?;
        entry
            .line(line(
                destination,
                BalanceTransactionType::PaymentRefund,
                -amount,
            ))
            .map_err(ledger_error)?;
        let reversal = TransferReversal {
            id: reversal_id.clone(),
            amount,
            created: draft.now(),
        };
        transfer.amount_reversed = transfer
            .amount_reversed
            .checked_add(amount)
            .map_err(internal("reversal"))?;
        transfer.reversals.push(reversal.clone());
        draft.update(transfer.id.as_ref(), &transfer, found.revision)?;
        draft.insert(
            reversal_id.as_ref(),
            &StoredReversal {
                reversal,
                transfer: transfer.id.clone(),
            },
            &[],
        )?;
        draft.event(
            &self.ids,
            "transfer.reversed",
            Some(&transfer.destination),
            &transfer,
        )?;
        Ok(transfer)
    }

    /// Returns the application fee of a destination charge's transfer in proportion to the
    /// amount reversed (all of what is left when the transfer is wholly reversed).
    fn refund_fee_in_proportion(
        &self,
        caller: &Caller,
        transfer: &Transfer,
        reversed: MinorUnits,
        draft: &mut Draft,
        entry: &mut EntryBuilder<'_>,
    ) -> Result<(), ServiceError> {
        let refusal = || {
            ServiceError::invalid(
                "input.refundApplicationFee",
                format!(
                    "{} is not the transfer of a destination charge with an application fee",
                    transfer.id
                ),
            )
        };
        let charge_id = transfer
            .source_charge
            .as_ref()
            .filter(|_| transfer.for_destination_charge)
            .ok_or_else(refusal)?;
        let charge = self.charge(caller, charge_id.as_ref())?;
        let fee_id = charge.application_fee.ok_or_else(refusal)?;
        let found = self
            .find::<ApplicationFee>(caller, fee_id.as_ref())?
            .ok_or_else(|| {
                ServiceError::internal("application fee", format!("{fee_id} missing"))
            })?;
        let after = transfer
            .reversible()
            .checked_sub(reversed)
            .map_err(internal("fee"))?;
        let share = share_in_proportion(
            found.value.amount,
            fee_left(&found.value)?,
            reversed,
            transfer.amount,
            after,
        )
        .map_err(internal("fee"))?;
        if share.is_zero() {
            return Ok(());
        }
        self.return_application_fee(&caller.platform.id, found, share, draft, entry)?;
        Ok(())
    }
}
