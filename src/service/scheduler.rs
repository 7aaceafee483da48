//! The scheduler: runs everything that has come due for a platform, in due-time order:
//! pending funds becoming available, deadlines, payout runs and payouts on their way.
//!
//! Every timer's work is one commit conditioned on the timer still existing, which deletes
//! it: several servers may find the same timer due at once, and it runs once.
//!
//! Timers never block each other. A timer whose work fails is retried later with exponential
//! backoff (`TIMER_RETRY_BASE_SECONDS`, doubling), counting its attempts in its key's kind
//! (`release#2`: kinds are the code's own words, while subjects may be any text); after
//! `MAX_TIMER_ATTEMPTS` it is set aside (the parked-timer keyspace) with a `timer.failed`
//! event, and every other timer goes on. A key that cannot be read is set aside at once.

use std::collections::{BTreeMap, HashSet};

use chrono::{DateTime, Utc};

use super::accounts::TIMER_REQUIREMENTS_DEADLINE;
use super::draft::{
    ReleaseTimer, TIMER_AUTHORIZATION_EXPIRY, TIMER_DISPUTE_DEADLINE, TIMER_RELEASE,
};
use super::idempotency::{MAX_COMMIT_ATTEMPTS, TIMER_IDEMPOTENCY_EXPIRY};
use super::payout_lifecycle::{TIMER_PAYOUT_ARRIVAL, TIMER_PAYOUT_SUBMISSION};
use super::payout_runs::{TIMER_PAYOUT_ACCOUNT, TIMER_PAYOUT_RUN};
use super::webhook_outbox::TIMER_WEBHOOK_RETRY;
use super::{Draft, ServiceError, Services};
use crate::config::{MAX_TIMERS_PER_COMMIT, MAX_TIMER_ATTEMPTS, TIMER_RETRY_BASE_SECONDS};
use crate::domain::balance_transactions::{BalanceTransaction, BalanceTransactionStatus};
use crate::domain::topups::{Topup, TopupStatus};
use crate::ids::PlatformId;
use crate::ledger::{BalanceTransactionType, Bucket, EntryBuilder, EntryKind, Holder};
use crate::money::Currency;
use crate::store::{Applied, Condition, Key, StoreError, MAX_SCAN_ITEMS};

/// What separates a retried timer's kind from its attempt count.
const ATTEMPT_MARK: char = '#';
/// Past this many doublings the backoff stops growing (and the shift cannot overflow).
const MAX_RETRY_DOUBLINGS: u32 = 16;
/// The event written when a timer is set aside.
pub const TIMER_FAILED_EVENT: &str = "timer.failed";

/// A due timer, parsed from its key: `<platform>/<due>/<kind>[#<attempts>]/<subject>`.
struct DueTimer {
    key: Key,
    platform: String,
    kind: String,
    subject: String,
    /// How many times its work has failed so far.
    failed_attempts: u32,
    payload: Vec<u8>,
}

fn parse_timer(key: &Key, payload: &[u8]) -> Option<DueTimer> {
    let rest = std::str::from_utf8(key.as_bytes().get(1..)?).ok()?;
    let mut parts = rest.splitn(4, '/');
    let platform = parts.next()?;
    let stamp = parts.next()?;
    let kind = parts.next()?;
    let subject = parts.next()?;
    if stamp.len() != 16 || i64::from_str_radix(stamp, 16).is_err() {
        return None;
    }
    let (kind, failed_attempts) = match kind.split_once(ATTEMPT_MARK) {
        Some((kind, attempts)) => (kind, attempts.parse().ok()?),
        None => (kind, 0),
    };
    if kind.is_empty() {
        return None;
    }
    Some(DueTimer {
        key: key.clone(),
        platform: platform.to_owned(),
        kind: kind.to_owned(),
        subject: subject.to_owned(),
        failed_attempts,
        payload: payload.to_vec(),
    })
}

/// How long after its `failed_attempts`-th failure a timer is tried again.
fn retry_delay(failed_attempts: u32) -> chrono::Duration {
    let doublings = failed_attempts.saturating_sub(1).min(MAX_RETRY_DOUBLINGS);
    chrono::Duration::seconds(TIMER_RETRY_BASE_SECONDS.saturating_mul(1i64 << doublings))
}

impl Services {
    /// Runs every platform's due timers by its own clock: the scheduler's round on the
    /// system clock. Platforms are found one seek each, a page at a time.
    pub async fn run_due_work(&self) -> Result<usize, ServiceError> {
        let mut handled = 0usize;
        let mut after: Option<String> = None;
        loop {
            let owners = self
                .store
                .timer_platforms(after.as_deref(), MAX_SCAN_ITEMS)?;
            let Some(last) = owners.last().cloned() else {
                return Ok(handled);
            };
            for owner in &owners {
                // A platform's timers run on its clock; timers under anything else (the
                // server's own) on wall time.
                let now = match PlatformId::parse(owner) {
                    Ok(platform) => self.clock.now(&platform),
                    Err(_) => Utc::now(),
                };
                handled = handled.saturating_add(self.run_due_work_of(owner, now).await?);
            }
            after = Some(last);
        }
    }

    /// Runs one platform's timers due at `now`, oldest first, until none is left. A timer
    /// that fails is retried later or set aside, so it never holds up the others; the
    /// only error returned is the store failing to record that.
    ///
    /// Work may arm timers due before the rest of the batch read (a payout run arms the next
    /// day's run): after each piece of work other than a release the due timers are read
    /// again, so the next day's run comes before funds released after it.
    pub async fn run_due_work_of(
        &self,
        platform: &str,
        now: DateTime<Utc>,
    ) -> Result<usize, ServiceError> {
        let mut handled = 0usize;
        // A timer whose work succeeded but left its key behind would come due again at
        // once; seen twice in one run, it counts as failed, so the loop always ends.
        let mut seen: HashSet<Key> = HashSet::new();
        'batches: loop {
            let due =
                self.store
                    .due_timers(platform, now.timestamp_micros(), MAX_TIMERS_PER_COMMIT)?;
            if due.is_empty() {
                return Ok(handled);
            }
            let mut releases: Vec<DueTimer> = Vec::new();
            for (key, payload) in due {
                let Some(timer) = parse_timer(&key, &payload) else {
                    self.park_unreadable_timer(&key, payload, now).await?;
                    continue;
                };
                if !seen.insert(key) {
                    let error = ServiceError::internal("timer", "its work left the timer in place");
                    self.timer_failed(&timer, now, &error).await?;
                    continue;
                }
                handled = handled.saturating_add(1);
                if timer.kind == TIMER_RELEASE {
                    releases.push(timer);
                    continue;
                }
                // Releases due earlier land before any later work reads the balances.
                self.run_releases(std::mem::take(&mut releases), now)
                    .await?;
                if let Err(error) = self.run_timer(&timer).await {
                    self.timer_failed(&timer, now, &error).await?;
                }
                continue 'batches;
            }
            self.run_releases(releases, now).await?;
        }
    }

    /// One timer's work, by its kind.
    async fn run_timer(&self, timer: &DueTimer) -> Result<(), ServiceError> {
        let platform = timer.platform.as_str();
        let key = timer.key.clone();
        let payload = timer.payload.as_slice();
        match timer.kind.as_str() {
            TIMER_RELEASE => {
                self.release_funds(platform, std::slice::from_ref(timer))
                    .await
            }
            TIMER_REQUIREMENTS_DEADLINE => {
                self.enforce_requirements_deadline(platform, &key, payload)
                    .await
            }
            TIMER_PAYOUT_RUN => self.run_payouts(platform, key, payload).await,
            TIMER_PAYOUT_ACCOUNT => self.pay_out_account(platform, key, payload).await,
            TIMER_PAYOUT_SUBMISSION => self.submit_payout(platform, key, payload).await,
            TIMER_PAYOUT_ARRIVAL => self.arrive_payout(platform, key, payload).await,
            TIMER_AUTHORIZATION_EXPIRY => self.expire_authorization(platform, key, payload).await,
            TIMER_DISPUTE_DEADLINE => self.dispute_deadline(platform, key, payload).await,
            TIMER_IDEMPOTENCY_EXPIRY => self.expire_idempotency_key(platform, key, payload).await,
            TIMER_WEBHOOK_RETRY => self.webhook_retry_due(platform, key, payload).await,
            other => Err(ServiceError::internal(
                "timer",
                format!("unknown timer kind '{other}'"),
            )),
        }
    }

    /// Releases the due release timers of one platform together; when that fails, each
    /// alone, so one bad timer is retried by itself.
    async fn run_releases(
        &self,
        releases: Vec<DueTimer>,
        now: DateTime<Utc>,
    ) -> Result<(), ServiceError> {
        let Some(first) = releases.first() else {
            return Ok(());
        };
        match self.release_funds(&first.platform, &releases).await {
            Ok(()) => return Ok(()),
            Err(error) => {
                tracing::warn!(platform = %first.platform, %error, "releasing due funds together failed; releasing each alone");
            }
        }
        for timer in &releases {
            if let Err(error) = self.run_timer(timer).await {
                self.timer_failed(timer, now, &error).await?;
            }
        }
        Ok(())
    }

    /// Records a failed attempt: the timer comes due again after a backoff, or, after
    /// `MAX_TIMER_ATTEMPTS`, is set aside with a `timer.failed` event for its platform.
    async fn timer_failed(
        &self,
        timer: &DueTimer,
        now: DateTime<Utc>,
        error: &ServiceError,
    ) -> Result<(), ServiceError> {
        let failed_attempts = timer.failed_attempts.saturating_add(1);
        let platform = PlatformId::parse(&timer.platform).ok();
        let mut draft = match &platform {
            Some(platform) => Draft::new(platform, now),
            None => Draft::system(now),
        };
        draft.condition(
            Condition::Exists {
                key: timer.key.clone(),
            },
            ServiceError::already_handled("timer", "already handled"),
        );
        draft.delete(timer.key.clone());
        if failed_attempts >= MAX_TIMER_ATTEMPTS {
            tracing::error!(
                platform = %timer.platform,
                kind = %timer.kind,
                subject = %timer.subject,
                failed_attempts,
                %error,
                "a timer failed every attempt; set aside"
            );
            draft.raw(timer.key.parked(), timer.payload.clone());
            if platform.is_some() {
                // The event says which work stopped, never why: that detail is logged.
                let data = serde_json::json!({
                    "kind": timer.kind,
                    "subject": timer.subject,
                    "attempts": failed_attempts,
                });
                draft.event(&self.ids, TIMER_FAILED_EVENT, None, &data)?;
            }
        } else {
            let retry_at = now
                .checked_add_signed(retry_delay(failed_attempts))
                .unwrap_or(now);
            tracing::warn!(
                platform = %timer.platform,
                kind = %timer.kind,
                subject = %timer.subject,
                failed_attempts,
                %retry_at,
                %error,
                "a timer failed; it will be tried again"
            );
            draft.raw(
                Key::timer(
                    retry_at.timestamp_micros(),
                    &format!("{}{ATTEMPT_MARK}{failed_attempts}", timer.kind),
                    &timer.platform,
                    &timer.subject,
                ),
                timer.payload.clone(),
            );
        }
        self.commit_timer_bookkeeping(draft, platform.as_ref())
            .await
    }

    /// Sets aside a timer whose key cannot be read, so it never comes due again.
    async fn park_unreadable_timer(
        &self,
        key: &Key,
        payload: Vec<u8>,
        now: DateTime<Utc>,
    ) -> Result<(), ServiceError> {
        tracing::error!(key = %String::from_utf8_lossy(key.as_bytes()), "a timer key cannot be read; set aside");
        let mut draft = Draft::system(now);
        draft.condition(
            Condition::Exists { key: key.clone() },
            ServiceError::already_handled("timer", "already handled"),
        );
        draft.delete(key.clone());
        draft.raw(key.parked(), payload);
        self.commit_timer_bookkeeping(draft, None).await
    }

    async fn commit_timer_bookkeeping(
        &self,
        draft: Draft,
        platform: Option<&PlatformId>,
    ) -> Result<(), ServiceError> {
        match self.store.commit(draft.commit).await {
            Ok(_) => {
                if let Some(platform) = platform {
                    self.publish(platform, draft.published);
                }
                Ok(())
            }
            // Gone already: handled meanwhile.
            Err(StoreError::ConditionFailed { .. }) => Ok(()),
            Err(other) => Err(other.into()),
        }
    }

    /// Moves the net of each due balance transaction from pending to available. A timer
    /// another server released first is left out, and the rest are released without it.
    async fn release_funds(&self, platform: &str, timers: &[DueTimer]) -> Result<(), ServiceError> {
        let platform_id =
            PlatformId::parse(platform).map_err(|error| ServiceError::internal("timer", error))?;
        for _ in 0..MAX_COMMIT_ATTEMPTS {
            let Some(draft) = self.release_draft(&platform_id, timers)? else {
                return Ok(());
            };
            match self.store.commit(draft.commit).await {
                Ok(Applied::Committed) => {
                    self.publish(&platform_id, draft.published);
                    return Ok(());
                }
                Ok(Applied::Replayed { .. }) => return Ok(()),
                // Released meanwhile (by another server), or a balance transaction changed.
                Err(StoreError::ConditionFailed { .. } | StoreError::RevisionConflict { .. }) => {}
                Err(other) => return Err(other.into()),
            }
        }
        Err(ServiceError::internal(
            "release",
            "gave up after repeated conflicts",
        ))
    }

    /// The release of the timers still waiting, or `None` when none is.
    fn release_draft(
        &self,
        platform_id: &PlatformId,
        timers: &[DueTimer],
    ) -> Result<Option<Draft>, ServiceError> {
        let platform = platform_id.as_ref();
        let now = self.clock.now(platform_id);
        let mut draft = Draft::new(platform_id, now);
        let mut released: BTreeMap<Holder, BTreeMap<Currency, i64>> = BTreeMap::new();
        let mut waiting = 0usize;
        for timer in timers {
            if self.store.get_raw(&timer.key)?.is_none() {
                continue;
            }
            waiting += 1;
            let release: ReleaseTimer = crate::store::from_payload(&timer.payload)?;
            draft.condition(
                Condition::Exists {
                    key: timer.key.clone(),
                },
                ServiceError::already_handled("release", "already released"),
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
                        platform_id,
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
        Ok((waiting > 0).then_some(draft))
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

#[cfg(test)]
mod tests {
    use super::*;
    use crate::store::Keyspace;

    fn parsed(rest: &str) -> Option<(String, String, String, u32)> {
        let key = Key::new(Keyspace::Timer, rest);
        parse_timer(&key, b"{}").map(|timer| {
            (
                timer.platform,
                timer.kind,
                timer.subject,
                timer.failed_attempts,
            )
        })
    }

    #[test]
    fn timer_keys_parse_with_their_attempts_and_unreadable_ones_do_not() {
        let owned = |platform: &str, kind: &str, subject: &str, attempts| {
            Some((platform.into(), kind.into(), subject.into(), attempts))
        };
        let cases = [
            (
                "plat_a/0000000000000005/release/ent_1/5",
                owned("plat_a", "release", "ent_1/5", 0),
            ),
            (
                "plat_a/0000000000000005/payout_run#3/run~acct_1",
                owned("plat_a", "payout_run", "run~acct_1", 3),
            ),
            // A subject is any text (an idempotency key, say), '#' and '/' included.
            (
                "plat_a/0000000000000005/idempotency_expiry/a/b#c",
                owned("plat_a", "idempotency_expiry", "a/b#c", 0),
            ),
            ("plat_a/0000000000000005", None),
            ("plat_a/0000000000000005//x", None),
            ("plat_a/0000000000000005/#2/x", None),
            ("plat_a/00000005/release/x", None),
            ("plat_a/zzzzzzzzzzzzzzzz/release/x", None),
            ("plat_a/0000000000000005/release#many/x", None),
        ];
        for (rest, expected) in cases {
            assert_eq!(parsed(rest), expected, "{rest}");
        }
    }

    #[test]
    fn retries_wait_twice_as_long_each_time() {
        let waits: Vec<i64> = (1..=MAX_TIMER_ATTEMPTS)
            .map(|attempts| retry_delay(attempts).num_seconds())
            .collect();
        assert_eq!(waits, vec![60, 120, 240, 480, 960]);
    }
}
