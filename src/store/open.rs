//! Opening a store: the engine its location names, the proof of its ledger chain (against
//! the high-water record on sled; on PostgreSQL the database is its own record), the
//! one-time layout upgrades, and the writer's start. Restoring a backup into a new store.

use std::panic::AssertUnwindSafe;
use std::path::Path;
use std::sync::atomic::AtomicU64;
use std::sync::Arc;

use tokio::sync::mpsc;

use super::chain::{self, ChainTip, ProvenChain};
use super::engine::{for_each, Engine, Overlay};
use super::high_water::HighWater;
use super::keys::{self, Keyspace};
use super::location::StoreLocation;
use super::postgres::PostgresEngine;
use super::sled_engine::SledEngine;
use super::{
    backup, writer, Store, StoreError, StoreOptions, WriterThread, CACHE_CAPACITY_BYTES,
    WRITER_QUEUE_CAPACITY,
};

impl Store {
    /// Opens (or creates) the sled store in `path`, proves its ledger, and starts its writer.
    pub fn open(path: &Path) -> Result<(Store, WriterThread), StoreError> {
        Store::open_at(
            &StoreLocation::Sled(path.to_path_buf()),
            StoreOptions::default(),
        )
    }

    /// Opens the store at `location`, sled or PostgreSQL, proves its ledger, and starts its
    /// writer. `options.fail_stop` must end the process (or everything that reads the
    /// store): the group whose flush or commit failed may be visible, and its callers are
    /// never answered.
    pub fn open_at(
        location: &StoreLocation,
        options: StoreOptions,
    ) -> Result<(Store, WriterThread), StoreError> {
        match location {
            StoreLocation::Sled(path) => {
                let engine = guarded(path, || {
                    SledEngine::open(path, options.cache_capacity_bytes)
                })?;
                let engine: Arc<dyn Engine> = Arc::new(engine);
                let high_water = guarded(path, || prove_against_high_water(path, engine.as_ref()))?;
                Store::start(engine, Some(high_water), options)
            }
            StoreLocation::Postgres(url) => {
                let engine: Arc<dyn Engine> = Arc::new(PostgresEngine::open(url)?);
                chain::prove(engine.as_ref(), 0)?;
                Store::start(engine, None, options)
            }
        }
    }

    /// Loads a backup into a new store at `location` (an absent or empty directory, or an
    /// empty database) and opens it, so it can be checked at once; returns the store and
    /// how many records were restored.
    pub fn restore(
        backup: &mut impl std::io::Read,
        location: &StoreLocation,
    ) -> Result<(Store, WriterThread, u64), StoreError> {
        Store::load_into(location, "restore", |engine| backup::load(backup, engine))
    }

    /// Fills a new store at `location` (an absent or empty directory, or an empty
    /// database) with what `load` writes, proves its chain and opens it; a store that fails
    /// half-way is removed. `what` names the operation in the refusal of an occupied target.
    pub(super) fn load_into(
        location: &StoreLocation,
        what: &str,
        load: impl FnOnce(&dyn Engine) -> Result<u64, StoreError>,
    ) -> Result<(Store, WriterThread, u64), StoreError> {
        match location {
            StoreLocation::Sled(data_dir) => {
                backup::refuse_occupied(data_dir, what)?;
                let restored = guarded(data_dir, || {
                    let engine = SledEngine::open(data_dir, CACHE_CAPACITY_BYTES)?;
                    let records = load(&engine)?;
                    // What was loaded is a flushed state: its chain tip is what was
                    // acknowledged.
                    let proven = chain::prove(&engine, 0)?;
                    let high_water = HighWater::open(data_dir, proven.tip)?;
                    Ok((engine, high_water, records))
                });
                let started = restored.and_then(|(engine, high_water, records)| {
                    Store::start(Arc::new(engine), Some(high_water), StoreOptions::default())
                        .map(|(store, writer)| (store, writer, records))
                });
                if started.is_err() {
                    // A half-restored store must not be mistaken for a good one.
                    let _ = std::fs::remove_dir_all(data_dir);
                }
                started
            }
            StoreLocation::Postgres(url) => {
                let engine = PostgresEngine::open(url)?;
                if !engine.is_empty()? {
                    return Err(StoreError::Io(format!(
                        "the database at {url} is not empty: {what} into a new database"
                    )));
                }
                let loaded =
                    load(&engine).and_then(|records| chain::prove(&engine, 0).map(|_| records));
                let started = loaded.and_then(|records| {
                    Store::start(Arc::new(engine), None, StoreOptions::default())
                        .map(|(store, writer)| (store, writer, records))
                });
                if started.is_err() {
                    // A half-restored store must not be mistaken for a good one.
                    if let Err(error) = PostgresEngine::open(url).and_then(|engine| engine.clear())
                    {
                        tracing::error!(%error, "the half-restored database could not be emptied");
                    }
                }
                started
            }
        }
    }

    /// Brings the key layout up to date and starts the writer.
    fn start(
        engine: Arc<dyn Engine>,
        high_water: Option<HighWater>,
        options: StoreOptions,
    ) -> Result<(Store, WriterThread), StoreError> {
        migrate_timer_layout(engine.as_ref())?;
        super::format::upgrade(engine.as_ref())?;
        tracing::info!(store = %engine.describe(), "store opened");
        let (sender, receiver) = mpsc::channel(WRITER_QUEUE_CAPACITY);
        let flush_engine = Arc::clone(&engine);
        let durability = writer::Durability {
            flush: Box::new(move || flush_engine.flush()),
            high_water,
            fail_stop: options.fail_stop,
        };
        let apply_lock = Arc::new(std::sync::Mutex::new(()));
        let writer_lock = Arc::clone(&apply_lock);
        let writer_engine = Arc::clone(&engine);
        let handle = std::thread::Builder::new()
            .name("tollgate-writer".into())
            .spawn(move || writer::run(writer_engine, receiver, durability, &writer_lock))
            .map_err(|error| StoreError::Io(error.to_string()))?;
        Ok((
            Store {
                engine,
                sender,
                reads: Arc::new(AtomicU64::new(0)),
                apply_lock,
                credentials_epoch: Arc::default(),
            },
            WriterThread(handle),
        ))
    }
}

/// Proves a sled store's chain and compares it with the high-water record of the last
/// acknowledged flush; returns the record, opened for the writer.
fn prove_against_high_water(path: &Path, engine: &dyn Engine) -> Result<HighWater, StoreError> {
    let acknowledged = HighWater::read(path)?;
    let mut just_chained = false;
    if acknowledged.is_none() {
        if let Some(entries) = chain::chain_unchained_store(engine)? {
            tracing::info!(
                entries,
                "chained the journal entries of a store written before the ledger chain"
            );
            just_chained = true;
        }
    }
    let check_sequence = acknowledged.map_or(0, |tip| tip.sequence);
    let proven = chain::prove(engine, check_sequence)?;
    check_high_water(path, &proven, acknowledged, just_chained)?;
    HighWater::open(path, proven.tip)
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
fn migrate_timer_layout(engine: &dyn Engine) -> Result<(), StoreError> {
    // Earlier keys start with a lowercase hex digit; today's with a platform id ("plat_…").
    let mut writes = Overlay::new();
    let tag = Keyspace::Timer.tag();
    for_each(engine, &[tag, b'0'], Some(&[tag, b'g']), |key, value| {
        if let Some(rewritten) = keys::timer_key_from_due_first_layout(key) {
            writes.insert(keys::Key::from_bytes(key), None);
            writes.insert(rewritten, Some(value.to_vec()));
        }
        Ok(true)
    })?;
    let moved = writes.len() / 2;
    if moved > 0 {
        engine.apply(writes)?;
        tracing::info!(moved, "timer keys rewritten in the per-platform layout");
    }
    Ok(())
}

/// An existing store opened without a writer, its chain proven: for offline tools that
/// rewrite it (moving a platform between shards) and then record its new tip themselves.
pub(super) struct OfflineStore {
    pub engine: Arc<dyn Engine>,
    /// sled's high-water record; PostgreSQL is its own record.
    pub high_water: Option<HighWater>,
    pub tip: ChainTip,
}

impl OfflineStore {
    /// Opens the store at `location` after an ordinary open and close has brought its
    /// layout up to date; refuses a sled directory that holds no store.
    pub fn open(location: &StoreLocation) -> Result<OfflineStore, StoreError> {
        if let StoreLocation::Sled(path) = location {
            if !path.is_dir() {
                return Err(StoreError::Io(format!(
                    "there is no store in {}",
                    path.display()
                )));
            }
        }
        let (store, writer) = Store::open_at(location, StoreOptions::default())?;
        store.close();
        writer.join();
        let (engine, high_water): (Arc<dyn Engine>, Option<HighWater>) = match location {
            StoreLocation::Sled(path) => {
                let engine = guarded(path, || SledEngine::open(path, CACHE_CAPACITY_BYTES))?;
                let engine: Arc<dyn Engine> = Arc::new(engine);
                let high_water = guarded(path, || prove_against_high_water(path, engine.as_ref()))?;
                (engine, Some(high_water))
            }
            StoreLocation::Postgres(url) => (Arc::new(PostgresEngine::open(url)?), None),
        };
        let tip = chain::prove(engine.as_ref(), 0)?.tip;
        Ok(OfflineStore {
            engine,
            high_water,
            tip,
        })
    }

    /// Makes everything applied durable and records the chain's new tip.
    pub fn finish(mut self, tip: &ChainTip) -> Result<(), StoreError> {
        self.engine.flush()?;
        if let Some(high_water) = self.high_water.as_mut() {
            high_water.record(tip)?;
        }
        Ok(())
    }
}
