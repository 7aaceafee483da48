//! One-time upgrades of a store written by an earlier version, run before the server
//! answers: each is recorded under a meta key once done, so it runs once per store.

use super::policies::PLATFORMS_INDEX;
use super::{holder_index, holder_type_index, Draft, ServiceError, Services};
use crate::domain::balance_transactions::BalanceTransaction;
use crate::ids::{AccountId, PlatformId};
use crate::ledger::Holder;
use crate::store::{Key, Keyspace, MAX_SCAN_ITEMS};

/// Set once every balance transaction is in its holder's by-type index.
const TYPE_INDEX_DONE_META: &str = "migrated:balance_transaction_type_index";
/// Balance transactions indexed per commit.
const TYPE_INDEX_PAGE: usize = 500;

impl Services {
    /// Runs every upgrade the store still needs.
    pub async fn migrate(&self) -> Result<(), ServiceError> {
        let done = Key::new(Keyspace::Meta, TYPE_INDEX_DONE_META);
        if self.store.get_raw(&done)?.is_some() {
            return Ok(());
        }
        let counts = self
            .for_each_page_of("", PLATFORMS_INDEX, |platform| {
                let platform = platform.to_owned();
                async move { self.index_types_of_platform(&platform).await }
            })
            .await?;
        let upgraded: usize = counts.into_iter().sum();
        let mut draft = Draft::system(chrono::Utc::now());
        draft.raw(done, Vec::new());
        self.store.commit(draft.commit).await?;
        if upgraded > 0 {
            tracing::info!(upgraded, "balance transactions indexed by type");
        }
        Ok(())
    }

    /// Indexes by type every balance transaction of a platform and of each of its accounts.
    async fn index_types_of_platform(&self, platform: &str) -> Result<usize, ServiceError> {
        let platform_id = PlatformId::parse(platform)
            .map_err(|error| ServiceError::internal("migration", error))?;
        let mut indexed = self
            .index_types_of_holder(&platform_id, &Holder::Platform(platform_id.clone()))
            .await?;
        let accounts = self
            .for_each_page_of(platform, "accounts", |account| {
                let account = account.to_owned();
                let platform_id = platform_id.clone();
                async move {
                    let account = AccountId::parse(&account)
                        .map_err(|error| ServiceError::internal("migration", error))?;
                    self.index_types_of_holder(&platform_id, &Holder::Account(account))
                        .await
                }
            })
            .await?;
        indexed = indexed.saturating_add(accounts.into_iter().sum());
        Ok(indexed)
    }

    async fn index_types_of_holder(
        &self,
        platform: &PlatformId,
        holder: &Holder,
    ) -> Result<usize, ServiceError> {
        let mut after: Option<String> = None;
        let mut indexed = 0usize;
        loop {
            let ids = self.store.scan_index(
                platform.as_ref(),
                &holder_index(holder),
                after.as_deref(),
                TYPE_INDEX_PAGE,
            )?;
            let Some(last) = ids.last().cloned() else {
                return Ok(indexed);
            };
            let mut draft = Draft::system(chrono::Utc::now());
            for id in ids {
                let Some(found) = self
                    .store
                    .get_object::<BalanceTransaction>(platform.as_ref(), &id)?
                else {
                    continue;
                };
                let index = holder_type_index(holder, found.value.transaction_type);
                draft.raw(Key::index(platform.as_ref(), &index, &id), Vec::new());
                indexed = indexed.saturating_add(1);
            }
            self.store.commit(draft.commit).await?;
            after = Some(last);
        }
    }

    /// Calls `visit` with every id of an index, a page at a time, and collects the results.
    async fn for_each_page_of<F, Fut, T>(
        &self,
        platform: &str,
        index: &str,
        mut visit: F,
    ) -> Result<Vec<T>, ServiceError>
    where
        F: FnMut(&str) -> Fut,
        Fut: std::future::Future<Output = Result<T, ServiceError>>,
    {
        let mut results = Vec::new();
        let mut after: Option<String> = None;
        loop {
            let ids = self
                .store
                .scan_index(platform, index, after.as_deref(), MAX_SCAN_ITEMS)?;
            let Some(last) = ids.last().cloned() else {
                return Ok(results);
            };
            for id in &ids {
                results.push(visit(id).await?);
            }
            after = Some(last);
        }
    }
}
