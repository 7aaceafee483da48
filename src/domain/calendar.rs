//! Calendar math on UTC dates: business days, payout delays by country, month ends, arrival dates,
//! and which dates are payout days under a payout schedule.
//!
//! A business day is Monday to Friday; public holidays are not modelled. All dates are UTC
//! calendar dates (`NaiveDate` taken from a UTC timestamp).

use chrono::{Datelike, Days, Months, NaiveDate};
use serde::{Deserialize, Serialize};

use crate::domain::countries::{Country, DelayDayCount};
use crate::domain::payout_schedule::{PayoutInterval, PayoutSchedule};

/// A standard payout arrives this many business days after it is created, in every country.
pub const STANDARD_ARRIVAL_BUSINESS_DAYS: u16 = 2;
/// Any schedule other than MANUAL has a payout day within this many days of any date.
const MAX_DAYS_BETWEEN_PAYOUTS: u16 = 62;

/// The contract's Weekday (a payout schedule's weekly anchor), serialized as MONDAY … SUNDAY.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "SCREAMING_SNAKE_CASE")]
pub enum Weekday {
    Monday,
    Tuesday,
    Wednesday,
    Thursday,
    Friday,
    Saturday,
    Sunday,
}

impl Weekday {
    pub fn to_chrono(self) -> chrono::Weekday {
        match self {
            Weekday::Monday => chrono::Weekday::Mon,
            Weekday::Tuesday => chrono::Weekday::Tue,
            Weekday::Wednesday => chrono::Weekday::Wed,
            Weekday::Thursday => chrono::Weekday::Thu,
            Weekday::Friday => chrono::Weekday::Fri,
            Weekday::Saturday => chrono::Weekday::Sat,
            Weekday::Sunday => chrono::Weekday::Sun,
        }
    }
}

pub fn is_business_day(date: NaiveDate) -> bool {
    !matches!(date.weekday(), chrono::Weekday::Sat | chrono::Weekday::Sun)
}

/// `date` plus `days` calendar days, saturating at the last representable date.
pub fn add_calendar_days(date: NaiveDate, days: u16) -> NaiveDate {
    date.checked_add_days(Days::new(u64::from(days)))
        .unwrap_or(NaiveDate::MAX)
}

/// The date `days` business days after `date`: each step moves to the next Monday-to-Friday
/// date, so Friday + 2 is Tuesday and Saturday + 1 is Monday. Zero days is `date` itself.
pub fn add_business_days(date: NaiveDate, days: u16) -> NaiveDate {
    let mut current = date;
    // Bounded: at most `days` business days, each at most three calendar days away.
    for _ in 0..days {
        current = next_business_day(current);
    }
    current
}

fn next_business_day(date: NaiveDate) -> NaiveDate {
    let skip_days = match date.weekday() {
        chrono::Weekday::Fri => 3,
        chrono::Weekday::Sat => 2,
        _ => 1,
    };
    add_calendar_days(date, skip_days)
}

/// A payout delay counted the way the account's country counts it.
pub fn add_delay(date: NaiveDate, delay_days: u16, country: Country) -> NaiveDate {
    match country.delay_day_count() {
        DelayDayCount::Business => add_business_days(date, delay_days),
        DelayDayCount::Calendar => add_calendar_days(date, delay_days),
    }
}

/// The last day of `date`'s month: 2027-02-10 → 2027-02-28, 2028-02-10 → 2028-02-29.
pub fn last_day_of_month(date: NaiveDate) -> NaiveDate {
    date.with_day(1)
        .and_then(|first| first.checked_add_months(Months::new(1)))
        .and_then(|next_first| next_first.pred_opt())
        .unwrap_or(date)
}

/// When a standard payout created on `created_date` reaches the bank.
pub fn standard_arrival_date(created_date: NaiveDate) -> NaiveDate {
    add_business_days(created_date, STANDARD_ARRIVAL_BUSINESS_DAYS)
}

/// Whether automatic payouts are made on `date` under `schedule` for an account in `country`.
/// DAILY pays every business day in business-day countries and every day elsewhere; MONTHLY
/// anchors of 29–31 fall back to the last day of a shorter month.
pub fn is_payout_day(schedule: &PayoutSchedule, date: NaiveDate, country: Country) -> bool {
    match (
        schedule.interval(),
        schedule.weekly_anchor(),
        schedule.monthly_anchor(),
    ) {
        (PayoutInterval::Manual, _, _) => false,
        (PayoutInterval::Daily, _, _) => !country.counts_business_days() || is_business_day(date),
        (PayoutInterval::Weekly, Some(anchor), _) => date.weekday() == anchor.to_chrono(),
        (PayoutInterval::Monthly, _, Some(anchor)) => {
            let last_day = last_day_of_month(date).day();
            date.day() == u32::from(anchor).min(last_day)
        }
        // Unreachable: a schedule always has the anchor of its interval.
        (PayoutInterval::Weekly | PayoutInterval::Monthly, _, _) => false,
    }
}

/// The first payout day strictly after `after`; None for MANUAL.
pub fn next_payout_date(
    schedule: &PayoutSchedule,
    after: NaiveDate,
    country: Country,
) -> Option<NaiveDate> {
    first_payout_day_from(schedule, add_calendar_days(after, 1), country)
}

/// The payout day that pays out the funds of a charge made on `charge_date`: the first payout
/// day on or after the charge date plus the schedule's delay. None for MANUAL.
pub fn payout_date_for_charge(
    schedule: &PayoutSchedule,
    charge_date: NaiveDate,
    country: Country,
) -> Option<NaiveDate> {
    let available_date = add_delay(charge_date, schedule.delay_days(), country);
    first_payout_day_from(schedule, available_date, country)
}

fn first_payout_day_from(
    schedule: &PayoutSchedule,
    start: NaiveDate,
    country: Country,
) -> Option<NaiveDate> {
    (0..=MAX_DAYS_BETWEEN_PAYOUTS)
        .map(|offset_days| add_calendar_days(start, offset_days))
        .find(|date| is_payout_day(schedule, *date, country))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::domain::payout_schedule::PayoutScheduleInput;

    fn date(text: &str) -> NaiveDate {
        NaiveDate::parse_from_str(text, "%Y-%m-%d").expect(text)
    }

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

    /// Every payout day from `first` to `last` inclusive.
    fn payout_days(schedule: &PayoutSchedule, first: &str, last: &str, code: &str) -> Vec<String> {
        let last = date(last);
        std::iter::successors(Some(date(first)), |day| day.succ_opt())
            .take_while(|day| *day <= last)
            .filter(|day| is_payout_day(schedule, *day, country(code)))
            .map(|day| day.to_string())
            .collect()
    }

    #[test]
    fn daily_payouts_skip_weekends_only_in_business_day_countries() {
        let daily = schedule(PayoutInterval::Daily, None, None);
        assert_eq!(
            payout_days(&daily, "2026-11-23", "2026-11-29", "US"),
            [
                "2026-11-23",
                "2026-11-24",
                "2026-11-25",
                "2026-11-26",
                "2026-11-27"
            ]
        );
        assert_eq!(
            payout_days(&daily, "2026-11-23", "2026-11-29", "GB").len(),
            7
        );
        assert_eq!(
            payout_days(
                &schedule(PayoutInterval::Manual, None, None),
                "2026-11-01",
                "2026-12-31",
                "US"
            )
            .len(),
            0
        );
    }

    #[test]
    fn daily_with_delay_two_pays_each_charge_out_on_time() {
        let daily = schedule(PayoutInterval::Daily, None, None);
        // (charge date, country, payout date)
        let cases = [
            ("2026-11-23", "US", "2026-11-25"),
            ("2026-11-26", "US", "2026-11-30"),
            ("2026-11-27", "US", "2026-12-01"),
            ("2026-11-28", "US", "2026-12-01"),
            ("2026-11-27", "GB", "2026-11-29"),
            ("2026-11-28", "GB", "2026-11-30"),
        ];
        for (charge, code, expected) in cases {
            assert_eq!(
                payout_date_for_charge(&daily, date(charge), country(code)),
                Some(date(expected)),
                "{charge} {code}"
            );
        }
    }

    #[test]
    fn weekly_on_friday_over_a_month() {
        let weekly = schedule(PayoutInterval::Weekly, Some(Weekday::Friday), None);
        assert_eq!(
            payout_days(&weekly, "2026-11-01", "2026-11-30", "US"),
            ["2026-11-06", "2026-11-13", "2026-11-20", "2026-11-27"]
        );
        assert_eq!(
            next_payout_date(&weekly, date("2026-11-27"), country("US")),
            Some(date("2026-12-04"))
        );
        // A charge on Thursday 26th is available Monday 30th (US), so it waits for Friday 4th.
        assert_eq!(
            payout_date_for_charge(&weekly, date("2026-11-26"), country("US")),
            Some(date("2026-12-04"))
        );
    }

    #[test]
    fn monthly_on_the_31st_falls_back_to_the_last_day() {
        let monthly = schedule(PayoutInterval::Monthly, None, Some(31));
        assert_eq!(
            payout_days(&monthly, "2027-01-01", "2027-05-31", "US"),
            [
                "2027-01-31",
                "2027-02-28",
                "2027-03-31",
                "2027-04-30",
                "2027-05-31"
            ]
        );
        // (after, next payout date)
        let cases = [
            ("2027-01-31", "2027-02-28"),
            ("2027-02-28", "2027-03-31"),
            ("2028-01-31", "2028-02-29"),
            ("2028-02-28", "2028-02-29"),
            ("2026-12-31", "2027-01-31"),
        ];
        for (after, expected) in cases {
            assert_eq!(
                next_payout_date(&monthly, date(after), country("US")),
                Some(date(expected)),
                "{after}"
            );
        }
        let fifteenth = schedule(PayoutInterval::Monthly, None, Some(15));
        assert_eq!(
            next_payout_date(&fifteenth, date("2027-02-15"), country("US")),
            Some(date("2027-03-15"))
        );
    }

    #[test]
    fn manual_schedules_have_no_payout_dates() {
        let manual = schedule(PayoutInterval::Manual, None, None);
        assert_eq!(
            next_payout_date(&manual, date("2026-11-27"), country("US")),
            None
        );
        assert_eq!(
            payout_date_for_charge(&manual, date("2026-11-27"), country("US")),
            None
        );
    }

    #[test]
    fn the_test_dates_fall_on_the_expected_weekdays() {
        assert_eq!(date("2026-11-27").weekday(), chrono::Weekday::Fri);
        assert_eq!(date("2026-12-01").weekday(), chrono::Weekday::Tue);
        assert_eq!(date("2026-11-29").weekday(), chrono::Weekday::Sun);
    }

    #[test]
    fn delays_by_country() {
        // (start, delay days, country, expected)
        let cases = [
            ("2026-11-27", 2, "US", "2026-12-01"),
            ("2026-11-27", 2, "GB", "2026-11-29"),
            ("2026-11-27", 2, "CA", "2026-11-29"),
            ("2026-11-27", 2, "FR", "2026-11-29"),
            ("2026-11-27", 2, "AU", "2026-12-01"),
            ("2026-11-27", 4, "JP", "2026-12-03"),
            ("2026-11-28", 1, "US", "2026-11-30"),
            ("2026-11-29", 2, "US", "2026-12-01"),
            ("2026-11-23", 5, "US", "2026-11-30"),
            ("2026-11-23", 2, "US", "2026-11-25"),
            ("2026-11-23", 0, "US", "2026-11-23"),
            ("2026-11-28", 0, "US", "2026-11-28"),
            ("2026-12-30", 7, "GB", "2027-01-06"),
            ("2026-12-30", 7, "US", "2027-01-08"),
        ];
        for (start, delay_days, code, expected) in cases {
            assert_eq!(
                add_delay(date(start), delay_days, country(code)),
                date(expected),
                "{start} +{delay_days} {code}"
            );
        }
    }

    #[test]
    fn month_ends() {
        let cases = [
            ("2027-02-10", "2027-02-28"),
            ("2028-02-01", "2028-02-29"),
            ("2026-12-31", "2026-12-31"),
            ("2026-04-15", "2026-04-30"),
            ("2100-02-03", "2100-02-28"),
        ];
        for (given, expected) in cases {
            assert_eq!(last_day_of_month(date(given)), date(expected), "{given}");
        }
    }

    #[test]
    fn standard_payouts_arrive_two_business_days_later() {
        let cases = [
            ("2026-11-27", "2026-12-01"),
            ("2026-11-28", "2026-12-01"),
            ("2026-11-30", "2026-12-02"),
            ("2026-12-03", "2026-12-07"),
        ];
        for (created, expected) in cases {
            assert_eq!(
                standard_arrival_date(date(created)),
                date(expected),
                "{created}"
            );
        }
    }

    #[test]
    fn business_days_are_monday_to_friday() {
        let week: Vec<bool> = (23..=29)
            .map(|day| is_business_day(date(&format!("2026-11-{day}"))))
            .collect();
        assert_eq!(week, [true, true, true, true, true, false, false]);
    }
}
