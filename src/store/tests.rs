//! The store's own tests: revision conflicts, fail-stop, the hash chain against tampering
//! made through the storage engine itself, and the running totals.

use std::path::Path;
use std::sync::{Arc, Mutex};

use chrono::Utc;
use tokio::sync::{mpsc, oneshot};

use super::chain::{self, ChainTip};
use super::high_water::HighWater;
use super::writer::{self, Durability};
use super::*;
use crate::ids::{IdGenerator, PlatformId};
use crate::ledger::{BalanceTransactionType, Bucket, EntryBuilder, EntryKind, LineSpec};
use crate::money::{Currency, MinorUnits};

fn usd() -> Currency {
    Currency::parse("usd").expect("usd")
}

fn topup_entry(ids: &IdGenerator, platform: &PlatformId, amount_minor: i64) -> Entry {
    let amount = MinorUnits::new(amount_minor).expect("amount");
    let mut builder = EntryBuilder::new(ids, platform, EntryKind::Topup, "tu_test", Utc::now());
    builder
        .line(LineSpec {
            holder: Holder::Platform(platform.clone()),
            transaction_type: BalanceTransactionType::Topup,
            source_id: "tu_test".into(),
            currency: usd(),
            amount,
            fee_details: vec![],
            available_on: None,
            description: None,
        })
        .expect("line");
    builder.system(
        Holder::Bank,
        usd(),
        MinorUnits::new(-amount_minor).expect("amount"),
    );
    builder.build().expect("balanced")
}

/// A store in `dir` with one top-up entry of each amount; returns the entries' keys.
async fn store_with_topups(dir: &Path, platform: &PlatformId, amounts: &[i64]) -> Vec<Key> {
    let ids = IdGenerator::new();
    let (store, writer) = Store::open(dir).expect("open");
    let mut keys = Vec::new();
    for &amount in amounts {
        let entry = topup_entry(&ids, platform, amount);
        keys.push(Key::entry(platform.as_ref(), entry.id.as_ref()));
        let mut commit = Commit::new(Some(platform.clone()));
        commit.entries.push(entry);
        store.commit(commit).await.expect("commit");
    }
    store.close();
    writer.join();
    keys
}

/// Opens the store's sled tree directly, as someone editing the files with the engine would.
fn tamper(dir: &Path, change: impl FnOnce(&sled::Tree)) {
    let db = sled::open(dir).expect("sled");
    change(&db);
    db.flush().expect("flush");
}

fn refusal(dir: &Path) -> String {
    match Store::open(dir) {
        Err(StoreError::Integrity(message)) => message,
        Err(other) => panic!("expected an integrity refusal, got {other:?}"),
        Ok(_) => panic!("the tampered store was accepted"),
    }
}

#[tokio::test]
async fn a_changed_object_is_refused_with_a_revision_conflict_and_nothing_is_written() {
    let dir = tempfile::tempdir().expect("temp");
    let ids = IdGenerator::new();
    let platform: PlatformId = ids.next();
    let (store, writer) = Store::open(dir.path()).expect("open");
    let object = Key::object(platform.as_ref(), "acct_x");
    let write = |expect| Write::Object {
        key: object.clone(),
        payload: crate::store::encode_object(&serde_json::json!({})).expect("encode"),
        expect,
    };
    let mut create = Commit::new(Some(platform.clone()));
    create.writes.push(write(Expect::Absent));
    assert_eq!(store.commit(create).await, Ok(Applied::Committed));
    let mut update = Commit::new(Some(platform.clone()));
    update.writes.push(write(Expect::Revision(1)));
    assert_eq!(store.commit(update).await, Ok(Applied::Committed));

    // A writer that read revision 1 is too late now: its whole commit is refused.
    let marker = Key::new(Keyspace::Meta, "written_by_the_stale_commit");
    let mut stale = Commit::new(Some(platform.clone()));
    stale.entries.push(topup_entry(&ids, &platform, 500));
    stale.writes.push(Write::Raw {
        key: marker.clone(),
        value: vec![1],
    });
    stale.writes.push(write(Expect::Revision(1)));
    assert_eq!(
        store.commit(stale).await,
        Err(StoreError::RevisionConflict {
            key: format!("{platform}/acct_x")
        })
    );
    let mut again = Commit::new(Some(platform.clone()));
    again.writes.push(write(Expect::Absent));
    assert_eq!(
        store.commit(again).await,
        Err(StoreError::RevisionConflict {
            key: format!("{platform}/acct_x")
        })
    );
    assert_eq!(store.get_raw(&marker), Ok(None));
    let platform_usd =
        LedgerAccount::new(Holder::Platform(platform.clone()), usd(), Bucket::Available);
    assert_eq!(store.balance(&platform_usd), Ok(0));
    assert_eq!(
        store.running_totals(None).map(|totals| totals.entries),
        Ok(0)
    );
    let current = store
        .get_sealed::<serde_json::Value>(&object)
        .expect("read")
        .expect("object");
    assert_eq!(current.revision, 2);
    store.close();
    writer.join();
}

#[test]
fn a_failed_flush_stops_the_process_before_any_caller_is_answered() {
    let dir = tempfile::tempdir().expect("temp");
    let db = sled::Config::new().temporary(true).open().expect("sled");
    let stopped: Arc<Mutex<Option<String>>> = Arc::default();
    let recorder = stopped.clone();
    let durability = Durability {
        flush: Box::new(|| Err(StoreError::Io("no space left on device".into()))),
        high_water: HighWater::open(dir.path(), ChainTip::default()).expect("high water"),
        fail_stop: Arc::new(move |reason: &str| {
            *recorder.lock().expect("lock") = Some(reason.to_owned());
        }),
    };
    let (sender, receiver) = mpsc::channel(8);
    let tree: sled::Tree = (*db).clone();
    let writer_tree = tree.clone();
    let writer = std::thread::spawn(move || {
        writer::run(
            writer_tree,
            receiver,
            ChainTip::default(),
            durability,
            &std::sync::Mutex::new(()),
        )
    });
    let (reply, answer) = oneshot::channel();
    let mut commit = Commit::new(None);
    commit.writes.push(Write::Raw {
        key: Key::new(Keyspace::Meta, "visible_but_not_durable"),
        value: vec![1],
    });
    sender
        .blocking_send(commit::Submission {
            commits: vec![commit],
            reply,
        })
        .expect("send");
    // The caller is never told anything: the process would be gone.
    assert!(answer.blocking_recv().is_err());
    drop(sender);
    writer.join().expect("writer");
    assert_eq!(
        stopped.lock().expect("lock").as_deref(),
        Some("a flush of 1 commits failed: storage failed: no space left on device")
    );
}

#[tokio::test]
async fn an_entry_rewritten_through_the_engine_is_refused_naming_it() {
    let dir = tempfile::tempdir().expect("temp");
    let platform: PlatformId = IdGenerator::new().next();
    let keys = store_with_topups(dir.path(), &platform, &[100, 200, 300]).await;
    let second = keys[1].clone();
    tamper(dir.path(), |tree| {
        let stored = tree.get(second.as_bytes()).expect("get").expect("entry");
        // The entry is stored compressed: change one bit of its body.
        let mut bytes = stored.to_vec();
        let last = bytes.last_mut().expect("body");
        *last ^= 1;
        tree.insert(second.as_bytes(), bytes).expect("insert");
    });
    assert_eq!(
        refusal(dir.path()),
        format!(
            "ledger entry #2 ({}) was altered: its content does not match its hash",
            second.rest()
        )
    );
}

#[tokio::test]
async fn deleted_last_entries_are_refused_by_the_high_water_record() {
    let dir = tempfile::tempdir().expect("temp");
    let platform: PlatformId = IdGenerator::new().next();
    let keys = store_with_topups(dir.path(), &platform, &[100, 200, 300, 400]).await;
    tamper(dir.path(), |tree| {
        // A careful forger removes the last two entries with their links and moves the tip
        // record back, so the chain itself is whole again.
        let second = tree.get(keys[1].as_bytes()).expect("get").expect("entry");
        let second = chain::ChainedEntry::parse(&second).expect("chained");
        let tip_key = Key::new(Keyspace::Meta, chain::TIP_META);
        let tip = ChainTip::decode(&tree.get(tip_key.as_bytes()).expect("get").expect("tip"))
            .expect("tip");
        for (sequence, key) in [(3, &keys[2]), (4, &keys[3])] {
            tree.remove(key.as_bytes()).expect("remove");
            tree.remove(chain::link_key(sequence).as_bytes())
                .expect("remove");
        }
        let forged = ChainTip {
            groups: tip.groups,
            sequence: 2,
            hash: second.hash,
        };
        tree.insert(tip_key.as_bytes(), forged.encode())
            .expect("insert");
    });
    assert_eq!(
        refusal(dir.path()),
        format!(
            "the store in {} has lost acknowledged commits: its ledger ends at entry #2 but \
             entries up to #4 were acknowledged; entry #3 is the first missing",
            dir.path().display()
        )
    );
}

#[tokio::test]
async fn a_missing_entry_inside_the_chain_is_named() {
    let dir = tempfile::tempdir().expect("temp");
    let platform: PlatformId = IdGenerator::new().next();
    let keys = store_with_topups(dir.path(), &platform, &[100, 200, 300]).await;
    tamper(dir.path(), |tree| {
        tree.remove(keys[1].as_bytes()).expect("remove");
    });
    assert_eq!(
        refusal(dir.path()),
        format!("ledger entry #2 ({}) is missing", keys[1].rest())
    );
    tamper(dir.path(), |tree| {
        tree.remove(chain::link_key(2).as_bytes()).expect("remove");
    });
    assert_eq!(
        refusal(dir.path()),
        "ledger entry #2 is missing: the chain goes from entry #1 to entry #3"
    );
}

#[tokio::test]
async fn an_entry_added_outside_the_writer_is_refused() {
    let dir = tempfile::tempdir().expect("temp");
    let ids = IdGenerator::new();
    let platform: PlatformId = ids.next();
    store_with_topups(dir.path(), &platform, &[100]).await;
    let extra = topup_entry(&ids, &platform, 999);
    let extra_key = Key::entry(platform.as_ref(), extra.id.as_ref());
    tamper(dir.path(), |tree| {
        let mut forged_tip = ChainTip {
            sequence: 7,
            ..ChainTip::default()
        };
        let bytes = forged_tip
            .append(&extra_key, &to_payload(&extra).expect("json"))
            .expect("append");
        tree.insert(extra_key.as_bytes(), bytes).expect("insert");
    });
    assert_eq!(
        refusal(dir.path()),
        format!(
            "ledger entry {} is not in the chain: it was added outside the writer",
            extra_key.rest()
        )
    );
}

#[tokio::test]
async fn a_store_without_its_high_water_record_is_refused_and_a_fresh_one_is_not() {
    let dir = tempfile::tempdir().expect("temp");
    let platform: PlatformId = IdGenerator::new().next();
    store_with_topups(dir.path(), &platform, &[100]).await;
    std::fs::remove_file(HighWater::path(dir.path())).expect("remove");
    assert_eq!(
        refusal(dir.path()),
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

#[tokio::test]
async fn a_reopened_store_continues_its_chain_and_running_totals() {
    let dir = tempfile::tempdir().expect("temp");
    let ids = IdGenerator::new();
    let platform: PlatformId = ids.next();
    let other: PlatformId = ids.next();
    store_with_topups(dir.path(), &platform, &[100, 250]).await;
    store_with_topups(dir.path(), &other, &[40]).await;
    let (store, writer) = Store::open(dir.path()).expect("reopen");
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
    store.close();
    writer.join();
    let high_water = HighWater::read(dir.path()).expect("read").expect("record");
    assert_eq!(high_water.sequence, 3);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn wait_durable_returns_only_after_the_flush_covering_what_was_visible() {
    let dir = tempfile::tempdir().expect("temp");
    let db = sled::Config::new().temporary(true).open().expect("sled");
    let tree: sled::Tree = (*db).clone();
    let (open_gate, gate) = std::sync::mpsc::channel::<()>();
    let gate = Mutex::new(gate);
    let flush_tree = tree.clone();
    let durability = Durability {
        // The disk is slow: each flush waits for the test to let it through.
        flush: Box::new(move || {
            gate.lock()
                .expect("lock")
                .recv()
                .map_err(|_| StoreError::Io("gate closed".into()))?;
            flush_tree.flush().map(|_| ()).map_err(StoreError::from)
        }),
        high_water: HighWater::open(dir.path(), ChainTip::default()).expect("high water"),
        fail_stop: Arc::new(|reason: &str| panic!("fail-stop: {reason}")),
    };
    let (sender, receiver) = mpsc::channel(8);
    let writer_tree = tree.clone();
    let writer = std::thread::spawn(move || {
        writer::run(
            writer_tree,
            receiver,
            ChainTip::default(),
            durability,
            &std::sync::Mutex::new(()),
        )
    });
    let store = Store {
        db,
        tree,
        sender,
        reads: Arc::default(),
        apply_lock: Arc::default(),
    };
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

#[tokio::test]
async fn commits_sent_together_are_answered_each_and_a_failing_one_fails_alone() {
    let dir = tempfile::tempdir().expect("temp");
    let ids = IdGenerator::new();
    let platform: PlatformId = ids.next();
    let (store, writer) = Store::open(dir.path()).expect("open");
    let commit_with = |amount: i64, condition: Option<Condition>| {
        let mut commit = Commit::new(Some(platform.clone()));
        commit.entries.push(topup_entry(&ids, &platform, amount));
        commit.conditions.extend(condition);
        commit
    };
    let missing = Condition::Exists {
        key: Key::new(Keyspace::Meta, "no_such_key"),
    };
    let results = store
        .commit_many(vec![
            commit_with(100, None),
            commit_with(200, Some(missing)),
            commit_with(300, None),
        ])
        .await
        .expect("sent");
    assert_eq!(results.len(), 3);
    assert_eq!(results[0], Ok(Applied::Committed));
    assert!(matches!(
        results[1],
        Err(StoreError::ConditionFailed { index: 0, .. })
    ));
    assert_eq!(results[2], Ok(Applied::Committed));
    let balance = store
        .balance(&LedgerAccount::new(
            Holder::Platform(platform.clone()),
            usd(),
            Bucket::Available,
        ))
        .expect("balance");
    assert_eq!(balance, 400);
    store.close();
    writer.join();
}
