//! Refunds, account debits and negative balances on the wire.

use super::balance_transactions::balance_transaction_of;
use super::charges::require_account;
use async_graphql::{Context, Enum, Object, ID};

use super::accounts::AccountObject;
use super::balance_transactions::BalanceTransactionObject;
use super::charges::{ApplicationFeeRefundObject, ChargeObject, TransferReversalObject};
use super::money::MoneyObject;
use crate::domain::account_debits::AccountDebit;
use crate::domain::refunds::{Refund, RefundReason, RefundStatus};
use crate::graphql::context::{caller, services};
use crate::graphql::errors::GqlResult;
use crate::graphql::scalars::DateTimeScalar;
use crate::money::Money;
use crate::service::negative_balances::NegativeBalance;
use crate::service::transfers::StoredReversal;

#[derive(Enum, Clone, Copy, PartialEq, Eq, Debug)]
#[graphql(name = "RefundReason")]
pub enum RefundReasonEnum {
    Duplicate,
    Fraudulent,
    RequestedByCustomer,
}

impl From<RefundReasonEnum> for RefundReason {
    fn from(value: RefundReasonEnum) -> Self {
        match value {
            RefundReasonEnum::Duplicate => RefundReason::Duplicate,
            RefundReasonEnum::Fraudulent => RefundReason::Fraudulent,
            RefundReasonEnum::RequestedByCustomer => RefundReason::RequestedByCustomer,
        }
    }
}

impl From<RefundReason> for RefundReasonEnum {
    fn from(value: RefundReason) -> Self {
        match value {
            RefundReason::Duplicate => RefundReasonEnum::Duplicate,
            RefundReason::Fraudulent => RefundReasonEnum::Fraudulent,
            RefundReason::RequestedByCustomer => RefundReasonEnum::RequestedByCustomer,
        }
    }
}

#[derive(Enum, Clone, Copy, PartialEq, Eq, Debug)]
#[graphql(name = "RefundStatus")]
pub enum RefundStatusEnum {
    Pending,
    Succeeded,
    Failed,
}

impl From<RefundStatus> for RefundStatusEnum {
    fn from(value: RefundStatus) -> Self {
        match value {
            RefundStatus::Pending => RefundStatusEnum::Pending,
            RefundStatus::Succeeded => RefundStatusEnum::Succeeded,
            RefundStatus::Failed => RefundStatusEnum::Failed,
        }
    }
}

pub struct RefundObject(pub Refund);

#[Object(name = "Refund")]
impl RefundObject {
    /// re_…
    pub async fn id(&self) -> ID {
        ID(self.0.id.to_string())
    }

    async fn amount(&self) -> MoneyObject {
        Money::new(self.0.amount, self.0.currency).into()
    }

    async fn charge(&self, ctx: &Context<'_>) -> async_graphql::Result<ChargeObject> {
        services(ctx)
            .charge(caller(ctx)?, self.0.charge.as_ref())
            .map(ChargeObject)
            .gql()
    }

    async fn status(&self) -> RefundStatusEnum {
        self.0.status.into()
    }

    async fn reason(&self) -> Option<RefundReasonEnum> {
        self.0.reason.map(Into::into)
    }

    async fn application_fee_refund(
        &self,
        ctx: &Context<'_>,
    ) -> async_graphql::Result<Option<ApplicationFeeRefundObject>> {
        let Some(id) = &self.0.application_fee_refund else {
            return Ok(None);
        };
        let found = services(ctx).fee_refund(caller(ctx)?, id.as_ref()).gql()?;
        Ok(found.map(|(refund, fee)| ApplicationFeeRefundObject { refund, fee }))
    }

    /// The first (for a destination charge, the only) transfer reversed with the refund.
    async fn transfer_reversal(
        &self,
        ctx: &Context<'_>,
    ) -> async_graphql::Result<Option<TransferReversalObject>> {
        Ok(self.reversals(ctx, 1).await?.into_iter().next())
    }

    /// Every transfer reversed with the refund (a separate charge may have several).
    async fn transfer_reversals(
        &self,
        ctx: &Context<'_>,
    ) -> async_graphql::Result<Vec<TransferReversalObject>> {
        self.reversals(ctx, usize::MAX).await
    }

    /// The refund's balance transaction on whoever the money came back from; null when an
    /// authorization was released.
    async fn balance_transaction(
        &self,
        ctx: &Context<'_>,
    ) -> async_graphql::Result<Option<BalanceTransactionObject>> {
        balance_transaction_of(ctx, self.0.balance_transaction.as_ref())
    }

    async fn created(&self) -> DateTimeScalar {
        DateTimeScalar::output(self.0.created)
    }
}

impl RefundObject {
    async fn reversals(
        &self,
        ctx: &Context<'_>,
        limit: usize,
    ) -> async_graphql::Result<Vec<TransferReversalObject>> {
        let services = services(ctx);
        let caller = caller(ctx)?;
        let mut found = Vec::new();
        for reversal in self.0.transfer_reversals.iter().take(limit) {
            let Some(stored) = services
                .find::<StoredReversal>(caller, reversal.reversal.as_ref())
                .gql()?
            else {
                continue;
            };
            let transfer = services
                .transfer(caller, stored.value.transfer.as_ref())
                .gql()?;
            found.push(TransferReversalObject {
                reversal: stored.value.reversal,
                transfer,
            });
        }
        Ok(found)
    }
}

pub struct AccountDebitObject(pub AccountDebit);

#[Object(name = "AccountDebit")]
impl AccountDebitObject {
    /// py_… on the platform
    pub async fn id(&self) -> ID {
        ID(self.0.id.to_string())
    }

    async fn account(&self, ctx: &Context<'_>) -> async_graphql::Result<AccountObject> {
        require_account(ctx, &self.0.account).await
    }

    async fn amount(&self) -> MoneyObject {
        Money::new(self.0.amount, self.0.currency).into()
    }

    async fn description(&self) -> Option<&str> {
        self.0.description.as_deref()
    }

    /// The platform's ACCOUNT_DEBIT balance transaction.
    async fn balance_transaction(
        &self,
        ctx: &Context<'_>,
    ) -> async_graphql::Result<Option<BalanceTransactionObject>> {
        balance_transaction_of(ctx, self.0.balance_transaction.as_ref())
    }

    async fn created(&self) -> DateTimeScalar {
        DateTimeScalar::output(self.0.created)
    }
}

/// A connected account's available balance below zero, in one currency.
pub struct NegativeBalanceObject(pub NegativeBalance);

#[Object(name = "NegativeBalance")]
impl NegativeBalanceObject {
    async fn account(&self, ctx: &Context<'_>) -> async_graphql::Result<AccountObject> {
        require_account(ctx, &self.0.account).await
    }

    /// The available balance, below zero.
    async fn amount(&self) -> MoneyObject {
        self.0.available.into()
    }

    /// True for Express and Custom accounts: the platform covers the balance (it counts in
    /// the platform's reserved balance). A Standard account carries its own.
    async fn platform_liable(&self) -> bool {
        self.0.platform_liable
    }
}
