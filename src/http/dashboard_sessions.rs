//! Express dashboard sessions, held in memory: a session is a random cookie token (stored
//! only as its hash), the platform and account it acts as, its CSRF token and its expiry.
//!
//! In memory rather than in the store: a session is worth less than the login link that
//! made it (a holder whose session is lost on a restart asks the platform for a new link),
//! and nothing that would let a browser in is ever written to disk. The count is bounded:
//! when full, expired sessions go first, then the one closest to expiring.

use std::collections::HashMap;
use std::sync::Mutex;

use chrono::{DateTime, Duration, Utc};
use rand::RngCore;
use sha2::{Digest, Sha256};

use crate::ids::{AccountId, PlatformId};

/// The most sessions held at once, over all platforms.
pub const MAX_DASHBOARD_SESSIONS: usize = 10_000;
/// How long a session lasts after its login, on the platform's clock.
pub const DASHBOARD_SESSION_LIFETIME_SECONDS: i64 = 3_600;
/// Random bytes in a session token and in a CSRF token.
const TOKEN_BYTES: usize = 32;

/// What a live session lets its browser do.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct DashboardSession {
    pub platform: PlatformId,
    pub account: AccountId,
    /// Every form of the dashboard carries it; a post without it is refused.
    pub csrf_token: String,
    pub expires_at: DateTime<Utc>,
}

/// The sessions, by the hash of their cookie token.
#[derive(Debug, Default)]
pub struct DashboardSessions {
    by_token_hash: Mutex<HashMap<String, DashboardSession>>,
}

pub fn new_token() -> String {
    let mut bytes = [0u8; TOKEN_BYTES];
    rand::thread_rng().fill_bytes(&mut bytes);
    hex::encode(bytes)
}

/// Whether a cookie value could be one of our tokens.
pub fn is_token_shaped(token: &str) -> bool {
    token.len() == TOKEN_BYTES * 2
        && token
            .bytes()
            .all(|byte| byte.is_ascii_digit() || (b'a'..=b'f').contains(&byte))
}

fn token_hash(token: &str) -> String {
    hex::encode(Sha256::digest(token.as_bytes()))
}

impl DashboardSessions {
    /// A new session for the account; returns its cookie token.
    pub fn open(&self, platform: PlatformId, account: AccountId, now: DateTime<Utc>) -> String {
        let token = new_token();
        let session = DashboardSession {
            platform,
            account,
            csrf_token: new_token(),
            expires_at: now + Duration::seconds(DASHBOARD_SESSION_LIFETIME_SECONDS),
        };
        let mut sessions = self.lock();
        if sessions.len() >= MAX_DASHBOARD_SESSIONS {
            sessions.retain(|_, session| session.expires_at > now);
        }
        if sessions.len() >= MAX_DASHBOARD_SESSIONS {
            let soonest = sessions
                .iter()
                .min_by_key(|(_, session)| session.expires_at)
                .map(|(hash, _)| hash.clone());
            if let Some(soonest) = soonest {
                sessions.remove(&soonest);
            }
        }
        sessions.insert(token_hash(&token), session);
        token
    }

    /// The live session of a cookie token; an expired one is dropped. `now` is asked for
    /// with the session's platform, whose clock it runs on.
    pub fn find(
        &self,
        token: &str,
        now: impl FnOnce(&PlatformId) -> DateTime<Utc>,
    ) -> Option<DashboardSession> {
        if !is_token_shaped(token) {
            return None;
        }
        let hash = token_hash(token);
        let mut sessions = self.lock();
        let session = sessions.get(&hash)?.clone();
        if now(&session.platform) >= session.expires_at {
            sessions.remove(&hash);
            return None;
        }
        Some(session)
    }

    /// Ends a session (signing out).
    pub fn close(&self, token: &str) {
        self.lock().remove(&token_hash(token));
    }

    pub fn len(&self) -> usize {
        self.lock().len()
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// A poisoned lock only means a panic elsewhere mid-update; the map itself stays valid.
    fn lock(&self) -> std::sync::MutexGuard<'_, HashMap<String, DashboardSession>> {
        self.by_token_hash
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::ids::IdGenerator;

    fn ids() -> (PlatformId, AccountId) {
        let ids = IdGenerator::new();
        (ids.next(), ids.next())
    }

    #[test]
    fn a_session_lives_until_it_expires_and_ends_on_sign_out() {
        let sessions = DashboardSessions::default();
        let (platform, account) = ids();
        let now = Utc::now();
        let token = sessions.open(platform.clone(), account.clone(), now);
        let found = sessions.find(&token, |_| now).expect("live");
        assert_eq!(found.account, account);
        assert!(is_token_shaped(&found.csrf_token));
        let later = now + Duration::seconds(DASHBOARD_SESSION_LIFETIME_SECONDS);
        assert!(sessions.find(&token, |_| later).is_none());
        assert!(sessions.is_empty(), "an expired session is dropped");
        let token = sessions.open(platform, account, now);
        sessions.close(&token);
        assert!(sessions.find(&token, |_| now).is_none());
        assert!(sessions.find("not a token", |_| now).is_none());
    }

    #[test]
    fn the_count_is_bounded() {
        let sessions = DashboardSessions::default();
        let (platform, account) = ids();
        let start = Utc::now();
        let first = sessions.open(platform.clone(), account.clone(), start);
        for millisecond in 1..=MAX_DASHBOARD_SESSIONS as i64 {
            sessions.open(
                platform.clone(),
                account.clone(),
                start + Duration::milliseconds(millisecond),
            );
        }
        assert_eq!(sessions.len(), MAX_DASHBOARD_SESSIONS);
        assert!(
            sessions.find(&first, |_| start).is_none(),
            "the session closest to expiring made room"
        );
        // Expired sessions make room first.
        let later = start + Duration::seconds(DASHBOARD_SESSION_LIFETIME_SECONDS + 60);
        sessions.open(platform, account, later);
        assert_eq!(sessions.len(), 1);
    }
}
