//! The scheduler: moves simulated time and runs everything that has come due, in due-time
//! order: pending funds becoming available today, and more kinds of work as they are added.

use std::collections::BTreeMap;

use chrono::{DateTime, Utc};

use super::accounts::TIMER_REQUIREMENTS_DEADLINE;
use super::draft::{
    ReleaseTimer, TIMER_AUTHORIZATION_EXPIRY, TIMER_DISPUTE_DEADLINE, TIMER_RELEASE,
};
use super::idempotency;
use super::payout_lifecycle::{TIMER_PAYOUT_ARRIVAL, TIMER_PAYOUT_SUBMISSION};
use super::payout_runs::TIMER_PAYOUT_RUN;
use super::webhook_outbox::TIMER_WEBHOOK_RETRY;
use super::{Draft, ServiceError, Services};
use crate::config::{MAX_CLOCK_ADVANCE_DAYS, MAX_TIMERS_PER_COMMIT};
use crate::domain::balance_transactions::{BalanceTransaction, BalanceTransactionStatus};
use crate::domain::topups::{Topup, TopupStatus};
use crate::ids::PlatformId;
use crate::ledger::{BalanceTransactionType, Bucket, EntryBuilder, EntryKind, Holder};
use crate::money::Currency;
use crate::store::{Condition, Key, Keyspace};

/// The meta key of the simulated clock's time, so it survives a restart.
pub const CLOCK_META: &str = "simulated_clock_micros";

/// A due timer, parsed from its key.
struct DueTimer {
    key: Key,
    kind: String,
    platform: String,
    payload: Vec<u8>,
}

fn parse_timer(key: Key, payload: Vec<u8>) -> Option<DueTimer> {
    let mut parts = key.rest().splitn(4, '/');
    let _due = parts.next()?;
    let kind = parts.next()?.to_owned();
    let platform = parts.next()?.to_owned();
    Some(DueTimer {
        key,
        kind,
        platform,
        payload,
    })
}

impl Services {
    /// Moves the simulated clock (never backwards) and runs everything due by then.
    pub async fn advance_clock(
        &self,
        to: Option<DateTime<Utc>>,
        seconds: Option<i64>,
    ) -> Result<DateTime<Utc>, ServiceError> {
        if !self.clock.is_simulated() {
            return Err(ServiceError::forbidden(
                None,
                "advanceClock works only when the server runs with --simulated-clock",
            ));
        }
        let _guard = self.scheduler_lock.lock().await;
        let now = self.clock.now();
        let target = match (to, seconds) {
            (Some(to), None) => to,
            (None, Some(seconds)) if seconds >= 0 => chrono::Duration::try_seconds(seconds)
                .and_then(|step| now.checked_add_signed(step))
                .ok_or_else(|| ServiceError::invalid("input.seconds", "seconds is too large"))?,
            (None, Some(_)) => {
                return Err(ServiceError::invalid(
                    "input.seconds",
                    "The clock never moves backwards: seconds must be 0 or more",
                ))
            }
            _ => {
                return Err(ServiceError::invalid(
                    "input",
                    "Give exactly one of `to` (a time) or `seconds` (how far to move)",
                ))
            }
        };
        if target < now {
            return Err(ServiceError::invalid(
                "input.to",
                format!(
                    "The clock never moves backwards: {target} is before the current time {now}"
                ),
            ));
        }
        if target - now > chrono::Duration::days(MAX_CLOCK_ADVANCE_DAYS) {
            return Err(ServiceError::invalid(
                "input",
                format!("One advance may move the clock at most {MAX_CLOCK_ADVANCE_DAYS} days"),
            ));
        }
        // Persist first: after a crash the clock is never earlier than work already done.
        let mut draft = Draft::system(now);
        draft.raw(
            Key::new(Keyspace::Meta, CLOCK_META),
            target.timestamp_micros().to_be_bytes().to_vec(),
        );
        self.store.commit(draft.commit).await?;
        self.clock
            .advance_to(target)
            .map_err(|error| ServiceError::invalid("input.to", error.to_string()))?;
        self.run_due_work().await?;
        Ok(target)
    }

    /// Runs every timer due at the current time, oldest first, until none is left.
    pub async fn run_due_work(&self) -> Result<usize, ServiceError> {
        let mut handled = 0usize;
        loop {
            let now = self.clock.now();
            let due = self
                .store
                .due_timers(now.timestamp_micros(), MAX_TIMERS_PER_COMMIT)?;
            if due.is_empty() {
                return Ok(handled);
            }
            let mut releases: BTreeMap<String, Vec<DueTimer>> = BTreeMap::new();
            for (key, payload) in due {
                let Some(timer) = parse_timer(key, payload) else {
                    continue;
                };
                // Releases due earlier land before any later work reads the balances.
                if timer.kind != TIMER_RELEASE {
                    for (platform, timers) in std::mem::take(&mut releases) {
                        self.release_funds(&platform, &timers).await?;
                    }
                }
                match timer.kind.as_str() {
                    TIMER_RELEASE => releases
                        .entry(timer.platform.clone())
                        .or_default()
                        .push(timer),
                    TIMER_REQUIREMENTS_DEADLINE => {
                        self.enforce_requirements_deadline(
                            &timer.platform,
                            &timer.key,
                            &timer.payload,
                        )
                        .await?
                    }
                    TIMER_PAYOUT_RUN => {
                        self.run_payouts(&timer.platform, timer.key, &timer.payload)
                            .await?
                    }
                    TIMER_PAYOUT_SUBMISSION => {
                        self.submit_payout(&timer.platform, timer.key, &timer.payload)
                            .await?
                    }
                    TIMER_PAYOUT_ARRIVAL => {
                        self.arrive_payout(&timer.platform, timer.key, &timer.payload)
                            .await?
                    }
                    TIMER_AUTHORIZATION_EXPIRY => {
                        self.expire_authorization(&timer.platform, timer.key, &timer.payload)
                            .await?
                    }
                    TIMER_DISPUTE_DEADLINE => {
                        self.dispute_deadline(&timer.platform, timer.key, &timer.payload)
                            .await?
                    }
                    TIMER_WEBHOOK_RETRY => {
                        self.webhook_retry_due(&timer.platform, timer.key, &timer.payload)
                            .await?
                    }
                    other => {
                        tracing::error!(kind = other, "unknown timer kind; dropping it");
                        let mut draft = Draft::system(now);
                        draft.delete(timer.key);
                        self.store.commit(draft.commit).await?;
                    }
                }
                handled += 1;
            }
            for (platform, timers) in releases {
                self.release_funds(&platform, &timers).await?;
            }
        }
    }

    /// Moves the net of each due balance transaction from pending to available.
    async fn release_funds(&self, platform: &str, timers: &[DueTimer]) -> Result<(), ServiceError> {
        let platform_id =
            PlatformId::parse(platform).map_err(|error| ServiceError::internal("timer", error))?;
        idempotency::apply(self, || {
            let now = self.clock.now();
            let mut draft = Draft::new(&platform_id, now);
            let mut released: BTreeMap<Holder, BTreeMap<Currency, i64>> = BTreeMap::new();
            for timer in timers {
                let release: ReleaseTimer = crate::store::from_payload(&timer.payload)?;
                draft.condition(
                    Condition::Exists {
                        key: timer.key.clone(),
                    },
                    ServiceError::internal("release", "already released"),
                );
                draft.delete(timer.key.clone());
                for balance_transaction in &release.balance_transactions {
                    let Some(found) = self
                        .store
                        .get_object::<BalanceTransaction>(platform, balance_transaction)?
                    else {
                        continue;
                    };
                    let mut transaction = found.value;
                    if transaction.status == BalanceTransactionStatus::Available {
                        continue;
                    }
                    transaction.status = BalanceTransactionStatus::Available;
                    draft.update(balance_transaction, &transaction, found.revision)?;
                    if !transaction.net.is_zero() {
                        *released
                            .entry(transaction.holder.clone())
                            .or_default()
                            .entry(transaction.currency)
                            .or_default() += transaction.net.get();
                        let mut entry = EntryBuilder::new(
                            &self.ids,
                            &platform_id,
                            EntryKind::Release,
                            balance_transaction,
                            now,
                        );
                        entry.move_between_buckets(
                            &transaction.holder,
                            transaction.currency,
                            transaction.net,
                            Bucket::Pending,
                            Bucket::Available,
                        );
                        draft.entry(
                            entry
                                .build()
                                .map_err(|error| ServiceError::internal("release", error))?,
                        )?;
                    }
                    if transaction.transaction_type == BalanceTransactionType::Topup {
                        self.mark_topup_succeeded(platform, &transaction.source_id, &mut draft)?;
                    }
                }
            }
            for (holder, amounts) in &released {
                let account = match holder {
                    Holder::Account(account) => Some(account),
                    _ => None,
                };
                let data = serde_json::json!({"holder": holder.as_str(), "released": amounts});
                draft.event(&self.ids, "balance.available", account, &data)?;
            }
            Ok(Some(draft))
        })
        .await
    }

    fn mark_topup_succeeded(
        &self,
        platform: &str,
        topup_id: &str,
        draft: &mut Draft,
    ) -> Result<(), ServiceError> {
        let Some(found) = self.store.get_object::<Topup>(platform, topup_id)? else {
            return Ok(());
        };
        let mut topup = found.value;
        topup.status = TopupStatus::Succeeded;
        draft.update(topup_id, &topup, found.revision)?;
        draft.event(&self.ids, "topup.succeeded", None, &topup)
    }

    /// Runs due work on the system clock, once a second, until the server stops.
    pub async fn run_scheduler(
        self: std::sync::Arc<Self>,
        mut shutdown: tokio::sync::watch::Receiver<bool>,
    ) {
        let mut interval = tokio::time::interval(std::time::Duration::from_millis(
            crate::config::SCHEDULER_INTERVAL_MILLISECONDS,
        ));
        loop {
            tokio::select! {
                _ = interval.tick() => {}
                _ = shutdown.changed() => return,
            }
            let _guard = self.scheduler_lock.lock().await;
            if let Err(error) = self.run_due_work().await {
                tracing::error!(%error, "scheduled work failed; it will be retried");
            }
        }
    }
}
