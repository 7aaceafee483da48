//! Automatic payouts: one payout run per platform per day, on the clock.
//!
//! Mechanism: a daily sweep timer per platform (kind `payout_run`), due at 23:59:59 UTC, after
//! every release due that day. It is armed when the platform's first account is created (each
//! account creation writes the same key again, which changes nothing) and re-arms itself for
//! the next day. A run reads the platform's accounts a page at a time (a full page re-arms the
//! run for the same time after the page's last account), and pays out every account whose
//! schedule makes that date a payout day (`calendar::is_payout_day`; MANUAL never): per
//! currency, the whole available balance less what the delay still holds, to the currency's
//! default external account unless it is ERRORED. Schedule changes need no timer work: each
//! run reads the schedule as it is that day. The platform's own balance is paid out only by
//! `createPayout`.
//!
//! Delay: funds of a balance transaction created on date D are paid out on the first payout
//! day on or after `add_delay(D, delayDays, country)` (business days for US, JP, AU…, calendar
//! days for GB, the EU, CA…; the table in `countries`). Availability itself stays the
//! gateway's (2 days, plus a policy's hold), so a run holds back the available funds whose delay
//! has not passed: it reads the account's balance transactions newest first until one is old
//! enough, summing the positive available ones; it reads as many pages as that takes, since
//! stopping short would pay held funds early.
//! A run's page arms one timer per account it may pay (kind `payout_account`), in the commit
//! that deletes the page's timer; each account's payouts are then that timer's one commit:
//! the timer must still exist and goes, with a `BalanceAtLeast` condition per currency. So
//! however many servers find a run due at once, each account is paid out once. When a manual
//! payout got there first, the account's timer reads the balance again and pays what is left.

use chrono::NaiveDate;
use serde::{Deserialize, Serialize};

use super::idempotency::{self, MAX_COMMIT_ATTEMPTS};
use super::{holder_index, Caller, Draft, ServiceError, Services};
use crate::domain::account_record::AccountRecord;
use crate::domain::accounts::{AccountType, NewAccount};
use crate::domain::balance_transactions::{BalanceTransaction, BalanceTransactionStatus};
use crate::domain::calendar::{add_calendar_days, add_delay, is_payout_day, Weekday};
use crate::domain::countries::Country;
use crate::domain::payout_schedule::{
    PayoutInterval, PayoutSchedule, PayoutScheduleError, PayoutScheduleInput,
};
use crate::domain::payouts::{
    next_payout_run_date, payout_run_time, standard_arrival_time, Payout, PayoutMethod,
    PayoutStatus,
};
use crate::domain::permissions::permissions_of;
use crate::ids::{AccountId, PayoutId, PlatformId};
use crate::ledger::payout_flows::PayoutMovement;
use crate::ledger::{BalanceTransactionType, Bucket, Holder, LedgerAccount};
use crate::money::{Currency, MinorUnits};
use crate::policy::{self, AccountFacts};
use crate::store::{to_payload, Applied, Condition, Key, StoreError};

/// The timer of a platform's daily payout run.
pub const TIMER_PAYOUT_RUN: &str = "payout_run";
/// The timer of one account's automatic payouts on a payout day, armed by its platform's run.
pub const TIMER_PAYOUT_ACCOUNT: &str = "payout_account";
/// Accounts one payout-run timer reads; a full page continues in another timer.
pub const MAX_ACCOUNTS_PER_PAYOUT_RUN: usize = 100;
/// Balance transactions read per index page while looking.
const DELAY_SCAN_PAGE: usize = 100;

/// A payout-run timer's payload: the payout day, and the last account already handled.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct PayoutRunTimer {
    pub date: NaiveDate,
    pub after: Option<String>,
}

/// An account timer's payload: the payout day and the account.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct AccountPayoutTimer {
    pub date: NaiveDate,
    pub account: AccountId,
}

fn account_timer_key(platform_key: &str, timer: &AccountPayoutTimer) -> Key {
    Key::timer(
        payout_run_time(timer.date).timestamp_micros(),
        TIMER_PAYOUT_ACCOUNT,
        platform_key,
        timer.account.as_ref(),
    )
}

fn run_timer_key(platform_key: &str, timer: &PayoutRunTimer) -> Key {
    let subject = match &timer.after {
        None => "run".to_owned(),
        Some(after) => format!("run~{after}"),
    };
    Key::timer(
        payout_run_time(timer.date).timestamp_micros(),
        TIMER_PAYOUT_RUN,
        platform_key,
        &subject,
    )
}

/// Arms the platform's next payout run (today's unless it has passed). Idempotent.
pub(super) fn arm_payout_run(
    draft: &mut Draft,
    platform_key: &str,
    now: chrono::DateTime<chrono::Utc>,
) -> Result<(), ServiceError> {
    let timer = PayoutRunTimer {
        date: next_payout_run_date(now),
        after: None,
    };
    draft.raw(run_timer_key(platform_key, &timer), to_payload(&timer)?);
    Ok(())
}

fn chrono_weekday(weekday: chrono::Weekday) -> Weekday {
    match weekday {
        chrono::Weekday::Mon => Weekday::Monday,
        chrono::Weekday::Tue => Weekday::Tuesday,
        chrono::Weekday::Wed => Weekday::Wednesday,
        chrono::Weekday::Thu => Weekday::Thursday,
        chrono::Weekday::Fri => Weekday::Friday,
        chrono::Weekday::Sat => Weekday::Saturday,
        chrono::Weekday::Sun => Weekday::Sunday,
    }
}

/// A policy's schedule for an account in `country`; a delay below the country's minimum is
/// raised to it.
fn schedule_from_policy(
    schedule: policy::PayoutSchedule,
    country: Country,
) -> Result<PayoutSchedule, PayoutScheduleError> {
    let (interval, weekly_anchor, monthly_anchor) = match schedule.interval {
        policy::PayoutInterval::Manual => (PayoutInterval::Manual, None, None),
        policy::PayoutInterval::Daily => (PayoutInterval::Daily, None, None),
        policy::PayoutInterval::Weekly { anchor } => {
            (PayoutInterval::Weekly, Some(chrono_weekday(anchor)), None)
        }
        policy::PayoutInterval::Monthly { anchor_day } => {
            (PayoutInterval::Monthly, None, Some(i64::from(anchor_day)))
        }
    };
    let delay_days =
        i64::from(schedule.delay_days).max(i64::from(country.minimum_payout_delay_days()));
    PayoutSchedule::parse(
        PayoutScheduleInput {
            interval,
            delay_days: Some(delay_days),
            weekly_anchor,
            monthly_anchor,
        },
        country,
    )
}

fn policy_account_type(account_type: AccountType) -> policy::AccountType {
    match account_type {
        AccountType::Standard => policy::AccountType::Standard,
        AccountType::Express => policy::AccountType::Express,
        AccountType::Custom => policy::AccountType::Custom,
    }
}

impl Services {
    /// A new account's schedule: the platform policy's `payout_schedule` hook for the account
    /// types whose schedule the platform sets (EXPRESS, CUSTOM), else the country's default.
    pub(super) async fn policy_payout_schedule(
        &self,
        caller: &Caller,
        id: &AccountId,
        account: &NewAccount,
    ) -> Result<PayoutSchedule, ServiceError> {
        let country = account.country();
        if !permissions_of(account.account_type()).platform_sets_payout_schedule {
            return Ok(PayoutSchedule::default_for(country));
        }
        let facts = AccountFacts {
            id: id.to_string(),
            account_type: policy_account_type(account.account_type()),
            country: country.code().to_owned(),
            default_currency: account.default_currency(),
            metadata: account.metadata().as_map().clone(),
        };
        let policy_name = caller.platform.policy.clone();
        let decided = self
            .policies
            .run(&caller.platform_key(), move |policies| {
                policies.policy(&policy_name)?.payout_schedule(&facts)
            })
            .await?;
        match decided {
            None => Ok(PayoutSchedule::default_for(country)),
            Some(schedule) => {
                schedule_from_policy(schedule, country).map_err(|error| ServiceError::Policy {
                    message: format!(
                        "payout_schedule returned a schedule that cannot be used: {error}"
                    ),
                    policy: format!("{}.rhai", caller.platform.policy),
                    hook: "payout_schedule".to_owned(),
                    line: None,
                    column: None,
                })
            }
        }
    }

    /// A due payout-run timer: arms the payouts of one page of the platform's accounts,
    /// then re-arms itself for the next page or the next day, in one commit.
    pub(super) async fn run_payouts(
        &self,
        platform: &str,
        key: Key,
        payload: &[u8],
    ) -> Result<(), ServiceError> {
        let platform_id = PlatformId::parse(platform)
            .map_err(|error| ServiceError::internal("payout run", error))?;
        let timer: PayoutRunTimer = crate::store::from_payload(payload)?;
        let ids = self.store.scan_index(
            platform,
            "accounts",
            timer.after.as_deref(),
            MAX_ACCOUNTS_PER_PAYOUT_RUN,
        )?;
        let mut due = Vec::new();
        for id in &ids {
            let account = AccountId::parse(id)
                .map_err(|error| ServiceError::internal("payout run", error))?;
            let Some(found) = self
                .store
                .get_object::<AccountRecord>(platform, account.as_ref())?
            else {
                continue;
            };
            let record = found.value;
            if record.payouts_enabled()
                && is_payout_day(record.payout_schedule(), timer.date, record.country())
            {
                due.push(AccountPayoutTimer {
                    date: timer.date,
                    account,
                });
            }
        }
        let next = match ids.last() {
            Some(last) if ids.len() == MAX_ACCOUNTS_PER_PAYOUT_RUN => PayoutRunTimer {
                date: timer.date,
                after: Some(last.clone()),
            },
            _ => PayoutRunTimer {
                date: add_calendar_days(timer.date, 1),
                after: None,
            },
        };
        idempotency::apply(self, || {
            let mut draft = Draft::new(&platform_id, payout_run_time(timer.date));
            draft.condition(
                Condition::Exists { key: key.clone() },
                ServiceError::already_handled("payout run", "already handled"),
            );
            draft.delete(key.clone());
            for account in &due {
                draft.raw(account_timer_key(platform, account), to_payload(account)?);
            }
            draft.raw(run_timer_key(platform, &next), to_payload(&next)?);
            Ok(Some(draft))
        })
        .await
    }

    /// A due account timer: makes the account's automatic payouts for its day, reading the
    /// balance again when a concurrent payout changed it first.
    pub(super) async fn pay_out_account(
        &self,
        platform: &str,
        key: Key,
        payload: &[u8],
    ) -> Result<(), ServiceError> {
        let platform_id = PlatformId::parse(platform)
            .map_err(|error| ServiceError::internal("payout run", error))?;
        let timer: AccountPayoutTimer = crate::store::from_payload(payload)?;
        for _ in 0..MAX_COMMIT_ATTEMPTS {
            let mut draft = Draft::new(&platform_id, payout_run_time(timer.date));
            // The first condition: gone means another server paid this account out.
            draft.condition(
                Condition::Exists { key: key.clone() },
                ServiceError::already_handled("payout run", "already handled"),
            );
            draft.delete(key.clone());
            self.automatic_payouts(&mut draft, &platform_id, &timer.account, timer.date)?;
            match self.store.commit(draft.commit).await {
                Ok(Applied::Committed) => {
                    self.publish(&platform_id, draft.published);
                    return Ok(());
                }
                Ok(Applied::Replayed { .. })
                | Err(StoreError::ConditionFailed { index: 0, .. }) => return Ok(()),
                Err(StoreError::ConditionFailed { .. } | StoreError::RevisionConflict { .. }) => {
                    continue
                }
                Err(other) => return Err(other.into()),
            }
        }
        tracing::warn!(account = %timer.account, date = %timer.date, "automatic payouts kept conflicting; skipped for the day");
        idempotency::apply(self, || {
            let mut draft = Draft::new(&platform_id, payout_run_time(timer.date));
            draft.condition(
                Condition::Exists { key: key.clone() },
                ServiceError::already_handled("payout run", "already handled"),
            );
            draft.delete(key.clone());
            Ok(Some(draft))
        })
        .await
    }

    /// Adds an account's automatic payouts on `date` to `draft`, if it has any.
    fn automatic_payouts(
        &self,
        draft: &mut Draft,
        platform: &PlatformId,
        account_id: &AccountId,
        date: NaiveDate,
    ) -> Result<(), ServiceError> {
        let Some(found) = self
            .store
            .get_object::<AccountRecord>(platform.as_ref(), account_id.as_ref())?
        else {
            return Ok(());
        };
        let account = found.value;
        let schedule = account.payout_schedule();
        if !account.payouts_enabled()
            || !is_payout_day(schedule, date, account.country())
            || self.account_balance_is_negative(account_id)?
        {
            return Ok(());
        }
        let run_at = payout_run_time(date);
        let holder = Holder::Account(account_id.clone());
        for (ledger_account, available) in self.store.balances_of(&holder)? {
            let currency = ledger_account.currency;
            if ledger_account.bucket != Bucket::Available || available <= 0 {
                continue;
            }
            let Some(destination) = account.automatic_payout_destination(currency) else {
                continue;
            };
            let held = self.held_for_delay(platform, &holder, currency, date, &account)?;
            let Ok(amount) = MinorUnits::new(available.saturating_sub(held)) else {
                continue;
            };
            if amount.get() <= 0 {
                continue;
            }
            draft.condition(
                Condition::BalanceAtLeast {
                    account: LedgerAccount::new(holder.clone(), currency, Bucket::Available),
                    minimum_minor: amount.get(),
                },
                ServiceError::insufficient_funds("the balance changed during the payout run"),
            );
            let id: PayoutId = self.ids.next();
            let movement = PayoutMovement {
                holder: holder.clone(),
                platform: platform.clone(),
                payout_id: id.to_string(),
                currency,
                amount,
                gateway_fee: MinorUnits::ZERO,
                platform_fee: MinorUnits::ZERO,
                description: None,
            };
            let payout = Payout {
                id,
                account: Some(account_id.clone()),
                currency,
                amount,
                fee: MinorUnits::ZERO,
                fee_details: Vec::new(),
                method: PayoutMethod::Standard,
                status: PayoutStatus::Pending,
                automatic: true,
                arrival_date: standard_arrival_time(run_at),
                destination: destination.clone(),
                failure_code: None,
                failure_message: None,
                balance_transaction: None,
                return_balance_transaction: None,
                description: None,
                created: run_at,
            };
            self.draft_payout(draft, platform, payout, &movement)?;
        }
        Ok(())
    }

    /// What the schedule's delay still holds of the available balance on `date`: the positive
    /// available balance transactions in `currency` whose delay has not passed.
    fn held_for_delay(
        &self,
        platform: &PlatformId,
        holder: &Holder,
        currency: Currency,
        date: NaiveDate,
        account: &AccountRecord,
    ) -> Result<i64, ServiceError> {
        let delay_days = account.payout_schedule().delay_days();
        let index = holder_index(holder);
        let mut cursor: Option<String> = None;
        let mut held = 0i64;
        loop {
            let ids = self.store.scan_index(
                platform.as_ref(),
                &index,
                cursor.as_deref(),
                DELAY_SCAN_PAGE,
            )?;
            if ids.is_empty() {
                break;
            }
            for id in ids {
                let Some(found) = self
                    .store
                    .get_object::<BalanceTransaction>(platform.as_ref(), &id)?
                else {
                    cursor = Some(id);
                    continue;
                };
                cursor = Some(id);
                let transaction = found.value;
                // Newest first: once one is old enough, every older one is too.
                if add_delay(
                    transaction.created.date_naive(),
                    delay_days,
                    account.country(),
                ) <= date
                {
                    return Ok(held);
                }
                let payout_money = matches!(
                    transaction.transaction_type,
                    BalanceTransactionType::Payout
                        | BalanceTransactionType::PayoutFailure
                        | BalanceTransactionType::PayoutCancel
                );
                if transaction.currency == currency
                    && transaction.status == BalanceTransactionStatus::Available
                    && transaction.net.get() > 0
                    && !payout_money
                {
                    held = held.checked_add(transaction.net.get()).ok_or_else(|| {
                        ServiceError::internal("payout run", "held funds overflow")
                    })?;
                }
            }
        }
        Ok(held)
    }
}
