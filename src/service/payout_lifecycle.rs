//! A standard payout's way to the bank, on the clock: PENDING until the next day's bank batch
//! (then IN_TRANSIT, or FAILED when the destination refuses it), PAID at its arrival date; and
//! the money of a failed or canceled payout coming back.
//!
//! Each transition happens at its timer's due time, not at the time the scheduler gets to it,
//! so a long `advanceClock` gives the same history as waiting. A failure returns the whole
//! amount with a PAYOUT_FAILURE balance transaction and marks the destination ERRORED, so
//! automatic payouts skip it until another external account becomes the default.

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

use super::idempotency;
use super::{Draft, ServiceError, Services};
use crate::domain::account_record::AccountRecord;
use crate::domain::bank_accounts::PayoutFailure;
use crate::domain::external_account_records::ExternalAccount;
use crate::domain::external_accounts::ExternalAccountStatus;
use crate::domain::payouts::{Payout, PayoutStatus};
use crate::ids::PlatformId;
use crate::ledger::payout_flows::{payout_return_lines, PayoutReturn};
use crate::ledger::{EntryBuilder, EntryKind, Holder};
use crate::store::{to_payload, Condition, Key, Versioned};

/// The timer that hands a PENDING payout to the bank.
pub const TIMER_PAYOUT_SUBMISSION: &str = "payout_submission";
/// The timer that marks an IN_TRANSIT payout PAID.
pub const TIMER_PAYOUT_ARRIVAL: &str = "payout_arrival";

/// A payout timer's payload.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct PayoutTimer {
    pub payout: String,
    /// When the transition happens (the timer's due time).
    pub due: DateTime<Utc>,
}

/// How a payout's money comes back.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Outcome {
    Failed(PayoutFailure),
    Canceled,
}

/// Whose balance paid a payout.
pub fn payout_holder(payout: &Payout, platform: &PlatformId) -> Holder {
    match &payout.account {
        Some(account) => Holder::Account(account.clone()),
        None => Holder::Platform(platform.clone()),
    }
}

fn status_indexes(holder: &Holder, status: PayoutStatus) -> [String; 2] {
    [
        format!("payouts_status:{}", status.as_str()),
        format!("payouts_holder_status:{holder}:{}", status.as_str()),
    ]
}

/// The indexes a payout is listed under: all, by holder, by status, by holder and status.
pub fn payout_indexes(holder: &Holder, status: PayoutStatus) -> Vec<String> {
    let mut indexes = vec!["payouts".to_owned(), format!("payouts_holder:{holder}")];
    indexes.extend(status_indexes(holder, status));
    indexes
}

fn timer_keys(platform_key: &str, payout: &Payout) -> [(Key, DateTime<Utc>); 2] {
    let submission = payout.submission_time();
    [
        (
            Key::timer(
                submission.timestamp_micros(),
                TIMER_PAYOUT_SUBMISSION,
                platform_key,
                payout.id.as_ref(),
            ),
            submission,
        ),
        (
            Key::timer(
                payout.arrival_date.timestamp_micros(),
                TIMER_PAYOUT_ARRIVAL,
                platform_key,
                payout.id.as_ref(),
            ),
            payout.arrival_date,
        ),
    ]
}

/// The submission and arrival timers of a new PENDING payout.
pub(super) fn arm_payout_timers(
    draft: &mut Draft,
    platform_key: &str,
    payout: &Payout,
) -> Result<(), ServiceError> {
    for (key, due) in timer_keys(platform_key, payout) {
        let timer = PayoutTimer {
            payout: payout.id.to_string(),
            due,
        };
        draft.raw(key, to_payload(&timer)?);
    }
    Ok(())
}

/// Moves a payout to `to`, keeping its status indexes right.
fn change_status(draft: &mut Draft, platform: &PlatformId, payout: &mut Payout, to: PayoutStatus) {
    let from = payout.status;
    payout.status = to;
    reindex_status(draft, platform, payout, from);
}

/// Moves a payout's status index entries from `from` to its current status.
fn reindex_status(draft: &mut Draft, platform: &PlatformId, payout: &Payout, from: PayoutStatus) {
    let holder = payout_holder(payout, platform);
    for index in status_indexes(&holder, from) {
        draft.delete(Key::index(platform.as_ref(), &index, payout.id.as_ref()));
    }
    for index in status_indexes(&holder, payout.status) {
        draft.index(&index, payout.id.as_ref());
    }
}

/// Sets an external account's status with its event; false when nothing changed.
pub(super) fn set_destination_status(
    services: &Services,
    draft: &mut Draft,
    account: &mut AccountRecord,
    destination: &str,
    status: ExternalAccountStatus,
) -> Result<bool, ServiceError> {
    let Some(before) = account.external_account(destination) else {
        return Ok(false);
    };
    if before.status() == status {
        return Ok(false);
    }
    let before = serde_json::to_value(before.public_view())
        .map_err(|error| ServiceError::internal("external account", error))?;
    account.set_external_account_status(destination, status);
    if let Some(external) = account.external_account(destination) {
        let after = serde_json::to_value(external.public_view())
            .map_err(|error| ServiceError::internal("external account", error))?;
        draft.event_update(
            &services.ids,
            "account.external_account.updated",
            Some(account.id()),
            &before,
            &after,
        )?;
    }
    Ok(true)
}

fn parse_platform(platform: &str) -> Result<PlatformId, ServiceError> {
    PlatformId::parse(platform).map_err(|error| ServiceError::internal("payout timer", error))
}

impl Services {
    /// Brings a payout's amount back (failed at the bank, or canceled while PENDING).
    pub(super) fn return_payout(
        &self,
        draft: &mut Draft,
        platform: &PlatformId,
        found: Versioned<Payout>,
        outcome: Outcome,
    ) -> Result<(), ServiceError> {
        let mut payout = found.value;
        let from = payout.status;
        let (reason, event) = match outcome {
            Outcome::Canceled => {
                payout
                    .cancel()
                    .map_err(|error| ServiceError::invalid("input.payout", error.to_string()))?;
                (PayoutReturn::Cancel, "payout.canceled")
            }
            Outcome::Failed(failure) => {
                payout.status = PayoutStatus::Failed;
                payout.failure_code = Some(failure.code().to_owned());
                payout.failure_message = Some(failure.message().to_owned());
                (PayoutReturn::Failure, "payout.failed")
            }
        };
        for (key, _) in timer_keys(platform.as_ref(), &payout) {
            draft.delete(key);
        }
        let holder = payout_holder(&payout, platform);
        let mut entry = EntryBuilder::new(
            &self.ids,
            platform,
            EntryKind::Payout,
            payout.id.as_ref(),
            draft.now(),
        );
        let line = payout_return_lines(
            &mut entry,
            &holder,
            payout.id.as_ref(),
            payout.currency,
            payout.amount,
            reason,
            payout.failure_message.clone(),
        )
        .map_err(|error| ServiceError::internal("payout return", error))?;
        draft.entry(
            entry
                .build()
                .map_err(|error| ServiceError::internal("payout return", error))?,
        )?;
        payout.return_balance_transaction = Some(line);
        reindex_status(draft, platform, &payout, from);
        draft.update(payout.id.as_ref(), &payout, found.revision)?;
        draft.event(
            &self.ids,
            event,
            payout.account.as_ref(),
            &payout.public_view(),
        )?;
        if matches!(outcome, Outcome::Failed(_)) {
            self.update_destination(draft, platform, &payout, ExternalAccountStatus::Errored)?;
        }
        Ok(())
    }

    /// Records a payout's outcome on its destination (a connected account's external account).
    fn update_destination(
        &self,
        draft: &mut Draft,
        platform: &PlatformId,
        payout: &Payout,
        status: ExternalAccountStatus,
    ) -> Result<(), ServiceError> {
        let Some(account_id) = &payout.account else {
            return Ok(());
        };
        let Some(found) = self
            .store
            .get_object::<AccountRecord>(platform.as_ref(), account_id.as_ref())?
        else {
            return Ok(());
        };
        let mut account = found.value;
        if set_destination_status(self, draft, &mut account, payout.destination.id(), status)? {
            draft.update(account_id.as_ref(), &account, found.revision)?;
        }
        Ok(())
    }

    /// A due submission timer: the bank takes the payout (IN_TRANSIT) or refuses it (FAILED).
    pub(super) async fn submit_payout(
        &self,
        platform: &str,
        key: Key,
        payload: &[u8],
    ) -> Result<(), ServiceError> {
        self.on_payout_timer(platform, key, payload, |draft, platform_id, found| {
            if found.value.status != PayoutStatus::Pending {
                return Ok(());
            }
            let failure = match &found.value.destination {
                ExternalAccount::BankAccount(bank) => bank.payout_failure(),
                ExternalAccount::DebitCard(_) => None,
            };
            if let Some(failure) = failure {
                return self.return_payout(draft, platform_id, found, Outcome::Failed(failure));
            }
            let before = found.value.clone();
            let mut payout = found.value;
            change_status(draft, platform_id, &mut payout, PayoutStatus::InTransit);
            draft.update(payout.id.as_ref(), &payout, found.revision)?;
            draft.event_update(
                &self.ids,
                "payout.updated",
                payout.account.as_ref(),
                &before.public_view(),
                &payout.public_view(),
            )
        })
        .await
    }

    /// A due arrival timer: an IN_TRANSIT payout is PAID and its destination VERIFIED.
    pub(super) async fn arrive_payout(
        &self,
        platform: &str,
        key: Key,
        payload: &[u8],
    ) -> Result<(), ServiceError> {
        self.on_payout_timer(platform, key, payload, |draft, platform_id, found| {
            if found.value.status != PayoutStatus::InTransit {
                return Ok(());
            }
            let mut payout = found.value;
            change_status(draft, platform_id, &mut payout, PayoutStatus::Paid);
            draft.update(payout.id.as_ref(), &payout, found.revision)?;
            draft.event(
                &self.ids,
                "payout.paid",
                payout.account.as_ref(),
                &payout.public_view(),
            )?;
            let status = payout.destination.status().after_payout_paid();
            self.update_destination(draft, platform_id, &payout, status)
        })
        .await
    }

    /// Runs a payout timer once: removes it and applies `transition` at the timer's due time.
    async fn on_payout_timer(
        &self,
        platform: &str,
        key: Key,
        payload: &[u8],
        transition: impl Fn(&mut Draft, &PlatformId, Versioned<Payout>) -> Result<(), ServiceError>,
    ) -> Result<(), ServiceError> {
        let platform_id = parse_platform(platform)?;
        let timer: PayoutTimer = crate::store::from_payload(payload)?;
        idempotency::apply(self, || {
            let mut draft = Draft::new(&platform_id, timer.due);
            draft.condition(
                Condition::Exists { key: key.clone() },
                ServiceError::already_handled("payout timer", "already handled"),
            );
            draft.delete(key.clone());
            if let Some(found) = self.store.get_object::<Payout>(platform, &timer.payout)? {
                transition(&mut draft, &platform_id, found)?;
            }
            Ok(Some(draft))
        })
        .await
    }
}
