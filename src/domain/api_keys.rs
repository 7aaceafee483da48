//! API keys beyond the platform's secret key: restricted keys (named, read-only, optionally
//! bound to one connected account) and how long a rotated secret key stays valid.
//!
//! A restricted key only reads: every mutation made with it is refused. Bound to an
//! account, it acts as that account on every request. A rotated secret key keeps working
//! for an overlap, so clients can move to the new key without downtime; each rotation's
//! overlap stands on its own, and at most [`MAX_PREVIOUS_SECRET_KEYS`] earlier keys are
//! alive at once (a further rotation ends the oldest of them at once).

use std::collections::BTreeSet;

use chrono::{DateTime, Duration, Utc};
use serde::{Deserialize, Serialize};

use crate::ids::{AccountId, RestrictedKeyId};

/// The longest restricted-key name accepted.
pub const MAX_KEY_NAME_CHARS: usize = 100;
/// The most restricted keys a platform may hold at once (revoked ones do not count).
pub const MAX_RESTRICTED_KEYS_PER_PLATFORM: usize = 100;
/// The most earlier secret keys still inside their overlap at once.
pub const MAX_PREVIOUS_SECRET_KEYS: usize = 3;
/// How long a rotated secret key keeps working when nothing else is configured.
pub const DEFAULT_KEY_ROTATION_OVERLAP_HOURS: i64 = 24;
/// The longest overlap accepted (thirty days): a leaked key must not live on for long.
pub const MAX_KEY_ROTATION_OVERLAP_HOURS: i64 = 30 * 24;

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ApiKeyError {
    #[error(
        "the key name must be 1 to {MAX_KEY_NAME_CHARS} characters without control characters"
    )]
    BadName,
    #[error("a restricted key needs at least one permission (READ_ONLY)")]
    NoPermissions,
    #[error("a platform may hold at most {MAX_RESTRICTED_KEYS_PER_PLATFORM} restricted keys: revoke one first")]
    TooManyKeys,
}

impl ApiKeyError {
    /// The input parameter at fault, for the API error's `param` (GraphQL input naming).
    pub fn param(&self) -> &'static str {
        match self {
            ApiKeyError::BadName => "name",
            ApiKeyError::NoPermissions => "permissions",
            ApiKeyError::TooManyKeys => "name",
        }
    }
}

/// Serialized as the contract's enum values: READ_ONLY.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "SCREAMING_SNAKE_CASE")]
pub enum KeyPermission {
    /// Queries and subscriptions; no mutation.
    ReadOnly,
}

/// A restricted key as stored and listed; its secret is kept only as a hash.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct RestrictedKey {
    id: RestrictedKeyId,
    name: String,
    account: Option<AccountId>,
    permissions: Vec<KeyPermission>,
    created: DateTime<Utc>,
}

impl RestrictedKey {
    /// A new key: the name trimmed and bounded, at least one permission, each once.
    pub fn new(
        id: RestrictedKeyId,
        name: &str,
        account: Option<AccountId>,
        permissions: &[KeyPermission],
        created: DateTime<Utc>,
    ) -> Result<RestrictedKey, ApiKeyError> {
        let name = name.trim();
        if name.is_empty()
            || name.chars().count() > MAX_KEY_NAME_CHARS
            || name.chars().any(char::is_control)
        {
            return Err(ApiKeyError::BadName);
        }
        let permissions: BTreeSet<KeyPermission> = permissions.iter().copied().collect();
        if permissions.is_empty() {
            return Err(ApiKeyError::NoPermissions);
        }
        Ok(RestrictedKey {
            id,
            name: name.to_owned(),
            account,
            permissions: permissions.into_iter().collect(),
            created,
        })
    }

    pub fn id(&self) -> &RestrictedKeyId {
        &self.id
    }
    pub fn name(&self) -> &str {
        &self.name
    }
    /// The account every request made with the key acts as, if it is bound to one.
    pub fn account(&self) -> Option<&AccountId> {
        self.account.as_ref()
    }
    pub fn permissions(&self) -> &[KeyPermission] {
        &self.permissions
    }
    pub fn created(&self) -> DateTime<Utc> {
        self.created
    }
    /// Every permission there is today only reads.
    pub fn read_only(&self) -> bool {
        self.permissions.contains(&KeyPermission::ReadOnly)
    }
}

/// How long a rotated secret key keeps working, in whole hours.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RotationOverlap(i64);

impl RotationOverlap {
    /// From 0 (the old key ends at once) to [`MAX_KEY_ROTATION_OVERLAP_HOURS`].
    pub fn from_hours(hours: i64) -> Result<RotationOverlap, String> {
        if !(0..=MAX_KEY_ROTATION_OVERLAP_HOURS).contains(&hours) {
            return Err(format!(
                "the key rotation overlap must be 0 to {MAX_KEY_ROTATION_OVERLAP_HOURS} hours, not {hours}"
            ));
        }
        Ok(RotationOverlap(hours))
    }

    pub fn hours(self) -> i64 {
        self.0
    }

    /// When a key rotated at `now` stops working.
    pub fn expiry(self, now: DateTime<Utc>) -> DateTime<Utc> {
        now + Duration::hours(self.0)
    }
}

impl Default for RotationOverlap {
    fn default() -> RotationOverlap {
        RotationOverlap(DEFAULT_KEY_ROTATION_OVERLAP_HOURS)
    }
}

impl std::str::FromStr for RotationOverlap {
    type Err = String;

    fn from_str(text: &str) -> Result<RotationOverlap, String> {
        let hours: i64 = text
            .trim()
            .parse()
            .map_err(|_| format!("'{text}' is not a whole number of hours"))?;
        RotationOverlap::from_hours(hours)
    }
}

/// Which earlier keys a rotation at `now` ends at once so that, with the key it retires,
/// at most [`MAX_PREVIOUS_SECRET_KEYS`] stay alive: the oldest still-alive ones. `alive`
/// lists the earlier keys with their expiry, oldest first.
pub fn keys_ended_by_rotation<Id: Clone>(
    alive: &[(Id, DateTime<Utc>)],
    now: DateTime<Utc>,
) -> Vec<Id> {
    let still_alive: Vec<&(Id, DateTime<Utc>)> =
        alive.iter().filter(|(_, expires)| *expires > now).collect();
    let excess = (still_alive.len() + 1).saturating_sub(MAX_PREVIOUS_SECRET_KEYS);
    still_alive
        .into_iter()
        .take(excess)
        .map(|(id, _)| id.clone())
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::ids::IdGenerator;

    fn at(hour: i64) -> DateTime<Utc> {
        DateTime::parse_from_rfc3339("2026-11-27T00:00:00Z")
            .expect("time")
            .to_utc()
            + Duration::hours(hour)
    }

    #[test]
    fn names_and_permissions_are_checked() {
        let ids = IdGenerator::new();
        let key = RestrictedKey::new(
            ids.next(),
            "  reporting ",
            None,
            &[KeyPermission::ReadOnly, KeyPermission::ReadOnly],
            at(0),
        )
        .expect("key");
        assert_eq!(key.name(), "reporting");
        assert_eq!(key.permissions(), &[KeyPermission::ReadOnly]);
        assert!(key.read_only());
        let long = "k".repeat(MAX_KEY_NAME_CHARS + 1);
        for (name, permissions, error) in [
            (" ", &[KeyPermission::ReadOnly][..], ApiKeyError::BadName),
            (
                long.as_str(),
                &[KeyPermission::ReadOnly][..],
                ApiKeyError::BadName,
            ),
            (
                "a\u{7}",
                &[KeyPermission::ReadOnly][..],
                ApiKeyError::BadName,
            ),
            ("ok", &[][..], ApiKeyError::NoPermissions),
        ] {
            assert_eq!(
                RestrictedKey::new(ids.next(), name, None, permissions, at(0)),
                Err(error)
            );
        }
    }

    #[test]
    fn the_overlap_is_bounded() {
        assert_eq!(RotationOverlap::default().hours(), 24);
        assert_eq!(
            "0".parse::<RotationOverlap>().map(RotationOverlap::hours),
            Ok(0)
        );
        assert!("-1".parse::<RotationOverlap>().is_err());
        assert!("721".parse::<RotationOverlap>().is_err());
        assert!("day".parse::<RotationOverlap>().is_err());
        assert_eq!(
            RotationOverlap::from_hours(2).expect("2").expiry(at(1)),
            at(3)
        );
    }

    #[test]
    fn a_rotation_keeps_at_most_the_bound_of_earlier_keys_alive() {
        // (earlier keys with their expiry, oldest first; the ones the rotation ends)
        type Case<'a> = (&'a [(&'a str, i64)], &'a [&'a str]);
        let cases: [Case; 4] = [
            (&[], &[]),
            (&[("a", 24)], &[]),
            (&[("a", 20), ("b", 22)], &[]),
            // An expired key does not count; the oldest alive one goes first.
            (&[("x", 1), ("a", 20), ("b", 22), ("c", 23)], &["a"]),
        ];
        for (alive, ended) in cases {
            let alive: Vec<(&str, DateTime<Utc>)> =
                alive.iter().map(|(id, hour)| (*id, at(*hour))).collect();
            assert_eq!(keys_ended_by_rotation(&alive, at(2)), ended.to_vec());
        }
    }
}
