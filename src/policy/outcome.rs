//! Result validation and rounding: the one place that turns what a hook returned into checked values in whole minor units.
//!
//! `route`'s splits, which need more steps, are resolved in `splits`, on the same rules.

use rhai::Dynamic;
use rust_decimal::Decimal;

use super::helpers::{decimal_of, describe_value};
use super::results::{
    FeePayer, PayoutInterval, PayoutSchedule, DEFAULT_PAYOUT_DELAY_DAYS, MAX_HOLD_DAYS,
    MAX_PAYOUT_DELAY_DAYS,
};
use crate::money::{self, MinorUnits, MAX_AMOUNT_PER_OPERATION};

/// What was wrong with a hook's result.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Problem {
    Invalid(String),
    Refused {
        destination: String,
        message: String,
    },
}

/// The most a fee may be.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum FeeCeiling {
    ChargeAmount(MinorUnits),
    PayoutAmount(MinorUnits),
    /// Fees not taken out of an amount (the dispute fee) are bounded by the operation limit.
    OperationLimit,
}

/// Why a fee is out of range, phrased to follow the fee: "…, more than the charge amount 10000".
pub(crate) fn fee_out_of_range(fee: MinorUnits, ceiling: FeeCeiling) -> Option<String> {
    if fee.is_negative() {
        return Some("a negative fee".to_string());
    }
    match ceiling {
        FeeCeiling::ChargeAmount(amount) if fee > amount => {
            Some(format!("more than the charge amount {amount}"))
        }
        FeeCeiling::PayoutAmount(amount) if fee > amount => {
            Some(format!("more than the payout amount {amount}"))
        }
        FeeCeiling::OperationLimit if fee.get() > MAX_AMOUNT_PER_OPERATION => {
            Some(format!("more than the limit of {MAX_AMOUNT_PER_OPERATION}"))
        }
        _ => None,
    }
}

/// A fee: an integer or a decimal, rounded half away from zero, within `0..=ceiling`.
pub(crate) fn fee(hook: &str, value: &Dynamic, ceiling: FeeCeiling) -> Result<MinorUnits, Problem> {
    let returned = describe_value(value);
    let exact = decimal_of(value).ok_or_else(|| {
        Problem::Invalid(format!(
            "{hook} returned {returned} (a {}), expected an amount: an integer or a decimal",
            type_label(value)
        ))
    })?;
    let rounded = rounded_amount(hook, exact)?;
    match fee_out_of_range(rounded, ceiling) {
        Some(reason) => Err(Problem::Invalid(format!(
            "{hook} returned {returned}, {reason}"
        ))),
        None => Ok(rounded),
    }
}

pub(crate) fn hold_days(hook: &str, value: &Dynamic) -> Result<u32, Problem> {
    let days = whole_days(hook, value)?;
    u32::try_from(days)
        .ok()
        .filter(|days| *days <= MAX_HOLD_DAYS)
        .ok_or_else(|| {
            Problem::Invalid(format!(
                "{hook} returned {days}, outside 0..={MAX_HOLD_DAYS} days"
            ))
        })
}

pub(crate) fn fee_payer(hook: &str, value: &Dynamic) -> Result<FeePayer, Problem> {
    match value.clone().into_string().as_deref() {
        Ok("account") => Ok(FeePayer::Account),
        Ok("platform") => Ok(FeePayer::Platform),
        _ => Err(Problem::Invalid(format!(
            "{hook} returned {}, expected \"account\" or \"platform\"",
            describe_value(value)
        ))),
    }
}

/// `#{interval, delay_days, weekly_anchor, monthly_anchor}`; `delay_days` defaults to 2
/// and an anchor is needed only by the interval it belongs to.
pub(crate) fn payout_schedule(hook: &str, value: &Dynamic) -> Result<PayoutSchedule, Problem> {
    let invalid = |detail: String| {
        Problem::Invalid(format!(
            "{hook} returned {}: {detail}",
            describe_value(value)
        ))
    };
    let map = value.as_map_ref().map_err(|_| {
        invalid("expected a map like #{interval: \"daily\", delay_days: 2}".to_string())
    })?;
    if let Some(key) = map.keys().find(|key| {
        !["interval", "delay_days", "weekly_anchor", "monthly_anchor"].contains(&key.as_str())
    }) {
        return Err(invalid(format!(
            "unknown key '{key}' (keys: interval, delay_days, weekly_anchor, monthly_anchor)"
        )));
    }
    let delay_days = match map.get("delay_days").filter(|delay| !delay.is_unit()) {
        None => DEFAULT_PAYOUT_DELAY_DAYS,
        Some(delay) => u32::try_from(whole_days(hook, delay)?)
            .ok()
            .filter(|days| *days <= MAX_PAYOUT_DELAY_DAYS)
            .ok_or_else(|| {
                invalid(format!(
                    "delay_days must be within 0..={MAX_PAYOUT_DELAY_DAYS}"
                ))
            })?,
    };
    let text = |key: &str| {
        map.get(key)
            .and_then(|entry| entry.clone().into_string().ok())
    };
    let interval = match text("interval").as_deref() {
        Some("manual") => PayoutInterval::Manual,
        Some("daily") => PayoutInterval::Daily,
        Some("weekly") => {
            let anchor = text("weekly_anchor")
                .and_then(|day| weekday(&day))
                .ok_or_else(|| {
                    invalid(
                        "a weekly schedule needs weekly_anchor: \"monday\" … \"sunday\""
                            .to_string(),
                    )
                })?;
            PayoutInterval::Weekly { anchor }
        }
        Some("monthly") => {
            let anchor_day = map
                .get("monthly_anchor")
                .and_then(|day| day.as_int().ok())
                .and_then(|day| u32::try_from(day).ok())
                .filter(|day| (1..=31).contains(day))
                .ok_or_else(|| {
                    invalid("a monthly schedule needs monthly_anchor: a day 1..=31".to_string())
                })?;
            PayoutInterval::Monthly { anchor_day }
        }
        _ => {
            return Err(invalid(
                "interval must be \"manual\", \"daily\", \"weekly\" or \"monthly\"".to_string(),
            ))
        }
    };
    Ok(PayoutSchedule {
        interval,
        delay_days,
    })
}

fn weekday(name: &str) -> Option<chrono::Weekday> {
    use chrono::Weekday;
    const NAMES: [(&str, Weekday); 7] = [
        ("monday", Weekday::Mon),
        ("tuesday", Weekday::Tue),
        ("wednesday", Weekday::Wed),
        ("thursday", Weekday::Thu),
        ("friday", Weekday::Fri),
        ("saturday", Weekday::Sat),
        ("sunday", Weekday::Sun),
    ];
    NAMES
        .iter()
        .find(|(day, _)| *day == name)
        .map(|(_, weekday)| *weekday)
}

pub(crate) fn rounded_amount(hook: &str, exact: Decimal) -> Result<MinorUnits, Problem> {
    money::round_minor(exact).map_err(|_| {
        Problem::Invalid(format!(
            "{hook} returned {exact}, too large to be an amount"
        ))
    })
}

fn whole_days(hook: &str, value: &Dynamic) -> Result<i64, Problem> {
    let exact = decimal_of(value)
        .filter(|days| days.fract().is_zero())
        .ok_or_else(|| {
            Problem::Invalid(format!(
                "{hook} returned {}, expected a whole number of days",
                describe_value(value)
            ))
        })?;
    i64::try_from(exact)
        .map_err(|_| Problem::Invalid(format!("{hook} returned {exact}, too many days")))
}

fn type_label(value: &Dynamic) -> &'static str {
    if value.is_string() {
        "string"
    } else if value.is_unit() {
        "unit"
    } else if value.is_bool() {
        "bool"
    } else if value.is_map() {
        "map"
    } else if value.is_array() {
        "array"
    } else {
        value.type_name()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::Weekday;

    #[test]
    fn schedules_parse_with_defaults() {
        let weekly = rhai::Engine::new()
            .eval::<Dynamic>("#{interval: \"weekly\", weekly_anchor: \"friday\"}")
            .expect("map");
        let expected = PayoutSchedule {
            interval: PayoutInterval::Weekly {
                anchor: Weekday::Fri,
            },
            delay_days: 2,
        };
        assert_eq!(payout_schedule("payout_schedule", &weekly), Ok(expected));
    }

    #[test]
    fn days_may_be_whole_decimals() {
        assert_eq!(
            hold_days("hold_days", &Dynamic::from(Decimal::new(70, 1))),
            Ok(7)
        );
        assert!(hold_days("hold_days", &Dynamic::from(-1_i64)).is_err());
    }

    #[test]
    fn fees_round_once_then_check_the_ceiling() {
        let amount = MinorUnits::new(10_000).expect("amount");
        let just_under = Dynamic::from(Decimal::new(100_004, 1));
        assert_eq!(
            fee(
                "application_fee",
                &just_under,
                FeeCeiling::ChargeAmount(amount)
            ),
            Ok(amount)
        );
        let dispute = Dynamic::from(1_500_i64);
        let small = MinorUnits::new(100).expect("amount");
        assert_eq!(
            fee("dispute_fee", &dispute, FeeCeiling::OperationLimit).map(MinorUnits::get),
            Ok(1_500)
        );
        assert!(fee(
            "instant_payout_fee",
            &dispute,
            FeeCeiling::PayoutAmount(small)
        )
        .is_err());
    }
}
