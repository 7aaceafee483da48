//! Authenticated keys kept for a moment: a request that presents a key presented a moment
//! ago skips reading and decoding the key's record and its platform's record.
//!
//! An entry is used only while the store's credentials epoch is the one it was read at —
//! every commit through this server that writes a key's record or a platform's own record
//! moves the epoch, so a revoked or rotated key or a changed platform is seen at once — and
//! for at most [`MAX_AGE`], which bounds how long a change made through another server over
//! the same store takes to be seen here. The secret is still compared and the key's expiry
//! still checked on every request: only the reads are saved.

use std::collections::HashMap;
use std::sync::Mutex;
use std::time::{Duration, Instant};

use super::api_keys::KeyRecord;
use crate::domain::platforms::Platform;

/// The longest an entry is used: changes made through another server take at most this long.
pub const MAX_AGE: Duration = Duration::from_secs(1);
/// The most keys kept; a full cache starts again empty.
pub const MAX_ENTRIES: usize = 4096;

struct Entry {
    record: KeyRecord,
    platform: Platform,
    epoch: u64,
    read_at: Instant,
}

/// Key records and their platforms by key id, as read at a credentials epoch.
pub struct KeyCache {
    entries: Mutex<HashMap<String, Entry>>,
}

impl Default for KeyCache {
    fn default() -> Self {
        KeyCache {
            entries: Mutex::new(HashMap::new()),
        }
    }
}

impl KeyCache {
    /// The record and platform of `key_id`, if they were read at `epoch` less than
    /// [`MAX_AGE`] before `now`.
    pub(super) fn get(
        &self,
        key_id: &str,
        epoch: u64,
        now: Instant,
    ) -> Option<(KeyRecord, Platform)> {
        let entries = self.entries.lock().ok()?;
        let entry = entries.get(key_id)?;
        let fresh = entry.epoch == epoch && now.saturating_duration_since(entry.read_at) < MAX_AGE;
        fresh.then(|| (entry.record.clone(), entry.platform.clone()))
    }

    /// Keeps what was read for `key_id` at `epoch` (read before `read_at`).
    pub(super) fn put(
        &self,
        key_id: &str,
        record: KeyRecord,
        platform: Platform,
        epoch: u64,
        read_at: Instant,
    ) {
        let Ok(mut entries) = self.entries.lock() else {
            return;
        };
        if entries.len() >= MAX_ENTRIES && !entries.contains_key(key_id) {
            entries.clear();
        }
        entries.insert(
            key_id.to_owned(),
            Entry {
                record,
                platform,
                epoch,
                read_at,
            },
        );
    }
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;
    use crate::ids::{IdGenerator, PlatformId};

    fn platform(name: &str) -> (KeyRecord, Platform) {
        let ids = IdGenerator::new();
        let id: PlatformId = ids.next();
        let secret_key: crate::ids::SecretKeyId = ids.next();
        let platform = serde_json::from_value(json!({
            "id": id, "name": name, "country": "US", "default_currency": "usd",
            "policy": "marketplace", "secret_key": secret_key,
            "created": "2026-01-01T00:00:00Z",
        }))
        .expect("platform");
        let record =
            serde_json::from_value(json!({ "platform": id, "key_sha256": "ab" })).expect("record");
        (record, platform)
    }

    #[test]
    fn an_entry_serves_its_epoch_for_less_than_its_max_age() {
        let cache = KeyCache::default();
        let (record, first) = platform("First");
        let read_at = Instant::now();
        cache.put("skid_1", record, first, 7, read_at);
        let name = |found: Option<(KeyRecord, Platform)>| found.map(|(_, platform)| platform.name);
        assert_eq!(name(cache.get("skid_1", 7, read_at)), Some("First".into()));
        let almost = read_at + MAX_AGE - Duration::from_millis(1);
        assert_eq!(name(cache.get("skid_1", 7, almost)), Some("First".into()));
        assert_eq!(name(cache.get("skid_1", 7, read_at + MAX_AGE)), None);
        assert_eq!(name(cache.get("skid_1", 8, read_at)), None, "a later epoch");
        assert_eq!(name(cache.get("skid_2", 7, read_at)), None, "another key");
    }

    #[test]
    fn a_full_cache_starts_again_empty() {
        let cache = KeyCache::default();
        let read_at = Instant::now();
        for index in 0..MAX_ENTRIES {
            let (record, platform) = platform("P");
            cache.put(&format!("skid_{index}"), record, platform, 1, read_at);
        }
        assert!(cache.get("skid_0", 1, read_at).is_some());
        let (record, platform) = platform("Last");
        cache.put("skid_last", record, platform, 1, read_at);
        assert!(cache.get("skid_0", 1, read_at).is_none());
        assert!(cache.get("skid_last", 1, read_at).is_some());
    }
}
