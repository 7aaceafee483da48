//! The high-water record: the chain tip of the last flush, fsynced beside the store, so a
//! store that comes back smaller than what was acknowledged is noticed.
//!
//! The file holds two slots in separate sectors, written alternately, each with its own
//! checksum: a write torn by a crash spoils at most the slot being written, and the other
//! still holds the previous tip. The newest valid slot wins.

use std::fs::{File, OpenOptions};
use std::io::{Read, Seek, SeekFrom, Write};
use std::path::{Path, PathBuf};

use sha2::{Digest, Sha256};

use super::chain::ChainTip;
use super::StoreError;

/// The file's name inside the data directory.
pub const HIGH_WATER_FILE: &str = "ledger-high-water";
const MAGIC: &[u8; 8] = b"TGHWM001";
const CHECKSUM_BYTES: usize = 8;
const SLOT_BYTES: usize = MAGIC.len() + ChainTip::BYTES + CHECKSUM_BYTES;
/// Slots start a sector apart so one torn write cannot reach both.
const SLOT_STRIDE_BYTES: u64 = 512;

pub struct HighWater {
    file: File,
    path: PathBuf,
    /// Which slot the next write goes to.
    next_slot: u64,
    last_written: ChainTip,
}

fn checksum(bytes: &[u8]) -> [u8; CHECKSUM_BYTES] {
    let digest = Sha256::digest(bytes);
    let mut sum = [0; CHECKSUM_BYTES];
    sum.copy_from_slice(&digest[..CHECKSUM_BYTES]);
    sum
}

fn encode_slot(tip: &ChainTip) -> Vec<u8> {
    let mut bytes = Vec::with_capacity(SLOT_BYTES);
    bytes.extend_from_slice(MAGIC);
    bytes.extend_from_slice(&tip.encode());
    let sum = checksum(&bytes);
    bytes.extend_from_slice(&sum);
    bytes
}

fn decode_slot(bytes: &[u8]) -> Option<ChainTip> {
    let (body, sum) = bytes
        .get(..SLOT_BYTES)?
        .split_at(SLOT_BYTES - CHECKSUM_BYTES);
    if body.get(..MAGIC.len())? != MAGIC || checksum(body) != sum {
        return None;
    }
    ChainTip::decode(body.get(MAGIC.len()..)?)
}

fn io(path: &Path, error: std::io::Error) -> StoreError {
    StoreError::Io(format!("{}: {error}", path.display()))
}

impl HighWater {
    pub fn path(data_dir: &Path) -> PathBuf {
        data_dir.join(HIGH_WATER_FILE)
    }

    /// Reads the newest valid tip, or `None` when there is no file. A file with no valid
    /// slot is refused: the record exists but cannot be trusted.
    pub fn read(data_dir: &Path) -> Result<Option<ChainTip>, StoreError> {
        let path = Self::path(data_dir);
        let mut file = match File::open(&path) {
            Ok(file) => file,
            Err(error) if error.kind() == std::io::ErrorKind::NotFound => return Ok(None),
            Err(error) => return Err(io(&path, error)),
        };
        let mut bytes = Vec::new();
        file.read_to_end(&mut bytes)
            .map_err(|error| io(&path, error))?;
        let slots = [0, SLOT_STRIDE_BYTES as usize]
            .iter()
            .filter_map(|&offset| bytes.get(offset..).and_then(decode_slot));
        match slots.max_by_key(|tip| (tip.groups, tip.sequence)) {
            Some(tip) => Ok(Some(tip)),
            None => Err(StoreError::Integrity(format!(
                "the high-water record {} is garbled",
                path.display()
            ))),
        }
    }

    /// Opens the record for writing, starting from `tip` (already proven against the store).
    pub fn open(data_dir: &Path, tip: ChainTip) -> Result<HighWater, StoreError> {
        let path = Self::path(data_dir);
        let file = OpenOptions::new()
            .create(true)
            .truncate(false)
            .read(true)
            .write(true)
            .open(&path)
            .map_err(|error| io(&path, error))?;
        let mut high_water = HighWater {
            file,
            path,
            next_slot: 0,
            last_written: ChainTip::default(),
        };
        // Both slots start equal, so neither holds anything older than the store.
        high_water.write_slot(&tip)?;
        high_water.write_slot(&tip)?;
        if let Some(parent) = high_water.path.parent() {
            File::open(parent)
                .and_then(|directory| directory.sync_all())
                .map_err(|error| io(parent, error))?;
        }
        Ok(high_water)
    }

    /// Records `tip` durably, unless it is what was last recorded.
    pub fn record(&mut self, tip: &ChainTip) -> Result<(), StoreError> {
        if *tip == self.last_written {
            return Ok(());
        }
        self.write_slot(tip)
    }

    fn write_slot(&mut self, tip: &ChainTip) -> Result<(), StoreError> {
        let offset = self.next_slot * SLOT_STRIDE_BYTES;
        self.file
            .seek(SeekFrom::Start(offset))
            .and_then(|_| self.file.write_all(&encode_slot(tip)))
            .and_then(|()| self.file.sync_data())
            .map_err(|error| io(&self.path, error))?;
        self.next_slot = 1 - self.next_slot;
        self.last_written = *tip;
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_newest_valid_slot_wins_and_a_torn_slot_is_skipped() {
        let dir = tempfile::tempdir().expect("temp");
        assert_eq!(HighWater::read(dir.path()).expect("read"), None);
        let first = ChainTip {
            groups: 1,
            sequence: 3,
            hash: [7; 32],
        };
        let second = ChainTip {
            groups: 2,
            sequence: 5,
            hash: [9; 32],
        };
        let mut high_water = HighWater::open(dir.path(), first).expect("open");
        high_water.record(&second).expect("record");
        assert_eq!(HighWater::read(dir.path()).expect("read"), Some(second));
        // Tear the slot just written (slot 0): the other still holds the first tip.
        let path = HighWater::path(dir.path());
        let mut bytes = std::fs::read(&path).expect("bytes");
        bytes[20] ^= 0xFF;
        std::fs::write(&path, &bytes).expect("write");
        assert_eq!(HighWater::read(dir.path()).expect("read"), Some(first));
        // Both slots spoiled: the record cannot be trusted.
        bytes[SLOT_STRIDE_BYTES as usize + 20] ^= 0xFF;
        std::fs::write(&path, &bytes).expect("write");
        assert!(matches!(
            HighWater::read(dir.path()),
            Err(StoreError::Integrity(message)) if message.contains("garbled")
        ));
    }
}
