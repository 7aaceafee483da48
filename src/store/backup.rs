//! The backup format and restoring from it. A backup is every key and value of the store,
//! in key order: a header (`TOLLGATE-BACKUP` and a format version), then each record as a
//! big-endian u32 length and bytes for the key and for the value, then an end marker and
//! the record count, so a truncated file is refused. `Store::restore` loads one.

use std::io::{Read, Write};
use std::path::Path;

use super::engine::{for_each, Engine, Overlay};
use super::keys::Key;
use super::StoreError;

/// The first bytes of every backup.
pub const MAGIC: &[u8; 16] = b"TOLLGATE-BACKUP\n";
/// The format version written after the magic.
pub const FORMAT_VERSION: u32 = 1;
/// Marks the end of the records (no key is this long).
const END_MARKER: u32 = u32::MAX;
/// The longest key or value a backup may hold; a larger length means a damaged file.
pub const MAX_BACKUP_VALUE_BYTES: u32 = 64 * 1024 * 1024;
/// Records written to the new store per batch while restoring.
const RESTORE_BATCH_RECORDS: usize = 10_000;

fn io(error: std::io::Error) -> StoreError {
    StoreError::Io(error.to_string())
}

/// Writes every record of the store; returns how many. The caller keeps writers out.
pub(crate) fn write(engine: &dyn Engine, out: &mut impl Write) -> Result<u64, StoreError> {
    out.write_all(MAGIC).map_err(io)?;
    out.write_all(&FORMAT_VERSION.to_be_bytes()).map_err(io)?;
    let mut records: u64 = 0;
    for_each(engine, &[], None, |key, value| {
        for bytes in [key, value] {
            let length = u32::try_from(bytes.len())
                .ok()
                .filter(|length| *length <= MAX_BACKUP_VALUE_BYTES)
                .ok_or_else(|| StoreError::Codec("a record is too large to back up".into()))?;
            out.write_all(&length.to_be_bytes()).map_err(io)?;
            out.write_all(bytes).map_err(io)?;
        }
        records += 1;
        Ok(true)
    })?;
    out.write_all(&END_MARKER.to_be_bytes()).map_err(io)?;
    out.write_all(&records.to_be_bytes()).map_err(io)?;
    out.flush().map_err(io)?;
    Ok(records)
}

fn read_u32(input: &mut impl Read) -> Result<u32, StoreError> {
    let mut bytes = [0u8; 4];
    input
        .read_exact(&mut bytes)
        .map_err(|_| StoreError::Codec("the backup ends early".into()))?;
    Ok(u32::from_be_bytes(bytes))
}

fn read_bytes(input: &mut impl Read, length: u32) -> Result<Vec<u8>, StoreError> {
    if length > MAX_BACKUP_VALUE_BYTES {
        return Err(StoreError::Codec(
            "the backup holds an impossible length".into(),
        ));
    }
    let mut bytes = vec![0u8; length as usize];
    input
        .read_exact(&mut bytes)
        .map_err(|_| StoreError::Codec("the backup ends early".into()))?;
    Ok(bytes)
}

/// Refuses a data directory that already holds something.
pub(crate) fn refuse_occupied(data_dir: &Path, what: &str) -> Result<(), StoreError> {
    let occupied = std::fs::read_dir(data_dir).is_ok_and(|mut entries| entries.next().is_some());
    if occupied {
        return Err(StoreError::Io(format!(
            "{} is not empty: {what} into a new data directory",
            data_dir.display()
        )));
    }
    Ok(())
}

/// Reads a whole backup without storing it: the record count if it is complete and sound.
pub fn check(backup: &mut impl Read) -> Result<u64, StoreError> {
    read_records(backup, |_, _| Ok(()))
}

/// Writes every record of a backup into the store, a batch at a time, each applied and
/// made durable; returns how many.
pub(crate) fn load(backup: &mut impl Read, engine: &dyn Engine) -> Result<u64, StoreError> {
    let mut batch = Overlay::new();
    let records = read_records(backup, |key, value| {
        batch.insert(Key::from_bytes(&key), Some(value));
        if batch.len() == RESTORE_BATCH_RECORDS {
            engine.apply(std::mem::take(&mut batch))?;
        }
        Ok(())
    })?;
    engine.apply(batch)?;
    Ok(records)
}

/// Reads the header, hands every record to `visit`, and checks the end marker and count.
fn read_records(
    backup: &mut impl Read,
    mut visit: impl FnMut(Vec<u8>, Vec<u8>) -> Result<(), StoreError>,
) -> Result<u64, StoreError> {
    let mut magic = [0u8; 16];
    backup
        .read_exact(&mut magic)
        .map_err(|_| StoreError::Codec("not a tollgate backup".into()))?;
    if &magic != MAGIC {
        return Err(StoreError::Codec("not a tollgate backup".into()));
    }
    let version = read_u32(backup)?;
    if version != FORMAT_VERSION {
        return Err(StoreError::Codec(format!(
            "backup format {version} is not supported (this build reads {FORMAT_VERSION})"
        )));
    }
    let mut records: u64 = 0;
    loop {
        let key_length = read_u32(backup)?;
        if key_length == END_MARKER {
            break;
        }
        let key = read_bytes(backup, key_length)?;
        let value_length = read_u32(backup)?;
        let value = read_bytes(backup, value_length)?;
        visit(key, value)?;
        records += 1;
    }
    let mut count = [0u8; 8];
    backup
        .read_exact(&mut count)
        .map_err(|_| StoreError::Codec("the backup ends early".into()))?;
    if u64::from_be_bytes(count) != records {
        return Err(StoreError::Codec(format!(
            "the backup says {} records but holds {records}",
            u64::from_be_bytes(count)
        )));
    }
    Ok(records)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::store::sled_engine::SledEngine;
    use crate::store::{Store, StoreLocation};

    fn sample_backup() -> (Vec<u8>, tempfile::TempDir) {
        let temp = tempfile::tempdir().expect("temp");
        let source = temp.path().join("source");
        let engine = SledEngine::open(&source, 1024 * 1024).expect("open");
        let records = (0..25u32)
            .map(|index| {
                (
                    Key::from_bytes(&index.to_be_bytes()),
                    Some(vec![7u8; index as usize]),
                )
            })
            .collect();
        engine.apply(records).expect("apply");
        let mut bytes = Vec::new();
        assert_eq!(write(&engine, &mut bytes).expect("write"), 25);
        (bytes, temp)
    }

    #[test]
    fn a_backup_restores_every_record_into_a_new_directory_only() {
        let (bytes, temp) = sample_backup();
        assert_eq!(check(&mut bytes.as_slice()).expect("check"), 25);
        let target = temp.path().join("restored");
        let (store, writer, records) =
            Store::restore(&mut bytes.as_slice(), &StoreLocation::Sled(target.clone()))
                .expect("restore");
        assert_eq!(records, 25);
        let last = store
            .get_raw(&crate::store::Key::from_bytes(&24u32.to_be_bytes()))
            .expect("get");
        assert_eq!(last, Some(vec![7u8; 24]));
        store.close();
        writer.join();
        let again = Store::restore(&mut bytes.as_slice(), &StoreLocation::Sled(target.clone()));
        assert!(matches!(again, Err(StoreError::Io(_))), "{:?}", again.err());
    }

    #[test]
    fn a_damaged_backup_is_refused_and_leaves_nothing() {
        let (bytes, temp) = sample_backup();
        let cases: Vec<Vec<u8>> = vec![
            bytes[..bytes.len() - 3].to_vec(),
            bytes[..bytes.len() / 2].to_vec(),
            b"not a backup at all".to_vec(),
            Vec::new(),
        ];
        for (index, damaged) in cases.into_iter().enumerate() {
            assert!(check(&mut damaged.as_slice()).is_err(), "case {index}");
            let target = temp.path().join(format!("damaged-{index}"));
            assert!(
                Store::restore(
                    &mut damaged.as_slice(),
                    &StoreLocation::Sled(target.clone())
                )
                .is_err(),
                "case {index}"
            );
            assert!(!target.exists(), "case {index} left files behind");
        }
    }
}
