//! The store-only rate: commits of a top-up's shape straight to the writer, no HTTP and no
//! GraphQL, from the same process and the same number of concurrent callers.

use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::{Duration, Instant};

use serde_json::json;

use tollgate::ids::{PlatformId, TopupId};
use tollgate::ledger::{BalanceTransactionType, EntryBuilder, EntryKind, Holder, LineSpec};
use tollgate::money::{Currency, MinorUnits};
use tollgate::service::{Draft, Services};

use crate::stats::{Measured, OperationStats};

/// One commit like a top-up's: an entry, its balance transaction, the object, an event.
async fn commit_one(services: &Services, platform: &PlatformId) -> Result<(), String> {
    let usd = Currency::parse("usd").map_err(|error| error.to_string())?;
    let amount = MinorUnits::positive_amount(1000).map_err(|error| error.to_string())?;
    let now = services.clock.now(platform);
    let id: TopupId = services.ids.next();
    let mut entry = EntryBuilder::new(&services.ids, platform, EntryKind::Topup, id.as_ref(), now);
    entry
        .line(LineSpec {
            holder: Holder::Platform(platform.clone()),
            transaction_type: BalanceTransactionType::Topup,
            source_id: id.to_string(),
            currency: usd,
            amount,
            fee_details: Vec::new(),
            available_on: Some(now + chrono::Duration::days(2)),
            description: None,
        })
        .map_err(|error| error.to_string())?;
    entry.system(Holder::Bank, usd, -amount);
    let mut draft = Draft::new(platform, now);
    let entry = entry.build().map_err(|error| error.to_string())?;
    draft.entry(entry).map_err(|error| error.to_string())?;
    let object = json!({"id": id.to_string()});
    draft
        .insert(id.as_ref(), &object, &[])
        .map_err(|error| error.to_string())?;
    draft
        .event(&services.ids, "topup.created", None, &object)
        .map_err(|error| error.to_string())?;
    services
        .store
        .commit(draft.commit)
        .await
        .map(|_| ())
        .map_err(|error| error.to_string())
}

pub async fn run(
    services: Arc<Services>,
    platform: PlatformId,
    connections: usize,
    seconds: u64,
) -> Measured {
    let deadline = Instant::now() + Duration::from_secs(seconds);
    let started = Instant::now();
    let mut tasks = Vec::new();
    for _ in 0..connections {
        let (services, platform) = (services.clone(), platform.clone());
        tasks.push(tokio::spawn(async move {
            let mut stats = OperationStats::default();
            while Instant::now() < deadline {
                let sent = Instant::now();
                let failure = commit_one(&services, &platform).await.err();
                stats.record(sent.elapsed().as_micros() as u64, failure);
            }
            stats
        }));
    }
    let mut total = OperationStats::default();
    for task in tasks {
        if let Ok(stats) = task.await {
            total.merge(stats);
        }
    }
    let elapsed = started.elapsed();
    Measured::new(
        "store-only commits",
        elapsed,
        BTreeMap::from([("commit".to_owned(), total)]),
    )
}
