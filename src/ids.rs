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

fn decode_u64(chars: &[u8]) -> Option<u64> {
    let (&first, _) = chars.split_first()?;
    // Thirteen characters hold 65 bits: the first carries only the top four of a u64.
    if ALPHABET.iter().position(|&b| b == first)? >= 16 {
        return None;
    }
    chars.iter().try_fold(0u64, |value, &byte| {
        let digit = ALPHABET.iter().position(|&b| b == byte)?;
        Some((value << 5) | digit as u64)
    })
}

/// The 16 bytes an id body stands for (its stamp, then its random bits, big-endian), so
/// byte order is the body's order; `None` when `body` is not one this module makes.
pub fn body_to_bytes(body: &str) -> Option<[u8; 16]> {
    let bytes = body.as_bytes();
    if bytes.len() != BODY_CHARS {
        return None;
    }
    let (stamp, random) = bytes.split_at(STAMP_CHARS);
    let mut out = [0u8; 16];
    out[..8].copy_from_slice(&decode_u64(stamp)?.to_be_bytes());
    out[8..].copy_from_slice(&decode_u64(random)?.to_be_bytes());
    Some(out)
}

/// The id body that [`body_to_bytes`] turned into `bytes`.
pub fn body_from_bytes(bytes: &[u8; 16]) -> String {
    let (stamp, random) = bytes.split_at(8);
    let mut body = String::with_capacity(BODY_CHARS);
    for half in [stamp, random] {
        let mut chars = [0u8; 13];
        let mut value = [0u8; 8];
        value.copy_from_slice(half);
        encode_u64(u64::from_be_bytes(value), &mut chars);
        body.extend(chars.iter().map(|&b| char::from(b)));
    }
    body
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
    fn id_bodies_round_trip_through_their_bytes_in_the_same_order() {
        let ids = IdGenerator::new();
        let made: Vec<String> = (0..200).map(|_| ids.body()).collect();
        for pair in made.windows(2) {
            let (first, second) = (&pair[0], &pair[1]);
            let (first_bytes, second_bytes) = (
                body_to_bytes(first).expect("bytes"),
                body_to_bytes(second).expect("bytes"),
            );
            assert_eq!(body_from_bytes(&first_bytes), *first);
            assert_eq!(first.cmp(second), first_bytes.cmp(&second_bytes));
        }
        assert_eq!(body_to_bytes("zzzzzzzzzzzzzzzzzzzzzzzzzz"), None);
        assert_eq!(body_to_bytes("0000000000000"), None);
        let top = "fzzzzzzzzzzzzfzzzzzzzzzzzz";
        assert_eq!(body_to_bytes(top), Some([0xFF; 16]));
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
