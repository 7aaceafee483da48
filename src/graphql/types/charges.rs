//! Charges, application fees, transfers, reversals and policy decisions on the wire.

use super::balance_transactions::balance_transaction_of;
use async_graphql::{Context, Enum, Object, SimpleObject, ID};

use super::accounts::AccountObject;
use super::balance_transactions::BalanceTransactionObject;
use super::disputes::DisputeObject;
use super::money::MoneyObject;
use super::refunds::RefundObject;
use crate::domain::charges::{
    ApplicationFee, Charge, ChargeFlowKind, ChargeStatus, FeeRefund, Pricing, Transfer,
    TransferReversal,
};
use crate::graphql::context::{caller, services};
use crate::graphql::errors::GqlResult;
use crate::graphql::loaders;
use crate::graphql::scalars::{DateTimeScalar, MetadataScalar};
use crate::ids::AccountId;
use crate::money::{Currency, Money};
use crate::service::ServiceError;

#[derive(Enum, Clone, Copy, PartialEq, Eq)]
#[graphql(name = "ChargeFlow")]
pub enum ChargeFlowEnum {
    /// Created on a connected account (request carries the Connect-Account header).
    Direct,
    /// Created on the platform with a destination account.
    Destination,
    /// Created on the platform; money reaches accounts by transfers (separate charges and transfers).
    Separate,
}

#[derive(Enum, Clone, Copy, PartialEq, Eq)]
#[graphql(name = "ChargeStatus")]
pub enum ChargeStatusEnum {
    Pending,
    Succeeded,
    Failed,
}

/// Reads one of the caller's accounts for a field that points at it.
async fn load_account(
    ctx: &Context<'_>,
    id: &AccountId,
) -> async_graphql::Result<Option<AccountObject>> {
    let platform = caller(ctx)?.platform_key();
    Ok(loaders::account(ctx, &platform, id.as_ref())
        .await?
        .map(AccountObject))
}

/// One of the caller's accounts, which must exist (an object points at it).
pub(crate) async fn require_account(
    ctx: &Context<'_>,
    id: &AccountId,
) -> async_graphql::Result<AccountObject> {
    load_account(ctx, id).await?.ok_or_else(|| {
        crate::graphql::errors::to_graphql(ServiceError::internal(
            "account",
            format!("{id} missing"),
        ))
    })
}

pub struct ChargeObject(pub Charge);

#[Object(name = "Charge")]
impl ChargeObject {
    /// ch_… on the account that holds it; a destination charge's payment on the destination is py_…
    pub async fn id(&self) -> ID {
        ID(self.0.id.to_string())
    }

    async fn flow(&self) -> ChargeFlowEnum {
        match self.0.flow {
            ChargeFlowKind::Direct => ChargeFlowEnum::Direct,
            ChargeFlowKind::Destination => ChargeFlowEnum::Destination,
            ChargeFlowKind::Separate => ChargeFlowEnum::Separate,
        }
    }

    async fn status(&self) -> ChargeStatusEnum {
        match self.0.status {
            ChargeStatus::Pending => ChargeStatusEnum::Pending,
            ChargeStatus::Succeeded => ChargeStatusEnum::Succeeded,
            ChargeStatus::Failed => ChargeStatusEnum::Failed,
        }
    }

    async fn amount(&self) -> MoneyObject {
        self.0.money(self.0.amount).into()
    }

    async fn amount_captured(&self) -> MoneyObject {
        self.0.money(self.0.amount_captured).into()
    }

    async fn amount_refunded(&self) -> MoneyObject {
        self.0.money(self.0.amount_refunded).into()
    }

    async fn captured(&self) -> bool {
        self.0.captured
    }

    async fn refunded(&self) -> bool {
        self.0.refunded()
    }

    async fn disputed(&self) -> bool {
        self.0.disputed
    }

    async fn payment_method(&self) -> &str {
        &self.0.payment_method
    }

    async fn failure_code(&self) -> Option<&str> {
        self.0.failure_code.as_deref()
    }

    async fn failure_message(&self) -> Option<&str> {
        self.0.failure_message.as_deref()
    }

    /// The connected account the charge is on (DIRECT), else null.
    async fn account(&self, ctx: &Context<'_>) -> async_graphql::Result<Option<AccountObject>> {
        match &self.0.account {
            Some(id) => load_account(ctx, id).await,
            None => Ok(None),
        }
    }

    async fn on_behalf_of(
        &self,
        ctx: &Context<'_>,
    ) -> async_graphql::Result<Option<AccountObject>> {
        match &self.0.on_behalf_of {
            Some(id) => load_account(ctx, id).await,
            None => Ok(None),
        }
    }

    async fn destination(&self, ctx: &Context<'_>) -> async_graphql::Result<Option<AccountObject>> {
        match &self.0.destination {
            Some(id) => load_account(ctx, id).await,
            None => Ok(None),
        }
    }

    /// A destination charge's payment on the destination account (py_…).
    async fn destination_payment(&self) -> Option<ID> {
        self.0
            .destination_payment
            .as_ref()
            .map(|id| ID(id.to_string()))
    }

    async fn application_fee(
        &self,
        ctx: &Context<'_>,
    ) -> async_graphql::Result<Option<ApplicationFeeObject>> {
        let Some(id) = &self.0.application_fee else {
            return Ok(None);
        };
        let found = services(ctx)
            .find::<ApplicationFee>(caller(ctx)?, id.as_ref())
            .gql()?;
        Ok(found.map(|found| ApplicationFeeObject(found.value)))
    }

    async fn processing_fee(&self) -> MoneyObject {
        self.0.money(self.0.pricing.processing_fee).into()
    }

    async fn pricing(&self) -> PolicyDecisionObject {
        PolicyDecisionObject {
            pricing: self.0.pricing.clone(),
            currency: self.0.currency,
        }
    }

    async fn transfers(&self, ctx: &Context<'_>) -> async_graphql::Result<Vec<TransferObject>> {
        let platform = caller(ctx)?.platform_key();
        let ids: Vec<String> = self.0.transfers.iter().map(ToString::to_string).collect();
        let transfers = loaders::transfers(ctx, &platform, &ids).await?;
        Ok(transfers.into_iter().map(TransferObject).collect())
    }

    async fn transfer_group(&self) -> Option<&str> {
        self.0.transfer_group.as_deref()
    }

    async fn refunds(&self, ctx: &Context<'_>) -> async_graphql::Result<Vec<RefundObject>> {
        super::charge_links::refunds(ctx, &self.0).await
    }

    async fn dispute(&self, ctx: &Context<'_>) -> async_graphql::Result<Option<DisputeObject>> {
        super::charge_links::dispute(ctx, &self.0).await
    }

    async fn balance_transaction(
        &self,
        ctx: &Context<'_>,
    ) -> async_graphql::Result<Option<BalanceTransactionObject>> {
        balance_transaction_of(ctx, self.0.balance_transaction.as_ref())
    }

    async fn description(&self) -> Option<&str> {
        self.0.description.as_deref()
    }

    async fn metadata(&self) -> MetadataScalar {
        MetadataScalar::output(&self.0.metadata)
    }

    async fn created(&self) -> DateTimeScalar {
        DateTimeScalar::output(self.0.created)
    }
}

/// What a policy decided for a charge, or would decide (previewCharge).
pub struct PolicyDecisionObject {
    pub pricing: Pricing,
    pub currency: Currency,
}

#[derive(SimpleObject)]
#[graphql(name = "Split")]
pub struct SplitObject {
    pub destination: AccountObject,
    pub amount: MoneyObject,
}

#[Object(name = "PolicyDecision")]
impl PolicyDecisionObject {
    async fn policy(&self) -> &str {
        &self.pricing.policy
    }

    async fn version(&self) -> &str {
        &self.pricing.version
    }

    /// The version of gateway.rhai that priced the processing fee.
    async fn gateway_version(&self) -> &str {
        &self.pricing.gateway_version
    }

    async fn processing_fee(&self) -> MoneyObject {
        Money::new(self.pricing.processing_fee, self.currency).into()
    }

    async fn application_fee(&self) -> Option<MoneyObject> {
        self.pricing
            .application_fee
            .map(|fee| Money::new(fee, self.currency).into())
    }

    /// True when the application fee came from the request, not from the policy.
    async fn application_fee_from_request(&self) -> bool {
        self.pricing.application_fee_from_request
    }

    async fn splits(&self, ctx: &Context<'_>) -> async_graphql::Result<Vec<SplitObject>> {
        let mut splits = Vec::with_capacity(self.pricing.splits.len());
        for split in &self.pricing.splits {
            splits.push(SplitObject {
                destination: require_account(ctx, &split.destination).await?,
                amount: Money::new(split.amount, self.currency).into(),
            });
        }
        Ok(splits)
    }

    /// The exact script that made this decision, read back by its version.
    async fn source(&self, ctx: &Context<'_>) -> async_graphql::Result<Option<String>> {
        services(ctx).policy_source(&self.pricing.version).gql()
    }

    /// How long the funds are held before they become available.
    async fn hold_days(&self) -> i32 {
        i32::try_from(self.pricing.hold_days).unwrap_or(i32::MAX)
    }

    /// Direct charges: whether the platform pays the processing fee.
    async fn platform_pays_processing_fee(&self) -> bool {
        self.pricing.platform_pays_processing_fee
    }
}

pub struct ApplicationFeeObject(pub ApplicationFee);

#[Object(name = "ApplicationFee")]
impl ApplicationFeeObject {
    /// fee_…
    pub async fn id(&self) -> ID {
        ID(self.0.id.to_string())
    }

    async fn amount(&self) -> MoneyObject {
        Money::new(self.0.amount, self.0.currency).into()
    }

    async fn amount_refunded(&self) -> MoneyObject {
        Money::new(self.0.amount_refunded, self.0.currency).into()
    }

    async fn refunded(&self) -> bool {
        self.0.amount_refunded == self.0.amount
    }

    /// The connected account the fee was taken from.
    async fn account(&self, ctx: &Context<'_>) -> async_graphql::Result<AccountObject> {
        require_account(ctx, &self.0.account).await
    }

    async fn charge(&self, ctx: &Context<'_>) -> async_graphql::Result<ChargeObject> {
        services(ctx)
            .charge(caller(ctx)?, self.0.charge.as_ref())
            .map(ChargeObject)
            .gql()
    }

    async fn refunds(&self) -> Vec<ApplicationFeeRefundObject> {
        self.0
            .refunds
            .iter()
            .map(|refund| ApplicationFeeRefundObject {
                refund: refund.clone(),
                fee: self.0.clone(),
            })
            .collect()
    }

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

pub struct ApplicationFeeRefundObject {
    pub refund: FeeRefund,
    pub fee: ApplicationFee,
}

#[Object(name = "ApplicationFeeRefund")]
impl ApplicationFeeRefundObject {
    /// fr_…
    async fn id(&self) -> ID {
        ID(self.refund.id.to_string())
    }

    async fn amount(&self) -> MoneyObject {
        Money::new(self.refund.amount, self.fee.currency).into()
    }

    async fn fee(&self) -> ApplicationFeeObject {
        ApplicationFeeObject(self.fee.clone())
    }

    async fn created(&self) -> DateTimeScalar {
        DateTimeScalar::output(self.refund.created)
    }
}

pub struct TransferObject(pub Transfer);

#[Object(name = "Transfer")]
impl TransferObject {
    /// tr_…
    pub async fn id(&self) -> ID {
        ID(self.0.id.to_string())
    }

    async fn amount(&self) -> MoneyObject {
        Money::new(self.0.amount, self.0.currency).into()
    }

    async fn amount_reversed(&self) -> MoneyObject {
        Money::new(self.0.amount_reversed, self.0.currency).into()
    }

    async fn reversed(&self) -> bool {
        self.0.amount_reversed == self.0.amount
    }

    async fn destination(&self, ctx: &Context<'_>) -> async_graphql::Result<AccountObject> {
        require_account(ctx, &self.0.destination).await
    }

    /// The payment the transfer created on the destination (py_…).
    async fn destination_payment(&self) -> ID {
        ID(self.0.destination_payment.to_string())
    }

    async fn source_charge(
        &self,
        ctx: &Context<'_>,
    ) -> async_graphql::Result<Option<ChargeObject>> {
        let Some(id) = &self.0.source_charge else {
            return Ok(None);
        };
        // Out of the caller's scope (a platform charge seen by the account it paid), the
        // source is not shown.
        let found = services(ctx)
            .find::<Charge>(caller(ctx)?, id.as_ref())
            .gql()?;
        Ok(found.map(|found| ChargeObject(found.value)))
    }

    async fn transfer_group(&self) -> Option<&str> {
        self.0.transfer_group.as_deref()
    }

    async fn reversals(&self) -> Vec<TransferReversalObject> {
        self.0
            .reversals
            .iter()
            .map(|reversal| TransferReversalObject {
                reversal: reversal.clone(),
                transfer: self.0.clone(),
            })
            .collect()
    }

    async fn description(&self) -> Option<&str> {
        self.0.description.as_deref()
    }

    async fn metadata(&self) -> MetadataScalar {
        MetadataScalar::output(&self.0.metadata)
    }

    async fn created(&self) -> DateTimeScalar {
        DateTimeScalar::output(self.0.created)
    }
}

pub struct TransferReversalObject {
    pub reversal: TransferReversal,
    pub transfer: Transfer,
}

#[Object(name = "TransferReversal")]
impl TransferReversalObject {
    /// trr_…
    async fn id(&self) -> ID {
        ID(self.reversal.id.to_string())
    }

    async fn amount(&self) -> MoneyObject {
        Money::new(self.reversal.amount, self.transfer.currency).into()
    }

    async fn transfer(&self) -> TransferObject {
        TransferObject(self.transfer.clone())
    }

    async fn created(&self) -> DateTimeScalar {
        DateTimeScalar::output(self.reversal.created)
    }
}
