//! A store written in format 1 (text index keys, JSON envelopes, JSON journal entries), built
//! by hand byte for byte as that version wrote it, opens and reads exactly as before.

use std::path::Path;

use chrono::Utc;

use super::chain::{self, ChainTip};
use super::format::{FORMAT_META, STORE_FORMAT};
use super::high_water::HighWater;
use super::*;
use crate::ids::{IdGenerator, PlatformId};
use crate::ledger::{BalanceTransactionType, Entry, EntryBuilder, EntryKind, Holder, LineSpec};
use crate::money::{Currency, MinorUnits};

fn topup_entry(ids: &IdGenerator, platform: &PlatformId, amount_minor: i64) -> Entry {
    let usd = Currency::parse("usd").expect("usd");
    let mut builder = EntryBuilder::new(ids, platform, EntryKind::Topup, "tu_test", Utc::now());
    builder
        .line(LineSpec {
            holder: Holder::Platform(platform.clone()),
            transaction_type: BalanceTransactionType::Topup,
            source_id: "tu_test".into(),
            currency: usd,
            amount: MinorUnits::new(amount_minor).expect("amount"),
            fee_details: vec![],
            available_on: None,
            description: None,
        })
        .expect("line");
    builder.system(
        Holder::Bank,
        usd,
        MinorUnits::new(-amount_minor).expect("amount"),
    );
    builder.build().expect("balanced")
}

/// The objects' ids, oldest first, and the entry written.
struct Written {
    platform: PlatformId,
    transactions: Vec<String>,
    entry: Entry,
}

/// Writes a format-1 store: five objects in a text index, one odd index name, one journal
/// entry chained as JSON, and its high-water record.
fn write_format_one(dir: &Path) -> Written {
    let ids = IdGenerator::new();
    let platform: PlatformId = ids.next();
    let transactions: Vec<String> = (0..5).map(|_| format!("txn_{}", ids.body())).collect();
    let entry = topup_entry(&ids, &platform, 700);
    let db = sled::open(dir).expect("sled");
    for (position, id) in transactions.iter().enumerate() {
        let index_key = format!("i{platform}/txns:{platform}/{id}");
        db.insert(index_key.as_bytes(), Vec::new()).expect("index");
        let mut envelope = vec![1u8];
        envelope.extend_from_slice(&2u64.to_be_bytes());
        envelope.extend_from_slice(format!("{{\"id\":\"{id}\",\"n\":{position}}}").as_bytes());
        db.insert(format!("o{platform}/{id}").as_bytes(), envelope)
            .expect("object");
    }
    db.insert(
        format!("i{platform}/charges_group:order/7/ch_x").as_bytes(),
        Vec::new(),
    )
    .expect("group index");
    let mut tip = ChainTip::default();
    let entry_key = Key::entry(platform.as_ref(), entry.id.as_ref());
    let json = codec::to_payload(&entry).expect("json");
    let chained = tip.append(&entry_key, &json).expect("append");
    db.insert(
        chain::link_key(tip.sequence).as_bytes(),
        entry_key.rest().as_bytes(),
    )
    .expect("link");
    db.insert(entry_key.as_bytes(), chained).expect("entry");
    tip.groups = 1;
    db.insert(
        Key::new(Keyspace::Meta, chain::TIP_META).as_bytes(),
        tip.encode(),
    )
    .expect("tip");
    db.flush().expect("flush");
    drop(db);
    HighWater::open(dir, tip).expect("high water");
    Written {
        platform,
        transactions,
        entry,
    }
}

/// The index newest first, the ids after a cursor, and each object's `n` and revision.
fn read_all(store: &Store, written: &Written) -> (Vec<String>, Vec<String>, Vec<(i64, u64)>) {
    let platform = written.platform.as_ref();
    let index = format!("txns:{platform}");
    let newest_first = store.scan_index(platform, &index, None, 10).expect("scan");
    // A cursor is the id of the last item a page gave out, before the upgrade or after.
    let after_cursor = store
        .scan_index(platform, &index, Some(&written.transactions[3]), 10)
        .expect("scan after");
    let objects = newest_first
        .iter()
        .map(|id| {
            let found = store
                .get_object::<serde_json::Value>(platform, id)
                .expect("read")
                .expect("object");
            (found.value["n"].as_i64().expect("n"), found.revision)
        })
        .collect();
    (newest_first, after_cursor, objects)
}

#[tokio::test]
async fn a_store_of_format_one_is_upgraded_once_and_answers_as_before() {
    let dir = tempfile::tempdir().expect("temp");
    let written = write_format_one(dir.path());
    let expected_ids: Vec<String> = written.transactions.iter().rev().cloned().collect();
    let platform = written.platform.as_ref();

    let (store, writer) = Store::open(dir.path()).expect("open");
    let (newest_first, after_cursor, objects) = read_all(&store, &written);
    assert_eq!(newest_first, expected_ids);
    assert_eq!(after_cursor, expected_ids[2..].to_vec());
    assert_eq!(objects, vec![(4, 2), (3, 2), (2, 2), (1, 2), (0, 2)]);
    assert_eq!(
        store
            .scan_index(platform, "charges_group:order/7", None, 10)
            .expect("group"),
        vec!["ch_x".to_owned()]
    );
    let mut entries = Vec::new();
    store
        .for_each_entry(Some(platform), |entry| entries.push(entry))
        .expect("entries");
    assert_eq!(entries, vec![written.entry.clone()]);
    assert_eq!(
        store.get_raw(&Key::new(Keyspace::Meta, FORMAT_META)),
        Ok(Some(STORE_FORMAT.to_be_bytes().to_vec()))
    );
    assert_eq!(
        store
            .engine
            .scan(engine::Scan::forward(b"i".to_vec(), b"j".to_vec(), 10))
            .expect("scan")
            .len(),
        0
    );

    // New writes go in the new format beside the old values, and the chain goes on.
    let mut commit = Commit::new(Some(written.platform.clone()));
    commit
        .entries
        .push(topup_entry(&IdGenerator::new(), &written.platform, 50));
    commit.writes.push(Write::Object {
        key: Key::object(platform, &written.transactions[0]),
        payload: codec::encode_object(&serde_json::json!({"n": 0})).expect("encode"),
        expect: Expect::Revision(2),
    });
    store.commit(commit).await.expect("commit");
    let updated = store
        .get_object::<serde_json::Value>(platform, &written.transactions[0])
        .expect("read")
        .expect("object");
    assert_eq!(updated.revision, 3);
    store.close();
    writer.join();

    // Opening again finds nothing left to upgrade, and the whole chain proves.
    let (store, writer) = Store::open(dir.path()).expect("reopen");
    let (newest_first, _, objects) = read_all(&store, &written);
    assert_eq!(newest_first, expected_ids);
    assert_eq!(objects, vec![(4, 2), (3, 2), (2, 2), (1, 2), (0, 3)]);
    let mut entries = 0;
    store
        .for_each_entry(None, |_| entries += 1)
        .expect("entries");
    assert_eq!(entries, 2);
    store.close();
    writer.join();
}

#[tokio::test]
async fn a_store_of_a_newer_format_is_refused() {
    let dir = tempfile::tempdir().expect("temp");
    {
        let db = sled::open(dir.path()).expect("sled");
        db.insert(
            Key::new(Keyspace::Meta, FORMAT_META).as_bytes(),
            &(STORE_FORMAT + 1).to_be_bytes(),
        )
        .expect("format");
        db.flush().expect("flush");
    }
    let refused = Store::open(dir.path()).err().expect("refused");
    assert_eq!(
        refused.to_string(),
        format!(
            "the store is in format {}, written by a newer tollgate; this build reads formats \
             up to {STORE_FORMAT}",
            STORE_FORMAT + 1
        )
    );
}
