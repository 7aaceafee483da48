//! Resolving `route`'s splits into whole-unit transfers: part of result validation, on the rules of `outcome`.

use rhai::Dynamic;
use rust_decimal::Decimal;

use super::helpers::{decimal_of, describe_value};
use super::outcome::{rounded_amount, Problem};
use super::results::{Split, SplitDirectory, MAX_SPLITS_PER_CHARGE};
use crate::money::{self, MinorUnits};

/// The longest account id a split may name.
const MAX_DESTINATION_LENGTH: usize = 255;

/// A split before resolution: how the author expressed its share.
enum Share {
    Amount(MinorUnits),
    Percent(Decimal),
    Remaining,
}

/// Resolves `route`'s splits against the charge amount: fixed amounts are rounded, percent
/// splits are allocated together so that any leftover unit goes to the first of them, and
/// a `remaining` split gets what is left. Splits of 0 are dropped; every destination is
/// checked with the directory.
pub(crate) fn splits(
    hook: &str,
    value: &Dynamic,
    amount: MinorUnits,
    directory: &dyn SplitDirectory,
) -> Result<Vec<Split>, Problem> {
    if value.is_unit() {
        return Ok(Vec::new());
    }
    let items = value.as_array_ref().map_err(|_| {
        Problem::Invalid(format!(
            "{hook} returned {}, expected an array of splits like [#{{destination: \"acct_…\", amount: 1000}}]",
            describe_value(value)
        ))
    })?;
    if items.len() > MAX_SPLITS_PER_CHARGE {
        return Err(Problem::Invalid(format!(
            "{hook} returned {} splits, more than the limit of {MAX_SPLITS_PER_CHARGE}",
            items.len()
        )));
    }
    let parsed = items
        .iter()
        .enumerate()
        .map(|(index, item)| parse_split(hook, index, item))
        .collect::<Result<Vec<_>, _>>()?;
    let amounts = resolve_shares(hook, &parsed, amount)?;
    let mut resolved = Vec::with_capacity(parsed.len());
    for ((destination, _), split_amount) in parsed.into_iter().zip(amounts) {
        if split_amount.is_zero() {
            continue;
        }
        if let Err(reason) = directory.check_destination(&destination) {
            let message =
                format!("{hook} sends {split_amount} to {destination}, which is refused: {reason}");
            return Err(Problem::Refused {
                destination,
                message,
            });
        }
        resolved.push(Split {
            destination,
            amount: split_amount,
        });
    }
    Ok(resolved)
}

fn parse_split(hook: &str, index: usize, item: &Dynamic) -> Result<(String, Share), Problem> {
    let invalid = |detail: &str| {
        Problem::Invalid(format!(
            "{hook} split {index} ({}) {detail}",
            describe_value(item)
        ))
    };
    let map = item.as_map_ref().map_err(|_| {
        invalid("is not a map; use #{destination, amount}, #{destination, percent} or #{destination, remaining: true}")
    })?;
    if let Some(key) = map
        .keys()
        .find(|key| !["destination", "amount", "percent", "remaining"].contains(&key.as_str()))
    {
        return Err(invalid(&format!(
            "has an unknown key '{key}' (keys: destination, amount, percent, remaining)"
        )));
    }
    let destination = map
        .get("destination")
        .and_then(|destination| destination.clone().into_string().ok())
        .filter(|destination| {
            !destination.is_empty() && destination.len() <= MAX_DESTINATION_LENGTH
        })
        .ok_or_else(|| invalid("needs a destination: an account id string"))?;
    let shares: Vec<&str> = ["amount", "percent", "remaining"]
        .into_iter()
        .filter(|key| map.contains_key(*key))
        .collect();
    let share = match shares.as_slice() {
        ["amount"] => {
            let exact = map
                .get("amount")
                .and_then(decimal_of)
                .ok_or_else(|| invalid("has an amount that is not a number"))?;
            let rounded = rounded_amount(hook, exact)?;
            if rounded.is_negative() {
                return Err(invalid("has a negative amount"));
            }
            Share::Amount(rounded)
        }
        ["percent"] => {
            let percent = map
                .get("percent")
                .and_then(decimal_of)
                .filter(|percent| *percent > Decimal::ZERO && *percent <= Decimal::ONE_HUNDRED)
                .ok_or_else(|| invalid("needs a percent greater than 0 and at most 100"))?;
            Share::Percent(percent)
        }
        ["remaining"]
            if map
                .get("remaining")
                .is_some_and(|flag| flag.as_bool() == Ok(true)) =>
        {
            Share::Remaining
        }
        _ => {
            return Err(invalid(
                "needs exactly one of amount, percent or remaining: true",
            ))
        }
    };
    Ok((destination, share))
}

fn resolve_shares(
    hook: &str,
    parsed: &[(String, Share)],
    amount: MinorUnits,
) -> Result<Vec<MinorUnits>, Problem> {
    let overflow = || Problem::Invalid(format!("{hook} splits overflowed while resolving them"));
    let percents: Vec<Decimal> = parsed
        .iter()
        .filter_map(|(_, share)| match share {
            Share::Percent(percent) => Some(*percent),
            _ => None,
        })
        .collect();
    let percent_total: Decimal = percents.iter().copied().sum();
    if percent_total > Decimal::ONE_HUNDRED {
        return Err(Problem::Invalid(format!(
            "{hook} splits add up to {percent_total} percent, more than 100"
        )));
    }
    // The platform's own share is the last weight, so allocation's leftover unit lands on
    // the first percent split, and the percent splits together never exceed their total.
    let mut weights = percents;
    weights.push(Decimal::ONE_HUNDRED - percent_total);
    let mut percent_parts = money::allocate(amount, &weights)
        .map_err(|_| overflow())?
        .into_iter();
    if parsed
        .iter()
        .filter(|(_, share)| matches!(share, Share::Remaining))
        .count()
        > 1
    {
        return Err(Problem::Invalid(format!(
            "{hook} has more than one remaining: true split"
        )));
    }
    let mut amounts: Vec<Option<MinorUnits>> = Vec::with_capacity(parsed.len());
    let mut assigned = MinorUnits::ZERO;
    for (_, share) in parsed {
        let part = match share {
            Share::Amount(fixed) => Some(*fixed),
            Share::Percent(_) => Some(percent_parts.next().ok_or_else(overflow)?),
            Share::Remaining => None,
        };
        if let Some(part) = part {
            assigned = assigned.checked_add(part).map_err(|_| overflow())?;
        }
        amounts.push(part);
    }
    if assigned > amount {
        return Err(Problem::Invalid(format!(
            "{hook} splits total {assigned}, more than the charge amount {amount}"
        )));
    }
    let remaining = amount.checked_sub(assigned).map_err(|_| overflow())?;
    Ok(amounts
        .into_iter()
        .map(|part| part.unwrap_or(remaining))
        .collect())
}
