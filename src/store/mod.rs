//! The store: the only code that knows sled. Keyspaces, codecs, reads, and the writer that
//! applies commits in groups.
//!
//! Reads go straight to sled (lock-free, concurrent). Writes go only through
//! [`Store::commit`], which hands the commit to the writer thread and waits for the flush
//! that makes it durable. Opening a store proves its ledger chain and compares it with the
//! high-water record first: a damaged, shortened or altered store is refused.

pub mod backup;
mod chain;
mod codec;
mod commit;
mod format;
#[cfg(test)]
mod format_tests;
mod high_water;
mod index_key;
mod keys;
#[cfg(test)]
mod tests;
mod writer;

use std::panic::AssertUnwindSafe;
use std::path::Path;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::thread::JoinHandle;

use serde::de::DeserializeOwned;
use serde::{Deserialize, Serialize};
use tokio::sync::{mpsc, oneshot};

pub use codec::{encode_object, from_payload, to_payload};
pub use commit::{Applied, Commit, Condition, Expect, IdempotencyClaim, Write};
pub use high_water::HIGH_WATER_FILE;
pub use keys::{timer_stamp, Key, Keyspace};
pub use writer::{abort_process, FailStop, MAX_COMMITS_PER_GROUP};

use crate::ledger::{Entry, Holder, LedgerAccount, LedgerError, RunningTotals};
use chain::{ChainTip, ProvenChain};
use commit::Submission;
use high_water::HighWater;

/// How many commits may wait for the writer before callers queue behind them.
pub const WRITER_QUEUE_CAPACITY: usize = 4096;
/// sled's page cache, by default (`--cache-mb`).
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
    /// The store is damaged, shorter than what was acknowledged, or altered.
    #[error("{0}")]
    Integrity(String),
    /// sled found a record whose checksum does not match.
    #[error("the store's files are damaged: {0}")]
    Damaged(String),
    #[error("a scan of {limit} items is over the limit of {MAX_SCAN_ITEMS}; page through instead")]
    ScanTooLarge { limit: usize },
}

impl From<sled::Error> for StoreError {
    fn from(error: sled::Error) -> Self {
        match error {
            // sled checks every record it reads against its checksum.
            sled::Error::Corruption { .. } => StoreError::Damaged(error.to_string()),
            other => StoreError::Io(other.to_string()),
        }
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
    /// Held by the writer while it applies a group: whoever holds it sees no write happen
    /// (consistent backups and ledger checks on a running server).
    apply_lock: Arc<std::sync::Mutex<()>>,
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
    /// Opens (or creates) the store in `path`, proves its ledger, and starts its writer.
    pub fn open(path: &Path) -> Result<(Store, WriterThread), StoreError> {
        Store::open_with(path, StoreOptions::default())
    }

    /// [`Store::open`] with a fail-stop of the caller's choosing. It must end the process
    /// (or everything that reads the store): the group whose flush failed is visible in
    /// memory, and its callers are never answered.
    pub fn open_with(
        path: &Path,
        options: StoreOptions,
    ) -> Result<(Store, WriterThread), StoreError> {
        let db = guarded(path, || open_engine(path, options.cache_capacity_bytes))?;
        Store::start(path, db, options)
    }

    /// Loads a backup into a new store at `data_dir` (absent or empty) and opens it, so it
    /// can be checked at once; returns the store and how many records were restored.
    pub fn restore(
        backup: &mut impl std::io::Read,
        data_dir: &Path,
    ) -> Result<(Store, WriterThread, u64), StoreError> {
        backup::refuse_occupied(data_dir)?;
        let loaded =
            guarded(data_dir, || open_engine(data_dir, CACHE_CAPACITY_BYTES)).and_then(|db| {
                let records = backup::load(backup, &db)?;
                // The backup is a flushed state: its chain tip is what was acknowledged.
                let proven = guarded(data_dir, || chain::prove(&db, 0))?;
                HighWater::open(data_dir, proven.tip)?;
                Ok((db, records))
            });
        let started = loaded.and_then(|(db, records)| {
            Store::start(data_dir, db, StoreOptions::default())
                .map(|(store, writer)| (store, writer, records))
        });
        if started.is_err() {
            // A half-restored store must not be mistaken for a good one.
            let _ = std::fs::remove_dir_all(data_dir);
        }
        started
    }

    /// Proves the store's chain against its high-water record and starts the writer.
    fn start(
        path: &Path,
        db: sled::Db,
        options: StoreOptions,
    ) -> Result<(Store, WriterThread), StoreError> {
        let tree: sled::Tree = (*db).clone();
        let acknowledged = HighWater::read(path)?;
        let mut just_chained = false;
        if acknowledged.is_none() {
            if let Some(entries) = guarded(path, || chain::chain_unchained_store(&tree))? {
                tracing::info!(
                    entries,
                    "chained the journal entries of a store written before the ledger chain"
                );
                just_chained = true;
            }
        }
        let check_sequence = acknowledged.map_or(0, |tip| tip.sequence);
        let proven = guarded(path, || chain::prove(&tree, check_sequence))?;
        check_high_water(path, &proven, acknowledged, just_chained)?;
        let high_water = HighWater::open(path, proven.tip)?;
        migrate_timer_layout(&tree)?;
        format::upgrade(&tree)?;
        let (sender, receiver) = mpsc::channel(WRITER_QUEUE_CAPACITY);
        let writer_tree = tree.clone();
        let flush_tree = tree.clone();
        let durability = writer::Durability {
            flush: Box::new(move || flush_tree.flush().map(|_| ()).map_err(StoreError::from)),
            high_water,
            fail_stop: options.fail_stop,
        };
        let tip = proven.tip;
        let apply_lock = Arc::new(std::sync::Mutex::new(()));
        let writer_lock = Arc::clone(&apply_lock);
        let handle = std::thread::Builder::new()
            .name("tollgate-writer".into())
            .spawn(move || writer::run(writer_tree, receiver, tip, durability, &writer_lock))
            .map_err(|error| StoreError::Io(error.to_string()))?;
        Ok((
            Store {
                db,
                tree,
                sender,
                reads: Arc::default(),
                apply_lock,
            },
            WriterThread(handle),
        ))
    }

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
        let (reply, answer) = oneshot::channel();
        self.sender
            .send(Submission { commits, reply })
            .await
            .map_err(|_| StoreError::WriterStopped)?;
        let results = answer.await.map_err(|_| StoreError::WriterStopped)?;
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
        self.db.flush()?;
        Ok(())
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
        self.tree.flush().map_err(StoreError::from)?;
        read(self)
    }

    /// Writes every key and value to `out` in the backup format (see `backup`).
    pub fn write_backup(&self, out: &mut impl std::io::Write) -> Result<u64, StoreError> {
        backup::write(&self.tree, out)
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

    /// When the earliest waiting timer of any platform is due (among the first
    /// [`MAX_SCAN_ITEMS`] timers; each platform's come in due order).
    pub fn earliest_timer_micros(&self) -> Result<Option<i64>, StoreError> {
        self.count_read();
        let mut earliest: Option<i64> = None;
        for item in self
            .tree
            .scan_prefix([Keyspace::Timer.tag()])
            .take(MAX_SCAN_ITEMS)
        {
            let (key, _) = item?;
            let key = Key::from_bytes(&key);
            let stamp = key
                .rest()
                .split('/')
                .nth(1)
                .and_then(|stamp| i64::from_str_radix(stamp, 16).ok())
                .ok_or_else(|| StoreError::Codec("a timer key without its due time".into()))?;
            earliest = Some(earliest.map_or(stamp, |earliest| earliest.min(stamp)));
        }
        Ok(earliest)
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
        let (revision, value) = codec::open(&bytes)?;
        Ok(Some(Versioned { revision, value }))
    }

    /// Object ids from an index, newest first, starting after `after` (exclusive).
    pub fn scan_index(
        &self,
        platform: &str,
        index: &str,
        after: Option<&str>,
        limit: usize,
    ) -> Result<Vec<String>, StoreError> {
        check_scan_limit(limit)?;
        self.count_read();
        let prefix = Key::index_prefix(platform, index);
        let upper = match after {
            Some(cursor) => Key::index(platform, index, cursor).as_bytes().to_vec(),
            None => prefix_end(prefix.as_bytes()),
        };
        let prefix_length = prefix.as_bytes().len();
        let mut ids = Vec::with_capacity(limit);
        for item in self
            .tree
            .range(prefix.as_bytes().to_vec()..upper)
            .rev()
            .take(limit)
        {
            let (key, _) = item?;
            let id = Key::index_id(&key, prefix_length)
                .ok_or_else(|| StoreError::Codec("an index key without its object id".into()))?;
            ids.push(id);
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
            visit(chain::decode_entry(&value)?);
        }
        Ok(())
    }

    /// The running totals of one platform, or of the whole ledger when `None`: one read,
    /// so one consistent snapshot.
    pub fn running_totals(&self, platform: Option<&str>) -> Result<RunningTotals, StoreError> {
        self.get_raw(&Key::new(Keyspace::Totals, platform.unwrap_or_default()))?
            .map_or_else(
                || Ok(RunningTotals::default()),
                |bytes| codec::from_payload(&bytes),
            )
    }

    /// Every platform's running totals, by platform id.
    pub fn all_platform_totals(&self) -> Result<Vec<(String, RunningTotals)>, StoreError> {
        let mut all = Vec::new();
        for item in self.tree.scan_prefix([Keyspace::Totals.tag()]) {
            let (key, value) = item?;
            let key = Key::from_bytes(&key);
            if !key.rest().is_empty() {
                all.push((key.rest().to_owned(), codec::from_payload(&value)?));
            }
        }
        Ok(all)
    }

    /// The chain's last sequence and hash (hex), as the writer last applied them.
    pub fn chain_head(&self) -> Result<(u64, String), StoreError> {
        let tip = match self.get_raw(&Key::new(Keyspace::Meta, chain::TIP_META))? {
            Some(bytes) => ChainTip::decode(&bytes).ok_or_else(|| {
                StoreError::Integrity("the ledger's tip record is garbled".into())
            })?,
            None => ChainTip::default(),
        };
        Ok((tip.sequence, hex::encode(tip.hash)))
    }

    /// Waits until everything applied so far is durable: an empty commit goes through the
    /// writer, and its answer comes after the flush that covers every earlier group.
    pub async fn wait_durable(&self) -> Result<(), StoreError> {
        self.commit(Commit::new(None)).await.map(|_| ())
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

    /// One platform's timers due at or before `now_micros`, oldest first: (key, payload).
    pub fn due_timers(
        &self,
        platform: &str,
        now_micros: i64,
        limit: usize,
    ) -> Result<Vec<(Key, Vec<u8>)>, StoreError> {
        check_scan_limit(limit)?;
        self.count_read();
        let start = Key::timer_prefix(platform);
        // The stamp of `now + 1µs` sorts after every key due at `now`.
        let end = Key::new(
            Keyspace::Timer,
            &format!("{platform}/{}", timer_stamp(now_micros.saturating_add(1))),
        );
        let mut timers = Vec::new();
        for item in self
            .tree
            .range(start.as_bytes().to_vec()..end.as_bytes().to_vec())
            .take(limit)
        {
            let (key, value) = item?;
            timers.push((Key::from_bytes(&key), value.to_vec()));
        }
        Ok(timers)
    }

    /// The platform part of every timer key, in order, after `after` (exclusive): one seek
    /// per platform that has timers, however many timers each has. Keys whose platform part
    /// is not text (never written by this code) are skipped with a warning; they are never
    /// due, so they hold nothing up.
    pub fn timer_platforms(
        &self,
        after: Option<&str>,
        limit: usize,
    ) -> Result<Vec<String>, StoreError> {
        check_scan_limit(limit)?;
        let keyspace_end = prefix_end(&[Keyspace::Timer.tag()]);
        let mut start = match after {
            Some(after) => prefix_end(Key::timer_prefix(after).as_bytes()),
            None => vec![Keyspace::Timer.tag()],
        };
        let mut owners = Vec::new();
        while owners.len() < limit {
            self.count_read();
            let Some(item) = self.tree.range(start.clone()..keyspace_end.clone()).next() else {
                break;
            };
            let (key, _) = item?;
            let rest = key.get(1..).unwrap_or_default();
            let segment = rest.split(|byte| *byte == b'/').next().unwrap_or_default();
            let mut segment_prefix = vec![Keyspace::Timer.tag()];
            segment_prefix.extend_from_slice(segment);
            segment_prefix.push(b'/');
            start = prefix_end(&segment_prefix);
            match std::str::from_utf8(segment) {
                Ok(platform) => owners.push(platform.to_owned()),
                Err(_) => tracing::warn!(
                    key = %String::from_utf8_lossy(&key),
                    "timer keys whose platform is not text are skipped"
                ),
            }
        }
        Ok(owners)
    }

    /// Every meta key starting with `prefix` after `after` (exclusive), with its value.
    pub fn meta_with_prefix(
        &self,
        prefix: &str,
        after: Option<&str>,
        limit: usize,
    ) -> Result<Vec<(String, Vec<u8>)>, StoreError> {
        check_scan_limit(limit)?;
        self.count_read();
        let start = match after {
            Some(after) => {
                let mut start = Key::new(Keyspace::Meta, after).as_bytes().to_vec();
                start.push(0);
                start
            }
            None => Key::new(Keyspace::Meta, prefix).as_bytes().to_vec(),
        };
        let end = prefix_end(Key::new(Keyspace::Meta, prefix).as_bytes());
        let mut found = Vec::new();
        for item in self.tree.range(start..end).take(limit) {
            let (key, value) = item?;
            let name = Key::from_bytes(&key).rest().to_owned();
            found.push((name, value.to_vec()));
        }
        Ok(found)
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

/// Opens sled, without its background flush: the writer flushes every group itself.
fn open_engine(path: &Path, cache_capacity_bytes: u64) -> Result<sled::Db, StoreError> {
    sled::Config::new()
        .path(path)
        .cache_capacity(cache_capacity_bytes)
        .flush_every_ms(None)
        // sled 0.34 records the mode but never acts on it (LowSpace and HighThroughput
        // write the same bytes); it is kept for the engine versions that do.
        .mode(sled::Mode::HighThroughput)
        .open()
        .map_err(StoreError::from)
}

/// Runs `work` on the store's files, turning a panic inside the storage engine (it panics
/// on some truncated or garbled files) into a refusal that says what is wrong.
fn guarded<T>(path: &Path, work: impl FnOnce() -> Result<T, StoreError>) -> Result<T, StoreError> {
    let outcome = std::panic::catch_unwind(AssertUnwindSafe(work)).unwrap_or_else(|payload| {
        let reason = payload
            .downcast_ref::<&str>()
            .map(|text| (*text).to_owned())
            .or_else(|| payload.downcast_ref::<String>().cloned())
            .unwrap_or_else(|| "no reason given".to_owned());
        Err(StoreError::Integrity(format!(
            "the store in {} is damaged: the storage engine failed while reading it ({reason})",
            path.display()
        )))
    });
    outcome.map_err(|error| match error {
        StoreError::Damaged(detail) => StoreError::Integrity(format!(
            "the store in {} is damaged: the storage engine found records that fail their \
             checksums ({detail})",
            path.display()
        )),
        other => other,
    })
}

/// Compares the proven chain with the high-water record of the last acknowledged flush.
fn check_high_water(
    path: &Path,
    proven: &ProvenChain,
    acknowledged: Option<ChainTip>,
    just_chained: bool,
) -> Result<(), StoreError> {
    let tip = proven.tip;
    let Some(acknowledged) = acknowledged else {
        if tip.groups == 0 || just_chained {
            return Ok(());
        }
        return Err(StoreError::Integrity(format!(
            "the high-water record {} is missing, so the store in {} cannot show that it \
             still holds every acknowledged commit",
            HighWater::path(path).display(),
            path.display()
        )));
    };
    if tip.sequence < acknowledged.sequence {
        return Err(StoreError::Integrity(format!(
            "the store in {} has lost acknowledged commits: its ledger ends at entry #{} but \
             entries up to #{} were acknowledged; entry #{} is the first missing",
            path.display(),
            tip.sequence,
            acknowledged.sequence,
            tip.sequence + 1
        )));
    }
    if acknowledged.sequence > 0 && proven.hash_at_check != Some(acknowledged.hash) {
        return Err(StoreError::Integrity(format!(
            "ledger entry #{} in {} is not the one acknowledged: the ledger was rewritten from \
             there on",
            acknowledged.sequence,
            path.display()
        )));
    }
    if tip.groups < acknowledged.groups {
        return Err(StoreError::Integrity(format!(
            "the store in {} has lost acknowledged commits: it holds {} write groups but {} \
             were acknowledged",
            path.display(),
            tip.groups,
            acknowledged.groups
        )));
    }
    Ok(())
}

/// Rewrites timer keys of the earlier due-first layout into the per-platform layout, once,
/// before the writer starts: a store written by an earlier version keeps every timer.
fn migrate_timer_layout(tree: &sled::Tree) -> Result<(), StoreError> {
    // Earlier keys start with a lowercase hex digit; today's with a platform id ("plat_…").
    let mut batch = sled::Batch::default();
    let mut moved = 0usize;
    let tag = Keyspace::Timer.tag();
    for item in tree.range([tag, b'0'].to_vec()..[tag, b'g'].to_vec()) {
        let (key, value) = item?;
        if let Some(rewritten) = keys::timer_key_from_due_first_layout(&key) {
            batch.remove(key);
            batch.insert(rewritten.as_bytes(), value);
            moved += 1;
        }
    }
    if moved > 0 {
        tree.apply_batch(batch)?;
        tree.flush()?;
        tracing::info!(moved, "timer keys rewritten in the per-platform layout");
    }
    Ok(())
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
