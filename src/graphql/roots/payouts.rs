//! Payouts: the `payout` and `payouts` queries, `createPayout` and `cancelPayout`.

use async_graphql::connection::Connection;
use async_graphql::{Context, InputObject, Object, ID};

use super::core::{optional_account, optional_idempotency_key, parse_description};
use crate::graphql::context::{caller, connection, page_request, services};
use crate::graphql::errors::GqlResult;
use crate::graphql::scalars::{CurrencyScalar, MinorUnitsScalar};
use crate::graphql::types::payouts::{PayoutMethodEnum, PayoutObject, PayoutStatusEnum};
use crate::ids::{prefix_of, PayoutId};
use crate::service::payouts::{CancelPayout, NewPayout};
use crate::service::ServiceError;

/// The longest destination id accepted.
const MAX_DESTINATION_ID_CHARS: usize = 64;

#[derive(InputObject)]
pub struct CreatePayoutInput {
    /// Defaults to the account in the Connect-Account header, else the platform.
    pub account: Option<ID>,
    pub amount: MinorUnitsScalar,
    pub currency: CurrencyScalar,
    #[graphql(default_with = "Some(PayoutMethodEnum::Standard)")]
    pub method: Option<PayoutMethodEnum>,
    /// Defaults to the default external account for the currency.
    pub destination: Option<ID>,
    pub description: Option<String>,
    pub idempotency_key: Option<String>,
}

#[derive(InputObject)]
pub struct CancelPayoutInput {
    /// A PENDING payout (po_…); its amount goes back to the available balance.
    pub payout: ID,
    pub idempotency_key: Option<String>,
}

fn parse_payout_id(param: &str, id: &ID) -> Result<PayoutId, ServiceError> {
    PayoutId::parse(id).map_err(|error| ServiceError::id(param, error))
}

fn parse_destination(id: Option<ID>) -> Result<Option<String>, ServiceError> {
    let Some(id) = id else {
        return Ok(None);
    };
    let known = matches!(prefix_of(&id), Some("ba" | "card"));
    if !known || id.len() > MAX_DESTINATION_ID_CHARS {
        return Err(ServiceError::invalid(
            "input.destination",
            format!(
                "Invalid input.destination: '{}' is not a bank account (ba_…) or debit card (card_…) id",
                id.as_str()
            ),
        ));
    }
    Ok(Some(id.0))
}

fn parse_payout(input: CreatePayoutInput) -> Result<(NewPayout, Option<String>), ServiceError> {
    let CreatePayoutInput {
        account,
        amount,
        currency,
        method,
        destination,
        description,
        idempotency_key,
    } = input;
    let payout = NewPayout {
        account: optional_account("input.account", account.as_ref())?,
        amount: amount.to_amount("input.amount")?,
        currency: currency.to_currency("input.currency")?,
        method: method.unwrap_or(PayoutMethodEnum::Standard).into(),
        destination: parse_destination(destination)?,
        description: parse_description("input.description", description)?,
    };
    Ok((payout, idempotency_key))
}

#[derive(Default)]
pub struct PayoutsQuery;

#[Object]
impl PayoutsQuery {
    async fn payout(
        &self,
        ctx: &Context<'_>,
        id: ID,
    ) -> async_graphql::Result<Option<PayoutObject>> {
        parse_payout_id("id", &id).gql()?;
        let found = services(ctx)
            .find_required::<crate::domain::payouts::Payout>(caller(ctx)?, &id, "id", "payout")
            .gql()?;
        Ok(Some(PayoutObject(found.value)))
    }

    /// The platform's payouts (its own and its accounts'), newest first; or one account's
    /// (argument or Connect-Account header).
    async fn payouts(
        &self,
        ctx: &Context<'_>,
        first: Option<i32>,
        after: Option<String>,
        account: Option<ID>,
        status: Option<PayoutStatusEnum>,
    ) -> async_graphql::Result<Connection<String, PayoutObject>> {
        let request = page_request(first, after)?;
        let caller = caller(ctx)?;
        let account = optional_account("account", account.as_ref()).gql()?;
        let holder = match account.or_else(|| caller.connect_account.clone()) {
            Some(account) => Some(services(ctx).balance_holder(caller, Some(account)).gql()?),
            None => None,
        };
        let page = services(ctx)
            .payouts(caller, holder.as_ref(), status.map(Into::into), &request)
            .gql()?;
        Ok(connection(page, PayoutObject))
    }
}

#[derive(Default)]
pub struct PayoutsMutation;

#[Object]
impl PayoutsMutation {
    async fn create_payout(
        &self,
        ctx: &Context<'_>,
        input: CreatePayoutInput,
    ) -> async_graphql::Result<PayoutObject> {
        let (payout, key) = parse_payout(input).gql()?;
        let key = optional_idempotency_key(key.as_deref()).gql()?;
        services(ctx)
            .create_payout(caller(ctx)?, payout, key)
            .await
            .map(PayoutObject)
            .gql()
    }

    /// Cancels a PENDING payout; its amount goes back to the available balance.
    async fn cancel_payout(
        &self,
        ctx: &Context<'_>,
        input: CancelPayoutInput,
    ) -> async_graphql::Result<PayoutObject> {
        let CancelPayoutInput {
            payout,
            idempotency_key,
        } = input;
        let cancel = CancelPayout {
            payout: parse_payout_id("input.payout", &payout).gql()?,
        };
        let key = optional_idempotency_key(idempotency_key.as_deref()).gql()?;
        services(ctx)
            .cancel_payout(caller(ctx)?, cancel, key)
            .await
            .map(PayoutObject)
            .gql()
    }
}
