//! The store: the only code that knows sled. Keyspaces, codecs, reads, and the writer that
//! applies commits in groups.
//!
//! Reads go straight to sled (lock-free, concurrent). Writes go only through
//! [`Store::commit`], which hands the commit to the writer thread and waits for the flush
//! that makes it durable.

mod codec;
mod commit;
mod keys;
mod writer;

use std::path::Path;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::thread::JoinHandle;

use serde::de::DeserializeOwned;
use serde::{Deserialize, Serialize};
use tokio::sync::{mpsc, oneshot};

pub use codec::{from_payload, to_payload};
pub use commit::{Applied, Commit, Condition, Expect, IdempotencyClaim, Write};
pub use keys::{timer_stamp, Key, Keyspace};
pub use writer::MAX_COMMITS_PER_GROUP;

use crate::ledger::{Entry, Holder, LedgerAccount, LedgerError};
use commit::Submission;

/// How many commits may wait for the writer before callers queue behind them.
pub const WRITER_QUEUE_CAPACITY: usize = 4096;
/// sled's page cache.
pub const CACHE_CAPACITY_BYTES: u64 = 256 * 1024 * 1024;
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
}

impl From<sled::Error> for StoreError {
    fn from(error: sled::Error) -> Self {
        StoreError::Io(error.to_string())
    }
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
    db: sled::Db,
    tree: sled::Tree,
    sender: mpsc::Sender<Submission>,
    /// How many reads this handle's clones have made, for tests of query costs.
    reads: Arc<AtomicU64>,
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

impl Store {
    /// Opens (or creates) the store in `path` and starts its writer.
    pub fn open(path: &Path) -> Result<(Store, WriterThread), StoreError> {
        let db = sled::Config::new()
            .path(path)
            .cache_capacity(CACHE_CAPACITY_BYTES)
            // The writer flushes every group itself; a background flush adds nothing.
            .flush_every_ms(None)
            // Every request is a write: favour write throughput over space.
            .mode(sled::Mode::HighThroughput)
            .open()?;
        let tree: sled::Tree = (*db).clone();
        let (sender, receiver) = mpsc::channel(WRITER_QUEUE_CAPACITY);
        let writer_tree = tree.clone();
        let handle = std::thread::Builder::new()
            .name("tollgate-writer".into())
            .spawn(move || writer::run(writer_tree, receiver))
            .map_err(|error| StoreError::Io(error.to_string()))?;
        Ok((
            Store {
                db,
                tree,
                sender,
                reads: Arc::default(),
            },
            WriterThread(handle),
        ))
    }

    /// Applies a commit; returns only after the flush that makes it durable.
    pub async fn commit(&self, commit: Commit) -> Result<Applied, StoreError> {
        let (reply, answer) = oneshot::channel();
        self.sender
            .send(Submission { commit, reply })
            .await
            .map_err(|_| StoreError::WriterStopped)?;
        answer.await.map_err(|_| StoreError::WriterStopped)?
    }

    /// Stops accepting commits: the writer drains what it has, flushes and ends.
    pub fn close(self) {
        drop(self.sender);
    }

    pub fn flush(&self) -> Result<(), StoreError> {
        self.db.flush()?;
        Ok(())
    }

    /// Another handle to the same store that counts its reads apart, for background work
    /// (the webhook outbox) whose reads are no request's cost.
    pub fn with_own_read_count(&self) -> Store {
        Store {
            reads: Arc::default(),
            ..self.clone()
        }
    }

    /// Reads made so far (point reads and scans), for tests that bound a query's cost.
    pub fn read_count(&self) -> u64 {
        self.reads.load(Ordering::Relaxed)
    }

    fn count_read(&self) {
        self.reads.fetch_add(1, Ordering::Relaxed);
    }

    pub fn get_raw(&self, key: &Key) -> Result<Option<Vec<u8>>, StoreError> {
        self.count_read();
        Ok(self.tree.get(key.as_bytes())?.map(|value| value.to_vec()))
    }

    pub fn get_object<T: DeserializeOwned>(
        &self,
        platform: &str,
        id: &str,
    ) -> Result<Option<Versioned<T>>, StoreError> {
        self.get_sealed(&Key::object(platform, id))
    }

    pub fn get_sealed<T: DeserializeOwned>(
        &self,
        key: &Key,
    ) -> Result<Option<Versioned<T>>, StoreError> {
        self.count_read();
        let Some(bytes) = self.tree.get(key.as_bytes())? else {
            return Ok(None);
        };
        let (revision, payload) = codec::open(&bytes)?;
        Ok(Some(Versioned {
            revision,
            value: codec::from_payload(payload)?,
        }))
    }

    /// Object ids from an index, newest first, starting after `after` (exclusive).
    pub fn scan_index(
        &self,
        platform: &str,
        index: &str,
        after: Option<&str>,
        limit: usize,
    ) -> Result<Vec<String>, StoreError> {
        self.count_read();
        let prefix = Key::index_prefix(platform, index);
        let upper = match after {
            Some(cursor) => Key::index(platform, index, cursor).as_bytes().to_vec(),
            None => prefix_end(prefix.as_bytes()),
        };
        let prefix_length = prefix.as_bytes().len();
        let mut ids = Vec::with_capacity(limit.min(MAX_SCAN_ITEMS));
        for item in self
            .tree
            .range(prefix.as_bytes().to_vec()..upper)
            .rev()
            .take(limit.min(MAX_SCAN_ITEMS))
        {
            let (key, _) = item?;
            let id = key
                .get(prefix_length..)
                .and_then(|bytes| std::str::from_utf8(bytes).ok())
                .ok_or_else(|| StoreError::Codec("index key is not text".into()))?;
            ids.push(id.to_owned());
        }
        Ok(ids)
    }

    pub fn balance(&self, account: &LedgerAccount) -> Result<i64, StoreError> {
        self.get_raw(&Key::new(Keyspace::Balance, &account.key()))?
            .map_or(Ok(0), |bytes| codec::decode_i64(&bytes))
    }

    /// Every balance a holder has, in every currency and bucket.
    pub fn balances_of(&self, holder: &Holder) -> Result<Vec<(LedgerAccount, i64)>, StoreError> {
        let prefix = Key::new(Keyspace::Balance, &LedgerAccount::holder_prefix(holder));
        self.scan_balances(prefix.as_bytes())
    }

    /// Every balance in the ledger.
    pub fn all_balances(&self) -> Result<Vec<(LedgerAccount, i64)>, StoreError> {
        self.scan_balances(&[Keyspace::Balance.tag()])
    }

    fn scan_balances(&self, prefix: &[u8]) -> Result<Vec<(LedgerAccount, i64)>, StoreError> {
        let mut balances = Vec::new();
        for item in self.tree.scan_prefix(prefix) {
            let (key, value) = item?;
            let key = Key::from_bytes(&key);
            let account = LedgerAccount::parse_key(key.rest())?;
            balances.push((account, codec::decode_i64(&value)?));
        }
        Ok(balances)
    }

    /// Calls `visit` with every journal entry of one platform, or of all when `None`.
    pub fn for_each_entry(
        &self,
        platform: Option<&str>,
        mut visit: impl FnMut(Entry),
    ) -> Result<(), StoreError> {
        let prefix = match platform {
            Some(platform) => Key::new(Keyspace::Entry, &format!("{platform}/")),
            None => Key::new(Keyspace::Entry, ""),
        };
        for item in self.tree.scan_prefix(prefix.as_bytes()) {
            let (_, value) = item?;
            visit(codec::from_payload(&value)?);
        }
        Ok(())
    }

    pub fn idempotency(
        &self,
        platform: &str,
        idempotency_key: &str,
    ) -> Result<Option<IdempotencyRecord>, StoreError> {
        self.get_raw(&Key::idempotency(platform, idempotency_key))?
            .map(|bytes| codec::from_payload(&bytes))
            .transpose()
    }

    /// Timers due at or before `now_micros`, oldest first: (key, payload).
    pub fn due_timers(
        &self,
        now_micros: i64,
        limit: usize,
    ) -> Result<Vec<(Key, Vec<u8>)>, StoreError> {
        let start = Key::new(Keyspace::Timer, "");
        // The stamp of `now + 1µs` sorts after every key due at `now`.
        let end = Key::new(Keyspace::Timer, &timer_stamp(now_micros.saturating_add(1)));
        let mut timers = Vec::new();
        for item in self
            .tree
            .range(start.as_bytes().to_vec()..end.as_bytes().to_vec())
            .take(limit.min(MAX_SCAN_ITEMS))
        {
            let (key, value) = item?;
            timers.push((Key::from_bytes(&key), value.to_vec()));
        }
        Ok(timers)
    }

    /// The first `limit` outbox deliveries of one endpoint, oldest first.
    pub fn outbox_deliveries(
        &self,
        platform: &str,
        endpoint: &str,
        limit: usize,
    ) -> Result<Vec<String>, StoreError> {
        self.count_read();
        let prefix = Key::new(Keyspace::Outbox, &format!("d/{platform}/{endpoint}/"));
        let prefix_length = prefix.as_bytes().len();
        let mut deliveries = Vec::new();
        for item in self
            .tree
            .scan_prefix(prefix.as_bytes())
            .take(limit.min(MAX_SCAN_ITEMS))
        {
            let (key, _) = item?;
            let id = key
                .get(prefix_length..)
                .and_then(|bytes| std::str::from_utf8(bytes).ok())
                .ok_or_else(|| StoreError::Codec("outbox key is not text".into()))?;
            deliveries.push(id.to_owned());
        }
        Ok(deliveries)
    }

    /// The (platform, endpoint) pairs with deliveries in the outbox, at most `limit`, one
    /// seek per pair however many deliveries each holds.
    pub fn outbox_endpoints(&self, limit: usize) -> Result<Vec<(String, String)>, StoreError> {
        let mut endpoints = Vec::new();
        let mut from = Key::new(Keyspace::Outbox, "d/").as_bytes().to_vec();
        let end = prefix_end(&from);
        while endpoints.len() < limit {
            self.count_read();
            let Some(item) = self.tree.range(from.clone()..end.clone()).next() else {
                break;
            };
            let (key, _) = item?;
            let key = Key::from_bytes(&key);
            let mut parts = key.rest().splitn(4, '/');
            let (Some(_), Some(platform), Some(endpoint)) =
                (parts.next(), parts.next(), parts.next())
            else {
                return Err(StoreError::Codec("outbox key without an endpoint".into()));
            };
            endpoints.push((platform.to_owned(), endpoint.to_owned()));
            let pair = Key::new(Keyspace::Outbox, &format!("d/{platform}/{endpoint}/"));
            from = prefix_end(pair.as_bytes());
        }
        Ok(endpoints)
    }

    /// The oldest events waiting to be routed to endpoints, over every platform:
    /// (platform, event id, event type).
    pub fn outbox_events(&self, limit: usize) -> Result<Vec<(String, String, String)>, StoreError> {
        self.count_read();
        let prefix = Key::new(Keyspace::Outbox, "e/");
        let mut events = Vec::new();
        for item in self
            .tree
            .scan_prefix(prefix.as_bytes())
            .take(limit.min(MAX_SCAN_ITEMS))
        {
            let (key, value) = item?;
            let key = Key::from_bytes(&key);
            let mut parts = key.rest().splitn(3, '/');
            let (Some(_), Some(platform), Some(event)) = (parts.next(), parts.next(), parts.next())
            else {
                return Err(StoreError::Codec("outbox key without an event".into()));
            };
            let event_type = String::from_utf8(value.to_vec())
                .map_err(|_| StoreError::Codec("outbox event type is not text".into()))?;
            events.push((platform.to_owned(), event.to_owned(), event_type));
        }
        Ok(events)
    }

    pub fn decode<T: DeserializeOwned>(bytes: &[u8]) -> Result<T, StoreError> {
        codec::from_payload(bytes)
    }
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
