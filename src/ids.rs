//! Typed, prefixed, unguessable identifiers that sort by creation time.
//!
//! An id is `<prefix>_<26 characters>`: 13 characters of a strictly increasing 64-bit stamp
//! (microseconds since the epoch, bumped when two ids are made in the same microsecond)
//! followed by 13 characters of 64 random bits, both in Crockford's base32 lowercase.
//! Byte order is therefore creation order, which is what newest-first lists rely on.

use std::fmt;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{SystemTime, UNIX_EPOCH};

use rand::RngCore;
use serde::{Deserialize, Serialize};

const ALPHABET: &[u8; 32] = b"0123456789abcdefghjkmnpqrstvwxyz";
const STAMP_CHARS: usize = 13;
const RANDOM_CHARS: usize = 13;
pub const BODY_CHARS: usize = STAMP_CHARS + RANDOM_CHARS;

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum IdError {
    #[error("'{given}' is not a valid {kind} id: it must start with '{prefix}_'")]
    WrongPrefix {
        kind: &'static str,
        prefix: &'static str,
        given: String,
    },
    #[error("'{given}' is not a valid {kind} id")]
    Malformed { kind: &'static str, given: String },
}

fn encode_u64(mut value: u64, out: &mut [u8; 13]) {
    for slot in out.iter_mut().rev() {
        *slot = ALPHABET[(value & 31) as usize];
        value >>= 5;
    }
}

fn is_body_char(byte: u8) -> bool {
    ALPHABET.contains(&byte)
}

/// Makes id bodies. One per process, held in the application state; the stamp never goes
/// backwards even if the system clock does.
#[derive(Debug, Default)]
pub struct IdGenerator {
    last_stamp: AtomicU64,
}

impl IdGenerator {
    pub fn new() -> IdGenerator {
        IdGenerator::default()
    }

    fn next_stamp(&self) -> u64 {
        let now = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .map_or(0, |elapsed| {
                u64::try_from(elapsed.as_micros()).unwrap_or(u64::MAX)
            });
        let mut last = self.last_stamp.load(Ordering::Relaxed);
        loop {
            let next = now.max(last.saturating_add(1));
            match self.last_stamp.compare_exchange_weak(
                last,
                next,
                Ordering::Relaxed,
                Ordering::Relaxed,
            ) {
                Ok(_) => return next,
                Err(actual) => last = actual,
            }
        }
    }

    /// A fresh 26-character id body.
    pub fn body(&self) -> String {
        let mut stamp = [0u8; 13];
        let mut random = [0u8; 13];
        encode_u64(self.next_stamp(), &mut stamp);
        encode_u64(rand::thread_rng().next_u64(), &mut random);
        let mut body = String::with_capacity(BODY_CHARS);
        body.extend(stamp.iter().map(|&b| char::from(b)));
        body.extend(random.iter().map(|&b| char::from(b)));
        body
    }

    pub fn next<T: TypedId>(&self) -> T {
        T::from_body(self.body())
    }
}

/// What every typed id shares.
pub trait TypedId: Sized + Clone + fmt::Display {
    const PREFIX: &'static str;
    const KIND: &'static str;
    fn from_body(body: String) -> Self;
    fn as_str(&self) -> &str;
}

/// Checks the shape `<prefix>_<26 base32 characters>`.
pub fn check_id(given: &str, prefix: &'static str, kind: &'static str) -> Result<(), IdError> {
    let Some(body) = given
        .strip_prefix(prefix)
        .and_then(|rest| rest.strip_prefix('_'))
    else {
        return Err(IdError::WrongPrefix {
            kind,
            prefix,
            given: given.chars().take(64).collect(),
        });
    };
    if body.len() != BODY_CHARS || !body.bytes().all(is_body_char) {
        return Err(IdError::Malformed {
            kind,
            given: given.chars().take(64).collect(),
        });
    }
    Ok(())
}

macro_rules! typed_id {
    ($(#[$doc:meta])* $name:ident, $prefix:literal, $kind:literal) => {
        $(#[$doc])*
        #[derive(Clone, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
        #[serde(try_from = "String", into = "String")]
        pub struct $name(String);

        impl $name {
            pub fn parse(given: &str) -> Result<$name, IdError> {
                check_id(given, $prefix, $kind)?;
                Ok($name(given.to_owned()))
            }
        }

        impl TypedId for $name {
            const PREFIX: &'static str = $prefix;
            const KIND: &'static str = $kind;
            fn from_body(body: String) -> Self {
                $name(format!("{}_{}", $prefix, body))
            }
            fn as_str(&self) -> &str {
                &self.0
            }
        }

        impl AsRef<str> for $name {
            fn as_ref(&self) -> &str {
                &self.0
            }
        }

        impl TryFrom<String> for $name {
            type Error = IdError;
            fn try_from(value: String) -> Result<Self, Self::Error> {
                check_id(&value, $prefix, $kind)?;
                Ok($name(value))
            }
        }

        impl From<$name> for String {
            fn from(value: $name) -> String {
                value.0
            }
        }

        impl fmt::Display for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str(&self.0)
            }
        }

        impl fmt::Debug for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str(&self.0)
            }
        }
    };
}

typed_id!(PlatformId, "plat", "platform");
typed_id!(AccountId, "acct", "account");
typed_id!(ChargeId, "ch", "charge");
typed_id!(
    /// A payment on a connected account (destination charges) or an account debit on the platform.
    PaymentId, "py", "payment"
);
typed_id!(ApplicationFeeId, "fee", "application fee");
typed_id!(FeeRefundId, "fr", "application fee refund");
typed_id!(TransferId, "tr", "transfer");
typed_id!(TransferReversalId, "trr", "transfer reversal");
typed_id!(RefundId, "re", "refund");
typed_id!(DisputeId, "dp", "dispute");
typed_id!(PayoutId, "po", "payout");
typed_id!(BalanceTransactionId, "txn", "balance transaction");
typed_id!(EventId, "evt", "event");
typed_id!(BankAccountId, "ba", "bank account");
typed_id!(CardId, "card", "debit card");
typed_id!(TopupId, "tu", "top-up");
typed_id!(WebhookEndpointId, "we", "webhook endpoint");
typed_id!(PolicyBacktestRunId, "pbt", "policy backtest run");
typed_id!(
    /// One event's delivery to one webhook endpoint.
    WebhookDeliveryId, "whd", "webhook delivery"
);
typed_id!(
    /// A journal entry in the ledger (internal; not part of the public API).
    EntryId, "je", "journal entry"
);
typed_id!(
    /// The public half of a platform's secret key, used to find the key's stored hash.
    SecretKeyId, "skid", "secret key"
);
typed_id!(
    /// A code connect-by-authorization sends to a platform's redirect URI (single use).
    AuthorizationCodeId, "ac", "authorization code"
);
typed_id!(
    /// A restricted key's id; its secret (`rk_…`) carries the same body.
    RestrictedKeyId, "rkid", "restricted key"
);
typed_id!(
    /// A hosted onboarding link (internal token in the link's URL).
    AccountLinkId, "link", "account link"
);

/// The prefix of any id, e.g. "ch" for "ch_…", used by `node(id:)` to pick the type.
pub fn prefix_of(id: &str) -> Option<&str> {
    id.split_once('_').map(|(prefix, _)| prefix)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ids_carry_their_prefix_and_round_trip() {
        let ids = IdGenerator::new();
        let charge: ChargeId = ids.next();
        assert!(charge.as_str().starts_with("ch_"));
        assert_eq!(charge.as_str().len(), 3 + BODY_CHARS);
        assert_eq!(ChargeId::parse(charge.as_str()), Ok(charge.clone()));
    }

    #[test]
    fn ids_sort_by_creation_time() {
        let ids = IdGenerator::new();
        let made: Vec<AccountId> = (0..1000).map(|_| ids.next()).collect();
        let mut sorted = made.clone();
        sorted.sort();
        assert_eq!(made, sorted);
    }

    #[test]
    fn wrong_prefix_and_malformed_ids_are_refused() {
        let ids = IdGenerator::new();
        let account: AccountId = ids.next();
        assert!(matches!(
            ChargeId::parse(account.as_str()),
            Err(IdError::WrongPrefix { prefix: "ch", .. })
        ));
        assert!(matches!(
            AccountId::parse("acct_123"),
            Err(IdError::Malformed { .. })
        ));
        assert!(matches!(
            AccountId::parse("acct_"),
            Err(IdError::Malformed { .. })
        ));
        let upper = account.as_str().to_uppercase().replacen("ACCT", "acct", 1);
        assert!(matches!(
            AccountId::parse(&upper),
            Err(IdError::Malformed { .. })
        ));
        assert!(matches!(
            TransferId::parse("trr_x"),
            Err(IdError::WrongPrefix { .. })
        ));
    }
}
