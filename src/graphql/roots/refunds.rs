//! Refunds, application fee refunds and account debits: queries, mutations and their inputs.

use async_graphql::{Context, InputObject, Object, ID};

use super::core::{optional_idempotency_key, parse_description};
use crate::graphql::context::{caller, services};
use crate::graphql::errors::GqlResult;
use crate::graphql::scalars::{CurrencyScalar, MinorUnitsScalar};
use crate::graphql::types::charges::ApplicationFeeRefundObject;
use crate::graphql::types::refunds::{AccountDebitObject, RefundObject, RefundReasonEnum};
use crate::ids::{AccountId, ApplicationFeeId, ChargeId, IdError, RefundId};
use crate::service::account_debits::NewAccountDebit;
use crate::service::fee_refunds::NewFeeRefund;
use crate::service::refunds::NewRefund;
use crate::service::ServiceError;

#[derive(InputObject)]
pub struct CreateRefundInput {
    pub charge: ID,
    /// Defaults to what is left to refund.
    pub amount: Option<MinorUnitsScalar>,
    pub reason: Option<RefundReasonEnum>,
    #[graphql(default_with = "Some(false)")]
    pub refund_application_fee: Option<bool>,
    #[graphql(default_with = "Some(false)")]
    pub reverse_transfer: Option<bool>,
    pub idempotency_key: Option<String>,
}

#[derive(InputObject)]
pub struct RefundApplicationFeeInput {
    pub fee: ID,
    pub amount: Option<MinorUnitsScalar>,
    pub idempotency_key: Option<String>,
}

#[derive(InputObject)]
pub struct CreateAccountDebitInput {
    pub account: ID,
    pub amount: MinorUnitsScalar,
    pub currency: CurrencyScalar,
    pub description: Option<String>,
    pub idempotency_key: Option<String>,
}

/// Parses an id argument of one type, naming the parameter on failure.
pub fn parse_id<T>(
    param: &str,
    id: &ID,
    parse: impl Fn(&str) -> Result<T, IdError>,
) -> Result<T, ServiceError> {
    parse(id).map_err(|error| ServiceError::id(param, error))
}

fn optional_amount(
    param: &str,
    amount: Option<MinorUnitsScalar>,
) -> Result<Option<crate::money::MinorUnits>, ServiceError> {
    amount.map(|amount| amount.to_amount(param)).transpose()
}

#[derive(Default)]
pub struct RefundsQuery;

#[Object]
impl RefundsQuery {
    async fn refund(
        &self,
        ctx: &Context<'_>,
        id: ID,
    ) -> async_graphql::Result<Option<RefundObject>> {
        parse_id("id", &id, RefundId::parse).gql()?;
        let found = services(ctx)
            .find_required::<crate::domain::refunds::Refund>(caller(ctx)?, &id, "id", "refund")
            .gql()?;
        Ok(Some(RefundObject(found.value)))
    }
}

#[derive(Default)]
pub struct RefundsMutation;

#[Object]
impl RefundsMutation {
    async fn create_refund(
        &self,
        ctx: &Context<'_>,
        input: CreateRefundInput,
    ) -> async_graphql::Result<RefundObject> {
        let CreateRefundInput {
            charge,
            amount,
            reason,
            refund_application_fee,
            reverse_transfer,
            idempotency_key,
        } = input;
        let refund = NewRefund {
            charge: parse_id("input.charge", &charge, ChargeId::parse).gql()?,
            amount: optional_amount("input.amount", amount).gql()?,
            reason: reason.map(Into::into),
            refund_application_fee: refund_application_fee.unwrap_or(false),
            reverse_transfer: reverse_transfer.unwrap_or(false),
        };
        let key = optional_idempotency_key(idempotency_key.as_deref()).gql()?;
        services(ctx)
            .create_refund(caller(ctx)?, refund, key)
            .await
            .map(RefundObject)
            .gql()
    }

    async fn refund_application_fee(
        &self,
        ctx: &Context<'_>,
        input: RefundApplicationFeeInput,
    ) -> async_graphql::Result<ApplicationFeeRefundObject> {
        let RefundApplicationFeeInput {
            fee,
            amount,
            idempotency_key,
        } = input;
        let refund = NewFeeRefund {
            fee: parse_id("input.fee", &fee, ApplicationFeeId::parse).gql()?,
            amount: optional_amount("input.amount", amount).gql()?,
        };
        let key = optional_idempotency_key(idempotency_key.as_deref()).gql()?;
        let (refund, fee) = services(ctx)
            .refund_application_fee(caller(ctx)?, refund, key)
            .await
            .gql()?;
        Ok(ApplicationFeeRefundObject { refund, fee })
    }

    async fn create_account_debit(
        &self,
        ctx: &Context<'_>,
        input: CreateAccountDebitInput,
    ) -> async_graphql::Result<AccountDebitObject> {
        let CreateAccountDebitInput {
            account,
            amount,
            currency,
            description,
            idempotency_key,
        } = input;
        let debit = NewAccountDebit {
            account: parse_id("input.account", &account, AccountId::parse).gql()?,
            amount: amount.to_amount("input.amount").gql()?,
            currency: currency.to_currency("input.currency").gql()?,
            description: parse_description("input.description", description).gql()?,
        };
        let key = optional_idempotency_key(idempotency_key.as_deref()).gql()?;
        services(ctx)
            .create_account_debit(caller(ctx)?, debit, key)
            .await
            .map(AccountDebitObject)
            .gql()
    }
}
