//! Copying a whole store into a new one (`tollgate migrate`): every key of every keyspace
//! (entries, chain links, meta and the chain's tip among them), a batch at a time, from a
//! store whose writes are paused into an empty store of either engine, which is then proven
//! and opened like a restored backup.

use super::engine::{for_each, Engine, Overlay};
use super::keys::Key;
use super::location::StoreLocation;
use super::{Store, StoreError, WriterThread};

/// Records written to the new store per batch: memory stays bounded whatever the size.
pub const MIGRATE_BATCH_RECORDS: usize = 10_000;

impl Store {
    /// Copies this store into a new store at `target` (an absent or empty directory, or an
    /// empty database; anything else is refused and left alone), proves the copy's chain and
    /// opens it; returns the copy and how many records were copied. Writes to this store
    /// wait while it copies. A copy that fails half-way is removed.
    pub fn migrate_to(
        &self,
        target: &StoreLocation,
    ) -> Result<(Store, WriterThread, u64), StoreError> {
        self.with_writes_paused(|source| {
            Store::load_into(target, "migrate", |engine| {
                copy_all(source.engine.as_ref(), engine)
            })
        })
    }
}

/// Writes every pair of `from` into `to`, a batch at a time; returns how many.
fn copy_all(from: &dyn Engine, to: &dyn Engine) -> Result<u64, StoreError> {
    let mut batch = Overlay::new();
    let mut records: u64 = 0;
    for_each(from, &[], None, |key, value| {
        batch.insert(Key::from_bytes(key), Some(value.to_vec()));
        records += 1;
        if batch.len() == MIGRATE_BATCH_RECORDS {
            to.apply(std::mem::take(&mut batch))?;
        }
        Ok(true)
    })?;
    to.apply(batch)?;
    Ok(records)
}
