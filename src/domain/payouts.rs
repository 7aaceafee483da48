//! Payouts (`po_…`): money leaving a balance for a bank account or debit card, its status path,
//! and the times of day the scheduler works at.
//!
//! Status path: a STANDARD payout is PENDING until the bank batch of the next day starts
//! (00:00 UTC after its creation), when it goes IN_TRANSIT, or FAILED when the destination
//! refuses it (the failing test bank numbers); it is PAID at 00:00 UTC of its arrival date, two
//! business days after the day it was made. Only a PENDING payout can be CANCELED. An INSTANT
//! payout is PAID when it is made.
//!
//! Automatic payouts are made by the day's payout run at 23:59:59 UTC, after every release due
//! that day, so funds that become available on a payout day are paid out that same day.

use chrono::{DateTime, NaiveDate, NaiveTime, TimeDelta, Utc};
use serde::{Deserialize, Serialize};

use crate::domain::calendar::{add_calendar_days, standard_arrival_date};
use crate::domain::external_account_records::{ExternalAccount, ExternalAccountView};
use crate::ids::{AccountId, BalanceTransactionId, PayoutId};
use crate::ledger::FeeDetail;
use crate::money::{Currency, MinorUnits, Money};

/// Seconds after midnight UTC at which a payout day's automatic payouts are made.
pub const PAYOUT_RUN_SECONDS_AFTER_MIDNIGHT: u32 = 86_399;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "SCREAMING_SNAKE_CASE")]
pub enum PayoutMethod {
    Standard,
    Instant,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "SCREAMING_SNAKE_CASE")]
pub enum PayoutStatus {
    Pending,
    InTransit,
    Paid,
    Failed,
    Canceled,
}

impl PayoutStatus {
    pub fn as_str(self) -> &'static str {
        match self {
            PayoutStatus::Pending => "PENDING",
            PayoutStatus::InTransit => "IN_TRANSIT",
            PayoutStatus::Paid => "PAID",
            PayoutStatus::Failed => "FAILED",
            PayoutStatus::Canceled => "CANCELED",
        }
    }
}

/// Why a payout cannot move as asked.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum PayoutTransitionError {
    #[error("only a PENDING payout can be canceled; {payout} is {status}", status = .status.as_str())]
    NotPending {
        payout: PayoutId,
        status: PayoutStatus,
    },
}

/// A payout as stored.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Payout {
    pub id: PayoutId,
    /// The connected account paid out; `None` for the platform's own balance.
    pub account: Option<AccountId>,
    pub currency: Currency,
    /// What reaches the destination.
    pub amount: MinorUnits,
    /// Instant payout fees, taken from the balance on top of the amount.
    pub fee: MinorUnits,
    pub fee_details: Vec<FeeDetail>,
    pub method: PayoutMethod,
    pub status: PayoutStatus,
    /// True when the payout schedule made it.
    pub automatic: bool,
    pub arrival_date: DateTime<Utc>,
    /// The destination as it was when the payout was made.
    pub destination: ExternalAccount,
    pub failure_code: Option<String>,
    pub failure_message: Option<String>,
    pub balance_transaction: Option<BalanceTransactionId>,
    /// The PAYOUT_FAILURE or PAYOUT_CANCEL balance transaction that returned the money.
    pub return_balance_transaction: Option<BalanceTransactionId>,
    pub description: Option<String>,
    pub created: DateTime<Utc>,
}

impl Payout {
    pub fn money(&self, amount: MinorUnits) -> Money {
        Money::new(amount, self.currency)
    }

    /// When a PENDING standard payout is handed to the bank: the start of the next day.
    pub fn submission_time(&self) -> DateTime<Utc> {
        start_of_day(add_calendar_days(self.created.date_naive(), 1))
    }

    /// The payout as event data shows it (the destination without its number hash).
    pub fn public_view(&self) -> PayoutView<'_> {
        PayoutView {
            id: &self.id,
            account: self.account.as_ref(),
            currency: self.currency,
            amount: self.amount,
            fee: self.fee,
            method: self.method,
            status: self.status,
            automatic: self.automatic,
            arrival_date: self.arrival_date,
            destination: self.destination.public_view(),
            failure_code: self.failure_code.as_deref(),
            failure_message: self.failure_message.as_deref(),
            description: self.description.as_deref(),
            created: self.created,
        }
    }

    /// Marks a PENDING payout canceled.
    pub fn cancel(&mut self) -> Result<(), PayoutTransitionError> {
        if self.status != PayoutStatus::Pending {
            return Err(PayoutTransitionError::NotPending {
                payout: self.id.clone(),
                status: self.status,
            });
        }
        self.status = PayoutStatus::Canceled;
        Ok(())
    }
}

/// A payout as event data shows it.
#[derive(Debug, Clone, Serialize)]
pub struct PayoutView<'a> {
    pub id: &'a PayoutId,
    pub account: Option<&'a AccountId>,
    pub currency: Currency,
    pub amount: MinorUnits,
    pub fee: MinorUnits,
    pub method: PayoutMethod,
    pub status: PayoutStatus,
    pub automatic: bool,
    pub arrival_date: DateTime<Utc>,
    pub destination: ExternalAccountView<'a>,
    pub failure_code: Option<&'a str>,
    pub failure_message: Option<&'a str>,
    pub description: Option<&'a str>,
    pub created: DateTime<Utc>,
}

/// 00:00 UTC of `date`.
pub fn start_of_day(date: NaiveDate) -> DateTime<Utc> {
    date.and_time(NaiveTime::MIN).and_utc()
}

/// When a standard payout made at `created` is paid: 00:00 UTC of its arrival date.
pub fn standard_arrival_time(created: DateTime<Utc>) -> DateTime<Utc> {
    start_of_day(standard_arrival_date(created.date_naive()))
}

/// When the payout run of `date` happens.
pub fn payout_run_time(date: NaiveDate) -> DateTime<Utc> {
    start_of_day(date) + TimeDelta::seconds(i64::from(PAYOUT_RUN_SECONDS_AFTER_MIDNIGHT))
}

/// The first payout run at or after `now`: today's, unless it has passed.
pub fn next_payout_run_date(now: DateTime<Utc>) -> NaiveDate {
    let today = now.date_naive();
    if now <= payout_run_time(today) {
        today
    } else {
        add_calendar_days(today, 1)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn time(text: &str) -> DateTime<Utc> {
        DateTime::parse_from_rfc3339(text)
            .expect(text)
            .with_timezone(&Utc)
    }

    #[test]
    fn payout_runs_happen_at_the_end_of_the_day() {
        let date = time("2027-03-05T10:00:00Z").date_naive();
        assert_eq!(payout_run_time(date), time("2027-03-05T23:59:59Z"));
        // (now, the date of the next run)
        let cases = [
            ("2027-03-05T10:00:00Z", "2027-03-05"),
            ("2027-03-05T23:59:59Z", "2027-03-05"),
            ("2027-03-05T23:59:59.5Z", "2027-03-06"),
        ];
        for (now, expected) in cases {
            assert_eq!(
                next_payout_run_date(time(now)).to_string(),
                expected,
                "{now}"
            );
        }
    }

    #[test]
    fn standard_payouts_arrive_two_business_days_later_at_midnight() {
        // (created, arrives)
        let cases = [
            ("2027-03-05T23:59:59Z", "2027-03-09T00:00:00Z"),
            ("2027-03-07T23:59:59Z", "2027-03-09T00:00:00Z"),
            ("2027-03-08T12:00:00Z", "2027-03-10T00:00:00Z"),
        ];
        for (created, expected) in cases {
            assert_eq!(
                standard_arrival_time(time(created)),
                time(expected),
                "{created}"
            );
        }
    }
}
