//! Login links to the Express dashboard: single-use, expiring, for EXPRESS accounts only.
//! Only a hash of the link's token is stored; the token itself exists only in the URL
//! handed to the platform.

use chrono::{DateTime, Duration, Utc};
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

use crate::domain::accounts::AccountType;
use crate::ids::AccountId;

/// How long a login link can be opened after it is made, on the platform's clock.
pub const LOGIN_LINK_LIFETIME_SECONDS: i64 = 300;
/// Random bytes in a login link's token (hex in the URL).
pub const LOGIN_TOKEN_BYTES: usize = 32;
/// The prefix of the stored id of a login link: the hash of its token follows.
const STORED_ID_PREFIX: &str = "loginlink_";

/// Why an account has no Express dashboard; the message is the FORBIDDEN error's.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum DashboardDenied {
    #[error("Custom accounts have no Stripe-hosted dashboard; the platform builds its own")]
    CustomAccount,
    #[error("Standard accounts use their own key and their own full dashboard, not the Express dashboard")]
    StandardAccount,
}

/// Only EXPRESS accounts have the hosted Express dashboard.
pub fn check_express_dashboard(account_type: AccountType) -> Result<(), DashboardDenied> {
    match account_type {
        AccountType::Express => Ok(()),
        AccountType::Custom => Err(DashboardDenied::CustomAccount),
        AccountType::Standard => Err(DashboardDenied::StandardAccount),
    }
}

/// Whether a URL token has the shape of one: lowercase hex of the right length.
pub fn is_token_shaped(token: &str) -> bool {
    token.len() == LOGIN_TOKEN_BYTES * 2
        && token
            .bytes()
            .all(|byte| byte.is_ascii_digit() || (b'a'..=b'f').contains(&byte))
}

/// The id a login link is stored under: a prefix and the SHA-256 of its token, so the
/// store never holds the token itself.
pub fn stored_id(token: &str) -> String {
    format!(
        "{STORED_ID_PREFIX}{}",
        hex::encode(Sha256::digest(token.as_bytes()))
    )
}

/// A stored login link.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct LoginLink {
    account: AccountId,
    expires_at: DateTime<Utc>,
    used: bool,
    created: DateTime<Utc>,
}

impl LoginLink {
    /// A new link for an account that has an Express dashboard.
    pub fn new(
        account: AccountId,
        account_type: AccountType,
        now: DateTime<Utc>,
    ) -> Result<LoginLink, DashboardDenied> {
        check_express_dashboard(account_type)?;
        Ok(LoginLink {
            account,
            expires_at: now + Duration::seconds(LOGIN_LINK_LIFETIME_SECONDS),
            used: false,
            created: now,
        })
    }

    pub fn account(&self) -> &AccountId {
        &self.account
    }
    pub fn expires_at(&self) -> DateTime<Utc> {
        self.expires_at
    }

    /// Not used yet and not expired.
    pub fn is_usable(&self, now: DateTime<Utc>) -> bool {
        !self.used && now < self.expires_at
    }

    /// The link once redeemed: it cannot be used again.
    pub fn redeemed(&self) -> LoginLink {
        LoginLink {
            used: true,
            ..self.clone()
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::ids::IdGenerator;

    #[test]
    fn only_express_accounts_get_links() {
        let now = Utc::now();
        let account: AccountId = IdGenerator::new().next();
        assert!(LoginLink::new(account.clone(), AccountType::Express, now).is_ok());
        assert_eq!(
            LoginLink::new(account.clone(), AccountType::Custom, now),
            Err(DashboardDenied::CustomAccount)
        );
        assert_eq!(
            LoginLink::new(account, AccountType::Standard, now),
            Err(DashboardDenied::StandardAccount)
        );
    }

    #[test]
    fn a_link_is_usable_once_and_until_it_expires() {
        let now = Utc::now();
        let account: AccountId = IdGenerator::new().next();
        let link = LoginLink::new(account, AccountType::Express, now).expect("express");
        assert!(link.is_usable(now + Duration::seconds(LOGIN_LINK_LIFETIME_SECONDS - 1)));
        assert!(!link.is_usable(now + Duration::seconds(LOGIN_LINK_LIFETIME_SECONDS)));
        assert!(!link.redeemed().is_usable(now));
    }

    #[test]
    fn the_stored_id_hides_the_token() {
        let token = "ab".repeat(LOGIN_TOKEN_BYTES);
        assert!(is_token_shaped(&token));
        assert!(!is_token_shaped("AB"));
        let id = stored_id(&token);
        assert!(!id.contains(&token));
        assert_eq!(id.len(), STORED_ID_PREFIX.len() + 64);
    }
}
