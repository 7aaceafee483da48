//! The tamper-evident ledger: every journal entry carries its place in one hash chain, and
//! the walk that proves the chain whole before the store is used.
//!
//! One chain runs through every platform's entries in the order the writer applied them.
//! An entry's stored value is `[format][sequence][previous hash][hash][body]`, where the body
//! is the entry's JSON (format `E1`) or that JSON compressed (`E2`, see `codec::compress`),
//! and the hash covers the previous hash, the sequence, the entry's key and the body; a
//! sequence index (`c<sequence>` → entry key) lets the walk follow the chain in order. The
//! writer also keeps the chain's tip (write groups applied, last sequence, last hash) in one
//! meta key inside every batch, and the flusher copies it to the high-water record beside the
//! store after each flush (see `high_water.rs`).

use sha2::{Digest, Sha256};

use super::codec;
use super::engine::{for_each_with_prefix, Engine, Overlay, Scan, SCAN_PAGE_ITEMS};
use super::keys::{Key, Keyspace};
use super::StoreError;
use crate::ledger::{Entry, RunningTotals};

/// The first byte of a chained entry whose body is JSON.
const ENTRY_FORMAT_JSON: u8 = 0xE1;
/// The first byte of a chained entry whose body is compressed JSON.
const ENTRY_FORMAT_COMPRESSED: u8 = 0xE2;
/// The first byte of a chain link whose entry departed to another shard: the link keeps the
/// entry's header (sequence, previous hash, own hash) but not its body.
const DEPARTED_LINK: u8 = 0xE3;
/// Format byte, sequence, previous hash, own hash.
const ENTRY_HEADER_BYTES: usize = 1 + 8 + 32 + 32;
/// The meta key holding the chain's tip, written in the same batch as the entries.
pub const TIP_META: &str = "ledger_chain_tip";
/// Separates the domain of these hashes from any other SHA-256 use.
const HASH_DOMAIN: &[u8] = b"tollgate ledger chain v1";

pub type Hash = [u8; 32];

/// Where the chain ends: write groups applied so far, the last entry's sequence and hash.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct ChainTip {
    pub groups: u64,
    pub sequence: u64,
    pub hash: Hash,
}

impl ChainTip {
    pub const BYTES: usize = 8 + 8 + 32;

    pub fn encode(&self) -> Vec<u8> {
        let mut bytes = Vec::with_capacity(Self::BYTES);
        bytes.extend_from_slice(&self.groups.to_be_bytes());
        bytes.extend_from_slice(&self.sequence.to_be_bytes());
        bytes.extend_from_slice(&self.hash);
        bytes
    }

    pub fn decode(bytes: &[u8]) -> Option<ChainTip> {
        let groups = u64::from_be_bytes(bytes.get(0..8)?.try_into().ok()?);
        let sequence = u64::from_be_bytes(bytes.get(8..16)?.try_into().ok()?);
        let hash: Hash = bytes.get(16..48)?.try_into().ok()?;
        Some(ChainTip {
            groups,
            sequence,
            hash,
        })
    }

    /// Appends one entry as JSON: returns the bytes to store under `entry_key` and moves
    /// the tip.
    pub fn append(&mut self, entry_key: &Key, entry_json: &[u8]) -> Result<Vec<u8>, StoreError> {
        self.append_body(ENTRY_FORMAT_JSON, entry_key, entry_json)
    }

    /// Appends an entry stored elsewhere in the same format (moving it between shards).
    pub fn append_stored(
        &mut self,
        entry_key: &Key,
        stored: &ChainedEntry<'_>,
    ) -> Result<Vec<u8>, StoreError> {
        self.append_body(stored.format, entry_key, stored.body)
    }

    /// Appends one entry whose JSON `codec::compress` compressed.
    pub fn append_compressed(
        &mut self,
        entry_key: &Key,
        compressed: &[u8],
    ) -> Result<Vec<u8>, StoreError> {
        self.append_body(ENTRY_FORMAT_COMPRESSED, entry_key, compressed)
    }

    fn append_body(
        &mut self,
        format: u8,
        entry_key: &Key,
        body: &[u8],
    ) -> Result<Vec<u8>, StoreError> {
        let sequence = self
            .sequence
            .checked_add(1)
            .ok_or_else(|| StoreError::Io("the ledger chain's sequence overflowed".into()))?;
        let hash = link_hash(&self.hash, sequence, entry_key.rest(), body);
        let mut bytes = Vec::with_capacity(ENTRY_HEADER_BYTES + body.len());
        bytes.push(format);
        bytes.extend_from_slice(&sequence.to_be_bytes());
        bytes.extend_from_slice(&self.hash);
        bytes.extend_from_slice(&hash);
        bytes.extend_from_slice(body);
        self.sequence = sequence;
        self.hash = hash;
        Ok(bytes)
    }
}

/// The link left in place of an entry that moved to another shard: the walk follows it by
/// its stored hash (the body is gone, so its content is proven on the shard it moved to).
pub fn departed_link(entry: &ChainedEntry<'_>) -> Vec<u8> {
    let mut bytes = Vec::with_capacity(ENTRY_HEADER_BYTES);
    bytes.push(DEPARTED_LINK);
    bytes.extend_from_slice(&entry.sequence.to_be_bytes());
    bytes.extend_from_slice(&entry.previous);
    bytes.extend_from_slice(&entry.hash);
    bytes
}

/// The sequence, previous hash and hash a departed link keeps; `None` for any other link.
fn parse_departed(link: &[u8]) -> Option<(u64, Hash, Hash)> {
    if link.len() != ENTRY_HEADER_BYTES || link.first() != Some(&DEPARTED_LINK) {
        return None;
    }
    Some((
        u64::from_be_bytes(link.get(1..9)?.try_into().ok()?),
        link.get(9..41)?.try_into().ok()?,
        link.get(41..73)?.try_into().ok()?,
    ))
}

/// The sequence index key of entry number `sequence`.
pub fn link_key(sequence: u64) -> Key {
    Key::new(Keyspace::Chain, &format!("{sequence:016x}"))
}

fn link_hash(previous: &Hash, sequence: u64, entry_key: &str, body: &[u8]) -> Hash {
    let mut hasher = Sha256::new();
    hasher.update(HASH_DOMAIN);
    hasher.update(previous);
    hasher.update(sequence.to_be_bytes());
    hasher.update(entry_key.as_bytes());
    hasher.update([0]);
    hasher.update(body);
    hasher.finalize().into()
}

/// A stored entry split into its chain header and its body.
pub struct ChainedEntry<'a> {
    pub format: u8,
    pub sequence: u64,
    pub previous: Hash,
    pub hash: Hash,
    pub body: &'a [u8],
}

impl ChainedEntry<'_> {
    pub fn parse(bytes: &[u8]) -> Option<ChainedEntry<'_>> {
        let (header, body) = bytes.split_at_checked(ENTRY_HEADER_BYTES)?;
        let format = *header.first()?;
        if format != ENTRY_FORMAT_JSON && format != ENTRY_FORMAT_COMPRESSED {
            return None;
        }
        Some(ChainedEntry {
            format,
            sequence: u64::from_be_bytes(header.get(1..9)?.try_into().ok()?),
            previous: header.get(9..41)?.try_into().ok()?,
            hash: header.get(41..73)?.try_into().ok()?,
            body,
        })
    }

    /// The entry's JSON, decompressed when it was stored compressed.
    pub fn json(&self) -> Result<std::borrow::Cow<'_, [u8]>, StoreError> {
        if self.format == ENTRY_FORMAT_COMPRESSED {
            return codec::decompress(self.body).map(std::borrow::Cow::Owned);
        }
        Ok(std::borrow::Cow::Borrowed(self.body))
    }
}

/// A stored entry, for readers that do not check the chain.
pub fn decode_entry(bytes: &[u8]) -> Result<Entry, StoreError> {
    let entry = ChainedEntry::parse(bytes)
        .ok_or_else(|| StoreError::Codec("a journal entry has no chain header".into()))?;
    codec::from_payload(&entry.json()?)
}

/// What the walk proved: the tip, and the hash of the entry the high-water record names.
pub struct ProvenChain {
    pub tip: ChainTip,
    /// The hash of entry `check_sequence`, when the chain reaches it.
    pub hash_at_check: Option<Hash>,
}

fn refuse(message: String) -> StoreError {
    StoreError::Integrity(message)
}

/// Walks the whole chain in order and proves it: no sequence missing, every entry present,
/// unchanged and linked to the one before, no entry outside the chain, and the tip record
/// matching the chain's end. Names the first entry that is missing or altered. Links are
/// read a page at a time and each page's entries in one read.
pub fn prove(engine: &dyn Engine, check_sequence: u64) -> Result<ProvenChain, StoreError> {
    let mut walk = Walk {
        previous: [0; 32],
        expected: 1,
        check_sequence,
        hash_at_check: None,
        departed: 0,
    };
    let mut links: Vec<(Vec<u8>, Vec<u8>)> = Vec::with_capacity(SCAN_PAGE_ITEMS);
    for_each_with_prefix(engine, &[Keyspace::Chain.tag()], |link, target| {
        links.push((link.to_vec(), target.to_vec()));
        if links.len() == SCAN_PAGE_ITEMS {
            walk.page(engine, &std::mem::take(&mut links))?;
        }
        Ok(true)
    })?;
    walk.page(engine, &links)?;
    let entries = walk.expected - 1;
    let held_entries = entries - walk.departed;
    let mut stored_entries: u64 = 0;
    for_each_with_prefix(engine, &[Keyspace::Entry.tag()], |_, _| {
        stored_entries += 1;
        Ok(true)
    })?;
    if stored_entries != held_entries {
        return Err(refuse(first_unchained(engine)?.unwrap_or_else(|| {
            format!(
                "the store holds {stored_entries} journal entries but the chain has {held_entries}"
            )
        })));
    }
    let tip = match engine.get(Key::new(Keyspace::Meta, TIP_META).as_bytes())? {
        Some(bytes) => ChainTip::decode(&bytes)
            .ok_or_else(|| refuse("the ledger's tip record is garbled".into()))?,
        None => ChainTip::default(),
    };
    if tip.sequence != entries || tip.hash != walk.previous {
        return Err(refuse(format!(
            "the ledger's tip record names entry #{} but the chain ends at entry #{entries}",
            tip.sequence
        )));
    }
    Ok(ProvenChain {
        tip,
        hash_at_check: walk.hash_at_check,
    })
}

/// Where the proof has got to.
struct Walk {
    previous: Hash,
    expected: u64,
    check_sequence: u64,
    hash_at_check: Option<Hash>,
    /// Links whose entries moved to another shard.
    departed: u64,
}

/// What one link of a page points at.
enum LinkTarget {
    Entry(String),
    Departed { previous: Hash, hash: Hash },
}

impl Walk {
    /// Proves one page of chain links, in order, reading their entries at once.
    fn page(
        &mut self,
        engine: &dyn Engine,
        links: &[(Vec<u8>, Vec<u8>)],
    ) -> Result<(), StoreError> {
        let mut targets = Vec::with_capacity(links.len());
        for (link, target) in links {
            let link = Key::from_bytes(link);
            let expected = self.expected + targets.len() as u64;
            let sequence = u64::from_str_radix(link.rest(), 16).map_err(|_| {
                refuse(format!(
                    "the ledger's chain index holds a garbled key after entry #{}",
                    expected - 1
                ))
            })?;
            if sequence != expected {
                return Err(refuse(format!(
                    "ledger entry #{expected} is missing: the chain goes from entry #{} to entry #{sequence}",
                    expected - 1
                )));
            }
            if let Some((departed_sequence, previous, hash)) = parse_departed(target) {
                if departed_sequence != sequence {
                    return Err(refuse(format!(
                        "ledger entry #{sequence}'s departed link is garbled"
                    )));
                }
                targets.push(LinkTarget::Departed { previous, hash });
                continue;
            }
            let entry_key = std::str::from_utf8(target)
                .map_err(|_| refuse(format!("ledger entry #{sequence}'s chain link is garbled")))?;
            targets.push(LinkTarget::Entry(entry_key.to_owned()));
        }
        let entry_keys: Vec<Vec<u8>> = targets
            .iter()
            .filter_map(|target| match target {
                LinkTarget::Entry(key) => Some(Key::new(Keyspace::Entry, key).as_bytes().to_vec()),
                LinkTarget::Departed { .. } => None,
            })
            .collect();
        let mut stored = engine.get_many(&entry_keys)?.into_iter();
        for target in &targets {
            match target {
                LinkTarget::Entry(entry_key) => {
                    let bytes = stored.next().flatten();
                    self.check(entry_key, bytes.as_deref())?;
                }
                LinkTarget::Departed { previous, hash } => self.departed(previous, hash)?,
            }
        }
        Ok(())
    }

    /// Follows a link whose entry moved to another shard: it must follow the entry before.
    fn departed(&mut self, previous: &Hash, hash: &Hash) -> Result<(), StoreError> {
        let sequence = self.expected;
        if *previous != self.previous {
            return Err(refuse(format!(
                "ledger entry #{sequence} (moved to another shard) was altered: it does not \
                 follow entry #{}",
                sequence - 1
            )));
        }
        self.previous = *hash;
        if sequence == self.check_sequence {
            self.hash_at_check = Some(*hash);
        }
        self.expected += 1;
        self.departed += 1;
        Ok(())
    }

    /// Proves the next entry of the chain.
    fn check(&mut self, entry_key: &str, bytes: Option<&[u8]>) -> Result<(), StoreError> {
        let sequence = self.expected;
        let Some(bytes) = bytes else {
            return Err(refuse(format!(
                "ledger entry #{sequence} ({entry_key}) is missing"
            )));
        };
        let entry = ChainedEntry::parse(bytes).ok_or_else(|| {
            refuse(format!(
                "ledger entry #{sequence} ({entry_key}) is garbled: it has no chain header"
            ))
        })?;
        if entry.sequence != sequence || entry.previous != self.previous {
            return Err(refuse(format!(
                "ledger entry #{sequence} ({entry_key}) was altered: it does not follow entry #{}",
                sequence - 1
            )));
        }
        if link_hash(&self.previous, sequence, entry_key, entry.body) != entry.hash {
            return Err(refuse(format!(
                "ledger entry #{sequence} ({entry_key}) was altered: its content does not match its hash"
            )));
        }
        self.previous = entry.hash;
        if sequence == self.check_sequence {
            self.hash_at_check = Some(entry.hash);
        }
        self.expected += 1;
        Ok(())
    }
}

/// Chains the journal entries of a store written before the chain existed: no tip, no
/// links, and not one entry with a chain header. Entries are chained in key order (by
/// platform, then by id, which is creation order), and the running totals are computed from
/// them, in one atomic apply. Returns how many entries were chained, or `None` when the
/// store is not such a store (a store with any trace of the chain is proven, never
/// re-chained).
pub fn chain_unchained_store(engine: &dyn Engine) -> Result<Option<u64>, StoreError> {
    let has_tip = engine
        .get(Key::new(Keyspace::Meta, TIP_META).as_bytes())?
        .is_some();
    let chain_end = super::prefix_end(&[Keyspace::Chain.tag()]);
    let has_links = !engine
        .scan(Scan::forward(vec![Keyspace::Chain.tag()], chain_end, 1))?
        .is_empty();
    if has_tip || has_links {
        return Ok(None);
    }
    let mut tip = ChainTip::default();
    let mut writes = Overlay::new();
    let mut ledger_totals = RunningTotals::default();
    let mut platform_totals: std::collections::BTreeMap<String, RunningTotals> =
        std::collections::BTreeMap::new();
    let mut already_chained = false;
    for_each_with_prefix(engine, &[Keyspace::Entry.tag()], |key, json| {
        if ChainedEntry::parse(json).is_some() {
            already_chained = true;
            return Ok(false);
        }
        let key = Key::from_bytes(key);
        let entry: Entry = codec::from_payload(json)?;
        ledger_totals.add_entry(&entry);
        let totals = platform_totals
            .entry(entry.platform.to_string())
            .or_default();
        totals.add_entry(&entry);
        totals.revision = 1;
        let chained = tip.append(&key, json)?;
        writes.insert(link_key(tip.sequence), Some(key.rest().as_bytes().to_vec()));
        writes.insert(key, Some(chained));
        Ok(true)
    })?;
    if already_chained || tip.sequence == 0 {
        return Ok(None);
    }
    ledger_totals.revision = 1;
    writes.insert(
        Key::new(Keyspace::Totals, ""),
        Some(codec::to_payload(&ledger_totals)?),
    );
    for (platform, totals) in &platform_totals {
        writes.insert(
            Key::new(Keyspace::Totals, platform),
            Some(codec::to_payload(totals)?),
        );
    }
    tip.groups = 1;
    writes.insert(Key::new(Keyspace::Meta, TIP_META), Some(tip.encode()));
    engine.apply(writes)?;
    Ok(Some(tip.sequence))
}

/// The first stored entry that no chain link points at, described.
fn first_unchained(engine: &dyn Engine) -> Result<Option<String>, StoreError> {
    let mut found = None;
    for_each_with_prefix(engine, &[Keyspace::Entry.tag()], |key, bytes| {
        let key = Key::from_bytes(key);
        let linked = match ChainedEntry::parse(bytes) {
            Some(entry) => engine
                .get(link_key(entry.sequence).as_bytes())?
                .is_some_and(|target| target.as_slice() == key.rest().as_bytes()),
            None => false,
        };
        if !linked {
            found = Some(format!(
                "ledger entry {} is not in the chain: it was added outside the writer",
                key.rest()
            ));
        }
        Ok(linked)
    })?;
    Ok(found)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tips_round_trip_and_appends_link_hashes() {
        let mut tip = ChainTip::default();
        let first = tip
            .append(&Key::entry("plat_a", "ent_1"), b"{}")
            .expect("append");
        let after_first = tip;
        let second = tip
            .append(&Key::entry("plat_a", "ent_2"), b"{}")
            .expect("append");
        assert_eq!(tip.sequence, 2);
        let parsed_first = ChainedEntry::parse(&first).expect("first");
        let parsed_second = ChainedEntry::parse(&second).expect("second");
        assert_eq!(parsed_first.sequence, 1);
        assert_eq!(parsed_first.previous, [0; 32]);
        assert_eq!(parsed_second.previous, after_first.hash);
        assert_eq!(parsed_second.hash, tip.hash);
        assert_ne!(parsed_first.hash, parsed_second.hash);
        assert_eq!(ChainTip::decode(&tip.encode()), Some(tip));
        assert_eq!(
            ChainedEntry::parse(&second)
                .expect("second")
                .json()
                .expect("json"),
            &b"{}"[..]
        );
    }
}
