//! Payout schedules: the validated interval, delay and anchors (which dates they pay out on is in
//! `calendar`).
//!
//! - MANUAL: no automatic payouts; the delay is kept for when the interval changes back.
//! - DAILY: every business day in business-day countries (US, AU, JP…), every calendar day in
//!   calendar-day countries (GB, EU, CA…), matching how each country counts the delay.
//! - WEEKLY: on `weekly_anchor`.
//! - MONTHLY: on `monthly_anchor`; an anchor of 29–31 falls back to the last day of a shorter month.
//!
//! Funds from a charge on date D are paid out on the first payout day on or after
//! `add_delay(D, delay_days, country)`. New accounts get DAILY with the gateway's default delay,
//! raised to the country's minimum where that is higher.

use std::fmt;

use serde::{Deserialize, Serialize};

pub use crate::domain::calendar::Weekday;
use crate::domain::countries::Country;

pub const DEFAULT_PAYOUT_DELAY_DAYS: u16 = 2;
pub const MAX_PAYOUT_DELAY_DAYS: u16 = 365;

/// Serialized as the contract's enum values: MANUAL, DAILY, WEEKLY, MONTHLY.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "SCREAMING_SNAKE_CASE")]
pub enum PayoutInterval {
    Manual,
    Daily,
    Weekly,
    Monthly,
}

impl PayoutInterval {
    pub fn as_str(self) -> &'static str {
        match self {
            PayoutInterval::Manual => "MANUAL",
            PayoutInterval::Daily => "DAILY",
            PayoutInterval::Weekly => "WEEKLY",
            PayoutInterval::Monthly => "MONTHLY",
        }
    }
}

impl fmt::Display for PayoutInterval {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum PayoutScheduleError {
    #[error("a WEEKLY schedule needs weeklyAnchor, the day of the week to pay out on")]
    WeeklyAnchorMissing,
    #[error(
        "a MONTHLY schedule needs monthlyAnchor, the day of the month (1 to 31) to pay out on"
    )]
    MonthlyAnchorMissing,
    #[error("monthlyAnchor must be from 1 to 31; got {given}")]
    MonthlyAnchorOutOfRange { given: i64 },
    #[error("weeklyAnchor only applies to a WEEKLY schedule, not {interval}")]
    WeeklyAnchorNotApplicable { interval: PayoutInterval },
    #[error("monthlyAnchor only applies to a MONTHLY schedule, not {interval}")]
    MonthlyAnchorNotApplicable { interval: PayoutInterval },
    #[error("delayDays must be at least {minimum_days}, the gateway minimum for the account's country; got {given}")]
    DelayBelowMinimum { given: i64, minimum_days: u16 },
    #[error("delayDays must be at most {MAX_PAYOUT_DELAY_DAYS}; got {given}")]
    DelayAboveMaximum { given: i64 },
}

impl PayoutScheduleError {
    /// The input parameter at fault, for the API error's `param` (GraphQL input naming).
    pub fn param(&self) -> &'static str {
        match self {
            PayoutScheduleError::WeeklyAnchorMissing
            | PayoutScheduleError::WeeklyAnchorNotApplicable { .. } => "weeklyAnchor",
            PayoutScheduleError::MonthlyAnchorMissing
            | PayoutScheduleError::MonthlyAnchorOutOfRange { .. }
            | PayoutScheduleError::MonthlyAnchorNotApplicable { .. } => "monthlyAnchor",
            PayoutScheduleError::DelayBelowMinimum { .. }
            | PayoutScheduleError::DelayAboveMaximum { .. } => "delayDays",
        }
    }
}

/// A schedule as asked for (`updatePayoutSchedule`, or a policy's `payout_schedule` hook).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct PayoutScheduleInput {
    pub interval: PayoutInterval,
    /// None: the current delay when updating, the country's default for a new schedule.
    pub delay_days: Option<i64>,
    pub weekly_anchor: Option<Weekday>,
    pub monthly_anchor: Option<i64>,
}

/// A valid schedule. Reading one back from storage re-checks its shape (anchors, the maximum
/// delay) but not the country minimum, which was checked when it was made.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(try_from = "PayoutScheduleRecord", into = "PayoutScheduleRecord")]
pub struct PayoutSchedule {
    interval: PayoutInterval,
    delay_days: u16,
    weekly_anchor: Option<Weekday>,
    monthly_anchor: Option<u8>,
}

#[derive(Serialize, Deserialize)]
struct PayoutScheduleRecord {
    interval: PayoutInterval,
    delay_days: u16,
    weekly_anchor: Option<Weekday>,
    monthly_anchor: Option<u8>,
}

impl PayoutSchedule {
    /// DAILY with the default delay, or the country's minimum where that is higher.
    pub fn default_for(country: Country) -> PayoutSchedule {
        PayoutSchedule {
            interval: PayoutInterval::Daily,
            delay_days: default_delay_days(country),
            weekly_anchor: None,
            monthly_anchor: None,
        }
    }

    /// A new schedule for an account in `country`; a missing delay means the country's default.
    pub fn parse(
        input: PayoutScheduleInput,
        country: Country,
    ) -> Result<PayoutSchedule, PayoutScheduleError> {
        let delay_days = input
            .delay_days
            .unwrap_or(i64::from(default_delay_days(country)));
        build(input, delay_days, country.minimum_payout_delay_days())
    }

    /// This schedule changed as asked; a missing delay keeps the current one.
    pub fn updated(
        &self,
        input: PayoutScheduleInput,
        country: Country,
    ) -> Result<PayoutSchedule, PayoutScheduleError> {
        let delay_days = input.delay_days.unwrap_or(i64::from(self.delay_days));
        build(input, delay_days, country.minimum_payout_delay_days())
    }

    pub fn interval(&self) -> PayoutInterval {
        self.interval
    }
    pub fn delay_days(&self) -> u16 {
        self.delay_days
    }
    pub fn weekly_anchor(&self) -> Option<Weekday> {
        self.weekly_anchor
    }
    pub fn monthly_anchor(&self) -> Option<u8> {
        self.monthly_anchor
    }
}

fn default_delay_days(country: Country) -> u16 {
    DEFAULT_PAYOUT_DELAY_DAYS.max(country.minimum_payout_delay_days())
}

fn build(
    input: PayoutScheduleInput,
    delay_days: i64,
    minimum_days: u16,
) -> Result<PayoutSchedule, PayoutScheduleError> {
    let PayoutScheduleInput {
        interval,
        delay_days: _,
        weekly_anchor,
        monthly_anchor,
    } = input;
    if delay_days < i64::from(minimum_days) {
        return Err(PayoutScheduleError::DelayBelowMinimum {
            given: delay_days,
            minimum_days,
        });
    }
    let delay_days = u16::try_from(delay_days)
        .ok()
        .filter(|days| *days <= MAX_PAYOUT_DELAY_DAYS)
        .ok_or(PayoutScheduleError::DelayAboveMaximum { given: delay_days })?;
    if interval != PayoutInterval::Weekly && weekly_anchor.is_some() {
        return Err(PayoutScheduleError::WeeklyAnchorNotApplicable { interval });
    }
    if interval != PayoutInterval::Monthly && monthly_anchor.is_some() {
        return Err(PayoutScheduleError::MonthlyAnchorNotApplicable { interval });
    }
    if interval == PayoutInterval::Weekly && weekly_anchor.is_none() {
        return Err(PayoutScheduleError::WeeklyAnchorMissing);
    }
    let monthly_anchor = match (interval, monthly_anchor) {
        (PayoutInterval::Monthly, None) => return Err(PayoutScheduleError::MonthlyAnchorMissing),
        (_, Some(given)) => Some(
            u8::try_from(given)
                .ok()
                .filter(|day| (1..=31).contains(day))
                .ok_or(PayoutScheduleError::MonthlyAnchorOutOfRange { given })?,
        ),
        (_, None) => None,
    };
    Ok(PayoutSchedule {
        interval,
        delay_days,
        weekly_anchor,
        monthly_anchor,
    })
}

impl TryFrom<PayoutScheduleRecord> for PayoutSchedule {
    type Error = PayoutScheduleError;
    fn try_from(record: PayoutScheduleRecord) -> Result<Self, Self::Error> {
        let input = PayoutScheduleInput {
            interval: record.interval,
            delay_days: None,
            weekly_anchor: record.weekly_anchor,
            monthly_anchor: record.monthly_anchor.map(i64::from),
        };
        build(input, i64::from(record.delay_days), 0)
    }
}

impl From<PayoutSchedule> for PayoutScheduleRecord {
    fn from(schedule: PayoutSchedule) -> Self {
        let PayoutSchedule {
            interval,
            delay_days,
            weekly_anchor,
            monthly_anchor,
        } = schedule;
        PayoutScheduleRecord {
            interval,
            delay_days,
            weekly_anchor,
            monthly_anchor,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn country(code: &str) -> Country {
        Country::parse(code).expect(code)
    }

    fn schedule(
        interval: PayoutInterval,
        weekly_anchor: Option<Weekday>,
        monthly_anchor: Option<i64>,
    ) -> PayoutSchedule {
        let input = PayoutScheduleInput {
            interval,
            delay_days: None,
            weekly_anchor,
            monthly_anchor,
        };
        PayoutSchedule::parse(input, country("US")).expect("schedule")
    }

    #[test]
    fn defaults_follow_the_country_minimum() {
        let cases = [("US", 2), ("GB", 2), ("JP", 4), ("BR", 7)];
        for (code, delay_days) in cases {
            let default = PayoutSchedule::default_for(country(code));
            assert_eq!(default.interval(), PayoutInterval::Daily, "{code}");
            assert_eq!(default.delay_days(), delay_days, "{code}");
        }
    }

    #[test]
    fn validation() {
        use PayoutInterval::{Daily, Manual, Monthly, Weekly};
        use PayoutScheduleError as E;
        let input = |interval, delay_days, weekly_anchor, monthly_anchor| PayoutScheduleInput {
            interval,
            delay_days,
            weekly_anchor,
            monthly_anchor,
        };
        let friday = Some(Weekday::Friday);
        let cases = [
            (input(Daily, Some(2), None, None), "US", Ok(2)),
            (input(Manual, Some(30), None, None), "US", Ok(30)),
            (input(Weekly, None, friday, None), "JP", Ok(4)),
            (input(Monthly, Some(365), None, Some(31)), "GB", Ok(365)),
            (
                input(Daily, Some(1), None, None),
                "US",
                Err(E::DelayBelowMinimum {
                    given: 1,
                    minimum_days: 2,
                }),
            ),
            (
                input(Daily, Some(3), None, None),
                "JP",
                Err(E::DelayBelowMinimum {
                    given: 3,
                    minimum_days: 4,
                }),
            ),
            (
                input(Daily, Some(-5), None, None),
                "US",
                Err(E::DelayBelowMinimum {
                    given: -5,
                    minimum_days: 2,
                }),
            ),
            (
                input(Daily, Some(366), None, None),
                "US",
                Err(E::DelayAboveMaximum { given: 366 }),
            ),
            (
                input(Weekly, None, None, None),
                "US",
                Err(E::WeeklyAnchorMissing),
            ),
            (
                input(Monthly, None, None, None),
                "US",
                Err(E::MonthlyAnchorMissing),
            ),
            (
                input(Monthly, None, None, Some(0)),
                "US",
                Err(E::MonthlyAnchorOutOfRange { given: 0 }),
            ),
            (
                input(Monthly, None, None, Some(32)),
                "US",
                Err(E::MonthlyAnchorOutOfRange { given: 32 }),
            ),
            (
                input(Daily, None, friday, None),
                "US",
                Err(E::WeeklyAnchorNotApplicable { interval: Daily }),
            ),
            (
                input(Weekly, None, friday, Some(3)),
                "US",
                Err(E::MonthlyAnchorNotApplicable { interval: Weekly }),
            ),
        ];
        for (given, code, expected) in cases {
            let result =
                PayoutSchedule::parse(given, country(code)).map(|schedule| schedule.delay_days());
            assert_eq!(result, expected, "{given:?} in {code}");
        }
        let error =
            PayoutSchedule::parse(input(Weekly, None, None, None), country("US")).unwrap_err();
        assert_eq!(error.param(), "weeklyAnchor");
        assert_eq!(
            error.to_string(),
            "a WEEKLY schedule needs weeklyAnchor, the day of the week to pay out on"
        );
    }

    #[test]
    fn an_update_without_a_delay_keeps_the_current_one() {
        let current = PayoutSchedule::parse(
            PayoutScheduleInput {
                interval: PayoutInterval::Daily,
                delay_days: Some(9),
                weekly_anchor: None,
                monthly_anchor: None,
            },
            country("US"),
        )
        .expect("current");
        let manual = PayoutScheduleInput {
            interval: PayoutInterval::Manual,
            delay_days: None,
            weekly_anchor: None,
            monthly_anchor: None,
        };
        assert_eq!(
            current
                .updated(manual, country("US"))
                .map(|schedule| schedule.delay_days()),
            Ok(9)
        );
    }

    #[test]
    fn stored_schedules_round_trip_and_are_checked() {
        let weekly = schedule(PayoutInterval::Weekly, Some(Weekday::Monday), None);
        let json = serde_json::to_string(&weekly).expect("serialize");
        assert_eq!(
            json,
            r#"{"interval":"WEEKLY","delay_days":2,"weekly_anchor":"MONDAY","monthly_anchor":null}"#
        );
        assert_eq!(
            serde_json::from_str::<PayoutSchedule>(&json).expect("deserialize"),
            weekly
        );
        let broken =
            r#"{"interval":"MONTHLY","delay_days":2,"weekly_anchor":null,"monthly_anchor":40}"#;
        assert!(serde_json::from_str::<PayoutSchedule>(broken).is_err());
    }
}
