//! Connected accounts: the `account` and `accounts` queries, and the mutations that create,
//! onboard and configure accounts.

use async_graphql::connection::Connection;
use async_graphql::{Context, Object, ID};

use super::account_inputs::{
    account_id, parse_bank_account, parse_create_account, parse_debit_card, parse_details,
    parse_payout_schedule, parse_update_account, AddBankAccountInput, AddDebitCardInput,
    CreateAccountInput, CreateAccountLinkInput, SubmitAccountDetailsInput, UpdateAccountInput,
    UpdatePayoutScheduleInput,
};
use crate::graphql::context::{caller, connection, page_request, public_base_url, services};
use crate::graphql::errors::GqlResult;
use crate::graphql::types::account_enums::AccountTypeEnum;
use crate::graphql::types::accounts::{
    AccountLinkObject, AccountObject, BankAccountObject, DebitCardObject,
};
use crate::service::account_links::NewAccountLinkRequest;

#[derive(Default)]
pub struct AccountsQuery;

#[Object]
impl AccountsQuery {
    /// One of the platform's connected accounts; NOT_FOUND for any other id.
    async fn account(
        &self,
        ctx: &Context<'_>,
        id: ID,
    ) -> async_graphql::Result<Option<AccountObject>> {
        let id = account_id("id", &id).gql()?;
        let found = services(ctx).account_named(caller(ctx)?, &id, "id").gql()?;
        Ok(Some(AccountObject(found.value)))
    }

    /// The platform's connected accounts, newest first.
    async fn accounts(
        &self,
        ctx: &Context<'_>,
        first: Option<i32>,
        after: Option<String>,
        #[graphql(name = "type")] account_type: Option<AccountTypeEnum>,
    ) -> async_graphql::Result<Connection<String, AccountObject>> {
        let request = page_request(first, after)?;
        let page = services(ctx)
            .accounts(caller(ctx)?, account_type.map(Into::into), &request)
            .gql()?;
        Ok(connection(page, AccountObject))
    }
}

#[derive(Default)]
pub struct AccountsMutation;

#[Object]
impl AccountsMutation {
    async fn create_account(
        &self,
        ctx: &Context<'_>,
        input: CreateAccountInput,
    ) -> async_graphql::Result<AccountObject> {
        let request = parse_create_account(input).gql()?;
        services(ctx)
            .create_account(caller(ctx)?, request)
            .await
            .map(AccountObject)
            .gql()
    }

    async fn update_account(
        &self,
        ctx: &Context<'_>,
        input: UpdateAccountInput,
    ) -> async_graphql::Result<AccountObject> {
        let update = parse_update_account(input).gql()?;
        services(ctx)
            .update_account(caller(ctx)?, update)
            .await
            .map(AccountObject)
            .gql()
    }

    async fn submit_account_details(
        &self,
        ctx: &Context<'_>,
        input: SubmitAccountDetailsInput,
    ) -> async_graphql::Result<AccountObject> {
        let (account, details) = parse_details(input).gql()?;
        services(ctx)
            .submit_account_details(caller(ctx)?, &account, details)
            .await
            .map(AccountObject)
            .gql()
    }

    /// A single-use link to the hosted onboarding page (STANDARD and EXPRESS accounts).
    async fn create_account_link(
        &self,
        ctx: &Context<'_>,
        input: CreateAccountLinkInput,
    ) -> async_graphql::Result<AccountLinkObject> {
        let CreateAccountLinkInput {
            account,
            refresh_url,
            return_url,
            link_type,
        } = input;
        let request = NewAccountLinkRequest {
            account: account_id("input.account", &account).gql()?,
            refresh_url,
            return_url,
            link_type: link_type.unwrap_or_default().into(),
        };
        services(ctx)
            .create_account_link(caller(ctx)?, request, &public_base_url(ctx))
            .await
            .map(AccountLinkObject::from)
            .gql()
    }

    /// CUSTOM accounts only: STANDARD and EXPRESS holders add theirs on the hosted page.
    async fn add_bank_account(
        &self,
        ctx: &Context<'_>,
        input: AddBankAccountInput,
    ) -> async_graphql::Result<BankAccountObject> {
        let request = parse_bank_account(input).gql()?;
        services(ctx)
            .add_bank_account(caller(ctx)?, request)
            .await
            .map(BankAccountObject)
            .gql()
    }

    /// CUSTOM accounts only: STANDARD and EXPRESS holders add theirs on the hosted page.
    async fn add_debit_card(
        &self,
        ctx: &Context<'_>,
        input: AddDebitCardInput,
    ) -> async_graphql::Result<DebitCardObject> {
        let request = parse_debit_card(input).gql()?;
        services(ctx)
            .add_debit_card(caller(ctx)?, request)
            .await
            .map(DebitCardObject)
            .gql()
    }

    /// EXPRESS and CUSTOM accounts only.
    async fn update_payout_schedule(
        &self,
        ctx: &Context<'_>,
        input: UpdatePayoutScheduleInput,
    ) -> async_graphql::Result<AccountObject> {
        let (account, schedule) = parse_payout_schedule(input).gql()?;
        services(ctx)
            .update_payout_schedule(caller(ctx)?, &account, schedule)
            .await
            .map(AccountObject)
            .gql()
    }
}
