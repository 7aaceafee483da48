//! The ordered key-value engine under the store: point reads, range scans, an atomic apply
//! of a group of writes, and durability. sled (`sled_engine.rs`) and PostgreSQL
//! (`postgres/`) implement it; everything above it (reads, the writer's staging, the hash
//! chain, backups) is written once against it.
//!
//! Keys compare bytewise in both engines (sled's order; PostgreSQL's `bytea`), so a scan
//! returns the same keys in the same order whichever engine holds them.

use std::collections::HashMap;

use super::keys::Key;
use super::StoreError;

/// Values written by a group; `None` is a deletion.
pub type Overlay = HashMap<Key, Option<Vec<u8>>>;

/// Key and value pairs, in scan order.
pub type Pairs = Vec<(Vec<u8>, Vec<u8>)>;

/// How many pairs one page of a whole-range walk reads.
pub const SCAN_PAGE_ITEMS: usize = 1000;

/// Which way a scan walks its range.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Direction {
    Forward,
    Reverse,
}

/// The keys from `start` (inclusive) to `end` (exclusive; the end of the keyspace when
/// `None`), at most `limit` of them.
#[derive(Clone, Debug)]
pub struct Scan {
    pub start: Vec<u8>,
    pub end: Option<Vec<u8>>,
    pub direction: Direction,
    pub limit: usize,
}

impl Scan {
    pub fn forward(start: Vec<u8>, end: Vec<u8>, limit: usize) -> Scan {
        Scan {
            start,
            end: Some(end),
            direction: Direction::Forward,
            limit,
        }
    }

    pub fn reverse(start: Vec<u8>, end: Vec<u8>, limit: usize) -> Scan {
        Scan {
            direction: Direction::Reverse,
            ..Scan::forward(start, end, limit)
        }
    }
}

/// Reads inside one group's atomic apply: they see every group applied before it.
pub trait GroupReads {
    fn get(&mut self, key: &Key) -> Result<Option<Vec<u8>>, StoreError>;
}

/// Why a group was not applied.
#[derive(Debug)]
pub enum GroupFailure {
    /// Nothing of the group was applied: its callers may be told that it failed.
    NotApplied(StoreError),
    /// The group may or may not have been applied: nobody may be told either way.
    InDoubt(StoreError),
}

/// Builds a group's writes from what it reads; run once per attempt (an engine may retry a
/// group whose transaction lost a race, and only the last run counts).
pub type StageFn<'a> = dyn FnMut(&mut dyn GroupReads) -> Result<Overlay, StoreError> + 'a;

/// The writer's side of an engine, owned by the writer thread.
pub trait GroupWriter {
    /// Runs `stage` and applies its writes as one atomic unit, in which every key of
    /// `prefetch` is read at once (the keys `stage` is known to read; others may still be
    /// read, one at a time).
    fn apply_group(
        &mut self,
        prefetch: &[Key],
        stage: &mut StageFn<'_>,
    ) -> Result<(), GroupFailure>;
}

/// An ordered key-value engine.
pub trait Engine: Send + Sync {
    /// A name for logs and messages ("sled in ./data", "PostgreSQL at postgres://…").
    fn describe(&self) -> String;

    fn get(&self, key: &[u8]) -> Result<Option<Vec<u8>>, StoreError>;

    /// The values of several keys at once, in the order asked (`None` where absent).
    fn get_many(&self, keys: &[Vec<u8>]) -> Result<Vec<Option<Vec<u8>>>, StoreError>;

    fn scan(&self, scan: Scan) -> Result<Pairs, StoreError>;

    /// Applies `writes` atomically, outside the writer: only while opening or restoring a
    /// store, before the writer starts.
    fn apply(&self, writes: Overlay) -> Result<(), StoreError>;

    /// Makes everything applied so far durable.
    fn flush(&self) -> Result<(), StoreError>;

    /// The writer's side. Called on the writer thread, which owns what it returns.
    fn group_writer(&self) -> Result<Box<dyn GroupWriter>, StoreError>;
}

/// Calls `visit` with every pair from `start` to `end` (the keyspace's end when `None`),
/// in key order, a page at a time. `visit` returns whether to go on.
pub fn for_each(
    engine: &dyn Engine,
    start: &[u8],
    end: Option<&[u8]>,
    mut visit: impl FnMut(&[u8], &[u8]) -> Result<bool, StoreError>,
) -> Result<(), StoreError> {
    let mut from = start.to_vec();
    loop {
        let page = engine.scan(Scan {
            start: from.clone(),
            end: end.map(<[u8]>::to_vec),
            direction: Direction::Forward,
            limit: SCAN_PAGE_ITEMS,
        })?;
        let full = page.len() == SCAN_PAGE_ITEMS;
        let Some((last, _)) = page.last() else {
            return Ok(());
        };
        // The smallest key after the last one read.
        let mut next = last.clone();
        next.push(0);
        for (key, value) in &page {
            if !visit(key, value)? {
                return Ok(());
            }
        }
        if !full {
            return Ok(());
        }
        from = next;
    }
}

/// [`for_each`] over every key starting with `prefix`.
pub fn for_each_with_prefix(
    engine: &dyn Engine,
    prefix: &[u8],
    visit: impl FnMut(&[u8], &[u8]) -> Result<bool, StoreError>,
) -> Result<(), StoreError> {
    let end = super::prefix_end(prefix);
    for_each(engine, prefix, Some(&end), visit)
}
