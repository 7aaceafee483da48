//! External accounts after onboarding on the wire: making one its currency's default,
//! naming its holder, and deleting one.

use async_graphql::{Context, InputObject, Object, ID};

use super::account_inputs::account_id;
use crate::graphql::context::{caller, services};
use crate::graphql::errors::GqlResult;
use crate::graphql::types::accounts::ExternalAccountUnion;
use crate::ids::{prefix_of, BankAccountId, CardId, TypedId};
use crate::service::external_accounts::ExternalAccountUpdate;
use crate::service::ServiceError;

#[derive(InputObject)]
pub struct UpdateExternalAccountInput {
    pub account: ID,
    pub external_account: ID,
    pub default_for_currency: Option<bool>,
    pub account_holder_name: Option<String>,
}

#[derive(InputObject)]
pub struct DeleteExternalAccountInput {
    pub account: ID,
    pub external_account: ID,
}

/// A `ba_…` or `card_…` id.
fn external_account_id(param: &str, id: &ID) -> Result<String, ServiceError> {
    let parsed = match prefix_of(id) {
        Some(CardId::PREFIX) => CardId::parse(id).map(|id| id.to_string()),
        _ => BankAccountId::parse(id).map(|id| id.to_string()),
    };
    parsed.map_err(|_| {
        ServiceError::invalid(
            param,
            format!(
                "'{}' is not an external account id: it must be a bank account (ba_…) or a debit card (card_…)",
                id.chars().take(64).collect::<String>()
            ),
        )
    })
}

#[derive(Default)]
pub struct ExternalAccountsMutation;

#[Object]
impl ExternalAccountsMutation {
    /// CUSTOM accounts only. defaultForCurrency: true makes it its currency's default (the
    /// previous default stops being one); accountHolderName applies to bank accounts.
    async fn update_external_account(
        &self,
        ctx: &Context<'_>,
        input: UpdateExternalAccountInput,
    ) -> async_graphql::Result<ExternalAccountUnion> {
        let UpdateExternalAccountInput {
            account,
            external_account,
            default_for_currency,
            account_holder_name,
        } = input;
        let request = ExternalAccountUpdate {
            account: account_id("input.account", &account).gql()?,
            external_account: external_account_id("input.externalAccount", &external_account)
                .gql()?,
            default_for_currency,
            account_holder_name,
        };
        services(ctx)
            .update_external_account(caller(ctx)?, request)
            .await
            .map(Into::into)
            .gql()
    }

    /// CUSTOM accounts only. A currency's default cannot be deleted while the currency has
    /// others (make another the default first), nor the last one while payouts are
    /// automatic.
    async fn delete_external_account(
        &self,
        ctx: &Context<'_>,
        input: DeleteExternalAccountInput,
    ) -> async_graphql::Result<ExternalAccountUnion> {
        let DeleteExternalAccountInput {
            account,
            external_account,
        } = input;
        let account = account_id("input.account", &account).gql()?;
        let id = external_account_id("input.externalAccount", &external_account).gql()?;
        services(ctx)
            .delete_external_account(caller(ctx)?, &account, &id)
            .await
            .map(Into::into)
            .gql()
    }
}
