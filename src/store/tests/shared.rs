//! Two stores over one PostgreSQL database, as two servers would run: each has its own
//! writer, and the row lock on the chain's tip makes their groups take turns.

use super::*;
use crate::ledger::{Bucket, LedgerAccount};

/// Debits tried from each store, each of `DEBIT_MINOR`, against a balance of `FUNDS_MINOR`.
const DEBITS_PER_STORE: usize = 20;
const DEBIT_MINOR: i64 = 1_000;
const FUNDS_MINOR: i64 = 10_000;

/// A debit of the platform's available balance that must find the money there.
fn conditional_debit(ids: &IdGenerator, platform: &PlatformId) -> Commit {
    let mut commit = Commit::new(Some(platform.clone()));
    commit.conditions.push(Condition::BalanceAtLeast {
        account: available(platform),
        minimum_minor: DEBIT_MINOR,
    });
    commit
        .entries
        .push(topup_entry(ids, platform, -DEBIT_MINOR));
    commit
}

fn available(platform: &PlatformId) -> LedgerAccount {
    LedgerAccount::new(Holder::Platform(platform.clone()), usd(), Bucket::Available)
}

fn two_stores(backend: &Backend) -> [(Store, WriterThread); 2] {
    [
        backend.open().expect("first"),
        backend.open().expect("second"),
    ]
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_writers_on_one_database_never_overdraw_a_balance_and_keep_one_chain() {
    let Some(backend) = Backend::postgres() else {
        return;
    };
    let ids = Arc::new(IdGenerator::new());
    let platform: PlatformId = ids.next();
    let [(first, first_writer), (second, second_writer)] = two_stores(&backend);
    let mut funding = Commit::new(Some(platform.clone()));
    funding
        .entries
        .push(topup_entry(&ids, &platform, FUNDS_MINOR));
    assert_eq!(first.commit(funding).await, Ok(Applied::Committed));

    let mut debits = Vec::new();
    for index in 0..DEBITS_PER_STORE * 2 {
        let store = if index % 2 == 0 { &first } else { &second }.clone();
        let commit = conditional_debit(&ids, &platform);
        debits.push(tokio::spawn(async move { store.commit(commit).await }));
    }
    let mut applied = 0;
    let mut refused = 0;
    for debit in debits {
        match debit.await.expect("task") {
            Ok(Applied::Committed) => applied += 1,
            Err(StoreError::ConditionFailed { actual_minor, .. }) => {
                assert!(
                    actual_minor < DEBIT_MINOR,
                    "refused with {actual_minor} there"
                );
                refused += 1;
            }
            other => panic!("unexpected answer {other:?}"),
        }
    }
    assert_eq!((applied, refused), (10, 30));
    for store in [&first, &second] {
        assert_eq!(store.balance(&available(&platform)), Ok(0));
        assert_eq!(
            store.running_totals(None).map(|totals| totals.entries),
            Ok(11)
        );
    }
    assert_eq!(first.chain_head(), second.chain_head());
    assert_eq!(first.chain_head().map(|(sequence, _)| sequence), Ok(11));
    for (store, writer) in [(first, first_writer), (second, second_writer)] {
        store.close();
        writer.join();
    }
    // One chain, whole: a third opener proves it.
    let (third, third_writer) = backend.open().expect("the chain proves");
    assert_eq!(third.chain_head().map(|(sequence, _)| sequence), Ok(11));
    third.close();
    third_writer.join();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_writers_racing_with_one_idempotency_key_give_one_result() {
    let Some(backend) = Backend::postgres() else {
        return;
    };
    let ids = IdGenerator::new();
    let platform: PlatformId = ids.next();
    let [(first, first_writer), (second, second_writer)] = two_stores(&backend);
    let claimed = |amount_minor: i64| {
        let mut commit = Commit::new(Some(platform.clone()));
        commit.idempotency = Some(IdempotencyClaim {
            key: "topup-1".into(),
            fingerprint: "same request".into(),
            outcome: br#"{"topup":"tu_1"}"#.to_vec(),
            created_micros: 0,
        });
        commit
            .entries
            .push(topup_entry(&ids, &platform, amount_minor));
        commit
    };
    let (one, other) = tokio::join!(first.commit(claimed(500)), second.commit(claimed(500)));
    let mut answers = [one, other];
    answers.sort_by_key(|answer| format!("{answer:?}"));
    assert_eq!(
        answers,
        [
            Ok(Applied::Committed),
            Ok(Applied::Replayed {
                outcome: br#"{"topup":"tu_1"}"#.to_vec()
            }),
        ]
    );
    assert_eq!(first.balance(&available(&platform)), Ok(500));
    assert_eq!(second.chain_head().map(|(sequence, _)| sequence), Ok(1));
    for (store, writer) in [(first, first_writer), (second, second_writer)] {
        store.close();
        writer.join();
    }
}
