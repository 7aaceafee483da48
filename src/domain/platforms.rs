//! A platform: the business that runs on tollgate, its settings and its secret key's hash.

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

use crate::domain::connections::StandaloneProfile;
use crate::ids::{PlatformId, SecretKeyId};
use crate::money::Currency;

/// The longest platform name accepted.
pub const MAX_PLATFORM_NAME_CHARS: usize = 100;

#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct Platform {
    pub id: PlatformId,
    pub name: String,
    pub country: String,
    pub default_currency: Currency,
    /// The policy file (without `.rhai`) that prices this platform's charges.
    pub policy: String,
    pub secret_key: SecretKeyId,
    pub created: DateTime<Utc>,
    /// Where connect-by-authorization may send an account holder back (exact match).
    #[serde(default)]
    pub oauth_redirect_uris: Vec<String>,
    /// Set when this record is a standalone account's own principal.
    #[serde(default)]
    pub standalone: Option<StandaloneProfile>,
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum PlatformError {
    #[error("the platform name must be 1 to {MAX_PLATFORM_NAME_CHARS} characters")]
    BadName,
    #[error(
        "the policy name '{0}' must be letters, digits, '-' or '_' (the file name without .rhai)"
    )]
    BadPolicyName(String),
}

/// A platform name: trimmed, non-empty, bounded.
pub fn parse_name(name: &str) -> Result<String, PlatformError> {
    let trimmed = name.trim();
    if trimmed.is_empty() || trimmed.chars().count() > MAX_PLATFORM_NAME_CHARS {
        return Err(PlatformError::BadName);
    }
    Ok(trimmed.to_owned())
}

/// A policy name is a file name in the policies folder, so it cannot hold a path.
pub fn parse_policy_name(name: &str) -> Result<String, PlatformError> {
    let valid = !name.is_empty()
        && name.len() <= 64
        && name
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '_');
    if !valid {
        return Err(PlatformError::BadPolicyName(
            name.chars().take(64).collect(),
        ));
    }
    Ok(name.to_owned())
}
