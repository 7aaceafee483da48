//! Commits on every engine: revision conflicts refuse a whole commit, and commits sent
//! together are answered each.

use super::*;
use crate::ledger::{Bucket, LedgerAccount};

#[tokio::test]
async fn a_changed_object_is_refused_with_a_revision_conflict_and_nothing_is_written() {
    for backend in Backend::all() {
        let ids = IdGenerator::new();
        let platform: PlatformId = ids.next();
        let (store, writer) = backend.open().expect("open");
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
}

#[tokio::test]
async fn commits_sent_together_are_answered_each_and_a_failing_one_fails_alone() {
    for backend in Backend::all() {
        let ids = IdGenerator::new();
        let platform: PlatformId = ids.next();
        let (store, writer) = backend.open().expect("open");
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
}
