//! Hosted onboarding links: single-use, expiring. An onboarding link is for the holders of
//! STANDARD and EXPRESS accounts (CUSTOM accounts are onboarded by the platform through the
//! API); an update link opens the page on an EXPRESS or CUSTOM account's current details, for
//! its holder to change them (a STANDARD account's holder has their own dashboard).

use chrono::{DateTime, Duration, Utc};
use serde::{Deserialize, Serialize};

use crate::domain::accounts::AccountType;
use crate::ids::{AccountId, AccountLinkId};

/// How long a link can be opened after it is made.
pub const ACCOUNT_LINK_LIFETIME_SECONDS: i64 = 300;
/// The longest refreshUrl or returnUrl accepted.
pub const MAX_LINK_URL_CHARS: usize = 2048;

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum AccountLinkError {
    #[error("custom accounts are onboarded through the API")]
    CustomAccount,
    #[error("STANDARD accounts keep their details up to date in their own dashboard: ACCOUNT_UPDATE links are for EXPRESS and CUSTOM accounts")]
    StandardAccountUpdate,
    #[error("{param} must be at most {MAX_LINK_URL_CHARS} characters")]
    UrlTooLong { param: &'static str },
    #[error("{param} is not a well-formed URL: {reason}")]
    UrlMalformed { param: &'static str, reason: String },
    #[error("{param} must be an http or https URL")]
    UrlNotHttp { param: &'static str },
}

impl AccountLinkError {
    /// The input parameter at fault, for the API error's `param` (GraphQL input naming).
    pub fn param(&self) -> &'static str {
        match self {
            AccountLinkError::CustomAccount => "account",
            AccountLinkError::StandardAccountUpdate => "type",
            AccountLinkError::UrlTooLong { param }
            | AccountLinkError::UrlMalformed { param, .. }
            | AccountLinkError::UrlNotHttp { param } => param,
        }
    }
}

/// What the hosted page is opened for. Serialized as the contract's enum values.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "SCREAMING_SNAKE_CASE")]
pub enum AccountLinkType {
    /// What is still needed, for a STANDARD or EXPRESS account.
    #[default]
    AccountOnboarding,
    /// The current details, prefilled and editable, for an EXPRESS or CUSTOM account.
    AccountUpdate,
}

/// Only STANDARD and EXPRESS accounts are onboarded on the hosted page, and only EXPRESS and
/// CUSTOM accounts updated there.
pub fn check_hosted_onboarding(
    account_type: AccountType,
    link_type: AccountLinkType,
) -> Result<(), AccountLinkError> {
    match (link_type, account_type) {
        (AccountLinkType::AccountOnboarding, AccountType::Custom) => {
            Err(AccountLinkError::CustomAccount)
        }
        (AccountLinkType::AccountUpdate, AccountType::Standard) => {
            Err(AccountLinkError::StandardAccountUpdate)
        }
        _ => Ok(()),
    }
}

fn http_url(given: &str, param: &'static str) -> Result<String, AccountLinkError> {
    if given.chars().count() > MAX_LINK_URL_CHARS {
        return Err(AccountLinkError::UrlTooLong { param });
    }
    let url = url::Url::parse(given.trim()).map_err(|error| AccountLinkError::UrlMalformed {
        param,
        reason: error.to_string(),
    })?;
    if !matches!(url.scheme(), "http" | "https") || url.host_str().is_none() {
        return Err(AccountLinkError::UrlNotHttp { param });
    }
    Ok(url.to_string())
}

/// A stored link; its id is the unguessable token in the hosted page's URL.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct AccountLink {
    id: AccountLinkId,
    account: AccountId,
    refresh_url: String,
    return_url: String,
    expires_at: DateTime<Utc>,
    used: bool,
    /// Links made before update links existed were all onboarding links.
    #[serde(default)]
    link_type: AccountLinkType,
    created: DateTime<Utc>,
}

impl AccountLink {
    pub fn new(
        id: AccountLinkId,
        account: AccountId,
        account_type: AccountType,
        link_type: AccountLinkType,
        refresh_url: &str,
        return_url: &str,
        now: DateTime<Utc>,
    ) -> Result<AccountLink, AccountLinkError> {
        check_hosted_onboarding(account_type, link_type)?;
        Ok(AccountLink {
            id,
            account,
            refresh_url: http_url(refresh_url, "refreshUrl")?,
            return_url: http_url(return_url, "returnUrl")?,
            expires_at: now + Duration::seconds(ACCOUNT_LINK_LIFETIME_SECONDS),
            used: false,
            link_type,
            created: now,
        })
    }

    pub fn id(&self) -> &AccountLinkId {
        &self.id
    }
    pub fn account(&self) -> &AccountId {
        &self.account
    }
    pub fn refresh_url(&self) -> &str {
        &self.refresh_url
    }
    pub fn return_url(&self) -> &str {
        &self.return_url
    }
    pub fn expires_at(&self) -> DateTime<Utc> {
        self.expires_at
    }
    pub fn link_type(&self) -> AccountLinkType {
        self.link_type
    }

    /// Not used yet and not expired.
    pub fn is_usable(&self, now: DateTime<Utc>) -> bool {
        !self.used && now < self.expires_at
    }

    /// The link after the form was completed: it cannot be used again.
    pub fn consumed(&self) -> AccountLink {
        AccountLink {
            used: true,
            ..self.clone()
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::ids::IdGenerator;

    fn now() -> DateTime<Utc> {
        DateTime::parse_from_rfc3339("2026-11-27T12:00:00Z")
            .expect("now")
            .to_utc()
    }

    fn link(
        account_type: AccountType,
        refresh: &str,
        back: &str,
    ) -> Result<AccountLink, AccountLinkError> {
        let ids = IdGenerator::new();
        AccountLink::new(
            ids.next(),
            ids.next(),
            account_type,
            AccountLinkType::AccountOnboarding,
            refresh,
            back,
            now(),
        )
    }

    #[test]
    fn urls_must_be_http_and_custom_accounts_are_refused() {
        let ok = "https://example.com/return";
        // (type, refreshUrl, returnUrl, expected param of the error)
        let cases = [
            (AccountType::Express, ok, ok, None),
            (AccountType::Standard, "http://localhost:3000/r", ok, None),
            (AccountType::Custom, ok, ok, Some("account")),
            (
                AccountType::Express,
                "ftp://example.com",
                ok,
                Some("refreshUrl"),
            ),
            (AccountType::Express, ok, "not a url", Some("returnUrl")),
            (
                AccountType::Express,
                ok,
                "javascript:alert(1)",
                Some("returnUrl"),
            ),
        ];
        for (account_type, refresh, back, expected) in cases {
            let result = link(account_type, refresh, back);
            assert_eq!(
                result.err().map(|error| error.param()),
                expected,
                "{refresh} {back}"
            );
        }
        let message = link(AccountType::Custom, ok, ok).unwrap_err().to_string();
        assert_eq!(message, "custom accounts are onboarded through the API");
    }

    #[test]
    fn update_links_are_for_express_and_custom_accounts() {
        use AccountLinkType::{AccountOnboarding, AccountUpdate};
        // (type, link type, the param of the refusal)
        let cases = [
            (AccountType::Standard, AccountOnboarding, None),
            (AccountType::Express, AccountOnboarding, None),
            (AccountType::Custom, AccountOnboarding, Some("account")),
            (AccountType::Standard, AccountUpdate, Some("type")),
            (AccountType::Express, AccountUpdate, None),
            (AccountType::Custom, AccountUpdate, None),
        ];
        for (account_type, link_type, refused) in cases {
            assert_eq!(
                check_hosted_onboarding(account_type, link_type)
                    .err()
                    .map(|error| error.param()),
                refused,
                "{account_type} {link_type:?}"
            );
        }
    }

    #[test]
    fn links_expire_and_are_single_use() {
        let made = link(
            AccountType::Express,
            "https://a.example/r",
            "https://a.example/d",
        )
        .expect("link");
        assert!(made.is_usable(now()));
        assert!(made.is_usable(now() + Duration::seconds(ACCOUNT_LINK_LIFETIME_SECONDS - 1)));
        assert!(!made.is_usable(now() + Duration::seconds(ACCOUNT_LINK_LIFETIME_SECONDS)));
        assert!(!made.consumed().is_usable(now()));
    }
}
