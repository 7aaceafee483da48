//! The platform's settings and connect-by-authorization: `updatePlatform`,
//! `connectAccount`, `disconnectAccount`, and the holder's `revokePlatform`.

use async_graphql::{Context, InputObject, Object, ID};

use crate::graphql::context::{caller, services};
use crate::graphql::errors::GqlResult;
use crate::graphql::types::accounts::AccountObject;
use crate::graphql::types::platform::PlatformObject;
use crate::ids::{AccountId, PlatformId};
use crate::service::standalone::PlatformUpdate;
use crate::service::ServiceError;

#[derive(InputObject)]
pub struct UpdatePlatformInput {
    pub name: Option<String>,
    pub oauth_redirect_uris: Option<Vec<String>>,
}

#[derive(InputObject)]
pub struct ConnectAccountInput {
    pub code: String,
}

#[derive(InputObject)]
pub struct DisconnectAccountInput {
    pub account: ID,
}

#[derive(InputObject)]
pub struct RevokePlatformInput {
    /// The platform (plat_…) whose access the standalone account ends.
    pub platform: ID,
}

#[derive(Default)]
pub struct ConnectMutation;

#[Object]
impl ConnectMutation {
    async fn update_platform(
        &self,
        ctx: &Context<'_>,
        input: UpdatePlatformInput,
    ) -> async_graphql::Result<PlatformObject> {
        let UpdatePlatformInput {
            name,
            oauth_redirect_uris,
        } = input;
        let update = PlatformUpdate {
            name,
            oauth_redirect_uris,
        };
        services(ctx)
            .update_platform(caller(ctx)?, update)
            .await
            .map(PlatformObject)
            .gql()
    }

    /// Redeems the code that connect-by-authorization sent to the platform's redirect URI.
    async fn connect_account(
        &self,
        ctx: &Context<'_>,
        input: ConnectAccountInput,
    ) -> async_graphql::Result<AccountObject> {
        services(ctx)
            .connect_account(caller(ctx)?, &input.code)
            .await
            .map(AccountObject)
            .gql()
    }

    async fn disconnect_account(
        &self,
        ctx: &Context<'_>,
        input: DisconnectAccountInput,
    ) -> async_graphql::Result<AccountObject> {
        let account = AccountId::parse(&input.account)
            .map_err(|error| ServiceError::id("input.account", error))
            .gql()?;
        services(ctx)
            .disconnect_account(caller(ctx)?, &account)
            .await
            .map(AccountObject)
            .gql()
    }

    /// A standalone account ends a platform's access to it, with its own key. True once done.
    async fn revoke_platform(
        &self,
        ctx: &Context<'_>,
        input: RevokePlatformInput,
    ) -> async_graphql::Result<bool> {
        let platform = PlatformId::parse(&input.platform)
            .map_err(|error| ServiceError::id("input.platform", error))
            .gql()?;
        services(ctx)
            .revoke_platform(caller(ctx)?, &platform)
            .await
            .gql()
    }
}
