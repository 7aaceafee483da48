//! The embedded engine: one sled tree in the data directory. A group is one `sled::Batch`;
//! durability is a flush, done by the writer's flusher once for every group applied since
//! the last one, and recorded in the high-water file beside the tree.

use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use super::engine::{
    Direction, Engine, GroupFailure, GroupReads, GroupWriter, Overlay, Pairs, Scan, StageFn,
};
use super::keys::Key;
use super::StoreError;

/// How long opening waits for a file lock that sled's threads still hold for a store this
/// process has just closed.
const LOCK_RELEASE_WAIT: Duration = Duration::from_secs(2);
/// How often opening tries again meanwhile.
const LOCK_RETRY_INTERVAL: Duration = Duration::from_millis(20);

/// Whether sled refused to open because another handle holds the store's file lock (sled
/// 0.34 reports it as an `Other` error with this text).
fn is_lock_held(error: &std::io::Error) -> bool {
    error.kind() == std::io::ErrorKind::Other
        && error.to_string().starts_with("could not acquire lock")
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

#[derive(Clone)]
pub struct SledEngine {
    tree: sled::Tree,
    path: PathBuf,
}

impl SledEngine {
    /// Opens sled in `path`, without its background flush: the writer flushes every group
    /// itself.
    pub fn open(path: &Path, cache_capacity_bytes: u64) -> Result<SledEngine, StoreError> {
        let config = sled::Config::new()
            .path(path)
            .cache_capacity(cache_capacity_bytes)
            .flush_every_ms(None)
            // Every request is a write: favour write throughput over space.
            .mode(sled::Mode::HighThroughput);
        // sled's own I/O threads let go of a store's file lock a moment after it is closed,
        // so a command that closes a store and opens it again (a platform move, then the
        // check of both shards) waits for that; a store another process holds is still
        // refused, after the wait.
        let started = Instant::now();
        let db = loop {
            match config.open() {
                Err(sled::Error::Io(error))
                    if is_lock_held(&error) && started.elapsed() < LOCK_RELEASE_WAIT =>
                {
                    std::thread::sleep(LOCK_RETRY_INTERVAL);
                }
                opened => break opened?,
            }
        };
        Ok(SledEngine::over((*db).clone(), path))
    }

    /// An engine over a tree opened elsewhere (tests).
    pub fn over(tree: sled::Tree, path: &Path) -> SledEngine {
        SledEngine {
            tree,
            path: path.to_path_buf(),
        }
    }
}

fn batch_of(writes: Overlay) -> sled::Batch {
    let mut batch = sled::Batch::default();
    for (key, value) in writes {
        match value {
            Some(bytes) => batch.insert(key.as_bytes(), bytes),
            None => batch.remove(key.as_bytes()),
        }
    }
    batch
}

impl Engine for SledEngine {
    fn describe(&self) -> String {
        format!("sled in {}", self.path.display())
    }

    fn get(&self, key: &[u8]) -> Result<Option<Vec<u8>>, StoreError> {
        Ok(self.tree.get(key)?.map(|value| value.to_vec()))
    }

    fn get_many(&self, keys: &[Vec<u8>]) -> Result<Vec<Option<Vec<u8>>>, StoreError> {
        keys.iter().map(|key| self.get(key)).collect()
    }

    fn scan(&self, scan: Scan) -> Result<Pairs, StoreError> {
        let Scan {
            start,
            end,
            direction,
            limit,
        } = scan;
        let range = match end {
            Some(end) => self.tree.range(start..end),
            None => self.tree.range(start..),
        };
        let pairs = |item: Result<(sled::IVec, sled::IVec), sled::Error>| {
            item.map(|(key, value)| (key.to_vec(), value.to_vec()))
                .map_err(StoreError::from)
        };
        match direction {
            Direction::Forward => range.take(limit).map(pairs).collect(),
            Direction::Reverse => range.rev().take(limit).map(pairs).collect(),
        }
    }

    fn apply(&self, writes: Overlay) -> Result<(), StoreError> {
        if writes.is_empty() {
            return Ok(());
        }
        self.tree.apply_batch(batch_of(writes))?;
        self.tree.flush()?;
        Ok(())
    }

    fn flush(&self) -> Result<(), StoreError> {
        self.tree.flush()?;
        Ok(())
    }

    fn group_writer(&self) -> Result<Box<dyn GroupWriter>, StoreError> {
        Ok(Box::new(self.clone()))
    }
}

struct TreeReads<'a>(&'a sled::Tree);

impl GroupReads for TreeReads<'_> {
    fn get(&mut self, key: &Key) -> Result<Option<Vec<u8>>, StoreError> {
        Ok(self.0.get(key.as_bytes())?.map(|value| value.to_vec()))
    }
}

impl GroupWriter for SledEngine {
    /// One writer applies groups in turn, so staging reads the tree as it is.
    fn apply_group(
        &mut self,
        _prefetch: &[Key],
        stage: &mut StageFn<'_>,
    ) -> Result<(), GroupFailure> {
        let writes = stage(&mut TreeReads(&self.tree)).map_err(GroupFailure::NotApplied)?;
        if writes.is_empty() {
            return Ok(());
        }
        // A batch that sled could not apply leaves the tree in doubt.
        self.tree
            .apply_batch(batch_of(writes))
            .map_err(|error| GroupFailure::InDoubt(error.into()))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_held_lock_is_told_from_other_failures_and_a_held_store_is_still_refused() {
        let held = std::io::Error::other("could not acquire lock on \"db\": WouldBlock");
        assert!(is_lock_held(&held));
        assert!(!is_lock_held(&std::io::Error::other("disk full")));
        let directory = tempfile::tempdir().expect("temp");
        let first = SledEngine::open(directory.path(), 1 << 20).expect("first");
        let started = Instant::now();
        let second = SledEngine::open(directory.path(), 1 << 20);
        assert!(second.is_err(), "a store another handle holds is refused");
        assert!(started.elapsed() >= LOCK_RELEASE_WAIT);
        drop(first);
    }
}
