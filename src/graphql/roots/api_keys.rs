//! API keys on the wire: restricted keys (create, list, revoke) and rotating the platform's
//! secret key.

use async_graphql::connection::Connection;
use async_graphql::{Context, Enum, InputObject, Object, ID};

use crate::domain::account_record::AccountRecord;
use crate::domain::api_keys::{KeyPermission, RestrictedKey};
use crate::graphql::context::{caller, connection, page_request, services};
use crate::graphql::errors::GqlResult;
use crate::graphql::scalars::DateTimeScalar;
use crate::graphql::types::accounts::AccountObject;
use crate::ids::{AccountId, RestrictedKeyId};
use crate::service::api_keys::SecretKeyRotation;
use crate::service::ServiceError;

/// What a restricted key may do.
#[derive(Enum, Clone, Copy, PartialEq, Eq, Debug)]
#[graphql(name = "KeyPermission")]
pub enum KeyPermissionEnum {
    ReadOnly,
}

impl From<KeyPermission> for KeyPermissionEnum {
    fn from(value: KeyPermission) -> Self {
        match value {
            KeyPermission::ReadOnly => KeyPermissionEnum::ReadOnly,
        }
    }
}

impl From<KeyPermissionEnum> for KeyPermission {
    fn from(value: KeyPermissionEnum) -> Self {
        match value {
            KeyPermissionEnum::ReadOnly => KeyPermission::ReadOnly,
        }
    }
}

/// A restricted key, with its secret only when it was just made.
pub struct RestrictedKeyObject {
    pub key: RestrictedKey,
    pub secret: Option<String>,
}

impl RestrictedKeyObject {
    pub fn hidden(key: RestrictedKey) -> RestrictedKeyObject {
        RestrictedKeyObject { key, secret: None }
    }
}

/// A key that can only read, bound to one connected account (rk_…).
#[Object(name = "RestrictedKey")]
impl RestrictedKeyObject {
    /// rkid_…
    pub async fn id(&self) -> ID {
        ID(self.key.id().to_string())
    }

    async fn name(&self) -> &str {
        self.key.name()
    }

    /// The account every request made with the key acts as; null for the whole platform.
    async fn account(&self, ctx: &Context<'_>) -> async_graphql::Result<Option<AccountObject>> {
        let Some(id) = self.key.account() else {
            return Ok(None);
        };
        let found = services(ctx)
            .find::<AccountRecord>(caller(ctx)?, id.as_ref())
            .gql()?;
        Ok(found.map(|found| AccountObject(found.value)))
    }

    async fn permissions(&self) -> Vec<KeyPermissionEnum> {
        self.key
            .permissions()
            .iter()
            .copied()
            .map(Into::into)
            .collect()
    }

    /// Only returned by createRestrictedKey.
    async fn secret(&self) -> Option<&str> {
        self.secret.as_deref()
    }

    async fn created(&self) -> DateTimeScalar {
        DateTimeScalar::output(self.key.created())
    }
}

pub struct SecretKeyRotationObject(SecretKeyRotation);

#[Object(name = "SecretKeyRotation")]
impl SecretKeyRotationObject {
    /// The new key; shown once.
    async fn secret_key(&self) -> &str {
        &self.0.secret_key
    }

    /// Until when the previous key is still accepted.
    async fn previous_key_expires_at(&self) -> DateTimeScalar {
        DateTimeScalar::output(self.0.previous_key_expires_at)
    }
}

#[derive(Default)]
pub struct ApiKeysQuery;

#[Object]
impl ApiKeysQuery {
    /// The platform's restricted keys, newest first (never their secrets).
    async fn restricted_keys(
        &self,
        ctx: &Context<'_>,
        first: Option<i32>,
        after: Option<String>,
    ) -> async_graphql::Result<Connection<String, RestrictedKeyObject>> {
        let request = page_request(first, after)?;
        let page = services(ctx)
            .restricted_keys(caller(ctx)?, &request)
            .gql()?;
        Ok(connection(page, RestrictedKeyObject::hidden))
    }
}

#[derive(InputObject)]
pub struct CreateRestrictedKeyInput {
    pub name: String,
    pub account: Option<ID>,
    pub permissions: Vec<KeyPermissionEnum>,
}

#[derive(InputObject)]
pub struct RevokeRestrictedKeyInput {
    pub id: ID,
}

#[derive(Default)]
pub struct ApiKeysMutation;

#[Object]
impl ApiKeysMutation {
    /// A new secret key for the platform, shown once; the previous one keeps working until
    /// previousKeyExpiresAt (the server's key rotation overlap, 24 hours by default).
    async fn rotate_secret_key(
        &self,
        ctx: &Context<'_>,
    ) -> async_graphql::Result<SecretKeyRotationObject> {
        services(ctx)
            .rotate_secret_key(caller(ctx)?)
            .await
            .map(SecretKeyRotationObject)
            .gql()
    }

    /// A read-only key (rk_…), optionally bound to one connected account; its secret is
    /// returned this once.
    async fn create_restricted_key(
        &self,
        ctx: &Context<'_>,
        input: CreateRestrictedKeyInput,
    ) -> async_graphql::Result<RestrictedKeyObject> {
        let CreateRestrictedKeyInput {
            name,
            account,
            permissions,
        } = input;
        let account = account
            .map(|id| {
                AccountId::parse(&id).map_err(|error| ServiceError::id("input.account", error))
            })
            .transpose()
            .gql()?;
        let permissions: Vec<KeyPermission> = permissions.into_iter().map(Into::into).collect();
        services(ctx)
            .create_restricted_key(caller(ctx)?, &name, account, &permissions)
            .await
            .map(|created| RestrictedKeyObject {
                key: created.key,
                secret: Some(created.secret),
            })
            .gql()
    }

    /// Ends a restricted key: requests made with it are refused from now on.
    async fn revoke_restricted_key(
        &self,
        ctx: &Context<'_>,
        input: RevokeRestrictedKeyInput,
    ) -> async_graphql::Result<RestrictedKeyObject> {
        let RevokeRestrictedKeyInput { id } = input;
        let id = RestrictedKeyId::parse(&id)
            .map_err(|error| ServiceError::id("input.id", error))
            .gql()?;
        services(ctx)
            .revoke_restricted_key(caller(ctx)?, &id)
            .await
            .map(RestrictedKeyObject::hidden)
            .gql()
    }
}
