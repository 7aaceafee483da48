//! The store: the only code that knows the storage engines (sled, embedded, by default;
//! PostgreSQL for several servers over one database). Keyspaces, codecs, reads, and the
//! writer that applies commits in groups.
//!
//! Reads go straight to the engine (`reads.rs`). Writes go only through [`Store::commit`],
//! which hands the commit to the writer thread and waits until the group holding it is
//! durable. Opening a store proves its ledger chain first (`open.rs`): a damaged, shortened
//! or altered store is refused.

pub mod backup;
mod chain;
mod codec;
mod commit;
mod engine;
mod format;
#[cfg(test)]
mod format_tests;
mod high_water;
mod index_key;
mod keys;
mod location;
mod migrate;
mod open;
mod platform_move;
pub mod postgres;
mod reads;
mod shards;
mod sled_engine;
#[cfg(test)]
mod tests;
mod writer;

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::thread::JoinHandle;

use serde::{Deserialize, Serialize};
use tokio::sync::{mpsc, oneshot};

pub use codec::{encode_object, from_payload, to_payload};
pub use commit::{Applied, Commit, Condition, Expect, IdempotencyClaim, Write};
pub use high_water::HIGH_WATER_FILE;
pub use keys::{timer_stamp, Key, Keyspace};
pub use location::{PostgresUrl, StoreLocation, StoreUrl};
pub use migrate::MIGRATE_BATCH_RECORDS;
pub use platform_move::{move_platform, MoveReport};
pub use shards::{Shards, StoreList, SHARD_DIRECTORY_PREFIX};
pub use writer::{abort_process, FailStop, MAX_COMMITS_PER_GROUP};

use crate::ledger::LedgerError;
use commit::Submission;
use engine::Engine;

/// How many commits may wait for the writer before callers queue behind them.
pub const WRITER_QUEUE_CAPACITY: usize = 4096;
/// sled's page cache, by default (`--cache-mb`).
pub const CACHE_CAPACITY_BYTES: u64 = 256 * 1024 * 1024;
/// Log levels for the engines' own crates: their routine messages are not the server's.
pub const ENGINE_LOG_LEVELS: &str = "sled=warn,tokio_postgres=warn,postgres=warn";
/// The most items a single scan returns.
pub const MAX_SCAN_ITEMS: usize = 1000;

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum StoreError {
    #[error("storage failed: {0}")]
    Io(String),
    #[error("a stored value could not be decoded: {0}")]
    Codec(String),
    #[error("the idempotency key was used with a different request")]
    IdempotencyConflict,
    #[error("condition {index} failed: {condition:?} (actual {actual_minor})")]
    ConditionFailed {
        index: usize,
        condition: Condition,
        actual_minor: i64,
    },
    #[error("{key} changed since it was read")]
    RevisionConflict { key: String },
    #[error("the ledger refused the commit: {0}")]
    Ledger(#[from] LedgerError),
    #[error("a commit of {0} items is over the limit")]
    TooLarge(usize),
    #[error("the writer has stopped")]
    WriterStopped,
    /// The store is damaged, shorter than what was acknowledged, or altered.
    #[error("{0}")]
    Integrity(String),
    /// sled found a record whose checksum does not match.
    #[error("the store's files are damaged: {0}")]
    Damaged(String),
    #[error("a scan of {limit} items is over the limit of {MAX_SCAN_ITEMS}; page through instead")]
    ScanTooLarge { limit: usize },
}

/// The stored record of an idempotency key.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct IdempotencyRecord {
    pub fingerprint: String,
    pub outcome: String,
    pub created_micros: i64,
}

/// An object as stored, with the revision a later write can expect.
#[derive(Clone, Debug)]
pub struct Versioned<T> {
    pub revision: u64,
    pub value: T,
}

/// Handle to the store: cheap to clone, shared by every request.
#[derive(Clone)]
pub struct Store {
    engine: Arc<dyn Engine>,
    sender: mpsc::Sender<Submission>,
    /// How many reads this handle's clones have made, for tests of query costs.
    reads: Arc<AtomicU64>,
    /// Held by the writer while it applies a group: whoever holds it sees no write happen
    /// (consistent backups and ledger checks on a running server).
    apply_lock: Arc<std::sync::Mutex<()>>,
    /// Counts the commits through this handle's clones that wrote an API key's record or a
    /// platform's own record, once each was applied: caches of authenticated keys compare
    /// it to know when to read again.
    credentials_epoch: Arc<AtomicU64>,
}

/// The writer thread; joining it waits for the last group to be flushed.
pub struct WriterThread(JoinHandle<()>);

impl WriterThread {
    pub fn join(self) {
        if self.0.join().is_err() {
            tracing::error!("the writer thread panicked");
        }
    }
}

/// How a store behaves beyond its location.
#[derive(Clone)]
pub struct StoreOptions {
    /// Called when a flush fails; servers end the process.
    pub fail_stop: FailStop,
    /// The most memory sled's page cache may hold.
    pub cache_capacity_bytes: u64,
}

impl Default for StoreOptions {
    fn default() -> Self {
        StoreOptions {
            fail_stop: abort_process(),
            cache_capacity_bytes: CACHE_CAPACITY_BYTES,
        }
    }
}

impl Store {
    /// Applies a commit; returns only after the flush that makes it durable.
    pub async fn commit(&self, commit: Commit) -> Result<Applied, StoreError> {
        self.commit_many(vec![commit])
            .await?
            .pop()
            .ok_or(StoreError::WriterStopped)?
    }

    /// Sends commits together: each is checked and staged on its own, in order (one may
    /// fail while the others apply), and all are applied in the same group and made durable
    /// by the same flush. Answers one result per commit, in order.
    pub async fn commit_many(
        &self,
        commits: Vec<Commit>,
    ) -> Result<Vec<Result<Applied, StoreError>>, StoreError> {
        if commits.len() > writer::MAX_COMMITS_PER_GROUP {
            return Err(StoreError::TooLarge(commits.len()));
        }
        let count = commits.len();
        let touches_credentials = commits.iter().any(Commit::writes_credentials);
        let (reply, answer) = oneshot::channel();
        self.sender
            .send(Submission { commits, reply })
            .await
            .map_err(|_| StoreError::WriterStopped)?;
        let results = answer.await.map_err(|_| StoreError::WriterStopped);
        if touches_credentials {
            // After the group was applied (or refused): whatever was cached before is old.
            self.credentials_epoch.fetch_add(1, Ordering::Release);
        }
        let results = results?;
        if results.len() != count {
            return Err(StoreError::WriterStopped);
        }
        Ok(results)
    }

    /// Stops accepting commits: the writer drains what it has, flushes and ends.
    pub fn close(self) {
        drop(self.sender);
    }

    pub fn flush(&self) -> Result<(), StoreError> {
        self.engine.flush()
    }

    /// Runs `read` while no commit is applied, after flushing every applied one: it sees
    /// one consistent, durable state. Writes wait (they are queued, not refused) meanwhile.
    pub fn with_writes_paused<R, E: From<StoreError>>(
        &self,
        read: impl FnOnce(&Store) -> Result<R, E>,
    ) -> Result<R, E> {
        let _paused = self
            .apply_lock
            .lock()
            .map_err(|_| StoreError::WriterStopped)?;
        self.engine.flush()?;
        read(self)
    }

    /// Writes every key and value to `out` in the backup format (see `backup`).
    pub fn write_backup(&self, out: &mut impl std::io::Write) -> Result<u64, StoreError> {
        backup::write(self.engine.as_ref(), out)
    }

    /// Whether the writer thread still takes commits.
    pub fn writer_alive(&self) -> bool {
        !self.sender.is_closed()
    }

    /// Commits waiting for the writer to take them.
    pub fn writer_queue_depth(&self) -> usize {
        self.sender
            .max_capacity()
            .saturating_sub(self.sender.capacity())
    }

    /// Another handle to the same store that counts its reads apart, for background work
    /// (the webhook outbox) whose reads are no request's cost.
    pub fn with_own_read_count(&self) -> Store {
        Store {
            reads: Arc::default(),
            ..self.clone()
        }
    }

    /// Changes after every applied commit that wrote an API key's record or a platform's
    /// own record through this handle or its clones (see [`Commit::writes_credentials`]).
    pub fn credentials_epoch(&self) -> u64 {
        self.credentials_epoch.load(Ordering::Acquire)
    }

    /// Reads made so far (point reads and scans), for tests that bound a query's cost.
    pub fn read_count(&self) -> u64 {
        self.reads.load(Ordering::Relaxed)
    }

    fn count_read(&self) {
        self.reads.fetch_add(1, Ordering::Relaxed);
    }

    /// Waits until everything applied so far is durable: an empty commit goes through the
    /// writer, and its answer comes after the flush that covers every earlier group.
    pub async fn wait_durable(&self) -> Result<(), StoreError> {
        self.commit(Commit::new(None)).await.map(|_| ())
    }
}

/// A scan asks for at most `MAX_SCAN_ITEMS`: a caller that wants more pages through, so no
/// list is ever cut short without a word.
fn check_scan_limit(limit: usize) -> Result<(), StoreError> {
    if limit > MAX_SCAN_ITEMS {
        return Err(StoreError::ScanTooLarge { limit });
    }
    Ok(())
}

/// The smallest key greater than every key starting with `prefix`.
fn prefix_end(prefix: &[u8]) -> Vec<u8> {
    let mut end = prefix.to_vec();
    while let Some(last) = end.pop() {
        if last < u8::MAX {
            end.push(last + 1);
            return end;
        }
    }
    vec![u8::MAX]
}
