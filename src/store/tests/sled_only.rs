//! What only sled has: the flush that makes groups durable, the high-water record beside
//! the tree, and stores written before the ledger chain.

use std::path::Path;
use std::sync::Mutex;

use tokio::sync::{mpsc, oneshot};

use super::super::chain::{self, ChainTip};
use super::super::engine::Overlay;
use super::super::high_water::HighWater;
use super::super::writer::{self, Durability};
use super::*;
use crate::ledger::{Bucket, LedgerAccount};

/// A writer over a temporary sled tree with `durability`, outside any `Store::open`.
fn writer_over(durability: Durability) -> (Store, std::thread::JoinHandle<()>, sled::Tree) {
    let db = sled::Config::new().temporary(true).open().expect("sled");
    let tree: sled::Tree = (*db).clone();
    let engine: Arc<dyn Engine> = Arc::new(SledEngine::over(tree.clone(), Path::new("memory")));
    let (sender, receiver) = mpsc::channel(8);
    let writer_engine = Arc::clone(&engine);
    let writer = std::thread::spawn(move || {
        writer::run(
            writer_engine,
            receiver,
            durability,
            &std::sync::Mutex::new(()),
        )
    });
    let store = Store {
        engine,
        sender,
        reads: Arc::default(),
        apply_lock: Arc::default(),
        credentials_epoch: Arc::default(),
    };
    (store, writer, tree)
}

fn put(engine: &dyn Engine, key: &[u8], value: Option<Vec<u8>>) {
    let mut writes = Overlay::new();
    writes.insert(Key::from_bytes(key), value);
    engine.apply(writes).expect("apply");
}

#[test]
fn a_failed_flush_stops_the_process_before_any_caller_is_answered() {
    let dir = tempfile::tempdir().expect("temp");
    let stopped: Arc<Mutex<Option<String>>> = Arc::default();
    let recorder = stopped.clone();
    let durability = Durability {
        flush: Box::new(|| Err(StoreError::Io("no space left on device".into()))),
        high_water: Some(HighWater::open(dir.path(), ChainTip::default()).expect("high water")),
        fail_stop: Arc::new(move |reason: &str| {
            *recorder.lock().expect("lock") = Some(reason.to_owned());
        }),
    };
    let (store, writer, _tree) = writer_over(durability);
    let (reply, answer) = oneshot::channel();
    let mut commit = Commit::new(None);
    commit.writes.push(Write::Raw {
        key: Key::new(Keyspace::Meta, "visible_but_not_durable"),
        value: vec![1],
    });
    store
        .sender
        .blocking_send(commit::Submission {
            commits: vec![commit],
            reply,
        })
        .expect("send");
    // The caller is never told anything: the process would be gone.
    assert!(answer.blocking_recv().is_err());
    drop(store);
    writer.join().expect("writer");
    assert_eq!(
        stopped.lock().expect("lock").as_deref(),
        Some("a flush of 1 commits failed: storage failed: no space left on device")
    );
}

#[tokio::test]
async fn deleted_last_entries_are_refused_by_the_high_water_record() {
    let backend = Backend::sled();
    let Backend::Sled(dir) = &backend else {
        unreachable!("a sled backend")
    };
    let platform: PlatformId = IdGenerator::new().next();
    let keys = store_with_topups(&backend, &platform, &[100, 200, 300, 400]).await;
    backend.tamper(|engine| {
        // A careful forger removes the last two entries with their links and moves the tip
        // record back, so the chain itself is whole again.
        let second = engine.get(keys[1].as_bytes()).expect("get").expect("entry");
        let second = chain::ChainedEntry::parse(&second).expect("chained");
        let tip_key = Key::new(Keyspace::Meta, chain::TIP_META);
        let tip = ChainTip::decode(&engine.get(tip_key.as_bytes()).expect("get").expect("tip"))
            .expect("tip");
        for (sequence, key) in [(3, &keys[2]), (4, &keys[3])] {
            put(engine, key.as_bytes(), None);
            put(engine, chain::link_key(sequence).as_bytes(), None);
        }
        let forged = ChainTip {
            groups: tip.groups,
            sequence: 2,
            hash: second.hash,
        };
        put(engine, tip_key.as_bytes(), Some(forged.encode()));
    });
    assert_eq!(
        backend.refusal(),
        format!(
            "the store in {} has lost acknowledged commits: its ledger ends at entry #2 but \
             entries up to #4 were acknowledged; entry #3 is the first missing",
            dir.path().display()
        )
    );
}

#[tokio::test]
async fn a_store_without_its_high_water_record_is_refused_and_a_fresh_one_is_not() {
    let backend = Backend::sled();
    let Backend::Sled(dir) = &backend else {
        unreachable!("a sled backend")
    };
    let platform: PlatformId = IdGenerator::new().next();
    store_with_topups(&backend, &platform, &[100]).await;
    std::fs::remove_file(HighWater::path(dir.path())).expect("remove");
    assert_eq!(
        backend.refusal(),
        format!(
            "the high-water record {} is missing, so the store in {} cannot show that it \
             still holds every acknowledged commit",
            HighWater::path(dir.path()).display(),
            dir.path().display()
        )
    );
    let fresh = tempfile::tempdir().expect("temp");
    let (store, writer) = Store::open(fresh.path()).expect("a new store opens");
    store.close();
    writer.join();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn wait_durable_returns_only_after_the_flush_covering_what_was_visible() {
    let dir = tempfile::tempdir().expect("temp");
    let (open_gate, gate) = std::sync::mpsc::channel::<()>();
    let gate = Mutex::new(gate);
    let flush_tree: Arc<Mutex<Option<sled::Tree>>> = Arc::default();
    let flushed_tree = Arc::clone(&flush_tree);
    let durability = Durability {
        // The disk is slow: each flush waits for the test to let it through.
        flush: Box::new(move || {
            gate.lock()
                .expect("lock")
                .recv()
                .map_err(|_| StoreError::Io("gate closed".into()))?;
            match flushed_tree.lock().expect("lock").as_ref() {
                Some(tree) => tree.flush().map(|_| ()).map_err(StoreError::from),
                None => Ok(()),
            }
        }),
        high_water: Some(HighWater::open(dir.path(), ChainTip::default()).expect("high water")),
        fail_stop: Arc::new(|reason: &str| panic!("fail-stop: {reason}")),
    };
    let (store, writer, tree) = writer_over(durability);
    *flush_tree.lock().expect("lock") = Some(tree);
    let platform: PlatformId = IdGenerator::new().next();
    let mut commit = Commit::new(Some(platform.clone()));
    commit.idempotency = Some(IdempotencyClaim {
        key: "order-1".into(),
        fingerprint: "f".into(),
        outcome: b"{}".to_vec(),
        created_micros: 0,
    });
    let first = tokio::spawn({
        let store = store.clone();
        async move { store.commit(commit).await }
    });
    // The record is visible to readers before its flush…
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(10);
    while store
        .idempotency(platform.as_ref(), "order-1")
        .expect("read")
        .is_none()
    {
        assert!(
            std::time::Instant::now() < deadline,
            "the commit was never applied"
        );
        tokio::task::yield_now().await;
    }
    // …but a reader that waits for durability is held until the flush completes.
    let mut durable = tokio::spawn({
        let store = store.clone();
        async move { store.wait_durable().await }
    });
    let early = tokio::time::timeout(std::time::Duration::from_millis(200), &mut durable).await;
    assert!(early.is_err(), "answered before the flush: {early:?}");
    assert!(!first.is_finished());
    open_gate.send(()).expect("first flush");
    assert_eq!(first.await.expect("task"), Ok(Applied::Committed));
    open_gate.send(()).expect("second flush");
    assert_eq!(durable.await.expect("task"), Ok(()));
    // One more for the writer's last flush when it stops.
    open_gate.send(()).expect("final flush");
    store.close();
    writer.join().expect("writer");
}

#[tokio::test]
async fn a_store_written_before_the_chain_is_chained_once_then_proven() {
    let dir = tempfile::tempdir().expect("temp");
    let ids = IdGenerator::new();
    let platform: PlatformId = ids.next();
    let entries = [
        topup_entry(&ids, &platform, 100),
        topup_entry(&ids, &platform, 250),
    ];
    {
        // Entries stored as plain JSON, as before the chain, with their balances.
        let db = sled::open(dir.path()).expect("sled");
        for entry in &entries {
            db.insert(
                Key::entry(platform.as_ref(), entry.id.as_ref()).as_bytes(),
                to_payload(entry).expect("json"),
            )
            .expect("insert");
        }
        let platform_usd =
            LedgerAccount::new(Holder::Platform(platform.clone()), usd(), Bucket::Available);
        let bank_usd = LedgerAccount::new(Holder::Bank, usd(), Bucket::Available);
        for (account, balance) in [(platform_usd, 350i64), (bank_usd, -350)] {
            db.insert(
                Key::new(Keyspace::Balance, &account.key()).as_bytes(),
                balance.to_be_bytes().to_vec(),
            )
            .expect("insert");
        }
        db.flush().expect("flush");
    }
    let (store, writer) = Store::open(dir.path()).expect("upgrade");
    assert_eq!(store.chain_head().map(|(sequence, _)| sequence), Ok(2));
    let totals = store
        .running_totals(Some(platform.as_ref()))
        .expect("totals");
    assert_eq!(totals.entries, 2);
    assert_eq!(
        totals
            .currencies
            .get(&usd())
            .map(|totals| totals.holders_minor),
        Some(350)
    );
    let mut seen = Vec::new();
    store
        .for_each_entry(Some(platform.as_ref()), |entry| seen.push(entry.id))
        .expect("entries");
    assert_eq!(seen.len(), 2);
    store.close();
    writer.join();
    // From now on it is an ordinary chained store with its high-water record.
    assert_eq!(
        HighWater::read(dir.path())
            .expect("read")
            .map(|tip| tip.sequence),
        Some(2)
    );
    let (store, writer) = Store::open(dir.path()).expect("reopen");
    store.close();
    writer.join();
}
