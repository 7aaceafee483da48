//! The store's format version, and the rewrite that brings a store of an earlier format up
//! to this one when it is opened, before the writer starts.
//!
//! Format 1 (no version recorded) spelled index keys as text, `i<platform>/<index>/<id>`;
//! format 2 spells them compactly under the `j` tag (see `index_key`). Values need no
//! rewrite: every envelope and chained entry carries its own version byte.

use super::engine::{Engine, Overlay, Scan};
use super::keys::{Key, Keyspace};
use super::StoreError;

/// The format this build writes.
pub const STORE_FORMAT: u32 = 2;
/// The meta key holding the format, four big-endian bytes.
pub const FORMAT_META: &str = "store_format";
/// The tag of format 1's text index keys.
const TEXT_INDEX_TAG: u8 = b'i';
/// Index keys rewritten per batch, so memory stays bounded on any store.
const REWRITE_BATCH_KEYS: usize = 10_000;

/// Brings the store to [`STORE_FORMAT`]: refuses a newer one, rewrites an older one's index
/// keys (batch by batch, each atomic: a crash midway leaves keys that the next open goes on
/// rewriting), then records the format.
pub fn upgrade(engine: &dyn Engine) -> Result<(), StoreError> {
    let meta = Key::new(Keyspace::Meta, FORMAT_META);
    let found = match engine.get(meta.as_bytes())? {
        Some(bytes) => {
            let bytes: [u8; 4] = bytes.as_slice().try_into().map_err(|_| {
                StoreError::Integrity("the store's format record is garbled".into())
            })?;
            u32::from_be_bytes(bytes)
        }
        None => 1,
    };
    if found > STORE_FORMAT {
        return Err(StoreError::Integrity(format!(
            "the store is in format {found}, written by a newer tollgate; this build reads \
             formats up to {STORE_FORMAT}"
        )));
    }
    if found == STORE_FORMAT {
        return Ok(());
    }
    let rewritten = rewrite_text_index_keys(engine)?;
    let mut record = Overlay::new();
    record.insert(meta, Some(STORE_FORMAT.to_be_bytes().to_vec()));
    engine.apply(record)?;
    engine.flush()?;
    tracing::info!(
        rewritten,
        from = found,
        to = STORE_FORMAT,
        "store format upgraded"
    );
    Ok(())
}

fn rewrite_text_index_keys(engine: &dyn Engine) -> Result<usize, StoreError> {
    let mut rewritten = 0usize;
    loop {
        let page = engine.scan(Scan::forward(
            vec![TEXT_INDEX_TAG],
            vec![TEXT_INDEX_TAG + 1],
            REWRITE_BATCH_KEYS,
        ))?;
        if page.is_empty() {
            return Ok(rewritten);
        }
        let mut writes = Overlay::new();
        for (key, value) in &page {
            let compact = compact_index_key(key).ok_or_else(|| {
                StoreError::Integrity(format!(
                    "an index key of the earlier format cannot be read: {}",
                    String::from_utf8_lossy(key)
                ))
            })?;
            writes.insert(Key::from_bytes(key), None);
            writes.insert(compact, Some(value.clone()));
        }
        engine.apply(writes)?;
        rewritten += page.len();
    }
}

/// The compact key of a text index key `i<platform>/<index>/<id>`: platforms and ids never
/// hold a `/`, so the index name is whatever lies between the first and the last.
pub fn compact_index_key(text_key: &[u8]) -> Option<Key> {
    let rest = std::str::from_utf8(text_key.strip_prefix(&[TEXT_INDEX_TAG])?).ok()?;
    let (platform, after) = rest.split_once('/')?;
    let (index, id) = after.rsplit_once('/')?;
    Some(Key::index(platform, index, id))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn text_index_keys_become_compact_ones() {
        let platform = "plat_001k21bxfd05devsfj1qfff16q";
        let id = "txn_001k21bxfhrg7eq0gzhv850atn";
        let index = "txns_type:acct_001k21bxfeb9cah336mcg0z69r:APPLICATION_FEE";
        let text = format!("i{platform}/{index}/{id}");
        let compact = compact_index_key(text.as_bytes()).expect("compact");
        assert_eq!(compact, Key::index(platform, index, id));
        assert_eq!(compact.as_bytes().len(), 1 + 22 + 1 + 22 + 1 + 1 + 21);
        assert!(text.len() > 2 * compact.as_bytes().len() - 20);
        let group = compact_index_key(b"iplat_x/charges_group:a/b/ch_y").expect("group");
        assert_eq!(group, Key::index("plat_x", "charges_group:a/b", "ch_y"));
        assert_eq!(compact_index_key(b"inoslash"), None);
    }
}
