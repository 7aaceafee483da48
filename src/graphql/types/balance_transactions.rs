//! Balance transactions, their types and fee details on the wire.

use async_graphql::{Context, Enum, Object, SimpleObject, ID};

use crate::graphql::context::{caller, services};
use crate::graphql::errors::GqlResult;
use crate::ids::BalanceTransactionId;

use super::money::MoneyObject;
use crate::domain::balance_transactions::{BalanceTransaction, BalanceTransactionStatus};
use crate::graphql::scalars::DateTimeScalar;
use crate::ledger::{BalanceTransactionType, FeeDetail, FeeType};
use crate::money::Money;

#[derive(Enum, Clone, Copy, PartialEq, Eq)]
#[graphql(name = "BalanceTransactionType")]
pub enum BalanceTransactionTypeEnum {
    Charge,
    Payment,
    Refund,
    PaymentRefund,
    ApplicationFee,
    ApplicationFeeRefund,
    Transfer,
    TransferReversal,
    Payout,
    PayoutFailure,
    PayoutCancel,
    Dispute,
    DisputeReversal,
    AccountDebit,
    Topup,
    Adjustment,
}

impl From<BalanceTransactionType> for BalanceTransactionTypeEnum {
    fn from(value: BalanceTransactionType) -> Self {
        use BalanceTransactionType as T;
        match value {
            T::Charge => Self::Charge,
            T::Payment => Self::Payment,
            T::Refund => Self::Refund,
            T::PaymentRefund => Self::PaymentRefund,
            T::ApplicationFee => Self::ApplicationFee,
            T::ApplicationFeeRefund => Self::ApplicationFeeRefund,
            T::Transfer => Self::Transfer,
            T::TransferReversal => Self::TransferReversal,
            T::Payout => Self::Payout,
            T::PayoutFailure => Self::PayoutFailure,
            T::PayoutCancel => Self::PayoutCancel,
            T::Dispute => Self::Dispute,
            T::DisputeReversal => Self::DisputeReversal,
            T::AccountDebit => Self::AccountDebit,
            T::Topup => Self::Topup,
            T::Adjustment => Self::Adjustment,
        }
    }
}

impl From<BalanceTransactionTypeEnum> for BalanceTransactionType {
    fn from(value: BalanceTransactionTypeEnum) -> Self {
        use BalanceTransactionTypeEnum as T;
        match value {
            T::Charge => Self::Charge,
            T::Payment => Self::Payment,
            T::Refund => Self::Refund,
            T::PaymentRefund => Self::PaymentRefund,
            T::ApplicationFee => Self::ApplicationFee,
            T::ApplicationFeeRefund => Self::ApplicationFeeRefund,
            T::Transfer => Self::Transfer,
            T::TransferReversal => Self::TransferReversal,
            T::Payout => Self::Payout,
            T::PayoutFailure => Self::PayoutFailure,
            T::PayoutCancel => Self::PayoutCancel,
            T::Dispute => Self::Dispute,
            T::DisputeReversal => Self::DisputeReversal,
            T::AccountDebit => Self::AccountDebit,
            T::Topup => Self::Topup,
            T::Adjustment => Self::Adjustment,
        }
    }
}

#[derive(Enum, Clone, Copy, PartialEq, Eq)]
#[graphql(name = "BalanceTransactionStatus")]
pub enum BalanceTransactionStatusEnum {
    Pending,
    Available,
}

#[derive(Enum, Clone, Copy, PartialEq, Eq)]
#[graphql(name = "FeeType")]
pub enum FeeTypeEnum {
    ProcessingFee,
    ApplicationFee,
    InstantPayoutFee,
    DisputeFee,
}

impl From<FeeType> for FeeTypeEnum {
    fn from(value: FeeType) -> Self {
        match value {
            FeeType::ProcessingFee => FeeTypeEnum::ProcessingFee,
            FeeType::ApplicationFee => FeeTypeEnum::ApplicationFee,
            FeeType::InstantPayoutFee => FeeTypeEnum::InstantPayoutFee,
            FeeType::DisputeFee => FeeTypeEnum::DisputeFee,
        }
    }
}

#[derive(SimpleObject, Clone)]
#[graphql(name = "FeeDetail")]
pub struct FeeDetailObject {
    #[graphql(name = "type")]
    pub fee_type: FeeTypeEnum,
    pub amount: MoneyObject,
    pub description: Option<String>,
}

pub struct BalanceTransactionObject(pub BalanceTransaction);

#[Object(name = "BalanceTransaction")]
impl BalanceTransactionObject {
    /// txn_…
    pub async fn id(&self) -> ID {
        ID(self.0.id.to_string())
    }

    #[graphql(name = "type")]
    async fn transaction_type(&self) -> BalanceTransactionTypeEnum {
        self.0.transaction_type.into()
    }

    /// Gross amount: positive adds to the balance, negative takes from it.
    async fn amount(&self) -> MoneyObject {
        Money::new(self.0.amount, self.0.currency).into()
    }

    async fn fee(&self) -> MoneyObject {
        Money::new(self.0.fee, self.0.currency).into()
    }

    /// amount − fee
    async fn net(&self) -> MoneyObject {
        Money::new(self.0.net, self.0.currency).into()
    }

    async fn fee_details(&self) -> Vec<FeeDetailObject> {
        self.0
            .fee_details
            .iter()
            .map(|detail: &FeeDetail| FeeDetailObject {
                fee_type: detail.fee_type.into(),
                amount: Money::new(detail.amount, self.0.currency).into(),
                description: detail.description.clone(),
            })
            .collect()
    }

    async fn status(&self) -> BalanceTransactionStatusEnum {
        match self.0.status {
            BalanceTransactionStatus::Pending => BalanceTransactionStatusEnum::Pending,
            BalanceTransactionStatus::Available => BalanceTransactionStatusEnum::Available,
        }
    }

    async fn available_on(&self) -> DateTimeScalar {
        DateTimeScalar::output(self.0.available_on)
    }

    /// The id of the object that caused it: ch_…, py_…, tr_…, po_…, re_…
    async fn source_id(&self) -> ID {
        ID(self.0.source_id.clone())
    }

    async fn description(&self) -> Option<&str> {
        self.0.description.as_deref()
    }

    async fn created(&self) -> DateTimeScalar {
        DateTimeScalar::output(self.0.created)
    }
}

/// The caller's balance transactions with these ids, in order.
pub fn balance_transactions_of(
    ctx: &Context<'_>,
    ids: &[BalanceTransactionId],
) -> async_graphql::Result<Vec<BalanceTransactionObject>> {
    let services = services(ctx);
    let caller = caller(ctx)?;
    let mut found = Vec::with_capacity(ids.len());
    for id in ids {
        if let Some(transaction) = services
            .find::<BalanceTransaction>(caller, id.as_ref())
            .gql()?
        {
            found.push(BalanceTransactionObject(transaction.value));
        }
    }
    Ok(found)
}

/// The caller's balance transaction with this id, if any.
pub fn balance_transaction_of(
    ctx: &Context<'_>,
    id: Option<&BalanceTransactionId>,
) -> async_graphql::Result<Option<BalanceTransactionObject>> {
    let ids: Vec<BalanceTransactionId> = id.into_iter().cloned().collect();
    Ok(balance_transactions_of(ctx, &ids)?.into_iter().next())
}
