//! What a commit carries to the writer, and what the writer answers.

use tokio::sync::oneshot;

use super::keys::Key;
use super::StoreError;
use crate::ids::PlatformId;
use crate::ledger::{Entry, LedgerAccount};

/// The most writes, entries or conditions one commit may carry.
pub const MAX_ITEMS_PER_COMMIT: usize = 4096;

/// What an object write expects to find, for optimistic concurrency.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Expect {
    /// Write whatever is there.
    Any,
    /// The key must not exist yet.
    Absent,
    /// The object must still be at this revision.
    Revision(u64),
}

#[derive(Clone, Debug)]
pub enum Write {
    /// An object (as `codec::encode_object` encodes it): sealed in an envelope with the
    /// next revision.
    Object {
        key: Key,
        payload: Vec<u8>,
        expect: Expect,
    },
    /// Raw bytes (index entries, timers, metadata).
    Raw {
        key: Key,
        value: Vec<u8>,
    },
    Delete {
        key: Key,
    },
}

/// A check against current state, made by the writer after every earlier commit in order.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Condition {
    /// The balance must be at least `minimum_minor` before this commit's postings.
    BalanceAtLeast {
        account: LedgerAccount,
        minimum_minor: i64,
    },
    /// The key must exist (e.g. a timer not yet handled by another commit).
    Exists { key: Key },
}

/// The first request under an idempotency key: its fingerprint and the outcome to replay.
#[derive(Clone, Debug)]
pub struct IdempotencyClaim {
    pub key: String,
    pub fingerprint: String,
    /// Opaque bytes (UTF-8 JSON) the service decodes on replay.
    pub outcome: Vec<u8>,
    /// When the key was first used, so old keys can be pruned after their retention.
    pub created_micros: i64,
}

/// Everything one request changes, applied wholly or not at all.
#[derive(Clone, Debug)]
pub struct Commit {
    /// The platform the commit acts for; `None` for the server's own bookkeeping.
    pub platform: Option<PlatformId>,
    pub idempotency: Option<IdempotencyClaim>,
    pub conditions: Vec<Condition>,
    pub entries: Vec<Entry>,
    pub writes: Vec<Write>,
}

impl Commit {
    pub fn new(platform: Option<PlatformId>) -> Commit {
        Commit {
            platform,
            idempotency: None,
            conditions: Vec::new(),
            entries: Vec::new(),
            writes: Vec::new(),
        }
    }

    pub fn item_count(&self) -> usize {
        self.conditions.len() + self.entries.len() + self.writes.len()
    }

    /// Whether the commit writes or deletes what authenticating a key reads: a key's record
    /// (`s…`) or a platform's own record (`o<platform>/<platform>`).
    pub fn writes_credentials(&self) -> bool {
        self.writes.iter().any(|write| {
            let key = match write {
                Write::Object { key, .. } | Write::Raw { key, .. } | Write::Delete { key } => key,
            };
            key.is_credential()
        })
    }
}

/// What the writer did with a commit.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Applied {
    /// Applied and flushed.
    Committed,
    /// The idempotency key was used before with the same fingerprint: nothing was applied,
    /// and this is the first request's outcome.
    Replayed { outcome: Vec<u8> },
}

/// Commits sent together: the writer stages each on its own (one may fail while the others
/// apply) and applies them all in the same group, so one flush makes them all durable.
pub(crate) struct Submission {
    pub commits: Vec<Commit>,
    /// One answer per commit, in order.
    pub reply: oneshot::Sender<Vec<Result<Applied, StoreError>>>,
}
