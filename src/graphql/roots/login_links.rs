//! `createLoginLink`: a single-use link into the hosted Express dashboard of an EXPRESS
//! account (CUSTOM and STANDARD accounts have none: FORBIDDEN, with the reason).

use async_graphql::{Context, InputObject, Object, SimpleObject, ID};

use super::account_inputs::account_id;
use crate::graphql::context::{caller, public_base_url, services};
use crate::graphql::errors::GqlResult;
use crate::graphql::scalars::DateTimeScalar;
use crate::service::login_links::CreatedLoginLink;

#[derive(InputObject)]
pub struct CreateLoginLinkInput {
    pub account: ID,
}

#[derive(SimpleObject, Clone)]
#[graphql(name = "LoginLink")]
pub struct LoginLinkObject {
    /// The Express dashboard; single use, until expiresAt.
    pub url: String,
    pub expires_at: DateTimeScalar,
}

impl From<CreatedLoginLink> for LoginLinkObject {
    fn from(link: CreatedLoginLink) -> Self {
        let CreatedLoginLink { url, expires_at } = link;
        LoginLinkObject {
            url,
            expires_at: DateTimeScalar::output(expires_at),
        }
    }
}

#[derive(Default)]
pub struct LoginLinksMutation;

#[Object]
impl LoginLinksMutation {
    /// A single-use link (five minutes) to the hosted Express dashboard (EXPRESS accounts).
    async fn create_login_link(
        &self,
        ctx: &Context<'_>,
        input: CreateLoginLinkInput,
    ) -> async_graphql::Result<LoginLinkObject> {
        let CreateLoginLinkInput { account } = input;
        let account = account_id("input.account", &account).gql()?;
        services(ctx)
            .create_login_link(caller(ctx)?, &account, &public_base_url(ctx))
            .await
            .map(LoginLinkObject::from)
            .gql()
    }
}
