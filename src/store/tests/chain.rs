//! The hash chain against tampering made through the engine itself, on every engine.

use super::super::chain::{self, ChainTip};
use super::super::engine::Overlay;
use super::*;

fn put(engine: &dyn Engine, key: &[u8], value: Option<Vec<u8>>) {
    let mut writes = Overlay::new();
    writes.insert(Key::from_bytes(key), value);
    engine.apply(writes).expect("apply");
}

#[tokio::test]
async fn an_entry_rewritten_through_the_engine_is_refused_naming_it() {
    for backend in Backend::all() {
        let platform: PlatformId = IdGenerator::new().next();
        let keys = store_with_topups(&backend, &platform, &[100, 200, 300]).await;
        let second = keys[1].clone();
        backend.tamper(|engine| {
            let stored = engine.get(second.as_bytes()).expect("get").expect("entry");
            // The entry is stored compressed: change one bit of its body.
            let mut bytes = stored.clone();
            let last = bytes.last_mut().expect("body");
            *last ^= 1;
            put(engine, second.as_bytes(), Some(bytes));
        });
        assert_eq!(
            backend.refusal(),
            format!(
                "ledger entry #2 ({}) was altered: its content does not match its hash",
                second.rest()
            )
        );
    }
}

#[tokio::test]
async fn a_missing_entry_inside_the_chain_is_named() {
    for backend in Backend::all() {
        let platform: PlatformId = IdGenerator::new().next();
        let keys = store_with_topups(&backend, &platform, &[100, 200, 300]).await;
        backend.tamper(|engine| put(engine, keys[1].as_bytes(), None));
        assert_eq!(
            backend.refusal(),
            format!("ledger entry #2 ({}) is missing", keys[1].rest())
        );
        backend.tamper(|engine| put(engine, chain::link_key(2).as_bytes(), None));
        assert_eq!(
            backend.refusal(),
            "ledger entry #2 is missing: the chain goes from entry #1 to entry #3"
        );
    }
}

#[tokio::test]
async fn an_entry_added_outside_the_writer_is_refused() {
    for backend in Backend::all() {
        let ids = IdGenerator::new();
        let platform: PlatformId = ids.next();
        store_with_topups(&backend, &platform, &[100]).await;
        let extra = topup_entry(&ids, &platform, 999);
        let extra_key = Key::entry(platform.as_ref(), extra.id.as_ref());
        backend.tamper(|engine| {
            let mut forged_tip = ChainTip {
                sequence: 7,
                ..ChainTip::default()
            };
            let bytes = forged_tip
                .append(&extra_key, &to_payload(&extra).expect("json"))
                .expect("append");
            put(engine, extra_key.as_bytes(), Some(bytes));
        });
        assert_eq!(
            backend.refusal(),
            format!(
                "ledger entry {} is not in the chain: it was added outside the writer",
                extra_key.rest()
            )
        );
    }
}

#[tokio::test]
async fn a_reopened_store_continues_its_chain_and_running_totals() {
    for backend in Backend::all() {
        let ids = IdGenerator::new();
        let platform: PlatformId = ids.next();
        let other: PlatformId = ids.next();
        store_with_topups(&backend, &platform, &[100, 250]).await;
        store_with_topups(&backend, &other, &[40]).await;
        let (store, writer) = backend.open().expect("reopen");
        let totals = store
            .running_totals(Some(platform.as_ref()))
            .expect("totals");
        assert_eq!(totals.entries, 2);
        assert_eq!(totals.revision, 2);
        let usd_totals = totals.currencies.get(&usd()).expect("usd");
        assert_eq!(
            (
                usd_totals.debits_minor,
                usd_totals.credits_minor,
                usd_totals.holders_minor
            ),
            (350, 350, 350)
        );
        let ledger = store.running_totals(None).expect("totals");
        assert_eq!(ledger.entries, 3);
        assert_eq!(
            ledger
                .currencies
                .get(&usd())
                .map(|totals| totals.holders_minor),
            Some(390)
        );
        assert_eq!(
            store
                .all_platform_totals()
                .expect("all")
                .iter()
                .map(|(id, totals)| (id.clone(), totals.entries))
                .collect::<std::collections::BTreeMap<_, _>>(),
            [(platform.to_string(), 2), (other.to_string(), 1)].into()
        );
        assert_eq!(store.chain_head().map(|(sequence, _)| sequence), Ok(3));
        store.close();
        writer.join();
        if let Backend::Sled(dir) = &backend {
            let high_water = high_water::HighWater::read(dir.path())
                .expect("read")
                .expect("record");
            assert_eq!(high_water.sequence, 3);
        }
    }
}

#[tokio::test]
async fn a_departed_link_keeps_the_chain_provable_and_an_altered_one_is_refused() {
    for backend in Backend::all() {
        let platform: PlatformId = IdGenerator::new().next();
        let keys = store_with_topups(&backend, &platform, &[100, 200, 300]).await;
        let second = keys[1].clone();
        let stored = backend
            .engine()
            .get(second.as_bytes())
            .expect("get")
            .expect("entry");
        let entry = chain::ChainedEntry::parse(&stored).expect("chained");
        let departed = chain::departed_link(&entry);
        backend.tamper(|engine| {
            let mut writes = Overlay::new();
            writes.insert(second.clone(), None);
            writes.insert(chain::link_key(2), Some(departed.clone()));
            engine.apply(writes).expect("apply");
        });
        let (store, writer) = backend.open().expect("a departed entry still proves");
        assert_eq!(store.chain_head().expect("head").0, 3);
        store.close();
        writer.join();
        let mut altered = departed.clone();
        // The previous hash no longer matches entry #1.
        altered[20] ^= 1;
        backend.tamper(|engine| put(engine, chain::link_key(2).as_bytes(), Some(altered)));
        assert_eq!(
            backend.refusal(),
            "ledger entry #2 (moved to another shard) was altered: it does not follow entry #1"
        );
    }
}
