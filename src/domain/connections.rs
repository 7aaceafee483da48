//! Standalone accounts and connect-by-authorization: what a holder grants a platform
//! (the scope), the single-use authorization code, the redirect URIs a platform registers
//! and the link a connected-account record keeps to the standalone account behind it.

use chrono::{DateTime, Duration, Utc};
use serde::{Deserialize, Serialize};

use crate::domain::email::Email;
use crate::ids::{AccountId, AuthorizationCodeId, PlatformId, TypedId};

/// The most redirect URIs a platform may register.
pub const MAX_REDIRECT_URIS: usize = 10;
/// The longest redirect URI accepted, in characters.
pub const MAX_REDIRECT_URI_CHARS: usize = 2000;
/// The longest `state` a platform may pass through the authorization page.
pub const MAX_STATE_CHARS: usize = 500;
/// How long an authorization code may be redeemed, on the platform's clock.
pub const AUTHORIZATION_CODE_TTL_SECONDS: i64 = 300;
/// The most platforms one standalone account may authorize (connections ever made, kept
/// so the holder's balance still counts money left on a disconnected one).
pub const MAX_CONNECTIONS_PER_ACCOUNT: usize = 100;

/// What a platform may do with a connected standalone account.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ConnectionScope {
    ReadWrite,
    ReadOnly,
}

impl ConnectionScope {
    pub fn parse(given: &str) -> Result<ConnectionScope, ConnectError> {
        match given {
            "read_write" => Ok(ConnectionScope::ReadWrite),
            "read_only" => Ok(ConnectionScope::ReadOnly),
            other => Err(ConnectError::BadScope(other.chars().take(40).collect())),
        }
    }

    pub fn as_str(self) -> &'static str {
        match self {
            ConnectionScope::ReadWrite => "read_write",
            ConnectionScope::ReadOnly => "read_only",
        }
    }

    /// What the authorization page tells the holder the platform will be able to do.
    pub fn describe(self) -> &'static str {
        match self {
            ConnectionScope::ReadWrite => {
                "see your charges, balance and payouts made through it, and charge, refund and pay out on your account"
            }
            ConnectionScope::ReadOnly => {
                "see the charges, balance and payouts it makes with your account, but change nothing"
            }
        }
    }
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ConnectError {
    #[error("scope must be read_write or read_only, not '{0}'")]
    BadScope(String),
    #[error("response_type must be code")]
    BadResponseType,
    #[error("at most {MAX_REDIRECT_URIS} redirect URIs may be registered")]
    TooManyRedirectUris,
    #[error("redirect URI {index} is longer than {MAX_REDIRECT_URI_CHARS} characters")]
    RedirectUriTooLong { index: usize },
    #[error("redirect URI {index} must be an absolute http or https URL without a fragment")]
    BadRedirectUri { index: usize },
    #[error("state is longer than {MAX_STATE_CHARS} characters")]
    StateTooLong,
}

/// One redirect URI: absolute http(s), no fragment, bounded. Compared by exact text.
fn parse_redirect_uri(index: usize, given: &str) -> Result<String, ConnectError> {
    if given.chars().count() > MAX_REDIRECT_URI_CHARS {
        return Err(ConnectError::RedirectUriTooLong { index });
    }
    let parsed = url::Url::parse(given).map_err(|_| ConnectError::BadRedirectUri { index })?;
    let absolute_http = matches!(parsed.scheme(), "http" | "https")
        && parsed.host_str().is_some_and(|host| !host.is_empty())
        && parsed.fragment().is_none();
    if !absolute_http {
        return Err(ConnectError::BadRedirectUri { index });
    }
    Ok(given.to_owned())
}

/// The redirect URIs a platform registers, in order, without duplicates.
pub fn parse_redirect_uris(given: &[String]) -> Result<Vec<String>, ConnectError> {
    if given.len() > MAX_REDIRECT_URIS {
        return Err(ConnectError::TooManyRedirectUris);
    }
    let mut uris: Vec<String> = Vec::with_capacity(given.len());
    for (index, uri) in given.iter().enumerate() {
        let uri = parse_redirect_uri(index, uri)?;
        if !uris.contains(&uri) {
            uris.push(uri);
        }
    }
    Ok(uris)
}

/// A `state` passed through unchanged; only its length is bounded.
pub fn parse_state(given: Option<&str>) -> Result<Option<String>, ConnectError> {
    match given {
        Some(state) if state.chars().count() > MAX_STATE_CHARS => Err(ConnectError::StateTooLong),
        Some(state) => Ok(Some(state.to_owned())),
        None => Ok(None),
    }
}

/// What makes a platform record a standalone account: its public account id and email.
/// The account id and the keyspace id share one body (`acct_X` lives in `plat_X`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct StandaloneProfile {
    pub account: AccountId,
    pub email: Email,
}

/// The keyspace of a standalone account: `plat_` with the account id's body.
pub fn standalone_keyspace(account: &AccountId) -> PlatformId {
    let body = account.as_str().trim_start_matches("acct_").to_owned();
    PlatformId::from_body(body)
}

/// The account id of a standalone keyspace: `acct_` with the platform id's body.
pub fn standalone_account_id(keyspace: &PlatformId) -> AccountId {
    let body = keyspace.as_str().trim_start_matches("plat_").to_owned();
    AccountId::from_body(body)
}

/// The link a connected-account record keeps to the standalone account behind it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Connection {
    /// The standalone account (`acct_…`) that authorized the platform.
    pub standalone: AccountId,
    pub scope: ConnectionScope,
    /// Set when either side ended the connection; the record is then never found again.
    pub disconnected: Option<DateTime<Utc>>,
}

/// A code the authorization page sent to the platform, kept in the platform's keyspace.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct AuthorizationCode {
    pub id: AuthorizationCodeId,
    /// The SHA-256 of the whole code the platform was given.
    pub code_sha256: String,
    pub standalone: AccountId,
    /// The id the connection's account record gets in the platform's keyspace.
    pub connection: AccountId,
    pub scope: ConnectionScope,
    pub redirect_uri: String,
    pub created: DateTime<Utc>,
    pub expires: DateTime<Utc>,
    pub redeemed: Option<DateTime<Utc>>,
}

/// Why a code cannot be redeemed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CodeRefusal {
    AlreadyRedeemed,
    Expired,
}

impl AuthorizationCode {
    pub fn expiry(created: DateTime<Utc>) -> DateTime<Utc> {
        created + Duration::seconds(AUTHORIZATION_CODE_TTL_SECONDS)
    }

    /// Marks the code redeemed at `now`, once, before it expires.
    pub fn redeem(&mut self, now: DateTime<Utc>) -> Result<(), CodeRefusal> {
        if self.redeemed.is_some() {
            return Err(CodeRefusal::AlreadyRedeemed);
        }
        if now >= self.expires {
            return Err(CodeRefusal::Expired);
        }
        self.redeemed = Some(now);
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn redirect_uris_must_be_absolute_http_without_fragment() {
        let ok = [
            "https://app.example.com/cb",
            "http://127.0.0.1:3000/oauth?x=1",
        ];
        for uri in ok {
            assert_eq!(
                parse_redirect_uris(&[uri.to_owned()]),
                Ok(vec![uri.to_owned()])
            );
        }
        let bad = [
            "/relative",
            "ftp://x.example.com/",
            "https://x.example.com/#frag",
            "javascript:alert(1)",
            "",
        ];
        for uri in bad {
            assert_eq!(
                parse_redirect_uris(&["https://ok.example.com/".to_owned(), uri.to_owned()]),
                Err(ConnectError::BadRedirectUri { index: 1 }),
                "{uri}"
            );
        }
        let many: Vec<String> = (0..=MAX_REDIRECT_URIS)
            .map(|n| format!("https://x.example.com/{n}"))
            .collect();
        assert_eq!(
            parse_redirect_uris(&many),
            Err(ConnectError::TooManyRedirectUris)
        );
        let long = format!(
            "https://x.example.com/{}",
            "a".repeat(MAX_REDIRECT_URI_CHARS)
        );
        assert_eq!(
            parse_redirect_uris(&[long]),
            Err(ConnectError::RedirectUriTooLong { index: 0 })
        );
    }

    #[test]
    fn a_code_is_redeemed_once_and_only_before_it_expires() {
        let created = DateTime::<Utc>::from_timestamp(1_700_000_000, 0).unwrap_or_default();
        let code = AuthorizationCode {
            id: AuthorizationCodeId::from_body("0".repeat(crate::ids::BODY_CHARS)),
            code_sha256: String::new(),
            standalone: AccountId::from_body("1".repeat(crate::ids::BODY_CHARS)),
            connection: AccountId::from_body("2".repeat(crate::ids::BODY_CHARS)),
            scope: ConnectionScope::ReadWrite,
            redirect_uri: "https://x.example.com/".into(),
            created,
            expires: AuthorizationCode::expiry(created),
            redeemed: None,
        };
        let mut fresh = code.clone();
        assert_eq!(fresh.redeem(created + Duration::seconds(299)), Ok(()));
        assert_eq!(
            fresh.redeem(created + Duration::seconds(299)),
            Err(CodeRefusal::AlreadyRedeemed)
        );
        let mut late = code;
        assert_eq!(
            late.redeem(created + Duration::seconds(300)),
            Err(CodeRefusal::Expired)
        );
    }

    #[test]
    fn a_standalone_account_and_its_keyspace_share_one_body() {
        let account = AccountId::from_body("0".repeat(crate::ids::BODY_CHARS));
        let keyspace = standalone_keyspace(&account);
        assert!(keyspace.as_str().starts_with("plat_"));
        assert_eq!(standalone_account_id(&keyspace), account);
    }
}
