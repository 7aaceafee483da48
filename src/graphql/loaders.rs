//! Per-request DataLoaders: objects that many results point at (a page of charges with
//! their destination accounts and transfers) are read once per request, in batches, and
//! what they return is kept to the caller's scope.

use std::collections::HashMap;
use std::marker::PhantomData;

use async_graphql::dataloader::{DataLoader, HashMapCache, Loader};
use async_graphql::Context;
use serde::de::DeserializeOwned;

use super::context::caller;
use super::errors::to_graphql;
use crate::domain::account_record::AccountRecord;
use crate::domain::charges::Transfer;
use crate::service::{AppState, Scoped, ServiceError};

/// An object of one platform, by id.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub struct ObjectKey {
    pub platform: String,
    pub id: String,
}

/// Loads stored objects of one type; absent ids are simply missing from the answer.
pub struct RecordLoader<T> {
    services: AppState,
    record: PhantomData<fn() -> T>,
}

impl<T> RecordLoader<T> {
    pub fn new(services: AppState) -> RecordLoader<T> {
        RecordLoader {
            services,
            record: PhantomData,
        }
    }
}

impl<T: DeserializeOwned + Clone + Send + Sync + 'static> Loader<ObjectKey> for RecordLoader<T> {
    type Value = T;
    type Error = ServiceError;

    async fn load(&self, keys: &[ObjectKey]) -> Result<HashMap<ObjectKey, T>, ServiceError> {
        let mut found = HashMap::with_capacity(keys.len());
        for key in keys {
            if let Some(object) = self.services.stored_object::<T>(&key.platform, &key.id)? {
                found.insert(key.clone(), object);
            }
        }
        Ok(found)
    }
}

pub type AccountLoader = DataLoader<RecordLoader<AccountRecord>, HashMapCache>;
pub type TransferLoader = DataLoader<RecordLoader<Transfer>, HashMapCache>;

/// The loaders one request uses, put into its data by the HTTP layer.
pub fn for_request(services: &AppState) -> (AccountLoader, TransferLoader) {
    (
        DataLoader::with_cache(
            RecordLoader::new(services.clone()),
            tokio::spawn,
            HashMapCache::default(),
        ),
        DataLoader::with_cache(
            RecordLoader::new(services.clone()),
            tokio::spawn,
            HashMapCache::default(),
        ),
    )
}

/// One of the caller's accounts through the request's loader.
pub async fn account(
    ctx: &Context<'_>,
    platform: &str,
    id: &str,
) -> async_graphql::Result<Option<AccountRecord>> {
    let key = ObjectKey {
        platform: platform.to_owned(),
        id: id.to_owned(),
    };
    let found = match ctx.data_opt::<AccountLoader>() {
        Some(loader) => loader.load_one(key).await.map_err(to_graphql)?,
        None => RecordLoader::<AccountRecord>::new(ctx.data_unchecked::<AppState>().clone())
            .load(std::slice::from_ref(&key))
            .await
            .map(|mut found| found.remove(&key))
            .map_err(to_graphql)?,
    };
    in_scope(ctx, found)
}

/// Keeps a loaded object only when it is in the caller's scope: loaders read by id
/// without the caller, so the scope rule is applied to what they return.
fn in_scope<T: Scoped>(ctx: &Context<'_>, found: Option<T>) -> async_graphql::Result<Option<T>> {
    let Some(object) = found else {
        return Ok(None);
    };
    let visible = ctx
        .data_unchecked::<AppState>()
        .visible(caller(ctx)?, &object)
        .map_err(to_graphql)?;
    Ok(visible.then_some(object))
}

/// Several of the caller's transfers through the request's loader, in the order asked.
pub async fn transfers(
    ctx: &Context<'_>,
    platform: &str,
    ids: &[String],
) -> async_graphql::Result<Vec<Transfer>> {
    let keys: Vec<ObjectKey> = ids
        .iter()
        .map(|id| ObjectKey {
            platform: platform.to_owned(),
            id: id.clone(),
        })
        .collect();
    let mut found = match ctx.data_opt::<TransferLoader>() {
        Some(loader) => loader
            .load_many(keys.iter().cloned())
            .await
            .map_err(to_graphql)?,
        None => RecordLoader::<Transfer>::new(ctx.data_unchecked::<AppState>().clone())
            .load(&keys)
            .await
            .map_err(to_graphql)?,
    };
    let mut in_order = Vec::with_capacity(keys.len());
    for key in &keys {
        if let Some(transfer) = in_scope(ctx, found.remove(key))? {
            in_order.push(transfer);
        }
    }
    Ok(in_order)
}
