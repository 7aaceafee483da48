//! Moving one platform from one shard to another, offline (`tollgate platform move`): its
//! keys are copied to the target, its journal entries re-linked into the target's chain in
//! their order, and then removed from the source, where each leaves a departed link (the
//! entry's sequence, previous hash and hash, without its body) so the source's chain still
//! proves. The shared system balances (gateway, card network, bank) and the whole-ledger
//! totals move by exactly the platform's share; every id and balance stays as it was.

use std::collections::{BTreeMap, BTreeSet};

use super::chain::{self, ChainTip, ChainedEntry, TIP_META};
use super::codec;
use super::engine::{for_each_with_prefix, Engine, Overlay};
use super::index_key;
use super::keys::{Key, Keyspace};
use super::location::StoreLocation;
use super::open::OfflineStore;
use super::shards::PLATFORMS_INDEX;
use super::StoreError;
use crate::clock::{EARLIER_PLATFORM_CLOCK_PREFIX, PLATFORM_CLOCK_PREFIX};
use crate::ledger::{CurrencyTotals, Entry, RunningTotals};

/// Keys written or deleted per batch.
const MOVE_BATCH_RECORDS: usize = 10_000;
/// Entries re-linked per batch (each batch also moves the chain's tip).
const MOVE_ENTRY_PAGE: usize = 1_000;

/// What a move carried.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct MoveReport {
    /// Journal entries re-linked into the target's chain.
    pub entries: u64,
    /// Other keys copied (objects, indexes, balances, timers, keys, …).
    pub records: u64,
}

/// Moves `platform` from the store at `from` to the store at `to`; both must be closed
/// (no server running on either). The target must not hold the platform already.
pub fn move_platform(
    platform: &str,
    from: &StoreLocation,
    to: &StoreLocation,
) -> Result<MoveReport, StoreError> {
    if from == to {
        return Err(StoreError::Io(format!(
            "{platform} is already on {from}: name another shard"
        )));
    }
    let source = OfflineStore::open(from)?;
    let target = OfflineStore::open(to)?;
    let prefixes = platform_prefixes(platform);
    let object_prefix = Key::new(Keyspace::Object, &format!("{platform}/"));
    if !holds_prefix(source.engine.as_ref(), object_prefix.as_bytes())? {
        return Err(StoreError::Io(format!(
            "there is no platform {platform} on {from}"
        )));
    }
    if holds_prefix(target.engine.as_ref(), object_prefix.as_bytes())? {
        return Err(StoreError::Io(format!(
            "{to} already holds objects of {platform}: nothing was moved"
        )));
    }
    let mut mover = Mover {
        platform,
        report: MoveReport::default(),
        system_deltas: BTreeMap::new(),
        holder_balances: BTreeSet::new(),
    };
    let target_tip = mover.copy(&source, &target, &prefixes)?;
    target.finish(&target_tip)?;
    let source_tip = mover.remove(&source, &prefixes)?;
    source.finish(&source_tip)?;
    Ok(mover.report)
}

/// Every key range that belongs to the platform alone (its entries apart).
fn platform_prefixes(platform: &str) -> Vec<Vec<u8>> {
    let mut index = vec![Keyspace::Index.tag()];
    index_key::push_part(&mut index, platform);
    let slash = format!("{platform}/");
    vec![
        Key::new(Keyspace::Object, &slash).as_bytes().to_vec(),
        index,
        Key::new(Keyspace::Idempotency, &slash).as_bytes().to_vec(),
        Key::new(Keyspace::Timer, &slash).as_bytes().to_vec(),
        Key::new(Keyspace::ParkedTimer, &slash).as_bytes().to_vec(),
        Key::new(Keyspace::Outbox, &format!("e/{slash}"))
            .as_bytes()
            .to_vec(),
        Key::new(Keyspace::Outbox, &format!("d/{slash}"))
            .as_bytes()
            .to_vec(),
    ]
}

/// Single keys of the platform outside its ranges: its running totals, its clock, its line
/// in the store's list of platforms.
fn platform_keys(platform: &str) -> Vec<Key> {
    vec![
        Key::new(Keyspace::Totals, platform),
        Key::new(
            Keyspace::Meta,
            &format!("{PLATFORM_CLOCK_PREFIX}{platform}"),
        ),
        Key::new(
            Keyspace::Meta,
            &format!("{EARLIER_PLATFORM_CLOCK_PREFIX}{platform}"),
        ),
        Key::index("", PLATFORMS_INDEX, platform),
    ]
}

fn holds_prefix(engine: &dyn Engine, prefix: &[u8]) -> Result<bool, StoreError> {
    let mut found = false;
    for_each_with_prefix(engine, prefix, |_, _| {
        found = true;
        Ok(false)
    })?;
    Ok(found)
}

/// Writes to one engine a batch at a time.
struct Batch<'a> {
    engine: &'a dyn Engine,
    writes: Overlay,
}

impl<'a> Batch<'a> {
    fn new(engine: &'a dyn Engine) -> Batch<'a> {
        Batch {
            engine,
            writes: Overlay::new(),
        }
    }

    /// Adds a write; answers `true` (go on), for use inside a walk.
    fn put(&mut self, key: Key, value: Option<Vec<u8>>) -> Result<bool, StoreError> {
        self.writes.insert(key, value);
        if self.writes.len() >= MOVE_BATCH_RECORDS {
            self.engine.apply(std::mem::take(&mut self.writes))?;
        }
        Ok(true)
    }

    fn finish(self) -> Result<(), StoreError> {
        self.engine.apply(self.writes)
    }
}

struct Mover<'a> {
    platform: &'a str,
    report: MoveReport,
    /// What the platform's entries posted to the shared system balances, by balance key.
    system_deltas: BTreeMap<Key, i64>,
    /// The balances of the platform and its accounts.
    holder_balances: BTreeSet<Key>,
}

impl Mover<'_> {
    /// Copies everything of the platform to the target; returns the target's new tip.
    fn copy(
        &mut self,
        source: &OfflineStore,
        target: &OfflineStore,
        prefixes: &[Vec<u8>],
    ) -> Result<ChainTip, StoreError> {
        let from = source.engine.as_ref();
        let to = target.engine.as_ref();
        let mut tip = target.tip;
        self.relink_entries(from, to, &mut tip)?;
        let mut batch = Batch::new(to);
        for prefix in prefixes {
            for_each_with_prefix(from, prefix, |key, value| {
                self.report.records += 1;
                batch.put(Key::from_bytes(key), Some(value.to_vec()))
            })?;
        }
        for key in platform_keys(self.platform)
            .into_iter()
            .chain(self.holder_balances.iter().cloned())
            .chain(self.secret_keys(from)?)
        {
            if let Some(value) = from.get(key.as_bytes())? {
                self.report.records += 1;
                batch.put(key, Some(value))?;
            }
        }
        // Policy sources are named by their content's hash: the target gets any it lacks.
        for_each_with_prefix(from, &[Keyspace::PolicySource.tag()], |key, value| {
            if to.get(key)?.is_none() {
                batch.put(Key::from_bytes(key), Some(value.to_vec()))?;
            }
            Ok(true)
        })?;
        for (key, delta) in &self.system_deltas {
            let balance = read_balance(to, key)?
                .checked_add(*delta)
                .ok_or_else(|| overflow(key))?;
            batch.put(key.clone(), Some(balance.to_be_bytes().to_vec()))?;
        }
        let moved = self.moved_totals(from)?;
        let ledger = adjust_totals(read_totals(to)?, &moved, Sign::Add)?;
        batch.put(
            Key::new(Keyspace::Totals, ""),
            Some(codec::to_payload(&ledger)?),
        )?;
        tip.groups = tip.groups.saturating_add(1);
        batch.put(Key::new(Keyspace::Meta, TIP_META), Some(tip.encode()))?;
        batch.finish()?;
        Ok(tip)
    }

    /// Appends the platform's entries, in key order (creation order), to the target's
    /// chain, a page at a time with the tip, and learns which balances they touch.
    fn relink_entries(
        &mut self,
        from: &dyn Engine,
        to: &dyn Engine,
        tip: &mut ChainTip,
    ) -> Result<(), StoreError> {
        let prefix = Key::new(Keyspace::Entry, &format!("{}/", self.platform));
        let mut page = Overlay::new();
        let mut in_page = 0;
        for_each_with_prefix(from, prefix.as_bytes(), |key, value| {
            let key = Key::from_bytes(key);
            let stored = ChainedEntry::parse(value).ok_or_else(|| {
                StoreError::Integrity(format!("ledger entry {} has no chain header", key.rest()))
            })?;
            let entry: Entry = codec::from_payload(&stored.json()?)?;
            self.learn_postings(&entry)?;
            let relinked = tip.append_stored(&key, &stored)?;
            page.insert(
                chain::link_key(tip.sequence),
                Some(key.rest().as_bytes().to_vec()),
            );
            page.insert(key, Some(relinked));
            self.report.entries += 1;
            in_page += 1;
            if in_page == MOVE_ENTRY_PAGE {
                page.insert(Key::new(Keyspace::Meta, TIP_META), Some(tip.encode()));
                to.apply(std::mem::take(&mut page))?;
                in_page = 0;
            }
            Ok(true)
        })?;
        page.insert(Key::new(Keyspace::Meta, TIP_META), Some(tip.encode()));
        to.apply(page)
    }

    fn learn_postings(&mut self, entry: &Entry) -> Result<(), StoreError> {
        for posting in entry.postings() {
            let key = Key::new(Keyspace::Balance, &posting.account.key());
            if posting.account.holder.is_system() {
                let delta = self.system_deltas.entry(key.clone()).or_default();
                *delta = delta
                    .checked_add(posting.amount.get())
                    .ok_or_else(|| overflow(&key))?;
            } else {
                self.holder_balances.insert(key);
            }
        }
        Ok(())
    }

    /// The platform's API keys (stored by key id, each naming its platform).
    fn secret_keys(&self, engine: &dyn Engine) -> Result<Vec<Key>, StoreError> {
        let mut keys = Vec::new();
        for_each_with_prefix(engine, &[Keyspace::SecretKey.tag()], |key, value| {
            let record: serde_json::Value = codec::from_payload(value)?;
            if record.get("platform").and_then(|value| value.as_str()) == Some(self.platform) {
                keys.push(Key::from_bytes(key));
            }
            Ok(true)
        })?;
        Ok(keys)
    }

    /// The platform's running totals on the source.
    fn moved_totals(&self, from: &dyn Engine) -> Result<RunningTotals, StoreError> {
        match from.get(Key::new(Keyspace::Totals, self.platform).as_bytes())? {
            Some(bytes) => codec::from_payload(&bytes),
            None => Ok(RunningTotals::default()),
        }
    }

    /// Removes the platform from the source, leaving a departed link for each entry;
    /// returns the source's new tip (its chain's end is unchanged).
    fn remove(
        &mut self,
        source: &OfflineStore,
        prefixes: &[Vec<u8>],
    ) -> Result<ChainTip, StoreError> {
        let engine = source.engine.as_ref();
        let moved = self.moved_totals(engine)?;
        let secret_keys = self.secret_keys(engine)?;
        let mut batch = Batch::new(engine);
        let entries = Key::new(Keyspace::Entry, &format!("{}/", self.platform));
        for_each_with_prefix(engine, entries.as_bytes(), |key, value| {
            let stored = ChainedEntry::parse(value).ok_or_else(|| {
                StoreError::Integrity(format!(
                    "ledger entry {} has no chain header",
                    Key::describe(key)
                ))
            })?;
            // The entry and its departed link go in the same batch: the chain proves after
            // every batch.
            batch.put(
                chain::link_key(stored.sequence),
                Some(chain::departed_link(&stored)),
            )?;
            batch.put(Key::from_bytes(key), None)
        })?;
        for prefix in prefixes {
            for_each_with_prefix(engine, prefix, |key, _| {
                batch.put(Key::from_bytes(key), None)
            })?;
        }
        for key in platform_keys(self.platform)
            .into_iter()
            .chain(self.holder_balances.iter().cloned())
            .chain(secret_keys)
        {
            batch.put(key, None)?;
        }
        for (key, delta) in &self.system_deltas {
            let balance = read_balance(engine, key)?
                .checked_sub(*delta)
                .ok_or_else(|| overflow(key))?;
            batch.put(key.clone(), Some(balance.to_be_bytes().to_vec()))?;
        }
        let ledger = adjust_totals(read_totals(engine)?, &moved, Sign::Subtract)?;
        batch.put(
            Key::new(Keyspace::Totals, ""),
            Some(codec::to_payload(&ledger)?),
        )?;
        let mut tip = source.tip;
        tip.groups = tip.groups.saturating_add(1);
        batch.put(Key::new(Keyspace::Meta, TIP_META), Some(tip.encode()))?;
        batch.finish()?;
        Ok(tip)
    }
}

fn overflow(key: &Key) -> StoreError {
    StoreError::Io(format!("{} would overflow", Key::describe(key.as_bytes())))
}

fn read_balance(engine: &dyn Engine, key: &Key) -> Result<i64, StoreError> {
    match engine.get(key.as_bytes())? {
        None => Ok(0),
        Some(bytes) => <[u8; 8]>::try_from(bytes.as_slice())
            .map(i64::from_be_bytes)
            .map_err(|_| {
                StoreError::Codec(format!("{} is garbled", Key::describe(key.as_bytes())))
            }),
    }
}

fn read_totals(engine: &dyn Engine) -> Result<RunningTotals, StoreError> {
    match engine.get(Key::new(Keyspace::Totals, "").as_bytes())? {
        Some(bytes) => codec::from_payload(&bytes),
        None => Ok(RunningTotals::default()),
    }
}

#[derive(Clone, Copy)]
enum Sign {
    Add,
    Subtract,
}

/// The whole ledger's totals with a platform's added or taken out; a currency left with
/// nothing is dropped, as the totals of entries that never touched it would not hold it.
fn adjust_totals(
    mut ledger: RunningTotals,
    platform: &RunningTotals,
    sign: Sign,
) -> Result<RunningTotals, StoreError> {
    let overflow = || StoreError::Io("the ledger's running totals would overflow".into());
    let combine = |left: i128, right: i128| match sign {
        Sign::Add => left.checked_add(right),
        Sign::Subtract => left.checked_sub(right),
    };
    ledger.entries = match sign {
        Sign::Add => ledger.entries.checked_add(platform.entries),
        Sign::Subtract => ledger.entries.checked_sub(platform.entries),
    }
    .ok_or_else(overflow)?;
    ledger.revision = ledger.revision.saturating_add(1);
    for (currency, totals) in &platform.currencies {
        let kept = ledger.currencies.entry(*currency).or_default();
        *kept = CurrencyTotals {
            debits_minor: combine(kept.debits_minor, totals.debits_minor).ok_or_else(overflow)?,
            credits_minor: combine(kept.credits_minor, totals.credits_minor)
                .ok_or_else(overflow)?,
            holders_minor: combine(kept.holders_minor, totals.holders_minor)
                .ok_or_else(overflow)?,
        };
        if *kept == CurrencyTotals::default() {
            ledger.currencies.remove(currency);
        }
    }
    Ok(ledger)
}
