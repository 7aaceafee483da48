//! Login links to the Express dashboard: `createLoginLink` makes a single-use URL for an
//! EXPRESS account, and the dashboard redeems it once, within its lifetime, for a session.

use chrono::{DateTime, Utc};
use rand::RngCore;

use super::account_links::PublicBaseUrl;
use super::idempotency::{self, Prepared};
use super::{Access, Caller, Draft, ServiceError, Services};
use crate::domain::login_links::{is_token_shaped, stored_id, LoginLink, LOGIN_TOKEN_BYTES};
use crate::ids::{AccountId, PlatformId};

/// Where the dashboard is served: login links are `<base>/express/login/<platform>/<token>`.
pub const EXPRESS_PATH: &str = "/express";

/// What `createLoginLink` returns.
#[derive(Clone, Debug)]
pub struct CreatedLoginLink {
    pub url: String,
    pub expires_at: DateTime<Utc>,
}

/// What opening a login link gives.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum LoginOutcome {
    /// The link was good and is now spent: the holder of `account` may be let in.
    Granted {
        platform: PlatformId,
        account: AccountId,
    },
    /// No such link, or it was used or has expired.
    Refused,
}

/// The error a redemption's build returns when the link was spent or expired meanwhile.
fn link_spent() -> ServiceError {
    ServiceError::NotFound {
        message: "the login link was used or expired".into(),
        param: Some("token".into()),
    }
}

fn new_token() -> String {
    let mut bytes = [0u8; LOGIN_TOKEN_BYTES];
    rand::thread_rng().fill_bytes(&mut bytes);
    hex::encode(bytes)
}

impl Services {
    /// A single-use link to the Express dashboard of one of the caller's EXPRESS accounts.
    pub async fn create_login_link(
        &self,
        caller: &Caller,
        account: &AccountId,
        base: &PublicBaseUrl,
    ) -> Result<CreatedLoginLink, ServiceError> {
        let found = self.account_named(caller, account, "input.account")?;
        let now = self.clock.now(&caller.platform.id);
        let link = LoginLink::new(account.clone(), found.value.account_type(), now)
            .map_err(|denied| ServiceError::forbidden(Some("input.account"), denied.to_string()))?;
        let token = new_token();
        let link_id = stored_id(&token);
        idempotency::run(self, caller, "createLoginLink", None, &(), || {
            let mut draft = Draft::new(&caller.platform.id, now);
            draft.insert(&link_id, &link, &[])?;
            Ok(Prepared {
                draft,
                object_id: account.to_string(),
                error: None,
            })
        })
        .await?;
        Ok(CreatedLoginLink {
            url: format!(
                "{}{EXPRESS_PATH}/login/{}/{token}",
                base.0.trim_end_matches('/'),
                caller.platform.id
            ),
            expires_at: link.expires_at(),
        })
    }

    /// Spends a login link: granted once, while it is fresh; refused otherwise (unknown,
    /// used or expired alike, so a guess learns nothing).
    pub async fn redeem_login_link(
        &self,
        platform: &str,
        token: &str,
    ) -> Result<LoginOutcome, ServiceError> {
        let Ok(platform_id) = PlatformId::parse(platform) else {
            return Ok(LoginOutcome::Refused);
        };
        if !is_token_shaped(token) {
            return Ok(LoginOutcome::Refused);
        }
        let Some(platform) = self.platform_by_id(&platform_id)? else {
            return Ok(LoginOutcome::Refused);
        };
        let caller = Caller {
            platform,
            connect_account: None,
            access: Access::Change,
            read_only: false,
        };
        let link_id = stored_id(token);
        let outcome = idempotency::run(self, &caller, "redeemLoginLink", None, &(), || {
            let now = self.clock.now(&caller.platform.id);
            let link = self
                .find::<LoginLink>(&caller, &link_id)?
                .ok_or_else(link_spent)?;
            if !link.value.is_usable(now) {
                return Err(link_spent());
            }
            let mut draft = Draft::new(&caller.platform.id, now);
            draft.update(&link_id, &link.value.redeemed(), link.revision)?;
            Ok(Prepared {
                draft,
                object_id: link.value.account().to_string(),
                error: None,
            })
        })
        .await;
        match outcome {
            Ok(account) => {
                let account = AccountId::parse(&account)
                    .map_err(|error| ServiceError::internal("login link", error))?;
                Ok(LoginOutcome::Granted {
                    platform: platform_id,
                    account,
                })
            }
            Err(error) if error == link_spent() => Ok(LoginOutcome::Refused),
            Err(error) => Err(error),
        }
    }

    /// The caller a dashboard session acts as: its platform, scoped to its account.
    pub fn dashboard_caller(
        &self,
        platform: &PlatformId,
        account: &AccountId,
        access: Access,
    ) -> Result<Caller, ServiceError> {
        let found = self.platform_by_id(platform)?.ok_or_else(|| {
            ServiceError::internal("dashboard session", format!("{platform} is gone"))
        })?;
        self.caller(found, Some(account.as_ref()), access)
    }
}
