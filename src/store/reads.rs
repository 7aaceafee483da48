//! The store's reads: point reads, index and timer scans, balances, entries and totals,
//! the outbox. They go straight to the engine (never through the writer) and each counts
//! once toward the handle's read count.

use serde::de::DeserializeOwned;

use super::chain::{self, ChainTip};
use super::codec;
use super::engine::{for_each_with_prefix, Scan};
use super::keys::{timer_stamp, Key, Keyspace};
use super::{
    check_scan_limit, prefix_end, IdempotencyRecord, Store, StoreError, Versioned, MAX_SCAN_ITEMS,
};
use crate::ledger::{Entry, Holder, LedgerAccount, RunningTotals};

impl Store {
    /// When the earliest waiting timer of any platform is due (among the first
    /// [`MAX_SCAN_ITEMS`] timers; each platform's come in due order).
    pub fn earliest_timer_micros(&self) -> Result<Option<i64>, StoreError> {
        self.count_read();
        let timers = self.engine.scan(Scan::forward(
            vec![Keyspace::Timer.tag()],
            prefix_end(&[Keyspace::Timer.tag()]),
            MAX_SCAN_ITEMS,
        ))?;
        let mut earliest: Option<i64> = None;
        for (key, _) in timers {
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

    pub fn get_raw(&self, key: &Key) -> Result<Option<Vec<u8>>, StoreError> {
        self.count_read();
        self.engine.get(key.as_bytes())
    }

    pub fn get_object<T: DeserializeOwned>(
        &self,
        platform: &str,
        id: &str,
    ) -> Result<Option<Versioned<T>>, StoreError> {
        self.get_sealed(&Key::object(platform, id))
    }

    pub(crate) fn get_sealed<T: DeserializeOwned>(
        &self,
        key: &Key,
    ) -> Result<Option<Versioned<T>>, StoreError> {
        let Some(bytes) = self.get_raw(key)? else {
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
        self.engine
            .scan(Scan::reverse(prefix.as_bytes().to_vec(), upper, limit))?
            .into_iter()
            .map(|(key, _)| {
                Key::index_id(&key, prefix_length)
                    .ok_or_else(|| StoreError::Codec("an index key without its object id".into()))
            })
            .collect()
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
        for_each_with_prefix(self.engine.as_ref(), prefix, |key, value| {
            let key = Key::from_bytes(key);
            let account = LedgerAccount::parse_key(key.rest())?;
            balances.push((account, codec::decode_i64(value)?));
            Ok(true)
        })?;
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
        for_each_with_prefix(self.engine.as_ref(), prefix.as_bytes(), |_, value| {
            visit(chain::decode_entry(value)?);
            Ok(true)
        })
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
        for_each_with_prefix(
            self.engine.as_ref(),
            &[Keyspace::Totals.tag()],
            |key, value| {
                let key = Key::from_bytes(key);
                if !key.rest().is_empty() {
                    all.push((key.rest().to_owned(), codec::from_payload(value)?));
                }
                Ok(true)
            },
        )?;
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
        Ok(self
            .engine
            .scan(Scan::forward(
                start.as_bytes().to_vec(),
                end.as_bytes().to_vec(),
                limit,
            ))?
            .into_iter()
            .map(|(key, value)| (Key::from_bytes(&key), value))
            .collect())
    }

    /// The first key from `start` to `end`, if any: one seek.
    fn first_key(&self, start: &[u8], end: &[u8]) -> Result<Option<Vec<u8>>, StoreError> {
        self.count_read();
        Ok(self
            .engine
            .scan(Scan::forward(start.to_vec(), end.to_vec(), 1))?
            .into_iter()
            .next()
            .map(|(key, _)| key))
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
            let Some(key) = self.first_key(&start, &keyspace_end)? else {
                break;
            };
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
        Ok(self
            .engine
            .scan(Scan::forward(start, end, limit))?
            .into_iter()
            .map(|(key, value)| (Key::from_bytes(&key).rest().to_owned(), value))
            .collect())
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
        self.engine
            .scan(Scan::forward(
                prefix.as_bytes().to_vec(),
                prefix_end(prefix.as_bytes()),
                limit.min(MAX_SCAN_ITEMS),
            ))?
            .into_iter()
            .map(|(key, _)| {
                key.get(prefix_length..)
                    .and_then(|bytes| std::str::from_utf8(bytes).ok())
                    .map(str::to_owned)
                    .ok_or_else(|| StoreError::Codec("outbox key is not text".into()))
            })
            .collect()
    }

    /// The (platform, endpoint) pairs with deliveries in the outbox, at most `limit`, one
    /// seek per pair however many deliveries each holds.
    pub fn outbox_endpoints(&self, limit: usize) -> Result<Vec<(String, String)>, StoreError> {
        let mut endpoints = Vec::new();
        let mut from = Key::new(Keyspace::Outbox, "d/").as_bytes().to_vec();
        let end = prefix_end(&from);
        while endpoints.len() < limit {
            let Some(key) = self.first_key(&from, &end)? else {
                break;
            };
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
        for (key, value) in self.engine.scan(Scan::forward(
            prefix.as_bytes().to_vec(),
            prefix_end(prefix.as_bytes()),
            limit.min(MAX_SCAN_ITEMS),
        ))? {
            let key = Key::from_bytes(&key);
            let mut parts = key.rest().splitn(3, '/');
            let (Some(_), Some(platform), Some(event)) = (parts.next(), parts.next(), parts.next())
            else {
                return Err(StoreError::Codec("outbox key without an event".into()));
            };
            let event_type = String::from_utf8(value)
                .map_err(|_| StoreError::Codec("outbox event type is not text".into()))?;
            events.push((platform.to_owned(), event.to_owned(), event_type));
        }
        Ok(events)
    }

    pub fn decode<T: DeserializeOwned>(bytes: &[u8]) -> Result<T, StoreError> {
        codec::from_payload(bytes)
    }
}
