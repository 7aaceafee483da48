//! The platform's own queries and mutations: balances, events, top-ups, the ledger check
//! and the simulated clock.

use async_graphql::connection::Connection;
use async_graphql::{Context, InputObject, Object, ID};

use crate::domain::text::{parse_text, MAX_DESCRIPTION_CHARS};
use crate::graphql::context::{caller, connection, page_request, services};
use crate::graphql::errors::GqlResult;
use crate::graphql::scalars::{CurrencyScalar, DateTimeScalar, MinorUnitsScalar};
use crate::graphql::types::balance_transactions::{
    BalanceTransactionObject, BalanceTransactionTypeEnum,
};
use crate::graphql::types::money::BalanceObject;
use crate::graphql::types::node::{self, Node};
use crate::graphql::types::platform::{
    EventObject, LedgerCheckObject, PlatformObject, TopupObject,
};
use crate::ids::AccountId;
use crate::money::Money;
use crate::service::topups::NewTopup;
use crate::service::{IdempotencyKey, ServiceError};

/// Parses an optional account id argument.
pub fn optional_account(param: &str, id: Option<&ID>) -> Result<Option<AccountId>, ServiceError> {
    id.map(|id| AccountId::parse(id).map_err(|error| ServiceError::id(param, error)))
        .transpose()
}

pub fn optional_idempotency_key(key: Option<&str>) -> Result<Option<IdempotencyKey>, ServiceError> {
    key.map(|key| IdempotencyKey::parse("input.idempotencyKey", key))
        .transpose()
}

/// Parses an optional description.
pub fn parse_description(
    param: &str,
    text: Option<String>,
) -> Result<Option<String>, ServiceError> {
    parse_text(text, MAX_DESCRIPTION_CHARS)
        .map_err(|error| ServiceError::invalid(param, format!("Invalid {param}: it {error}")))
}

#[derive(Default)]
pub struct CoreQuery;

#[Object]
impl CoreQuery {
    async fn node(&self, ctx: &Context<'_>, id: ID) -> async_graphql::Result<Option<Node>> {
        let found = node::resolve(services(ctx), caller(ctx)?, &id).gql()?;
        match found {
            Some(node) => Ok(Some(node)),
            None => Err(ServiceError::not_found("id", "object", &id)).gql(),
        }
    }

    /// The calling platform.
    async fn platform(&self, ctx: &Context<'_>) -> async_graphql::Result<PlatformObject> {
        Ok(PlatformObject(caller(ctx)?.platform.clone()))
    }

    /// The platform's balance, or the account's (argument or Connect-Account header).
    async fn balance(
        &self,
        ctx: &Context<'_>,
        account: Option<ID>,
    ) -> async_graphql::Result<BalanceObject> {
        let services = services(ctx);
        let account = optional_account("account", account.as_ref()).gql()?;
        let holder = services.balance_holder(caller(ctx)?, account).gql()?;
        services.balance(&holder).map(BalanceObject::from).gql()
    }

    async fn balance_transactions(
        &self,
        ctx: &Context<'_>,
        first: Option<i32>,
        after: Option<String>,
        account: Option<ID>,
        #[graphql(name = "type")] transaction_type: Option<BalanceTransactionTypeEnum>,
    ) -> async_graphql::Result<Connection<String, BalanceTransactionObject>> {
        let services = services(ctx);
        let caller = caller(ctx)?;
        let request = page_request(first, after)?;
        let account = optional_account("account", account.as_ref()).gql()?;
        let holder = services.balance_holder(caller, account).gql()?;
        let page = services
            .balance_transactions(caller, &holder, transaction_type.map(Into::into), &request)
            .gql()?;
        Ok(connection(page, BalanceTransactionObject))
    }

    async fn events(
        &self,
        ctx: &Context<'_>,
        first: Option<i32>,
        after: Option<String>,
        #[graphql(name = "type")] event_type: Option<String>,
    ) -> async_graphql::Result<Connection<String, EventObject>> {
        let request = page_request(first, after)?;
        let page = services(ctx)
            .events(caller(ctx)?, event_type.as_deref(), &request)
            .gql()?;
        Ok(connection(page, EventObject))
    }

    /// A trial balance of the platform's ledger, recomputed from its entries.
    async fn ledger_check(&self, ctx: &Context<'_>) -> async_graphql::Result<LedgerCheckObject> {
        services(ctx)
            .ledger_check_in_scope(caller(ctx)?)
            .map(LedgerCheckObject::from)
            .gql()
    }
}

#[derive(InputObject)]
pub struct CreateTopupInput {
    pub amount: MinorUnitsScalar,
    pub currency: CurrencyScalar,
    pub description: Option<String>,
    pub idempotency_key: Option<String>,
}

#[derive(InputObject)]
pub struct AdvanceClockInput {
    /// Move the simulated clock to this time (never backwards).
    pub to: Option<DateTimeScalar>,
    /// Or forward by this many seconds.
    pub seconds: Option<i32>,
}

fn parse_topup(input: CreateTopupInput) -> Result<NewTopup, ServiceError> {
    let CreateTopupInput {
        amount,
        currency,
        description,
        idempotency_key,
    } = input;
    Ok(NewTopup {
        amount: Money::new(
            amount.to_amount("input.amount")?,
            currency.to_currency("input.currency")?,
        ),
        description: parse_description("input.description", description)?,
        idempotency_key: optional_idempotency_key(idempotency_key.as_deref())?,
    })
}

#[derive(Default)]
pub struct CoreMutation;

#[Object]
impl CoreMutation {
    async fn create_topup(
        &self,
        ctx: &Context<'_>,
        input: CreateTopupInput,
    ) -> async_graphql::Result<TopupObject> {
        let input = parse_topup(input).gql()?;
        services(ctx)
            .create_topup(caller(ctx)?, input)
            .await
            .map(TopupObject)
            .gql()
    }

    /// Only when the server runs with the simulated clock; moves the calling platform's clock.
    async fn advance_clock(
        &self,
        ctx: &Context<'_>,
        input: AdvanceClockInput,
    ) -> async_graphql::Result<DateTimeScalar> {
        let caller = caller(ctx)?;
        caller
            .require_platform("The clock is the platform's")
            .gql()?;
        let AdvanceClockInput { to, seconds } = input;
        let to = to.map(|to| to.to_time("input.to")).transpose().gql()?;
        services(ctx)
            .advance_clock(caller, to, seconds.map(i64::from))
            .await
            .map(DateTimeScalar::output)
            .gql()
    }
}
